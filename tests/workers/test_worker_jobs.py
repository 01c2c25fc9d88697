"""A real Celery worker (subprocess) against a real Redis and the test database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotator.importing.parsers import ImportOptions
from annotator.models import Job, JobStatus
from annotator.services.imports import ImportRequest, import_start
from annotator.services.jobs import WORKER_LOST_ERROR, job_request_cancel, job_start
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _status(job: Job) -> str:
    job.refresh_from_db()
    return job.status


def test_a_job_goes_from_queued_to_done_with_progress_updates(celery_worker, project_with_roles):
    project, users = project_with_roles
    celery_worker()
    job = job_start(kind="selfcheck", project=project, params={"steps": 8, "seconds": 0.3}, created_by=users["admin"])
    assert job.status == JobStatus.QUEUED
    seen_progress = set()

    def finished() -> bool:
        job.refresh_from_db()
        if job.status == JobStatus.RUNNING:
            seen_progress.add(job.progress)
        return job.is_finished

    wait_for(finished, timeout=60, interval=0.05, message="the selfcheck job to finish")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 100
    assert len(seen_progress - {0}) >= 3, f"expected several intermediate progress values, saw {seen_progress}"
    assert job.result == {"steps": 8}
    logged = [line.split(" ", 1)[1] for line in job.log.splitlines()]
    assert logged == ["Queued on 'default'.", "Started.", "Done."], job.log


def test_cancel_stops_a_running_job(celery_worker, project_with_roles):
    project, users = project_with_roles
    celery_worker()
    job = job_start(kind="selfcheck", project=project, params={"steps": 100, "seconds": 0.2}, created_by=users["admin"])
    wait_for(lambda: _status(job) == JobStatus.RUNNING, timeout=60, message="the job to start")
    job_request_cancel(job=job)
    wait_for(lambda: _status(job) == JobStatus.CANCELLED, timeout=20, message="the job to stop")
    assert job.progress < 100


def test_a_killed_worker_leaves_the_job_failed_not_running(celery_worker, project_with_roles):
    project, users = project_with_roles
    worker = celery_worker(JOB_STALE_SECONDS=2)
    job = job_start(kind="selfcheck", project=project, params={"steps": 200, "seconds": 0.1}, created_by=users["admin"])
    wait_for(lambda: _status(job) == JobStatus.RUNNING, timeout=60, message="the job to start")
    worker.kill()
    assert _status(job) == JobStatus.RUNNING  # nobody has noticed yet
    # A worker that starts once the heartbeat is stale marks the job failed.
    stale_since = timezone.now() + dt.timedelta(seconds=2.5)
    wait_for(lambda: timezone.now() > stale_since, message="the heartbeat to go stale")
    celery_worker(JOB_STALE_SECONDS=2)
    wait_for(lambda: _status(job) == JobStatus.FAILED, timeout=30, message="the orphaned job to be failed")
    assert job.error == WORKER_LOST_ERROR


def test_a_background_import_runs_on_the_worker(celery_worker, project_with_roles):
    project, users = project_with_roles
    celery_worker()
    rows = "".join(f"item number {n},{'Sport' if n % 2 else 'Tech'}\n" for n in range(500))
    upload = SimpleUploadedFile("big.csv", ("text,label\n" + rows).encode())
    outcome = import_start(
        project=project,
        upload=upload,
        request=ImportRequest(filename="big.csv", options=ImportOptions()),
        by=users["admin"],
        background=True,
    )
    job = outcome.job
    wait_for(lambda: _status(job) in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=60, message="the import")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["created"] == 500
    assert project.items.count() == 500
    assert {item.import_job_id for item in project.items.all()} == {job.pk}


def test_a_failed_background_import_reports_the_line_and_saves_nothing(celery_worker, project_with_roles):
    project, users = project_with_roles
    celery_worker()
    lines = [f'{{"text": "fine {n}"}}' for n in range(300)]
    lines[211] = '{"text": broken'
    upload = SimpleUploadedFile("bad.jsonl", "\n".join(lines).encode())
    request = ImportRequest(filename="bad.jsonl", options=ImportOptions())
    job = import_start(project=project, upload=upload, request=request, by=users["admin"], background=True).job
    wait_for(lambda: _status(job) in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=60, message="the import")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("Line 212: invalid JSON")
    assert project.items.count() == 0
