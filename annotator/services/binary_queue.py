"""Binary mode: one label at a time, accept / reject / skip (Prodigy's `textcat.teach` style).

It serves the items a rule or a cluster suggested for the label first, then the items a model
suggests it for; each group by the model's stored confidence in this label, most confident first.
Accepting records a human annotation with the label; rejecting marks the suggestion rejected (a
model's suggestion is kept as a rejected pseudo-label), so the item is not offered for that label
again.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Item,
    Label,
    Lease,
    Project,
    SkippedItem,
    Split,
    TaskType,
)
from annotator.services.queue import lease_item, lock_first, queue_answer_check, queue_submit


def _label_candidates(label: Label, status: str) -> QuerySet[AnnotationLabel]:
    return AnnotationLabel.objects.filter(
        annotation__item=OuterRef("pk"), annotation__candidate_status=status, label=label
    )


def _items_with_pending(label: Label) -> QuerySet[AnnotationLabel]:
    return AnnotationLabel.objects.filter(label=label, annotation__candidate_status=CandidateStatus.PENDING).values(
        "annotation__item_id"
    )


def binary_candidates(*, label: Label, user: AbstractBaseUser, now: dt.datetime) -> QuerySet[Item]:
    """Items to decide for `label`, best first: pending rule/cluster suggestions, then model suggestions."""
    pending = _label_candidates(label, CandidateStatus.PENDING)
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user, candidate_status="")
    rejected_by_me = _label_candidates(label, CandidateStatus.REJECTED).filter(annotation__annotator=user)
    held = Lease.objects.filter(item=OuterRef("pk"), expires_at__gt=now).exclude(user=user)
    return (
        Item.objects.filter(project_id=label.project_id)
        .exclude(split=Split.TEST)  # never offered: the queue does not annotate the locked test split
        # Narrowed by indexed columns first, so a large project is not scanned item by item.
        .filter(Q(pk__in=_items_with_pending(label)) | Q(suggested_label=label, is_open=True))
        .annotate(
            has_candidate=Exists(pending),
            # The stored confidence is for the item's suggested label: it ranks only where that is this label.
            label_confidence=Case(When(suggested_label=label, then=F("suggestion_confidence")), default=None),
        )
        .filter(~Exists(mine), ~Exists(rejected_by_me), ~Exists(held))
        .filter(~Exists(SkippedItem.objects.filter(item=OuterRef("pk"), user=user)))
        # NULLs last on every database (PostgreSQL puts them first in a descending order).
        .order_by("-has_candidate", F("label_confidence").desc(nulls_last=True), "-priority", "id")
    )


@transaction.atomic
def binary_next_item(
    *, project: Project, user: AbstractBaseUser, label: Label, now: dt.datetime | None = None
) -> Item | None:
    now = now or timezone.now()
    held = (
        Lease.objects.filter(user=user, item__project=project, expires_at__gt=now)
        .filter(item__in=binary_candidates(label=label, user=user, now=now))
        .select_related("item")
        .first()
    )
    if held is not None:
        return held.item
    item = lock_first(binary_candidates(label=label, user=user, now=now))
    if item is not None:
        lease_item(item=item, user=user, now=now)
    return item


@transaction.atomic
def binary_accept(*, item: Item, user: AbstractBaseUser, label: Label) -> Annotation:
    """The label applies: in a multi-label project it is added to the person's other labels for the item.

    Only for an item binary mode served to the person, as any queue submit (`queue_submit`)."""
    labels = [label]
    if item.project.task_type == TaskType.MULTI_LABEL:
        mine = Annotation.objects.filter(item=item, annotator=user, source=AnnotationSource.HUMAN, candidate_status="")
        labels += [other for other in Label.objects.filter(annotations__in=mine) if other.pk != label.pk]
    return queue_submit(item=item, annotator=user, labels=labels)


@transaction.atomic
def binary_reject(*, item: Item, user: AbstractBaseUser, label: Label) -> None:
    """The label does not apply: its pending suggestions are rejected, or the model's suggestion is.

    Only for an item binary mode served to the person (it adds no annotation, so it needs no slot)."""
    queue_answer_check(item=Item.objects.select_for_update().get(pk=item.pk), user=user, needs_slot=False)
    pending = Annotation.objects.select_for_update().filter(
        item=item, candidate_status=CandidateStatus.PENDING, label_links__label=label
    )
    if not pending.update(candidate_status=CandidateStatus.REJECTED, annotator=user, updated_at=timezone.now()):
        rejection = Annotation.objects.create(
            item=item, annotator=user, source=AnnotationSource.PSEUDO, candidate_status=CandidateStatus.REJECTED
        )
        AnnotationLabel.objects.create(annotation=rejection, label=label)
    Lease.objects.filter(item=item, user=user).delete()
