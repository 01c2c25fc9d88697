"""Rules over real items: previews with statistics, seed candidates, blacklists, bad regexes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotator.models import Annotation, AnnotationLabel, CandidateStatus, Exclusion, RuleKind, Split
from annotator.selectors.candidates import pending_candidate_counts, pending_candidates
from annotator.selectors.items import final_label_ids
from annotator.selectors.rules import rule_preview
from annotator.services import rules, taxonomy
from annotator.services.candidates import candidate_confirm, candidate_reject
from mlcore.rules import RuleError, RuleSpec

pytestmark = pytest.mark.django_db

TEXTS = [
    "The striker scored a late goal",
    "A goal in extra time won the cup",
    "Shares fell as the market opened",
    "The market rallied on earnings",
    "Goalkeeper saves a penalty",
    "Stock market goal: profits up",
]


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    expert = users["expert"]
    for n, text in enumerate(TEXTS):
        project.items.create(text=text, content_hash=f"h{n}")
    sport = taxonomy.label_create(project=project, name="Sport", by=expert)
    business = taxonomy.label_create(project=project, name="Business", by=expert)
    return project, expert, sport, business


def label_item(item, label):
    annotation = Annotation.objects.create(item=item, source="human")
    AnnotationLabel.objects.create(annotation=annotation, label=label)


def test_preview_counts_samples_highlights_and_precision(setup):
    project, expert, sport, business = setup
    label_item(project.items.get(text=TEXTS[0]), sport)
    label_item(project.items.get(text=TEXTS[5]), business)
    rules.rule_create(project=project, name="market", pattern="market", label=business, by=expert)
    preview = rule_preview(project=project, spec=RuleSpec("goal"), label_id=sport.pk)
    assert (preview.matched, preview.total) == (3, 6)  # whole words: not "Goalkeeper"
    first = preview.sample[0]
    assert first["text"][slice(*first["spans"][0])].lower() == "goal"
    assert preview.stats.precision == 0.5  # right on the striker, wrong on the stock market item
    assert preview.stats.overlap == {"market": 1}
    assert preview.stats.conflicts == {"market": 1}
    assert preview.stats.coverage == 0.5


def test_a_bad_regex_is_a_clear_error_not_a_crash(setup):
    project, expert, sport, _ = setup
    with pytest.raises(ValidationError, match="position"):
        rules.rule_create(project=project, name="bad", pattern="(goal", is_regex=True, label=sport, by=expert)
    with pytest.raises(RuleError, match="position"):
        rule_preview(project=project, spec=RuleSpec("(goal", is_regex=True), label_id=sport.pk)
    with pytest.raises(ValidationError, match="needs a target label"):
        rules.rule_create(project=project, name="x", pattern="goal", by=expert)


def test_seed_rule_creates_candidates_that_count_only_once_confirmed(setup):
    project, expert, sport, _ = setup
    test_item = project.items.get(text=TEXTS[1])
    test_item.split = Split.TEST
    test_item.save()
    rule = rules.rule_create(project=project, name="goal", pattern="goal, striker", label=sport, by=expert)
    outcome = rules.rule_apply(rule=rule, by=expert)
    assert outcome == {"matched": 3, "candidates_created": 2}  # the test-split item is left alone
    candidates = list(pending_candidates(project=project))
    assert {c.item.text for c in candidates} == {TEXTS[0], TEXTS[5]}
    assert pending_candidate_counts(project=project) == {sport.pk: 2}
    assert final_label_ids(project=project) == {}  # candidates do not count

    human = candidate_confirm(candidate=candidates[0], by=expert)
    candidate_reject(candidate=candidates[1], by=expert)
    assert final_label_ids(project=project) == {human.item_id: [sport.pk]}
    assert set(Annotation.objects.filter(rule=rule).values_list("candidate_status", flat=True)) == {
        CandidateStatus.CONFIRMED,
        CandidateStatus.REJECTED,
    }
    with pytest.raises(ValidationError, match="already confirmed"):
        candidate_confirm(candidate=candidates[0], by=expert)
    # Applying again adds nothing for items already labeled or suggested.
    assert rules.rule_apply(rule=rule, by=expert)["candidates_created"] == 0


def test_seed_candidates_stop_at_the_per_label_target(setup, monkeypatch):
    project, expert, sport, _ = setup
    monkeypatch.setattr(rules, "SEED_CANDIDATES_PER_LABEL", 1)
    rule = rules.rule_create(project=project, name="goal", pattern="goal", label=sport, by=expert)
    assert rules.rule_apply(rule=rule, by=expert)["candidates_created"] == 1
    assert rules.rule_apply(rule=rule, by=expert)["candidates_created"] == 0


def test_blacklist_excludes_and_is_reversible(setup):
    project, expert, _, _ = setup
    rule = rules.rule_create(project=project, name="noise", pattern="market", kind=RuleKind.BLACKLIST, by=expert)
    assert rules.rule_apply(rule=rule, by=expert)["excluded"] == 3
    assert set(Exclusion.objects.values_list("item__text", flat=True)) == {TEXTS[2], TEXTS[3], TEXTS[5]}
    assert project.items.count() == 6  # excluded items stay visible
    rules.rule_update(rule=rule, by=expert, pattern="shares")
    assert set(Exclusion.objects.values_list("item__text", flat=True)) == {TEXTS[2]}
    rules.rule_update(rule=rule, by=expert, active=False)
    assert not Exclusion.objects.exists()
    rules.rule_update(rule=rule, by=expert, active=True)
    rules.rule_apply(rule=rule, by=expert)
    rules.rule_delete(rule=rule)
    assert not Exclusion.objects.exists()


def test_chinese_rules_match_without_spaces(project_with_roles):
    project, users = project_with_roles
    finance = taxonomy.label_create(project=project, name="财经", by=users["expert"])
    for n, text in enumerate(["今天股市大涨", "球队赢得了比赛", "股市收盘下跌"]):
        project.items.create(text=text, content_hash=f"zh{n}")
    rule = rules.rule_create(project=project, name="股市", pattern="股市", label=finance, by=users["expert"])
    assert rules.rule_apply(rule=rule, by=users["expert"]) == {"matched": 2, "candidates_created": 2}


def test_preview_snippets_show_the_match_even_deep_in_a_long_text(project_with_roles):
    project, _users = project_with_roles
    project.items.create(text="filler " * 200 + "the decisive goal came late " + "filler " * 50, content_hash="long")
    preview = rule_preview(project=project, spec=RuleSpec("goal"))
    row = preview.sample[0]
    assert row["text"].startswith("…") and row["text"].endswith("…")
    assert len(row["text"]) <= 322
    start, end = row["spans"][0]
    assert row["text"][start:end] == "goal"
