"""An expert works through the noisy-label review queue with the keyboard in a real browser.

J focuses the first flag; K keeps, R relabels to the suggestion, X excludes, each swapping only that
row (htmx) and moving the focus to the next one; U undoes the exclusion. A hostile text is shown as
text. The database must hold exactly what was pressed.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.models import AnnotationSource, Exclusion, NoiseFlag, NoiseRun, NoiseStatus, Role
from annotator.services.projects import member_set_role, project_create
from annotator.services.queue import annotation_submit
from annotator.services.taxonomy import label_create
from tests.browser.test_review_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_TEXT = '<img src=x onerror="window.__xss = 1"> The derby ended 2-1 ' + "after extra time. " * 20


@pytest.fixture
def queue(django_user_model):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    expert = django_user_model.objects.create_user("ada", password="pw-ada")
    project = project_create(name="Noisy desk", created_by=admin)
    member_set_role(project=project, user=expert, role=Role.EXPERT)
    labels = {name: label_create(project=project, name=name, by=admin) for name in ("Sport", "Politics")}
    ann = django_user_model.objects.create_user("ann")
    run = NoiseRun.objects.create(project=project, encoder="test", n_items=3, n_flagged=3)
    flags = []
    for n, (text, score) in enumerate([(XSS_TEXT, 0.95), ("Cup final tonight", 0.9), ("Rain all week", 0.8)]):
        item = project.items.create(text=text, content_hash=str(n))
        annotation_submit(item=item, annotator=ann, labels=[labels["Politics"]])
        flags.append(
            NoiseFlag.objects.create(
                project=project,
                run=run,
                item=item,
                given_label=labels["Politics"],
                suggested_label=labels["Sport"],
                score=score,
                votes=2,
                detectors=["kfold", "deep_knn"],
            )
        )
    return project, labels, flags


def test_an_expert_keeps_relabels_and_excludes_with_the_keyboard(page, live_server, queue):
    project, labels, flags = queue
    log_in(page, live_server, "ada", "pw-ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/noise/")
    first, second, third = (page.locator(f"#flag-{flag.pk}") for flag in flags)
    assert "onerror" in first.inner_text() and page.evaluate("window.__xss") is None

    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == f"flag-{flags[0].pk}"
    page.keyboard.press("e")
    assert first.locator("details.expand").get_attribute("open") is not None
    page.keyboard.press("k")
    first.locator("text=Kept item").wait_for()
    expect(page.locator(f"#flag-{flags[1].pk}")).to_be_focused()  # not wait_for_function: the CSP forbids eval
    page.keyboard.press("r")
    second.locator("text=Relabeled item").wait_for()
    expect(page.locator(f"#flag-{flags[2].pk}")).to_be_focused()  # not wait_for_function: the CSP forbids eval
    page.keyboard.press("x")
    third.locator("text=Undo: back into training").wait_for()
    assert Exclusion.objects.get().item_id == flags[2].item_id

    statuses = dict(NoiseFlag.objects.values_list("pk", "status"))
    assert [statuses[flag.pk] for flag in flags] == [NoiseStatus.KEPT, NoiseStatus.RELABELED, NoiseStatus.EXCLUDED]
    decision = flags[1].item.annotations.get(source=AnnotationSource.ADJUDICATED)
    assert list(decision.labels.all()) == [labels["Sport"]]

    # The last row keeps the focus (htmx restores it even before the row settles; a key pressed that
    # early is kept and applied once it has): undo the exclusion.
    expect(page.locator(f"#flag-{flags[2].pk}")).to_be_focused()  # not wait_for_function: the CSP forbids eval
    page.keyboard.press("u")
    third.locator("text=Reopened").wait_for()
    assert not Exclusion.objects.exists() and NoiseFlag.objects.get(pk=flags[2].pk).status == NoiseStatus.OPEN


def test_a_key_typed_while_a_decision_is_in_flight_applies_to_the_next_row(page, live_server, queue):
    project, _labels, flags = queue
    log_in(page, live_server, "ada", "pw-ada")

    def slow(route):  # hold each decision half a second: the next key surely comes while it is in flight
        page.wait_for_timeout(500)
        route.continue_()

    page.route("**/noise/*/keep/", slow)
    page.goto(f"{live_server.url}/projects/{project.pk}/noise/")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("r")  # typed ahead: kept, then applied to the second row once the first settles
    page.locator(f"#flag-{flags[1].pk}").locator("text=Relabeled item").wait_for()
    statuses = dict(NoiseFlag.objects.values_list("pk", "status"))
    assert [statuses[flag.pk] for flag in flags] == [NoiseStatus.KEPT, NoiseStatus.RELABELED, NoiseStatus.OPEN]


def test_undo_works_from_the_next_row_after_an_exclusion(page, live_server, queue):
    """Issue 20, bug 7: after X the focus moves on, and U used to do nothing there (the Undo button sat
    on the decided row, reachable by the Excluded tab); now U undoes the last decision from any row."""
    project, _labels, flags = queue
    log_in(page, live_server, "ada", "pw-ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/noise/")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.locator(f"#flag-{flags[0].pk}").locator("text=Undo: back into training").wait_for()
    expect(page.locator(f"#flag-{flags[1].pk}")).to_be_focused()
    page.keyboard.press("u")
    page.locator(f"#flag-{flags[0].pk}").locator("text=Reopened").wait_for()
    assert not Exclusion.objects.exists()
    assert [f.status for f in NoiseFlag.objects.order_by("-score")] == [NoiseStatus.OPEN] * 3


def test_the_queue_refreshes_when_the_job_ends(page, live_server, queue, django_user_model):
    """Issue 20, bug 7: the list stayed as it was when the job finished; now the job's last status poll
    makes it reload (htmx, no inline script)."""
    from annotator.models import Job, JobStatus

    project, labels, flags = queue
    admin = django_user_model.objects.get(username="grace")
    job = Job.objects.create(project=project, kind="noise", status=JobStatus.RUNNING, created_by=admin, queue="cpu")
    log_in(page, live_server, "grace", "pw-grace")
    page.goto(f"{live_server.url}/projects/{project.pk}/noise/")
    expect(page.locator("tr.noise-row")).to_have_count(3)
    item = project.items.create(text="A late flag from the finished job", content_hash="late")
    late = NoiseFlag.objects.create(
        project=project, run=flags[0].run, item=item, given_label=labels["Politics"],
        suggested_label=labels["Sport"], score=0.99, votes=2, detectors=["kfold"],
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, progress=100, result={"noise_run": flags[0].run_id, "items": 4, "flagged": 4}
    )
    expect(page.locator(f"#flag-{late.pk}")).to_be_visible(timeout=15_000)
    expect(page.locator("tr.noise-row")).to_have_count(4)
