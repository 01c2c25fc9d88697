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
