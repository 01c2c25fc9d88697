"""Active learning over the API: ask for a rescoring of the pool now (coalesced with a waiting one)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.errors import validation_error_response
from annotator.api.jobs import JobOutput
from annotator.permissions import Capability
from annotator.services.active_learning import rescore_request


class RescoreApi(ProjectAPIView):
    """Queue a rescoring job: 202 with a new job, or 200 with the one already waiting (it will see the
    newest labels) or running (one more run follows it); 429 when the project has too many jobs."""

    capability = Capability.RUN_JOBS

    class RescoreOutput(serializers.Serializer):
        created = serializers.BooleanField()
        job = JobOutput()

    @extend_schema(request=None, responses={200: RescoreOutput, 202: RescoreOutput})
    def post(self, request, project_id: int):
        try:
            job, created = rescore_request(project=self.project, by=request.user, reason="api")
        except ValidationError as error:  # too many unfinished jobs: 429
            return validation_error_response(error)
        body = self.RescoreOutput({"created": created, "job": job}, context={"role": self.role}).data
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
