"""The progress dashboard's figures over data made through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotator.models import Annotation, AnnotationLabel, AnnotationSource, ScoreRun, Split
from annotator.selectors.dashboard import HEATMAP_HOURS, annotator_activity, label_counts, pool, queue_order
from annotator.services import taxonomy
from annotator.services.queue import annotation_submit, lease_item, queue_skip
from annotator.services.review import item_adjudicate
from annotator.services.scoring import ItemScore, score_run_store

pytestmark = pytest.mark.django_db


def served(*, item, user) -> None:
    """The queue's lease on `item` for `user`: skips and flags need one."""
    lease_item(item=item, user=user, now=timezone.now())


NOW = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def world(project_with_roles, make_user):
    project, users = project_with_roles
    admin = users["admin"]
    sport = taxonomy.label_create(project=project, name="Sport", by=admin)
    football = taxonomy.label_create(project=project, name="Football", parent=sport, by=admin)
    politics = taxonomy.label_create(project=project, name="Politics", by=admin)
    items = [project.items.create(text=f"text {n}", content_hash=f"h{n}", required_annotations=2) for n in range(8)]
    return project, users, (sport, football, politics), items, make_user("ann"), make_user("bob")


def made_at(annotation: Annotation, when: dt.datetime) -> None:
    Annotation.objects.filter(pk=annotation.pk).update(created_at=when)


def test_label_counts_use_final_labels(world):
    project, users, (sport, football, politics), items, ann, bob = world
    annotation_submit(item=items[0], annotator=ann, labels=[football])  # agreed on one path: Football
    annotation_submit(item=items[0], annotator=bob, labels=[sport])
    annotation_submit(item=items[1], annotator=ann, labels=[politics])  # single: Politics
    annotation_submit(item=items[2], annotator=ann, labels=[sport])  # disagreement: not counted...
    annotation_submit(item=items[2], annotator=bob, labels=[politics])
    annotation_submit(item=items[3], annotator=ann, labels=[sport])  # ...and this one is decided: Politics
    annotation_submit(item=items[3], annotator=bob, labels=[football])
    item_adjudicate(item=items[3], by=users["expert"], labels=[politics])
    imported = Annotation.objects.create(item=items[4], source=AnnotationSource.IMPORT)
    AnnotationLabel.objects.create(annotation=imported, label=politics)  # imported: Politics
    archived = taxonomy.label_create(project=project, name="Unused", by=users["admin"])
    taxonomy.label_archive(label=archived, by=users["admin"])

    counts = [(row.label.path, row.items, row.share) for row in label_counts(project=project)]

    # Football was chosen on item 3 too, but the expert's decision wins; the archived unused label is left out.
    assert counts == [("Sport", 0, 0.0), ("Sport > Football", 1, 1 / 3), ("Politics", 3, 1.0)]


def test_activity_per_annotator_and_hour(world):
    project, _users, (sport, *_), items, ann, bob = world
    ann_times = [
        dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.UTC),  # this hour
        dt.datetime(2024, 5, 1, 12, 10, tzinfo=dt.UTC),  # this hour
        dt.datetime(2024, 5, 1, 10, 15, tzinfo=dt.UTC),  # two hours ago
        dt.datetime(2024, 4, 28, 9, 0, tzinfo=dt.UTC),  # this week, outside the heatmap
        dt.datetime(2024, 4, 1, 9, 0, tzinfo=dt.UTC),  # a month ago
    ]
    for item, when in zip(items, ann_times, strict=False):
        made_at(annotation_submit(item=item, annotator=ann, labels=[sport]), when)
    made_at(annotation_submit(item=items[0], annotator=bob, labels=[sport]), NOW - dt.timedelta(hours=23, minutes=10))

    activity = annotator_activity(project=project, now=NOW)

    assert len(activity.hours) == HEATMAP_HOURS
    assert (activity.hours[0], activity.hours[-1]) == (
        dt.datetime(2024, 4, 30, 13, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
    )
    first, second = activity.annotators
    assert first.username == "ann"
    assert first.hourly[-1] == 2 and first.hourly[-3] == 1 and sum(first.hourly) == 3
    # 5 annotations in 4 distinct clock hours (12h and 10h today, 9h on Apr 28 and on Apr 1).
    assert (first.last_day, first.last_week, first.total, first.active_hours) == (3, 4, 5, 4)
    assert first.per_active_hour == pytest.approx(5 / 4)
    # bob's one annotation, 23 h 10 min ago at 13:20, is in the oldest column.
    assert (second.username, second.hourly[0], second.total, second.last_day) == ("bob", 1, 1, 1)
    assert activity.busiest_hour == 2


def test_activity_hours_are_local_clock_hours(world):
    project, _users, (sport, *_), items, ann, _bob = world
    made_at(
        annotation_submit(item=items[0], annotator=ann, labels=[sport]), dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.UTC)
    )
    made_at(
        annotation_submit(item=items[1], annotator=ann, labels=[sport]), dt.datetime(2024, 5, 1, 11, 55, tzinfo=dt.UTC)
    )
    # India is UTC+5:30: now is 18:00 there, and 11:55 and 12:05 UTC are 17:25 and 17:35, one clock hour.
    with timezone.override("Asia/Kolkata"):
        activity = annotator_activity(project=project, now=NOW)
    assert (activity.hours[-1].hour, activity.hours[-1].minute, activity.hours[-2].hour) == (18, 0, 17)
    [person] = activity.annotators
    assert (person.hourly[-1], person.hourly[-2], person.active_hours) == (0, 2, 1)


