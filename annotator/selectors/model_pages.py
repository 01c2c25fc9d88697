"""What the model pages draw: per-class rows with label names, the confusion grid, comparisons, and
the learning curve as an SVG."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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


# --- quality against speed (issue 21) ---------------------------------------------------------------

SPEED_WIDTH, SPEED_HEIGHT, SPEED_MARGIN = 640, 300, 48


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher x AND higher y, one strictly):
    the best-of-both frontier, fastest first. Of two identical points only the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1], i))
    frontier, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            frontier.append(i)
            best_y = points[i][1]
    return frontier


@dataclass(frozen=True)
class SpeedPoint:
    version: ModelVersion
    texts_per_second: float
    macro_f1: float
    on_frontier: bool


def quality_speed_points(versions: Iterable[ModelVersion]) -> tuple[list[SpeedPoint], list[ModelVersion]]:
    """(the versions the chart draws, with the frontier marked; those with no speed measured yet).
    A version without a macro-F1 is neither: it has nothing to place on the quality axis."""
    drawn, unmeasured = [], []
    for version in versions:
        if version.metrics.get("macro_f1") is None:
            continue
        if not version.texts_per_second:
            unmeasured.append(version)
            continue
        drawn.append(version)
    coords = [(float(v.texts_per_second), float(v.metrics["macro_f1"])) for v in drawn]
    frontier = set(pareto_frontier(coords))
    points = [SpeedPoint(v, x, y, i in frontier) for i, (v, (x, y)) in enumerate(zip(drawn, coords, strict=True))]
    return points, unmeasured


def _speed_label(texts_per_second: float) -> str:
    if texts_per_second >= 1_000_000:
        return f"{texts_per_second / 1_000_000:g}M"
    if texts_per_second >= 1000:
        return f"{texts_per_second / 1000:g}k"
    return f"{texts_per_second:g}"


def quality_speed_svg(points: list[SpeedPoint]) -> SafeString:
    """Macro-F1 (y, 0-1) against texts per second (x, log scale, whole decades): a dot and a `kind vN`
    label per version, the frontier's dots classed `frontier` and joined by a `.frontier-line`."""
    if not points:
        return SafeString("")
    width, height, margin = SPEED_WIDTH, SPEED_HEIGHT, SPEED_MARGIN
    low = math.floor(math.log10(min(p.texts_per_second for p in points)))
    high = max(math.ceil(math.log10(max(p.texts_per_second for p in points))), low + 1)

    def place(texts_per_second: float, f1: float) -> tuple[float, float]:
        share = (math.log10(texts_per_second) - low) / (high - low)
        return margin + (width - 2 * margin) * share, height - margin - (height - 2 * margin) * f1

    ticks = format_html_join(
        "",
        '<line x1="{x}" y1="{b}" x2="{x}" y2="{tb}" class="axis"/><text x="{x}" y="{t}" class="tick" '
        'text-anchor="middle">{label}</text>',
        (
            {
                "x": f"{place(10.0**d, 0)[0]:.1f}",
                "b": height - margin,
                "tb": height - margin + 4,
                "t": height - margin + 16,
                "label": _speed_label(10.0**d),
            }
            for d in range(low, high + 1)
        ),
    )
    frontier = sorted((p for p in points if p.on_frontier), key=lambda p: p.texts_per_second)
    line = " ".join("{:.1f},{:.1f}".format(*place(p.texts_per_second, p.macro_f1)) for p in frontier)
    dots = format_html_join(
        "",
        '<g class="version{cls}" data-version="{n}"><circle cx="{x}" cy="{y}" r="5"><title>{kind} v{n}: '
        "macro-F1 {f1}, {tps} texts/s, {ms} ms per text{front}</title></circle>"
        '<text x="{lx}" y="{ly}" class="tick point-label">{kind} v{n}</text></g>',
        (
            {
                "cls": " frontier" if p.on_frontier else "",
                "n": p.version.number,
                "x": f"{x:.1f}",
                "y": f"{y:.1f}",
                "lx": f"{x + 7:.1f}",
                "ly": f"{y - 7:.1f}",
                "kind": p.version.kind,
                "f1": f"{p.macro_f1:.3f}",
                "tps": f"{p.texts_per_second:,.0f}",
                "ms": f"{p.version.ms_per_text:.2f}" if p.version.ms_per_text is not None else "?",
                "front": " (on the best-of-both frontier)" if p.on_frontier else "",
            }
            for p in points
            for x, y in [place(p.texts_per_second, p.macro_f1)]
        ),
    )
    return format_html(
        '<svg class="curve speed" viewBox="0 0 {w} {h}" role="img" aria-label="Macro-F1 against texts per second">'
        '<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>'
        '<line x1="{m}" y1="{m}" x2="{m}" y2="{b}" class="axis"/>'
        '<text x="4" y="{m}" class="tick">1.0</text><text x="4" y="{b}" class="tick">0.0</text>'
        '<text x="{r}" y="{xl}" class="tick" text-anchor="end">texts per second (log scale)</text>'
        '{ticks}<polyline points="{line}" class="frontier-line"/>{dots}</svg>',
        w=width,
        h=height,
        m=margin,
        b=height - margin,
        r=width - margin,
        xl=height - margin + 32,
        ticks=ticks,
        line=line,
        dots=dots,
    )


@dataclass(frozen=True)
class SideBySide:
    name: str
    a: str
    b: str


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def speed_ratio(a: ModelVersion, b: ModelVersion) -> str:
    """How many times faster (texts per second) `b` is than `a`, in words; empty if either is unmeasured."""
    if not a.texts_per_second or not b.texts_per_second:
        return ""
    ratio = b.texts_per_second / a.texts_per_second
    if ratio >= 1:
        return f"v{b.number} is {ratio:.1f}x faster than v{a.number}"
    return f"v{a.number} is {1 / ratio:.1f}x faster than v{b.number}"


def quality_and_speed(a: ModelVersion, b: ModelVersion) -> list[SideBySide]:
    """The compare page's quality and speed rows, formatted, `a` then `b`."""

    def metric(version: ModelVersion, key: str) -> float | None:
        value = version.metrics.get(key)
        return None if value is None else float(value)

    rows = [
        ("Macro-F1", metric(a, "macro_f1"), metric(b, "macro_f1"), 3),
        ("Accuracy", metric(a, "accuracy"), metric(b, "accuracy"), 3),
        ("ms per text (batch 1)", a.ms_per_text, b.ms_per_text, 2),
        ("Texts per second (batch 256)", a.texts_per_second, b.texts_per_second, 0),
        ("Train time, s", a.train_seconds, b.train_seconds, 1),
        ("Training labels", a.n_train, b.n_train, 0),
    ]
    return [SideBySide(name, _number(x, d), _number(y, d)) for name, x, y, d in rows]
