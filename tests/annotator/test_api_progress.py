"""Issue 20, API parity: the dashboard, agreement (kappa per pair, alpha) and the active-learning overview."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import Item, Role
from annotator.selectors.agreement import project_agreement
from annotator.services.queue import annotation_submit, lease_item
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(project_with_roles, make_user):
    """Four items that two annotators both labelled: they agree on three."""
    project, users = project_with_roles
    admin = users[Role.ADMIN]
    sport, politics = (label_create(project=project, name=name, by=admin) for name in ("Sport", "Politics"))
    second = make_user("second_annotator")
    first = users[Role.ANNOTATOR]
    answers = [(sport, sport), (politics, politics), (sport, sport), (sport, politics)]
    for number, (a, b) in enumerate(answers):
        item = Item.objects.create(project=project, text=f"story {number}", content_hash=f"h{number}")
        item.required_annotations = 2
        item.save()
        for user, label in ((first, a), (second, b)):
            lease_item(item=item, user=user, now=timezone.now())
            annotation_submit(item=item, annotator=user, labels=[label])
    client = APIClient()
    client.force_authenticate(first)  # every member may read these, as the pages
    return project, client


def test_agreement_matches_the_dashboard(world):
    project, client = world
    response = client.get(reverse("api-agreement", kwargs={"project_id": project.pk}))
    assert response.status_code == 200
    body = response.json()
    expected = project_agreement(project=project)
    assert (body["overlap_items"], body["open_disagreements"]) == (4, 1)
    [pair] = body["pairs"]
    assert ({pair["annotator_a"], pair["annotator_b"]}, pair["items"]) == ({"annotator_user", "second_annotator"}, 4)
    assert pair["kappa"] == pytest.approx(expected.pairs[0].kappa)
    assert body["alpha"] == pytest.approx(expected.alpha)
    assert {row["label"]["path"] for row in body["per_label"]} == {"Sport", "Politics"}


def test_progress_counts_labels_people_and_the_pool(world):
    project, client = world
    body = client.get(reverse("api-progress", kwargs={"project_id": project.pk})).json()
    assert {row["label"]["path"]: row["items"] for row in body["label_counts"]} == {"Sport": 2, "Politics": 1}
    assert {row["username"]: row["total"] for row in body["activity"]["annotators"]} == {
        "annotator_user": 4,
        "second_annotator": 4,
    }
    assert len(body["activity"]["hours"]) == len(body["activity"]["annotators"][0]["hourly"]) == 24
    assert body["pool"] == {"items": 4, "open_items": 0, "unlabeled": 0, "flagged": 0}
    assert body["queue"] == {"score_run": None, "labels_since": 0}


def test_active_learning_overview(world):
    project, client = world
    body = client.get(reverse("api-active-learning", kwargs={"project_id": project.pk})).json()
    assert body["points"] == [] and body["jobs"] == [] and body["latest_run"] is None
    assert {row["name"]: row["labels"] for row in body["classes"]} == {"Sport": 2, "Politics": 1}
    assert body["classes"][0]["estimate"]["status"] == "too_few_points"
    assert body["stopping"]["stable"] is False
    assert body["target_f1"] == project.al_target_f1
