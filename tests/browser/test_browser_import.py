"""A real browser (Debian's Chromium through Playwright) logs in, imports a CSV and sees the items."""

from __future__ import annotations

import pytest

from annotator.services.projects import project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
