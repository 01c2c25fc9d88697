"""What a training job learns from and is judged on: a snapshot of final labels.

Training items: every item outside the locked test split with a final label (adjudicated, agreed or
single), minus those kept out of training (blacklist rules, noise decisions, and the doubtful items
of the latest noise run while no expert has decided on them). Test items: the test
split's items with a final label; they are never trained on. The snapshot's hash names exactly this
data, so two versions trained on the same labels say so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db.models import Q

from annotator.models import (
    Exclusion,
    Item,
    Label,
    ModelVersion,
    NoiseFlag,
    NoiseSplit,
    NoiseStatus,
    Project,
    Promotion,
    Split,
    TaskType,
)
from annotator.selectors.items import final_label_ids
from annotator.selectors.jobs import strip_server_paths_in


@dataclass(frozen=True)
class LabeledSet:
    item_ids: list[int]
    texts: list[str]
    labels: list  # a label id per item (single-label) or a list of label ids (multi-label)


@dataclass(frozen=True)
class TrainingSnapshot:
    train: LabeledSet
    test: LabeledSet
    data_hash: str
    multi_label: bool


def _labeled_set(items: list[tuple[int, str, str]], finals: dict[int, list[int]], multi_label: bool) -> LabeledSet:
    ids, texts, labels = [], [], []
    for pk, text, _digest in items:
        ids.append(pk)
        texts.append(text)
        labels.append(sorted(finals[pk]) if multi_label else finals[pk][0])
    return LabeledSet(ids, texts, labels)


def held_out_item_ids(*, project: Project) -> set[int]:
    """Items the latest noise run doubted without flagging, left out of training until an expert decides."""
    held = NoiseFlag.objects.filter(project=project, split=NoiseSplit.TRAIN, status=NoiseStatus.OPEN, held_out=True)
    return set(held.values_list("item_id", flat=True))


def training_snapshot(*, project: Project) -> TrainingSnapshot:
    multi_label = project.task_type == TaskType.MULTI_LABEL
    finals = {pk: labels for pk, labels in final_label_ids(project=project).items() if labels}
    if not multi_label:  # a single-label project's final label is one label
        finals = {pk: labels for pk, labels in finals.items() if len(labels) == 1}
    excluded = set(Exclusion.objects.filter(item__project=project).values_list("item_id", flat=True))
    excluded |= held_out_item_ids(project=project)
    rows = Item.objects.filter(project=project, pk__in=list(finals)).order_by("id")
    train, test = [], []
    for pk, text, digest, split in rows.values_list("id", "text", "content_hash", "split").iterator():
        if split == Split.TEST:
            test.append((pk, text, digest))
        elif pk not in excluded:
            train.append((pk, text, digest))
    digest = hashlib.sha256(
        json.dumps([[pk, content, finals[pk]] for pk, _text, content in train], separators=(",", ":")).encode()
    ).hexdigest()
    return TrainingSnapshot(
        train=_labeled_set(train, finals, multi_label),
        test=_labeled_set(test, finals, multi_label),
        data_hash=digest,
        multi_label=multi_label,
    )


def model_versions(*, project: Project):
    return ModelVersion.objects.filter(project=project).select_related("created_by", "parent").order_by("-number")


def promotions(*, project: Project, version: ModelVersion | None = None):
    """The project's promotions (changes of the active version), newest first; those of `version` only
    (promoted to, or replaced) when given."""
    found = Promotion.objects.filter(project=project).select_related("version", "previous", "by")
    if version is not None:
        found = found.filter(Q(version=version) | Q(previous=version))
    return found.order_by("-at", "-id")


def learning_curve(*, project: Project) -> list[tuple[int, float, ModelVersion]]:
    """(training labels, test macro-F1, version) per evaluated version, oldest first: how the model
    grows. A version without an F1 (its cross-validation could not run) is left out, never drawn as 0."""
    return [
        (version.n_train, float(version.metrics["macro_f1"]), version)
        for version in model_versions(project=project).order_by("number")
        if version.metrics.get("macro_f1") is not None
    ]


CARD_FORMAT = "labelloop-model-card/1"


def model_card(*, version: ModelVersion) -> dict:
    """What an exported version says about itself (issue 21): kind, params, classes (label ids) and
    their names, metrics, measured latency, the data snapshot, its parents, and for kinds on embeddings
    the encoder it needs. Server paths are stripped: an archive names no folder of this server."""
    names = dict(Label.objects.filter(pk__in=version.label_ids).values_list("id", "name"))
    parents = version.parents.all() if hasattr(version, "parents") else [version.parent] if version.parent else []
    card = {
        "format": CARD_FORMAT,
        "name": f"{version.project.name} {version}",
        "kind": version.kind,
        "version": version.number,
        "params": version.params,
        "task_type": version.project.task_type,
        "classes": list(version.label_ids),
        "label_map": {str(pk): names.get(pk, str(pk)) for pk in version.label_ids},
        "metrics": version.metrics,
        "latency": {
            "ms_per_text": getattr(version, "ms_per_text", None),
            "texts_per_second": getattr(version, "texts_per_second", None),
            "threads": getattr(version, "speed_threads", None),
        },
        "data": {"data_hash": version.data_hash, "n_train": version.n_train, "n_test": version.n_test},
        "parents": [{"version": parent.number, "kind": parent.kind} for parent in parents],
        "created_at": version.created_at.isoformat(),
    }
    if version.encoder_version:  # a kind on cached embeddings: the archive needs this encoder to run
        card["encoder"] = {"backbone": version.backbone or version.project.backbone, "version": version.encoder_version}
    return strip_server_paths_in(card)
