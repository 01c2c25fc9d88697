from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from annotator.models import Annotation, Invitation, Item, Membership, Project, Role, Rule, TaskType
from annotator.services.embeddings import backbone_source
from mlcore.languages import DEFAULT_LANGUAGE, LANGUAGES, default_backbone

LAST_ADMIN_ERROR = gettext_lazy("A project needs at least one admin: make someone else admin first.")
# Said whether or not an account with that name exists: the answer must not tell.
INVITED = gettext_lazy("“{username}” is invited as {role}: they join the project when they accept.")
MAX_PENDING_INVITATIONS = 200
TOO_MANY_INVITATIONS = (
    f"This project has {MAX_PENDING_INVITATIONS} unanswered invitations: revoke some before inviting more."
)
NOT_INVITED = "This invitation is not addressed to you."
LANGUAGE_ERROR = f"language: choose one of {', '.join(LANGUAGES)} ({'; '.join(LANGUAGES.values())}); got {{value!r}}."
BACKBONE_ERROR = gettext_lazy("backbone: {reason}")


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser,
    description: str = "",
    task_type: str = TaskType.SINGLE_LABEL,
    language: str = DEFAULT_LANGUAGE,
    backbone: str | None = None,
    hidden_meta_fields: list[str] | None = None,
) -> Project:
    """Create a project; its creator becomes its admin. `language`: one of LANGUAGES; `backbone`: the
    encoder (None or "": the language's default, `mlcore.languages.default_backbone`);
    `hidden_meta_fields`: the item meta keys annotators never see (None: the default, `gold_label`).
    A bad language or backbone is a ValidationError keyed by the field, and nothing is created."""
    backbone = project_backbone_checked(language=language, backbone=backbone)
    project = Project(
        name=name,
        description=description,
        task_type=task_type,
        language=language,
        backbone=backbone,
        created_by=created_by,
    )
    if hidden_meta_fields is not None:
        project.hidden_meta_fields = sorted(set(hidden_meta_fields))
    project.save()
    Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    return project


def language_checked(value: object) -> str:
    """`value` if it is one of the languages, else a ValidationError naming the field and the choices."""
    if not isinstance(value, str) or value not in LANGUAGES:
        raise ValidationError({"language": language_error(value)})
    return value


def language_error(value: object) -> str:
    return LANGUAGE_ERROR.format(value=value)


def project_backbone_checked(*, language: object, backbone: str | None) -> str:
    """The backbone a new project gets: the one named (checked: packaged, or under the server's model
    folders) or else the language's default."""
    language = language_checked(language)
    if not backbone:
        return default_backbone(language)
    try:
        backbone_source(backbone)
    except ValidationError as error:
        raise ValidationError({"backbone": BACKBONE_ERROR.format(reason=" ".join(error.messages))}) from None
    return backbone


DELETE_CONFIRMATION_ERROR = gettext_lazy(
    "To delete this project and everything in it, confirm with its exact name: “{name}”."
)


def project_delete_confirmed(*, project: Project, confirmation: str | None) -> None:
    """Delete the project only when `confirmation` is its exact name: a guard against deleting the wrong one."""
    if confirmation != project.name:
        raise ValidationError(DELETE_CONFIRMATION_ERROR.format(name=project.name), code="confirmation")
    project_delete(project=project)


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project and everything in it.

    Annotations and rules go first: their links protect the labels that deleting the project
    removes (PROTECT, so that no other path drops them silently). Items go before the project, so
    that deleting its score runs leaves no item to update."""
    Annotation.objects.filter(item__project=project).delete()
    Rule.objects.filter(project=project).delete()
    Item.objects.filter(project=project).delete()
    project.delete()


@transaction.atomic
def member_set_role(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    """Add `user` to the project with `role`, or change their role.

    Direct, without the user's consent: for the demo loader, benchmarks, tests and accepted invitations.
    People adding people go through `member_invite`."""
    _check_role(role)
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return Membership.objects.create(project=project, user=user, role=role)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _refuse_removing_last_admin(project=project)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, project: Project, user: AbstractBaseUser) -> None:
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return
    if membership.role == Role.ADMIN:
        _refuse_removing_last_admin(project=project)
    membership.delete()


@transaction.atomic
def member_invite(
    *, project: Project, username: str, role: str, invited_by: AbstractBaseUser
) -> Membership | Invitation:
    """What a project admin's "add member" does: a current member's role changes at once; anyone else,
    whether or not an account with that name exists, gets a pending invitation (the same row and the
    same answer either way, so usernames cannot be probed)."""
    _check_role(role)
    membership = project.memberships.filter(user__username=username).select_related("user").first()
    if membership is not None:
        return member_set_role(project=project, user=membership.user, role=role)
    invitation = Invitation.objects.select_for_update().filter(project=project, username=username).first()
    if invitation is not None:
        invitation.role, invitation.invited_by = role, invited_by
        invitation.save(update_fields=["role", "invited_by"])
        return invitation
    if project.invitations.count() >= MAX_PENDING_INVITATIONS:
        raise ValidationError(TOO_MANY_INVITATIONS, code="too_many")
    return Invitation.objects.create(project=project, username=username, role=role, invited_by=invited_by)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """`user` joins the project with the invitation's role; the invitation is used up."""
    _check_addressee(invitation=invitation, user=user)
    membership = member_set_role(project=invitation.project, user=user, role=invitation.role)
    invitation.delete()
    return membership


@transaction.atomic
def invitation_decline(*, invitation: Invitation, user: AbstractBaseUser) -> None:
    _check_addressee(invitation=invitation, user=user)
    invitation.delete()


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> None:
    """A project admin withdraws an unanswered invitation."""
    invitation.delete()


def _check_addressee(*, invitation: Invitation, user: AbstractBaseUser) -> None:
    # Views find invitations through `invitations_for_user`, so this guards other callers.
    if invitation.username != user.get_username():
        raise ValidationError(NOT_INVITED, code="not_invited")


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}: choose one of {', '.join(Role.values)}.")


def _refuse_removing_last_admin(*, project: Project) -> None:
    # The project row lock makes two admins demoting each other at once take turns: the second sees
    # the first's change and is refused, so a project never ends with no admin.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
    if project.memberships.filter(role=Role.ADMIN).count() <= 1:
        raise ValidationError(LAST_ADMIN_ERROR)
