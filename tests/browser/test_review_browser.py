"""An expert settles disagreements and corrects an annotation in a real browser (Chromium through Playwright).

Two items the annotators disagree on (one of them hostile HTML, shown as text and never run) are
decided with one click each, htmx bringing the next; then a filtered review list, a correction in its
row with a note, and the row's history. The database must hold exactly what was clicked.
"""

from __future__ import annotations

import pytest

from annotator.models import Annotation, AnnotationSource, Role
from annotator.services.projects import member_set_role, project_create
from annotator.services.queue import annotation_submit
from annotator.services.taxonomy import label_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_TEXT = '<img src=x onerror="window.__xss = 1"> Parliament votes on the <b>budget</b> today'


@pytest.fixture
def desk(django_user_model):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    expert = django_user_model.objects.create_user("ada", password="pw-ada")
    project = project_create(name="News desk", created_by=admin)
    member_set_role(project=project, user=expert, role=Role.EXPERT)
    labels = {name: label_create(project=project, name=name, by=admin) for name in ("Sport", "Politics")}
    ann, bob = (django_user_model.objects.create_user(name) for name in ("ann", "bob"))
    items = [
        project.items.create(text=text, content_hash=str(n), required_annotations=2)
        for n, text in enumerate([XSS_TEXT, "A late goal decides the budget derby", "Cup final tonight"])
    ]
    for item, (ann_label, bob_label) in zip(
        items, [("Sport", "Politics"), ("Politics", "Sport"), ("Sport", "Sport")], strict=True
    ):
        annotation_submit(item=item, annotator=ann, labels=[labels[ann_label]])
        annotation_submit(item=item, annotator=bob, labels=[labels[bob_label]])
    return project, labels, items, ann


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def decision(item) -> list[str]:
    annotation = Annotation.objects.get(item=item, source=AnnotationSource.ADJUDICATED)
    return list(annotation.labels.values_list("name", flat=True))


def test_an_expert_adjudicates_and_corrects(page, live_server, desk):
    project, _labels, items, ann = desk
    log_in(page, live_server, "ada", "pw-ada")

    page.goto(f"{live_server.url}/projects/{project.pk}/adjudication/")
    panel = page.locator("#adjudication-panel")
    assert "2 disagreements waiting" in panel.inner_text()
    assert XSS_TEXT in page.locator(".adj-text").inner_text()  # shown as text...
    assert page.evaluate("window.__xss") is None  # ...and never run
    panel.get_by_role("button", name="Politics").click()
    page.wait_for_selector(f"text=Item #{items[1].pk}")
    assert f"Decided item {items[0].pk}." in panel.inner_text()
    page.locator("#adjudication-panel").get_by_role("button", name="Sport").click()
    page.wait_for_selector("text=No disagreement waits for a decision.")
    assert (decision(items[0]), decision(items[1])) == (["Politics"], ["Sport"])

    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    page.get_by_label("Annotator").select_option(label="ann")
    page.get_by_label("Label").select_option(label="Sport")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**annotator={ann.pk}**")
    assert "2 annotations" in page.content()
    annotation = Annotation.objects.get(item=items[2], annotator=ann)
    row = page.locator(f"#annotation-{annotation.pk}")
    row.locator("summary", has_text="Correct").click()
    row.get_by_label("Politics").check()
    row.get_by_label("Note").fill("no ball in sight")
    row.get_by_role("button", name="Save correction").click()
    page.wait_for_selector(f"#annotation-{annotation.pk} >> text=Corrected annotation {annotation.pk}.")
    row = page.locator(f"#annotation-{annotation.pk}")
    row.locator("summary", has_text="History (1)").click()
    assert "“no ball in sight”" in row.inner_text()
    assert list(annotation.labels.values_list("name", flat=True)) == ["Politics"]
    assert annotation.revisions.get().note == "no ball in sight"
