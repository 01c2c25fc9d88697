"""Augmentation (issue 24): a `cpu` job writes augmented copies of the labeled training items of
scarce classes with the ops of `mlcore.augment`; experts accept or reject them; a training request
with augmentation on adds the accepted ones to its training data (services/training).

`augment_start` checks everything before a job exists (ops, copies, classes, the filter's model), so
bad input is a ValidationError and changes nothing. The job augments, runs the label-preservation
filter (a registered model version must still give a copy its source's label) and writes every copy
in one transaction at the end: a failed or cancelled job writes nothing. Copies the filter rejects are
stored rejected (`filtered_out`), so the page can show what the filter did; the rest wait for review.

Sources are the training items of a single-label project (labeled, outside the locked test split, not
kept out of training; `selectors.augment.source_labels`); a copy takes its source's label as training
sees it, never a label of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from annotator.models import AugmentedText, AugmentStatus, Item, Job, Label, ModelVersion, Project
from annotator.selectors.augment import (
    augment_model_dirs,
    classes_below_median,
    default_filter_version,
    is_multi_label,
    labeled_counts,
    source_labels,
)
from annotator.services.head_inputs import predict_inputs
from annotator.services.jobs import job_start_alone
from annotator.services.training import trained_model, version_encoder
from mlcore.augment import MAX_COPIES, Augmented, AugmentError, augment_texts, check_request, label_preserving_mask

Progress = Callable[[float, str], None]

AUGMENT_KIND = "augment"  # the job kind (annotator.services.jobs.JOB_KINDS)
RANDOM_STATE = 0
DEFAULT_STRENGTH = 0.1
# The filter keeps a copy when the model's top label is the source's; a copy it is unsure of is still kept
# (the expert decides): mlcore's default.
MIN_CONFIDENCE = 0.0
FILTER_BATCH_SIZE = 256
WRITE_BATCH_SIZE = 1000
MAX_DECIDE_IDS = 10_000
# How the job's classes were chosen (its params and result say which).
CHOSEN_BY_REQUEST = "request"
CHOSEN_BELOW_MEDIAN = "below_median"
CHOSEN_ALL = "all_classes"  # every class has the median count: nothing is below it

MULTI_LABEL_ERROR = gettext_lazy("Augmentation works on single-label projects only; this project is multi-label.")
COPIES_ERROR = gettext_lazy("copies must be a whole number from 1 to {most}; got {value!r}.")
STRENGTH_ERROR = gettext_lazy("strength must be a number above 0 and at most 1; got {value!r}.")
CLASS_ID_ERROR = gettext_lazy("classes are label ids (whole numbers); got {value!r}.")
UNKNOWN_CLASS_ERROR = gettext_lazy("No label with id {ids} in this project.")
CLASS_WITHOUT_ITEMS_ERROR = gettext_lazy(
    "“{name}” has no labeled training items to augment: label some of its items first, or leave it out."
)
NO_ITEMS_ERROR = gettext_lazy("This project has no labeled training items to augment: label some items first.")
NO_MODEL_ERROR = gettext_lazy(
    "The label-preservation filter needs a trained model of this project: train one first, or turn the filter off."
)
UNKNOWN_VERSION_ERROR = gettext_lazy("No model version with id {pk} in this project.")
VERSION_CLASSES_ERROR = gettext_lazy(
    "{version} was not trained on {names}, so it cannot check their copies: train a newer version, leave "
    "those classes out, or turn the filter off."
)
ALREADY_RUNNING_ERROR = gettext_lazy("Augmentation job #{pk} is already {status}: wait for it to finish or cancel it.")
NO_SOURCES_ERROR = gettext_lazy("The chosen classes have no labeled training items any more: nothing to augment.")
UNKNOWN_STATUS_ERROR = gettext_lazy("Unknown status {value!r}: choose one of {known}.")
NO_IDS_ERROR = gettext_lazy("Choose at least one augmented copy.")
TOO_MANY_IDS_ERROR = gettext_lazy("At most {most} copies at a time.")
BAD_ID_ERROR = gettext_lazy("Copy ids are whole numbers; got {value!r}.")
UNKNOWN_COPIES_ERROR = gettext_lazy("No augmented copy with id {ids} in this project.")


# --- starting the job -----------------------------------------------------------------------------------------


def _checked_request(ops: Sequence[str], copies, project: Project) -> tuple[list[str], int]:
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise ValidationError(COPIES_ERROR.format(most=MAX_COPIES, value=copies))
    ops = list(ops or [])
    try:
        # The page must answer at once: a plug-in's directory is checked for a model config here, and
        # the model itself is loaded (and refused if broken) by the job on the worker.
        check_request(ops, copies, project.language, model_dirs=augment_model_dirs(), load_models=False)
    except AugmentError as error:  # names the ops the language has, or the plug-in that is not a model
        raise ValidationError(str(error)) from None
    return ops, copies


def _checked_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0.0 < strength <= 1.0:
        raise ValidationError(STRENGTH_ERROR.format(value=strength))
    return float(strength)


def _checked_classes(project: Project, classes: Sequence[int] | None, counts: dict[int, int]) -> tuple[list[int], str]:
    """The classes to augment and how they were chosen: those asked for (each a label of the project with
    training items), else those below the median count (every class when none is below it)."""
    if not counts:
        raise ValidationError(NO_ITEMS_ERROR)
    if not classes:
        below = classes_below_median(counts)
        return (below, CHOSEN_BELOW_MEDIAN) if below else (sorted(counts), CHOSEN_ALL)
    if any(isinstance(pk, bool) or not isinstance(pk, int) for pk in classes):
        raise ValidationError(CLASS_ID_ERROR.format(value=list(classes)[:20]))
    wanted = sorted(set(classes))
    names = dict(Label.objects.filter(project=project, pk__in=wanted).values_list("id", "name"))
    unknown = [pk for pk in wanted if pk not in names]
    if unknown:
        raise ValidationError(UNKNOWN_CLASS_ERROR.format(ids=", ".join(map(str, unknown))))
    for pk in wanted:
        if not counts.get(pk):
            raise ValidationError(CLASS_WITHOUT_ITEMS_ERROR.format(name=names[pk]))
    return wanted, CHOSEN_BY_REQUEST


def _filter_version(project: Project, model_version: ModelVersion | int | None, classes: list[int]) -> ModelVersion:
    if model_version is None:
        version = default_filter_version(project=project)
        if version is None:
            raise ValidationError(NO_MODEL_ERROR)
    else:
        pk = model_version.pk if isinstance(model_version, ModelVersion) else model_version
        version = ModelVersion.objects.filter(project=project, pk=pk).first()
        if version is None:
            raise ValidationError(UNKNOWN_VERSION_ERROR.format(pk=pk))
    unknown = [pk for pk in classes if pk not in set(version.label_ids)]
    if unknown:
        names = ", ".join(f"“{name}”" for name in Label.objects.filter(pk__in=unknown).values_list("name", flat=True))
        raise ValidationError(VERSION_CLASSES_ERROR.format(version=version, names=names))
    return version


def augment_start(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    ops: Sequence[str],
    copies: int,
    classes: Sequence[int] | None = None,
    use_filter: bool = True,
    model_version: ModelVersion | int | None = None,
    strength: float = DEFAULT_STRENGTH,
) -> Job:
    """Queue an augmentation job (`cpu` queue), one at a time per project.

    `ops`: names of `mlcore.augment.OPS` for the project's language (a plug-in only with its model
    directory configured); `copies`: per source item (each made by one of the ops), 1 to MAX_COPIES;
    `classes`: label ids (default: those whose training-item count is below the median); `use_filter`:
    keep a copy only if `model_version` (default: the active, else the newest version) still gives it
    its source's label.
    Everything is checked here: bad input is a ValidationError, and no job exists.
    """
    if is_multi_label(project):
        raise ValidationError(MULTI_LABEL_ERROR)
    ops, copies = _checked_request(ops, copies, project)
    strength = _checked_strength(strength)
    counts = labeled_counts(source_labels(project=project))
    chosen, chosen_by = _checked_classes(project, classes, counts)
    version = _filter_version(project, model_version, chosen) if use_filter else None
    params = {
        "ops": ops,
        "copies": copies,
        "classes": chosen,
        "classes_chosen_by": chosen_by,
        "counts": {str(pk): counts[pk] for pk in chosen},
        "use_filter": bool(use_filter),
        "model_version": version.pk if version else None,
        "strength": strength,
        "random_state": RANDOM_STATE,
    }
    return job_start_alone(
        kind=AUGMENT_KIND, project=project, params=params, created_by=user, already_running_error=ALREADY_RUNNING_ERROR
    )


# --- the job --------------------------------------------------------------------------------------------------


def _augment_progress(progress: Progress, start: float, span: float) -> Callable:
    """mlcore's progress callback (done, total) as the job's percent, from `start` over `span`."""

    def report(done, total=None, *_rest) -> None:
        fraction = done / total if total else float(done)
        message = f"Augmenting: {done}/{total} texts" if total else "Augmenting"
        progress(start + span * min(max(fraction, 0.0), 1.0), message)

    return report


def version_predict_proba(version: ModelVersion) -> Callable[[list[str]], np.ndarray]:
    """The version's `predict_proba` over texts (columns: `version.label_ids`); a model on embeddings
    embeds them with the version's own encoder first."""
    model = trained_model(version)

    def predict_proba(texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(version.label_ids)))
        if model.input_type == "embeddings":
            inputs = predict_inputs(model, texts, version_encoder(version).embed(texts))
        else:
            inputs = texts
        return np.asarray(model.predict_proba(inputs), dtype=float)

    return predict_proba


