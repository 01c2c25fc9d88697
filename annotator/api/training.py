"""Model versions over HTTP: train (a job), list, inspect, activate, and predict with the active one."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.fields import JsonObjectField
from annotator.api.jobs import JobOutput
from annotator.downloads import model_archive_download
from annotator.models import Job, ModelVersion, Promotion, Role
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import strip_server_paths_in
from annotator.selectors.training import model_versions, promotions
from annotator.services.predictions import (
    predict_batch_start,
    predict_file_start,
    predict_pool_start,
    predict_sync,
    predictions_file,
)
from annotator.services.training import (
    PRESETS,
    PROMOTION_REASON_MAX_LENGTH,
    model_version_activate,
    training_job_start,
)
from mlcore.training_options import OPTION_SPECS, accepted_options

# Refused by the serializer before anything else (the batch job's own limit is a setting below it).
MAX_TEXTS_PER_BATCH = 100_000
NOT_YOUR_BATCH_ERROR = "Only the member who started this batch prediction, experts and admins can download it."


class ModelVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "number",
            "kind",
            "params",
            "data_hash",
            "n_train",
            "n_test",
            "label_ids",
            "metrics",
            "encoder_version",
            "backbone",
            "parent",
            "job",
            "train_seconds",
            "created_at",
            # Issue 21: a student's teachers, and the version's speed (null until measured).
            "parents",
            "ms_per_text",
            "texts_per_second",
            "speed_threads",
            "speed_measured_at",
        ]

    def to_representation(self, version: ModelVersion) -> dict:
        data = super().to_representation(version)
        if self.context.get("role") != Role.ADMIN:  # a backbone given as a path names a server folder
            data["params"] = strip_server_paths_in(data["params"])
            data["backbone"] = strip_server_paths_in({"backbone": data["backbone"]})["backbone"]
        return data


class ModelVersionListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.RUN_JOBS}

    class TrainInput(serializers.Serializer):
        preset = serializers.ChoiceField(choices=list(PRESETS), default="fast_head")
        params = JsonObjectField(
            required=False,
            default=dict,
            help_text=(
                "Options that override the preset's, checked against the model kind's spec "
                "(mlcore.training_options; the training form's Advanced part lists them). "
                + " ".join(f"{kind}: {', '.join(accepted_options(kind))}." for kind in OPTION_SPECS)
                + " A bad key or value is a 400 with `detail`, `key` and `accepted`."
            ),
        )
        augmentation = serializers.BooleanField(
            default=False,
            help_text="Train on the accepted augmented copies of the training items too (issue 24); the version "
            "records it in params.augmentation. Without accepted copies it is a 400.",
        )

    @extend_schema(responses=ModelVersionOutput(many=True))
    def get(self, request, project_id: int):
        versions = model_versions(project=self.project)
        return Response(ModelVersionOutput(versions, many=True, context={"role": self.role}).data)

    @extend_schema(request=TrainInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = self.TrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = training_job_start(project=self.project, by=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionDetailApi(ProjectAPIView):
    @extend_schema(responses=ModelVersionOutput)
    def get(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        return Response(ModelVersionOutput(version, context={"role": self.role}).data)


class ModelVersionActivateApi(ProjectAPIView):
    """Make a version the one that answers /predict, through the promotion gate: a version whose macro-F1
    is more than the project's `promotion_max_f1_drop` below the active one's needs a `reason` (else a 400
    with code `reason_required`, and nothing changes). Every promotion is recorded (see promotions/)."""

    capability = Capability.RUN_JOBS

    class ActivateInput(serializers.Serializer):
        reason = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=PROMOTION_REASON_MAX_LENGTH,
            help_text="Why this version should serve; required when its macro-F1 drops more than the project allows.",
        )

    @extend_schema(request=ActivateInput, responses=ModelVersionOutput)
    def post(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        data = self.ActivateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            model_version_activate(version=version, by=request.user, reason=data.validated_data.get("reason", ""))
        except ValidationError as error:
            answer = validation_error_response(error)
            answer.data["code"] = error.code or "invalid"  # `reason_required`: ask for a reason and retry
            return answer
        return Response(ModelVersionOutput(version, context={"role": self.role}).data)


class ModelVersionExportApi(ProjectAPIView):
    """The version as one .zip archive (experts and admins): its weights and vocabulary, `model.json`,
    `model_card.json` (kind, params, classes and label map, metrics, latency, data snapshot, parents,
    encoder) and `model.onnx` for kinds that export to ONNX. Run it with
    `python -m mlcore.predict --model archive.zip --input texts.jsonl`."""

    capability = Capability.EXPORT

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        return model_archive_download(version=version)


class PromotionOutput(serializers.ModelSerializer):
    version_number = serializers.IntegerField(source="version.number")
    previous_number = serializers.IntegerField(source="previous.number", allow_null=True, default=None)
    by = serializers.CharField(source="by.username", allow_null=True, default=None)

    class Meta:
        model = Promotion
        fields = [
            "id",
            "version",
            "version_number",
            "previous",
            "previous_number",
            "f1",
            "previous_f1",
            "reason",
            "reason_required",
            "by",
            "at",
        ]


class PromotionListApi(ProjectAPIView):
    """Every change of the active version, newest first: who, when, why, and both macro-F1s."""

    @extend_schema(responses=PromotionOutput(many=True))
    def get(self, request, project_id: int):
        return Response(PromotionOutput(promotions(project=self.project), many=True).data)


NOT_A_STRING_ERROR = "Each text must be a JSON string; got {type}."


class StrictTextField(serializers.CharField):
    """A text that is a JSON string: DRF's CharField would turn 1 into "1", which hides a client's bug."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(NOT_A_STRING_ERROR.format(type=_json_type(data)))
        return super().to_internal_value(data)


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


