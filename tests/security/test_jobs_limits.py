"""Finding 4: a job cannot hold the shared worker: bounded params, a cancel that works while it
waits, a maximum run time per kind, and limits on unfinished jobs per project and per user."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import Job, JobStatus, Role
from annotator.services import jobs
from annotator.services.jobs import (
    SELFCHECK_MAX_STEP_SECONDS,
    SELFCHECK_MAX_STEPS,
    SELFCHECK_PARAMS_ERROR,
    TOO_MANY_PROJECT_JOBS_ERROR,
    TOO_MANY_USER_JOBS_ERROR,
    job_request_cancel,
    job_start,
    job_timed_out_error,
    jobs_fail_stale,
)
from annotator.services.projects import project_create
from tests.conftest import wait_for


@pytest.fixture
def no_broker(monkeypatch) -> list[str]:
    """Sends succeed without a broker (the tests here are about the rows)."""
    sent: list[str] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: sent.append(name) or "tid")
    return sent


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _status(job: Job) -> str:
    job.refresh_from_db()
    return job.status


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [{"seconds": 100000}, {"steps": 10**9}, {"seconds": "nan"}, {"seconds": -1}, {"steps": "many"}, {"steps": 0}],
)
def test_a_selfcheck_with_unbounded_params_is_refused(project_with_roles, params, no_broker):
    """Finding 4: `seconds: 100000` no longer parks the worker; the API answers 400 and starts nothing."""
    project, users = project_with_roles
    response = _client(users[Role.ADMIN]).post(
        f"/api/projects/{project.pk}/jobs/", {"kind": "selfcheck", "params": params}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == SELFCHECK_PARAMS_ERROR.format(
        steps=SELFCHECK_MAX_STEPS, seconds=SELFCHECK_MAX_STEP_SECONDS
    )
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_unfinished_jobs_are_limited_per_project_with_a_429(project_with_roles, settings, no_broker):
    """Finding 4: at most JOB_MAX_UNFINISHED_PER_PROJECT queued or running jobs in a project."""
    project, users = project_with_roles
    settings.JOB_MAX_UNFINISHED_PER_PROJECT = 2
    client = _client(users[Role.ADMIN])
    url = f"/api/projects/{project.pk}/jobs/"
    for _ in range(2):
        assert client.post(url, {"kind": "selfcheck"}, format="json").status_code == 201
    response = client.post(url, {"kind": "selfcheck"}, format="json")
    assert response.status_code == 429
    assert response.json()["detail"] == TOO_MANY_PROJECT_JOBS_ERROR.format(count=2, limit=2)
    # A finished job frees its place.
    Job.objects.filter(pk=Job.objects.first().pk).update(status=JobStatus.SUCCEEDED)
    assert client.post(url, {"kind": "selfcheck"}, format="json").status_code == 201


@pytest.mark.django_db
def test_unfinished_jobs_are_limited_per_user_over_all_their_projects(project_with_roles, settings, no_broker):
    """Finding 4: creating projects (and being their admin) does not multiply one user's jobs."""
    _, users = project_with_roles
    settings.JOB_MAX_UNFINISHED_PER_USER = 3
    client = _client(users[Role.ADMIN])
    codes = []
    for n in range(4):
        project = project_create(name=f"Own {n}", created_by=users[Role.ADMIN])
        codes.append(client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "selfcheck"}, format="json"))
    assert [response.status_code for response in codes] == [201, 201, 201, 429]
    assert codes[-1].json()["detail"] == TOO_MANY_USER_JOBS_ERROR.format(count=3, limit=3)


@pytest.mark.django_db
def test_the_periodic_check_fails_a_job_past_its_kinds_time_limit_even_with_a_live_heartbeat(
    project_with_roles, settings
):
    """Finding 4: the heartbeat no longer keeps an endless job alive."""
    project, _ = project_with_roles
    settings.JOB_MAX_SECONDS = {"selfcheck": 60}
    now = timezone.now()
    overdue = Job.objects.create(
        project=project, kind="selfcheck", status=JobStatus.RUNNING, started_at=now - dt.timedelta(seconds=61),
        heartbeat_at=now,
    )  # fmt: skip
    young = Job.objects.create(
        project=project, kind="selfcheck", status=JobStatus.RUNNING, started_at=now - dt.timedelta(seconds=30),
        heartbeat_at=now,
    )  # fmt: skip
    assert jobs_fail_stale(now=now) == 1
    overdue.refresh_from_db()
    assert overdue.status == JobStatus.FAILED
    assert (
        overdue.error
        == job_timed_out_error("selfcheck")
        == ("Stopped: “Worker self-check” jobs may run at most 1 min, and this one ran longer. Nothing was saved.")
    )
    assert _status(young) == JobStatus.RUNNING
    # The worker learns it at its next checkpoint.
    assert jobs.job_report_progress(job_id=overdue.pk, progress=50) is True


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_selfcheck_in_the_middle_of_a_long_step(celery_worker, project_with_roles):
    """Finding 4: the selfcheck's sleep polls for a cancel (before: nothing until the step ended)."""
    project, users = project_with_roles
    celery_worker()
    job = job_start(kind="selfcheck", project=project, params={"steps": 2, "seconds": 10}, created_by=users["admin"])
    wait_for(lambda: _status(job) == JobStatus.RUNNING, timeout=60, message="the job to start")
    time.sleep(0.3)
    asked = time.monotonic()
    job_request_cancel(job=job)
    wait_for(lambda: _status(job) == JobStatus.CANCELLED, timeout=4, interval=0.05, message="the cancel")
    assert time.monotonic() - asked < 3


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_job_past_its_maximum_run_time_is_failed_and_the_worker_moves_on(celery_worker, project_with_roles, settings):
    """Finding 4: past its kind's limit (JOB_MAX_SECONDS, lowered here) the worker stops the job."""
    project, users = project_with_roles
    settings.JOB_MAX_SECONDS = {"selfcheck": 2}
    celery_worker(JOB_MAX_SECONDS="selfcheck=2")
    endless = job_start(
        kind="selfcheck", project=project, params={"steps": 100, "seconds": 10}, created_by=users["admin"]
    )
    wait_for(lambda: _status(endless) == JobStatus.FAILED, timeout=30, message="the overdue job to be failed")
    assert endless.error == job_timed_out_error("selfcheck")
    started, finished = endless.started_at, endless.finished_at
    assert (finished - started).total_seconds() < 6
    short = job_start(kind="selfcheck", project=project, params={"steps": 2, "seconds": 0.1}, created_by=users["admin"])
    wait_for(lambda: _status(short) == JobStatus.SUCCEEDED, timeout=30, message="the next job to run")


@pytest.mark.django_db
def test_a_background_import_over_the_job_limit_answers_429_and_keeps_no_upload(
    project_with_roles, settings, no_broker
):
    """Finding 4: the limit covers every kind; the refused import's stored upload is removed."""
    project, users = project_with_roles
    settings.JOB_MAX_UNFINISHED_PER_PROJECT = 0
    upload = SimpleUploadedFile("rows.csv", b"text\nfirst row\nsecond row\n", content_type="text/csv")
    response = _client(users[Role.ADMIN]).post(
        f"/api/projects/{project.pk}/imports/", {"file": upload, "background": "true"}, format="multipart"
    )
    assert response.status_code == 429, response.content
    imports = Path(settings.MEDIA_ROOT) / "imports"
    assert not imports.exists() or not any(imports.iterdir())
