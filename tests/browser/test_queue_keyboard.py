"""An annotator labels with the keyboard only, in a real browser (Debian's Chromium through Playwright).

Items labelled with digit keys (some inside a branch of the tree), a skip, an undo that changes an
earlier answer, a flag with a comment, the help dialog, keys typed ahead while the next item loads;
then binary mode with A, X and space. The database must end up holding exactly what was typed.
"""

from __future__ import annotations

import pytest

from annotator.importing.parsers import Record
from annotator.models import Annotation, AnnotationLabel, AnnotationSource, CandidateStatus, Role, SkippedItem
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import member_set_role, project_create
from annotator.services.scoring import ItemScore, score_run_store
from annotator.services.taxonomy import label_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_TEXT = '<img src=x onerror="window.__xss = 1"> Parliament votes on the <b>budget</b> today'


@pytest.fixture
def desk(django_user_model):
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    annotator = django_user_model.objects.create_user("lin", password="pw-lin")
    project = project_create(name="News desk", created_by=admin)
    project.overlap_fraction = 0
    project.save()
    member_set_role(project=project, user=annotator, role=Role.ANNOTATOR)
    sport = label_create(project=project, name="Sport", by=admin)
    labels = {
        "Sport": sport,
        "Football": label_create(project=project, name="Football", parent=sport, by=admin),
        "Tennis": label_create(project=project, name="Tennis", parent=sport, by=admin),
        "Politics": label_create(project=project, name="Politics", by=admin),
        "Tech": label_create(project=project, name="Tech", by=admin),
    }
    texts = [XSS_TEXT] + [f"news story number {n}" for n in range(2, 10)]
    records = [Record(line=n, text=text, labels=(), meta={}) for n, text in enumerate(texts, 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    items = list(project.items.order_by("id"))
    # A model ordered the queue: the items come in import order.
    scores = [ItemScore(item.pk, priority=-n) for n, item in enumerate(items)]
    score_run_store(project=project, model_name="fast head v2", strategy="entropy", scores=scores, labels_used=0)
    return project, annotator, labels, items


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.focus("input[name=username]")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def shows(page, item) -> None:
    """Wait until the item's panel is on the page and its keys are wired up."""
    page.wait_for_selector(f"#queue-panel[data-item='{item.pk}'][data-ready]")


def press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def labels_of(project, item, user) -> list[str]:
    annotation = Annotation.objects.get(item=item, annotator=user, candidate_status="")
    return sorted(annotation.labels.values_list("name", flat=True))


def test_five_items_labelled_with_the_keyboard_only(page, live_server, desk):
    project, annotator, labels, items = desk
    log_in(page, live_server, "lin", "pw-lin")
    page.goto(f"{live_server.url}/projects/{project.pk}/queue/")
    assert "Queue ordered by fast head v2" in page.locator("#loop-status").inner_text()

    shows(page, items[0])  # its HTML is shown as text, never run
    assert "<img src=x" in page.locator("#item-text").inner_text()
    assert page.evaluate("window.__xss") is None
    press(page, "2", "Enter")  # Politics

    shows(page, items[1])
    press(page, "1")  # Sport: opens its branch
    assert page.locator(".label-key:visible .name").all_inner_texts() == ["Football", "Tennis"]
    press(page, "Backspace")
    assert page.locator(".label-key:visible .name").all_inner_texts() == ["Sport", "Politics", "Tech"]
    press(page, "1", "2", "Enter")  # Sport > Tennis

    shows(page, items[2])
    press(page, "s")  # skip

    shows(page, items[3])
    press(page, "3", "Enter")  # Tech ...

    shows(page, items[4])
    press(page, "u")  # ... undone: back to it, the earlier answer selected
    shows(page, items[3])
    assert page.locator(".label-key.selected .name").all_inner_texts() == ["Tech"]
    press(page, "2", "Enter")  # now Politics; the held item comes back

    shows(page, items[4])
    press(page, "f")
    page.keyboard.type("Is this satire?")
    press(page, "Enter")  # flag with a comment

    shows(page, items[5])
    press(page, "?")
    page.wait_for_selector("#queue-help[open]")
    press(page, "Escape")
    page.wait_for_selector("#queue-help:not([open])", state="attached")
    press(page, "1", "1", "Enter")  # Sport > Football

    shows(page, items[6])
    press(page, "3", "Enter")  # Tech
    shows(page, items[7])
    press(page, "3", "Enter", "1", "2", "Enter")  # typed ahead, without waiting: nothing is lost
    page.wait_for_selector("text=Nothing left to label right now")

    assert labels_of(project, items[0], annotator) == ["Politics"]
    assert labels_of(project, items[1], annotator) == ["Tennis"]
    assert labels_of(project, items[3], annotator) == ["Politics"]
    assert labels_of(project, items[5], annotator) == ["Football"]
    assert labels_of(project, items[6], annotator) == ["Tech"]
    assert labels_of(project, items[7], annotator) == ["Tech"]
    assert labels_of(project, items[8], annotator) == ["Tennis"]
    assert Annotation.objects.filter(annotator=annotator).count() == 7
    revision = Annotation.objects.get(item=items[3], annotator=annotator).revisions.get()
    assert (revision.labels_before, revision.labels_after) == ([labels["Tech"].pk], [labels["Politics"].pk])
    skips = {skip.item_id: (skip.unclear, skip.comment) for skip in SkippedItem.objects.filter(user=annotator)}
    assert skips == {items[2].pk: (False, ""), items[4].pk: (True, "Is this satire?")}


def suggest(item, label, source=AnnotationSource.RULE) -> Annotation:
    candidate = Annotation.objects.create(item=item, source=source, candidate_status=CandidateStatus.PENDING)
    AnnotationLabel.objects.create(annotation=candidate, label=label)
    return candidate


def test_binary_mode_clears_suggestions_with_a_x_and_space(page, live_server, desk):
    project, annotator, labels, items = desk
    tech = labels["Tech"]
    accepted, rejected = suggest(items[1], tech), suggest(items[2], tech, AnnotationSource.CLUSTER)
    score_run_store(
        project=project,
        model_name="fast head v3",
        strategy="entropy",
        scores=[ItemScore(items[3].pk, priority=1.0, suggested_label_id=tech.pk, confidence=0.8)],
        labels_used=0,
    )
    log_in(page, live_server, "lin", "pw-lin")
    page.goto(f"{live_server.url}/projects/{project.pk}/queue/binary/{tech.pk}/")

    shows(page, items[1])
    press(page, "a")
    shows(page, items[2])
    press(page, "x")
    shows(page, items[3])  # the model's guess comes after the suggestions
    assert "80% sure" in page.locator("#queue-panel").inner_text()
    press(page, " ")
    page.wait_for_selector("text=Nothing left to decide for “Tech”")

    assert labels_of(project, items[1], annotator) == ["Tech"]
    accepted.refresh_from_db()
    rejected.refresh_from_db()
    assert (accepted.candidate_status, rejected.candidate_status) == ("confirmed", "rejected")
    assert SkippedItem.objects.filter(user=annotator, item=items[3]).exists()
    assert not Annotation.objects.filter(item=items[3], annotator=annotator).exists()
