"""Finding 1: a submit (or skip, or binary decision) only for an item the queue gave that person.

Allowed: an item leased to the person (an expired lease too, while the item still has a free slot for
them), or their own earlier answer (undo / correct). Never the locked test split, never beyond the
item's overlap. Experts' review and adjudication write through their own services and keep working.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Lease,
    RequeuedItem,
    Role,
    SkippedItem,
)
from annotator.services import queue as queue_service
from annotator.services.candidates import candidate_confirm
from annotator.services.queue import annotation_submit, queue_next_item
from annotator.services.review import item_adjudicate
from annotator.services.taxonomy import label_split
from tests.security.queue_world import POOL_TEXTS, World, world_fixture  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_submit(world: World, user, item, label):
    url = reverse("api-queue-submit", kwargs={"project_id": world.project.pk, "item_id": item.pk})
    return api_client(user).post(url, {"labels": [label.pk]}, format="json")


def human_annotations(item) -> list[tuple[int, list[str]]]:
    rows = Annotation.objects.filter(item=item, source=AnnotationSource.HUMAN, candidate_status="")
    return [(a.annotator_id, sorted(a.labels.values_list("name", flat=True))) for a in rows]


def pending_suggestion(item, label) -> Annotation:
    pending = CandidateStatus.PENDING
    candidate = Annotation.objects.create(item=item, source=AnnotationSource.RULE, candidate_status=pending)
    AnnotationLabel.objects.create(annotation=candidate, label=label)
    return candidate


def expire_leases(world: World) -> None:
    Lease.objects.filter(item__project=world.project).update(expires_at=timezone.now() - dt.timedelta(minutes=1))


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.EXPERT, Role.ADMIN])
def test_nobody_submits_to_the_locked_test_split_through_the_queue(world: World, role):
    """Finding 1: the issue's `POST .../queue/items/<test item>/submit/` answered 201."""
    item = world.test_item()
    Lease.objects.create(item=item, user=world.users[role], expires_at=timezone.now() + dt.timedelta(minutes=5))
    response = api_submit(world, world.users[role], item, world.politics)
    assert response.status_code == 403
    assert response.json()["detail"] == queue_service.TEST_SPLIT_ERROR
    assert human_annotations(item) == []


def test_an_item_never_served_to_the_person_is_refused(world: World):
    """Finding 1: a pool item by id, never leased to this annotator: 409, nothing written."""
    item = world.pool()
    response = api_submit(world, world.users[Role.ANNOTATOR], item, world.sport)
    assert response.status_code == 409
    assert response.json()["detail"] == queue_service.NOT_LEASED_ERROR
    assert human_annotations(item) == []


def test_an_item_already_full_is_refused_even_with_an_old_lease(world: World):
    """Finding 1: the overlap is never exceeded: the colleague filled the only slot after the
    annotator's lease expired."""
    annotator, colleague = world.users[Role.ANNOTATOR], world.users["colleague"]
    item = queue_next_item(project=world.project, user=annotator)
    expire_leases(world)
    assert queue_next_item(project=world.project, user=colleague) == item
    assert api_submit(world, colleague, item, world.politics).status_code == 201
    response = api_submit(world, annotator, item, world.sport)
    assert response.status_code == 409
    assert response.json()["detail"] == queue_service.SLOTS_FULL_ERROR
    assert human_annotations(item) == [(colleague.pk, ["Politics"])]


def test_a_live_lease_of_someone_else_takes_the_slot_from_an_expired_one(world: World):
    """Finding 1: the annotator's lease expired and the colleague holds the item now: the colleague's turn."""
    annotator, colleague = world.users[Role.ANNOTATOR], world.users["colleague"]
    item = queue_next_item(project=world.project, user=annotator)
    expire_leases(world)
    assert queue_next_item(project=world.project, user=colleague) == item
    assert api_submit(world, annotator, item, world.sport).status_code == 409
    assert api_submit(world, colleague, item, world.politics).status_code == 201


