"""Review and adjudication over the API (experts and admins): the review page's filtered list of counted
annotations and its "correct" action, the queue of disagreements and the expert's decision.

The views only translate: the filters become `selectors.review.ReviewFilters`, the writes are
`services.review.annotation_correct` and `item_adjudicate`, the same calls the pages make.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.fields import IdField
from annotator.models import Annotation, AnnotationSource, Item, Label, Project
from annotator.permissions import Capability
from annotator.selectors.items import disagreement_item_ids
from annotator.selectors.review import (
    ReviewFilters,
    adjudicated_item_ids,
    adjudication_cases,
    label_chips,
    next_disagreement,
    review_annotations,
    review_rows,
)
from annotator.services.review import annotation_correct, item_adjudicate

UNKNOWN_LABELS_ERROR = "Unknown or archived label id(s) for this project: {ids}."
MAX_LABELS_PER_DECISION = 100
WAITING, DECIDED = "waiting", "decided"


# --- shared output shapes ---------------------------------------------------------------------------------------


class ChipOutput(serializers.Serializer):
    """A label as the pages show it: its id, full path (`Parent > Child`), colour, and whether it is active."""

    id = serializers.IntegerField(source="pk")
    path = serializers.CharField()
    color = serializers.CharField()
    active = serializers.BooleanField()


class RevisionOutput(serializers.Serializer):
    """One change of an annotation's labels: who, when, why, and the labels before and after."""

    reason = serializers.CharField(source="revision.reason")
    note = serializers.CharField(source="revision.note")
    changed_by = serializers.CharField(source="revision.changed_by.username", default=None)
    created_at = serializers.DateTimeField(source="revision.created_at")
    before = ChipOutput(many=True)
    after = ChipOutput(many=True)


class LabelPickInput(serializers.Serializer):
    """The labels an expert chooses (active labels of the project) and an optional note for the history."""

    labels = serializers.ListField(child=IdField(), allow_empty=False, max_length=MAX_LABELS_PER_DECISION)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def picked_labels(project: Project, ids: list[int]) -> list[Label]:
    """The active labels of `project` with these ids; a ValidationError (400) names the ids that are not."""
    labels = list(Label.objects.filter(project=project, active=True, pk__in=ids))
    unknown = sorted(set(ids) - {label.pk for label in labels})
    if unknown:
        raise serializers.ValidationError({"labels": [UNKNOWN_LABELS_ERROR.format(ids=", ".join(map(str, unknown)))]})
    return labels


# --- review -----------------------------------------------------------------------------------------------------


class SkipFlagOutput(serializers.Serializer):
    """Someone flagged the item as unclear, with their comment."""

    user = serializers.CharField(source="user.username")
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReviewRowOutput(serializers.Serializer):
    id = serializers.IntegerField(source="annotation.id")
    item = serializers.IntegerField(source="annotation.item_id")
    text = serializers.CharField(source="annotation.item.text")
    split = serializers.CharField(source="annotation.item.split")
    annotator = serializers.CharField(source="annotation.annotator.username", default=None)
    source = serializers.CharField(source="annotation.source")
    created_at = serializers.DateTimeField(source="annotation.created_at")
    updated_at = serializers.DateTimeField(source="annotation.updated_at")
    labels = ChipOutput(many=True)
    flags = SkipFlagOutput(many=True)
    history = RevisionOutput(many=True)


def _review_row(project: Project, annotation: Annotation) -> dict:
    rows = review_rows(
        annotations=review_annotations(project=project).filter(pk=annotation.pk), chips=label_chips(project=project)
    )
    return ReviewRowOutput(rows[0]).data


