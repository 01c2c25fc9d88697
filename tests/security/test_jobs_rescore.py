"""Finding 14: one rescore at a time per project: a request while one runs marks it for one follow-up
run instead of queueing a second job beside it, and the database refuses a second unfinished one."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from annotator.models import Job, JobStatus
from annotator.services import jobs
from annotator.services.active_learning import RESCORE_KIND, rescore_request
from annotator.services.jobs import job_claim, job_succeed


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: calls.append(args[0]) or "tid")
    return calls


def _unfinished(project):
    return Job.objects.filter(project=project, kind=RESCORE_KIND, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_while_a_rescore_runs_never_queue_a_second_one(project_with_roles, sent):
    """Finding 14: before, the first request during a run queued a follow-up that a free worker slot
    started at once, so two rescores of one project ran together."""
    project, users = project_with_roles
    running, created = rescore_request(project=project, by=users["admin"])
    assert created and job_claim(job_id=running.pk, celery_task_id="tid") is not None
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            job, created = rescore_request(project=project, by=users["admin"])
            assert job.pk == running.pk and not created
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert list(_unfinished(project)) == [running]
    running.refresh_from_db()
    assert running.rerun_requested and running.log.count("one more run follows") == 6

    job_succeed(job_id=running.pk, result={})  # the one follow-up, with the newest labels
    follow_up = _unfinished(project).get()
    assert follow_up.status == JobStatus.QUEUED and follow_up.params["reason"] == "rerun"
    assert sent == [running.pk, follow_up.pk]


@pytest.mark.django_db
def test_the_database_refuses_a_second_unfinished_rescore_of_a_project(project_with_roles):
    """Finding 14: a partial unique index backs the service's lock (a conditional insert)."""
    project, _ = project_with_roles
    Job.objects.create(project=project, kind=RESCORE_KIND, status=JobStatus.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(project=project, kind=RESCORE_KIND, status=JobStatus.QUEUED)
    Job.objects.create(project=project, kind=RESCORE_KIND, status=JobStatus.SUCCEEDED)  # history is fine
    Job.objects.create(project=project, kind="selfcheck", status=JobStatus.QUEUED)  # other kinds too


@pytest.mark.django_db
def test_a_second_copy_of_a_message_does_not_run_a_running_job_again(project_with_roles, sent):
    """Finding 14 (and 7's re-sends): only a re-delivery of the claiming message re-claims a running job."""
    project, users = project_with_roles
    job, _ = rescore_request(project=project, by=users["admin"])
    assert job_claim(job_id=job.pk, celery_task_id="first") is not None
    assert job_claim(job_id=job.pk, celery_task_id="second") is None
    assert job_claim(job_id=job.pk, celery_task_id="first") is not None  # its worker was lost: re-run
