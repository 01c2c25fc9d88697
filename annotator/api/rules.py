from __future__ import annotations

import dataclasses

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import validation_error_response
from annotator.api.fields import IdField
from annotator.models import Label, Rule, RuleKind
from annotator.permissions import Capability
from annotator.selectors.rules import project_rules, rule_preview
from annotator.services.rules import rule_apply, rule_create, rule_delete, rule_update, rule_warnings
from mlcore.rules import RuleError, RuleSpec


class RuleOutput(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = [
            "id", "name", "kind", "pattern", "is_regex", "case_sensitive", "whole_word", "label", "active",
            "created_at", "applied_at", "precision", "precision_matches", "precision_measured_at",
        ]  # fmt: skip
        read_only_fields = ["precision", "precision_matches", "precision_measured_at"]


class RuleSavedOutput(RuleOutput):
    """A rule as saved, with what its pattern will get wrong on the project's texts (saved all the same)."""

    warnings = serializers.SerializerMethodField()

    class Meta(RuleOutput.Meta):
        fields = [*RuleOutput.Meta.fields, "warnings"]

    def get_warnings(self, rule) -> list[str]:
        return rule_warnings(rule=rule)


class RuleSpecInput(serializers.Serializer):
    pattern = serializers.CharField(trim_whitespace=False)
    is_regex = serializers.BooleanField(default=False)
    case_sensitive = serializers.BooleanField(default=False)
    whole_word = serializers.BooleanField(default=True)
    kind = serializers.ChoiceField(choices=RuleKind.choices, default=RuleKind.SEED)
    label = IdField(required=False, allow_null=True, default=None)


class RuleCreateInput(RuleSpecInput):
    name = serializers.CharField(max_length=200)


def _label(project, label_id: int | None) -> Label | None:
    return None if label_id is None else get_project_object(Label, project, pk=label_id)


class RuleListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.EDIT_TAXONOMY}

    @extend_schema(responses=RuleOutput(many=True))
    def get(self, request, project_id: int):
        return Response(RuleOutput(project_rules(project=self.project), many=True).data)

    @extend_schema(request=RuleCreateInput, responses={201: RuleSavedOutput})
    def post(self, request, project_id: int):
        data = RuleCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {**data.validated_data, "label": _label(self.project, data.validated_data["label"])}
        rule = rule_create(project=self.project, by=request.user, **fields)
        return Response(RuleSavedOutput(rule).data, status=status.HTTP_201_CREATED)


class RulePreviewApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    @extend_schema(request=RuleSpecInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        data = RuleSpecInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        spec = RuleSpec(values["pattern"], values["is_regex"], values["case_sensitive"], values["whole_word"])
        try:
            preview = rule_preview(project=self.project, spec=spec, kind=values["kind"], label_id=values["label"])
        except RuleError as error:
            return validation_error_response(ValidationError(str(error)))
        return Response(
            {
                "matched": preview.matched,
                "total": preview.total,
                "sample": preview.sample,
                "stats": dataclasses.asdict(preview.stats) if preview.stats else None,
                # Saved rules left out of the statistics because they were too slow: name -> why.
                "too_slow": preview.too_slow,
                # What the pattern will get wrong on this project's texts (e.g. \\b on Chinese); not errors.
                "warnings": preview.warnings,
            }
        )


class RuleDetailApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "PATCH": Capability.EDIT_TAXONOMY, "DELETE": Capability.EDIT_TAXONOMY}

    class RuleUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        pattern = serializers.CharField(required=False, trim_whitespace=False)
        is_regex = serializers.BooleanField(required=False)
        case_sensitive = serializers.BooleanField(required=False)
        whole_word = serializers.BooleanField(required=False)
        active = serializers.BooleanField(required=False)
        label = IdField(required=False, allow_null=True)

    @extend_schema(responses=RuleOutput)
    def get(self, request, project_id: int, rule_id: int):
        return Response(RuleOutput(get_project_object(Rule, self.project, pk=rule_id)).data)

    @extend_schema(request=RuleUpdateInput, responses=RuleSavedOutput)
    def patch(self, request, project_id: int, rule_id: int):
        rule = get_project_object(Rule, self.project, pk=rule_id)
        data = self.RuleUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "label" in changes:
            changes["label"] = _label(self.project, changes["label"])
        rule = rule_update(rule=rule, by=request.user, **changes)
        return Response(RuleSavedOutput(rule).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, rule_id: int):
        rule_delete(rule=get_project_object(Rule, self.project, pk=rule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleApplyApi(ProjectAPIView):
    capability = Capability.EDIT_TAXONOMY

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int, rule_id: int):
        rule = get_project_object(Rule, self.project, pk=rule_id)
        return Response(rule_apply(rule=rule, by=request.user))
