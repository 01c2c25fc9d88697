"""Noisy labels over the API: start a noise-detection job (its flags are reviewed on the page)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.errors import validation_error_response
from annotator.api.jobs import JobOutput
from annotator.permissions import Capability
from annotator.services.noise import AUTO_POLICY, DEFAULT_DOUBT_SCORE, DEFAULT_FILTER_BY, noise_start
from mlcore.noise import DEFAULT_DETECTORS


class NoiseStartApi(ProjectAPIView):
    """Queue a noise-detection job: 202 with the job; 400 with the reason (a multi-label project,
    too few labels, an unknown detector or policy, a doubt_score outside 0-1, a job already running).
    The ensemble judges with the chosen detectors' evidence only; `policy`: what training does with
    open flags, "auto" (compared out of fold, the best applied) or a policy name; `doubt_score`: under
    a hold-out policy, unflagged items scoring above it are held out of training until someone decides."""

    capability = Capability.RUN_JOBS

    class NoiseStartInput(serializers.Serializer):
        # Names are checked by the service against mlcore's registry, so its error names the valid ones.
        detectors = serializers.ListField(child=serializers.CharField(), default=list(DEFAULT_DETECTORS))
        filter_by = serializers.CharField(default=DEFAULT_FILTER_BY)
        audit_test = serializers.BooleanField(default=False)
        # Checked by the service (0-1), so the API and the page say the same.
        doubt_score = serializers.FloatField(default=DEFAULT_DOUBT_SCORE)
        policy = serializers.CharField(default=AUTO_POLICY)  # checked by the service, as the detectors

    @extend_schema(request=NoiseStartInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = self.NoiseStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = noise_start(project=self.project, by=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)
