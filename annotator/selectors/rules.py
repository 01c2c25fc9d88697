"""Reads for keyword/regex rules: instant previews and per-rule statistics over a project's items."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from annotator.models import AnnotationLabel, Project, Rule, RuleKind
from annotator.selectors.labels import label_with_ancestor_ids
from mlcore.rules import (
    CompiledRule,
    RuleError,
    RuleSetMatch,
    RuleSpec,
    RuleStats,
    compile_rule,
    match_rule_set,
    match_texts,
    pattern_warnings,
    rule_stats,
)

PREVIEW_SAMPLE_SIZE = 10
SNIPPET_CONTEXT = 80  # characters shown before the first match
SNIPPET_LENGTH = 320
# A preview runs inside a web request: the pattern being typed gets this much time over all items in total
# (and so does a pattern being saved); the saved rules it is compared with share `rules_budget_seconds()`.
PREVIEW_BUDGET_SECONDS = 2.0
RULE_TOO_SLOW = "too slow"
# Items read to judge whether a project's texts are mostly CJK, for the pattern warnings.
WARNING_SAMPLE_TEXTS = 200


def rules_budget_seconds() -> float:
    """The time all of a project's saved rules share on one page or preview (RULES_BUDGET_SECONDS)."""
    return settings.RULES_BUDGET_SECONDS


@dataclasses.dataclass(frozen=True)
class ProjectTexts:
    """The project's item ids and texts, aligned, loaded once per request or job."""

    ids: np.ndarray
    texts: list[str]
    splits: list[str]

    @classmethod
    def load(cls, project: Project) -> ProjectTexts:
        rows = list(project.items.order_by("id").values_list("id", "text", "split"))
        return cls(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], [r[2] for r in rows])


@dataclasses.dataclass(frozen=True)
class RulePreview:
    matched: int
    total: int
    sample: list[dict]  # {"id", "text", "spans"}
    stats: RuleStats | None
    # Saved rules left out of the statistics because they failed within the shared budget: name -> why.
    too_slow: dict[str, str] = dataclasses.field(default_factory=dict)
    # What will not work as meant on this project's (CJK) texts: mlcore.rules.pattern_warnings.
    warnings: list[str] = dataclasses.field(default_factory=list)


def rule_pattern_warnings(*, project: Project, spec: RuleSpec, texts: list[str] | None = None) -> list[str]:
    """Warnings (not errors) for a pattern that runs but will not do what was meant on the project's texts:
    \\b around Chinese words, \\w+, Latin-only classes, spaces between Chinese words... Judged by the project's
    language and, for other languages, by whether a sample of its texts is mostly CJK."""
    sample = texts[:WARNING_SAMPLE_TEXTS] if texts is not None else _warning_sample(project)
    return pattern_warnings(spec.pattern, is_regex=spec.is_regex, language=project.language, sample_texts=sample)


def _warning_sample(project: Project) -> list[str]:
    return list(project.items.order_by("id").values_list("text", flat=True)[:WARNING_SAMPLE_TEXTS])


def project_rules(*, project: Project) -> QuerySet[Rule]:
    return project.rules.select_related("label", "created_by")


def rule_spec(rule: Rule) -> RuleSpec:
    return RuleSpec(
        pattern=rule.pattern, is_regex=rule.is_regex, case_sensitive=rule.case_sensitive, whole_word=rule.whole_word
    )


def rule_mask(*, rule: Rule, texts: ProjectTexts, budget_seconds: float | None) -> np.ndarray:
    """One rule's boolean match mask over `texts`. Raises mlcore.rules.RuleError."""
    return match_texts(compile_rule(rule_spec(rule)), texts.texts, budget_seconds=budget_seconds)


