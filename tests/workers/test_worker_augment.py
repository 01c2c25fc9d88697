"""Augmentation end to end on a real worker (issue 24): an expert starts the job over the API, the
worker writes the copies of the scarce class, the expert accepts some, and a training job with
augmentation on trains on them and records it in the version."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotator.models import AugmentedText, AugmentStatus, Job, JobStatus, ModelVersion, Role
from tests.annotator.test_augment_service import LOCAL_OPS, news_project
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _finished(job_id: int) -> Job:
    job = wait_for(lambda: (found := Job.objects.get(pk=job_id)).is_finished and found, timeout=180, message="the job")
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log)
    return job


def test_augment_review_and_train_with_augmentation_on_a_real_worker(celery_worker, project_with_roles):
    project, users = news_project(project_with_roles)
    celery_worker()
    expert, admin = APIClient(), APIClient()
    expert.force_authenticate(users[Role.EXPERT])
    admin.force_authenticate(users[Role.ADMIN])
    base = f"/api/projects/{project.pk}/augment/"

    answer = expert.post(base, {"ops": LOCAL_OPS[:3], "copies": 3, "use_filter": False}, format="json")
    assert answer.status_code == 202, answer.content
    job = _finished(answer.json()["id"])
    assert job.queue == "cpu" and job.result["copies"] == AugmentedText.objects.filter(job=job).count() > 0
    assert set(job.result["by_class"]) == {"Tech"}

    samples = expert.get(base + "samples/", {"status": "pending"}).json()["results"]
    chosen = [sample["id"] for sample in samples[:3]]
    assert expert.post(base + "decide/", {"ids": chosen, "status": "accepted"}, format="json").status_code == 200

    train = admin.post(
        f"/api/projects/{project.pk}/models/",
        {
            "preset": "text_cnn_chars",
            "params": {"epochs": 1, "embedding_dim": 8, "num_filters": 4},
            "augmentation": True,
        },
        format="json",
    )
    assert train.status_code == 202, train.content
    result = _finished(train.json()["id"]).result
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.params["augmentation"]["used"] is True
    assert version.params["augmentation"]["copies"] == len(chosen) == result["augmented_copies"]
    assert AugmentedText.objects.filter(status=AugmentStatus.ACCEPTED).count() == len(chosen)
