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
from annotator.selectors.jobs import job_for_role, project_jobs
from annotator.services.jobs import job_request_cancel, job_start

# Jobs an admin may start directly through this endpoint; other kinds start from their own
# endpoints (an import from /imports, training from its page).
DIRECTLY_STARTABLE_KINDS = ("selfcheck",)


class JobOutput(serializers.ModelSerializer):
    """A job as the viewer's project role may see it (`context["role"]`; without one, as an annotator):
    annotators get no params, result or log and a generic failure message (selectors.jobs.job_for_role)."""

    created_by = serializers.CharField(source="created_by.username", default=None)
    message = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    log = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "queue", "status", "progress", "message", "params", "result", "error",
            "cancel_requested", "attempts", "created_by", "created_at", "started_at", "finished_at", "log",
        ]  # fmt: skip

    def _shown(self, job: Job) -> dict:
        # One look per job (a list serializer shares this child): what the viewer's role may see.
        shown = self.__dict__.setdefault("_shown_by_job", {})
        if job.pk not in shown:
            shown[job.pk] = job_for_role(job=job, role=self.context.get("role"))
        return shown[job.pk]

    def get_message(self, job) -> str:
        return self._shown(job)["message"]

    def get_params(self, job) -> dict:
        return self._shown(job)["params"]

    def get_result(self, job) -> dict:
        return self._shown(job)["result"]

    def get_error(self, job) -> str:
        return self._shown(job)["error"]

    def get_log(self, job) -> list[str]:
        return self._shown(job)["log"]


class JobListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.RUN_JOBS}

    class JobStartInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=DIRECTLY_STARTABLE_KINDS)
        params = JsonObjectField(required=False, default=dict)

    @extend_schema(responses=JobOutput(many=True))
    def get(self, request, project_id: int):
        jobs = project_jobs(project=self.project)[:100]
        return Response(JobOutput(jobs, many=True, context={"role": self.role}).data)

    @extend_schema(request=JobStartInput, responses={201: JobOutput})
    def post(self, request, project_id: int):
        data = self.JobStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = job_start(project=self.project, created_by=request.user, **data.validated_data)
        except ValidationError as error:  # bad params (400) or too many unfinished jobs (429)
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_201_CREATED)


class JobDetailApi(ProjectAPIView):
    @extend_schema(responses=JobOutput)
    def get(self, request, project_id: int, job_id: int):
        job = get_project_object(Job, self.project, pk=job_id)
        return Response(JobOutput(job, context={"role": self.role}).data)


class JobCancelApi(ProjectAPIView):
    capability = Capability.RUN_JOBS

    @extend_schema(request=None, responses=JobOutput)
    def post(self, request, project_id: int, job_id: int):
        job = get_project_object(Job, self.project, pk=job_id)
        try:
            job = job_request_cancel(job=job)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data)
