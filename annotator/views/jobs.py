from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.models import Job, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import job_details_visible, job_for_role, project_jobs
from annotator.services.jobs import JOB_KINDS, job_request_cancel, job_start

# A job page polls while the job is live; the partial stops polling once it is finished.
POLL_INTERVAL = "1s"


# Sent (HX-Trigger) with the last poll of a job's status; a page's part refreshes on it `from:body`.
JOB_FINISHED_EVENT = "job-finished"


@project_page(Capability.VIEW)
@require_GET
def job_list(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "jobs": project_jobs(project=project)[:100],
        "kinds": JOB_KINDS,
        "can_run": role_can(request.project_role, Capability.RUN_JOBS),
    }
    return render(request, "annotator/job_list.html", context)


@project_page(Capability.VIEW)
@require_GET
def job_detail(request: HttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = get_project_object(Job, project, pk=job_id)
    context = {
        "project": project,
        "job": job,
        "title": _(JOB_KINDS[job.kind].title) if job.kind in JOB_KINDS else job.kind,
        # What this role may see of the params, result, log and error (annotators: a generic line).
        "shown": job_for_role(job=job, role=request.project_role),
        "can_see_details": job_details_visible(role=request.project_role),
        "can_run": role_can(request.project_role, Capability.RUN_JOBS),
        "poll_interval": POLL_INTERVAL,
    }
    if not request.htmx:
        return render(request, "annotator/job_detail.html", context)
    response = render(request, "annotator/partials/job_status.html", context)
    if job.is_finished:  # the poll that sees the end: pages listening (the noise queue) refresh themselves
        response["HX-Trigger"] = JOB_FINISHED_EVENT
    return response


@project_page(Capability.RUN_JOBS)
@require_POST
def job_cancel(request: HttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = get_project_object(Job, project, pk=job_id)
    try:
        job_request_cancel(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)


@project_page(Capability.RUN_JOBS)
@require_POST
def job_selfcheck(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        job = job_start(
            kind="selfcheck", project=project, params={"steps": 10, "seconds": 0.5}, created_by=request.user
        )
    except ValidationError as error:  # too many unfinished jobs
        messages.error(request, " ".join(error.messages))
        return redirect("job-list", project_id=project.pk)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)
