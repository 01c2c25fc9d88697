"""What the annotation page shows with an item: its suggestions and what comes pre-selected."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser

from annotator.models import (
    Annotation,
    AnnotationSource,
    CandidateStatus,
    Item,
    Label,
    Project,
    ScoreRun,
    TaskType,
)
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.selectors.labels import DIGIT_KEYS
from annotator.selectors.rules import rule_spec
from mlcore.rules import RuleError, compile_rule

MAX_HIGHLIGHT_RULES = 20


@dataclass(frozen=True)
class Suggestion:
    label_ids: tuple[int, ...]
    source: str  # "model", "rule" or "cluster"
    confidence: float | None = None
    detail: str = ""  # the rule's pattern or the cluster's keywords


@dataclass(frozen=True)
class QueueItem:
    item: Item
    suggestions: list[Suggestion] = field(default_factory=list)
    mine: tuple[int, ...] = ()  # the person's own labels, when they annotated it already (undo)
    preselected: tuple[int, ...] = ()


def _candidate_suggestions(item: Item) -> list[Suggestion]:
    pending = (
        Annotation.objects.filter(item=item, candidate_status=CandidateStatus.PENDING)
        .select_related("rule", "cluster")
        .prefetch_related("label_links")
        .order_by("id")
    )
    suggestions = []
    for candidate in pending:
        detail = ""
        if candidate.rule is not None:
            detail = candidate.rule.pattern
        elif candidate.cluster is not None:
            detail = str(candidate.cluster)
        labels = tuple(sorted(link.label_id for link in candidate.label_links.all()))
        suggestions.append(Suggestion(labels, candidate.source, detail=detail))
    return suggestions


def _model_suggestion(item: Item) -> Suggestion | None:
    if item.suggested_label_id is None:
        return None
    detail = item.score_run.model_name if item.score_run_id and item.score_run else ""
    return Suggestion((item.suggested_label_id,), "model", item.suggestion_confidence, detail)


def _my_labels(item: Item, user: AbstractBaseUser) -> tuple[int, ...]:
    mine = Annotation.objects.filter(item=item, annotator=user, source=AnnotationSource.HUMAN, candidate_status="")
    return tuple(sorted(mine.values_list("label_links__label_id", flat=True).exclude(label_links__label_id=None)))


def queue_item(*, item: Item, user: AbstractBaseUser, fresh: bool = False) -> QueueItem:
    """The item with its suggestions; pre-selected: the person's own labels, else rule and cluster
    suggestions, else (in "correct" mode) the model's.

    `fresh`: the queue just served it, so the person has no annotation on it (saves a query on the
    hot path).
    """
    suggestions = _candidate_suggestions(item)
    model = _model_suggestion(item)
    mine = () if fresh else _my_labels(item, user)
    if mine:
        preselected = mine
    elif suggestions:
        preselected = tuple(sorted({pk for suggestion in suggestions for pk in suggestion.label_ids}))
        if item.project.task_type == TaskType.SINGLE_LABEL:
            preselected = suggestions[0].label_ids[:1]
    elif model is not None and item.project.preselect_suggestion:
        preselected = model.label_ids
    else:
        preselected = ()
    if model is not None:
        suggestions.append(model)
    return QueueItem(item=item, suggestions=suggestions, mine=mine, preselected=preselected)


def latest_score_run(*, project) -> ScoreRun | None:
    return project.score_runs.first()


def labels_since(*, project: Project, run: ScoreRun | None) -> int:
    """Counted human annotations made after `run` ordered the queue (all of them when none has)."""
    annotations = Annotation.objects.filter(item__project=project, source=AnnotationSource.HUMAN, candidate_status="")
    if run is not None:
        annotations = annotations.filter(created_at__gt=run.created_at)
    return annotations.count()


def keyword_spans(*, project: Project, text: str) -> list[tuple[int, int]]:
    """Where the project's active rules match `text`, to highlight; a rule that errors is left out."""
    spans: list[tuple[int, int]] = []
    for rule in project.rules.filter(active=True).order_by("id")[:MAX_HIGHLIGHT_RULES]:
        try:
            spans += compile_rule(rule_spec(rule)).spans(text)
        except RuleError:
            continue
    return spans


@dataclass(frozen=True)
class LabelKey:
    """A label button on the annotation page: the key that selects it and where it sits in the tree."""

    label: Label
    key: str
    path: str
    parent_id: int | None
    has_children: bool


def label_keys(*, project: Project) -> list[LabelKey]:
    """Active labels in tree order with their keys: the label's own shortcut, else its stored digit.

    A label without a usable stored digit (made outside the services, e.g. by a benchmark) gets the
    next digit its siblings leave free, so every label still has a key.
    """
    labels = list(project.labels.filter(active=True).order_by("order", "name", "id"))
    by_parent: dict[int | None, list[Label]] = {}
    for label in labels:
        by_parent.setdefault(label.parent_id, []).append(label)
    taken = {label.shortcut.lower() for label in labels if label.shortcut}
    keys: list[LabelKey] = []

    def digits_of(siblings: list[Label]) -> dict[int, str]:
        digits: dict[int, str] = {}
        used = set(taken)
        for label in siblings:
            if not label.shortcut and label.digit and label.digit not in used:
                digits[label.pk] = label.digit
                used.add(label.digit)
        free = [digit for digit in DIGIT_KEYS if digit not in used]
        for label in siblings:
            if not label.shortcut and label.pk not in digits:
                digits[label.pk] = free.pop(0) if free else ""
        return digits

    def visit(parent_id: int | None, prefix: str) -> None:
        siblings = by_parent.get(parent_id, [])
        digits = digits_of(siblings)
        for label in siblings:
            key = label.shortcut.lower() or digits[label.pk]
            path = f"{prefix}{label.name}"
            keys.append(LabelKey(label, key, path, parent_id, label.pk in by_parent))
            visit(label.pk, path + LABEL_PATH_SEPARATOR)

    visit(None, "")
    return keys
