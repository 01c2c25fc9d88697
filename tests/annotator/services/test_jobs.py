"""The job lifecycle, against the real database (no worker: the services are called directly)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotator.models import Job, JobStatus
from annotator.services import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(project_with_roles):
    project, users = project_with_roles
    return Job.objects.create(project=project, kind="selfcheck", created_by=users["admin"])


def test_claim_marks_running_and_counts_attempts(job):
    claimed = jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    assert claimed.status == JobStatus.RUNNING
    assert claimed.attempts == 1
    assert claimed.started_at is not None
    assert "Started." in claimed.log


def test_a_finished_job_is_never_claimed_again(job):
    jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    jobs.job_succeed(job_id=job.pk, result={"n": 1})
    assert jobs.job_claim(job_id=job.pk, celery_task_id="t2") is None
    job.refresh_from_db()
    assert (job.status, job.result, job.progress) == (JobStatus.SUCCEEDED, {"n": 1}, 100)


def test_claim_of_a_missing_job_is_none():
    assert jobs.job_claim(job_id=987654, celery_task_id="t") is None


def test_progress_is_clamped_and_stored_with_message(job):
    jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    assert jobs.job_report_progress(job_id=job.pk, progress=140, message="almost") is False
    job.refresh_from_db()
    assert (job.progress, job.message) == (100, "almost")


def test_cancelling_a_queued_job_finishes_it_at_once(job):
    jobs.job_request_cancel(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None
    # A late delivery of its message does not run it.
    assert jobs.job_claim(job_id=job.pk, celery_task_id="late") is None


def test_cancelling_a_running_job_asks_it_to_stop(job):
    jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    jobs.job_request_cancel(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.cancel_requested
    assert jobs.job_report_progress(job_id=job.pk, progress=50) is True


def test_cancelling_a_finished_job_is_refused(job):
    jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    jobs.job_fail(job_id=job.pk, error="boom")
    job.refresh_from_db()
    with pytest.raises(ValidationError, match="already failed"):
        jobs.job_request_cancel(job=job)


def test_finishing_twice_keeps_the_first_outcome(job):
    jobs.job_claim(job_id=job.pk, celery_task_id="t1")
    jobs.job_mark_cancelled(job_id=job.pk)
    jobs.job_succeed(job_id=job.pk, result={})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_stale_running_jobs_are_failed_and_fresh_ones_kept(job, settings, project_with_roles):
    settings.JOB_STALE_SECONDS = 60
    project, _ = project_with_roles
    fresh = Job.objects.create(project=project, kind="selfcheck")
    for j in (job, fresh):
        jobs.job_claim(job_id=j.pk, celery_task_id="t")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=61))
    assert jobs.jobs_fail_stale() == 1
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, jobs.WORKER_LOST_ERROR)
    assert fresh.status == JobStatus.RUNNING


def test_unknown_job_kind_is_refused_with_the_valid_ones(project_with_roles):
    project, users = project_with_roles
    valid = "augment, cluster, distill, import, noise, predict, rescore, selfcheck, speed, train"
    with pytest.raises(ValidationError, match=f"choose one of {valid}\\."):
        jobs.job_start(kind="nope", project=project, params={}, created_by=users["admin"])
