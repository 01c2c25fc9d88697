"""`GET/PATCH /api/projects/<id>/settings/`: the project's own settings (admins), what the settings page
and the active-learning page's strategy chooser change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.errors import field_errors_response
from annotator.models import Project, TaskType
from annotator.permissions import Capability
from annotator.selectors.project_settings import backbone_choices, benchmark_source, strategy_choices, task_type_lock
from annotator.services.project_settings import (
    HIDDEN_META_KEY_MAX_LENGTH,
    HIDDEN_META_MAX_KEYS,
    SETTINGS_FIELDS,
    TASK_TYPE_LOCKED_ERROR,
    project_settings_update,
)
from mlcore.languages import LANGUAGES


class StrategyChoiceOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    area_20ng = serializers.FloatField(allow_null=True, help_text="Area on 20 Newsgroups (docs/benchmarks.md).")
    area_bbc = serializers.FloatField(allow_null=True, help_text="Area on BBC News (docs/benchmarks.md).")
    area_20ng_lt = serializers.FloatField(
        allow_null=True, help_text="Area on the 20 Newsgroups long tail (imbalance 50; docs/benchmarks.md)."
    )
    area_bbc_lt = serializers.FloatField(
        allow_null=True, help_text="Area on the BBC News long tail (imbalance 20; docs/benchmarks.md)."
    )
    is_default = serializers.BooleanField(help_text="What the name “default” stands for now.")


class SettingsChoicesOutput(serializers.Serializer):
    al_strategy = StrategyChoiceOutput(many=True)
    area_source = serializers.CharField()
    backbone = serializers.ListField(child=serializers.CharField())
    language = serializers.DictField(child=serializers.CharField(), help_text="code -> name.")
    task_type = serializers.ListField(child=serializers.CharField())
    task_type_locked = serializers.CharField(help_text="Why the task type cannot change now; empty when it can.")


class ProjectSettingsOutput(serializers.ModelSerializer):
    choices = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", *SETTINGS_FIELDS, "choices"]

    @extend_schema_field(SettingsChoicesOutput)
    def get_choices(self, project: Project) -> dict:
        annotations, versions = task_type_lock(project=project)
        locked = (
            TASK_TYPE_LOCKED_ERROR.format(annotations=annotations, versions=versions) if annotations or versions else ""
        )
        return SettingsChoicesOutput(
            {
                "al_strategy": strategy_choices(),
                "area_source": benchmark_source(),
                "backbone": backbone_choices(),
                "language": LANGUAGES,
                "task_type": TaskType.values,
                "task_type_locked": locked,
            }
        ).data


class ProjectSettingsApi(ProjectAPIView):
    """The project's settings and the values each may take (admins). PATCH sends only what changes."""

    capability = Capability.CHANGE_SETTINGS

    class SettingsInput(serializers.Serializer):
        # Types only: the service checks ranges and choices (the same messages as the settings page).
        name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        task_type = serializers.CharField(required=False)
        language = serializers.CharField(required=False, help_text="One of choices.language.")
        backbone = serializers.CharField(required=False, help_text="One of choices.backbone.")
        al_strategy = serializers.CharField(required=False, help_text="“default” or one of choices.al_strategy.")
        al_every_labels = serializers.IntegerField(required=False, help_text="Rescore after this many new labels.")
        al_target_f1 = serializers.FloatField(required=False, help_text="The per-class F1 the AL page plans for.")
        preselect_suggestion = serializers.BooleanField(
            required=False, help_text="Correct mode: the model's suggestion comes pre-selected."
        )
        overlap_fraction = serializers.FloatField(
            required=False, help_text="Share of items several people annotate (agreement); 0 to 1."
        )
        overlap_annotators = serializers.IntegerField(required=False, help_text="People per overlap item.")
        lease_minutes = serializers.IntegerField(required=False, help_text="How long a served item stays reserved.")
        hidden_meta_fields = serializers.ListField(
            child=serializers.CharField(max_length=HIDDEN_META_KEY_MAX_LENGTH),
            max_length=HIDDEN_META_MAX_KEYS,
            required=False,
            help_text="Item meta keys annotators never see.",
        )
        promotion_max_f1_drop = serializers.FloatField(
            required=False,
            help_text="The promotion gate: a version whose macro-F1 is more than this below the active one's "
            "(0.01 = 1 point) becomes active only with a written reason.",
        )
        rules_bypass = serializers.BooleanField(
            required=False, help_text="Let high-precision seed rules decide where the model is unsure (/predict)."
        )
        rules_bypass_min_precision = serializers.FloatField(
            required=False, help_text="A seed rule decides only with at least this measured precision (0.5 to 1)."
        )
        rules_bypass_below_confidence = serializers.FloatField(
            required=False, help_text="…and only where the model's top probability is below this (0 to 1)."
        )

    class SettingsChangedOutput(ProjectSettingsOutput):
        changed = serializers.SerializerMethodField()

        class Meta(ProjectSettingsOutput.Meta):
            fields = [*ProjectSettingsOutput.Meta.fields, "changed"]

        def get_changed(self, project: Project) -> list[str]:
            return self.context["changed"]

    @extend_schema(responses=ProjectSettingsOutput)
    def get(self, request, project_id: int):
        return Response(ProjectSettingsOutput(self.project).data)

    @extend_schema(request=SettingsInput, responses={200: SettingsChangedOutput})
    def patch(self, request, project_id: int):
        """Change some settings: all or nothing; a 400 names each bad field."""
        data = self.SettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            made = project_settings_update(project=self.project, changes=data.validated_data, by=request.user)
        except ValidationError as error:
            return field_errors_response(error)
        changed = [change.field for change in made]
        return Response(self.SettingsChangedOutput(self.project, context={"changed": changed}).data)