class PredictInput(serializers.Serializer):
    texts = serializers.ListField(
        child=StrictTextField(allow_blank=True, trim_whitespace=False),
        min_length=1,
        max_length=MAX_TEXTS_PER_BATCH,
        help_text="One or more texts (JSON strings); /predict takes a few (see its limits), the batch job more.",
    )


TOO_LARGE = {"too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE}


class PredictApi(ProjectAPIView):
    """Labels and probabilities for a few `texts` from the project's active model version (more than
    PREDICT_SYNC_MAX_TEXTS texts or PREDICT_SYNC_MAX_CHARS characters: 413, use the batch job)."""

    capability = Capability.VIEW
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"

    @extend_schema(request=PredictInput, responses={200: dict})
    def post(self, request, project_id: int):
        data = PredictInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version, predictions = predict_sync(project=self.project, texts=data.validated_data["texts"])
        except ValidationError as error:
            return validation_error_response(error, status_by_code=TOO_LARGE)
        return Response({"model_version": version.number, "kind": version.kind, "predictions": predictions})


class PredictBatchApi(ProjectAPIView):
    """Queue a batch prediction job for many `texts`; download the results when it has succeeded."""

    capability = Capability.VIEW
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"

    @extend_schema(request=PredictInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = PredictInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = predict_batch_start(project=self.project, texts=data.validated_data["texts"], by=request.user)
        except ValidationError as error:
            return validation_error_response(error, status_by_code=TOO_LARGE)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class PredictFileInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV or TSV with a `text` column, JSONL objects with `text`, or TXT (one text a line); "
        "labels and other columns are ignored."
    )


class PredictBatchFileApi(ProjectAPIView):
    """Queue a batch prediction of the texts of an uploaded file; the results (JSON lines with `index`, in
    the file's order) download from predict/batch/<job id>/ when the job has succeeded."""

    capability = Capability.VIEW
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": PredictFileInput}, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = PredictFileInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = predict_file_start(project=self.project, upload=data.validated_data["file"], by=request.user)
        except ValidationError as error:
            return validation_error_response(error, status_by_code=TOO_LARGE)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class PredictBatchPoolApi(ProjectAPIView):
    """Queue a batch prediction of every item of the project (experts and admins); each result line has
    the `item_id`. Download it from predict/batch/<job id>/ when the job has succeeded."""

    capability = Capability.REVIEW
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"

    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request, project_id: int):
        try:
            job = predict_pool_start(project=self.project, by=request.user)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job, context={"role": self.role}).data, status=status.HTTP_202_ACCEPTED)


class PredictBatchResultApi(ProjectAPIView):
    """The results of a succeeded batch prediction as JSON lines (`index`, `labels`, `probabilities`);
    for the member who started it and for experts and admins."""

    capability = Capability.VIEW

    @extend_schema(responses={(200, "application/jsonl"): str})
    def get(self, request, project_id: int, job_id: int):
        job = get_project_object(Job, self.project, pk=job_id)
        try:
            path = predictions_file(job=job)  # a job's kind and status are no secret to members
        except ValidationError as error:
            return validation_error_response(error)
        if job.created_by_id != request.user.pk and not role_can(self.role, Capability.REVIEW):
            raise PermissionDenied(NOT_YOUR_BATCH_ERROR)
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"predictions-{job.pk}.jsonl",
            content_type="application/jsonl",
        )
