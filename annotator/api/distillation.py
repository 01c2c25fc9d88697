"""Distillation and speed over HTTP (issue 21): queue a distillation job, time an older version.
The twins of the Models page's Distill form and a version's Measure speed button."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.fields import JsonObjectField
from annotator.api.jobs import JobOutput
from annotator.models import ModelVersion
from annotator.permissions import Capability
from annotator.services.distillation import DEFAULTS, MAX_TEACHERS, SCHEMES, STUDENT_PRESETS, distill_job_start
from annotator.services.speed import speed_job_start


class DistillInput(serializers.Serializer):
    teachers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        help_text=f"Ids of this project's model versions (1 to {MAX_TEACHERS}); their probabilities are averaged.",
    )
    student = serializers.CharField(
        default="static_head", help_text="The student preset: " + ", ".join(STUDENT_PRESETS) + "."
    )
    student_params = JsonObjectField(
        required=False, default=dict, help_text="Options of the student's model kind over the preset's (epochs, ...)."
    )
    scheme = serializers.CharField(
        default=DEFAULTS["scheme"], help_text="What the student learns from: " + "; ".join(SCHEMES.values()) + "."
    )
    temperature = serializers.FloatField(default=DEFAULTS["temperature"], help_text="Above 0.")
    alpha = serializers.FloatField(default=DEFAULTS["alpha"], help_text="Weight of the human labels, 0 to 1.")
    confidence = serializers.FloatField(
        default=DEFAULTS["confidence"], help_text="Pool items below this teacher confidence are left out; 0 to <1."
    )
    use_pool = serializers.BooleanField(default=True)
    finetune = serializers.BooleanField(
        default=DEFAULTS["finetune"], help_text="Fine-tune on the human labels alone after."
    )


class ModelDistillApi(ProjectAPIView):
    """Queue a distillation job (gpu queue): the teachers label the labeled items and the unlabeled pool
    (never the test split), a student learns from them, is evaluated on the locked test split, timed,
    and registered with the teachers as its `parents`. A bad field is a 400 whose `key` names it
    (`teachers`, `student`, `scheme`, `temperature`, `alpha`, `confidence`, `student_params.<name>`),
    and nothing is queued."""

    capability = Capability.RUN_JOBS

    @extend_schema(request=DistillInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = DistillInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = distill_job_start(project=self.project, by=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class ModelSpeedApi(ProjectAPIView):
    """Queue a job that times a version on up to 256 of the project's texts (batch-1 ms per text, batch
    texts per second, the encoder included for models on embeddings); the version's speed fields follow."""

    capability = Capability.RUN_JOBS

    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        job = speed_job_start(version=version, by=request.user)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)