def rule_masks(*, rules: list[Rule], texts: ProjectTexts, budget_seconds: float | None = None) -> RuleSetMatch[int]:
    """Rule id -> match mask for the rules that finished within one budget shared by all of them
    (`rules_budget_seconds()` by default), and rule id -> RuleError for those that did not (a pattern
    saved before it was checked, or slow on items added since): they are marked, the others still count."""
    compiled: dict[int, CompiledRule] = {}
    broken: dict[int, RuleError] = {}
    for rule in rules:
        try:
            compiled[rule.pk] = compile_rule(rule_spec(rule))
        except RuleError as error:
            broken[rule.pk] = error
    budget = rules_budget_seconds() if budget_seconds is None else budget_seconds
    found = match_rule_set(compiled, texts.texts, budget_seconds=budget)
    return RuleSetMatch(masks=found.masks, errors={**broken, **found.errors})


def rule_match_counts(*, project: Project) -> dict[int, int]:
    """Label id -> distinct items matched by the active seed rules targeting it; rules that are too slow
    are left out (a label whose only rules are too slow has no count)."""
    rules = list(project.rules.filter(active=True, kind=RuleKind.SEED))
    if not rules:
        return {}
    texts = ProjectTexts.load(project)
    masks = rule_masks(rules=rules, texts=texts).masks
    matched: dict[int, np.ndarray] = {}
    for rule in rules:
        if rule.pk in masks:
            empty = np.zeros(len(texts.ids), dtype=bool)
            matched[rule.label_id] = matched.get(rule.label_id, empty) | masks[rule.pk]
    return {label_id: int(mask.sum()) for label_id, mask in matched.items()}


def human_label_sets(*, project: Project, texts: ProjectTexts) -> list[frozenset[str] | None]:
    """Per item the ids (as strings) of its counted labels and their ancestors; None when unlabeled."""
    direct: dict[int, set[int]] = defaultdict(set)
    links = AnnotationLabel.objects.filter(annotation__item__project=project, annotation__candidate_status="")
    for item_id, label_id in links.values_list("annotation__item_id", "label_id"):
        direct[item_id].add(label_id)
    implied = {
        item_id: frozenset(str(pk) for pk in label_with_ancestor_ids(project=project, label_ids=ids))
        for item_id, ids in direct.items()
    }
    return [implied.get(int(item_id)) for item_id in texts.ids]


@dataclasses.dataclass(frozen=True)
class MeasuredPrecision:
    """A seed rule's precision on the human labels: None when it matched fewer than
    MIN_PRECISION_MATCHES human-labeled non-test items (or could not run in time)."""

    precision: float | None
    matches: int


# A precision measured on fewer human-labeled matches than this says too little to let a rule decide.
MIN_PRECISION_MATCHES = 5


def seed_rule_precisions(*, project: Project, rules: list[Rule]) -> dict[int, MeasuredPrecision]:
    """Rule id -> its measured precision: among the human-labeled items outside the test split that the
    rule matches, the share whose labels (with their ancestors) include the rule's label. The test split
    stays out so the number never uses what model evaluations are kept for. Seed rules with a label only."""
    seeds = [rule for rule in rules if rule.kind == RuleKind.SEED and rule.label_id is not None]
    if not seeds:
        return {}
    texts = ProjectTexts.load(project)
    found = rule_masks(rules=seeds, texts=texts)
    human = human_label_sets(project=project, texts=texts)
    usable = np.array(
        [labels is not None and split != "test" for labels, split in zip(human, texts.splits, strict=True)],
        dtype=bool,
    )
    measured = {}
    for rule in seeds:
        if rule.pk not in found.masks:
            measured[rule.pk] = MeasuredPrecision(None, 0)
            continue
        matched = np.flatnonzero(found.masks[rule.pk] & usable)
        hits = sum(str(rule.label_id) in human[index] for index in matched)
        enough = len(matched) >= MIN_PRECISION_MATCHES
        measured[rule.pk] = MeasuredPrecision(hits / len(matched) if enough else None, len(matched))
    return measured


