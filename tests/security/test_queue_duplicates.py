"""Finding 3: one counted answer per person and item, in the database and under concurrent submits.

The issue's reproduction: on PostgreSQL, 5 identical concurrent submits per item left 24 of 30 items
with 2-3 annotations by the same user. These tests run real threads, each with its own database
connection, on whichever database the suite runs on (SQLite by default; PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.importing.parsers import Record
from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Role,
)
from annotator.services import queue as queue_service
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import lease_item
from annotator.services.taxonomy import label_create

SUBMITS_PER_ITEM = 5
ITEMS = 6


def _project_with_items(project_with_roles, n: int):
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    label = label_create(project=project, name="Sport", by=users[Role.ADMIN])
    records = [Record(line=i, text=f"concurrent item {i}", labels=(), meta={}) for i in range(1, n + 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    return project, users, label


@pytest.mark.django_db(transaction=True)
def test_five_identical_concurrent_submits_leave_one_annotation(project_with_roles):
    """Finding 3: 5 threads submit the same labels for the same item as the same user at once, for
    several items: each item ends with exactly one annotation by that user, and every request
    answers success with that same annotation (never a 500 or an IntegrityError)."""
    project, users, label = _project_with_items(project_with_roles, ITEMS)
    annotator = users[Role.ANNOTATOR]
    items = list(project.items.all())
    for item in items:
        lease_item(item=item, user=annotator, now=timezone.now())
    answers: list[tuple[int, int, object]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(SUBMITS_PER_ITEM)

    def submit(item_id: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(annotator)
            url = reverse("api-queue-submit", kwargs={"project_id": project.pk, "item_id": item_id})
            start.wait(timeout=30)
            response = client.post(url, {"labels": [label.pk]}, format="json")
            with lock:
                answers.append((item_id, response.status_code, response.json()))
        except BaseException as error:  # reported below: a thread's exception would vanish otherwise
            errors.append(error)
        finally:
            connection.close()

    for item in items:
        threads = [threading.Thread(target=submit, args=(item.pk,)) for _ in range(SUBMITS_PER_ITEM)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert len(answers) == ITEMS * SUBMITS_PER_ITEM
    assert {status for _, status, _ in answers} == {201}, answers
    per_item = Counter(
        Annotation.objects.filter(
            item__project=project, annotator=annotator, source=AnnotationSource.HUMAN
        ).values_list("item_id", flat=True)
    )
    assert per_item == Counter({item.pk: 1 for item in items}), "duplicate annotations by one person"
    stored = dict(Annotation.objects.filter(item__project=project).values_list("item_id", "id"))
    assert all(body["annotation"] == stored[item_id] for item_id, _, body in answers)
    assert not project.items.filter(is_open=True).exists()


@pytest.mark.django_db
def test_the_database_refuses_a_second_counted_answer_by_the_same_person(project_with_roles):
    """Finding 3: the unique constraint is partial: suggestions, rejected model guesses, adjudications and
    imports share the table and still store as before."""
    project, users, label = _project_with_items(project_with_roles, 1)
    item, expert = project.items.get(), users[Role.EXPERT]
    Annotation.objects.create(item=item, annotator=expert, source=AnnotationSource.HUMAN)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(item=item, annotator=expert, source=AnnotationSource.HUMAN)
    # Other kinds of rows by the same person on the same item keep working.
    confirmed = CandidateStatus.CONFIRMED
    for source, status in (
        (AnnotationSource.RULE, confirmed),
        (AnnotationSource.CLUSTER, confirmed),
        (AnnotationSource.PSEUDO, CandidateStatus.REJECTED),
        (AnnotationSource.PSEUDO, CandidateStatus.REJECTED),
        (AnnotationSource.ADJUDICATED, ""),
        (AnnotationSource.HUMAN, CandidateStatus.REJECTED),
    ):
        extra = Annotation.objects.create(item=item, annotator=expert, source=source, candidate_status=status)
        AnnotationLabel.objects.create(annotation=extra, label=label)
    Annotation.objects.create(item=item, source=AnnotationSource.IMPORT)
    Annotation.objects.create(item=item, source=AnnotationSource.IMPORT)
    Annotation.objects.create(item=item, annotator=users[Role.ANNOTATOR], source=AnnotationSource.HUMAN)


@pytest.mark.django_db(transaction=True)
def test_the_migration_folds_existing_duplicates_and_keeps_the_latest_answer():
    """Finding 3: duplicates stored before the constraint are folded into the person's latest answer;
    the others' labels stay as revisions of it and the final label is the latest one."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("annotator")
    executor.migrate([BEFORE_CONSTRAINT])
    old = executor.loader.project_state([BEFORE_CONSTRAINT]).apps
    try:
        ids = _old_duplicates(old)
        executor = MigrationExecutor(connection)
        executor.migrate([AFTER_CONSTRAINT])
        new = executor.loader.project_state([AFTER_CONSTRAINT]).apps
        Annotation, Item = new.get_model("annotator", "Annotation"), new.get_model("annotator", "Item")
        Revision = new.get_model("annotator", "AnnotationRevision")
        mine = Annotation.objects.filter(item_id=ids["item"], annotator_id=ids["user"], source="human")
        kept = mine.get()
        assert kept.pk == ids["latest"]
        assert list(kept.label_links.values_list("label_id", flat=True)) == [ids["politics"]]
        folded = Revision.objects.filter(annotation=kept, note__startswith="Folded duplicate")
        assert sorted(r.labels_before for r in folded) == [[ids["sport"]], [ids["sport"]], [ids["sport"]]]
        assert Revision.objects.filter(annotation=kept, note="the earlier one's history").exists()
        # The other person's answer and the suggestion are untouched; the item is closed as before.
        assert Annotation.objects.filter(item_id=ids["item"]).count() == 3
        assert Item.objects.get(pk=ids["item"]).is_open is False
        assert Item.objects.get(pk=ids["other_item"]).is_open is True  # its duplicate filled 2 of 2 slots
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)