def test_a_submit_after_the_lease_expired_is_kept_while_the_slot_is_free(world: World):
    """Finding 1 (documented behaviour kept): work is not thrown away when nobody else took the slot."""
    annotator = world.users[Role.ANNOTATOR]
    item = queue_next_item(project=world.project, user=annotator)
    expire_leases(world)
    assert api_submit(world, annotator, item, world.sport).status_code == 201
    assert human_annotations(item) == [(annotator.pk, ["Sport"])]
    assert not Lease.objects.filter(item=item).exists()


def test_the_persons_own_earlier_answer_can_be_corrected_without_a_lease(world: World):
    """Finding 1: undo / correct (U, queue/previous) revises the person's own annotation."""
    annotator = world.users[Role.ANNOTATOR]
    item = queue_next_item(project=world.project, user=annotator)
    assert api_submit(world, annotator, item, world.sport).status_code == 201
    assert api_submit(world, annotator, item, world.politics).status_code == 201
    assert human_annotations(item) == [(annotator.pk, ["Politics"])]
    # The page's undo opens it and its submit is accepted too.
    client = page_client(annotator)
    assert client.get(reverse("queue", args=[world.project.pk]), {"item": item.pk}).status_code == 200
    client.post(reverse("queue-submit", args=[world.project.pk, item.pk]), {"labels": [world.sport.pk]})
    assert human_annotations(item) == [(annotator.pk, ["Sport"])]


def test_items_requeued_after_a_split_stay_submittable_by_whoever_the_queue_serves(world: World):
    """Finding 1: a split's requeued item is full, yet the person it is served to may answer it."""
    annotator, colleague, admin = world.users[Role.ANNOTATOR], world.users["colleague"], world.users[Role.ADMIN]
    item = queue_next_item(project=world.project, user=annotator)
    assert api_submit(world, annotator, item, world.sport).status_code == 201
    label_split(label=world.sport, children=["Football", "Tennis"], by=admin)
    assert RequeuedItem.objects.filter(item=item, resolved_at__isnull=True).exists()
    assert queue_next_item(project=world.project, user=colleague) == item
    football = world.project.labels.get(name="Football")
    assert api_submit(world, colleague, item, football).status_code == 201
    assert not RequeuedItem.objects.filter(item=item, resolved_at__isnull=True).exists()


def test_the_page_refuses_items_that_are_not_the_persons(world: World):
    """Finding 1: `queue/?item=ID` opens only the person's own answers or their leased item; the page's
    submit follows the API's rules."""
    annotator = world.users[Role.ANNOTATOR]
    client = page_client(annotator)
    queue_url = reverse("queue", args=[world.project.pk])
    assert client.get(queue_url, {"item": world.test_item().pk}).status_code == 404
    assert client.get(queue_url, {"item": world.pool(POOL_TEXTS[1]).pk}).status_code == 404
    stranger = world.pool(POOL_TEXTS[2])
    response = client.post(reverse("queue-submit", args=[world.project.pk, stranger.pk]), {"labels": [world.sport.pk]})
    assert response.status_code == 409
    assert str(queue_service.NOT_LEASED_ERROR) in response.content.decode()
    test_submit = client.post(
        reverse("queue-submit", args=[world.project.pk, world.test_item().pk]), {"labels": [world.politics.pk]}
    )
    assert test_submit.status_code == 403
    assert human_annotations(stranger) == [] and human_annotations(world.test_item()) == []
    # Undo with an item that is not the person's as the cursor does not show that item either.
    undo = client.get(reverse("queue-undo", args=[world.project.pk]), {"before": world.test_item().pk})
    assert undo.status_code == 200 and world.test_item().text not in undo.content.decode()


def test_the_queue_never_serves_test_items(world: World):
    """Finding 1: an unlabeled test item stays out of the queue (it could not be submitted anyway)."""
    test_item = world.test_item()
    Annotation.objects.filter(item=test_item).delete()
    test_item.is_open = True
    test_item.save()
    served = {queue_next_item(project=world.project, user=world.users[r]) for r in (Role.ANNOTATOR, Role.EXPERT)}
    served |= {queue_next_item(project=world.project, user=world.users[r]) for r in (Role.ADMIN, "colleague")}
    assert test_item not in served


