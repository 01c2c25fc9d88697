"""What the active-learning page shows: the fast head's learning curve, per-class progress with the
labels each class still needs for the target F1, the stopping signal, and the rescoring jobs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from annotator.models import Job, JobStatus, ModelVersion, Project, ScoreRun
from annotator.selectors.items import final_label_ids
from annotator.selectors.model_pages import f1_chart, f1_chart_point
from mlcore.learning_curves import (
    DEFAULT_AGREEMENT_THRESHOLD,
    LabelEstimate,
    LearningCurve,
    StoppingSignal,
    fit_learning_curve,
    labels_needed,
    stopping_signal,
)

RESCORE_KIND = "rescore"  # annotator.services.active_learning.RESCORE_KIND (selectors do not import services)
EVALUATION_NAMES = {"test": "test split", "cross_validation": "cross-validation", "none": "not evaluated"}


@dataclass(frozen=True)
class CurvePoint:
    version: ModelVersion
    n_labels: int
    macro_f1: float
    evaluation: str  # "test", "cross_validation", "none"


@dataclass(frozen=True)
class ClassProgress:
    label_id: int
    name: str
    color: str
    labels: int  # final labels of this class outside the test split now
    f1: float | None  # in the latest fast head
    points: list[tuple[int, float]]  # (labels of the class, F1) per fast-head version
    curve: LearningCurve | None
    estimate: LabelEstimate

    @property
    def verdict(self) -> str:
        if self.estimate.status == "enough":
            return gettext("enough")
        if self.estimate.status == "estimate":
            return gettext("{n} more").format(n=self.estimate.more)
        if self.estimate.status == "unreachable":
            return gettext("not reachable at this rate")
        return gettext("not enough data to estimate")


@dataclass(frozen=True)
class ActiveLearningOverview:
    points: list[CurvePoint]
    classes: list[ClassProgress]
    stopping: StoppingSignal
    agreements: list[tuple[int, float]]  # (model version number, agreement with the previous model)
    target_f1: float
    latest_run: ScoreRun | None
    jobs: list[Job]
    labels_until_next: int

    @property
    def unfinished_jobs(self) -> list[Job]:
        return [job for job in self.jobs if job.status in (JobStatus.QUEUED, JobStatus.RUNNING)]


def fast_head_points(*, project: Project) -> list[CurvePoint]:
    versions = ModelVersion.objects.filter(project=project, kind="fast_head").order_by("number")
    # A version without an F1 (its cross-validation could not run) is no point on the curve (not 0).
    return [
        CurvePoint(v, v.n_train, float(v.metrics["macro_f1"]), v.metrics.get("evaluation", "test"))
        for v in versions
        if v.metrics.get("macro_f1") is not None
    ]


def _class_label_counts(project: Project) -> dict[int, int]:
    """Final labels per class among items outside the test split (what training can use)."""
    test_ids = set(project.items.filter(split="test").values_list("id", flat=True))
    counts: dict[int, int] = {}
    for item_id, labels in final_label_ids(project=project).items():
        if item_id in test_ids:
            continue
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    return counts


def _class_progress(project: Project, points: list[CurvePoint], target: float) -> list[ClassProgress]:
    counts = _class_label_counts(project)
    history: dict[int, list[tuple[int, float]]] = {}
    for point in points:
        class_counts = point.version.metrics.get("class_counts") or {}
        for row in point.version.metrics.get("per_class", []):
            n = class_counts.get(str(row["label"]))
            if n:
                history.setdefault(int(row["label"]), []).append((int(n), float(row["f1"])))
    latest = points[-1].version.metrics if points else {}
    latest_f1 = {int(row["label"]): float(row["f1"]) for row in latest.get("per_class", [])}
    rows = []
    for label in project.labels.filter(active=True, merged_into__isnull=True).order_by("order", "name", "id"):
        observed = history.get(label.pk, [])
        curve = fit_learning_curve([n for n, _ in observed], [f for _, f in observed]) if observed else None
        current = counts.get(label.pk, 0)
        estimate = labels_needed(curve, target=target, current_n=current, current_f1=latest_f1.get(label.pk))
        f1 = latest_f1.get(label.pk)
        rows.append(ClassProgress(label.pk, label.name, label.color, current, f1, observed, curve, estimate))
    return rows


def active_learning_overview(*, project: Project) -> ActiveLearningOverview:
    points = fast_head_points(project=project)
    runs = list(
        ScoreRun.objects.filter(project=project, model_version__isnull=False)
        .select_related("model_version")
        .order_by("created_at", "id")
    )
    agreements = [(run.model_version.number, float(run.stats["agreement"])) for run in runs if "agreement" in run.stats]
    every = max(1, project.al_every_labels)
    return ActiveLearningOverview(
        points=points,
        classes=_class_progress(project, points, project.al_target_f1),
        stopping=stopping_signal([a for _, a in agreements], threshold=DEFAULT_AGREEMENT_THRESHOLD),
        agreements=agreements,
        target_f1=project.al_target_f1,
        latest_run=runs[-1] if runs else None,
        jobs=list(Job.objects.filter(project=project, kind=RESCORE_KIND).order_by("-id")[:5]),
        labels_until_next=every - project.al_label_counter % every,
    )


# --- SVG ----------------------------------------------------------------------------------------------------


def al_learning_curve_svg(points: list[CurvePoint]) -> SafeString:
    """Macro-F1 of each fast-head version against its labels; hollow dots were cross-validated."""
    if not points:
        return SafeString("")
    max_x = max(p.n_labels for p in points) or 1
    coords = [f1_chart_point(p.n_labels, p.macro_f1, max_x) for p in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="4" class="{}"><title>v{}: {} labels, macro-F1 {} ({})</title></circle>',
        (
            (
                f"{x:.1f}",
                f"{y:.1f}",
                "cv" if p.evaluation == "cross_validation" else "test",
                p.version.number,
                p.n_labels,
                f"{p.macro_f1:.3f}",
                EVALUATION_NAMES.get(p.evaluation, p.evaluation),
            )
            for (x, y), p in zip(coords, points, strict=True)
        ),
    )
    body = format_html('<polyline points="{}" class="line"/>{}', path, dots)
    return f1_chart(max_x, "Learning curve", body)


def class_estimates_svg(classes: list[ClassProgress], target: float) -> SafeString:
    """Per class: observed (labels, F1) dots and the fitted curve, extended to its estimate."""
    if not any(row.points for row in classes):
        return SafeString("")
    ends = [n for row in classes for n, _ in row.points]
    ends += [row.estimate.total for row in classes if row.estimate.status == "estimate" and row.estimate.total]
    max_x = max(ends) or 1
    parts = []
    for row in classes:
        if row.curve is not None:
            xs = np.linspace(max(1, min(n for n, _ in row.points)), max_x, 40)
            fitted = zip(xs, row.curve.predict(xs), strict=True)
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (f1_chart_point(n, f, max_x) for n, f in fitted))
            parts.append(format_html('<polyline points="{}" class="fit" style="stroke: {}"/>', line, row.color))
        for n, f1 in row.points:
            x, y = f1_chart_point(n, f1, max_x)
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="3.5" style="fill: {}"><title>{}: {} labels, F1 {}</title></circle>',
                    f"{x:.1f}",
                    f"{y:.1f}",
                    row.color,
                    row.name,
                    n,
                    f"{f1:.3f}",
                )
            )
    return f1_chart(max_x, "Per-class learning curves", SafeString("".join(parts)), target)
