"""Issue 21 on a real worker: a training job times its version, a speed job times it again, and a
distillation job started from the API registers a student whose parent is the teacher."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotator.models import Job, JobStatus, ModelVersion
from tests.annotator.services.test_training import _news
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _finished(api: APIClient, response) -> Job:
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=240, message=f"the {job.kind} job")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def test_a_version_is_timed_by_its_training_job_and_again_by_a_speed_job(celery_worker, project_with_roles):
    project, users = project_with_roles
    _news(project)
    celery_worker()
    api = APIClient()
    api.force_authenticate(users["admin"])
    base = f"/api/projects/{project.pk}"
    trained = _finished(api, api.post(f"{base}/models/", {"preset": "fast_head"}, format="json"))
    version = ModelVersion.objects.get(pk=trained.result["model_version"])
    assert version.texts_per_second > 0 and version.ms_per_text > 0

    ModelVersion.objects.filter(pk=version.pk).update(ms_per_text=None, texts_per_second=None)
    timed = _finished(api, api.post(f"{base}/models/{version.pk}/speed/"))
    assert timed.queue == "cpu"
    data = api.get(f"{base}/models/{version.pk}/").json()
    assert data["texts_per_second"] == pytest.approx(timed.result["texts_per_second"])
    assert data["ms_per_text"] > 0 and data["speed_threads"] >= 1 and data["parents"] == []


def test_a_distillation_started_from_the_api_registers_a_student(celery_worker, project_with_roles):
    pytest.importorskip("mlcore.distill")
    project, users = project_with_roles
    _news(project)
    celery_worker()
    api = APIClient()
    api.force_authenticate(users["admin"])
    base = f"/api/projects/{project.pk}"
    trained = _finished(api, api.post(f"{base}/models/", {"preset": "fast_head"}, format="json"))
    request = {
        "teachers": [trained.result["model_version"]],
        "student": "text_cnn_chars",
        "student_params": {"epochs": 1, "embedding_dim": 16, "num_filters": 8, "max_len": 64},
    }
    distilled = _finished(api, api.post(f"{base}/models/distill/", request, format="json"))
    assert distilled.queue == "gpu"
    student = api.get(f"{base}/models/{distilled.result['model_version']}/").json()
    assert (student["kind"], student["parents"]) == ("text_cnn", [trained.result["model_version"]])
    assert student["texts_per_second"] > 0 and student["metrics"]["macro_f1"] is not None
