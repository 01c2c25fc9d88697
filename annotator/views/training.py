"""Model pages: versions with their learning curve and the training form, one version's evaluation,
and a comparison of two versions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.models import ModelVersion, Project
from annotator.params import query_id
from annotator.permissions import Capability, role_can
from annotator.selectors.model_pages import compare_versions, confusion_rows, label_names, learning_curve_svg
from annotator.selectors.training import learning_curve, model_versions
from annotator.services.training import (
    INVALID_OPTION,
    model_version_activate,
    preset_labels,
    training_job_start,
)
from annotator.views.training_form import TrainForm


@project_page(Capability.VIEW)
@require_GET
def model_list(request: HttpRequest, project: Project) -> HttpResponse:
    return _model_list_page(request, project, TrainForm(preset_labels=preset_labels(project=project)))


def _model_list_page(request: HttpRequest, project: Project, form: TrainForm, *, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "versions": list(model_versions(project=project)),
        "curve": learning_curve_svg(learning_curve(project=project)),
        "form": form,
        "can_train": role_can(request.project_role, Capability.RUN_JOBS),
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
            project=project, by=request.user, preset=form.cleaned_data["preset"], params=form.params()
        )
    except ValidationError as error:
        if error.code != INVALID_OPTION:  # not enough data, a backbone refused: the reason is a message
            messages.error(request, " ".join(error.messages))
            return redirect("model-list", project_id=project.pk)
        form.add_error(form.field_for_key(error.params["key"]), " ".join(error.messages))
        return _model_list_page(request, project, form, status=400)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)


@project_page(Capability.VIEW)
@require_GET
def model_detail(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    version = get_project_object(ModelVersion, project, pk=version_id)
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
    }
    return render(request, "annotator/model_detail.html", context)


@project_page(Capability.VIEW)
@require_GET
def model_compare(request: HttpRequest, project: Project) -> HttpResponse:
    a = get_project_object(ModelVersion, project, pk=query_id(request.GET, "a") or 0)
    b = get_project_object(ModelVersion, project, pk=query_id(request.GET, "b") or 0)
    context = {"project": project, "a": a, "b": b, "rows": compare_versions(a, b, label_names(project=project))}
    return render(request, "annotator/model_compare.html", context)


@project_page(Capability.RUN_JOBS)
@require_POST
def model_activate(request: HttpRequest, project: Project, version_id: int) -> HttpResponse:
    version = get_project_object(ModelVersion, project, pk=version_id)
    model_version_activate(version=version, by=request.user)
    messages.success(request, f"{version} now answers the prediction API.")
    return redirect("model-detail", project_id=project.pk, version_id=version.pk)
