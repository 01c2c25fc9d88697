"""Model versions over HTTP: train (a job), list, inspect, activate, and predict with the active one."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.fields import JsonObjectField
from annotator.api.jobs import JobOutput
from annotator.models import ModelVersion
from annotator.permissions import Capability
from annotator.selectors.training import model_versions
from annotator.services.training import PRESETS, model_version_activate, predict_texts, training_job_start

MAX_TEXTS_PER_PREDICTION = 1000


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
            "parent",
            "job",
            "train_seconds",
            "created_at",
        ]


class ModelVersionListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.RUN_JOBS}

    class TrainInput(serializers.Serializer):
        preset = serializers.ChoiceField(choices=list(PRESETS), default="fast_head")
        params = JsonObjectField(required=False, default=dict)

    @extend_schema(responses=ModelVersionOutput(many=True))
    def get(self, request, project_id: int):
        return Response(ModelVersionOutput(model_versions(project=self.project), many=True).data)

    @extend_schema(request=TrainInput, responses={202: JobOutput})
    def post(self, request, project_id: int):
        data = self.TrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = training_job_start(project=self.project, by=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionDetailApi(ProjectAPIView):
    @extend_schema(responses=ModelVersionOutput)
    def get(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        return Response(ModelVersionOutput(version).data)


class ModelVersionActivateApi(ProjectAPIView):
    capability = Capability.RUN_JOBS

    @extend_schema(request=None, responses=ModelVersionOutput)
    def post(self, request, project_id: int, version_id: int):
        version = get_project_object(ModelVersion, self.project, pk=version_id)
        model_version_activate(version=version, by=request.user)
        return Response(ModelVersionOutput(version).data)


class PredictApi(ProjectAPIView):
    """Labels and probabilities for `texts` from the project's active model version."""

    capability = Capability.VIEW

    class PredictInput(serializers.Serializer):
        texts = serializers.ListField(
            child=serializers.CharField(allow_blank=True, trim_whitespace=False),
            min_length=1,
            max_length=MAX_TEXTS_PER_PREDICTION,
        )

    @extend_schema(request=PredictInput, responses={200: dict})
    def post(self, request, project_id: int):
        data = self.PredictInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version, predictions = predict_texts(project=self.project, texts=data.validated_data["texts"])
        except ValidationError as error:
            return validation_error_response(error)
        return Response({"model_version": version.number, "kind": version.kind, "predictions": predictions})
