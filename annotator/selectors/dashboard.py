"""The progress dashboard's figures: labels per class, who annotated how much and when, the pool left."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotator.models import Annotation, AnnotationSource, Item, Project, ScoreRun, SkippedItem, Split
from annotator.selectors.items import counted_annotations, final_label_ids
from annotator.selectors.review import LabelChip, label_chips

HEATMAP_HOURS = 24
RECENT_DAYS = 7


@dataclass(frozen=True)
class LabelCount:
    label: LabelChip
    items: int  # items whose final labels include it
    share: float  # items / the largest count, for the bar's length (0..1)


@dataclass(frozen=True)
class AnnotatorActivity:
    username: str
    hourly: list[int]  # annotations per hour over the last HEATMAP_HOURS hours, oldest first
    last_day: int  # the heatmap's hours together
    last_week: int
    total: int
    active_hours: int  # clock hours with at least one annotation, all time
    per_active_hour: float


@dataclass(frozen=True)
class Activity:
    hours: list[dt.datetime]  # the start of each heatmap column, oldest first
    annotators: list[AnnotatorActivity]
    busiest_hour: int  # the largest heatmap cell, for shading


@dataclass(frozen=True)
class QueueOrder:
    score_run: ScoreRun | None  # None: the queue is in random (content hash) order
    labels_since: int  # counted human annotations made after that scoring


@dataclass(frozen=True)
class Pool:
    items: int
    open_items: int  # still need an annotation (Item.is_open)
    unlabeled: int  # no counted annotation at all
    flagged: int  # items someone flagged as unclear


def label_counts(*, project: Project) -> list[LabelCount]:
    """Items per label by final label (adjudicated > agreed > single) outside the locked test split: active
    labels, and archived ones in use.

    The test split is left out for every role: its labels are the answer key (on a fresh demo these counts
    were exactly the test split's gold labels, shown to annotators), and progress is about the labels
    people add."""
    test_items = set(Item.objects.filter(project=project, split=Split.TEST).values_list("pk", flat=True))
    final = final_label_ids(project=project)
    counts = Counter(pk for item_id, label_ids in final.items() if item_id not in test_items for pk in label_ids)
    shown = [chip for chip in label_chips(project=project).values() if chip.active or counts[chip.pk]]
    largest = max((counts[chip.pk] for chip in shown), default=0) or 1
    return [LabelCount(chip, counts[chip.pk], counts[chip.pk] / largest) for chip in shown]


def annotator_activity(*, project: Project, now: dt.datetime | None = None) -> Activity:
    """Counted human annotations per annotator and clock hour (by when they were first made)."""
    now = now or timezone.now()
    # Step back in UTC from the start of the current local hour, so that a DST change does not skip an hour.
    current_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    hours = [timezone.localtime(current_hour - dt.timedelta(hours=back)) for back in range(HEATMAP_HOURS - 1, -1, -1)]
    column = {hour: position for position, hour in enumerate(hours)}  # aware datetimes compare as instants
    per_user: dict[int, dict[dt.datetime, int]] = defaultdict(dict)
    rows = _human(project).exclude(annotator=None).annotate(hour=TruncHour("created_at")).values("annotator_id", "hour")
    for row in rows.annotate(n=Count("id")):
        per_user[row["annotator_id"]][row["hour"]] = row["n"]
    last_week = _per_annotator(_human(project).filter(created_at__gt=now - dt.timedelta(days=RECENT_DAYS)))
    names = dict(get_user_model().objects.filter(pk__in=per_user).values_list("pk", "username"))
    annotators = []
    for user_id, by_hour in per_user.items():
        hourly = [0] * HEATMAP_HOURS
        for hour, n in by_hour.items():
            if (position := column.get(hour)) is not None:
                hourly[position] = n
        total = sum(by_hour.values())
        annotators.append(
            AnnotatorActivity(
                username=names[user_id],
                hourly=hourly,
                last_day=sum(hourly),
                last_week=last_week.get(user_id, 0),
                total=total,
                active_hours=len(by_hour),
                per_active_hour=total / len(by_hour),
            )
        )
    annotators.sort(key=lambda activity: (-activity.total, activity.username))
    busiest = max((n for activity in annotators for n in activity.hourly), default=0)
    return Activity(hours, annotators, busiest)


def _per_annotator(annotations: QuerySet[Annotation]) -> dict[int, int]:
    return dict(annotations.values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n"))


def _human(project: Project) -> QuerySet[Annotation]:
    return counted_annotations(project=project).filter(source=AnnotationSource.HUMAN)


def queue_order(*, project: Project) -> QueueOrder:
    run = project.score_runs.first()
    if run is None:
        return QueueOrder(None, 0)
    return QueueOrder(run, _human(project).filter(created_at__gt=run.created_at).count())


def pool(*, project: Project) -> Pool:
    items = Item.objects.filter(project=project)
    counted = Annotation.objects.filter(item=OuterRef("pk"), candidate_status="")
    return Pool(
        items=items.count(),
        open_items=items.filter(is_open=True).count(),
        unlabeled=items.filter(~Exists(counted)).count(),
        flagged=items.filter(Exists(SkippedItem.objects.filter(item=OuterRef("pk"), unclear=True))).count(),
    )
