"""A Playwright page in Debian's Chromium (never `playwright install`); skipped where it is missing."""

from __future__ import annotations

import os
import shutil

import pytest

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
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(20_000)
        # The first request of a live server also loads the app; on a busy 2-core machine that alone
        # has taken 20 s.
        page.set_default_navigation_timeout(60_000)
        yield page
        browser.close()