def _filter(
    augmented: list[Augmented], source_classes: list[int], version: ModelVersion, progress: Progress
) -> tuple[np.ndarray, np.ndarray]:
    """(keep mask, the version's probability of each copy's source label): every copy is scored once, in
    batches that check for a cancel, and mlcore's filter reads those scores."""
    predict_proba = version_predict_proba(version)
    texts = [copy.text for copy in augmented]
    rows = []
    for start in range(0, len(texts), FILTER_BATCH_SIZE):
        progress(80 + 12 * start / max(len(texts), 1), f"Filter: {start}/{len(texts)} copies checked with {version}")
        rows.append(predict_proba(texts[start : start + FILTER_BATCH_SIZE]))
    probabilities = np.concatenate(rows) if rows else np.zeros((0, len(version.label_ids)))
    scored = {text: row for text, row in zip(texts, probabilities, strict=True)}
    column = {label: index for index, label in enumerate(version.label_ids)}
    columns = np.asarray([column[label] for label in source_classes], dtype=np.int64)
    keep = label_preserving_mask(
        augmented,
        columns,
        lambda batch: np.asarray([scored[text] for text in batch]),
        min_confidence=MIN_CONFIDENCE,
    )
    confidence = np.asarray(
        [probabilities[row, columns[copy.source_index]] for row, copy in enumerate(augmented)], dtype=float
    )
    return np.asarray(keep, dtype=bool), confidence


