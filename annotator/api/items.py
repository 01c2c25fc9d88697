from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.errors import validation_error_response
from annotator.api.jobs import JobOutput
from annotator.downloads import export_download
from annotator.exporting.formats import EXPORT_FORMATS
from annotator.importing.encodings import AUTO, ENCODING_ALIASES, ENCODINGS, check_encoding
from annotator.importing.parsers import ImportOptions
from annotator.models import Item, Split
from annotator.permissions import Capability
from annotator.selectors.exports import export_bom, export_filters
from annotator.selectors.review import flagged_items
from annotator.selectors.visibility import visible_items, visible_meta
from annotator.services.imports import SPLIT_CHOICES, ImportRequest, import_start


class ItemListApi(ProjectAPIView):
    """The project's items. Annotators see no test-split items, no hidden meta keys and, of the labels,
    only their own (`selectors.visibility`); experts and admins see everything."""

    class ItemOutput(serializers.ModelSerializer):
        labels = serializers.SerializerMethodField()
        meta = serializers.SerializerMethodField()

        class Meta:
            model = Item
            fields = ["id", "text", "meta", "split", "labels", "created_at"]

        def get_labels(self, item) -> list[str]:
            return sorted({label.name for a in item.annotations.all() for label in a.labels.all()})

        def get_meta(self, item) -> dict:
            return visible_meta(project=self.context["project"], role=self.context["role"], meta=item.meta)

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=Split.values),
            OpenApiParameter("search", str, description="Only items whose text contains this."),
        ],
        responses=ItemOutput(many=True),
    )
    def get(self, request, project_id: int):
        items = visible_items(
            project=self.project,
            role=self.role,
            user=request.user,
            split=request.query_params.get("split"),
            search=request.query_params.get("search"),
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        context = {"project": self.project, "role": self.role}
        return paginator.get_paginated_response(self.ItemOutput(page, many=True, context=context).data)


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=["auto", "csv", "tsv", "jsonl", "label-studio", "txt"], default="auto")
    encoding = serializers.ChoiceField(
        choices=[*ENCODINGS, *ENCODING_ALIASES],
        default=AUTO,
        help_text="auto detects UTF-8 or GB18030 (GBK, GB2312); gb18030 and big5 read Chinese legacy files.",
    )
    text_column = serializers.CharField(default="text")
    label_column = serializers.CharField(required=False, allow_blank=True, default="")
    meta_columns = serializers.CharField(
        required=False, allow_blank=True, default=None, allow_null=True,
        help_text="Comma-separated CSV/TSV columns kept as meta; omit to keep every other column.",
    )  # fmt: skip
    split = serializers.ChoiceField(choices=SPLIT_CHOICES, default="auto")
    background = serializers.BooleanField(default=False, help_text="Run as a job even for a small file.")

    def import_request(self) -> ImportRequest:
        data = self.validated_data
        meta = data.get("meta_columns")
        options = ImportOptions(
            format=data["format"],
            text_column=data["text_column"],
            label_column=data.get("label_column") or None,
            meta_columns=None if meta is None else [c.strip() for c in meta.split(",") if c.strip()],
            encoding=check_encoding(data["encoding"]),
        )
        return ImportRequest(filename=data["file"].name, options=options, split=data["split"])


class ImportApi(ProjectAPIView):
    capability = Capability.IMPORT
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={201: OpenApiTypes.OBJECT, 202: JobOutput},
        description="Small files import at once (201, the report); large ones (or background=true) return the "
        "import job (202) to follow at its URL.",
    )
    def post(self, request, project_id: int):
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            outcome = import_start(
                project=self.project,
                upload=data.validated_data["file"],
                request=data.import_request(),
                by=request.user,
                background=data.validated_data["background"],
            )
        except ValidationError as error:
            return validation_error_response(error)
        if outcome.job is not None:
            return Response(JobOutput(outcome.job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)
        return Response(outcome.report.as_dict(), status=status.HTTP_201_CREATED)


class ExportApi(ProjectAPIView):
    capability = Capability.EXPORT

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="jsonl"),
            OpenApiParameter("labeled_only", bool, description="Only items with a final label."),
            OpenApiParameter("split", str, enum=list(Split.values), description="Only items of this split."),
            OpenApiParameter("label", int, description="Only items whose final labels include this label or a child."),
            OpenApiParameter("annotator", int, description="Only items this user (id) answered."),
            OpenApiParameter(
                "bom", bool, description="CSV only: start with a UTF-8 byte-order mark, so Excel reads Chinese text."
            ),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, project_id: int):
        filters = export_filters(project=self.project, params=request.query_params)  # a bad one: 400
        fmt = request.query_params.get("format", "jsonl")
        try:
            bom = export_bom(params=request.query_params, fmt=fmt)
            return export_download(project=self.project, fmt=fmt, filters=filters, bom=bom)
        except ValidationError as error:
            return validation_error_response(error)
        except ValueError as error:
            return validation_error_response(ValidationError(str(error)))


class FlaggedItemListApi(ProjectAPIView):
    """Items annotators flagged as unclear, most recently flagged first, with who flagged them and why
    (experts: the review page's "Flagged as unclear" list)."""

    capability = Capability.REVIEW

    class FlagOutput(serializers.Serializer):
        user = serializers.CharField(source="user.username")
        comment = serializers.CharField()
        created_at = serializers.DateTimeField()

    class FlaggedItemOutput(serializers.ModelSerializer):
        split = serializers.CharField(help_text="pool, train or test")  # a third "split" enum confuses the schema
        flags = serializers.SerializerMethodField()

        class Meta:
            model = Item
            fields = ["id", "text", "split", "flags"]

        def get_flags(self, item) -> list[dict]:
            return FlaggedItemListApi.FlagOutput(item.flags, many=True).data

    @extend_schema(responses=FlaggedItemOutput(many=True))
    def get(self, request, project_id: int):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(flagged_items(project=self.project), request, view=self)
        return paginator.get_paginated_response(self.FlaggedItemOutput(page, many=True).data)
