"""Assignment: leases, overlap, never serving someone the same item twice, and ten people at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from annotator.importing.parsers import Record
from annotator.models import Annotation, AnnotationRevision, Lease, Role, TaskType
from annotator.services import taxonomy
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import member_set_role
from annotator.services.queue import annotation_submit, queue_next_item, required_annotations_for


def _fill(project, n: int) -> None:
    records = [Record(line=i, text=f"item text number {i}", labels=(), meta={}) for i in range(1, n + 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    label = taxonomy.label_create(project=project, name="A", by=users["admin"])
    return project, users, label


@pytest.mark.django_db
def test_overlap_share_is_close_to_the_setting(project_with_roles):
    project, _ = project_with_roles
    project.overlap_fraction, project.overlap_annotators = 0.25, 3
    _fill(project, 400)
    required = Counter(project.items.values_list("required_annotations", flat=True))
    assert set(required) == {1, 3}
    assert 0.18 < required[3] / 400 < 0.32
    assert required_annotations_for(content_hash="0" * 64, project=project) == 3


@pytest.mark.django_db
def test_next_item_is_leased_resumed_and_released_on_submit(setup):
    project, users, label = setup
    _fill(project, 3)
    annotator = users[Role.ANNOTATOR]
    first = queue_next_item(project=project, user=annotator)
    assert Lease.objects.filter(item=first, user=annotator).exists()
    assert queue_next_item(project=project, user=annotator) == first  # a reload serves the same item
    annotation_submit(item=first, annotator=annotator, labels=[label])
    assert not Lease.objects.exists()
    assert queue_next_item(project=project, user=annotator) != first


@pytest.mark.django_db
def test_a_leased_item_is_not_served_to_someone_else_until_the_lease_expires(setup):
    project, users, _ = setup
    project.overlap_fraction = 0
    _fill(project, 1)
    taken = queue_next_item(project=project, user=users[Role.ANNOTATOR])
    assert queue_next_item(project=project, user=users[Role.EXPERT]) is None
    later = timezone.now() + dt.timedelta(minutes=project.lease_minutes + 1)
    assert queue_next_item(project=project, user=users[Role.EXPERT], now=later) == taken


@pytest.mark.django_db
def test_a_second_submit_revises_and_keeps_history(setup):
    project, users, label = setup
    other = taxonomy.label_create(project=project, name="B", by=users["admin"])
    _fill(project, 1)
    item = project.items.get()
    first = annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[label])
    again = annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[other])
    assert first.pk == again.pk
    assert [lbl.name for lbl in again.labels.all()] == ["B"]
    assert AnnotationRevision.objects.get(annotation=again).labels_before == [label.pk]


@pytest.mark.django_db
def test_submit_checks_the_labels(setup):
    project, users, label = setup
    other = taxonomy.label_create(project=project, name="B", by=users["admin"])
    _fill(project, 1)
    item = project.items.get()
    with pytest.raises(ValidationError, match="single-label"):
        annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[label, other])
    with pytest.raises(ValidationError, match="Choose a label"):
        annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[])
    taxonomy.label_archive(label=other, by=users["admin"])
    with pytest.raises(ValidationError, match="archived"):
        annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[other])


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_annotators_get_no_double_assignment_and_lose_nothing(project_with_roles, make_user):
    """Ten threads, each its own database connection, label until the queue is empty."""
    project, users = project_with_roles
    project.task_type = TaskType.MULTI_LABEL
    project.overlap_fraction, project.overlap_annotators = 0.3, 2
    project.save()
    label = taxonomy.label_create(project=project, name="A", by=users["admin"])
    _fill(project, 80)
    annotators = [make_user(f"concurrent{n}") for n in range(10)]
    for person in annotators:
        member_set_role(project=project, user=person, role=Role.ANNOTATOR)
    submitted: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(person) -> None:
        try:
            while (item := queue_next_item(project=project, user=person)) is not None:
                annotation_submit(item=item, annotator=person, labels=[label])
                with lock:
                    submitted.append((item.pk, person.pk))
        except BaseException as error:  # reported below: a thread's exception would vanish otherwise
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(person,)) for person in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(set(submitted)) == len(submitted), "someone was served the same item twice"
    stored = Counter(Annotation.objects.filter(item__project=project).values_list("item_id", flat=True))
    assert sum(stored.values()) == len(submitted), "an annotation was lost"
    required = dict(project.items.values_list("id", "required_annotations"))
    over = {pk: n for pk, n in stored.items() if n > required[pk]}
    assert not over, f"items given to more annotators than their overlap allows: {over}"
    assert stored == Counter(required), "every item got exactly the annotations it needs"
    assert not Lease.objects.exists()
