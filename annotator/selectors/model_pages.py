"""What the model pages draw: per-class rows with label names, the confusion grid, comparisons, and
the learning curve as an SVG."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from annotator.models import ModelVersion, Project

CURVE_WIDTH, CURVE_HEIGHT, CURVE_MARGIN = 560, 240, 40
KIND_STYLES = 4  # line colours in models.css (.kind-0 ... .kind-3), reused after that


def label_names(*, project: Project) -> dict[int, str]:
    return dict(project.labels.values_list("id", "name"))


@dataclass(frozen=True)
class ConfusionCell:
    count: int
    share: float  # of the true class's items: drives the color
    diagonal: bool


def confusion_rows(version: ModelVersion, names: dict[int, str]) -> list[tuple[str, list[ConfusionCell]]]:
    """Rows of the confusion matrix (true class first), each cell with its share of the row."""
    matrix = version.metrics.get("confusion") or []
    rows = []
    for i, (label_id, counts) in enumerate(zip(version.label_ids, matrix, strict=False)):
        total = sum(counts) or 1
        cells = [ConfusionCell(n, n / total, i == j) for j, n in enumerate(counts)]
        rows.append((names.get(label_id, f"#{label_id}"), cells))
    return rows


@dataclass(frozen=True)
class ClassDelta:
    name: str
    f1_a: float | None
    f1_b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.f1_a is None or self.f1_b is None else self.f1_b - self.f1_a


def _f1_by_label(version: ModelVersion) -> dict[int, float]:
    rows = version.metrics.get("per_class", [])
    return {int(row["label"]): row["f1"] for row in rows}


def compare_versions(a: ModelVersion, b: ModelVersion, names: dict[int, str]) -> list[ClassDelta]:
    """Per-class F1 of `a` and `b` and the change from a to b; labels only one of them knows included."""
    f1_a, f1_b = _f1_by_label(a), _f1_by_label(b)
    ordered = list(dict.fromkeys([*a.label_ids, *b.label_ids]))
    return [ClassDelta(names.get(pk, f"#{pk}"), f1_a.get(pk), f1_b.get(pk)) for pk in ordered]


def learning_curve_svg(points: list[tuple[int, float, ModelVersion]]) -> SafeString:
    """Macro-F1 on the test split against the number of training labels: one line per model kind
    (a fast head and a TextCNN are different curves, never joined), one dot per version, a legend."""
    if not points:
        return SafeString("")
    max_x = max(n for n, _f1, _v in points) or 1
    by_kind: dict[str, list[tuple[int, float, ModelVersion]]] = {}
    for point in points:
        by_kind.setdefault(point[2].kind, []).append(point)
    lines = []
    for position, (kind, kind_points) in enumerate(by_kind.items()):
        coords = [f1_chart_point(n, f1, max_x) for n, f1, _v in kind_points]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="4"><title>{} v{}: {} labels, macro-F1 {}</title></circle>',
            (
                (f"{x:.1f}", f"{y:.1f}", kind, v.number, n, f"{f1:.3f}")
                for (x, y), (n, f1, v) in zip(coords, kind_points, strict=True)
            ),
        )
        lines.append(
            format_html(
                '<g class="kind kind-{}" data-kind="{}"><polyline points="{}" class="line"/>{}'
                '<text x="{}" y="{}" class="tick legend">{}</text></g>',
                position % KIND_STYLES,
                kind,
                path,
                dots,
                CURVE_MARGIN + 8,
                CURVE_MARGIN + 14 * (position + 1),
                kind.replace("_", " "),
            )
        )
    return f1_chart(max_x, "Learning curve", format_html_join("", "{}", ((line,) for line in lines)))


def f1_chart(max_x: int, label: str, body: SafeString, target: float | None = None) -> SafeString:
    """An SVG frame for F1 (0-1) against labels (0-`max_x`) around `body`; a dashed target line if given."""
    width, height, margin = CURVE_WIDTH, CURVE_HEIGHT, CURVE_MARGIN
    target_line = SafeString("")
    if target is not None:
        y = height - margin - (height - 2 * margin) * target
        target_line = format_html(
            '<line x1="{m}" y1="{y}" x2="{r}" y2="{y}" class="target"/>'
            '<text x="{r}" y="{ty}" class="tick" text-anchor="end">target F1 {t}</text>',
            m=margin,
            r=width - margin,
            y=f"{y:.1f}",
            ty=f"{y - 4:.1f}",
            t=f"{target:.2f}",
        )
    return format_html(
        '<svg class="curve" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>'
        '<line x1="{m}" y1="{m}" x2="{m}" y2="{b}" class="axis"/>'
        '<text x="{m}" y="{t}" class="tick">0</text>'
        '<text x="{r}" y="{t}" class="tick" text-anchor="end">{max_x} labels</text>'
        '<text x="4" y="{m}" class="tick">1.0</text><text x="4" y="{b}" class="tick">0.0</text>'
        "{target_line}{body}</svg>",
        w=width,
        h=height,
        m=margin,
        b=height - margin,
        r=width - margin,
        t=height - margin + 16,
        max_x=max_x,
        label=label,
        target_line=target_line,
        body=body,
    )


def f1_chart_point(n: float, f1: float, max_x: float) -> tuple[float, float]:
    """Where (n labels, F1) lies in `f1_chart`'s coordinates."""
    width, height, margin = CURVE_WIDTH, CURVE_HEIGHT, CURVE_MARGIN
    return margin + (width - 2 * margin) * n / max_x, height - margin - (height - 2 * margin) * f1