def test_queue_order_counts_labels_since_the_latest_scoring(world):
    project, _users, (sport, *_), items, ann, _bob = world
    queue = queue_order(project=project)
    assert (queue.score_run, queue.labels_since) == (None, 0)

    made_at(annotation_submit(item=items[0], annotator=ann, labels=[sport]), NOW - dt.timedelta(hours=2))
    run = score_run_store(
        project=project,
        model_name="fast head v1",
        strategy="entropy",
        scores=[ItemScore(items[5].pk, 0.9)],
        labels_used=1,
    )
    ScoreRun.objects.filter(pk=run.pk).update(created_at=NOW - dt.timedelta(hours=1))
    made_at(annotation_submit(item=items[1], annotator=ann, labels=[sport]), NOW - dt.timedelta(minutes=30))
    made_at(annotation_submit(item=items[2], annotator=ann, labels=[sport]), NOW - dt.timedelta(minutes=10))
    imported = Annotation.objects.create(item=items[3], source=AnnotationSource.IMPORT)  # not a human label
    AnnotationLabel.objects.create(annotation=imported, label=sport)

    queue = queue_order(project=project)
    assert (queue.score_run.model_name, queue.labels_since) == ("fast head v1", 2)


def test_pool_counts(world):
    project, _users, (sport, *_), items, ann, bob = world
    annotation_submit(item=items[0], annotator=ann, labels=[sport])  # labeled, still open (needs 2)
    annotation_submit(item=items[1], annotator=ann, labels=[sport])  # labeled and done
    annotation_submit(item=items[1], annotator=bob, labels=[sport])
    served(item=items[2], user=ann)  # only an item the queue served can be skipped
    queue_skip(item=items[2], user=ann, unclear=True, comment="?")
    served(item=items[2], user=bob)  # only an item the queue served can be skipped
    queue_skip(item=items[2], user=bob, unclear=True)  # one item, however many flags
    served(item=items[3], user=ann)  # only an item the queue served can be skipped
    queue_skip(item=items[3], user=ann)  # skipped, not flagged

    figures = pool(project=project)

    assert (figures.items, figures.open_items, figures.unlabeled, figures.flagged) == (8, 7, 6, 1)


def test_label_counts_leave_the_locked_test_split_out(world):
    """The test split's labels are the answer key: the progress figures, which annotators see, never
    count them (on a fresh demo they used to be exactly the test split's gold labels)."""
    project, _users, (sport, _football, politics), items, ann, _bob = world
    annotation_submit(item=items[0], annotator=ann, labels=[sport])
    items[1].split = Split.TEST
    items[1].save(update_fields=["split"])
    gold = Annotation.objects.create(item=items[1], source=AnnotationSource.IMPORT)
    AnnotationLabel.objects.create(annotation=gold, label=politics)

    counts = {row.label.path: row.items for row in label_counts(project=project)}

    assert counts["Sport"] == 1 and counts["Politics"] == 0
