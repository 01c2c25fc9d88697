from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, OuterRef, QuerySet

from annotator.models import Annotation, Invitation, Item, Label, Membership, Project, Split


def project_list_for(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects `user` is a member of, with item counts."""
    return Project.objects.filter(memberships__user=user).annotate(item_count=Count("items", distinct=True))


def membership_role(*, user: AbstractBaseUser, project: Project) -> str | None:
    """The user's role in the project, or None when they are not a member."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_membership(*, user: AbstractBaseUser, project_id: int) -> Membership | None:
    """The user's membership of the project with the project itself, in one query (every request asks)."""
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("project").filter(project_id=project_id, user=user).first()


def project_members(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def project_invitations(*, project: Project) -> QuerySet[Invitation]:
    """The project's unanswered invitations (for its admins)."""
    return project.invitations.select_related("invited_by").order_by("username")


def invitations_for_user(*, user: AbstractBaseUser) -> QuerySet[Invitation]:
    """The invitations addressed to `user`: all they see of those projects until they accept."""
    return Invitation.objects.filter(username=user.get_username()).select_related("project", "invited_by")


def project_labels(*, project: Project) -> QuerySet[Label]:
    return project.labels.filter(active=True).select_related("parent")


def label_paths(*, project: Project, separator: str) -> dict[int, str]:
    """Each label's full path from the root, e.g. {7: "Sport > Football"}."""
    rows = {pk: (name, parent) for pk, name, parent in project.labels.values_list("id", "name", "parent_id")}

    def path(pk: int) -> str:
        names = []
        while pk is not None:
            name, pk = rows[pk]
            names.append(name)
        return separator.join(reversed(names))

    return {pk: path(pk) for pk in rows}


def project_split_counts(*, project: Project) -> dict[str, int]:
    counts = dict(project.items.values_list("split").annotate(n=Count("id")).values_list("split", "n"))
    return {split: counts.get(split, 0) for split in Split.values}


def project_label_counts(*, project: Project) -> dict[str, int]:
    """Items outside the test split with at least one counted annotation (`labeled`: queue answers,
    imported labels, confirmed suggestions, adjudications) and without (`unlabeled`), and the test split.

    Not the split counts: a queue answer leaves its item in the pool (`train` holds imported labeled
    items), so "0 train" after 43 queue labels was true of the splits and wrong as a progress count."""
    counted = Annotation.objects.filter(item=OuterRef("pk"), candidate_status="")
    outside_test = project.items.exclude(split=Split.TEST)
    labeled = outside_test.filter(Exists(counted)).count()
    return {
        "labeled": labeled,
        "unlabeled": outside_test.count() - labeled,
        "test": project.items.filter(split=Split.TEST).count(),
    }


def project_items(*, project: Project, split: str | None = None, search: str | None = None) -> QuerySet[Item]:
    items = project.items.all()
    if split:
        items = items.filter(split=split)
    if search:
        items = items.filter(text__icontains=search)
    return items.prefetch_related("annotations__labels")
