"""Serving items to annotators: the next item, reserved by a lease, and submitting its labels.

An item is served while the annotations it has plus the live leases others hold on it are fewer
than its `required_annotations` (1, or the project's overlap for agreement items), never to someone
who annotated it already. Under concurrency the candidate row is locked with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so two annotators asking at once get different
items without waiting; on SQLite every write transaction is `BEGIN IMMEDIATE` (settings), which
serialises the whole assignment instead.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    AnnotationSource,
    Item,
    Label,
    Lease,
    Project,
    TaskType,
)

HASH_BUCKETS = 16**8
# Each retry skips an item that filled up while we waited to lock it; many in a row only happen
# under extreme contention, and then the annotator simply asks again.
MAX_LOCK_ATTEMPTS = 20
NO_LABEL_ERROR = "Choose a label."
ONE_LABEL_ERROR = "This project is single-label: choose exactly one label."
LABEL_NOT_USABLE_ERROR = "“{name}” is archived or belongs to another project."


def required_annotations_for(*, content_hash: str, project: Project) -> int:
    """How many people should annotate an item: a stable pseudo-random share gets the overlap."""
    in_overlap = int(content_hash[:8], 16) / HASH_BUCKETS < project.overlap_fraction
    return max(1, project.overlap_annotators) if in_overlap else 1


def _counted(item_ref) -> QuerySet[Annotation]:
    return Annotation.objects.filter(item=item_ref, candidate_status="")


def _slots_taken(user: AbstractBaseUser, now: dt.datetime):
    """Per item: its counted annotations plus the live leases of other people."""
    annotations = _counted(OuterRef("pk")).values("item").annotate(n=Count("id")).values("n")
    leases = (
        Lease.objects.filter(item=OuterRef("pk"), expires_at__gt=now)
        .exclude(user=user)
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(annotations), Value(0)) + Coalesce(Subquery(leases), Value(0))


def queue_candidates(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> QuerySet[Item]:
    """Items `user` may be served now, best first (by a stable pseudo-random order until scores exist)."""
    return (
        Item.objects.filter(project=project)
        .filter(~Exists(_counted(OuterRef("pk")).filter(annotator=user)))
        .alias(taken=_slots_taken(user, now))
        .filter(taken__lt=F("required_annotations"))
        .order_by("content_hash")
    )


@transaction.atomic
def queue_next_item(*, project: Project, user: AbstractBaseUser, now: dt.datetime | None = None) -> Item | None:
    """The item `user` should annotate next, reserved for them; None when nothing is left."""
    now = now or timezone.now()
    held = (
        Lease.objects.filter(user=user, item__project=project, expires_at__gt=now)
        .exclude(Exists(_counted(OuterRef("item")).filter(annotator=user)))
        .order_by("created_at")
        .select_related("item")
        .first()
    )
    if held is not None:  # a reload, or a second tab: keep serving what is already reserved
        return held.item
    item = _lock_free_candidate(project, user, now)
    if item is None:
        return None
    Lease.objects.update_or_create(
        item=item, user=user, defaults={"expires_at": now + dt.timedelta(minutes=project.lease_minutes)}
    )
    return item


def _lock_free_candidate(project: Project, user: AbstractBaseUser, now: dt.datetime) -> Item | None:
    """Lock the best candidate that still has a free slot.

    Under READ COMMITTED the locking SELECT judges the slots by the snapshot it started with: a lease
    that another annotator committed while we waited for the row lock is invisible to it, and as that
    lease did not update the item row, PostgreSQL does not re-check. So once the row is locked, its
    slots are checked again in a fresh statement, which sees every committed lease; while we hold the
    lock nobody else can take a slot on it, so that answer stands.
    """
    candidates = queue_candidates(project=project, user=user, now=now)
    for _attempt in range(MAX_LOCK_ATTEMPTS):
        item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if item is None or candidates.filter(pk=item.pk).exists():
            return item
    return None


def _check_labels(project: Project, labels: list[Label]) -> None:
    if not labels:
        raise ValidationError(NO_LABEL_ERROR)
    if project.task_type == TaskType.SINGLE_LABEL and len(labels) != 1:
        raise ValidationError(ONE_LABEL_ERROR)
    for label in labels:
        if label.project_id != project.pk or not label.active:
            raise ValidationError(LABEL_NOT_USABLE_ERROR.format(name=label.name))


@transaction.atomic
def annotation_submit(*, item: Item, annotator: AbstractBaseUser, labels: list[Label]) -> Annotation:
    """Record `annotator`'s labels for `item` (a second submit revises theirs) and release the lease.

    Accepted even after the lease expired: a person's work is never thrown away.
    """
    _check_labels(item.project, labels)
    annotation = (
        Annotation.objects.select_for_update()
        .filter(item=item, annotator=annotator, source=AnnotationSource.HUMAN, candidate_status="")
        .first()
    )
    if annotation is None:
        annotation = Annotation.objects.create(item=item, annotator=annotator, source=AnnotationSource.HUMAN)
    else:
        before = sorted(annotation.labels.values_list("id", flat=True))
        annotation.label_links.all().delete()
        AnnotationRevision.objects.create(
            annotation=annotation, labels_before=before, labels_after=sorted(label.pk for label in labels)
        )
        annotation.save(update_fields=["updated_at"])
    AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=annotation, label=label) for label in labels)
    Lease.objects.filter(item=item, user=annotator).delete()
    return annotation
