"""Augmentation over the API (issue 24), for experts and admins: start a job that writes augmented
copies of scarce classes' training items, see the counts per class and the ops, browse the copies,
accept or reject them in bulk, and cancel a running augmentation job."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.jobs import JobOutput
from annotator.models import AugmentStatus, Job
from annotator.permissions import Capability
from annotator.selectors.augment import SAMPLES_MAX_LIMIT, augment_overview, augment_samples
from annotator.services.augment import AUGMENT_KIND, DEFAULT_STRENGTH, augment_decide, augment_start
from annotator.services.jobs import job_request_cancel

NOT_AN_AUGMENT_JOB_ERROR = "Job #{pk} is not an augmentation job."


class AugmentApi(ProjectAPIView):
    """GET: per class the human-labeled training items and the accepted / pending / rejected copies,
    the ops of the project's language (with whether each plug-in's model is configured) and the
    defaults. POST: queue an augmentation job, 202 with the job; 400 with the reason (an unknown op, copies
    outside 1..max_copies, a label that is not the project's or has no labeled items, no model for the
    filter, a plug-in directory that is not a model, a job already running); nothing is created then."""

    capability = Capability.AUGMENT

    class AugmentStartInput(serializers.Serializer):
        # Names, counts and label ids are checked by the service, so the API and the page say the same.
        ops = serializers.ListField(child=serializers.CharField(), allow_empty=True)
        copies = serializers.IntegerField(default=1)
        classes = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            allow_null=True,
            default=None,
            help_text="Label ids; default: the classes whose count of labeled training items is below the median.",
        )
        use_filter = serializers.BooleanField(default=True)
        model_version = serializers.IntegerField(
            required=False,
            allow_null=True,
            default=None,
            help_text="The filter's model version id; default: the active version, else the newest.",
        )
        strength = serializers.FloatField(default=DEFAULT_STRENGTH)

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        return Response(augment_overview(project=self.project))

    @extend_schema(request=AugmentStartInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = self.AugmentStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = augment_start(project=self.project, user=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class AugmentSamplesApi(ProjectAPIView):
    """Copies to review, oldest first, filtered by `label` (id), `op` and `status`; `limit` (at most
    500) and `offset` page through them. `segments`: the copy as [text, changed] pieces."""

    capability = Capability.AUGMENT

    class SamplesQuery(serializers.Serializer):
        label = serializers.IntegerField(required=False, allow_null=True, default=None)
        op = serializers.CharField(required=False, allow_blank=True, default="")
        status = serializers.ChoiceField(choices=AugmentStatus.values, required=False, allow_blank=True, default="")
        limit = serializers.IntegerField(min_value=1, max_value=SAMPLES_MAX_LIMIT, default=50)
        offset = serializers.IntegerField(min_value=0, default=0)

    @extend_schema(parameters=[SamplesQuery], responses={200: dict})
    def get(self, request, project_id: int):
        query = self.SamplesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = query.validated_data
        samples = augment_samples(
            project=self.project,
            label_id=found["label"],
            op=found["op"] or None,
            status=found["status"] or None,
            limit=found["limit"],
            offset=found["offset"],
        )
        return Response({"results": samples})


class AugmentDecideApi(ProjectAPIView):
    """Accept or reject copies in bulk ("pending" undoes a decision): 200 with how many changed; 400 when
    an id is not a copy of this project (nothing changes then)."""

    capability = Capability.AUGMENT

    class DecideInput(serializers.Serializer):
        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=True)
        status = serializers.CharField()  # checked by the service, whose error names the choices

    @extend_schema(request=DecideInput, responses={200: dict})
    def post(self, request, project_id: int):
        data = self.DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            changed = augment_decide(
                project=self.project,
                user=request.user,
                copy_ids=data.validated_data["ids"],
                status=data.validated_data["status"],
            )
        except ValidationError as error:
            return validation_error_response(error)
        return Response({"changed": changed})


class AugmentCancelApi(ProjectAPIView):
    """Cancel an augmentation job (experts may, though other jobs are the admins'); it writes nothing."""

    capability = Capability.AUGMENT

    @extend_schema(request=None, responses=JobOutput)
    def post(self, request, project_id: int, job_id: int):
        job = get_project_object(Job, self.project, pk=job_id)
        if job.kind != AUGMENT_KIND:
            return validation_error_response(ValidationError(NOT_AN_AUGMENT_JOB_ERROR.format(pk=job.pk)))
        try:
            job = job_request_cancel(job=job)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data)
