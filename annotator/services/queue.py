"""Serving items to annotators: the next item, reserved by a lease, and submitting its labels.

An item is served while the annotations it has plus the live leases others hold on it are fewer
than its `required_annotations` (1, or the project's overlap for agreement items), never to someone
who annotated it already. Under concurrency the candidate row is locked with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so two annotators asking at once get different
items without waiting; on SQLite every write transaction is `BEGIN IMMEDIATE` (settings), which
serialises the whole assignment instead.

Requests from people answer only what the queue gave them (`queue_answer_check`): never the locked
test split, their own earlier answer or a leased item, and never beyond the item's overlap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    AnnotationSource,
    CandidateStatus,
    Item,
    Label,
    Lease,
    Project,
    RequeuedItem,
    RevisionReason,
    SkippedItem,
    Split,
    TaskType,
)
from annotator.services.active_learning import al_labels_added

HASH_BUCKETS = 16**8
# Each retry skips an item that filled up while we waited to lock it; many in a row only happen
# under extreme contention, and then the annotator simply asks again.
MAX_LOCK_ATTEMPTS = 20
REFRESH_BATCH_SIZE = 500
NO_LABEL_ERROR = gettext_lazy("Choose a label.")
ONE_LABEL_ERROR = gettext_lazy("This project is single-label: choose exactly one label.")
LABEL_NOT_USABLE_ERROR = gettext_lazy("“{name}” is archived or belongs to another project.")
TEST_SPLIT_ERROR = gettext_lazy(
    "This item belongs to the locked test split: the queue does not annotate it (experts correct it by adjudication)."
)
NOT_LEASED_ERROR = gettext_lazy("This item is not reserved for you: ask the queue for your next item.")
SLOTS_FULL_ERROR = gettext_lazy("This item already has all the annotations it needs: ask the queue for your next item.")


class QueueConflict(Exception):
    """The item is not (or no longer) this person's to answer; the API answers 409 with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def required_annotations_for(*, content_hash: str, project: Project) -> int:
    """How many people should annotate an item: a stable pseudo-random share gets the overlap."""
    in_overlap = int(content_hash[:8], 16) / HASH_BUCKETS < project.overlap_fraction
    return max(1, project.overlap_annotators) if in_overlap else 1


def initial_priority(content_hash: str) -> float:
    """A stable pseudo-random queue position in [0, 1) until a model scores the item.

    Other hex digits than the overlap decision uses, so that overlap items are spread over the queue.
    """
    return int(content_hash[8:16], 16) / HASH_BUCKETS


def _counted(item_ref) -> QuerySet[Annotation]:
    return Annotation.objects.filter(item=item_ref, candidate_status="")


def _slot_annotations(item_ref) -> QuerySet[Annotation]:
    """Annotations that fill one of an item's slots (an expert's adjudication fills none)."""
    return _counted(item_ref).exclude(source=AnnotationSource.ADJUDICATED)


def _count(queryset: QuerySet) -> Coalesce:
    return Coalesce(Subquery(queryset.values("item").annotate(n=Count("id")).values("n")), Value(0))


def _slots_taken(user: AbstractBaseUser, now: dt.datetime):
    """Per item: its counted annotations plus the live leases of other people."""
    leases = Lease.objects.filter(item=OuterRef("pk"), expires_at__gt=now).exclude(user=user)
    return _count(_slot_annotations(OuterRef("pk"))) + _count(leases)


def items_refresh_open(item_ids: Iterable[int]) -> None:
    """Recompute `Item.is_open` for these items; every service that adds counted annotations calls it."""
    ids = list(item_ids)
    item, annotation = _table(Item), _table(Annotation)
    sql = (
        f"UPDATE {item} SET is_open = (required_annotations > (SELECT COUNT(*) FROM {annotation} a"
        f" WHERE a.item_id = {item}.id AND a.candidate_status = '' AND a.source <> %s))"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(ids), REFRESH_BATCH_SIZE):
            batch = ids[start : start + REFRESH_BATCH_SIZE]
            cursor.execute(f"{sql} WHERE id IN ({', '.join(['%s'] * len(batch))})", [ADJUDICATED, *batch])


