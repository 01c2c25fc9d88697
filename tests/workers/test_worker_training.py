"""A training job started from the API runs on a real worker, registers a version, and that version
then answers the prediction API; the model pages show its evaluation."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Job, JobStatus, ModelVersion
from tests.annotator.services.test_training import _news
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_train_on_the_worker_then_predict_and_see_the_pages(celery_worker, project_with_roles):
    project, users = project_with_roles
    _news(project)
    celery_worker()
    api = APIClient()
    api.force_authenticate(users["admin"])
    base = f"/api/projects/{project.pk}"
    started = api.post(f"{base}/models/", {"preset": "fast_head"}, format="json")
    assert started.status_code == 202, started.json()
    job = Job.objects.get(pk=started.json()["id"])
    assert job.queue == "cpu"
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=180, message="the training job")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = ModelVersion.objects.get(pk=job.result["model_version"])
    assert version.metrics["macro_f1"] > 0.8

    assert api.post(f"{base}/models/{version.pk}/activate/").status_code == 200
    answer = api.post(f"{base}/predict", {"texts": ["The minister resigned after the vote."]}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["model_version"] == 1
    assert answer.json()["predictions"][0]["labels"][0]["name"] == "Politics"

    browser = Client()
    browser.force_login(users["admin"])
    detail = browser.get(f"/projects/{project.pk}/models/{version.pk}/").content.decode()
    assert "Confusion matrix" in detail and 'class="hit"' in detail
    listing = browser.get(f"/projects/{project.pk}/models/").content.decode()
    assert '<svg class="curve"' in listing and "active" in listing