BEFORE_CONSTRAINT = ("annotator", "0009_prod_invitations")
AFTER_CONSTRAINT = ("annotator", "0010_queue_one_answer_per_person")


def _old_duplicates(apps) -> dict[str, int]:
    """Rows as the unconstrained schema let PostgreSQL store them: one person's answer three times on
    an item that wants two (the other person's answer fills the second slot), twice on an item that
    wants two (so it looked full), plus a confirmed suggestion they checked."""
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Project, Label = apps.get_model("annotator", "Project"), apps.get_model("annotator", "Label")
    Item, Annotation = apps.get_model("annotator", "Item"), apps.get_model("annotator", "Annotation")
    AnnotationLabel = apps.get_model("annotator", "AnnotationLabel")
    Revision = apps.get_model("annotator", "AnnotationRevision")
    person, other = User.objects.create(username="dup"), User.objects.create(username="other")
    project = Project.objects.create(name="Old")
    sport = Label.objects.create(project=project, name="Sport")
    politics = Label.objects.create(project=project, name="Politics")
    item = Item.objects.create(project=project, text="a", content_hash="a" * 64, required_annotations=2, is_open=False)
    other_item = Item.objects.create(
        project=project, text="b", content_hash="b" * 64, required_annotations=2, is_open=False
    )

    def answer(on, by, label, source="human", status="") -> int:
        row = Annotation.objects.create(item=on, annotator=by, source=source, candidate_status=status)
        AnnotationLabel.objects.create(annotation=row, label=label)
        return row.pk

    first = answer(item, person, sport)
    Revision.objects.create(annotation_id=first, note="the earlier one's history", labels_before=[], labels_after=[])
    answer(item, person, sport)
    answer(item, other, sport)
    answer(item, person, sport, source="rule", status="confirmed")
    answer(item, person, sport)
    latest = answer(item, person, politics)
    answer(other_item, person, sport)
    answer(other_item, person, sport)
    return {
        "item": item.pk, "other_item": other_item.pk, "user": person.pk, "latest": latest,
        "sport": sport.pk, "politics": politics.pk,
    }  # fmt: skip


@pytest.mark.django_db
def test_a_submit_that_loses_the_insert_race_revises_the_winners_row(project_with_roles):
    """Finding 3: the backstop when the database refuses the insert (a twin request won): the same
    annotation is returned and the transaction stays usable, no IntegrityError escapes."""
    project, users, label = _project_with_items(project_with_roles, 1)
    item, annotator = project.items.get(), users[Role.ANNOTATOR]
    winner = Annotation.objects.create(item=item, annotator=annotator, source=AnnotationSource.HUMAN)
    with transaction.atomic():
        found, created = queue_service._create_own_annotation(item, annotator, [label])
        assert (found.pk, created) == (winner.pk, False)
        assert Annotation.objects.filter(item=item).count() == 1  # still usable after the refused insert
