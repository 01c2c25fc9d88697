"""The job lifecycle. Workers call these to report; pages and the API call them to start and cancel.

queued -> running -> succeeded | failed | cancelled. Every transition is a conditional UPDATE, so a
late or duplicate report (a re-delivered task, a cancel racing completion) cannot undo a finish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from annotator.models import Job, JobStatus, Project
from annotator.services.queueing import enqueue

UNFINISHED_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
WORKER_LOST_ERROR = "The worker running this job stopped (killed or crashed); nothing was saved."


@dataclasses.dataclass(frozen=True)
class JobKind:
    task_name: str
    queue: str
    title: str


# Every job kind the app can start: the task that runs it and the queue it goes to.
JOB_KINDS: dict[str, JobKind] = {
    "import": JobKind("labelloop.import_items", "default", "Import items"),
    "selfcheck": JobKind("labelloop.selfcheck", "default", "Worker self-check"),
    "cluster": JobKind("labelloop.cluster_items", "cpu", "Cluster unlabeled items"),
    # The queue depends on the model: `cpu` for the fast head, `gpu` for fine-tuning (training service).
    "train": JobKind("labelloop.train_model", "gpu", "Train a model"),
    # Active learning: retrain the fast head and reorder the queue (coalesced: services/active_learning).
    "rescore": JobKind("labelloop.rescore_pool", "cpu", "Rescore the pool"),
    # Noisy labels: detectors over the labeled items, flags into the experts' review queue (services/noise).
    "noise": JobKind("labelloop.detect_noise", "cpu", "Find noisy labels"),
}


def job_kind(kind: str) -> JobKind:
    try:
        return JOB_KINDS[kind]
    except KeyError:
        raise ValidationError(f"Unknown job kind {kind!r}: choose one of {', '.join(sorted(JOB_KINDS))}.") from None


@transaction.atomic
def job_start(
    *,
    kind: str,
    project: Project | None,
    params: dict,
    created_by: AbstractBaseUser | None,
    queue: str | None = None,
) -> Job:
    """Create a queued job and enqueue its task once the transaction commits (on `queue`, if given)."""
    spec = job_kind(kind)
    if queue is not None:
        spec = JobKind(spec.task_name, queue, spec.title)
    job = Job.objects.create(project=project, kind=kind, queue=spec.queue, params=params, created_by=created_by)
    job_append_log(job_id=job.pk, message=f"Queued on '{spec.queue}'.")
    transaction.on_commit(lambda: _send(job.pk, spec))
    return job


def _send(job_id: int, spec: JobKind) -> None:
    task_id = enqueue(spec.task_name, args=[job_id], queue=spec.queue)
    Job.objects.filter(pk=job_id).update(celery_task_id=task_id)


def job_append_log(*, job_id: int, message: str) -> None:
    Job.objects.filter(pk=job_id).update(log=_with_log_line(message))


def _with_log_line(message: str) -> Concat:
    return Concat(F("log"), Value(f"{timezone.now():%H:%M:%S} {message}\n"))


def job_claim(*, job_id: int, celery_task_id: str) -> Job | None:
    """Mark the job running for this delivery of its task; None when there is nothing to run.

    A job that is already finished (done, cancelled, or reaped after its worker died) is not run
    again by a late re-delivery of its message.
    """
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress=0,
        attempts=F("attempts") + 1,
        celery_task_id=celery_task_id,
    )
    if not claimed:
        return None
    job_append_log(job_id=job_id, message="Started.")
    return Job.objects.get(pk=job_id)


def job_report_progress(*, job_id: int, progress: float, message: str = "") -> bool:
    """Store progress (0-100) and a heartbeat; returns whether the job was asked to cancel."""
    fields = {"progress": max(0, min(100, int(progress))), "heartbeat_at": timezone.now()}
    if message:
        fields["message"] = message[:300]
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields)
    return job_cancel_requested(job_id=job_id)


def job_heartbeat(*, job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def job_cancel_requested(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_succeed(*, job_id: int, result: dict) -> None:
    _finish(job_id, JobStatus.SUCCEEDED, result=result, progress=100, message="Done.")


def job_fail(*, job_id: int, error: str) -> None:
    _finish(job_id, JobStatus.FAILED, error=error, message="Failed.")


def job_mark_cancelled(*, job_id: int) -> None:
    _finish(job_id, JobStatus.CANCELLED, message="Cancelled.")


def _finish(job_id: int, status: str, *, only_from: tuple = UNFINISHED_STATUSES, **fields) -> bool:
    # One statement: a page polling the job never sees it finished without its last log line.
    finished = Job.objects.filter(pk=job_id, status__in=only_from).update(
        status=status,
        finished_at=timezone.now(),
        log=_with_log_line(fields.get("error") or fields["message"]),
        **fields,
    )
    return bool(finished)


def job_request_cancel(*, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    if job.is_finished:
        raise ValidationError(f"This job has already {job.status}.")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    if not _finish(job.pk, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,), message="Cancelled before it started."):
        job_append_log(job_id=job.pk, message="Cancel requested; stopping at the next checkpoint.")
    job.refresh_from_db()
    return job


def jobs_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Mark running jobs whose worker stopped sending heartbeats as failed; returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    return sum(_finish(pk, JobStatus.FAILED, error=WORKER_LOST_ERROR, message="Failed.") for pk in stale)
