"""Issue 20, item 1 in Chromium: an admin creates an annotator and an expert on the Members page, the new
annotator is held on the password change at the first login, and the admin changes a role and removes a
member after a confirmation; no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.models import Membership, Role
from annotator.services.projects import project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_WORDS = ("Content Security Policy", "Content-Security-Policy")


def _log_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _create_account(page, username: str, role: str) -> str:
    page.fill("#create-account-form input[name=username]", username)
    page.select_option("#create-account-form select[name=role]", role)
    page.click("#create-account-form button[type=submit]")
    expect(page.locator("#created-account")).to_contain_text(f"Account “{username}” created")
    return page.inner_text("#one-time-password").strip()


def test_admin_creates_accounts_changes_a_role_and_removes_a_member(page, live_server, django_user_model):
    violations: list[str] = []
    page.on("console", lambda message: any(w in message.text for w in CSP_WORDS) and violations.append(message.text))
    ada = django_user_model.objects.create_user("ada", password="correct horse")
    project = project_create(name="Team project", created_by=ada)
    _log_in(page, live_server.url, "ada", "correct horse")
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")

    annotator_password = _create_account(page, "ann", Role.ANNOTATOR)
    expert_password = _create_account(page, "exp", Role.EXPERT)
    assert annotator_password != expert_password
    expect(page.locator("#members")).to_contain_text("exp")

    # The new annotator logs in with the one-time password and must choose their own first.
    other = page.context.browser.new_context().new_page()
    _log_in(other, live_server.url, "ann", annotator_password)
    expect(other).to_have_url(f"{live_server.url}/account/password/")
    other.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(other).to_have_url(f"{live_server.url}/account/password/")
    other.fill("input[name=old_password]", annotator_password)
    other.fill("input[name=new_password1]", "a sturdy new passphrase 42")
    other.fill("input[name=new_password2]", "a sturdy new passphrase 42")
    other.click("button[type=submit]")
    expect(other.locator("#flashes")).to_contain_text("Your password is changed.")
    other.click("text=Team project")
    expect(other.locator("h1")).to_contain_text("Team project")

    # The admin makes the expert an annotator, then removes the annotator after a confirmation.
    row = page.locator("#members tr[data-username=exp]")
    row.locator("select[name=role]").select_option(Role.ANNOTATOR)
    row.locator("button:has-text('Change')").click()
    expect(page.locator("#flashes")).to_contain_text("exp is now annotator")
    page.locator("#members tr[data-username=ann] >> text=Remove…").click()
    expect(page.locator("h1")).to_contain_text("Remove ann?")
    page.click("button:has-text('Remove ann')")
    expect(page.locator("#flashes")).to_contain_text("ann was removed from the project.")
    assert not Membership.objects.filter(project=project, user__username="ann").exists()
    assert Membership.objects.get(project=project, user__username="exp").role == Role.ANNOTATOR
    # The only admin has no demote or remove control.
    expect(page.locator("#members tr[data-username=ada]")).to_contain_text("the only admin")

    # The removed annotator's open session no longer reaches the project.
    response = other.goto(f"{live_server.url}/projects/{project.pk}/")
    assert response.status == 404
    assert violations == []
