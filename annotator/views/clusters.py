from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.models import Cluster, Label, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.clusters import clusters_with_exemplars, latest_cluster_run
from annotator.services.clustering import DEFAULT_K_RANGE, cluster_job_start, cluster_promote


class ClusterJobForm(forms.Form):
    k = forms.IntegerField(
        required=False, min_value=2, max_value=200, help_text=gettext_lazy("Empty: chosen by silhouette.")
    )
    k_min = forms.IntegerField(initial=DEFAULT_K_RANGE[0], min_value=2, max_value=200)
    k_max = forms.IntegerField(initial=DEFAULT_K_RANGE[1], min_value=2, max_value=200)


class PromoteForm(forms.Form):
    label = forms.ModelChoiceField(
        queryset=Label.objects.none(), required=False, empty_label=gettext_lazy("— a new label —")
    )
    new_label_name = forms.CharField(required=False, max_length=200)
    parent = forms.ModelChoiceField(
        queryset=Label.objects.none(), required=False, empty_label=gettext_lazy("(top level)")
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        active = project.labels.filter(active=True)
        self.fields["label"].queryset = active
        self.fields["parent"].queryset = active.exclude(kind="other")

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("label") and not data.get("new_label_name", "").strip():
            raise forms.ValidationError(gettext_lazy("Choose an existing label or name a new one."))
        return data


@project_page(Capability.VIEW)
@require_GET
def cluster_page(request: HttpRequest, project: Project) -> HttpResponse:
    run = latest_cluster_run(project=project)
    context = {
        "project": project,
        "run": run,
        # The SVG comes from mlcore.clustering.cluster_map_svg, which escapes every text it writes.
        "map_svg": mark_safe(run.map_svg) if run else "",
        "clusters": clusters_with_exemplars(run=run) if run else [],
        "job_form": ClusterJobForm(),
        "promote_form": PromoteForm(project=project),
        "can_edit": role_can(request.project_role, Capability.EDIT_TAXONOMY),
        # Admins run jobs: a new run replaces the latest result everyone works from.
        "can_run": role_can(request.project_role, Capability.RUN_JOBS),
    }
    return render(request, "annotator/clusters.html", context)


@project_page(Capability.RUN_JOBS)
@require_POST
def cluster_start(request: HttpRequest, project: Project) -> HttpResponse:
    form = ClusterJobForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the numbers:") + " " + form.errors.as_text())
        return redirect("cluster-page", project_id=project.pk)
    data = form.cleaned_data
    try:
        job = cluster_job_start(project=project, by=request.user, k=data["k"], k_range=(data["k_min"], data["k_max"]))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("cluster-page", project_id=project.pk)
    return redirect("job-detail", project_id=project.pk, job_id=job.pk)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def cluster_promote_view(request: HttpRequest, project: Project, cluster_id: int) -> HttpResponse:
    cluster = get_object_or_404(Cluster, pk=cluster_id, run__project=project)
    form = PromoteForm(request.POST, project=project)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or form.errors.as_text())
        return redirect("cluster-page", project_id=project.pk)
    data = form.cleaned_data
    try:
        label, created = cluster_promote(
            cluster=cluster,
            by=request.user,
            label=data["label"],
            new_label_name=data["new_label_name"],
            parent=data["parent"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Cluster promoted to “{name}”: {n} suggestion(s) wait for a check.").format(name=label.name, n=created),
        )
    return redirect("cluster-page", project_id=project.pk)