def augment_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of an augmentation job: augment the chosen classes' training items, filter, store all."""
    if AugmentedText.objects.filter(job=job).exists():  # a re-delivered task whose first attempt stored its copies
        progress(100, "Stored by an earlier attempt")
        return _result(job, AugmentedText.objects.filter(job=job))
    project, params = job.project, job.params
    labels = source_labels(project=project)  # labels may have changed since the job was queued
    classes = set(params["classes"])
    sources = sorted(pk for pk, label in labels.items() if label in classes)
    if not sources:
        raise ValidationError(NO_SOURCES_ERROR)
    wanted = set(sources)
    texts_by_id = {
        pk: text
        for pk, text in Item.objects.filter(project=project).values_list("id", "text").iterator()
        if pk in wanted
    }
    sources = [pk for pk in sources if pk in texts_by_id]
    texts = [texts_by_id[pk] for pk in sources]
    progress(2, f"Augmenting {len(texts)} items of {len(classes)} class(es) with {', '.join(params['ops'])}")
    augmented = augment_texts(
        texts,
        params["ops"],
        copies=params["copies"],
        language=project.language,
        strength=params["strength"],
        random_state=params.get("random_state", RANDOM_STATE),
        model_dirs=augment_model_dirs(),
        progress=_augment_progress(progress, 2, 78),
    )
    source_classes = [labels[pk] for pk in sources]
    if params.get("use_filter"):
        version = ModelVersion.objects.get(pk=params["model_version"])
        keep, confidence = _filter(augmented, source_classes, version, progress)
    else:
        keep, confidence = np.ones(len(augmented), dtype=bool), None
    progress(95, f"Storing {len(augmented)} copies")  # the last checkpoint: a cancel here writes nothing
    stored = _store(job, augmented, [sources[copy.source_index] for copy in augmented], keep, confidence)
    result = _result(job, stored)
    progress(100, f"{result['kept']} of {result['copies']} copies kept for review")
    return result


