"""Finding 2: annotators never read the answer key or colleagues' answers; experts and admins see all.

The role matrix (`tests/annotator/test_role_matrix.py: test_fields_each_role_sees`) walks every URL
that shows items; these tests pin the rules themselves: the configurable hidden meta keys, the test
split closed to annotators, and labels limited to the person's own.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import Lease, Role
from annotator.selectors.visibility import TEST_SPLIT_HIDDEN_ERROR
from annotator.services.demo import GOLD_LABEL_KEY, demo_project_load
from annotator.services.projects import member_set_role, project_create
from annotator.services.queue import annotation_submit
from tests.security.queue_world import POOL_TEXTS, TEST_TEXT, World, world_fixture  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def api_get(world: World, role, name: str, query: dict | None = None, method: str = "get"):
    client = APIClient()
    client.force_authenticate(world.users[role])
    url = reverse(name, kwargs={"project_id": world.project.pk})
    return getattr(client, method)(url, query or {})


def items_by_text(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {row["text"]: row for row in response.json()["results"]}


def test_new_projects_hide_gold_labels_from_annotators(make_user):
    """Finding 2: the default hidden meta key is the demo's answer key."""
    project = project_create(name="Fresh", created_by=make_user("creator"))
    assert project.hidden_meta_fields == ["gold_label"]


def test_queue_next_hides_the_gold_label_but_keeps_other_meta(world: World):
    """Finding 2: the issue's `queue/next/` returned `meta.gold_label` to an annotator."""
    served = api_get(world, Role.ANNOTATOR, "api-queue-next", method="post").json()["item"]
    assert served["meta"] == {"source": "wire"}
    assert api_get(world, Role.EXPERT, "api-queue-next", method="post").json()["item"]["meta"]["gold_label"] == "Sport"


def test_the_hidden_meta_keys_are_a_project_setting(world: World):
    """Finding 2: a project may hide other keys (and show the gold label, for a training round)."""
    world.project.hidden_meta_fields = ["source"]
    world.project.save()
    rows = items_by_text(api_get(world, Role.ANNOTATOR, "api-item-list"))
    assert rows[POOL_TEXTS[0]]["meta"] == {"gold_label": "Sport"}


def test_annotators_cannot_list_the_test_split(world: World):
    """Finding 2: `/items/?split=test` showed annotators the test items and their gold labels."""
    refused = api_get(world, Role.ANNOTATOR, "api-item-list", {"split": "test"})
    assert (refused.status_code, refused.json()["detail"]) == (403, TEST_SPLIT_HIDDEN_ERROR)
    assert TEST_TEXT not in items_by_text(api_get(world, Role.ANNOTATOR, "api-item-list"))
    assert TEST_TEXT not in items_by_text(api_get(world, Role.ANNOTATOR, "api-item-list", {"search": "penalties"}))
    page = Client()
    page.force_login(world.users[Role.ANNOTATOR])
    assert page.get(reverse("item-list", args=[world.project.pk]), {"split": "test"}).status_code == 403
    html = page.get(reverse("item-list", args=[world.project.pk])).content.decode()
    assert TEST_TEXT not in html and 'value="test"' not in html
    expert = items_by_text(api_get(world, Role.EXPERT, "api-item-list", {"split": "test"}))
    assert expert[TEST_TEXT]["labels"] == ["Sport"] and expert[TEST_TEXT]["meta"] == {"gold_label": "Sport"}


def test_annotators_see_only_their_own_labels(world: World):
    """Finding 2: the items API listed every annotator's labels."""
    item = world.pool()
    world.project.overlap_annotators = 2
    item.required_annotations = 2
    item.save()
    annotation_submit(item=item, annotator=world.users["colleague"], labels=[world.politics])
    Lease.objects.create(
        item=item, user=world.users[Role.ANNOTATOR], expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    assert items_by_text(api_get(world, Role.ANNOTATOR, "api-item-list"))[item.text]["labels"] == []
    annotation_submit(item=item, annotator=world.users[Role.ANNOTATOR], labels=[world.sport])
    assert items_by_text(api_get(world, Role.ANNOTATOR, "api-item-list"))[item.text]["labels"] == ["Sport"]
    assert items_by_text(api_get(world, Role.ADMIN, "api-item-list"))[item.text]["labels"] == ["Politics", "Sport"]


def test_the_demo_project_hides_its_answer_key_from_annotators(make_user):
    """Finding 2: the demo keeps each pool article's gold label in meta; annotators never get it."""
    admin, annotator = make_user("demo_admin"), make_user("demo_annotator")
    project, _created = demo_project_load(admin=admin)
    member_set_role(project=project, user=annotator, role=Role.ANNOTATOR)
    assert project.hidden_meta_fields == [GOLD_LABEL_KEY]
    client = APIClient()
    client.force_authenticate(annotator)
    served = client.post(reverse("api-queue-next", kwargs={"project_id": project.pk})).json()["item"]
    assert served["meta"] and GOLD_LABEL_KEY not in served["meta"]
    listed = client.get(reverse("api-item-list", kwargs={"project_id": project.pk})).json()["results"]
    assert all(GOLD_LABEL_KEY not in row["meta"] and row["split"] != "test" for row in listed)
