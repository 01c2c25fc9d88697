from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import conflict_response, validation_error_response
from annotator.api.fields import IdField
from annotator.api.jobs import JobOutput
from annotator.models import Annotation, Cluster, ClusterRun, Label
from annotator.permissions import Capability
from annotator.selectors.candidates import pending_candidates
from annotator.selectors.clusters import latest_cluster_run
from annotator.services.candidates import BULK_MAX, candidate_confirm, candidate_reject, candidates_decide
from annotator.services.clustering import DEFAULT_K_RANGE, cluster_job_start, cluster_promote
from annotator.services.queue import QueueConflict


class ClusterOutput(serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ["id", "index", "size", "keywords", "central_item_ids", "borderline_item_ids", "promoted_to"]


class ClusterRunOutput(serializers.ModelSerializer):
    clusters = ClusterOutput(many=True)

    class Meta:
        model = ClusterRun
        fields = ["id", "job", "encoder", "k", "k_chosen_automatically", "silhouette_scores", "n_items", "clusters"]


class ClusterApi(ProjectAPIView):
    # Starting a run is a job (admins): it replaces the latest result that experts promote from.
    capabilities = {"GET": Capability.VIEW, "POST": Capability.RUN_JOBS}

    class ClusterJobInput(serializers.Serializer):
        k = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=2)
        k_min = serializers.IntegerField(default=DEFAULT_K_RANGE[0], min_value=2)
        k_max = serializers.IntegerField(default=DEFAULT_K_RANGE[1], min_value=2)

    @extend_schema(responses=ClusterRunOutput)
    def get(self, request, project_id: int):
        run = latest_cluster_run(project=self.project)
        if run is None:
            return Response({"detail": "No clustering has run in this project yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(ClusterRunOutput(run).data)

    @extend_schema(request=ClusterJobInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = self.ClusterJobInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = cluster_job_start(
                project=self.project, by=request.user, k=values["k"], k_range=(values["k_min"], values["k_max"])
            )
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class ClusterPromoteApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class ClusterPromoteInput(serializers.Serializer):
        label = IdField(required=False, allow_null=True, default=None)
        new_label_name = serializers.CharField(required=False, allow_blank=True, default="")
        parent = IdField(required=False, allow_null=True, default=None)

    @extend_schema(request=ClusterPromoteInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int, cluster_id: int):
        cluster = get_object_or_404(Cluster, pk=cluster_id, run__project=self.project)
        data = self.ClusterPromoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def label(pk):
            return None if pk is None else get_project_object(Label, self.project, pk=pk)

        try:
            promoted, created = cluster_promote(
                cluster=cluster,
                by=request.user,
                label=label(values["label"]),
                new_label_name=values["new_label_name"],
                parent=label(values["parent"]),
            )
        except ValidationError as error:
            return validation_error_response(error)
        return Response({"label": promoted.pk, "candidates_created": created}, status=status.HTTP_201_CREATED)


class CandidateOutput(serializers.ModelSerializer):
    text = serializers.CharField(source="item.text")
    labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Annotation
        fields = ["id", "item", "text", "labels", "source", "rule", "cluster", "candidate_status", "created_at"]


class CandidateListApi(ProjectAPIView):
    @extend_schema(responses=CandidateOutput(many=True))
    def get(self, request, project_id: int):
        return Response(CandidateOutput(pending_candidates(project=self.project)[:500], many=True).data)


class CandidateBulkApi(ProjectAPIView):
    """Accept or reject up to 200 suggestions; each is checked on its own, the refused ones say why."""

    capability = Capability.ANNOTATE

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=IdField(), min_length=1, max_length=BULK_MAX)
        decision = serializers.ChoiceField(choices=["accept", "reject"], default="accept")

    class OutputSerializer(serializers.Serializer):
        done = serializers.ListField(child=serializers.IntegerField())
        refused = serializers.DictField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, project_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = candidates_decide(
            project=self.project,
            candidate_ids=data.validated_data["ids"],
            by=request.user,
            decision=data.validated_data["decision"],
        )
        return Response(self.OutputSerializer({"done": outcome.done, "refused": outcome.refused}).data)


class CandidateDecisionApi(ProjectAPIView):
    capability = Capability.ANNOTATE
    decision = "accept"

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int, annotation_id: int):
        candidate = get_object_or_404(Annotation, pk=annotation_id, item__project=self.project)
        try:
            if self.decision == "accept":
                annotation = candidate_confirm(candidate=candidate, by=request.user)
                return Response({"annotation": annotation.pk, "status": "confirmed"})
            candidate_reject(candidate=candidate, by=request.user)
            return Response({"status": "rejected"})
        except ValidationError as error:
            return validation_error_response(error)
        except QueueConflict as conflict:
            return conflict_response(conflict)
