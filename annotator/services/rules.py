"""Keyword/regex rules: create and edit them, and apply them.

Applying a seed rule adds candidate annotations (source `rule`) for a human to confirm, aiming at
about SEED_CANDIDATES_PER_LABEL per label. Applying a blacklist rule excludes its matches from
training; deactivating or deleting the rule (or re-applying it after an edit) reverses that.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Exclusion,
    Label,
    Project,
    Rule,
    RuleKind,
    Split,
)
from annotator.selectors.rules import (
    PREVIEW_BUDGET_SECONDS,
    ProjectTexts,
    rule_mask,
    rule_pattern_warnings,
    rule_spec,
    seed_rule_precisions,
)
from mlcore.rules import RuleError, compile_rule, match_texts, select_seed_candidates

SEED_CANDIDATES_PER_LABEL = 100
SEED_RANDOM_STATE = 0
# Applying runs in a request too, but over every item: allow more time than a preview.
APPLY_BUDGET_SECONDS = 20.0
SEED_NEEDS_LABEL_ERROR = "A seed rule needs a target label."
NAME_TAKEN_ERROR = "There is already a rule named “{name}”."
RULE_FIELDS = ("name", "pattern", "is_regex", "case_sensitive", "whole_word", "kind", "label", "active")
# Changing these (or switching a rule on) runs the pattern over the project's items again before saving.
MATCHING_FIELDS = ("pattern", "is_regex", "case_sensitive", "whole_word", "active")
TOO_MANY_RULES_ERROR = (
    "This project already has {count} rules; the limit is {limit}. Delete or edit a rule you no longer need."
)
TOO_SLOW_AT_SAVE_ERROR = "The rule “{name}” is too slow on this project's items, so it was not saved: {reason}"


def _as_validation_error(error: RuleError) -> ValidationError:
    return ValidationError(str(error), code="invalid_rule")


def _validate(project: Project, rule: Rule) -> None:
    if not rule.name.strip():
        raise ValidationError("A rule needs a name.")
    if Rule.objects.filter(project=project, name=rule.name).exclude(pk=rule.pk).exists():
        raise ValidationError(NAME_TAKEN_ERROR.format(name=rule.name))
    if rule.kind == RuleKind.SEED and rule.label_id is None:
        raise ValidationError(SEED_NEEDS_LABEL_ERROR)
    if rule.label is not None and rule.label.project_id != project.pk:
        raise ValidationError("That label belongs to another project.")
    try:
        compile_rule(rule_spec(rule))
    except RuleError as error:
        raise _as_validation_error(error) from None


def _check_rule_count(project: Project) -> None:
    count = project.rules.count()
    if count >= settings.RULES_MAX_PER_PROJECT:
        raise ValidationError(
            TOO_MANY_RULES_ERROR.format(count=count, limit=settings.RULES_MAX_PER_PROJECT), code="too_many_rules"
        )


def _check_speed_on_items(rule: Rule) -> None:
    """Run the pattern over the project's items as a preview would: a rule that cannot finish within
    the preview's budget is refused now, rather than marked "too slow" on every page later."""
    try:
        match_texts(
            compile_rule(rule_spec(rule)), ProjectTexts.load(rule.project).texts, budget_seconds=PREVIEW_BUDGET_SECONDS
        )
    except RuleError as error:
        message = TOO_SLOW_AT_SAVE_ERROR.format(name=rule.name, reason=error)
        raise ValidationError(message, code="rule_too_slow") from None


