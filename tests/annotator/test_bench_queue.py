"""`manage.py bench_queue` at a tiny scale: gunicorn serves the test database to concurrent annotators."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from annotator.models import Project

pytestmark = pytest.mark.slow  # starts gunicorn, whose workers import the whole app


@pytest.mark.django_db(transaction=True)  # gunicorn reads the test database: the data must be committed
def test_bench_queue_serves_three_annotators_over_http_without_double_assignment(tmp_path):
    out = tmp_path / "result.json"
    arguments = ["--items", "300", "--annotators", "3", "--per-annotator", "10", "--warmup", "2", "--workers", "2"]
    call_command("bench_queue", *arguments, "--out", str(out), stdout=io.StringIO(), stderr=io.StringIO())

    result = json.loads(out.read_text())
    assert result["errors"] == []
    assert result["double_assignments"] == 0
    assert set(result["double_assignment_checks"].values()) == {0}
    assert result["annotations"] == 30
    assert result["measured_next"] == result["measured_submit"] == 3 * (10 - 2)
    for key in ("next_p95_ms", "submit_p95_ms", "next_p50_ms", "submit_p50_ms", "client_next_p95_ms"):
        assert result[key] > 0, key
    assert result["database"] == connection.vendor
    assert result["items"] == 300 and result["annotators"] == 3
    assert not Project.objects.filter(name__startswith="bench-queue").exists(), "the scratch project is deleted"
