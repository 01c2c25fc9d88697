"""The human check of candidate annotations from rules and clusters.

Confirming records a new human annotation (with the suggested labels, or corrected ones) and marks
the candidate confirmed; rejecting marks it rejected. The candidate row stays either way, so rule
and cluster precision can be measured later.
"""

from __future__ import annotations

import dataclasses

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from annotator.models import Annotation, CandidateStatus, Item, Label, Project
from annotator.services.queue import QueueConflict, annotation_submit, queue_answer_check

NOT_PENDING_ERROR = gettext_lazy("This suggestion was already {status}.")


def _lock_pending(candidate: Annotation) -> Annotation:
    locked = Annotation.objects.select_for_update().get(pk=candidate.pk)
    if locked.candidate_status != CandidateStatus.PENDING:
        raise ValidationError(NOT_PENDING_ERROR.format(status=locked.candidate_status or "counted"))
    return locked


@transaction.atomic
def candidate_confirm(*, candidate: Annotation, by: AbstractBaseUser, labels: list[Label] | None = None) -> Annotation:
    """Accept (or correct, with `labels`) a suggestion: returns the new human annotation.

    The suggestions page is a queue of its own without leases, so no lease is needed; the queue's
    other rules hold (never the test split, never beyond the item's overlap).
    """
    # The item first, then the candidate: the order `annotation_submit` locks them in (no deadlock).
    item = Item.objects.select_for_update().get(pk=candidate.item_id)
    candidate = _lock_pending(candidate)
    queue_answer_check(item=item, user=by, needs_lease=False)
    chosen = labels if labels is not None else list(candidate.labels.all())
    # The same path as the queue: label checks, one annotation per person (revised if they had one),
    # the item's other suggestions settled, their lease released.
    annotation = annotation_submit(item=candidate.item, annotator=by, labels=chosen)
    candidate.candidate_status = CandidateStatus.CONFIRMED  # accepted, possibly corrected
    candidate.annotator = by  # who checked it
    candidate.save(update_fields=["candidate_status", "annotator", "updated_at"])
    return annotation


@transaction.atomic
def candidate_reject(*, candidate: Annotation, by: AbstractBaseUser) -> Annotation:
    candidate = _lock_pending(candidate)
    candidate.candidate_status = CandidateStatus.REJECTED
    candidate.annotator = by  # who checked it
    candidate.save(update_fields=["candidate_status", "annotator", "updated_at"])
    return candidate


BULK_MAX = 200
BULK_TOO_MANY_ERROR = gettext_lazy("At most {limit} suggestions at once; {count} were sent.")
BULK_NONE_ERROR = gettext_lazy("Choose at least one suggestion.")
BULK_NOT_FOUND_ERROR = gettext_lazy("No suggestion {pk} in this project.")


@dataclasses.dataclass
class BulkOutcome:
    """What a bulk accept or reject did: the suggestions it settled, and why it refused the others."""

    done: list[int] = dataclasses.field(default_factory=list)
    refused: dict[int, str] = dataclasses.field(default_factory=dict)


def candidates_decide(
    *, project: Project, candidate_ids: list[int], by: AbstractBaseUser, decision: str
) -> BulkOutcome:
    """Accept or reject several suggestions, each on its own through `candidate_confirm` / `candidate_reject`
    (so each passes `queue_answer_check`): one that is refused (taken, full, test split) leaves the others
    settled, and the outcome says which and why."""
    ids = list(dict.fromkeys(candidate_ids))
    if not ids:
        raise ValidationError(BULK_NONE_ERROR)
    if len(ids) > BULK_MAX:
        raise ValidationError(BULK_TOO_MANY_ERROR.format(limit=BULK_MAX, count=len(ids)))
    found = Annotation.objects.filter(item__project=project, pk__in=ids).in_bulk()
    outcome = BulkOutcome()
    for pk in ids:
        candidate = found.get(pk)
        if candidate is None:
            outcome.refused[pk] = BULK_NOT_FOUND_ERROR.format(pk=pk)
            continue
        try:
            if decision == "accept":
                candidate_confirm(candidate=candidate, by=by)
            else:
                candidate_reject(candidate=candidate, by=by)
        except ValidationError as error:
            outcome.refused[pk] = " ".join(error.messages)
        except QueueConflict as conflict:
            outcome.refused[pk] = conflict.message
        except PermissionDenied as denied:  # the locked test split
            outcome.refused[pk] = str(denied)
        else:
            outcome.done.append(pk)
    return outcome
