"""The label tree over the API: list and create, edit, move, merge (with a preview), split, archive, history.

Reads need VIEW; every edit needs EDIT_TAXONOMY (experts and admins). A label id from another project is
404; a refused edit is a 400 whose `detail` is the taxonomy service's message.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.fields import IdField
from annotator.models import Label, LabelKind, Project, TaxonomyEvent
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.permissions import Capability
from annotator.selectors.labels import label_path, merge_preview, taxonomy_history
from annotator.selectors.projects import label_paths, project_labels
from annotator.services.taxonomy import (
    label_archive,
    label_create,
    label_delete,
    label_merge,
    label_move,
    label_reorder,
    label_restore,
    label_split,
    label_update,
)

NO_SUCH_LABEL_ERROR = "There is no label with id {pk} in this project."
COLOR_FIELD = {"regex": r"^(#[0-9a-fA-F]{6})?$", "max_length": 7, "allow_blank": True}


def _project_label(project: Project, pk: int | None) -> Label | None:
    """A label id from a request body: None stays None, an id outside the project is a ValidationError."""
    if pk is None:
        return None
    label = Label.objects.filter(project=project, pk=pk).first()
    if label is None:
        raise ValidationError(NO_SUCH_LABEL_ERROR.format(pk=pk))
    return label


class LabelOutput(serializers.ModelSerializer):
    path = serializers.SerializerMethodField()

    class Meta:
        model = Label
        fields = [
            "id", "name", "path", "parent", "kind", "description", "color", "shortcut", "digit", "order",
            "active", "merged_into",
        ]  # fmt: skip

    def get_path(self, label) -> str:
        paths = self.context.get("paths")  # {id: path} for a whole list, to avoid a query per label
        return paths[label.pk] if paths and label.pk in paths else label_path(label)


class TaxonomyEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = TaxonomyEvent
        fields = ["id", "action", "summary", "actor", "created_at", "annotations_touched", "label", "target", "details"]


class LabelListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.EDIT_TAXONOMY}

    class LabelCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        parent = IdField(required=False, allow_null=True, default=None)
        kind = serializers.ChoiceField(choices=LabelKind.choices, default=LabelKind.NORMAL)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        color = serializers.RegexField(
            required=False, default="", help_text="#rrggbb; empty: from the palette.", **COLOR_FIELD
        )
        shortcut = serializers.CharField(required=False, allow_blank=True, max_length=1, default="")

    @extend_schema(responses=LabelOutput(many=True), description="The active labels.")
    def get(self, request, project_id: int):
        paths = label_paths(project=self.project, separator=LABEL_PATH_SEPARATOR)
        return Response(LabelOutput(project_labels(project=self.project), many=True, context={"paths": paths}).data)

    @extend_schema(request=LabelCreateInput, responses={201: LabelOutput})
    def post(self, request, project_id: int):
        data = self.LabelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        parent = _project_label(self.project, data.validated_data.pop("parent"))
        label = label_create(project=self.project, parent=parent, by=request.user, **data.validated_data)
        return Response(LabelOutput(label).data, status=status.HTTP_201_CREATED)


class LabelDetailApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class LabelUpdateInput(serializers.Serializer):
        name = serializers.CharField(required=False, max_length=200)
        description = serializers.CharField(required=False, allow_blank=True)
        color = serializers.RegexField(required=False, **COLOR_FIELD)
        shortcut = serializers.CharField(required=False, allow_blank=True, max_length=1)

    @extend_schema(request=LabelUpdateInput, responses=LabelOutput, description="Annotations follow the label.")
    def patch(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        data = self.LabelUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        label = label_update(label=label, by=request.user, **data.validated_data)
        return Response(LabelOutput(label).data)

    @extend_schema(
        responses={204: None},
        description="Only a label that no annotation, rule or merge uses (nor its children); else archive it.",
    )
    def delete(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        label_delete(label=label, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelMoveApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class LabelMoveInput(serializers.Serializer):
        parent = IdField(allow_null=True, help_text="The new parent's id; null: the top level.")
        position = serializers.IntegerField(
            required=False, min_value=0, help_text="0-based place among the new siblings; omitted: last."
        )

    @extend_schema(request=LabelMoveInput, responses=LabelOutput, description="Moves the label with its subtree.")
    def post(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        data = self.LabelMoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        position = data.validated_data.get("position")
        parent = _project_label(self.project, data.validated_data["parent"])
        with transaction.atomic():
            # Staying under the same parent with a position is a plain reorder.
            if position is None or label.parent_id != (parent.pk if parent else None):
                label = label_move(label=label, new_parent=parent, by=request.user)
            if position is not None:
                label = label_reorder(label=label, position=position, by=request.user)
        return Response(LabelOutput(label).data)


class LabelMergePreviewApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class MergePreviewQuery(serializers.Serializer):
        target = IdField(help_text="The label to merge into.")

    class MergePreviewOutput(serializers.Serializer):
        target = LabelOutput()
        annotations = serializers.IntegerField(help_text="Annotations that carry the source label.")
        items = serializers.IntegerField(help_text="Items those annotations belong to.")
        annotations_with_both = serializers.IntegerField(help_text="...of which already carry the target too.")
        children_moved = serializers.IntegerField()
        rules_retargeted = serializers.IntegerField()

    @extend_schema(
        parameters=[MergePreviewQuery],
        responses=MergePreviewOutput,
        description="What merging this label into `target` would change; nothing is written.",
    )
    def get(self, request, project_id: int, label_id: int):
        source = get_project_object(Label, self.project, pk=label_id)
        query = self.MergePreviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        target = _project_label(self.project, query.validated_data["target"])
        preview = merge_preview(source=source, target=target)
        return Response(self.MergePreviewOutput({"target": target, **preview}).data)


class LabelMergeApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class LabelMergeInput(serializers.Serializer):
        target = IdField(help_text="The label that absorbs this one.")

    @extend_schema(
        request=LabelMergeInput,
        responses=TaxonomyEventOutput,
        description="Annotations, children and rules move to the target; this label is archived as merged.",
    )
    def post(self, request, project_id: int, label_id: int):
        source = get_project_object(Label, self.project, pk=label_id)
        data = self.LabelMergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        target = _project_label(self.project, data.validated_data["target"])
        event = label_merge(source=source, target=target, by=request.user)
        return Response(TaxonomyEventOutput(event).data)


class LabelSplitApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    class LabelSplitInput(serializers.Serializer):
        children = serializers.ListField(
            child=serializers.CharField(max_length=200, allow_blank=True),
            help_text="Names of the new children; blanks are skipped.",
        )

    @extend_schema(
        request=LabelSplitInput,
        responses={201: LabelOutput(many=True)},
        description="Creates the children; items annotated with this label go back to the queue.",
    )
    def post(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        data = self.LabelSplitInput(data=request.data)
        data.is_valid(raise_exception=True)
        children = label_split(label=label, children=data.validated_data["children"], by=request.user)
        return Response(LabelOutput(children, many=True).data, status=status.HTTP_201_CREATED)


class LabelArchiveApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    @extend_schema(request=None, responses=LabelOutput, description="Hides the label and its subtree.")
    def post(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        label = label_archive(label=label, by=request.user)
        return Response(LabelOutput(label).data)


class LabelRestoreApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    @extend_schema(request=None, responses=LabelOutput, description="Brings back an archived (not merged) label.")
    def post(self, request, project_id: int, label_id: int):
        label = get_project_object(Label, self.project, pk=label_id)
        label = label_restore(label=label, by=request.user)
        return Response(LabelOutput(label).data)


class LabelHistoryApi(ProjectAPIView):
    @extend_schema(responses=TaxonomyEventOutput(many=True), description="Label-tree edits, newest first.")
    def get(self, request, project_id: int):
        events = taxonomy_history(project=self.project)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(TaxonomyEventOutput(page, many=True).data)
