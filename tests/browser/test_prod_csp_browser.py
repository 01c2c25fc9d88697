"""Finding 10 and 13 in a real browser: the pages work under the Content-Security-Policy (no violation in the
console), including htmx swaps, the learning-curve page, Swagger UI and the admin, and an invitation is accepted
through the pages.

The policy is the same in every mode (settings.CONTENT_SECURITY_POLICY), so the live test server serves
exactly production's header; only HTTPS differs, which a browser test over plain HTTP cannot use.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.services.projects import project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_WORDS = ("Content Security Policy", "Content-Security-Policy")


def _log_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_pages_work_under_the_csp_and_an_invitation_is_accepted(page, live_server, django_user_model):
    """Finding 10: no CSP violation on the app's pages or the API docs. Finding 13: invite, accept in the UI."""
    violations: list[str] = []
    page.on("console", lambda message: any(w in message.text for w in CSP_WORDS) and violations.append(message.text))
    ada = django_user_model.objects.create_superuser("ada", password="correct horse")
    django_user_model.objects.create_user("dana", password="battery staple")
    project = project_create(name="CSP project", created_by=ada)
    project.items.create(text="The battery lasts all day", content_hash="a")
    project.items.create(text="The screen cracked", content_hash="b")

    response = page.goto(f"{live_server.url}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    _log_in(page, live_server.url, "ada", "correct horse")
    page.click("text=CSP project")
    # htmx: the item filter swaps the table as one types.
    page.click("nav >> text=Items")
    page.fill("input[name=q]", "battery")
    expect(page.locator("#item-table")).not_to_contain_text("The screen cracked")
    assert "The battery lasts all day" in page.inner_text("#item-table")
    page.click("nav >> text=Active learning")
    page.click("nav >> text=Labels")
    # Invite dana through the members page.
    page.click("nav >> text=Members")
    page.fill("#invite-form input[name=username]", "dana")
    page.select_option("#invite-form select[name=role]", "expert")
    page.click("#invite-form button[type=submit]")
    assert "“dana” is invited as expert" in page.inner_text("#flashes")
    assert "dana" in page.inner_text("#invitations")
    # The API docs (Swagger UI from our own static files, its start script a separate file).
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Labelloop API" in page.inner_text(".swagger-ui .info .title")
    # Django's admin (a user's change page has the most scripts).
    page.goto(f"{live_server.url}/admin/auth/user/{ada.pk}/change/")
    page.wait_for_selector("#user_form")
    page.goto(f"{live_server.url}/")
    page.click("button:has-text('Log out')")

    _log_in(page, live_server.url, "dana", "battery staple")
    assert "CSP project" in page.inner_text("#invitations")
    page.click("#invitations >> button:has-text('Accept')")
    assert "You joined “CSP project” as expert." in page.inner_text("#flashes")
    assert project.memberships.get(user__username="dana").role == "expert"
    assert violations == []
