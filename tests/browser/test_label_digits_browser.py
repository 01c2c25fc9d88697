"""Issue 20, bug 1 in Chromium: a label added while people annotate leaves the others' digits alone."""

from __future__ import annotations

import pytest

from annotator.importing.parsers import Record
from annotator.models import Role
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import member_set_role, project_create
from annotator.services.scoring import ItemScore, score_run_store
from annotator.services.taxonomy import label_create
from tests.browser.test_queue_keyboard import labels_of, log_in, press, shows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_old_digit_still_selects_the_old_label_after_an_import_adds_one(page, live_server, django_user_model):
    """Issue 20, bug 1: Sport was 4, an import added Science, and 4 then Enter saved Science."""
    admin = django_user_model.objects.create_user("grace", password="pw-grace")
    annotator = django_user_model.objects.create_user("lin", password="pw-lin")
    project = project_create(name="News desk", created_by=admin)
    project.overlap_fraction = 0
    project.save()
    member_set_role(project=project, user=annotator, role=Role.ANNOTATOR)
    for name in ("World", "Politics", "Business", "Sport"):
        label_create(project=project, name=name, by=admin)
    records = [Record(line=n, text=f"match report number {n}", labels=(), meta={}) for n in range(1, 4)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    items = list(project.items.order_by("id"))
    score_run_store(
        project=project,
        model_name="fast head v1",
        strategy="entropy",
        scores=[ItemScore(item.pk, priority=-n) for n, item in enumerate(items)],
        labels_used=0,
    )

    log_in(page, live_server, "lin", "pw-lin")
    page.goto(f"{live_server.url}/projects/{project.pk}/queue/")
    shows(page, items[0])
    press(page, "4", "Enter")
    shows(page, items[1])
    assert labels_of(project, items[0], annotator) == ["Sport"]

    # An admin imports a file with a new label, "Science", which sorts before "Sport".
    science = [Record(line=1, text="A new telescope sees further", labels=("Science",), meta={})]
    import_parsed(project=project, records=science, split="auto", report=ImportReport(format="test"))
    page.reload()
    shows(page, items[1])
    assert page.locator(".label-key[data-key='5'] .name").inner_text() == "Science"
    press(page, "4", "Enter")
    shows(page, items[2])
    assert labels_of(project, items[1], annotator) == ["Sport"]
