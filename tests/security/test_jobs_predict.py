"""Finding 5: `/predict` answers only a few texts inside a web request; more go to a batch job on the
`cpu` queue whose results are downloaded; each user's predict requests are rate limited."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from annotator.models import Job, JobStatus, ModelVersion, Project, Role
from annotator.services import jobs
from annotator.services.predictions import NOT_READY_ERROR, predict_batch_run_job, predictions_path
from annotator.services.projects import member_set_role
from annotator.services.training import model_version_activate
from mlcore.models import TextCNN
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, queue)) or "tid")
    return calls


@pytest.fixture
def active_model(project_with_roles) -> tuple[Project, dict]:
    """A tiny character TextCNN trained on six texts, registered and active (no encoder needed)."""
    project, users = project_with_roles
    sport = project.labels.create(name="Sport", order=0)
    politics = project.labels.create(name="Politics", order=1)
    texts = ["goal", "match", "cup final", "vote", "minister", "parliament"]
    labels = [sport.pk] * 3 + [politics.pk] * 3
    model = TextCNN(tokenization="char", min_count=1, embedding_dim=8, num_filters=4, epochs=1, random_state=0)
    model.fit(texts, labels)
    relative = f"models/project-{project.pk}/v1-{uuid.uuid4().hex[:8]}"
    model.save(Path(settings.ARTIFACT_ROOT) / relative)
    version = ModelVersion.objects.create(
        project=project, number=1, kind=model.kind, data_hash="0" * 64, n_train=6, n_test=0,
        label_ids=[int(label) for label in model.classes_], metrics={}, artifact_dir=relative,
    )  # fmt: skip
    model_version_activate(version=version, by=users[Role.ADMIN])
    project.refresh_from_db()
    return project, users


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_more_than_the_synchronous_limit_is_refused_with_a_413_that_points_to_the_batch_job(active_model, settings):
    """Finding 5: 1,000 texts no longer run inside the request (before: 200 after 41 s)."""
    project, users = active_model
    client = _client(users[Role.ANNOTATOR])
    url = f"/api/projects/{project.pk}/predict"
    assert settings.PREDICT_SYNC_MAX_TEXTS == 32
    ok = client.post(url, {"texts": ["goal"] * 32}, format="json")
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 32
    too_many = client.post(url, {"texts": ["goal"] * 33}, format="json")
    assert too_many.status_code == 413
    assert f"POST /api/projects/{project.pk}/predict/batch/" in too_many.json()["detail"]
    too_long = client.post(url, {"texts": ["x" * (settings.PREDICT_SYNC_MAX_CHARS + 1)]}, format="json")
    assert too_long.status_code == 413


def test_a_batch_prediction_job_predicts_many_texts_and_its_results_are_downloaded(active_model, sent):
    """Finding 5: the batch job (queue `cpu`) predicts with the active version; JSON lines come back."""
    project, users = active_model
    client = _client(users[Role.ANNOTATOR])
    texts = [f"cup final number {n}" for n in range(300)]
    response = client.post(f"/api/projects/{project.pk}/predict/batch/", {"texts": texts}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.queue, job.params["texts"]) == ("predict", "cpu", 300)
    result_url = f"/api/projects/{project.pk}/predict/batch/{job.pk}/"
    not_yet = client.get(result_url)
    assert not_yet.status_code == 409
    assert not_yet.json()["detail"] == NOT_READY_ERROR.format(status="queued")

    seen: list[float] = []
    result = predict_batch_run_job(job=job, progress=lambda p, m: seen.append(p))
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, result=result)
    assert result == {"texts": 300, "model_version": 1}
    assert len(seen) == 2  # a checkpoint per chunk of 256
    assert not (Path(settings.MEDIA_ROOT) / job.params["input"]).exists()  # the input is removed

    download = client.get(result_url)
    assert download.status_code == 200
    rows = [json.loads(line) for line in b"".join(download.streaming_content).decode().splitlines()]
    assert [row["index"] for row in rows] == list(range(300))
    assert set(rows[0]["probabilities"]) == {"Sport", "Politics"}
    assert predictions_path(job=job).is_file()
    # Another annotator may not read someone else's batch; an expert may.
    other = users["outsider"]
    member_set_role(project=project, user=other, role=Role.ANNOTATOR)
    assert _client(other).get(result_url).status_code == 403
    assert _client(users[Role.EXPERT]).get(result_url).status_code == 200


def test_a_batch_beyond_its_own_limit_is_refused(active_model, settings, sent):
    """Finding 5: the batch job is bounded too (PREDICT_BATCH_MAX_TEXTS)."""
    project, users = active_model
    settings.PREDICT_BATCH_MAX_TEXTS = 50
    response = _client(users[Role.ADMIN]).post(
        f"/api/projects/{project.pk}/predict/batch/", {"texts": ["a"] * 51}, format="json"
    )
    assert response.status_code == 413
    assert not Job.objects.exists() and not sent


def test_predict_is_rate_limited_per_user(project_with_roles, monkeypatch):
    """Finding 5: ScopedRateThrottle, scope "predict": past the rate a user gets 429, others do not."""
    project, users = project_with_roles
    assert "predict" in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"predict": "3/minute"})
    cache.clear()
    url = f"/api/projects/{project.pk}/predict"
    annotator = _client(users[Role.ANNOTATOR])
    codes = [annotator.post(url, {"texts": ["a"]}, format="json").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]  # 400: no active model yet; the fourth is throttled
    assert _client(users[Role.EXPERT]).post(url, {"texts": ["a"]}, format="json").status_code == 400
    cache.clear()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_prediction_runs_on_the_worker(active_model, celery_worker):
    """Finding 5: the `predict` job kind runs on a real worker (queue `cpu`) and its results download."""
    project, users = active_model
    celery_worker()
    client = _client(users[Role.ANNOTATOR])
    response = client.post(f"/api/projects/{project.pk}/predict/batch/", {"texts": ["vote"] * 100}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])

    def finished() -> bool:
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=60, message="the batch prediction")
    assert job.status == JobStatus.SUCCEEDED, job.error
    download = client.get(f"/api/projects/{project.pk}/predict/batch/{job.pk}/")
    assert len(b"".join(download.streaming_content).splitlines()) == 100
