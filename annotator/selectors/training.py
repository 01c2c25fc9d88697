"""What a training job learns from and is judged on: a snapshot of final labels.

Training items: every item outside the locked test split with a final label (adjudicated, agreed or
single), minus those kept out of training (blacklist rules, noise decisions, and the doubtful items
of the latest noise run while no expert has decided on them). While a noise flag is open, its run's
cleaning policy (issue 23) says what training does with the flagged item: learns the suggested
label ("relabel"), leaves the item out ("remove"), or learns both labels, the suggestion weighted by
the flag's P(label wrong) and the given label by the rest ("soft_relabel": the snapshot's `hedges`,
which `weighted_training_set` turns into training rows); an expert's decision on the flag replaces that.
Test items: the test split's items with a final label; they are never trained on. The snapshot's hash names exactly this
data, so two versions trained on the same labels say so.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
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
from mlcore.noise import cleaning_policy, hedged_rows
from mlcore.pipeline import model_card as pipeline_model_card
from mlcore.pipeline import validate_card


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
    # Training items a soft-relabel policy hedges: item id -> (suggested label id, P(label wrong)). `train`
    # holds their given label; only the training job reads the hedge (`weighted_training_set`).
    hedges: dict[int, tuple[int, float]] = field(default_factory=dict)


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


@dataclass(frozen=True)
class PolicyActions:
    """What the cleaning policies of the noise runs do to training while their flags are open."""

    removed: set[int]  # item ids left out
    relabeled: dict[int, int]  # item id -> the label id trained on instead of the given one
    hedged: dict[int, tuple[int, float]]  # item id -> (suggested label id, P(label wrong)), trained with both


def noise_policy_actions(*, project: Project) -> PolicyActions:
    """The open, flagged (not merely doubtful) training items under their run's cleaning policy.

    A "remove" policy leaves them out; a "relabel" one trains them with the suggestion; a "soft_relabel"
    one hedges them between the two labels by the flag's P(label wrong). A flag with no suggestion (from
    the blacklist rules alone) keeps its label under either relabel. Runs from before issue 23 have no
    policy: their flagged items train with the given label until an expert decides.
    """
    flags = NoiseFlag.objects.filter(
        project=project, split=NoiseSplit.TRAIN, status=NoiseStatus.OPEN, held_out=False
    ).exclude(run__policy="")
    removed, relabeled, hedged = set(), {}, {}
    rows = flags.values_list("item_id", "run__policy", "suggested_label_id", "wrong_probability")
    for item_id, policy, suggested, wrong in rows:
        action = cleaning_policy(policy).flagged
        if action == "remove":
            removed.add(item_id)
        elif suggested is None:
            continue
        elif action == "soft_relabel":  # soft runs came after P(wrong) was stored: every flag has one
            hedged[item_id] = (suggested, float(wrong))
        else:
            relabeled[item_id] = suggested
    return PolicyActions(removed, relabeled, hedged)


def training_snapshot(*, project: Project) -> TrainingSnapshot:
    multi_label = project.task_type == TaskType.MULTI_LABEL
    finals = {pk: labels for pk, labels in final_label_ids(project=project).items() if labels}
    if not multi_label:  # a single-label project's final label is one label
        finals = {pk: labels for pk, labels in finals.items() if len(labels) == 1}
    excluded = set(Exclusion.objects.filter(item__project=project).values_list("item_id", flat=True))
    excluded |= held_out_item_ids(project=project)
    hedged = {}
    if not multi_label:  # noise detection judges single-label projects only
        actions = noise_policy_actions(project=project)
        excluded |= actions.removed
        finals |= {pk: [label] for pk, label in actions.relabeled.items() if pk in finals}
        hedged = actions.hedged
    rows = Item.objects.filter(project=project, pk__in=list(finals)).order_by("id")
    train, test = [], []
    for pk, text, digest, split in rows.values_list("id", "text", "content_hash", "split").iterator():
        if split == Split.TEST:
            test.append((pk, text, digest))
        elif pk not in excluded:
            train.append((pk, text, digest))
    trained = {pk for pk, _text, _digest in train}
    hedges = {pk: hedge for pk, hedge in sorted(hedged.items()) if pk in trained and hedge[0] != finals[pk][0]}
    named = [[pk, content, finals[pk]] for pk, _text, content in train]
    if hedges:  # the same labels hedged otherwise are other data; unhedged snapshots keep their old hash
        named.append([[pk, label, round(wrong, 6)] for pk, (label, wrong) in hedges.items()])
    digest = hashlib.sha256(json.dumps(named, separators=(",", ":")).encode()).hexdigest()
    return TrainingSnapshot(
        train=_labeled_set(train, finals, multi_label),
        test=_labeled_set(test, finals, multi_label),
        data_hash=digest,
        multi_label=multi_label,
        hedges=hedges,
    )


def weighted_training_set(snapshot: TrainingSnapshot) -> tuple[LabeledSet, list[float] | None]:
    """(rows, weights) training fits on: the snapshot's training items, and each hedged item a second
    time with its suggestion (`mlcore.noise.hedged_rows`: the given label weighs 1 - p, the suggestion
    p). Without hedges, the training items as they are and None (every row weighs 1)."""
    train = snapshot.train
    if not snapshot.hedges:
        return train, None
    position = {pk: row for row, pk in enumerate(train.item_ids)}
    hedged = [position[pk] for pk in snapshot.hedges]
    suggestions = [label for label, _wrong in snapshot.hedges.values()]
    wrong = [p_wrong for _label, p_wrong in snapshot.hedges.values()]
    rows, labels, weights = hedged_rows(train.labels, hedged, suggestions, wrong)
    expanded = LabeledSet([train.item_ids[row] for row in rows], [train.texts[row] for row in rows], labels)
    return expanded, weights.tolist()


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


def model_card(*, version: ModelVersion) -> dict:
    """What an exported version says about itself (issue 21), in `mlcore.pipeline.model_card`'s shape:
    kind, params and classes (label ids, from its files), the label map (id -> name), its numeric metrics,
    measured latency, the data snapshot, its parents (teachers of a student; else the version before it),
    and for kinds on embeddings the encoder it needs. Server paths are stripped: an archive names no
    folder of this server."""
    names = dict(Label.objects.filter(pk__in=version.label_ids).values_list("id", "name"))
    label_map = {pk: names.get(pk, str(pk)) for pk in version.label_ids}
    taken = [name for name in label_map.values()]
    label_map = {pk: name if taken.count(name) == 1 else f"{name} #{pk}" for pk, name in label_map.items()}
    card = pipeline_model_card(
        Path(settings.ARTIFACT_ROOT) / version.artifact_dir,
        label_map=label_map,
        metrics={
            key: value
            for key, value in version.metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        },
        latency=_latency(version),
        data={"data_hash": version.data_hash, "n_train": version.n_train, "n_test": version.n_test},
        parents=[{"version": parent.number, "kind": parent.kind} for parent in _parents(version)],
        encoder={"backbone": version.backbone or version.project.backbone, "version": version.encoder_version}
        if version.encoder_version
        else None,
        created_at=version.created_at,
    )
    return validate_card(strip_server_paths_in(card))


def _latency(version: ModelVersion) -> dict | None:
    """The measured speed (fields added by the speed measurement; absent before it ran)."""
    ms, per_second = getattr(version, "ms_per_text", None), getattr(version, "texts_per_second", None)
    threads = getattr(version, "speed_threads", None)
    if not ms or not per_second or not threads:
        return None
    return {"ms_per_text": ms, "texts_per_second": per_second, "threads": threads}


def _parents(version: ModelVersion) -> list[ModelVersion]:
    teachers = list(version.parents.order_by("number")) if hasattr(version, "parents") else []
    return teachers or ([version.parent] if version.parent else [])
