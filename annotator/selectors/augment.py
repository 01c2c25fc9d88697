"""Reads for augmentation (issue 24): which classes are scarce, which ops and plug-ins a project can
use, the augmented copies with their class and changed words, and the accepted copies training adds.

A copy's class is its source item's label as training sees it now (`source_labels`): the training
snapshot's final label of a training item. A copy whose source lost its label, moved to the locked
test split or is kept out of training has no class, and counts nowhere.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings

from annotator.models import AugmentedText, AugmentStatus, Label, ModelVersion, Project, TaskType
from annotator.selectors.training import training_snapshot
from mlcore.augment import MAX_COPIES, available_ops

SAMPLES_MAX_LIMIT = 500


def augment_model_dirs() -> dict[str, str]:
    """The plug-ins' local model directories by op name (LABELLOOP_AUGMENT_MODEL_DIRS); server paths,
    never shown to members."""
    return dict(settings.LABELLOOP_AUGMENT_MODEL_DIRS)


def is_multi_label(project: Project) -> bool:
    return project.task_type == TaskType.MULTI_LABEL


def source_labels(*, project: Project) -> dict[int, int]:
    """Item id -> the label id training learns for it, for every training item of a single-label
    project: the items that may be sources, and the class their copies take."""
    if is_multi_label(project):
        return {}
    train = training_snapshot(project=project).train
    return dict(zip(train.item_ids, train.labels, strict=True))


def labeled_counts(labels: dict[int, int]) -> dict[int, int]:
    """Label id -> how many training items have it."""
    return dict(Counter(labels.values()))


def classes_below_median(counts: dict[int, int]) -> list[int]:
    """The labels (with at least one item) whose count is below the median count: augmentation's default."""
    if not counts:
        return []
    median = statistics.median(counts.values())
    return sorted(label for label, count in counts.items() if count < median)


def default_filter_version(*, project: Project) -> ModelVersion | None:
    """The model the label-preservation filter uses unless told: the active version, else the newest."""
    return project.active_model or ModelVersion.objects.filter(project=project).order_by("-number").first()


def _copy_counts(project: Project, labels: dict[int, int]) -> dict[int, dict[str, int]]:
    """Label id -> {status: copies} for the copies whose source has a class."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AugmentStatus.values, 0))
    rows = AugmentedText.objects.filter(project=project).values_list("source_item_id", "status")
    for source_id, status in rows.iterator():
        label = labels.get(source_id)
        if label is not None:
            counts[label][status] += 1
    return counts


def augment_overview(*, project: Project) -> dict:
    """What the augmentation page shows before a job: per class (the project's active labels and any
    label training items still have) the human-labeled training items and the accepted / pending /
    rejected copies; the ops of the project's language with their descriptions and whether each one's
    plug-in model is configured; the defaults (the classes below the median count, the filter's model)."""
    labels = source_labels(project=project)
    counts = labeled_counts(labels)
    copies = _copy_counts(project, labels)
    below = set(classes_below_median(counts))
    shown = Label.objects.filter(project=project).filter(pk__in=set(counts)) | Label.objects.filter(
        project=project, active=True, merged_into__isnull=True
    )
    classes = [
        {
            "label_id": label.pk,
            "name": label.name,
            "labeled": counts.get(label.pk, 0),
            **copies.get(label.pk, dict.fromkeys(AugmentStatus.values, 0)),
            "below_median": label.pk in below,
        }
        for label in shown.distinct().order_by("order", "name", "id")
    ]
    model_dirs = augment_model_dirs()
    ops = [
        {
            "name": op.name,
            "description": op.description,
            "needs_model": op.needs_model,
            "configured": not op.needs_model or op.name in model_dirs,
        }
        for op in available_ops(project.language)
    ]
    version = default_filter_version(project=project)
    return {
        "language": project.language,
        "multi_label": is_multi_label(project),
        "classes": classes,
        "median": statistics.median(counts.values()) if counts else None,
        "default_class_ids": sorted(below),
        "ops": ops,
        "plugins": {op["name"]: op["configured"] for op in ops if op["needs_model"]},
        "max_copies": MAX_COPIES,
        "filter_version": {"id": version.pk, "number": version.number, "kind": version.kind} if version else None,
        "versions": [
            {"id": pk, "number": number, "kind": kind}
            for pk, number, kind in ModelVersion.objects.filter(project=project)
            .order_by("-number")
            .values_list("id", "number", "kind")
        ],
    }


def segments(text: str, spans: list) -> list[tuple[str, bool]]:
    """`text` cut into (piece, changed) pieces at the changed spans ([start, end] character offsets),
    in order; spans out of range or overlapping are clipped, so a stored copy always renders."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, end in sorted((int(start), int(end)) for start, end in spans):
        start, end = max(start, position), min(end, len(text))
        if start >= end:
            continue
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


def augment_samples(
    *,
    project: Project,
    label_id: int | None = None,
    op: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict]:
    """Copies to review, oldest first: each with its id, the source's text, the copy as segments
    [(text, changed)] from its changed spans, the op, the status, the class (the source's label now)
    and the filter's confidence. Copies whose source has no class are left out."""
    labels = source_labels(project=project)
    copies = AugmentedText.objects.filter(project=project)
    if op:
        copies = copies.filter(op=op)
    if status:
        copies = copies.filter(status=status)
    # The class is the source's label now, known here and not in the table: filter in Python (a project's
    # training items can be more than a database takes in one IN list), then read one page of rows.
    ids = [
        pk
        for pk, source_id in copies.order_by("id").values_list("id", "source_item_id").iterator()
        if source_id in labels and (label_id is None or labels[source_id] == label_id)
    ]
    start, limit = max(0, int(offset)), max(0, min(int(limit), SAMPLES_MAX_LIMIT))
    rows = list(
        AugmentedText.objects.filter(pk__in=ids[start : start + limit]).select_related("source_item").order_by("id")
    )
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    return [
        {
            "id": copy.pk,
            "source_item_id": copy.source_item_id,
            "source_text": copy.source_item.text,
            "text": copy.text,
            "segments": segments(copy.text, copy.changed_spans),
            "op": copy.op,
            "status": copy.status,
            "label_id": labels[copy.source_item_id],
            "label": names.get(labels[copy.source_item_id], ""),
            "filtered_out": copy.filtered_out,
            "filter_confidence": copy.filter_confidence,
        }
        for copy in rows
    ]


@dataclass(frozen=True)
class AcceptedCopies:
    """The accepted copies training adds, aligned: ids, texts, each one's class and op."""

    copy_ids: list[int]
    texts: list[str]
    labels: list[int]
    ops: list[str]
    source_ids: list[int]

    def __len__(self) -> int:
        return len(self.copy_ids)


def accepted_copies(*, project: Project, labels: dict[int, int]) -> AcceptedCopies:
    """The accepted copies of the training items `labels` (item id -> label id: the snapshot's), each
    with its source's label; copies of other items (no label now, test split, kept out) are left out."""
    rows = (
        AugmentedText.objects.filter(project=project, status=AugmentStatus.ACCEPTED)
        .order_by("id")
        .values_list("id", "text", "source_item_id", "op")
    )
    ids, texts, classes, ops, sources = [], [], [], [], []
    for pk, text, source_id, op in rows.iterator():
        if source_id not in labels:
            continue
        ids.append(pk)
        texts.append(text)
        classes.append(labels[source_id])
        ops.append(op)
        sources.append(source_id)
    return AcceptedCopies(ids, texts, classes, ops, sources)