def _target(rule_kind: str, label_id: int | None) -> str:
    """What a rule claims, comparable with `human_label_sets`: a label id, or exclusion."""
    return str(label_id) if rule_kind == RuleKind.SEED else "blacklist"


def rule_preview(
    *,
    project: Project,
    spec: RuleSpec,
    kind: str = RuleKind.SEED,
    label_id: int | None = None,
    exclude_rule_id: int | None = None,
) -> RulePreview:
    """How many items a (possibly unsaved) rule matches, a sample with highlights, and its statistics
    against the project's other active rules and its human labels. Raises mlcore.rules.RuleError, only
    for the pattern given: a saved rule that is too slow is left out and named in `too_slow`."""
    compiled = compile_rule(spec)
    texts = ProjectTexts.load(project)
    mask = match_texts(compiled, texts.texts, budget_seconds=PREVIEW_BUDGET_SECONDS)
    others = [rule for rule in project.rules.filter(active=True) if rule.pk != exclude_rule_id]
    found = rule_masks(rules=others, texts=texts)
    stats = rule_stats(
        "this rule",
        _target(kind, label_id),
        mask,
        {
            rule.name: (_target(rule.kind, rule.label_id), found.masks[rule.pk])
            for rule in others
            if rule.pk in found.masks
        },
        # Precision only makes sense for seed rules: a blacklist claims no label.
        human_label_sets(project=project, texts=texts) if kind == RuleKind.SEED else [None] * len(texts.texts),
    )
    return RulePreview(
        matched=int(mask.sum()),
        total=len(texts.texts),
        sample=_sample(compiled, texts, mask),
        stats=stats,
        too_slow={rule.name: str(found.errors[rule.pk]) for rule in others if rule.pk in found.errors},
        warnings=rule_pattern_warnings(project=project, spec=spec, texts=texts.texts),
    )


def _sample(compiled: CompiledRule, texts: ProjectTexts, mask: np.ndarray) -> list[dict]:
    """Matched items, each cut to a snippet around its first match (spans shifted to the snippet)."""
    sample = []
    for index in np.flatnonzero(mask)[:PREVIEW_SAMPLE_SIZE]:
        text = texts.texts[index]
        spans = compiled.spans(text)
        start = max(0, spans[0][0] - SNIPPET_CONTEXT) if spans else 0
        end = min(len(text), start + SNIPPET_LENGTH)
        snippet = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
        shift = start - (1 if start else 0)
        kept = [(a - shift, b - shift) for a, b in spans if a >= start and b <= end]
        sample.append({"id": int(texts.ids[index]), "text": snippet, "spans": kept})
    return sample


def bypass_rules(*, project: Project) -> list[Rule]:
    """The seed rules allowed to decide at /predict: active, with a label, and a measured precision of
    at least the project's `rules_bypass_min_precision`; the most precise first (then the most measured)."""
    rules = project.rules.filter(
        active=True,
        kind=RuleKind.SEED,
        label__isnull=False,
        precision__gte=project.rules_bypass_min_precision,
    ).select_related("label")
    return sorted(rules, key=lambda rule: (-rule.precision, -rule.precision_matches, rule.pk))


def first_matching_rules(*, rules: list[Rule], texts: list[str]) -> list[Rule | None]:
    """Per text, the first of `rules` (in their order) that matches it, or None. The rules share one
    time budget (`rules_budget_seconds()`); one that does not finish in it decides nothing."""
    if not rules or not texts:
        return [None] * len(texts)
    found = rule_masks(rules=rules, texts=ProjectTexts(np.arange(len(texts)), list(texts), [""] * len(texts)))
    chosen: list[Rule | None] = [None] * len(texts)
    for rule in reversed(rules):  # the earlier (more precise) rule wins where several match
        for index in np.flatnonzero(found.masks.get(rule.pk, np.zeros(len(texts), dtype=bool))):
            chosen[index] = rule
    return chosen
