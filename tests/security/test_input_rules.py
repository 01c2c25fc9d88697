"""Finding 6: rules cannot stall pages: a cap on their number, one time budget shared by all of them,
patterns tried on the real items at save, and an old slow rule marked "too slow" instead of breaking
the other rules' counts and the preview of the pattern being typed."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Role, Rule
from annotator.selectors.rules import ProjectTexts, rule_masks, rule_match_counts, rule_preview
from annotator.services import rules, taxonomy
from mlcore.rules import RuleSpec, compile_rule, match_rule_set

pytestmark = pytest.mark.django_db

# `(a|a)+b` backtracks exponentially: ~25 ms on 16 "a"s (under the 50 ms per-text timeout, so a rule
# runs until its budget is spent) and far past the timeout on 40 "a"s.
SLOW_PATTERN = "(a|a)+b"
SLOW_TEXT = "a" * 16
CATASTROPHIC_TEXT = "a" * 40


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    expert = users[Role.EXPERT]
    sport = taxonomy.label_create(project=project, name="Sport", by=expert)
    return project, expert, sport


def add_items(project, texts):
    start = project.items.count()
    for n, text in enumerate(texts, start=start):
        project.items.create(text=text, content_hash=f"h{n}")


def old_rule(project, label, name, pattern=SLOW_PATTERN, is_regex=True):
    """A rule saved before patterns were tried at save (straight into the table, as old databases hold)."""
    return Rule.objects.create(project=project, name=name, pattern=pattern, is_regex=is_regex, label=label)


def test_rule_count_is_capped_with_a_clear_error(setup, settings):
    """Finding 6: a project has at most RULES_MAX_PER_PROJECT rules."""
    project, expert, sport = setup
    settings.RULES_MAX_PER_PROJECT = 3
    for n in range(3):
        rules.rule_create(project=project, name=f"r{n}", pattern=f"word{n}", label=sport, by=expert)
    with pytest.raises(ValidationError) as caught:
        rules.rule_create(project=project, name="one more", pattern="more", label=sport, by=expert)
    assert caught.value.messages == [rules.TOO_MANY_RULES_ERROR.format(count=3, limit=3)]
    api = APIClient()
    api.force_authenticate(expert)
    response = api.post(reverse("api-rule-list", args=[project.pk]), {"name": "x", "pattern": "x", "label": sport.pk})
    assert response.status_code == 400
    assert "limit is 3" in response.json()["detail"]


def test_all_rules_share_one_budget_on_a_page(setup, settings):
    """Finding 6: many slow rules cost one budget together, not one each (14 made /labels/ take 16-19 s)."""
    project, expert, sport = setup
    settings.RULES_BUDGET_SECONDS = 0.5
    add_items(project, [SLOW_TEXT] * 60 + ["a football match"])
    for n in range(6):
        old_rule(project, sport, f"slow {n}")
    fast = rules.rule_create(project=project, name="football", pattern="football", label=sport, by=expert)
    started = time.perf_counter()
    found = rule_masks(rules=list(project.rules.all()), texts=ProjectTexts.load(project))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5 + 1.0, elapsed  # one budget (plus slack for a busy machine), not six
    assert int(found.masks[fast.pk].sum()) == 1  # keyword rules run first and are always counted
    assert {rule.name for rule in project.rules.filter(pk__in=found.errors)} == {f"slow {n}" for n in range(6)}


def test_mlcore_rule_set_shares_the_budget():
    """Finding 6: `match_rule_set` gives each regex a fair share of what is left, in mlcore (no Django)."""
    slow = {n: compile_rule(RuleSpec(SLOW_PATTERN, is_regex=True)) for n in range(5)}
    started = time.perf_counter()
    found = match_rule_set(
        {**slow, "kw": compile_rule(RuleSpec("zzz"))}, [SLOW_TEXT] * 200, budget_seconds=0.4, per_text_timeout=1.0
    )
    assert time.perf_counter() - started < 0.4 + 1.0
    assert set(found.errors) == set(slow)
    assert found.masks["kw"].sum() == 0


def test_a_pattern_too_slow_on_the_items_is_refused_at_save(setup):
    """Finding 6: create and update try the pattern on the project's items; the message names the rule."""
    project, expert, sport = setup
    add_items(project, [CATASTROPHIC_TEXT, "fine"])
    with pytest.raises(ValidationError) as caught:
        rules.rule_create(
            project=project, name="backtracker", pattern=SLOW_PATTERN, is_regex=True, label=sport, by=expert
        )
    assert "backtracker" in caught.value.messages[0]
    assert not project.rules.exists()
    rule = rules.rule_create(project=project, name="ok", pattern="fine", label=sport, by=expert)
    with pytest.raises(ValidationError) as caught:
        rules.rule_update(rule=rule, by=expert, pattern=SLOW_PATTERN, is_regex=True)
    assert "“ok”" in caught.value.messages[0]
    rule.refresh_from_db()
    assert rule.pattern == "fine"


def test_an_old_slow_rule_can_still_be_deactivated(setup):
    """Finding 6: switching a slow rule off is never refused (that is how it gets fixed)."""
    project, expert, sport = setup
    add_items(project, [CATASTROPHIC_TEXT])
    slow = old_rule(project, sport, "old slow")
    rules.rule_update(rule=slow, by=expert, active=False)
    with pytest.raises(ValidationError):
        rules.rule_update(rule=slow, by=expert, active=True)


def test_an_old_slow_rule_does_not_break_the_preview_of_another_pattern(setup):
    """Finding 6: the preview of a good pattern works and names the slow saved rule instead of failing."""
    project, expert, sport = setup
    add_items(project, [CATASTROPHIC_TEXT, "the football final", "a tennis match"])
    old_rule(project, sport, "old slow")
    rules.rule_create(project=project, name="tennis", pattern="tennis", label=sport, by=expert)
    preview = rule_preview(project=project, spec=RuleSpec("football"), label_id=sport.pk)
    assert preview.matched == 1
    assert list(preview.too_slow) == ["old slow"]
    assert preview.stats.overlap == {"tennis": 0}

    client = APIClient()
    client.force_authenticate(expert)
    response = client.post(reverse("api-rule-preview", args=[project.pk]), {"pattern": "football"}, format="json")
    assert response.status_code == 200
    assert list(response.json()["too_slow"]) == ["old slow"]


def test_an_old_slow_rule_is_marked_and_the_others_keep_their_counts(setup, client):
    """Finding 6: the rule list marks the slow rule "too slow"; the label tree still counts other rules."""
    project, expert, sport = setup
    news = taxonomy.label_create(project=project, name="News", by=expert)
    add_items(project, [CATASTROPHIC_TEXT, "the football final", "news at ten"])
    old_rule(project, sport, "old slow")
    rules.rule_create(project=project, name="news", pattern="news", label=news, by=expert)
    assert rule_match_counts(project=project) == {news.pk: 1}

    client.force_login(expert)
    page = client.get(reverse("rule-list", args=[project.pk])).content.decode()
    assert "too slow" in page
    assert "takes too long" in page  # why, in the title
    assert client.get(reverse("label-tree", args=[project.pk])).status_code == 200
