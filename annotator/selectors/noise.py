"""Reads for noisy-label review: which labeled items a noise job judges, the flags it left with the
experts' decisions, and how often each annotator's labels were corrected."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, F, QuerySet

from annotator.models import (
    AnnotationRevision,
    AnnotationSource,
    Exclusion,
    Item,
    Job,
    NoiseFlag,
    NoiseRun,
    NoiseSplit,
    NoiseStatus,
    Project,
    RevisionReason,
    Split,
    TaskType,
)
from annotator.selectors.items import counted_annotations, final_label_ids, final_labels, item_votes
from annotator.selectors.review import LabelChip, chips_for

NOISE_KIND = "noise"  # the job kind (annotator.services.jobs.JOB_KINDS)


# --- what a noise job judges ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgedItems:
    """Labeled items, aligned: ids, texts, and each one's final label id (single-label projects)."""

    item_ids: list[int]
    texts: list[str]
    label_ids: list[int]

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def label_counts(self) -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for label_id in self.label_ids:
            counts[label_id] += 1
        return dict(counts)


@dataclass(frozen=True)
class NoiseInputs:
    train: JudgedItems
    test: JudgedItems


def noise_inputs(*, project: Project) -> NoiseInputs:
    """The items a noise job judges, with one final label each (single-label projects).

    Train: what `training_snapshot` trains on, plus labeled items that only blacklist rules keep out
    of training (the `rules` detector reports on those). Items an expert excluded in review stay out:
    that label was judged already. Test: the locked test split's labeled items (audit only).
    """
    finals = {pk: labels[0] for pk, labels in final_label_ids(project=project).items() if len(labels) == 1}
    excluded_by_people = set(
        Exclusion.objects.filter(item__project=project, rule__isnull=True).values_list("item_id", flat=True)
    )
    train: list[tuple[int, str, int]] = []
    test: list[tuple[int, str, int]] = []
    rows = Item.objects.filter(project=project, pk__in=list(finals)).order_by("id")
    for pk, text, split in rows.values_list("id", "text", "split").iterator():
        if split == Split.TEST:
            test.append((pk, text, finals[pk]))
        elif pk not in excluded_by_people:
            train.append((pk, text, finals[pk]))
    return NoiseInputs(train=_judged(train), test=_judged(test))


