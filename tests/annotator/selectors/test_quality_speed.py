"""Issue 21: the best-of-both frontier (quality against speed) and the chart that draws it."""

from __future__ import annotations

import re

import pytest

from annotator.models import ModelVersion
from annotator.selectors.model_pages import pareto_frontier, quality_speed_points, quality_speed_svg, speed_ratio


@pytest.mark.parametrize(
    ("points", "frontier"),
    [
        ([], []),
        ([(100.0, 0.5)], [0]),
        # fast and weak, slow and strong, and one beaten on both axes by the second
        ([(10_000.0, 0.80), (50.0, 0.95), (40.0, 0.90)], [0, 1]),
        # equal speed: only the better one; equal quality: only the faster one
        ([(100.0, 0.7), (100.0, 0.9), (500.0, 0.9)], [2]),
        # three on the frontier, fastest first
        ([(5.0, 0.99), (5_000.0, 0.6), (500.0, 0.8), (400.0, 0.7)], [1, 2, 0]),
        # identical points: the first is kept
        ([(100.0, 0.9), (100.0, 0.9)], [0]),
    ],
)
def test_the_frontier_keeps_exactly_the_versions_nothing_beats_on_both_axes(points, frontier):
    assert pareto_frontier(points) == frontier


def _version(number: int, kind: str, f1: float | None, texts_per_second: float | None) -> ModelVersion:
    return ModelVersion(
        number=number, kind=kind, metrics={"macro_f1": f1}, texts_per_second=texts_per_second,
        ms_per_text=None if texts_per_second is None else 1000 / texts_per_second,
    )  # fmt: skip


def test_the_chart_marks_the_frontier_and_lists_the_unmeasured():
    teacher = _version(1, "teacher", 0.95, 40.0)
    head = _version(2, "fast_head", 0.90, 30.0)  # slower and worse than the teacher
    student = _version(3, "text_cnn", 0.91, 20_000.0)
    unmeasured = _version(4, "fast_head", 0.7, None)
    unevaluated = _version(5, "fast_head", None, 300.0)
    points, missing = quality_speed_points([teacher, head, student, unmeasured, unevaluated])
    assert [(p.version.number, p.on_frontier) for p in points] == [(1, True), (2, False), (3, True)]
    assert missing == [unmeasured]
    svg = str(quality_speed_svg(points))
    assert re.findall(r'<g class="version( frontier)?" data-version="(\d)"', svg) == [
        (" frontier", "1"),
        ("", "2"),
        (" frontier", "3"),
    ]
    assert "teacher v1: macro-F1 0.950, 40 texts/s, 25.00 ms per text (on the best-of-both frontier)" in svg
    assert ">text_cnn v3</text>" in svg
    [line] = re.findall(r'<polyline points="([^"]+)" class="frontier-line"', svg)
    xs = [float(pair.split(",")[0]) for pair in line.split()]
    assert len(xs) == 2 and xs == sorted(xs)  # slow to fast
    # log scale in whole decades: 10 .. 100k, the student far right of the teacher
    assert ">10</text>" in svg and ">100k</text>" in svg
    assert "style=" not in svg  # the CSP allows no inline styles here: classes only


def test_the_ratio_says_which_is_faster():
    teacher, student = _version(1, "teacher", 0.95, 40.0), _version(3, "text_cnn", 0.91, 20_000.0)
    assert speed_ratio(teacher, student) == "v3 is 500.0x faster than v1"
    assert speed_ratio(student, teacher) == "v3 is 500.0x faster than v1"
    assert speed_ratio(teacher, _version(4, "fast_head", 0.7, None)) == ""
    assert quality_speed_svg([]) == ""