def queue_candidates(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> QuerySet[Item]:
    """Items `user` may be served now, best first: open, not done or skipped by them, a slot free."""
    return (
        Item.objects.filter(project=project, is_open=True)
        .exclude(split=Split.TEST)
        .filter(~Exists(_counted(OuterRef("pk")).filter(annotator=user)))
        .filter(~Exists(SkippedItem.objects.filter(item=OuterRef("pk"), user=user)))
        .alias(taken=_slots_taken(user, now))
        .filter(taken__lt=F("required_annotations"))
        .order_by("-priority", "id")
    )


def requeued_candidates(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> QuerySet[Item]:
    """Items sent back after a label split that `user` could re-annotate now, oldest first.

    Anyone may resolve one, the original annotator included (their annotation is then revised); it
    is not offered to someone who has annotated it since the split, or while another person holds it.
    """
    waiting = RequeuedItem.objects.filter(item=OuterRef("pk"), resolved_at__isnull=True)
    redone = _counted(OuterRef("pk")).filter(annotator=user, updated_at__gt=OuterRef("requeued_at"))
    held = Lease.objects.filter(item=OuterRef("pk"), expires_at__gt=now).exclude(user=user)
    unresolved = RequeuedItem.objects.filter(resolved_at__isnull=True).values("item")
    return (
        Item.objects.filter(project=project, pk__in=unresolved)
        .exclude(split=Split.TEST)
        .annotate(requeued_at=Subquery(waiting.order_by("created_at").values("created_at")[:1]))
        .filter(~Exists(redone), ~Exists(held))
        .filter(~Exists(SkippedItem.objects.filter(item=OuterRef("pk"), user=user)))
        .order_by("requeued_at", "id")
    )


@transaction.atomic
def queue_next_item(*, project: Project, user: AbstractBaseUser, now: dt.datetime | None = None) -> Item | None:
    """The item `user` should annotate next, reserved for them; None when nothing is left."""
    now = now or timezone.now()
    held = _held_item_id(project, user, now)
    if held is not None:  # a reload, or a second tab: keep serving what is already reserved
        return Item.objects.select_related("project", "score_run").get(pk=held)
    item = None
    if RequeuedItem.objects.filter(item__project=project, resolved_at__isnull=True).exists():
        item = lock_first(requeued_candidates(project=project, user=user, now=now))
    if item is None:
        item = _lock_free_candidate(project, user, now)
    if item is not None:
        item.project = project  # lease_item and the page read it: saves a query
        lease_item(item=item, user=user, now=now)
    return item


def lease_item(*, item: Item, user: AbstractBaseUser, now: dt.datetime) -> Lease:
    lease = Lease(item=item, user=user, expires_at=now + dt.timedelta(minutes=item.project.lease_minutes))
    # One INSERT ... ON CONFLICT (an expired lease of this person on this item is renewed).
    Lease.objects.bulk_create(
        [lease], update_conflicts=True, unique_fields=["item", "user"], update_fields=["expires_at"]
    )
    return lease


# The two statements on every "next item" request are written in SQL: building them with the ORM
# (subqueries, Exists, Coalesce) cost more Python time per request than the database took to run them
# (bench_queue). `queue_candidates` above is the same query as a QuerySet, for reading.
_HELD_SQL = """
SELECT l.item_id FROM {lease} l JOIN {item} i ON i.id = l.item_id
WHERE l.user_id = %s AND i.project_id = %s AND l.expires_at > %s
  AND NOT EXISTS (SELECT 1 FROM {annotation} a
                  WHERE a.item_id = l.item_id AND a.annotator_id = %s AND a.candidate_status = '')
ORDER BY l.created_at LIMIT 1
"""
_CANDIDATE_SQL = """
SELECT i.id FROM {item} i
WHERE i.project_id = %s AND i.is_open AND i.split <> %s {only_one}
  AND NOT EXISTS (SELECT 1 FROM {annotation} a
                  WHERE a.item_id = i.id AND a.annotator_id = %s AND a.candidate_status = '')
  AND NOT EXISTS (SELECT 1 FROM {skip} s WHERE s.item_id = i.id AND s.user_id = %s)
  AND (SELECT COUNT(*) FROM {annotation} a WHERE a.item_id = i.id AND a.candidate_status = '' AND a.source <> %s)
    + (SELECT COUNT(*) FROM {lease} l WHERE l.item_id = i.id AND l.expires_at > %s AND l.user_id <> %s)
    < i.required_annotations
ORDER BY i.priority DESC, i.id
LIMIT 1 {lock}
"""
ADJUDICATED = AnnotationSource.ADJUDICATED.value
TEST = Split.TEST.value


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _tables() -> dict[str, str]:
    return {
        "item": _table(Item),
        "annotation": _table(Annotation),
        "lease": _table(Lease),
        "skip": _table(SkippedItem),
    }


def _first_id(sql: str, params: list) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _held_item_id(project: Project, user: AbstractBaseUser, now: dt.datetime) -> int | None:
    moment = connection.ops.adapt_datetimefield_value(now)
    return _first_id(_HELD_SQL.format(**_tables()), [user.pk, project.pk, moment, user.pk])


def _free_candidate_id(project: Project, user: AbstractBaseUser, now: dt.datetime, *, only: int | None, lock: bool):
    moment = connection.ops.adapt_datetimefield_value(now)
    sql = _CANDIDATE_SQL.format(
        **_tables(),
        only_one="AND i.id = %s" if only is not None else "",
        lock="FOR UPDATE OF i SKIP LOCKED" if lock else "",
    )
    params = [project.pk, TEST, *([only] if only is not None else []), user.pk, user.pk, ADJUDICATED, moment, user.pk]
    return _first_id(sql, params)


def _lock_free_candidate(project: Project, user: AbstractBaseUser, now: dt.datetime) -> Item | None:
    """Lock the best candidate that still has a free slot.

    Under READ COMMITTED the locking SELECT judges the slots by the snapshot it started with: a lease
    that another annotator committed while we waited for the row lock is invisible to it, and as that
    lease did not update the item row, PostgreSQL does not re-check. So once the row is locked, its
    slots are checked again in a fresh statement, which sees every committed lease; while we hold the
    lock nobody else can take a slot on it, so that answer stands. On SQLite, BEGIN IMMEDIATE already
    serialises the whole assignment, so there is nothing to lock or re-check.
    """
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _attempt in range(MAX_LOCK_ATTEMPTS):
        pk = _free_candidate_id(project, user, now, only=None, lock=skip_locked)
        if pk is None:
            return None
        if not skip_locked or _free_candidate_id(project, user, now, only=pk, lock=False) is not None:
            return Item.objects.select_related("score_run").get(pk=pk)
    return None


def lock_first(candidates: QuerySet[Item]) -> Item | None:
    for _attempt in range(MAX_LOCK_ATTEMPTS):
        item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if item is None or not connection.features.has_select_for_update_skip_locked:
            return item  # SQLite: BEGIN IMMEDIATE serialises the whole assignment, nothing changed since
        if candidates.filter(pk=item.pk).exists():
            return item
    return None


def check_labels(project: Project, labels: list[Label]) -> None:
    if not labels:
        raise ValidationError(NO_LABEL_ERROR)
    if project.task_type == TaskType.SINGLE_LABEL and len(labels) != 1:
        raise ValidationError(ONE_LABEL_ERROR)
    for label in labels:
        if label.project_id != project.pk or not label.active:
            raise ValidationError(LABEL_NOT_USABLE_ERROR.format(name=label.name))


def _lock_item(item: Item) -> Item:
    """Lock the item's row for the rest of the transaction and read it afresh.

    Every submit for an item takes this lock first, so one person's concurrent submits (a double
    click, a retried request) run one after the other and the later ones find the first's
    annotation; the free-slot check then also sees every committed annotation and lease. On SQLite,
    BEGIN IMMEDIATE already serialises writers and the lock is a no-op.
    """
    return Item.objects.select_for_update().only("id", "split", "required_annotations").get(pk=item.pk)


def _own_answer_exists(item: Item, user: AbstractBaseUser) -> bool:
    return _counted(item).filter(annotator=user, source=AnnotationSource.HUMAN).exists()


def _has_free_slot(item: Item, user: AbstractBaseUser, now: dt.datetime) -> bool:
    """Whether the item has room for one more annotation by `user`: the queue's own slot rule."""
    others_leases = Lease.objects.filter(item=item, expires_at__gt=now).exclude(user=user).count()
    return _slot_annotations(item).count() + others_leases < item.required_annotations


def queue_answer_check(
    *,
    item: Item,
    user: AbstractBaseUser,
    now: dt.datetime | None = None,
    needs_lease: bool = True,
    needs_slot: bool = True,
) -> None:
    """Refuse a queue action on an item that is not `user`'s to answer.

    Never the locked test split (PermissionDenied). The person's own earlier answer may always be
    changed (undo / correct). Otherwise the queue must have leased the item to them (`needs_lease`;
    an expired lease counts) and, to add an annotation (`needs_slot`), the item must still have a
    free slot for them: a submit after the lease expired is accepted only while nobody else filled
    or holds the slot. An item sent back by a label split may be answered by whoever it was served
    to, full or not. Raises QueueConflict otherwise.
    """
    if item.split == Split.TEST:
        raise PermissionDenied(TEST_SPLIT_ERROR)
    if _own_answer_exists(item, user):
        return
    if needs_lease and not Lease.objects.filter(item=item, user=user).exists():
        raise QueueConflict(NOT_LEASED_ERROR)
    if not needs_slot or RequeuedItem.objects.filter(item=item, resolved_at__isnull=True).exists():
        return
    if not _has_free_slot(item, user, now or timezone.now()):
        raise QueueConflict(SLOTS_FULL_ERROR)


@transaction.atomic
def queue_submit(
    *, item: Item, annotator: AbstractBaseUser, labels: list[Label], now: dt.datetime | None = None
) -> Annotation:
    """The queue's submit (page, API, binary mode): `queue_answer_check`, then `annotation_submit`."""
    queue_answer_check(item=_lock_item(item), user=annotator, now=now)
    return annotation_submit(item=item, annotator=annotator, labels=labels)


@transaction.atomic
def annotation_submit(*, item: Item, annotator: AbstractBaseUser, labels: list[Label]) -> Annotation:
    """Record `annotator`'s labels for `item` (a second submit revises theirs) and release the lease.

    The trusted write under every path that records a person's answer; requests from people go
    through `queue_submit` (or another service that checks first, like `candidate_confirm`).
    Idempotent: concurrent identical submits by one person leave one annotation (the item row is
    locked, and the database's unique constraint backs that up). Pending rule and cluster
    suggestions on the item are settled by it (confirmed when the person chose their labels), and a
    split's request to re-annotate the item is resolved.
    """
    check_labels(item.project, labels)
    _lock_item(item)
    # One read for the person's own annotation and the item's pending suggestions (the hot path).
    own_or_pending = Q(annotator=annotator, source=AnnotationSource.HUMAN, candidate_status="") | Q(
        candidate_status=CandidateStatus.PENDING
    )
    found = list(Annotation.objects.select_for_update().filter(own_or_pending, item=item).order_by("id"))
    pending = [candidate for candidate in found if candidate.candidate_status == CandidateStatus.PENDING]
    annotation = next((own for own in found if own.candidate_status == ""), None)
    new_label = False
    if annotation is None:
        annotation, new_label = _create_own_annotation(item, annotator, labels)
    if not new_label:
        annotation_relabel(annotation=annotation, labels=labels, by=annotator, reason=RevisionReason.RESUBMIT)
    _settle_candidates(pending, annotator, {label.pk for label in labels})
    RequeuedItem.objects.filter(item=item, resolved_at__isnull=True).update(resolved_at=timezone.now())
    Lease.objects.filter(item=item, user=annotator).delete()
    SkippedItem.objects.filter(item=item, user=annotator).delete()
    items_refresh_open([item.pk])
    if new_label:  # active learning counts it (one UPDATE, last: the project row is locked briefly)
        al_labels_added(project=item.project, by=annotator)
    return annotation


def _create_own_annotation(item: Item, annotator: AbstractBaseUser, labels: list[Label]) -> tuple[Annotation, bool]:
    """(annotation, created): a new human annotation, or the one a concurrent twin request just stored."""
    try:
        with transaction.atomic():  # a savepoint: losing the race leaves the outer transaction usable
            annotation = Annotation.objects.create(item=item, annotator=annotator, source=AnnotationSource.HUMAN)
    except IntegrityError:  # one_counted_answer_per_person: the twin's row is committed now
        own = _counted(item).filter(annotator=annotator, source=AnnotationSource.HUMAN)
        return own.select_for_update().get(), False
    AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=annotation, label=label) for label in labels)
    return annotation, True


