"""A real browser (Debian's Chromium through Playwright) logs in, imports a CSV and sees the items."""

from __future__ import annotations

import os
import shutil

import pytest

from annotator.services.projects import project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or next((p for p in CHROMIUM_PATHS if shutil.which(p)), None)


@pytest.fixture
def page(monkeypatch):
    executable = _chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_log_in_import_a_csv_and_see_the_items(page, live_server, django_user_model, tmp_path):
    user = django_user_model.objects.create_user("ada", password="correct horse")
    project = project_create(name="Browser project", created_by=user)
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("text,label\nThe battery lasts all day,Positive\nThe screen cracked in a week,Negative\n")

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.click("text=Browser project")
    page.click("text=Import items")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("button:has-text('Import')")
    page.wait_for_selector("#import-report")
    assert "2</strong> new items" in page.inner_html("#import-report")

    page.click("text=See the items")
    table = page.inner_text("#item-table")
    assert "The battery lasts all day" in table
    assert "The screen cracked in a week" in table
    assert project.items.count() == 2
    page.screenshot(path=str(tmp_path / "items.png"))
