"""An item's final label: the adjudicated one, else the one its annotators agree on, else the single one.

Annotators agree when their label sets are equal; in a single-label project labels on one path of
the tree also agree ("Sport" and "Sport > Football" give "Sport > Football"), so re-annotating an
item into a child after a split does not read as a conflict. Items whose annotators disagree have
no final label until an expert adjudicates them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Count, QuerySet

from annotator.models import Annotation, AnnotationLabel, AnnotationSource, Project, TaskType


class Resolution(StrEnum):
    ADJUDICATED = "adjudicated"
    AGREED = "agreed"
    SINGLE = "single"
    DISAGREED = "disagreed"


@dataclass(frozen=True)
class Vote:
    """One counted annotation of an item, reduced to what deciding its final label needs."""

    annotation_id: int
    source: str
    annotator_id: int | None
    labels: frozenset[int]


@dataclass(frozen=True)
class FinalLabel:
    resolution: Resolution
    label_ids: tuple[int, ...]  # empty when the annotators disagree


def counted_annotations(*, project: Project) -> QuerySet[Annotation]:
    """Annotations that count as labels: everything but unconfirmed or rejected candidates."""
    return Annotation.objects.filter(item__project=project, candidate_status="")


def item_votes(*, project: Project, item_ids: Iterable[int] | QuerySet | None = None) -> dict[int, list[Vote]]:
    """Item id -> its counted annotations as votes, oldest first."""
    links = AnnotationLabel.objects.filter(annotation__item__project=project, annotation__candidate_status="")
    if item_ids is not None:
        links = links.filter(annotation__item_id__in=item_ids)
    labels: dict[int, set[int]] = defaultdict(set)
    heads: dict[int, tuple[int, str, int | None]] = {}
    rows = links.values_list(
        "annotation_id", "annotation__item_id", "annotation__source", "annotation__annotator_id", "label_id"
    )
    for annotation_id, item_id, source, annotator_id, label_id in rows.order_by("annotation_id"):
        labels[annotation_id].add(label_id)
        heads[annotation_id] = (item_id, source, annotator_id)
    votes: dict[int, list[Vote]] = defaultdict(list)
    for annotation_id, (item_id, source, annotator_id) in heads.items():
        votes[item_id].append(Vote(annotation_id, source, annotator_id, frozenset(labels[annotation_id])))
    return dict(votes)


def label_parents(*, project: Project) -> dict[int, int | None]:
    return dict(project.labels.values_list("id", "parent_id"))


def _ancestors_or_self(label_id: int, parents: dict[int, int | None]) -> set[int]:
    chain = set()
    current: int | None = label_id
    while current is not None and current not in chain:
        chain.add(current)
        current = parents.get(current)
    return chain


def _deepest_on_one_path(label_ids: set[int], parents: dict[int, int | None]) -> int | None:
    """The deepest label when all of `label_ids` lie on one root-to-leaf path, else None."""
    deepest = max(label_ids, key=lambda pk: len(_ancestors_or_self(pk, parents)))
    return deepest if label_ids <= _ancestors_or_self(deepest, parents) else None


def resolve_final(votes: list[Vote], *, parents: dict[int, int | None], task_type: str) -> FinalLabel:
    adjudications = [vote for vote in votes if vote.source == AnnotationSource.ADJUDICATED]
    if adjudications:
        return FinalLabel(Resolution.ADJUDICATED, tuple(sorted(adjudications[-1].labels)))
    if len(votes) == 1:
        return FinalLabel(Resolution.SINGLE, tuple(sorted(votes[0].labels)))
    sets = {vote.labels for vote in votes}
    if len(sets) == 1:
        return FinalLabel(Resolution.AGREED, tuple(sorted(votes[0].labels)))
    if task_type == TaskType.SINGLE_LABEL:
        deepest = _deepest_on_one_path(set().union(*sets), parents)
        if deepest is not None:
            return FinalLabel(Resolution.AGREED, (deepest,))
    return FinalLabel(Resolution.DISAGREED, ())


def final_labels(*, project: Project, item_ids: Iterable[int] | QuerySet | None = None) -> dict[int, FinalLabel]:
    """Item id -> how its final label was decided, for every item with a counted annotation."""
    parents = label_parents(project=project)
    return {
        item_id: resolve_final(votes, parents=parents, task_type=project.task_type)
        for item_id, votes in item_votes(project=project, item_ids=item_ids).items()
    }


def final_label_ids(*, project: Project) -> dict[int, list[int]]:
    """Item id -> its final label ids, for items that have one (disagreements are left out)."""
    return {
        item_id: list(final.label_ids)
        for item_id, final in final_labels(project=project).items()
        if final.resolution != Resolution.DISAGREED
    }


def multi_vote_items(*, project: Project) -> QuerySet[Annotation]:
    """Ids of the items with two or more counted annotations (the only ones that can disagree)."""
    return (
        counted_annotations(project=project)
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .values("item_id")
    )


def disagreement_item_ids(*, project: Project) -> list[int]:
    """Items whose annotators disagree and that no expert has adjudicated yet: the adjudication queue."""
    finals = final_labels(project=project, item_ids=multi_vote_items(project=project))
    return sorted(item_id for item_id, final in finals.items() if final.resolution == Resolution.DISAGREED)
