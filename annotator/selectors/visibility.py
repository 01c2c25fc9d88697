"""What each role may see of items: annotators never see the answer key or other people's answers.

Experts and admins (the roles that review) see everything. Annotators see items without the
project's hidden meta keys (`Project.hidden_meta_fields`, `gold_label` by default), never an item of
the locked test split (its labels are the answer key the models are scored on), and of the labels
on an item only their own answer: a colleague's or an import's labels would anchor theirs, and
overlap items exist to measure independent agreement.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet

from annotator.models import Annotation, AnnotationSource, Item, Project, Split
from annotator.permissions import Capability, role_can
from annotator.selectors.projects import project_items

TEST_SPLIT_HIDDEN_ERROR = "The locked test split is visible to experts and admins only."


def sees_answers(role: str | None) -> bool:
    """Whether `role` sees gold labels, the test split and everyone's answers: those who review."""
    return role_can(role, Capability.REVIEW)


def visible_meta(*, project: Project, role: str | None, meta: dict) -> dict:
    """`meta` without the keys the project hides from this role."""
    if sees_answers(role) or not isinstance(meta, dict):
        return meta
    hidden = set(project.hidden_meta_fields or ())
    return {key: value for key, value in meta.items() if key not in hidden}


def visible_splits(*, role: str | None) -> list[tuple[str, str]]:
    """The split choices a role may filter by."""
    return [choice for choice in Split.choices if sees_answers(role) or choice[0] != Split.TEST]


def visible_items(
    *,
    project: Project,
    role: str | None,
    user: AbstractBaseUser,
    split: str | None = None,
    search: str | None = None,
) -> QuerySet[Item]:
    """The project's items this role may list, each with the annotations it may see prefetched as
    `item.annotations.all()`. Asking an annotator's list for the test split raises PermissionDenied."""
    items = project_items(project=project, split=split, search=search)
    if sees_answers(role):
        return items
    if split == Split.TEST:
        raise PermissionDenied(TEST_SPLIT_HIDDEN_ERROR)
    own = Annotation.objects.filter(annotator=user, source=AnnotationSource.HUMAN, candidate_status="")
    return (
        items.exclude(split=Split.TEST)
        .prefetch_related(None)
        .prefetch_related(Prefetch("annotations", queryset=own.prefetch_related("labels")))
    )
