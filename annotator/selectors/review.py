"""Reads for the experts' pages: counted annotations with filters, and the adjudication queue's cases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet

from annotator.models import (
    Annotation,
    AnnotationRevision,
    AnnotationSource,
    CandidateStatus,
    Item,
    Label,
    Project,
    SkippedItem,
)
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.selectors.items import Vote, counted_annotations, disagreement_item_ids, item_votes

DELETED_LABEL_COLOR = "#9ca3af"

# --- labels -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelChip:
    """A label as a chip shows it: its full path and its color."""

    pk: int
    path: str
    color: str
    active: bool = True
    depth: int = 0


def label_chips(*, project: Project) -> dict[int, LabelChip]:
    """Label id -> chip for every label of the project (archived ones too), depth-first in display order."""
    labels = list(Label.objects.filter(project=project).order_by("order", "name", "id"))
    by_parent: dict[int | None, list[Label]] = defaultdict(list)
    for label in labels:
        by_parent[label.parent_id].append(label)
    chips: dict[int, LabelChip] = {}

    def walk(parent_id: int | None, prefix: str, depth: int) -> None:
        for label in by_parent[parent_id]:
            path = f"{prefix}{LABEL_PATH_SEPARATOR}{label.name}" if prefix else label.name
            chips[label.pk] = LabelChip(label.pk, path, label.color, label.active, depth)
            walk(label.pk, path, depth + 1)

    walk(None, "", 0)
    return chips


def label_choices(*, project: Project) -> list[LabelChip]:
    """The labels one may choose now (active ones), in display order: the pickers' buttons."""
    return [chip for chip in label_chips(project=project).values() if chip.active]


def chips_for(label_ids: Iterable[int], chips: dict[int, LabelChip]) -> list[LabelChip]:
    """Chips in display order; a label deleted since (history only) gets a grey placeholder."""
    order = {pk: position for position, pk in enumerate(chips)}
    found = [chips.get(pk) or LabelChip(pk, f"deleted label #{pk}", DELETED_LABEL_COLOR, False) for pk in label_ids]
    return sorted(found, key=lambda chip: (order.get(chip.pk, len(order)), chip.pk))


