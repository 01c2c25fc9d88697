"""What the progress dashboard and the active-learning page show, as data: labels per class, who
annotated how much and when, the pool left, agreement between annotators (Cohen's kappa per pair,
Krippendorff's alpha), and the fast head's learning curve with per-class estimates and the stopping signal.

Every member may read these, as on the pages: they are counts and scores, no item's text or labels.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotator.access import ProjectAPIView
from annotator.api.jobs import JobOutput
from annotator.api.review import ChipOutput
from annotator.selectors.active_learning import active_learning_overview
from annotator.selectors.agreement import project_agreement
from annotator.selectors.dashboard import annotator_activity, label_counts, pool, queue_order

# --- the dashboard ----------------------------------------------------------------------------------------------


class ScoreRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    model_name = serializers.CharField()
    strategy = serializers.CharField()
    items_scored = serializers.IntegerField()
    labels_used = serializers.IntegerField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    created_at = serializers.DateTimeField()


class LabelCountOutput(serializers.Serializer):
    label = ChipOutput()
    items = serializers.IntegerField(help_text="Items whose final labels include it.")


class AnnotatorActivityOutput(serializers.Serializer):
    username = serializers.CharField()
    hourly = serializers.ListField(child=serializers.IntegerField(), help_text="Annotations per hour, oldest first.")
    last_day = serializers.IntegerField()
    last_week = serializers.IntegerField()
    total = serializers.IntegerField()
    active_hours = serializers.IntegerField()
    per_active_hour = serializers.FloatField()


class ActivityOutput(serializers.Serializer):
    hours = serializers.ListField(child=serializers.DateTimeField(), help_text="Each heatmap column's start.")
    annotators = AnnotatorActivityOutput(many=True)


class PoolOutput(serializers.Serializer):
    items = serializers.IntegerField()
    open_items = serializers.IntegerField(help_text="Items that still need an annotation.")
    unlabeled = serializers.IntegerField()
    flagged = serializers.IntegerField(help_text="Items someone flagged as unclear.")


class QueueOrderOutput(serializers.Serializer):
    score_run = ScoreRunOutput(allow_null=True, help_text="Null: the queue is in random order.")
    labels_since = serializers.IntegerField(help_text="Human annotations made since that scoring.")


class ProgressApi(ProjectAPIView):
    """The dashboard: items per final label, annotations per annotator (with a 24-hour heatmap), the pool,
    and the queue's order."""

    class ProgressOutput(serializers.Serializer):
        label_counts = LabelCountOutput(many=True)
        activity = ActivityOutput()
        pool = PoolOutput()
        queue = QueueOrderOutput()

    @extend_schema(responses=ProgressOutput)
    def get(self, request, project_id: int):
        data = {
            "label_counts": label_counts(project=self.project),
            "activity": annotator_activity(project=self.project),
            "pool": pool(project=self.project),
            "queue": queue_order(project=self.project),
        }
        return Response(self.ProgressOutput(data).data)


# --- agreement --------------------------------------------------------------------------------------------------


class PairAgreementOutput(serializers.Serializer):
    annotator_a = serializers.CharField()
    annotator_b = serializers.CharField()
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa; null where it is undefined.")
    items = serializers.IntegerField(help_text="Items both annotated.")


class LabelAlphaOutput(serializers.Serializer):
    label = ChipOutput()
    alpha = serializers.FloatField(allow_null=True)


class AgreementApi(ProjectAPIView):
    """Agreement over the items two or more annotators labelled (counted human annotations only)."""

    class AgreementOutput(serializers.Serializer):
        overlap_items = serializers.IntegerField()
        pairs = PairAgreementOutput(many=True)
        alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha (nominal) over label sets.")
        per_label = LabelAlphaOutput(many=True)
        open_disagreements = serializers.IntegerField(help_text="Items waiting for adjudication.")

    @extend_schema(responses=AgreementOutput)
    def get(self, request, project_id: int):
        return Response(self.AgreementOutput(project_agreement(project=self.project)).data)


# --- active learning --------------------------------------------------------------------------------------------


class CurvePointOutput(serializers.Serializer):
    version = serializers.IntegerField(source="version.number")
    version_id = serializers.IntegerField(source="version.id")
    n_labels = serializers.IntegerField()
    macro_f1 = serializers.FloatField()
    evaluation = serializers.CharField(help_text="test, cross_validation or none.")


class EstimateOutput(serializers.Serializer):
    status = serializers.CharField(help_text="enough, estimate, unreachable or too_few_points.")
    total = serializers.IntegerField(allow_null=True)
    more = serializers.IntegerField(allow_null=True)


class ClassProgressOutput(serializers.Serializer):
    label_id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()
    labels = serializers.IntegerField(help_text="Final labels of this class outside the test split.")
    f1 = serializers.FloatField(allow_null=True, help_text="In the latest fast head.")
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[labels, F1] per fast-head version."
    )
    estimate = EstimateOutput()
    verdict = serializers.CharField()


class StoppingOutput(serializers.Serializer):
    stable = serializers.BooleanField()
    latest = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    window = serializers.IntegerField()
    rounds_above = serializers.IntegerField()


class ActiveLearningApi(ProjectAPIView):
    """The active-learning overview: the fast head's learning curve, per-class progress and the labels each
    class still needs for the target F1, the stopping signal, and the latest rescoring jobs."""

    class OverviewOutput(serializers.Serializer):
        points = CurvePointOutput(many=True)
        classes = ClassProgressOutput(many=True)
        stopping = StoppingOutput()
        agreements = serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField()),
            help_text="[model version, agreement with the previous model's predictions].",
        )
        target_f1 = serializers.FloatField()
        latest_run = ScoreRunOutput(allow_null=True)
        jobs = JobOutput(many=True, help_text="The latest rescoring jobs, as the caller's role may see them.")
        labels_until_next = serializers.IntegerField(help_text="New labels until the next automatic rescoring.")

    @extend_schema(responses=OverviewOutput)
    def get(self, request, project_id: int):
        overview = active_learning_overview(project=self.project)
        return Response(self.OverviewOutput(overview, context={"role": self.role}).data)