@transaction.atomic
def rule_create(
    *,
    project: Project,
    name: str,
    pattern: str,
    by: AbstractBaseUser | None,
    kind: str = RuleKind.SEED,
    label: Label | None = None,
    is_regex: bool = False,
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> Rule:
    rule = Rule(
        project=project,
        name=name.strip(),
        pattern=pattern,
        kind=kind,
        label=label,
        is_regex=is_regex,
        case_sensitive=case_sensitive,
        whole_word=whole_word,
        created_by=by,
    )
    _check_rule_count(project)
    _validate(project, rule)
    _check_speed_on_items(rule)
    rule.save()
    rule_precision_refresh(project=project, rules=[rule])
    return rule


@transaction.atomic
def rule_update(*, rule: Rule, by: AbstractBaseUser | None, **changes) -> Rule:
    """Edit a rule. A blacklist's exclusions follow at once: re-applied if active, removed if not."""
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(f"Cannot edit {', '.join(sorted(unknown))}; editable: {', '.join(RULE_FIELDS)}.")
    rematch = any(field in changes and changes[field] != getattr(rule, field) for field in MATCHING_FIELDS)
    for field, value in changes.items():
        setattr(rule, field, value)
    _validate(rule.project, rule)
    if rule.active and rematch:
        _check_speed_on_items(rule)
    rule.save()
    if rule.kind == RuleKind.BLACKLIST and rule.exclusions.exists():
        rule_apply(rule=rule, by=by)
    elif rule.kind != RuleKind.BLACKLIST:
        rule.exclusions.all().delete()
    rule_precision_refresh(project=rule.project, rules=[rule])
    return rule


def rule_warnings(*, rule: Rule) -> list[str]:
    """What a saved rule's pattern will get wrong on the project's texts (CJK traps such as \\b): shown after
    saving, in the page's messages and the API's `warnings`. The rule is saved all the same."""
    return rule_pattern_warnings(project=rule.project, spec=rule_spec(rule))


@transaction.atomic
def rule_delete(*, rule: Rule) -> None:
    """Delete a rule. Its exclusions go with it; confirmed candidates stay (a human chose them)."""
    Annotation.objects.filter(rule=rule, candidate_status=CandidateStatus.PENDING).delete()
    rule.delete()


@transaction.atomic
def rule_apply(*, rule: Rule, by: AbstractBaseUser | None) -> dict:
    """Run the rule over the project now; returns what it did."""
    texts = ProjectTexts.load(rule.project)
    try:
        mask = rule_mask(rule=rule, texts=texts, budget_seconds=APPLY_BUDGET_SECONDS)
    except RuleError as error:
        raise _as_validation_error(error) from None
    if not rule.active:
        mask = np.zeros_like(mask)
    outcome = (
        _apply_blacklist(rule, texts, mask, by) if rule.kind == RuleKind.BLACKLIST else _apply_seed(rule, texts, mask)
    )
    rule.applied_at = timezone.now()
    rule.save(update_fields=["applied_at"])
    rule_precision_refresh(project=rule.project, rules=[rule])
    return {"matched": int(mask.sum()), **outcome}


def _apply_blacklist(rule: Rule, texts: ProjectTexts, mask: np.ndarray, by: AbstractBaseUser | None) -> dict:
    matched = set(texts.ids[mask].tolist())
    current = set(rule.exclusions.values_list("item_id", flat=True))
    rule.exclusions.filter(item_id__in=current - matched).delete()
    Exclusion.objects.bulk_create(
        Exclusion(item_id=item_id, rule=rule, reason=f"blacklist rule “{rule.name}”", created_by=by)
        for item_id in sorted(matched - current)
    )
    return {"excluded": len(matched), "newly_excluded": len(matched - current), "restored": len(current - matched)}


def _apply_seed(rule: Rule, texts: ProjectTexts, mask: np.ndarray) -> dict:
    """Candidates on unlabeled, non-test items, topping the label up to SEED_CANDIDATES_PER_LABEL."""
    pending = Annotation.objects.filter(
        item__project=rule.project, candidate_status=CandidateStatus.PENDING, labels=rule.label
    )
    room = SEED_CANDIDATES_PER_LABEL - pending.count()
    if room <= 0:
        return {"candidates_created": 0, "note": f"“{rule.label.name}” already has {pending.count()} candidates."}
    # Items with any annotation are out: labeled, already suggested, or a suggestion someone rejected.
    blocked = set(Annotation.objects.filter(item__project=rule.project).values_list("item_id", flat=True))
    exclude = np.array(
        [item_id in blocked or split == Split.TEST for item_id, split in zip(texts.ids, texts.splits, strict=True)]
    )
    chosen = select_seed_candidates(mask, limit=room, random_state=SEED_RANDOM_STATE, exclude=exclude)
    annotations = Annotation.objects.bulk_create(
        Annotation(
            item_id=int(texts.ids[index]),
            source=AnnotationSource.RULE,
            candidate_status=CandidateStatus.PENDING,
            rule=rule,
        )
        for index in chosen
    )
    AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=a, label=rule.label) for a in annotations)
    return {"candidates_created": len(annotations)}


def rule_precision_refresh(*, project: Project, rules: list[Rule] | None = None) -> int:
    """Measure and store the precision of `rules` (default: every seed rule of the project) on the human
    labels; what the rules bypass at /predict trusts. Blacklist rules claim no label: theirs is cleared.
    Returns how many rules were measured."""
    rules = list(project.rules.all()) if rules is None else rules
    measured = seed_rule_precisions(project=project, rules=rules)
    now = timezone.now()
    for rule in rules:
        found = measured.get(rule.pk)
        rule.precision = found.precision if found else None
        rule.precision_matches = found.matches if found else 0
        rule.precision_measured_at = now
    Rule.objects.bulk_update(rules, ["precision", "precision_matches", "precision_measured_at"])
    return len(measured)
