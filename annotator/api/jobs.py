from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.fields import JsonObjectField
from annotator.models import Job
from annotator.permissions import Capability
from annotator.selectors.jobs import project_jobs
from annotator.services.jobs import job_request_cancel, job_start

# Jobs an admin may start directly through this endpoint; other kinds start from their own
# endpoints (an import from /imports, training from its page).
DIRECTLY_STARTABLE_KINDS = ("selfcheck",)


class JobOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    log = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "queue", "status", "progress", "message", "params", "result", "error",
            "cancel_requested", "attempts", "created_by", "created_at", "started_at", "finished_at", "log",
        ]  # fmt: skip

    def get_log(self, job) -> list[str]:
        return job.log.splitlines()


class JobListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.RUN_JOBS}

    class JobStartInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=DIRECTLY_STARTABLE_KINDS)
        params = JsonObjectField(required=False, default=dict)

    @extend_schema(responses=JobOutput(many=True))
    def get(self, request, project_id: int):
        return Response(JobOutput(project_jobs(project=self.project)[:100], many=True).data)

    @extend_schema(request=JobStartInput, responses={201: JobOutput})
    def post(self, request, project_id: int):
        data = self.JobStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_start(project=self.project, created_by=request.user, **data.validated_data)
        return Response(JobOutput(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(ProjectAPIView):
    @extend_schema(responses=JobOutput)
    def get(self, request, project_id: int, job_id: int):
        return Response(JobOutput(get_project_object(Job, self.project, pk=job_id)).data)


class JobCancelApi(ProjectAPIView):
    capability = Capability.RUN_JOBS

    @extend_schema(request=None, responses=JobOutput)
    def post(self, request, project_id: int, job_id: int):
        job = get_project_object(Job, self.project, pk=job_id)
        try:
            job = job_request_cancel(job=job)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job).data)