def test_binary_mode_accepts_only_the_items_it_served(world: World):
    """Finding 1: binary accept / reject / skip on an item by id, never served: refused, nothing written."""
    annotator = world.users[Role.ANNOTATOR]
    client = page_client(annotator)
    stranger = world.pool(POOL_TEXTS[2])
    for decision in ("accept", "reject", "skip"):
        url = reverse("queue-binary-decide", args=[world.project.pk, world.sport.pk, stranger.pk, decision])
        assert client.post(url).status_code == 409, decision
        test_item = world.test_item().pk
        test_url = reverse("queue-binary-decide", args=[world.project.pk, world.sport.pk, test_item, decision])
        assert client.post(test_url).status_code == 403, decision
    assert not Annotation.objects.filter(item=stranger).exists()
    assert not SkippedItem.objects.exists()
    assert human_annotations(world.test_item()) == []


def test_binary_mode_still_accepts_what_it_served(world: World):
    """Finding 1: the normal binary flow keeps working."""
    annotator = world.users[Role.ANNOTATOR]
    item = world.pool(POOL_TEXTS[1])
    item.suggested_label, item.suggestion_confidence = world.politics, 0.9
    item.save()
    client = page_client(annotator)
    page = client.get(reverse("queue-binary", args=[world.project.pk, world.politics.pk]))
    assert page.context["item"] == item
    client.post(reverse("queue-binary-decide", args=[world.project.pk, world.politics.pk, item.pk, "accept"]))
    assert human_annotations(item) == [(annotator.pk, ["Politics"])]


def test_skip_and_flag_only_for_the_persons_items(world: World):
    """Finding 1: skip / flag as unclear by id on an item that was never served: 409; on a test item: 403."""
    annotator = world.users[Role.ANNOTATOR]
    client = api_client(annotator)

    def skip(item):
        url = reverse("api-queue-skip", kwargs={"project_id": world.project.pk, "item_id": item.pk})
        return client.post(url, {"unclear": True, "comment": "??"}, format="json")

    assert skip(world.pool(POOL_TEXTS[2])).status_code == 409
    assert skip(world.test_item()).status_code == 403
    assert not SkippedItem.objects.exists()
    served = queue_next_item(project=world.project, user=annotator)
    assert skip(served).status_code == 200


def test_a_suggestion_is_accepted_only_while_its_item_has_a_free_slot(world: World):
    """Finding 1: accepting a rule's suggestion on an item someone already completed would exceed the overlap."""
    annotator, colleague = world.users[Role.ANNOTATOR], world.users["colleague"]
    item = world.pool(POOL_TEXTS[1])
    candidate = pending_suggestion(item, world.politics)
    annotation_submit(item=item, annotator=colleague, labels=[world.sport])  # a trusted service call
    Annotation.objects.filter(pk=candidate.pk).update(candidate_status=CandidateStatus.PENDING)
    url = reverse("api-candidate-accept", kwargs={"project_id": world.project.pk, "annotation_id": candidate.pk})
    response = api_client(annotator).post(url)
    assert response.status_code == 409
    assert response.json()["detail"] == queue_service.SLOTS_FULL_ERROR
    assert human_annotations(item) == [(colleague.pk, ["Sport"])]
    # On an item with a free slot it works as before.
    free = world.pool(POOL_TEXTS[2])
    other = pending_suggestion(free, world.politics)
    assert candidate_confirm(candidate=other, by=annotator) is not None
    assert human_annotations(free) == [(annotator.pk, ["Politics"])]


def test_experts_still_adjudicate_test_items(world: World):
    """Finding 1: adjudication is an expert action outside the queue; the test split stays correctable."""
    decision = item_adjudicate(item=world.test_item(), by=world.users[Role.EXPERT], labels=[world.politics])
    assert decision.source == AnnotationSource.ADJUDICATED


def test_binary_mode_never_offers_test_items(world: World):
    """Finding 1: a pending suggestion or a model guess on a test item is not served in binary mode."""
    test_item = world.test_item()
    pending_suggestion(test_item, world.politics)
    test_item.suggested_label, test_item.suggestion_confidence, test_item.is_open = world.politics, 0.99, True
    test_item.save()
    client = page_client(world.users[Role.ANNOTATOR])
    page = client.get(reverse("queue-binary", args=[world.project.pk, world.politics.pk]))
    assert page.context["item"] != test_item and test_item.text not in page.content.decode()
