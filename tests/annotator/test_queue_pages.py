"""The annotation page's server side: htmx fragments, errors kept on the item, keys per label, API flow."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.importing.parsers import Record
from annotator.models import Annotation, Role, ScoreRun
from annotator.selectors.queue import label_keys
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import annotation_submit, lease_item
from annotator.services.rules import rule_create
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def desk(project_with_roles, client):
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    admin = users[Role.ADMIN]
    sport = label_create(project=project, name="Sport", by=admin)
    labels = {
        "Sport": sport,
        "Football": label_create(project=project, name="Football", parent=sport, by=admin, shortcut="b"),
        "Tennis": label_create(project=project, name="Tennis", parent=sport, by=admin),
        "Politics": label_create(project=project, name="Politics", by=admin),
    }
    texts = ["The striker scored twice", "Parliament met today", "x" * 2000]
    records = [Record(line=n, text=text, labels=(), meta={}) for n, text in enumerate(texts, 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    client.force_login(users[Role.ANNOTATOR])
    return project, users, labels, client


def test_keys_are_own_shortcuts_else_digits_by_position_among_siblings(desk):
    project, *_ = desk
    keys = {key.path: (key.key, key.has_children) for key in label_keys(project=project)}
    assert keys == {
        "Sport": ("1", True),
        "Sport > Football": ("b", False),
        "Sport > Tennis": ("1", False),
        "Politics": ("2", False),
    }


def test_submitting_answers_with_the_next_items_panel(desk):
    project, _, labels, client = desk
    page = client.get(reverse("queue", args=[project.pk]))
    first = page.context["entry"].item
    assert "Queue in random order" in page.content.decode()
    response = client.post(
        reverse("queue-submit", args=[project.pk, first.pk]), {"labels": [labels["Tennis"].pk]}, **HTMX
    )
    html = response.content.decode()
    assert html.startswith('<section id="queue-panel"') and "Saved." in html
    assert response.context["entry"].item != first
    assert list(Annotation.objects.get(item=first).labels.all()) == [labels["Tennis"]]


def test_a_submit_without_a_label_keeps_the_item_and_says_why(desk):
    project, _, _, client = desk
    first = client.get(reverse("queue", args=[project.pk])).context["entry"].item
    response = client.post(reverse("queue-submit", args=[project.pk, first.pk]), {}, **HTMX)
    assert response.context["entry"].item == first
    assert "Choose a label." in response.content.decode()
    assert not Annotation.objects.exists()


def test_long_texts_start_collapsed_and_rule_keywords_are_marked(desk):
    project, users, _, client = desk
    rule_create(project=project, name="parl", pattern="parliament", kind="blacklist", by=users[Role.ADMIN])
    item = project.items.get(text="Parliament met today")
    long_item = project.items.get(text="x" * 2000)
    for leased in (item, long_item):  # `?item=` opens only what the queue gave the person (or their answers)
        lease_item(item=leased, user=users[Role.ANNOTATOR], now=timezone.now())
    html = client.get(reverse("queue", args=[project.pk]), {"item": item.pk}).content.decode()
    assert "<mark>Parliament</mark> met today" in html
    html = client.get(reverse("queue", args=[project.pk]), {"item": long_item.pk}).content.decode()
    assert 'class="item-text collapsed"' in html and "Show all" in html


def test_undo_with_nothing_earlier_says_so(desk):
    project, _, _, client = desk
    html = client.get(reverse("queue-undo", args=[project.pk]), **HTMX).content.decode()
    assert "Nothing earlier to undo." in html


def test_the_loop_status_names_the_model_and_counts_labels_since(desk):
    project, users, labels, client = desk
    ScoreRun.objects.create(project=project, model_name="fast head v3", strategy="entropy")
    item = project.items.first()
    annotation_submit(item=item, annotator=users[Role.EXPERT], labels=[labels["Politics"]])
    html = client.get(reverse("queue", args=[project.pk])).content.decode()
    assert "Queue ordered by <strong>fast head v3</strong> (entropy), 1 label since then." in html


def test_the_api_flow_next_submit_previous_skip(desk):
    project, users, labels, _ = desk
    api = APIClient()
    api.force_authenticate(users[Role.ANNOTATOR])
    base = f"/api/projects/{project.pk}/queue"
    served = api.post(f"{base}/next/").json()["item"]
    assert api.post(f"{base}/next/").json()["item"]["id"] == served["id"]  # the lease holds it
    bad = api.post(f"{base}/items/{served['id']}/submit/", {"labels": [999999]}, format="json")
    assert bad.status_code == 400 and "Unknown label" in bad.json()["labels"][0]
    ok = api.post(f"{base}/items/{served['id']}/submit/", {"labels": [labels["Politics"].pk]}, format="json")
    assert ok.status_code == 201
    assert api.get(f"{base}/previous/").json()["item"]["mine"] == [labels["Politics"].pk]
    second = api.post(f"{base}/next/").json()["item"]
    assert second["id"] != served["id"]
    assert api.post(f"{base}/items/{second['id']}/skip/", {}, format="json").json() == {
        "item": second["id"],
        "unclear": False,
    }
    assert api.post(f"{base}/next/").json()["item"]["id"] not in (served["id"], second["id"])