class ReviewListApi(ProjectAPIView):
    """Counted annotations, newest first, narrowed as on the review page (all filters optional)."""

    capability = Capability.REVIEW
    pagination_class = PageNumberPagination

    class ReviewFilterInput(serializers.Serializer):
        label = IdField(required=False, help_text="The label or any label below it.")
        annotator = IdField(required=False, help_text="A user id.")
        source = serializers.ChoiceField(choices=AnnotationSource.choices, required=False)
        flagged = serializers.BooleanField(required=False, default=False, help_text="Items flagged as unclear.")
        disagreement = serializers.BooleanField(
            required=False, default=False, help_text="Items waiting for adjudication."
        )
        created_from = serializers.DateField(required=False, help_text="Inclusive.")
        created_to = serializers.DateField(required=False, help_text="Inclusive.")

    @extend_schema(parameters=[ReviewFilterInput], responses=ReviewRowOutput(many=True))
    def get(self, request, project_id: int):
        query = self.ReviewFilterInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        filters = ReviewFilters(
            label_id=values.get("label"),
            annotator_id=values.get("annotator"),
            source=values.get("source") or None,
            flagged=values["flagged"],
            disagreement=values["disagreement"],
            created_from=values.get("created_from"),
            created_to=values.get("created_to"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(review_annotations(project=self.project, filters=filters), request, self)
        rows = review_rows(annotations=page, chips=label_chips(project=self.project))
        return paginator.get_paginated_response(ReviewRowOutput(rows, many=True).data)


class ReviewCorrectApi(ProjectAPIView):
    """Correct one counted annotation's labels; the old labels stay in its history. `changed` is false when it
    already had these labels (a note alone is still recorded)."""

    capability = Capability.REVIEW

    class ReviewCorrectOutput(serializers.Serializer):
        changed = serializers.BooleanField()
        annotation = ReviewRowOutput()

    @extend_schema(request=LabelPickInput, responses=ReviewCorrectOutput)
    def post(self, request, project_id: int, annotation_id: int):
        annotation = get_object_or_404(Annotation, pk=annotation_id, item__project=self.project)
        data = LabelPickInput(data=request.data)
        data.is_valid(raise_exception=True)
        labels = picked_labels(self.project, data.validated_data["labels"])
        revision = annotation_correct(
            annotation=annotation, by=request.user, labels=labels, note=data.validated_data["note"]
        )
        # No revision: the labels stood; a revision with the same labels before and after: a note alone.
        changed = revision is not None and revision.labels_before != revision.labels_after
        return Response({"changed": changed, "annotation": _review_row(self.project, annotation)})


# --- adjudication -----------------------------------------------------------------------------------------------


class VoteOutput(serializers.Serializer):
    who = serializers.CharField(help_text="The annotator's name, or the source for labels without one (imports).")
    source = serializers.CharField()
    labels = ChipOutput(many=True)


class CaseOutput(serializers.Serializer):
    """An item to adjudicate: everyone's labels side by side, and the expert decision if there is one."""

    item = serializers.IntegerField(source="item.id")
    text = serializers.CharField(source="item.text")
    meta = serializers.JSONField(source="item.meta")
    split = serializers.CharField(source="item.split")
    votes = VoteOutput(many=True)
    decision = ChipOutput(many=True, source="decision_labels", help_text="Empty: not decided yet.")
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    history = RevisionOutput(many=True)


def _cases(project: Project, item_ids: list[int]) -> list:
    return adjudication_cases(project=project, item_ids=item_ids, chips=label_chips(project=project))


class AdjudicationListApi(ProjectAPIView):
    """The disagreements waiting for an expert, in queue order (`status=waiting`, the default), or the items
    already decided, the most recent first (`status=decided`)."""

    capability = Capability.REVIEW
    pagination_class = PageNumberPagination

    class AdjudicationQuery(serializers.Serializer):
        status = serializers.ChoiceField(choices=[WAITING, DECIDED], required=False, default=WAITING)

    @extend_schema(parameters=[AdjudicationQuery], responses=CaseOutput(many=True))
    def get(self, request, project_id: int):
        query = self.AdjudicationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["status"] == WAITING:
            item_ids = disagreement_item_ids(project=self.project)
        else:
            item_ids = adjudicated_item_ids(project=self.project)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(item_ids, request, self)
        return paginator.get_paginated_response(CaseOutput(_cases(self.project, list(page)), many=True).data)


class AdjudicationCaseApi(ProjectAPIView):
    """One item's case (GET), and the expert's final label(s) for it (POST: a second decision revises the
    first). The answer names the next waiting disagreement, as the page moves on to it."""

    capability = Capability.REVIEW

    class AdjudicationDecisionOutput(serializers.Serializer):
        case = CaseOutput()
        next_item = serializers.IntegerField(allow_null=True, help_text="The next disagreement; null: none left.")

    @extend_schema(responses=CaseOutput)
    def get(self, request, project_id: int, item_id: int):
        item = get_project_object(Item, self.project, pk=item_id)
        return Response(CaseOutput(_cases(self.project, [item.pk])[0]).data)

    @extend_schema(request=LabelPickInput, responses=AdjudicationDecisionOutput)
    def post(self, request, project_id: int, item_id: int):
        item = get_project_object(Item, self.project, pk=item_id)
        data = LabelPickInput(data=request.data)
        data.is_valid(raise_exception=True)
        labels = picked_labels(self.project, data.validated_data["labels"])
        item_adjudicate(item=item, by=request.user, labels=labels, note=data.validated_data["note"])
        following = next_disagreement(disagreement_item_ids(project=self.project), after=item.pk)
        case = CaseOutput(_cases(self.project, [item.pk])[0]).data
        return Response({"case": case, "next_item": following})
