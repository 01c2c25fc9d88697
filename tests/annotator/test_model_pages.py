"""The models page: one learning-curve line per model kind, versions without an F1 not drawn, and a
warning on a version that predicts one class (issue 20, bug 4)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotator.models import ModelVersion
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db


def _version(project, number: int, kind: str, n_train: int, metrics: dict, label_ids: list[int]) -> ModelVersion:
    return ModelVersion.objects.create(
        project=project, number=number, kind=kind, data_hash="x", n_train=n_train, n_test=10,
        label_ids=label_ids, metrics=metrics, artifact_dir=f"models/v{number}",
    )  # fmt: skip


def test_the_learning_curve_has_one_line_per_kind_and_a_one_class_model_is_flagged(project_with_roles):
    """Issue 20, bug 4: the curve joined a fast head (0.786) and a TextCNN (0.059) in one line; the
    TextCNN that predicted one class for everything was registered without a warning."""
    project, users = project_with_roles
    ids = [label_create(project=project, name=name, by=users["admin"]).pk for name in ("Sport", "Politics")]
    _version(project, 1, "fast_head", 20, {"macro_f1": 0.70, "predicted_classes": 2}, ids)
    _version(project, 2, "fast_head", 43, {"macro_f1": 0.786, "predicted_classes": 2}, ids)
    _version(project, 3, "text_cnn", 43, {"macro_f1": 0.059, "predicted_classes": 1}, ids)
    _version(project, 4, "fast_head", 50, {"macro_f1": None, "evaluation": "none", "per_class": []}, ids)
    browser = Client()
    browser.force_login(users["annotator"])
    page = browser.get(f"/projects/{project.pk}/models/").content.decode()
    lines = re.findall(r'<g class="kind kind-\d" data-kind="(\w+)"><polyline points="([^"]+)"', page)
    assert [(kind, len(points.split())) for kind, points in lines] == [("fast_head", 2), ("text_cnn", 1)]
    assert "v4:" not in page and "fast_head v4" not in page  # no F1: not drawn
    assert page.count("predicts one class</span>") == 1
    detail = browser.get(f"/projects/{project.pk}/models/{ModelVersion.objects.get(number=3).pk}/").content.decode()
    assert "gave every evaluated item the same label" in detail


def test_the_models_page_draws_quality_against_speed_with_the_frontier_and_the_teachers(project_with_roles):
    """Issue 21: one dot per timed version (frontier ringed and joined), ms/text and texts/s columns,
    a student's teachers linked, and the versions nobody timed listed as such."""
    project, users = project_with_roles
    ids = [label_create(project=project, name=name, by=users["admin"]).pk for name in ("Sport", "Politics")]
    metrics = {"macro_f1": 0.95, "accuracy": 0.96, "predicted_classes": 2}
    teacher = _version(project, 1, "teacher", 40, metrics, ids)
    ModelVersion.objects.filter(pk=teacher.pk).update(ms_per_text=25.0, texts_per_second=40.0, speed_threads=2)
    slow = _version(project, 2, "fast_head", 40, {**metrics, "macro_f1": 0.90}, ids)
    ModelVersion.objects.filter(pk=slow.pk).update(ms_per_text=30.0, texts_per_second=30.0, speed_threads=2)
    student = _version(project, 3, "text_cnn", 40, {**metrics, "macro_f1": 0.91, "accuracy": 0.92}, ids)
    ModelVersion.objects.filter(pk=student.pk).update(ms_per_text=0.5, texts_per_second=20_000.0, speed_threads=2)
    student.parents.set([teacher])
    _version(project, 4, "fast_head", 40, {**metrics, "macro_f1": 0.7}, ids)  # never timed

    admin = Client()
    admin.force_login(users["admin"])
    page = admin.get(f"/projects/{project.pk}/models/").content.decode()
    assert re.findall(r'<g class="version( frontier)?" data-version="(\d)"', page) == [
        (" frontier", "3"),
        ("", "2"),
        (" frontier", "1"),
    ]
    assert 'class="frontier-line"' in page
    assert re.search(r"Speed not measured: <a [^>]+>fast_head v4</a>", page)
    assert '<td class="num">20000</td>' in page and '<td class="num">0.50</td>' in page
    assert f'<a href="/projects/{project.pk}/models/{teacher.pk}/">teacher v1</a>' in page
    assert page.count(">Measure speed</button>") == 1  # only v4 has no speed
    assert "Distill a student" in page

    annotator = Client()
    annotator.force_login(users["annotator"])
    plain = annotator.get(f"/projects/{project.pk}/models/").content.decode()
    assert "Distill a student" not in plain and ">Measure speed</button>" not in plain

    detail = admin.get(f"/projects/{project.pk}/models/{student.pk}/").content.decode()
    assert "Distilled from" in detail and "teacher v1</a>" in detail and "texts per second" in detail

    compare = admin.get(f"/projects/{project.pk}/models/compare/?a={teacher.pk}&b={student.pk}").content.decode()
    assert compare.index("Quality and speed") < compare.index("Per class")
    assert "v3 is 500.0x faster than v1." in compare
    for row in ("Macro-F1", "Accuracy", "ms per text (batch 1)", "Texts per second (batch 256)", "Training labels"):
        assert f"<th>{row}</th>" in compare
    assert '<td class="num">25.00</td><td class="num">0.50</td>' in compare
