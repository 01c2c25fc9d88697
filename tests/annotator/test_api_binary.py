"""Issue 20, API parity: binary mode over the API, under the same checks as the page (issue 19)."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import Annotation, AnnotationSource, Lease, Role, SkippedItem, Split
from annotator.services.imports import ImportRequest, import_file
from annotator.services.queue import NOT_LEASED_ERROR, TEST_SPLIT_ERROR, lease_item

pytestmark = pytest.mark.django_db

ROWS = b"text\nThe striker scored twice\nThe budget passed\n"


@pytest.fixture
def world(project_with_roles):
    """Two pool items the model suggests Sport for (the first more confidently) and a test item."""
    project, users = project_with_roles
    import_file(project=project, stream=io.BytesIO(ROWS), request=ImportRequest(filename="pool.csv"))
    test_rows = b"text,label\nThe final went to penalties,Sport\n"
    import_file(
        project=project, stream=io.BytesIO(test_rows), request=ImportRequest(filename="t.csv", split=Split.TEST)
    )
    sport = project.labels.get(name="Sport")
    project.items.filter(text="The striker scored twice").update(suggested_label=sport, suggestion_confidence=0.9)
    project.items.filter(text="The budget passed").update(suggested_label=sport, suggestion_confidence=0.4)
    project.items.filter(split=Split.TEST).update(suggested_label=sport, suggestion_confidence=0.99, is_open=True)
    client = APIClient()
    client.force_authenticate(users[Role.ANNOTATOR])
    return project, users[Role.ANNOTATOR], sport, client


def _url(name: str, project, label, item=None) -> str:
    kwargs = {"project_id": project.pk, "label_id": label.pk}
    if item is not None:
        kwargs["item_id"] = item.pk
    return reverse(name, kwargs=kwargs)


def test_next_serves_the_most_confident_candidate_and_never_the_test_split(world):
    """Issue 20: binary mode's next candidate over the API, leased to the caller."""
    project, annotator, sport, client = world
    response = client.post(_url("api-binary-next", project, sport))
    assert response.status_code == 200
    assert response.json()["item"]["text"] == "The striker scored twice"
    assert Lease.objects.filter(user=annotator, item__text="The striker scored twice").exists()


def test_accept_answers_the_next_candidate(world):
    project, annotator, sport, client = world
    first = client.post(_url("api-binary-next", project, sport)).json()["item"]
    item = project.items.get(pk=first["id"])
    response = client.post(_url("api-binary-accept", project, sport, item))
    assert response.status_code == 200, response.json()
    assert (response.json()["decided"], response.json()["next"]["text"]) == (item.pk, "The budget passed")
    annotation = Annotation.objects.get(item=item, annotator=annotator, source=AnnotationSource.HUMAN)
    assert list(annotation.labels.values_list("name", flat=True)) == ["Sport"]


@pytest.mark.parametrize("decision", ["accept", "reject", "skip"])
def test_an_item_never_served_is_409_and_changes_nothing(world, decision: str):
    """Issue 20 (with issue 19's `queue_answer_check`): no decision on an item binary mode did not lease."""
    project, annotator, sport, client = world
    item = project.items.get(text="The budget passed")
    response = client.post(_url(f"api-binary-{decision}", project, sport, item))
    assert (response.status_code, response.json()["detail"]) == (409, NOT_LEASED_ERROR)
    assert not Annotation.objects.filter(item=item, annotator=annotator).exists()
    assert not SkippedItem.objects.filter(item=item).exists()


@pytest.mark.parametrize("decision", ["accept", "reject", "skip"])
def test_the_test_split_is_403_even_with_a_lease(world, decision: str):
    project, annotator, sport, client = world
    item = project.items.get(split=Split.TEST)
    lease_item(item=item, user=annotator, now=timezone.now())
    response = client.post(_url(f"api-binary-{decision}", project, sport, item))
    assert (response.status_code, response.json()["detail"]) == (403, TEST_SPLIT_ERROR)
    assert not Annotation.objects.filter(item=item, annotator=annotator).exists()


def test_an_archived_or_foreign_label_is_404(world, make_user):
    project, _annotator, _sport, client = world
    response = client.post(reverse("api-binary-next", kwargs={"project_id": project.pk, "label_id": 987654}))
    assert response.status_code == 404
