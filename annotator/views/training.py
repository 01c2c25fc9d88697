"""Model pages: versions with their learning curve and the training form, one version's evaluation,
and a comparison of two versions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.downloads import model_archive_download
from annotator.models import ModelVersion, Project
from annotator.params import query_id
from annotator.permissions import Capability, role_can
from annotator.selectors.model_pages import (
    compare_versions,
    confusion_rows,
    label_names,
    learning_curve_svg,
    quality_and_speed,
    quality_speed_points,
    quality_speed_svg,
    speed_ratio,
)
from annotator.selectors.training import learning_curve, model_versions, promotions
from annotator.services.distillation import distill_job_start
from annotator.services.speed import speed_job_start
from annotator.services.training import (
    INVALID_OPTION,
    PROMOTION_REASON_MAX_LENGTH,
    model_version_activate,
    preset_labels,
    promotion_gate,
    training_job_start,
)
from annotator.views.augment_presenter import augmentation_use
from annotator.views.distill_form import DistillForm
from annotator.views.training_form import TrainForm


@project_page(Capability.VIEW)
@require_GET
def model_list(request: HttpRequest, project: Project) -> HttpResponse:
    return _model_list_page(request, project, TrainForm(preset_labels=preset_labels(project=project)))


def _model_list_page(
    request: HttpRequest,
    project: Project,
    form: TrainForm,
    *,
    distill_form: DistillForm | None = None,
    status: int = 200,
) -> HttpResponse:
    versions = list(model_versions(project=project).prefetch_related("parents"))
    speed_points, speed_unmeasured = quality_speed_points(versions)
    context = {
        "project": project,
        "versions": versions,
        "curve": learning_curve_svg(learning_curve(project=project)),
        "form": form,
        "can_train": role_can(request.project_role, Capability.RUN_JOBS),
        "promotions": list(promotions(project=project)[:PROMOTIONS_SHOWN]),
        # Issue 21: distillation, and quality against speed.
        "distill_form": distill_form or DistillForm(project=project),
        "speed_chart": quality_speed_svg(speed_points),
        "speed_points": speed_points,
        "speed_unmeasured": speed_unmeasured,
    }
    return render(request, "annotator/models.html", context, status=status)


@project_page(Capability.RUN_JOBS)
@require_POST
def model_train(request: HttpRequest, project: Project) -> HttpResponse:
    """Queue a training job; a bad option shows the form again with the error at its field (400)."""
    form = TrainForm(request.POST, preset_labels=preset_labels(project=project))
    if not form.is_valid():
        return _model_list_page(request, project, form, status=400)
    try:
        job = training_job_start(
            project=project,
            by=request.user,
            preset=form.cleaned_data["preset"],
            params=form.params(),
            augmentation=form.cleaned_data["augmentation"],
        )
    except ValidationError as error:
        if error.code != INVALID_OPTION:  # not enough data, a backbone refused: the reason is a message
            messages.error(request, " ".join(error.messages))
            return redirect("model-list", project_id=project.pk)
        form.add_error(form.field_for_key(error.params["key"]), " ".join(error.messages))
        return _model_list_page(request, project, form, status=400)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)


PROMOTIONS_SHOWN = 20


@project_page(Capability.VIEW)
@require_GET
def model_detail(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    version = get_project_object(ModelVersion, project, pk=version_id)
    return _model_detail_page(request, project, version)


def _model_detail_page(
    request: HttpRequest, project: Project, version: ModelVersion, *, gate_error: str = "", status: int = 200
) -> HttpResponse:
    names = label_names(project=project)
    per_class = [{**row, "name": names.get(int(row["label"]), "?")} for row in version.metrics.get("per_class", [])]
    context = {
        "project": project,
        "version": version,
        "per_class": per_class,
        "confusion": confusion_rows(version, names),
        "columns": [names.get(pk, f"#{pk}") for pk in version.label_ids],
        "others": model_versions(project=project).exclude(pk=version.pk),
        "left_out": [names.get(int(pk), f"#{pk}") for pk in version.metrics.get("left_out", [])],
        "can_activate": role_can(request.project_role, Capability.RUN_JOBS),
        "can_export": role_can(request.project_role, Capability.EXPORT),
        "gate": promotion_gate(version=version, active=project.active_model, max_drop=project.promotion_max_f1_drop),
        "gate_error": gate_error,
        "reason_max_length": PROMOTION_REASON_MAX_LENGTH,
        "promotions": list(promotions(project=project, version=version)),
        "augmentation": augmentation_use(version.params, names),
    }
    return render(request, "annotator/model_detail.html", context, status=status)


@project_page(Capability.VIEW)
@require_GET
def model_compare(request: HttpRequest, project: Project) -> HttpResponse:
    a = get_project_object(ModelVersion, project, pk=query_id(request.GET, "a") or 0)
    b = get_project_object(ModelVersion, project, pk=query_id(request.GET, "b") or 0)
    context = {
        "project": project,
        "a": a,
        "b": b,
        "rows": compare_versions(a, b, label_names(project=project)),
        "side_by_side": quality_and_speed(a, b),
        "speed_ratio": speed_ratio(a, b),
    }
    return render(request, "annotator/model_compare.html", context)


@project_page(Capability.RUN_JOBS)
@require_POST
def model_activate(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    """Make a version active through the promotion gate; refused (400, the page again with the gate's
    message at the reason box) when the gate asks for a reason and none was given."""
    version = get_project_object(ModelVersion, project, pk=version_id)
    try:
        model_version_activate(version=version, by=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as error:
        return _model_detail_page(request, project, version, gate_error=" ".join(error.messages), status=400)
    messages.success(request, _("{version} now answers the prediction API.").format(version=version))
    return redirect("model-detail", project_id=project.pk, version_id=version.pk)


@project_page(Capability.EXPORT)
@require_GET
def model_export(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    """The version's archive (the API's twin: GET /api/projects/<id>/models/<vid>/export/)."""
    version = get_project_object(ModelVersion, project, pk=version_id)
    try:
        return model_archive_download(version=version)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("model-detail", project_id=project.pk, version_id=version.pk)


# --- distillation and speed (issue 21) ------------------------------------------------------------------


@project_page(Capability.RUN_JOBS)
@require_POST
def model_distill(request: HttpRequest, project: Project) -> HttpResponse:
    """Queue a distillation job; a bad field shows the form again with the error at that field (400)."""
    form = DistillForm(request.POST, project=project)
    train_form = TrainForm(preset_labels=preset_labels(project=project))
    if not form.is_valid():
        return _model_list_page(request, project, train_form, distill_form=form, status=400)
    try:
        job = distill_job_start(project=project, by=request.user, **form.service_fields())
    except ValidationError as error:
        if error.code != INVALID_OPTION:  # not enough data, a multi-label project: the reason is a message
            messages.error(request, " ".join(error.messages))
            return redirect("model-list", project_id=project.pk)
        form.add_error(form.field_for_key(error.params["key"]), " ".join(error.messages))
        return _model_list_page(request, project, train_form, distill_form=form, status=400)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)


@project_page(Capability.RUN_JOBS)
@require_POST
def model_measure_speed(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    """Queue a job that times an older version (the teacher takes a while on CPU)."""
    version = get_project_object(ModelVersion, project, pk=version_id)
    job = speed_job_start(version=version, by=request.user)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)
