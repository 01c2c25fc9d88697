"""The Predict page: a few texts answered at once by the active version, and batch prediction jobs over an
uploaded file or the whole pool, with their progress and a download link. Every action calls the same
services as `POST /api/projects/<id>/predict`, `.../predict/batch/file/` and `.../predict/batch/pool/`."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.access import get_project_object, project_page
from annotator.models import Job, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import project_jobs
from annotator.services.predictions import (
    PREDICT_KIND,
    predict_file_start,
    predict_pool_start,
    predict_sync,
    predictions_file,
)
from annotator.views.jobs import POLL_INTERVAL

JOBS_SHOWN = 20
NO_TEXTS_ERROR = gettext_lazy("Type at least one text (one per line).")
NO_FILE_ERROR = gettext_lazy("Choose a file to predict.")
NOT_YOUR_BATCH_ERROR = gettext_lazy(
    "Only the member who started this batch prediction, experts and admins can download it."
)


def _predict_jobs(request: HttpRequest, project: Project) -> list[Job]:
    """Recent batch predictions: the member's own, or everyone's for experts and admins."""
    jobs = project_jobs(project=project).filter(kind=PREDICT_KIND)
    if not role_can(request.project_role, Capability.REVIEW):
        jobs = jobs.filter(created_by=request.user)
    return list(jobs.order_by("-created_at", "-id")[:JOBS_SHOWN])


def _page(request: HttpRequest, project: Project, *, status: int = 200, **extra) -> HttpResponse:
    jobs = _predict_jobs(request, project)
    context = {
        "project": project,
        "jobs": jobs,
        "polling": any(not job.is_finished for job in jobs),
        "poll_interval": POLL_INTERVAL,
        "can_predict_pool": role_can(request.project_role, Capability.REVIEW),
        "texts": "",
        **extra,
    }
    template = "annotator/partials/predict_jobs.html" if request.htmx else "annotator/predict.html"
    return render(request, template, context, status=status)


@project_page(Capability.VIEW)
@require_http_methods(["GET", "POST"])
def predict_page(request: HttpRequest, project: Project) -> HttpResponse:
    """GET: the page (an htmx poll gets the job table only). POST: the texts in the box, one per line,
    answered at once (the synchronous limits apply: too many is a 413 with the way to the batch job)."""
    if request.method == "GET":
        return _page(request, project)
    raw = request.POST.get("texts", "")
    texts = [line for line in raw.splitlines() if line.strip()]
    if not texts:
        return _page(request, project, status=400, error=NO_TEXTS_ERROR, texts=raw)
    try:
        version, predictions = predict_sync(project=project, texts=texts)
    except ValidationError as error:
        status = 413 if error.code == "too_large" else 400
        return _page(request, project, status=status, error=" ".join(error.messages), texts=raw)
    results = [{"text": text, **prediction} for text, prediction in zip(texts, predictions, strict=True)]
    return _page(request, project, results=results, version=version, texts=raw)


@project_page(Capability.VIEW)
@require_POST
def predict_file(request: HttpRequest, project: Project) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        return _page(request, project, status=400, error=NO_FILE_ERROR)
    try:
        job = predict_file_start(project=project, upload=upload, by=request.user)
    except ValidationError as error:
        status = 413 if error.code == "too_large" else 400
        return _page(request, project, status=status, error=" ".join(error.messages))
    messages.success(
        request,
        _("Predicting the {n} texts of {name}.").format(
            n=job.params["texts"], name=job.params.get("filename") or _("the file")
        ),
    )
    return redirect("predict-page", project_id=project.pk)


@project_page(Capability.REVIEW)
@require_POST
def predict_pool(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        job = predict_pool_start(project=project, by=request.user)
    except ValidationError as error:
        return _page(request, project, status=400, error=" ".join(error.messages))
    messages.success(request, _("Predicting all {n} items of the project.").format(n=job.params["texts"]))
    return redirect("predict-page", project_id=project.pk)


@project_page(Capability.VIEW)
@require_GET
def predict_download(request: HttpRequest, project: Project, job_id: int) -> HttpResponse:
    """A succeeded batch prediction's JSON lines (the API's predict/batch/<job id>/)."""
    job = get_project_object(Job, project, pk=job_id)
    try:
        path = predictions_file(job=job)
    except ValidationError as error:
        return _page(request, project, status=409 if error.code == "not_ready" else 400, error=" ".join(error.messages))
    if job.created_by_id != request.user.pk and not role_can(request.project_role, Capability.REVIEW):
        raise PermissionDenied(NOT_YOUR_BATCH_ERROR)
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=f"predictions-{job.pk}.jsonl", content_type="application/jsonl"
    )