def label_subtree_ids(*, project: Project, label_id: int) -> set[int]:
    """The label and every label below it."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent in Label.objects.filter(project=project).values_list("id", "parent_id"):
        children[parent].append(pk)
    found, stack = set(), [label_id]
    while stack:
        pk = stack.pop()
        if pk not in found:
            found.add(pk)
            stack.extend(children[pk])
    return found


# --- review -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFilters:
    """What the review page narrows the counted annotations to; None or False: no filter."""

    label_id: int | None = None  # the label or any label below it
    annotator_id: int | None = None
    source: str | None = None
    flagged: bool = False  # items someone flagged as unclear
    disagreement: bool = False  # items waiting for adjudication
    created_from: dt.date | None = None  # inclusive, in the current time zone
    created_to: dt.date | None = None  # inclusive


SUGGESTION_SOURCES = (AnnotationSource.RULE, AnnotationSource.CLUSTER)


def _from_source(annotations: QuerySet[Annotation], source: str) -> QuerySet[Annotation]:
    """Rule and cluster labels count once a person confirms them, as that person's annotation: those
    sources select the human annotations whose author confirmed a suggestion from that source."""
    if source not in SUGGESTION_SOURCES:
        return annotations.filter(source=source)
    confirmed = Annotation.objects.filter(
        item=OuterRef("item"),
        annotator=OuterRef("annotator"),
        source=source,
        candidate_status=CandidateStatus.CONFIRMED,
    )
    return annotations.filter(source=AnnotationSource.HUMAN).filter(Exists(confirmed))


def review_annotations(*, project: Project, filters: ReviewFilters | None = None) -> QuerySet[Annotation]:
    """Counted annotations matching `filters`, newest first, with what a review row shows prefetched.

    Each annotation carries `item.flags` (the item's unclear flags, with who flagged it) and
    `history` (its revisions, oldest first).
    """
    filters = filters or ReviewFilters()
    annotations = counted_annotations(project=project)
    if filters.label_id is not None:
        subtree = label_subtree_ids(project=project, label_id=filters.label_id)
        annotations = annotations.filter(label_links__label_id__in=subtree)
    if filters.annotator_id is not None:
        annotations = annotations.filter(annotator_id=filters.annotator_id)
    if filters.source:
        annotations = _from_source(annotations, filters.source)
    if filters.flagged:
        annotations = annotations.filter(Exists(SkippedItem.objects.filter(item=OuterRef("item"), unclear=True)))
    if filters.disagreement:
        annotations = annotations.filter(item_id__in=disagreement_item_ids(project=project))
    if filters.created_from is not None:
        annotations = annotations.filter(created_at__date__gte=filters.created_from)
    if filters.created_to is not None:
        annotations = annotations.filter(created_at__date__lte=filters.created_to)
    flags = SkippedItem.objects.filter(unclear=True).select_related("user").order_by("created_at", "id")
    return (
        annotations.distinct()
        .select_related("item", "annotator")
        .prefetch_related(
            "label_links",
            Prefetch("item__skips", queryset=flags, to_attr="flags"),
            Prefetch("revisions", queryset=AnnotationRevision.objects.select_related("changed_by"), to_attr="history"),
        )
        .order_by("-created_at", "-id")
    )


def flagged_items(*, project: Project) -> QuerySet[Item]:
    """Items someone flagged as unclear, most recently flagged first, each with `flags` (who, comment, when).

    An annotator who flags an item skips it, so it often has no annotation at all: experts find these
    here, not among the counted annotations."""
    flags = SkippedItem.objects.filter(unclear=True).select_related("user").order_by("created_at", "id")
    return (
        project.items.filter(Exists(SkippedItem.objects.filter(item=OuterRef("pk"), unclear=True)))
        .annotate(last_flagged=Max("skips__created_at", filter=Q(skips__unclear=True)))
        .prefetch_related(Prefetch("skips", queryset=flags, to_attr="flags"))
        .order_by("-last_flagged", "-id")
    )


def review_annotators(*, project: Project) -> QuerySet:
    """People with counted annotations in the project: the annotator filter's choices."""
    users = counted_annotations(project=project).exclude(annotator=None).values("annotator_id")
    return get_user_model().objects.filter(pk__in=users).order_by("username")


@dataclass(frozen=True)
class RevisionRow:
    revision: AnnotationRevision
    before: list[LabelChip]
    after: list[LabelChip]


@dataclass(frozen=True)
class ReviewRow:
    annotation: Annotation
    labels: list[LabelChip]
    history: list[RevisionRow]
    flags: list[SkippedItem]

    @property
    def label_ids(self) -> list[int]:
        return [chip.pk for chip in self.labels]


def review_rows(*, annotations: Iterable[Annotation], chips: dict[int, LabelChip]) -> list[ReviewRow]:
    """Annotations from `review_annotations` with their labels and history as chips."""
    return [
        ReviewRow(
            annotation=annotation,
            labels=chips_for((link.label_id for link in annotation.label_links.all()), chips),
            history=_history(annotation, chips),
            flags=annotation.item.flags,
        )
        for annotation in annotations
    ]


def _history(annotation: Annotation, chips: dict[int, LabelChip]) -> list[RevisionRow]:
    """The annotation's prefetched `history` with before and after as chips."""
    return [
        RevisionRow(revision, chips_for(revision.labels_before, chips), chips_for(revision.labels_after, chips))
        for revision in annotation.history
    ]


# --- adjudication -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteRow:
    """One counted annotation of an item, as the adjudication page shows them side by side."""

    who: str  # the annotator's name, or the source for annotations without one (imports)
    source: str
    labels: list[LabelChip]


@dataclass(frozen=True)
class AdjudicationCase:
    item: Item
    votes: list[VoteRow]  # everyone's labels, the expert decision's excepted
    decision: Annotation | None  # the current adjudication, if any
    decision_labels: list[LabelChip]
    history: list[RevisionRow]  # the decision's revisions

    @property
    def decision_label_ids(self) -> list[int]:
        return [chip.pk for chip in self.decision_labels]

    @property
    def decided_by(self) -> str:
        """Who made the current decision: the last reviser, else the expert who decided first."""
        user = self.history[-1].revision.changed_by if self.history else self.decision and self.decision.annotator
        return user.username if user else ""

    @property
    def decided_at(self) -> dt.datetime | None:
        if self.history:
            return self.history[-1].revision.created_at
        return self.decision.created_at if self.decision else None


def adjudication_cases(*, project: Project, item_ids: list[int], chips: dict[int, LabelChip]) -> list[AdjudicationCase]:
    """The items of `project` among `item_ids`, in that order, each with its votes and current decision."""
    items = Item.objects.filter(project=project).in_bulk(item_ids)
    votes = item_votes(project=project, item_ids=item_ids)
    voters = {vote.annotator_id for item_votes_ in votes.values() for vote in item_votes_}
    names = dict(get_user_model().objects.filter(pk__in=voters).values_list("pk", "username"))
    decided = (
        counted_annotations(project=project)
        .filter(source=AnnotationSource.ADJUDICATED, item_id__in=item_ids)
        .select_related("annotator")
        .prefetch_related(
            "label_links",
            Prefetch("revisions", queryset=AnnotationRevision.objects.select_related("changed_by"), to_attr="history"),
        )
    )
    decisions = {decision.item_id: decision for decision in decided}
    cases = []
    for pk in item_ids:
        if pk not in items:
            continue
        decision = decisions.get(pk)
        cases.append(
            AdjudicationCase(
                item=items[pk],
                votes=_vote_rows(votes.get(pk, []), names, chips),
                decision=decision,
                decision_labels=chips_for((link.label_id for link in decision.label_links.all()), chips)
                if decision
                else [],
                history=_history(decision, chips) if decision else [],
            )
        )
    return cases


def _vote_rows(votes: list[Vote], names: dict[int, str], chips: dict[int, LabelChip]) -> list[VoteRow]:
    return [
        VoteRow(names.get(vote.annotator_id) or vote.source, vote.source, chips_for(vote.labels, chips))
        for vote in votes
        if vote.source != AnnotationSource.ADJUDICATED
    ]


def adjudicated_item_ids(*, project: Project) -> QuerySet:
    """Items an expert has decided, the most recently decided first."""
    return (
        counted_annotations(project=project)
        .filter(source=AnnotationSource.ADJUDICATED)
        .order_by("-updated_at", "-id")
        .values_list("item_id", flat=True)
    )


def next_disagreement(waiting: list[int], *, after: int | None = None) -> int | None:
    """The waiting item after `after` in queue order (wrapping round), else the first one."""
    if not waiting:
        return None
    if after is not None:
        later = [pk for pk in waiting if pk > after]
        if later:
            return later[0]
    return waiting[0]
