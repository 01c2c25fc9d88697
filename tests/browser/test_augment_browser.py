"""An admin grows a scarce class in a real browser, on a real Celery worker: starts an augmentation job
from the page (the scarce class is ticked already), watches its card until the copies appear, reviews
them with the keyboard (J moves, X selects, A accepts the selected, R rejects the focused one, Shift+A
typed right after it accepts all shown), then trains a fast head with the accepted copies and reads on
the model page how it used them.

The project's backbone is the session's tiny random BERT, so the fast head trains in seconds on a CPU.
Screenshots at 1280 px for the lead: /tmp/augui_augment.png and /tmp/augui_model.png.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from annotator.models import AugmentedText, AugmentStatus, Job, JobStatus, ModelVersion
from tests.annotator.services.test_training import _news
from tests.browser.test_training_browser import log_in, watch_job

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT_SECONDS = 90
SCARCE_LEFT = 4  # Tech keeps 4 of its 12 training items: below the median (12), so it is ticked at first
FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


def _scarce_tech(project) -> None:
    _news(project)
    tech = project.items.filter(split="train", annotations__labels__name="Tech").order_by("id")
    project.items.filter(pk__in=list(tech.values_list("pk", flat=True)[SCARCE_LEFT:])).delete()


def _wait_for_the_card(page) -> str:
    """The augmentation job card's status once finished (the card polls itself)."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = page.locator("#augment-job-status .status").get_attribute("data-status")
        if status in FINISHED:
            return status
        page.wait_for_timeout(200)
    pytest.fail(f"the augmentation job did not finish within {JOB_TIMEOUT_SECONDS}s")


def test_an_admin_augments_reviews_with_the_keyboard_and_trains_with_the_copies(
    page, live_server, celery_worker, project_with_roles, allowed_tiny_backbone
):
    project, users = project_with_roles
    _scarce_tech(project)
    project.backbone = allowed_tiny_backbone
    project.save(update_fields=["backbone"])
    tech = project.labels.get(name="Tech")
    worker = celery_worker()
    admin = users["admin"]
    log_in(page, live_server, admin.username, "pw-" + admin.username)

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("nav.project-nav >> text=Augmentation")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/augment/")
    form = page.locator("#augment-start")
    expect(form.locator(f"input[name=classes][value='{tech.pk}']")).to_be_checked()  # the scarce class
    expect(form.locator(f"input[name=classes][value='{project.labels.get(name='Sport').pk}']")).not_to_be_checked()
    expect(form.locator("input[name=ops][value=mlm]")).to_be_disabled()  # a plug-in without a model
    for op in form.locator("input[name=ops]:enabled").all():  # two quick ops only: swap and delete
        op.set_checked(op.get_attribute("value") in ("swap", "delete"))
    form.locator("input[name=copies]").fill("2")
    form.locator("input[name=use_filter]").uncheck()
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/augment/")

    assert _wait_for_the_card(page) == JobStatus.SUCCEEDED, (
        f"{Job.objects.get(kind='augment').error}\n{worker.output()}"
    )
    written = AugmentedText.objects.filter(project=project).count()
    assert 4 <= written <= SCARCE_LEFT * 2  # two to accept, one to reject, the rest for Shift+A
    rows = page.locator("#augment-table tr.augment-row")
    expect(rows).to_have_count(written)  # the results part reloaded when the card saw the end
    expect(rows.first.locator("td.copy mark").first).to_be_visible()  # the changed words, marked
    pending = page.locator(f'[data-pending="{tech.pk}"]')
    if pending.inner_text().strip() != str(written):
        # Seen once in four SQLite runs before views.augment._page read the job first: a job that stored
        # its copies between the page's read of the counts and its read of the samples showed the rows
        # with 0 waiting and no poll to fix it. Kept as a guard: a reload is what a person would do.
        page.reload()
    expect(pending).to_have_text(str(written))
    page.screenshot(path="/tmp/augui_augment.png", full_page=True)

    # J focuses the first copy, X selects it, J moves on, X selects the second, A accepts both.
    first, second = (int(rows.nth(n).get_attribute("data-copy")) for n in (0, 1))
    for key in ("j", "x", "j", "x", "a"):
        page.keyboard.press(key)
    expect(page.locator("#augment-decided")).to_have_text("Accepted 2 copies.")
    assert set(AugmentedText.objects.filter(status=AugmentStatus.ACCEPTED).values_list("id", flat=True)) == {
        first,
        second,
    }
    expect(rows).to_have_count(written - 2)  # the pending filter: decided copies leave the list
    expect(page.locator(f'[data-after="{tech.pk}"]')).to_have_text(str(SCARCE_LEFT + 2))
    expect(rows.first).to_be_focused()  # on to the next copy not decided yet
    # R with nothing selected rejects the focused copy; Shift+A, typed at once while R's answer is on its
    # way, waits for it and then accepts every copy still shown (a fast typist's key is never lost).
    rejected = int(rows.first.get_attribute("data-copy"))
    page.keyboard.press("r")
    page.keyboard.press("Shift+A")
    rest = written - 3
    expect(page.locator("#augment-decided")).to_have_text(f"Accepted {rest} cop{'y' if rest == 1 else 'ies'}.")
    assert AugmentedText.objects.filter(status=AugmentStatus.ACCEPTED).count() == written - 1
    expect(page.locator(f'[data-after="{tech.pk}"]')).to_have_text(str(SCARCE_LEFT + written - 1))
    expect(page.locator("#augment-table")).to_contain_text("No copies here.")
    assert AugmentedText.objects.get(pk=rejected).status == AugmentStatus.REJECTED

    page.goto(f"{live_server.url}/projects/{project.pk}/models/")
    page.select_option("select[name=preset]", "fast_head")
    page.check("input[name=augmentation]")
    page.click("button:has-text('Start training')")
    page.wait_for_url(re.compile(rf"/projects/{project.pk}/jobs/\d+/$"))
    seen = watch_job(page)
    assert seen[-1] == (JobStatus.SUCCEEDED, 100), f"{seen}\n{worker.output()[-3000:]}"
    page.click("#job-model-link")
    version = ModelVersion.objects.get(project=project)
    assert version.params["augmentation"]["used"] is True and version.params["augmentation"]["copies"] == written - 1
    card = page.locator("#augmentation")
    expect(card).to_contain_text(f"Trained with {written - 1} accepted augmented copies")
    expect(card.locator("td", has_text="Tech")).to_be_visible()
    page.screenshot(path="/tmp/augui_model.png", full_page=True)
