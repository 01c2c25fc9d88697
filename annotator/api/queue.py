"""The annotation queue over HTTP: next item, submit, skip or flag, and the previous submission (undo)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import conflict_response, validation_error_response
from annotator.api.fields import IdField
from annotator.models import Item, Label
from annotator.params import query_id
from annotator.permissions import Capability
from annotator.selectors.queue import QueueItem, queue_item
from annotator.selectors.visibility import visible_meta
from annotator.services.queue import QueueConflict, previous_submission, queue_next_item, queue_skip, queue_submit


class SuggestionOutput(serializers.Serializer):
    label_ids = serializers.ListField(child=serializers.IntegerField())
    source = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()


class QueueItemOutput(serializers.Serializer):
    id = serializers.IntegerField(source="item.id")
    text = serializers.CharField(source="item.text")
    meta = serializers.SerializerMethodField()
    split = serializers.CharField(source="item.split")
    suggestions = SuggestionOutput(many=True)
    mine = serializers.ListField(child=serializers.IntegerField())
    preselected = serializers.ListField(child=serializers.IntegerField())

    def get_meta(self, entry: QueueItem) -> dict:
        """Without the meta keys the project hides from the caller's role (gold labels)."""
        return visible_meta(project=self.context["project"], role=self.context["role"], meta=entry.item.meta)


class QueueResponse(serializers.Serializer):
    item = QueueItemOutput(allow_null=True)


def _queue_response(view: ProjectAPIView, entry: QueueItem | None) -> Response:
    context = {"project": view.project, "role": view.role}
    return Response({"item": QueueItemOutput(entry, context=context).data if entry else None})


class QueueNextApi(ProjectAPIView):
    """Reserve the next item for the caller (a lease); `item` is null when the queue is empty."""

    capability = Capability.ANNOTATE

    @extend_schema(request=None, responses=QueueResponse)
    def post(self, request, project_id: int):
        item = queue_next_item(project=self.project, user=request.user)
        return _queue_response(self, queue_item(item=item, user=request.user, fresh=True) if item else None)


class QueuePreviousApi(ProjectAPIView):
    """The caller's latest submission before `before` (an item id): undo goes back to it."""

    capability = Capability.ANNOTATE

    @extend_schema(responses=QueueResponse)
    def get(self, request, project_id: int):
        before = query_id(request.query_params, "before")
        current = get_project_object(Item, self.project, pk=before) if before else None
        annotation = previous_submission(project=self.project, user=request.user, before=current)
        return _queue_response(self, queue_item(item=annotation.item, user=request.user) if annotation else None)


class QueueSubmitApi(ProjectAPIView):
    capability = Capability.ANNOTATE

    class SubmitInput(serializers.Serializer):
        labels = serializers.ListField(child=IdField(), allow_empty=True)

    @extend_schema(request=SubmitInput, responses={201: dict, 400: dict, 403: dict, 409: dict})
    def post(self, request, project_id: int, item_id: int):
        item = get_project_object(Item, self.project, pk=item_id)
        data = self.SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        labels = list(Label.objects.filter(project=self.project, pk__in=data.validated_data["labels"]))
        if len(labels) != len(set(data.validated_data["labels"])):
            return Response({"labels": ["Unknown label id for this project."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            annotation = queue_submit(item=item, annotator=request.user, labels=labels)
        except ValidationError as error:
            return validation_error_response(error)
        except QueueConflict as conflict:
            return conflict_response(conflict)
        return Response({"annotation": annotation.pk, "item": item.pk}, status=status.HTTP_201_CREATED)


class QueueSkipApi(ProjectAPIView):
    """Pass on an item; with `unclear` it is flagged for the experts, with an optional comment."""

    capability = Capability.ANNOTATE

    class SkipInput(serializers.Serializer):
        unclear = serializers.BooleanField(default=False)
        comment = serializers.CharField(default="", allow_blank=True, max_length=1000)

    @extend_schema(request=SkipInput, responses={200: dict, 403: dict, 409: dict})
    def post(self, request, project_id: int, item_id: int):
        item = get_project_object(Item, self.project, pk=item_id)
        data = self.SkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            skip = queue_skip(item=item, user=request.user, **data.validated_data)
        except QueueConflict as conflict:
            return conflict_response(conflict)
        return Response({"item": item.pk, "unclear": skip.unclear})
