"""Issue 20, bug 3 in Chromium: the rule preview answers before a name is typed, and deleting asks first."""

from __future__ import annotations

import pytest

from annotator.models import Rule
from annotator.services.projects import project_create
from annotator.services.rules import rule_create
from annotator.services.taxonomy import label_create
from tests.browser.test_queue_keyboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preview_without_a_name_and_delete_with_confirmation(page, live_server, django_user_model):
    """Issue 20, bug 3: blank preview until Name was filled; no confirmation before deleting a rule."""
    django_user_model.objects.create_user("grace", password="pw-grace")
    admin = django_user_model.objects.get(username="grace")
    project = project_create(name="News desk", created_by=admin)
    sport = label_create(project=project, name="Sport", by=admin)
    for n, text in enumerate(["Late goal wins the derby", "Markets fall", "A goal-line clearance"]):
        project.items.create(text=text, content_hash=f"h{n}")
    rule_create(project=project, by=admin, name="goals", pattern="goal", label=sport)

    log_in(page, live_server, "grace", "pw-grace")
    page.goto(f"{live_server.url}/projects/{project.pk}/rules/")
    page.fill("#rule-form textarea[name=pattern]", "derby")
    page.wait_for_selector("#rule-matches")
    assert "1 of 3 items match" in page.locator("#rule-matches").inner_text()
    assert "choose a label" in page.locator("#rule-matches").inner_text()

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("form[data-confirm] button")
    page.wait_for_timeout(500)
    assert Rule.objects.filter(name="goals").exists()  # dismissed: nothing happened

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("form[data-confirm] button")
    page.wait_for_selector("text=No rules yet.")
    assert asked == ["Delete the rule “goals”? Its exclusions and unchecked suggestions go with it."]
    assert not Rule.objects.filter(name="goals").exists()


def test_suggestions_with_the_keyboard(page, live_server, django_user_model):
    """Issue 20, bug 9: the suggestions page had no keys: J moves, A accepts, X rejects, Space selects."""
    from annotator.models import Annotation, CandidateStatus
    from annotator.services.rules import rule_apply

    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    project = project_create(name="News desk", created_by=admin)
    sport = label_create(project=project, name="Sport", by=admin)
    for n in range(3):
        project.items.create(text=f"match report {n}", content_hash=f"h{n}")
    rule_apply(rule=rule_create(project=project, by=admin, name="m", pattern="match", label=sport), by=admin)
    first, second, third = Annotation.objects.filter(candidate_status="pending").order_by("id")

    log_in(page, live_server, "grace", "pw-grace")
    page.goto(f"{live_server.url}/projects/{project.pk}/suggestions/")
    page.wait_for_selector("#candidate-list")
    page.keyboard.press("j")
    page.keyboard.press("a")  # accepts the first, moves on to the second
    page.wait_for_selector(f"#candidate-{first.pk} >> text=Accepted.")
    page.keyboard.press("x")
    page.wait_for_selector(f"#candidate-{second.pk} >> text=Rejected.")
    page.keyboard.press(" ")  # selects the third
    page.click("[data-role=accept-selected]")
    page.wait_for_selector("text=Accepted 1 suggestion(s).")
    statuses = [Annotation.objects.get(pk=c.pk).candidate_status for c in (first, second, third)]
    assert statuses == [CandidateStatus.CONFIRMED, CandidateStatus.REJECTED, CandidateStatus.CONFIRMED]
