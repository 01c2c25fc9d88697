"""Issue 20, API parity: the review page's filters and correction, and adjudication, over the API."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.api.review import UNKNOWN_LABELS_ERROR
from annotator.models import Annotation, AnnotationSource, Role
from annotator.services.imports import ImportRequest, import_file
from annotator.services.queue import annotation_submit, lease_item, queue_skip
from annotator.services.review import NOT_COUNTED_ERROR
from annotator.services.taxonomy import label_archive, label_create

pytestmark = pytest.mark.django_db

ROWS = b"text,label\nThe striker scored twice,Sport\nThe budget passed,Politics\nA film about a band,\n"


@pytest.fixture
def world(project_with_roles, make_user):
    """Imported labels, and an item two annotators label differently (a disagreement), one of them flagged."""
    project, users = project_with_roles
    import_file(project=project, stream=io.BytesIO(ROWS), request=ImportRequest(filename="seed.csv"))
    item = project.items.get(text="A film about a band")
    item.required_annotations, item.is_open = 2, True
    item.save()
    sport, politics = project.labels.get(name="Sport"), project.labels.get(name="Politics")
    second = make_user("second_annotator")
    for user, label in ((users[Role.ANNOTATOR], sport), (second, politics)):
        lease_item(item=item, user=user, now=timezone.now())
        annotation_submit(item=item, annotator=user, labels=[label])
    expert = APIClient()
    expert.force_authenticate(users[Role.EXPERT])
    return project, users, item, expert


def _url(name: str, project, **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.pk, **kwargs})


def test_review_filters_as_on_the_page(world):
    """Issue 20: the review page's filters (annotator, source, disagreement, flagged) over the API."""
    project, users, item, expert = world
    url = _url("api-review-list", project)
    mine = expert.get(url, {"annotator": users[Role.ANNOTATOR].pk}).json()
    assert [(row["item"], row["annotator"]) for row in mine["results"]] == [(item.pk, "annotator_user")]
    imported = expert.get(url, {"source": "import"}).json()
    assert {row["text"] for row in imported["results"]} == {"The striker scored twice", "The budget passed"}
    disagreeing = expert.get(url, {"disagreement": "true"}).json()
    assert {row["annotator"] for row in disagreeing["results"]} == {"annotator_user", "second_annotator"}
    assert expert.get(url, {"flagged": "true"}).json()["count"] == 0
    other = project.items.get(text="The budget passed")
    lease_item(item=other, user=users[Role.EXPERT], now=timezone.now())
    queue_skip(item=other, user=users[Role.EXPERT], unclear=True, comment="two stories in one")
    flagged = expert.get(url, {"flagged": "true"}).json()["results"]
    assert [(row["text"], row["flags"][0]["comment"]) for row in flagged] == [
        ("The budget passed", "two stories in one")
    ]


@pytest.mark.parametrize(
    "query", [{"created_from": "yesterday"}, {"label": "abc"}, {"source": "oracle"}, {"annotator": "0"}]
)
def test_a_bad_filter_is_a_400(world, query):
    project, _users, _item, expert = world
    response = expert.get(_url("api-review-list", project), query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_correct_keeps_the_old_labels_in_the_history(world):
    project, _users, _item, expert = world
    annotation = Annotation.objects.get(item__text="The striker scored twice", source=AnnotationSource.IMPORT)
    politics = project.labels.get(name="Politics")
    url = _url("api-review-correct", project, annotation_id=annotation.pk)
    response = expert.post(url, {"labels": [politics.pk], "note": "a transfer budget"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert [chip["path"] for chip in body["annotation"]["labels"]] == ["Politics"]
    history = body["annotation"]["history"][0]
    assert ([c["path"] for c in history["before"]], history["note"], history["changed_by"]) == (
        ["Sport"],
        "a transfer budget",
        "expert_user",
    )
    again = expert.post(url, {"labels": [politics.pk]}, format="json")
    assert again.json()["changed"] is False


def test_correct_refuses_archived_unknown_and_uncounted(world):
    project, users, _item, expert = world
    annotation = Annotation.objects.get(item__text="The striker scored twice", source=AnnotationSource.IMPORT)
    old = label_archive(label=label_create(project=project, name="Old", by=users[Role.ADMIN]), by=users[Role.ADMIN])
    url = _url("api-review-correct", project, annotation_id=annotation.pk)
    response = expert.post(url, {"labels": [old.pk, 987654]}, format="json")
    assert response.status_code == 400
    assert response.json()["labels"] == [UNKNOWN_LABELS_ERROR.format(ids=f"{old.pk}, 987654")]
    assert list(annotation.labels.values_list("name", flat=True)) == ["Sport"]
    assert expert.post(url, {"labels": []}, format="json").status_code == 400
    suggestion = Annotation.objects.create(
        item=annotation.item, source=AnnotationSource.RULE, candidate_status="pending"
    )
    url = _url("api-review-correct", project, annotation_id=suggestion.pk)
    response = expert.post(url, {"labels": [project.labels.get(name="Sport").pk]}, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, NOT_COUNTED_ERROR)


def test_adjudication_queue_and_decision(world):
    """Issue 20: the queue of disagreements, both votes side by side, and the expert's decision."""
    project, _users, item, expert = world
    waiting = expert.get(_url("api-adjudication-list", project)).json()
    assert [case["item"] for case in waiting["results"]] == [item.pk]
    votes = {vote["who"]: [chip["path"] for chip in vote["labels"]] for vote in waiting["results"][0]["votes"]}
    assert votes == {"annotator_user": ["Sport"], "second_annotator": ["Politics"]}
    url = _url("api-adjudication-case", project, item_id=item.pk)
    response = expert.post(url, {"labels": [project.labels.get(name="Politics").pk], "note": "a band"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["next_item"] is None
    assert ([c["path"] for c in body["case"]["decision"]], body["case"]["decided_by"]) == (["Politics"], "expert_user")
    assert expert.get(_url("api-adjudication-list", project)).json()["count"] == 0
    decided = expert.get(_url("api-adjudication-list", project), {"status": "decided"}).json()
    assert [case["item"] for case in decided["results"]] == [item.pk]


def test_adjudication_refuses_bad_input(world):
    project, _users, item, expert = world
    url = _url("api-adjudication-case", project, item_id=item.pk)
    assert expert.post(url, {"labels": "Sport"}, format="json").status_code == 400
    two = [project.labels.get(name="Sport").pk, project.labels.get(name="Politics").pk]
    response = expert.post(url, {"labels": two}, format="json")  # a single-label project
    assert response.status_code == 400 and "detail" in response.json()
    assert expert.get(_url("api-adjudication-list", project), {"status": "later"}).status_code == 400
    assert expert.get(_url("api-adjudication-case", project, item_id=987654)).status_code == 404
    assert not Annotation.objects.filter(item=item, source=AnnotationSource.ADJUDICATED).exists()
