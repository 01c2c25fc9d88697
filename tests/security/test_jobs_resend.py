"""Finding 7: a job started while Redis is down is not stuck in `queued`: the request still answers,
the periodic check sends it again once the broker is back, or fails it (and removes its upload)."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.importing.parsers import ImportOptions
from annotator.models import Job, JobStatus, Role
from annotator.services.imports import ImportRequest, import_start
from annotator.services.jobs import NEVER_SENT_ERROR, SEND_FAILED_LOG, jobs_resend_queued
from tests.conftest import wait_for
from workers.celery import app as worker_app


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the socket is closed


def _later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_job_started_while_redis_is_down_answers_and_runs_once_redis_is_back(
    project_with_roles, settings, celery_worker, redis_url
):
    """Finding 7: the request gets its 201 (not a 500), and the periodic check's re-send reaches a worker."""
    project, users = project_with_roles
    settings.CELERY_BROKER_URL = _closed_port_url()
    client = APIClient()
    client.force_authenticate(users[Role.ADMIN])
    response = client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "selfcheck"}, format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.celery_task_id, job.send_attempts) == (JobStatus.QUEUED, "", 1)
    assert SEND_FAILED_LOG in job.log

    assert jobs_resend_queued(now=timezone.now()) == (0, 0)  # not before JOB_SEND_RETRY_SECONDS
    settings.CELERY_BROKER_URL = redis_url  # Redis is back
    celery_worker()
    assert jobs_resend_queued(now=_later(django_settings.JOB_SEND_RETRY_SECONDS + 1)) == (1, 0)

    def finished() -> bool:
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=60, message="the re-sent job to run")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.send_attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_background_import_that_never_reaches_a_worker_is_failed_and_its_upload_removed(project_with_roles, settings):
    """Finding 7: after JOB_MAX_SENDS tries the job fails with a clear message; nothing stays on disk."""
    project, users = project_with_roles
    settings.CELERY_BROKER_URL = _closed_port_url()
    upload = SimpleUploadedFile("big.csv", b"text\n" + b"".join(b"row %d\n" % n for n in range(50)))
    job = import_start(
        project=project,
        upload=upload,
        request=ImportRequest(filename="big.csv", options=ImportOptions()),
        by=users[Role.ADMIN],
        background=True,
    ).job
    stored = Path(job.params["path"])
    assert stored.is_file()
    now = timezone.now()
    for attempt in range(2, settings.JOB_MAX_SENDS + 1):
        now += dt.timedelta(seconds=settings.JOB_SEND_RETRY_SECONDS + 1)
        assert jobs_resend_queued(now=now) == (1, 0), attempt
    now += dt.timedelta(seconds=settings.JOB_SEND_RETRY_SECONDS + 1)
    assert jobs_resend_queued(now=now) == (0, 1)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == NEVER_SENT_ERROR.format(tries=settings.JOB_MAX_SENDS)
    assert not stored.exists() and not stored.parent.exists()
    assert project.items.count() == 0


@pytest.mark.django_db
def test_a_message_the_broker_took_but_no_worker_claimed_is_sent_again_after_the_long_wait(
    project_with_roles, settings, monkeypatch
):
    """Finding 7: a lost message (a flushed Redis) is re-sent too, but only after JOB_QUEUED_LOST_SECONDS."""
    from annotator.services import jobs

    project, _ = project_with_roles
    sent: list[int] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda name, *, args, queue, **options: sent.append(args[0]) or f"t{len(sent)}"
    )
    job = Job.objects.create(project=project, kind="selfcheck", celery_task_id="t0", send_attempts=1,
                             last_send_at=timezone.now())  # fmt: skip
    assert jobs_resend_queued(now=_later(settings.JOB_SEND_RETRY_SECONDS + 1)) == (0, 0)
    assert jobs_resend_queued(now=_later(settings.JOB_QUEUED_LOST_SECONDS + 1)) == (1, 0)
    assert sent == [job.pk]


def test_the_beat_schedule_runs_the_periodic_check():
    """Finding 7: the check that re-sends queued jobs runs every minute on the beat worker."""
    entry = worker_app.conf.beat_schedule["fail-stale-jobs"]
    assert entry["task"] == "labelloop.fail_stale_jobs" and entry["schedule"] <= 60
