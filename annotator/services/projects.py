from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from annotator.models import Annotation, Item, Membership, Project, Role, Rule, TaskType

LAST_ADMIN_ERROR = "A project needs at least one admin: make someone else admin first."


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser,
    description: str = "",
    task_type: str = TaskType.SINGLE_LABEL,
    language: str = "en",
    hidden_meta_fields: list[str] | None = None,
) -> Project:
    """Create a project; its creator becomes its admin. `hidden_meta_fields`: the item meta keys
    annotators never see (None: the default, `gold_label`)."""
    project = Project(name=name, description=description, task_type=task_type, language=language, created_by=created_by)
    if hidden_meta_fields is not None:
        project.hidden_meta_fields = sorted(set(hidden_meta_fields))
    project.save()
    Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    return project


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
    """Add `user` to the project with `role`, or change their role."""
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}: choose one of {', '.join(Role.values)}.")
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


def _refuse_removing_last_admin(*, project: Project) -> None:
    if project.memberships.filter(role=Role.ADMIN).count() <= 1:
        raise ValidationError(LAST_ADMIN_ERROR)
