"""Experts' decisions on annotations: adjudicating disagreements and correcting labels, with history."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    AnnotationSource,
    Item,
    Label,
    RevisionReason,
)
from annotator.services.active_learning import al_labels_added
from annotator.services.queue import annotation_relabel, check_labels

NOT_COUNTED_ERROR = gettext_lazy(
    "Only counted annotations can be corrected; suggestions are confirmed or rejected instead."
)


@transaction.atomic
def item_adjudicate(*, item: Item, by: AbstractBaseUser, labels: list[Label], note: str = "") -> Annotation:
    """Record an expert's final label for an item; it overrides the annotators'. A second call revises it."""
    check_labels(item.project, labels)
    decision = (
        Annotation.objects.select_for_update()
        .filter(item=item, source=AnnotationSource.ADJUDICATED, candidate_status="")
        .first()
    )
    if decision is None:
        decision = Annotation.objects.create(item=item, annotator=by, source=AnnotationSource.ADJUDICATED)
        AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=decision, label=label) for label in labels)
        # The first decision is history too: who decided, and why.
        AnnotationRevision.objects.create(
            annotation=decision,
            reason=RevisionReason.CORRECTION,
            changed_by=by,
            note=note.strip(),
            labels_before=[],
            labels_after=sorted(label.pk for label in labels),
        )
        al_labels_added(project=item.project, by=by)  # a new final label: active learning counts it
        return decision
    revision = annotation_relabel(
        annotation=decision, labels=labels, by=by, reason=RevisionReason.CORRECTION, note=note.strip()
    )
    if revision is not None:  # a changed final label counts too: the model should learn the correction
        al_labels_added(project=item.project, by=by)
    if decision.annotator_id != by.pk:  # the decision is now this expert's
        decision.annotator = by
        decision.save(update_fields=["annotator", "updated_at"])
    return decision


@transaction.atomic
def annotation_correct(
    *, annotation: Annotation, by: AbstractBaseUser, labels: list[Label], note: str = ""
) -> AnnotationRevision | None:
    """An expert's correction of someone's annotation: the labels change, the old ones stay in its history."""
    annotation = Annotation.objects.select_for_update().select_related("item__project").get(pk=annotation.pk)
    if annotation.candidate_status:
        raise ValidationError(NOT_COUNTED_ERROR)
    check_labels(annotation.item.project, labels)
    revision = annotation_relabel(
        annotation=annotation, labels=labels, by=by, reason=RevisionReason.CORRECTION, note=note.strip()
    )
    if revision is None and note.strip():  # the labels stand, but the expert's remark is kept
        same = sorted(label.pk for label in labels)
        revision = AnnotationRevision.objects.create(
            annotation=annotation,
            reason=RevisionReason.CORRECTION,
            changed_by=by,
            note=note.strip(),
            labels_before=same,
            labels_after=same,
        )
    return revision
