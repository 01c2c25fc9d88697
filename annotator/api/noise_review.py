"""The noisy-label review queue over the API (experts and admins): the latest run and the flags it left,
and each flag's decision (keep, relabel, exclude, and reopen to undo a keep or an exclusion).

The decisions are `services.noise`'s, the same calls as the noise page; starting a job is
`annotator.api.noise.NoiseStartApi`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.fields import IdField
from annotator.api.jobs import JobOutput
from annotator.api.review import ChipOutput, picked_labels
from annotator.models import NoiseFlag, NoiseRun, NoiseSplit, NoiseStatus, Project
from annotator.permissions import Capability
from annotator.selectors.noise import (
    annotator_corrections,
    flag_rows,
    latest_audit_run,
    latest_noise_job,
    latest_noise_run,
    noise_flags,
    noise_status_counts,
)
from annotator.selectors.review import label_chips
from annotator.services.noise import (
    FLAG_REPLACED_ERROR,
    noise_flag_exclude,
    noise_flag_keep,
    noise_flag_relabel,
    noise_flag_reopen,
)

ALL = "all"


class NoiseRunOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    test_share_flagged = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = NoiseRun
        fields = [
            "id", "job", "encoder", "detectors", "params", "n_items", "n_flagged", "n_held_out", "detector_counts",
            "policy", "policy_choice", "test_items", "test_flagged", "test_share_flagged", "created_by", "created_at",
        ]  # fmt: skip


class FlagOutput(serializers.Serializer):
    """A flag as the review queue shows it: the item, the labels given and suggested, and the decision."""

    id = serializers.IntegerField(source="flag.id")
    run = serializers.IntegerField(source="flag.run_id")
    item = serializers.IntegerField(source="flag.item_id")
    text = serializers.CharField(source="flag.item.text")
    split = serializers.CharField(source="flag.split")
    score = serializers.FloatField(source="flag.score")
    wrong_probability = serializers.FloatField(source="flag.wrong_probability", allow_null=True)
    votes = serializers.IntegerField(source="flag.votes")
    detectors = serializers.ListField(source="flag.detectors", child=serializers.CharField())
    held_out = serializers.BooleanField(
        source="flag.held_out", help_text="Not flagged, but doubtful enough to stay out of training while open."
    )
    status = serializers.CharField(source="flag.status")
    decided_by = serializers.CharField(source="flag.decided_by.username", default=None)
    decided_at = serializers.DateTimeField(source="flag.decided_at", allow_null=True)
    given = ChipOutput(many=True)
    suggested = ChipOutput(many=True)
    relabeled_to = ChipOutput(many=True)
    current = ChipOutput(many=True, help_text="The item's final label now.")
    labeled_by = serializers.ListField(child=serializers.CharField())


def _flag_row(project: Project, flag: NoiseFlag) -> dict:
    flag = noise_flags(project=project, split=flag.split, status=None).get(pk=flag.pk)
    return FlagOutput(flag_rows(project=project, flags=[flag], chips=label_chips(project=project))[0]).data


class NoiseStatusApi(ProjectAPIView):
    """Where noise review stands: flags per status (training split), the latest run, the latest run that
    audited the locked test split, and the latest noise job."""

    capability = Capability.REVIEW

    class NoiseStatusOutput(serializers.Serializer):
        counts = serializers.DictField(child=serializers.IntegerField())
        latest_run = NoiseRunOutput(allow_null=True)
        audit_run = NoiseRunOutput(allow_null=True)
        job = JobOutput(allow_null=True)

    @extend_schema(responses=NoiseStatusOutput)
    def get(self, request, project_id: int):
        status = {
            "counts": noise_status_counts(project=self.project),
            "latest_run": latest_noise_run(project=self.project),
            "audit_run": latest_audit_run(project=self.project),
            "job": latest_noise_job(project=self.project),
        }
        return Response(self.NoiseStatusOutput(status, context={"role": self.role}).data)


class NoiseFlagListApi(ProjectAPIView):
    """Flags, the most likely wrong first: `status` (default open; `all`), `split` (train, or test: the audit)."""

    capability = Capability.REVIEW
    pagination_class = PageNumberPagination

    class FlagQuery(serializers.Serializer):
        status = serializers.ChoiceField(choices=[*NoiseStatus.values, ALL], required=False, default=NoiseStatus.OPEN)
        split = serializers.ChoiceField(choices=NoiseSplit.values, required=False, default=NoiseSplit.TRAIN)
        run = IdField(required=False, help_text="Only this run's flags.")

    @extend_schema(parameters=[FlagQuery], responses=FlagOutput(many=True))
    def get(self, request, project_id: int):
        query = self.FlagQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        run = None
        if values.get("run") is not None:
            run = NoiseRun.objects.filter(project=self.project, pk=values["run"]).first()
            if run is None:
                raise exceptions.NotFound("No such noise run in this project.")
        status = None if values["status"] == ALL else values["status"]
        flags = noise_flags(project=self.project, split=values["split"], status=status, run=run)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(flags, request, self)
        rows = flag_rows(project=self.project, flags=page, chips=label_chips(project=self.project))
        return paginator.get_paginated_response(FlagOutput(rows, many=True).data)


class NoiseFlagDecisionApi(ProjectAPIView):
    """Base of the four decisions: find the flag (404 when a newer run replaced it), decide, answer its row."""

    capability = Capability.REVIEW

    def _flag(self, flag_id: int) -> NoiseFlag:
        flag = NoiseFlag.objects.filter(pk=flag_id, project=self.project).first()
        if flag is None:  # never existed, or a newer run replaced it
            raise exceptions.NotFound(FLAG_REPLACED_ERROR)
        return flag


class NoiseFlagKeepApi(NoiseFlagDecisionApi):
    """The given label is right: the item stays, and is not flagged for this label again."""

    @extend_schema(request=None, responses=FlagOutput)
    def post(self, request, project_id: int, flag_id: int):
        flag = noise_flag_keep(flag=self._flag(flag_id), by=request.user)
        return Response(_flag_row(self.project, flag))


class NoiseFlagExcludeApi(NoiseFlagDecisionApi):
    """Keep the item out of training (it stays visible with its label); reopen undoes it."""

    @extend_schema(request=None, responses=FlagOutput)
    def post(self, request, project_id: int, flag_id: int):
        flag = noise_flag_exclude(flag=self._flag(flag_id), by=request.user)
        return Response(_flag_row(self.project, flag))


class NoiseFlagRelabelApi(NoiseFlagDecisionApi):
    """Give the item another label (default: the suggestion) as an expert decision, kept in its history."""

    class RelabelInput(serializers.Serializer):
        label = IdField(required=False, allow_null=True, default=None, help_text="Omitted: the suggestion.")
        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=RelabelInput, responses=FlagOutput)
    def post(self, request, project_id: int, flag_id: int):
        flag = self._flag(flag_id)
        data = self.RelabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        label_id = data.validated_data["label"]
        label = picked_labels(self.project, [label_id])[0] if label_id is not None else None
        flag = noise_flag_relabel(flag=flag, by=request.user, label=label, note=data.validated_data["note"])
        return Response(_flag_row(self.project, flag))


class NoiseFlagReopenApi(NoiseFlagDecisionApi):
    """Undo a keep or an exclusion: the flag is open again (and an excluded item back in training)."""

    @extend_schema(request=None, responses=FlagOutput)
    def post(self, request, project_id: int, flag_id: int):
        flag = noise_flag_reopen(flag=self._flag(flag_id))
        return Response(_flag_row(self.project, flag))


class NoiseCorrectionsApi(ProjectAPIView):
    """Per annotator, how many of their labels experts corrected (admins only, as on the noise page)."""

    capability = Capability.MANAGE_MEMBERS

    class CorrectionsOutput(serializers.Serializer):
        username = serializers.CharField()
        labels = serializers.IntegerField()
        corrected = serializers.IntegerField()
        by_noise_review = serializers.IntegerField()
        share = serializers.FloatField()

    @extend_schema(responses=CorrectionsOutput(many=True))
    def get(self, request, project_id: int):
        return Response(self.CorrectionsOutput(annotator_corrections(project=self.project), many=True).data)