def annotation_relabel(
    *, annotation: Annotation, labels: list[Label], by: AbstractBaseUser | None, reason: str, note: str = ""
) -> AnnotationRevision | None:
    """Replace an annotation's labels, keeping the change as a revision (None when nothing changed)."""
    before = sorted(annotation.label_links.values_list("label_id", flat=True))
    after = sorted({label.pk for label in labels})
    if before == after:
        return None
    annotation.label_links.all().delete()
    AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=annotation, label_id=pk) for pk in after)
    annotation.save(update_fields=["updated_at"])
    return AnnotationRevision.objects.create(
        annotation=annotation, reason=reason, changed_by=by, note=note, labels_before=before, labels_after=after
    )


def _settle_candidates(pending: list[Annotation], by: AbstractBaseUser, chosen: set[int]) -> None:
    """A human decision settles the item's pending suggestions: kept if all their labels were chosen."""
    prefetch_related_objects(pending, "label_links")
    for candidate in pending:
        agreed = {link.label_id for link in candidate.label_links.all()} <= chosen
        candidate.candidate_status = CandidateStatus.CONFIRMED if agreed else CandidateStatus.REJECTED
        candidate.annotator = by  # who checked it
        candidate.save(update_fields=["candidate_status", "annotator", "updated_at"])


@transaction.atomic
def queue_skip(*, item: Item, user: AbstractBaseUser, unclear: bool = False, comment: str = "") -> SkippedItem:
    """Pass on an item (it is not served to this person again); `unclear` flags it for experts.

    Only an item the queue served to the person (or one they answered): never the test split."""
    queue_answer_check(item=_lock_item(item), user=user, needs_slot=False)
    skip, _created = SkippedItem.objects.update_or_create(
        item=item, user=user, defaults={"unclear": unclear, "comment": comment.strip()[:1000]}
    )
    Lease.objects.filter(item=item, user=user).delete()
    return skip


def previous_submission(*, project: Project, user: AbstractBaseUser, before: Item | None = None) -> Annotation | None:
    """The person's latest own annotation in this project (before the one on `before`): what U undoes."""
    annotations = Annotation.objects.filter(
        item__project=project, annotator=user, source=AnnotationSource.HUMAN, candidate_status=""
    ).order_by("-updated_at", "-id")
    current = annotations.filter(item=before).first() if before is not None else None
    if current is not None:
        annotations = annotations.filter(updated_at__lt=current.updated_at)
    elif before is not None:
        annotations = annotations.exclude(item=before)
    return annotations.select_related("item").first()
