"""Issue 22 in Chromium: a GBK CSV from Excel imports as it is, and a regex that cannot work on Chinese is saved
with a warning that shows while typing and after saving."""

from __future__ import annotations

import pytest

from annotator.models import Rule
from annotator.services.projects import project_create
from tests.browser.test_queue_keyboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_gbk_import_then_a_word_boundary_rule_warns(page, live_server, django_user_model, tmp_path):
    admin = django_user_model.objects.create_user("li", password="pw-li")
    project = project_create(name="评论", created_by=admin)
    project.language = "zh"
    project.save(update_fields=["language"])
    csv_file = tmp_path / "评论.csv"
    csv_file.write_bytes("text,label\n这个价格太贵了,负面\n物流很快，价格便宜,正面\n质量一般,负面\n".encode("gbk"))

    log_in(page, live_server, "li", "pw-li")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    page.set_input_files("input[name=file]", str(csv_file))  # encoding left at Detect
    page.click("button:has-text('Import')")
    page.wait_for_selector("#import-report")
    assert "3</strong> new items" in page.inner_html("#import-report")
    assert "gb18030" in page.inner_text("#import-report")
    assert sorted(project.items.values_list("text", flat=True)) == ["物流很快，价格便宜", "质量一般", "这个价格太贵了"]

    page.goto(f"{live_server.url}/projects/{project.pk}/rules/")
    page.fill("#rule-form input[name=name]", "价格")
    page.select_option("#rule-form select[name=kind]", "blacklist")
    page.check("#rule-form input[name=is_regex]")
    page.fill("#rule-form textarea[name=pattern]", r"\b价格\b")
    page.wait_for_selector("#rule-warnings")
    assert "Leave \\b out" in page.inner_text("#rule-warnings")
    assert "0 of 3 items match" in page.inner_text("#rule-matches")
    page.screenshot(path=str(tmp_path / "rule-warning.png"))

    page.click("#rule-form button[type=submit]")
    page.wait_for_selector(".flash.warning")
    assert "Leave \\b out" in page.inner_text(".flash.warning")
    assert Rule.objects.filter(name="价格").exists()