@transaction.atomic
def _store(
    job: Job, augmented: list[Augmented], source_ids: list[int], keep: np.ndarray, confidence: np.ndarray | None
):
    """Every copy in one transaction; copies of items deleted during the job are dropped."""
    alive = set(Item.objects.filter(project=job.project).values_list("id", flat=True))
    rows = [
        AugmentedText(
            project=job.project,
            source_item_id=source_id,
            job=job,
            op=copy.op,
            text=copy.text,
            changed_spans=[[int(start), int(end)] for start, end in copy.changed],
            status=AugmentStatus.PENDING if keep[row] else AugmentStatus.REJECTED,
            filtered_out=not bool(keep[row]),
            filter_confidence=None if confidence is None else float(confidence[row]),
        )
        for row, (copy, source_id) in enumerate(zip(augmented, source_ids, strict=True))
        if source_id in alive
    ]
    AugmentedText.objects.bulk_create(rows, batch_size=WRITE_BATCH_SIZE)
    return AugmentedText.objects.filter(job=job)


def _result(job: Job, copies) -> dict:
    """Counts per class and per op ({"copies": written, "kept": not filtered out}), the kept fraction, and
    how the classes were chosen."""
    labels = source_labels(project=job.project)
    names = dict(Label.objects.filter(project=job.project).values_list("id", "name"))
    by_class: dict[str, dict[str, int]] = {}
    by_op: dict[str, dict[str, int]] = {}
    total = kept = 0
    for source_id, op, filtered in copies.values_list("source_item_id", "op", "filtered_out"):
        name = names.get(labels.get(source_id), "(no label now)")
        for counts in (
            by_class.setdefault(name, {"copies": 0, "kept": 0}),
            by_op.setdefault(op, {"copies": 0, "kept": 0}),
        ):
            counts["copies"] += 1
            counts["kept"] += not filtered
        total += 1
        kept += not filtered
    return {
        "copies": total,
        "kept": kept,
        "filtered_out": total - kept,
        "kept_fraction": kept / total if total else 0.0,
        "by_class": by_class,
        "by_op": by_op,
        "classes_chosen_by": job.params.get("classes_chosen_by", CHOSEN_BY_REQUEST),
        "sources": len({source for source in copies.values_list("source_item_id", flat=True)}),
    }


# --- the experts' decisions -----------------------------------------------------------------------------------


def _checked_ids(copy_ids) -> list[int]:
    if not copy_ids:
        raise ValidationError(NO_IDS_ERROR)
    if len(copy_ids) > MAX_DECIDE_IDS:
        raise ValidationError(TOO_MANY_IDS_ERROR.format(most=MAX_DECIDE_IDS))
    ids = []
    for value in copy_ids:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValidationError(BAD_ID_ERROR.format(value=value))
        ids.append(int(value))
    return sorted(set(ids))


@transaction.atomic
def augment_decide(*, project: Project, user: AbstractBaseUser | None, copy_ids: Sequence[int], status: str) -> int:
    """Accept or reject copies in bulk (pending undoes a decision); returns how many changed. Every id
    must be a copy of `project`, or nothing changes."""
    if status not in AugmentStatus.values:
        raise ValidationError(UNKNOWN_STATUS_ERROR.format(value=status, known=", ".join(AugmentStatus.values)))
    ids = _checked_ids(copy_ids)
    copies = AugmentedText.objects.select_for_update().filter(project=project, pk__in=ids)
    missing = sorted(set(ids) - set(copies.values_list("id", flat=True)))
    if missing:
        raise ValidationError(UNKNOWN_COPIES_ERROR.format(ids=", ".join(map(str, missing[:20]))))
    decided = status != AugmentStatus.PENDING
    return copies.update(
        status=status, decided_by=user if decided else None, decided_at=timezone.now() if decided else None
    )


@transaction.atomic
def augment_discard_pending(*, project: Project, job: Job | None = None) -> int:
    """Delete the copies still waiting for review (of one job, if given); returns how many."""
    pending = AugmentedText.objects.filter(project=project, status=AugmentStatus.PENDING)
    if job is not None:
        pending = pending.filter(job=job)
    deleted, _ = pending.delete()
    return deleted