def _judged(rows: list[tuple[int, str, int]]) -> JudgedItems:
    return JudgedItems([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def is_multi_label(project: Project) -> bool:
    return project.task_type == TaskType.MULTI_LABEL


# --- runs, jobs and flags ------------------------------------------------------------------------------------


def latest_noise_job(*, project: Project) -> Job | None:
    return Job.objects.filter(project=project, kind=NOISE_KIND).order_by("-id").first()


def latest_noise_run(*, project: Project) -> NoiseRun | None:
    return NoiseRun.objects.filter(project=project).select_related("created_by").first()


def latest_audit_run(*, project: Project) -> NoiseRun | None:
    """The newest run that audited the locked test split."""
    return NoiseRun.objects.filter(project=project, test_items__isnull=False).select_related("created_by").first()


def noise_flags(
    *,
    project: Project,
    split: str = NoiseSplit.TRAIN,
    status: str | None = NoiseStatus.OPEN,
    run: NoiseRun | None = None,
) -> QuerySet[NoiseFlag]:
    """Flags of `split` (status None: every status), the most likely wrong first."""
    flags = NoiseFlag.objects.filter(project=project, split=split)
    if status:
        flags = flags.filter(status=status)
    if run is not None:
        flags = flags.filter(run=run)
    return flags.select_related("item", "decided_by", "run").order_by("-score", "id")


def noise_status_counts(*, project: Project, split: str = NoiseSplit.TRAIN) -> dict[str, int]:
    """Flags per review status (every status present, 0 when none)."""
    counts = dict.fromkeys(NoiseStatus.values, 0)
    rows = NoiseFlag.objects.filter(project=project, split=split).values("status").annotate(n=Count("id"))
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


@dataclass(frozen=True)
class FlagRow:
    """A flag as the review queue shows it."""

    flag: NoiseFlag
    given: list[LabelChip]
    suggested: list[LabelChip]
    relabeled_to: list[LabelChip]
    current: list[LabelChip]  # the item's final label now (a relabel changed it)
    labeled_by: list[str]  # who gave the item its labels: people, or the source (import, ...)


def flag_rows(*, project: Project, flags: Iterable[NoiseFlag], chips: dict[int, LabelChip]) -> list[FlagRow]:
    flags = list(flags)
    item_ids = [flag.item_id for flag in flags]
    votes = item_votes(project=project, item_ids=item_ids)
    voters = {vote.annotator_id for item in votes.values() for vote in item if vote.annotator_id is not None}
    names = dict(get_user_model().objects.filter(pk__in=voters).values_list("pk", "username"))
    finals = final_labels(project=project, item_ids=item_ids)

    def chips_of(label_id: int | None) -> list[LabelChip]:
        return chips_for([label_id], chips) if label_id is not None else []

    rows = []
    for flag in flags:
        item_votes_ = [vote for vote in votes.get(flag.item_id, []) if vote.source != AnnotationSource.ADJUDICATED]
        final = finals.get(flag.item_id)
        rows.append(
            FlagRow(
                flag=flag,
                given=chips_of(flag.given_label_id),
                suggested=chips_of(flag.suggested_label_id),
                relabeled_to=chips_of(flag.relabeled_to_id),
                current=chips_for(final.label_ids, chips) if final else [],
                labeled_by=list(dict.fromkeys(names.get(vote.annotator_id) or vote.source for vote in item_votes_)),
            )
        )
    return rows


# --- a quiet quality signal: corrections per annotator ---------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorCorrections:
    username: str
    labels: int  # their own counted annotations
    corrected: int  # of those, changed by an expert: corrected in review, or overruled by an expert decision
    by_noise_review: int  # of the corrected, through noise review

    @property
    def share(self) -> float:
        return self.corrected / self.labels if self.labels else 0.0


def annotator_corrections(*, project: Project) -> list[AnnotatorCorrections]:
    """Per annotator, how many of their labels experts corrected, by username.

    A label counts as corrected when an expert changed the annotation itself in review, or when the
    item's expert decision (adjudication, or a relabel in noise review) differs from it.
    """
    own = counted_annotations(project=project).filter(source=AnnotationSource.HUMAN).exclude(annotator=None)
    labels = dict(own.values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n"))
    corrected: dict[int, set[int]] = defaultdict(set)  # annotator -> annotation ids
    revised = AnnotationRevision.objects.filter(annotation__in=own, reason=RevisionReason.CORRECTION).exclude(
        changed_by=F("annotation__annotator")
    )
    for annotation_id, annotator_id in revised.values_list("annotation_id", "annotation__annotator_id"):
        corrected[annotator_id].add(annotation_id)
    decided_items = counted_annotations(project=project).filter(source=AnnotationSource.ADJUDICATED).values("item_id")
    noise_relabeled = set(
        NoiseFlag.objects.filter(project=project, status=NoiseStatus.RELABELED).values_list("item_id", flat=True)
    )
    by_noise: dict[int, set[int]] = defaultdict(set)
    for item_id, votes in item_votes(project=project, item_ids=decided_items).items():
        decisions = [vote for vote in votes if vote.source == AnnotationSource.ADJUDICATED]
        if not decisions:
            continue
        for vote in votes:
            if vote.source == AnnotationSource.HUMAN and vote.annotator_id and vote.labels != decisions[-1].labels:
                corrected[vote.annotator_id].add(vote.annotation_id)
                if item_id in noise_relabeled:
                    by_noise[vote.annotator_id].add(vote.annotation_id)
    names = dict(get_user_model().objects.filter(pk__in=list(labels)).values_list("pk", "username"))
    rows = [
        AnnotatorCorrections(names[pk], n, len(corrected[pk]), len(by_noise[pk]))
        for pk, n in labels.items()
        if pk in names
    ]
    return sorted(rows, key=lambda row: row.username)
