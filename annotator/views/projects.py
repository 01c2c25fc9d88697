from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.models import Project, Role, TaskType
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import project_jobs
from annotator.selectors.projects import project_labels, project_list_for, project_members, project_split_counts
from annotator.services.projects import member_remove, member_set_role, project_create


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    task_type = forms.ChoiceField(choices=TaskType.choices)
    language = forms.CharField(max_length=16, initial="en")


class MemberForm(forms.Form):
    username = forms.CharField()
    role = forms.ChoiceField(choices=Role.choices)


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = project_list_for(user=request.user)
    return render(request, "annotator/project_list.html", {"projects": projects, "form": ProjectForm()})


@login_required
@require_POST
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if not form.is_valid():
        projects = project_list_for(user=request.user)
        return render(request, "annotator/project_list.html", {"projects": projects, "form": form}, status=400)
    project = project_create(created_by=request.user, **form.cleaned_data)
    messages.success(request, f"Project “{project.name}” created; you are its admin.")
    return redirect("project-detail", project_id=project.pk)


@project_page(Capability.VIEW)
@require_GET
def project_detail(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "role": request.project_role,
        "can": _capabilities(request.project_role),
        "split_counts": project_split_counts(project=project),
        "labels": project_labels(project=project),
        "jobs": project_jobs(project=project)[:5],
    }
    return render(request, "annotator/project_detail.html", context)


def _capabilities(role: str) -> dict[str, bool]:
    """{capability name: allowed} for templates, so pages hide what the role cannot do."""
    return {capability.value: role_can(role, capability) for capability in Capability}


@project_page(Capability.VIEW)
@require_GET
def member_list(request: HttpRequest, project: Project) -> HttpResponse:
    return _render_members(request, project, MemberForm())


def _render_members(request: HttpRequest, project: Project, form: MemberForm, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "members": project_members(project=project),
        "form": form,
        "roles": Role.choices,
        "can": _capabilities(request.project_role),
    }
    return render(request, "annotator/members.html", context, status=status)


@project_page(Capability.MANAGE_MEMBERS)
@require_POST
def member_save(request: HttpRequest, project: Project) -> HttpResponse:
    form = MemberForm(request.POST)
    if form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        if user is None:
            form.add_error("username", "No user with this username.")
        else:
            try:
                member_set_role(project=project, user=user, role=form.cleaned_data["role"])
                messages.success(request, f"{user.username} is now {form.cleaned_data['role']}.")
                return redirect("member-list", project_id=project.pk)
            except ValidationError as error:
                form.add_error(None, error)
    return _render_members(request, project, form, status=400)


@project_page(Capability.MANAGE_MEMBERS)
@require_POST
def member_delete(request: HttpRequest, project: Project, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id, memberships__project=project)
    try:
        member_remove(project=project, user=user)
        messages.success(request, f"{user.username} was removed from the project.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("member-list", project_id=project.pk)
