"""The job lifecycle. Workers call these to report; pages and the API call them to start and cancel.

queued -> running -> succeeded | failed | cancelled. Every transition is a conditional UPDATE, so a
late or duplicate report (a re-delivered task, a cancel racing completion) cannot undo a finish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from annotator.models import Job, JobStatus, Project
from annotator.models.jobs import UNFINISHED_STATUSES
from annotator.services.queueing import enqueue

logger = logging.getLogger(__name__)

WORKER_LOST_ERROR = gettext_lazy("The worker running this job stopped (killed or crashed); nothing was saved.")
TIMED_OUT_ERROR = gettext_lazy(
    "Stopped: “{title}” jobs may run at most {limit}, and this one ran longer. Nothing was saved."
)
NEVER_SENT_ERROR = gettext_lazy(
    "The job queue (Redis) could not be reached in {tries} tries, so no worker ever got this job. "
    "Start it again once the queue is back."
)
NEVER_CLAIMED_ERROR = gettext_lazy(
    "No worker picked this job up after {tries} sends; check that a worker listens on the '{queue}' queue."
)
SEND_FAILED_LOG = "Could not reach the job queue (Redis); the job will be sent again."
TOO_MANY_PROJECT_JOBS_ERROR = gettext_lazy(
    "This project already has {count} unfinished jobs (the limit is {limit}): wait for one to finish or cancel one."
)
TOO_MANY_USER_JOBS_ERROR = gettext_lazy(
    "You already have {count} unfinished jobs (the limit is {limit}): wait for one to finish or cancel one."
)
SELFCHECK_PARAMS_ERROR = gettext_lazy(
    "A self-check takes 'steps' from 1 to {steps} and 'seconds' per step from 0 to {seconds}."
)
SELFCHECK_MAX_STEPS = 1000
SELFCHECK_MAX_STEP_SECONDS = 10.0
# A job past its limit gets this long to stop by itself (Celery's soft limit) before its process is killed.
HARD_LIMIT_GRACE_SECONDS = 30.0


class JobLimitError(ValidationError):
    """Too many unfinished jobs for the project or the user (the API answers 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="too_many_jobs")


def selfcheck_params(params: dict) -> dict:
    """`steps` (1-1000) and `seconds` per step (0-10); the kind's time limit bounds the whole run."""
    error = ValidationError(
        SELFCHECK_PARAMS_ERROR.format(steps=SELFCHECK_MAX_STEPS, seconds=SELFCHECK_MAX_STEP_SECONDS)
    )
    try:
        steps = int(params.get("steps", 5))
        seconds = float(params.get("seconds", 0.5))
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise error from None
    if not (1 <= steps <= SELFCHECK_MAX_STEPS) or not (
        math.isfinite(seconds) and 0 <= seconds <= SELFCHECK_MAX_STEP_SECONDS
    ):
        raise error
    return {"steps": steps, "seconds": seconds}


@dataclasses.dataclass(frozen=True)
class JobKind:
    task_name: str
    queue: str
    title: str
    # The longest a job of this kind may run (JOB_MAX_SECONDS overrides it per kind).
    max_seconds: float
    # The params key naming a stored upload (a file in its own folder under MEDIA_ROOT) that goes
    # with the job: removed when the job is failed or cancelled before its body could remove it.
    upload_param: str | None = None
    # Checks and normalises a request's params; raises ValidationError.
    check_params: Callable[[dict], dict] | None = None


HOUR = 3600.0
# Every job kind the app can start: the task that runs it, the queue it goes to, its longest run.
# Keep every limit below CELERY_VISIBILITY_TIMEOUT (6 h), or Redis hands a running job to a second worker.
JOB_KINDS: dict[str, JobKind] = {
    "import": JobKind("labelloop.import_items", "default", "Import items", HOUR, upload_param="path"),
    "selfcheck": JobKind(
        "labelloop.selfcheck", "default", "Worker self-check", 10 * 60.0, check_params=selfcheck_params
    ),
    "cluster": JobKind("labelloop.cluster_items", "cpu", "Cluster unlabeled items", 2 * HOUR),
    # The queue depends on the model: `cpu` for the fast head, `gpu` for fine-tuning (training service).
    "train": JobKind("labelloop.train_model", "gpu", "Train a model", 5 * HOUR),
    # Active learning: retrain the fast head and reorder the queue (coalesced: services/active_learning).
    "rescore": JobKind("labelloop.rescore_pool", "cpu", "Rescore the pool", HOUR),
    # Noisy labels: detectors over the labeled items, flags into the experts' review queue (services/noise).
    "noise": JobKind("labelloop.detect_noise", "cpu", "Find noisy labels", 2 * HOUR),
    # Many texts through the active model version (services/predictions); the texts wait in a file.
    "predict": JobKind("labelloop.predict_batch", "cpu", "Batch prediction", HOUR, upload_param="input"),
    # A student learns from teacher versions' probabilities (services/distillation): the teachers score
    # the labeled items and the pool, then the student trains; a transformer teacher makes it long.
    "distill": JobKind("labelloop.distill_model", "gpu", "Distill a student model", 5 * HOUR),
    # Augmented copies of scarce classes' training items, for experts to review (services/augment).
    "augment": JobKind("labelloop.augment_items", "cpu", "Augment scarce classes", 2 * HOUR),
    # Time an older version on the project's texts (services/speed); a teacher on CPU takes minutes.
    "speed": JobKind("labelloop.measure_speed", "cpu", "Measure a model's speed", 30 * 60.0),
}


def job_kind(kind: str) -> JobKind:
    try:
        return JOB_KINDS[kind]
    except KeyError:
        raise ValidationError(f"Unknown job kind {kind!r}: choose one of {', '.join(sorted(JOB_KINDS))}.") from None


def job_max_seconds(kind: str) -> float:
    """The longest a job of `kind` may run: the JOB_MAX_SECONDS setting, else the kind's default."""
    override = settings.JOB_MAX_SECONDS.get(kind)
    return float(override) if override else job_kind(kind).max_seconds


def _duration(seconds: float) -> str:
    if seconds >= HOUR:
        return f"{seconds / HOUR:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def job_timed_out_error(kind: str) -> str:
    return TIMED_OUT_ERROR.format(title=job_kind(kind).title, limit=_duration(job_max_seconds(kind)))


@transaction.atomic
def job_start(
    *,
    kind: str,
    project: Project | None,
    params: dict,
    created_by: AbstractBaseUser | None,
    queue: str | None = None,
) -> Job:
    """Create a queued job and enqueue its task once the transaction commits (on `queue`, if given).

    Raises JobLimitError when the project or the user already has as many unfinished jobs as allowed.
    """
    spec = job_kind(kind)
    if spec.check_params is not None:
        params = spec.check_params(params)
    if queue is not None:
        spec = dataclasses.replace(spec, queue=queue)
    _check_unfinished_limits(project, created_by)
    job = Job.objects.create(project=project, kind=kind, queue=spec.queue, params=params, created_by=created_by)
    job_append_log(job_id=job.pk, message=f"Queued on '{spec.queue}'.")
    transaction.on_commit(lambda: _send(job.pk))
    return job


def job_start_alone(
    *, kind: str, project: Project, params: dict, created_by: AbstractBaseUser | None, already_running_error
) -> Job:
    """`job_start`, refused with `already_running_error` (formatted with the live job's `pk` and
    `status`) while a job of `kind` is queued or running for `project`: kinds that write one project's
    results in one piece (noise detection, augmentation) run one at a time."""
    with transaction.atomic():
        # Lock the project row so that two people starting at once cannot both queue a job.
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
        live = Job.objects.filter(project=project, kind=kind, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        running = live.order_by("id").first()
        if running is not None:
            status = running.get_status_display().lower()
            raise ValidationError(already_running_error.format(pk=running.pk, status=status))
        return job_start(kind=kind, project=project, params=params, created_by=created_by)


def _check_unfinished_limits(project: Project | None, user: AbstractBaseUser | None) -> None:
    """Count under row locks on the project and the user, so requests at once cannot both slip under."""
    if project is not None:
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
        count = Job.objects.filter(project=project, status__in=UNFINISHED_STATUSES).count()
        limit = settings.JOB_MAX_UNFINISHED_PER_PROJECT
        if count >= limit:
            raise JobLimitError(TOO_MANY_PROJECT_JOBS_ERROR.format(count=count, limit=limit))
    if user is not None and user.pk is not None:
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
        count = Job.objects.filter(created_by=user, status__in=UNFINISHED_STATUSES).count()
        limit = settings.JOB_MAX_UNFINISHED_PER_USER
        if count >= limit:
            raise JobLimitError(TOO_MANY_USER_JOBS_ERROR.format(count=count, limit=limit))


def _send(job_id: int) -> None:
    """Hand the job to the broker. Runs after commit, so a failure here must not reach the request:
    the job stays queued with no task id, and the periodic check (`jobs_resend_queued`) tries again."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).first()
    if job is None:  # cancelled meanwhile
        return
    Job.objects.filter(pk=job_id).update(send_attempts=F("send_attempts") + 1, last_send_at=timezone.now())
    spec = job_kind(job.kind)
    limit = job_max_seconds(job.kind)
    try:
        task_id = enqueue(
            spec.task_name,
            args=[job_id],
            queue=job.queue,
            soft_time_limit=limit,
            time_limit=limit + HARD_LIMIT_GRACE_SECONDS,
        )
    except Exception as exc:  # kombu's OperationalError, redis' ConnectionError, a DNS failure, ...
        logger.warning("could not send job %s to the broker: %s", job_id, exc)
        job_append_log(job_id=job_id, message=SEND_FAILED_LOG)
        return
    Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(celery_task_id=task_id)


def job_append_log(*, job_id: int, message: str) -> None:
    Job.objects.filter(pk=job_id).update(log=_with_log_line(message))


def _with_log_line(message: str) -> Concat:
    return Concat(F("log"), Value(f"{timezone.now():%H:%M:%S} {message}\n"))


def job_claim(*, job_id: int, celery_task_id: str) -> Job | None:
    """Mark the job running for this delivery of its task; None when there is nothing to run.

    A queued job is claimed by whichever of its messages comes first (the periodic check may have sent
    it more than once); a running one only by a re-delivery of the message that claimed it (its worker
    was lost), never by a second copy. A finished job (done, cancelled, or reaped after its worker died)
    is not run again.
    """
    now = timezone.now()
    queued = Q(status=JobStatus.QUEUED)
    redelivered = Q(status=JobStatus.RUNNING, celery_task_id=celery_task_id) if celery_task_id else Q(pk__in=[])
    claimed = Job.objects.filter(queued | redelivered, pk=job_id).update(
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
    """Store progress (0-100) and a heartbeat; returns whether the job must stop: it was asked to
    cancel, or it is no longer running (failed by the periodic check: past its time limit, say)."""
    fields = {"progress": max(0, min(100, int(progress))), "heartbeat_at": timezone.now()}
    if message:
        fields["message"] = message[:300]
    running = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields)
    return not running or job_cancel_requested(job_id=job_id)


def job_should_stop(*, job_id: int) -> bool:
    """A checkpoint without progress: asked to cancel, or no longer running."""
    return not Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, cancel_requested=False).exists()


def job_heartbeat(*, job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def job_cancel_requested(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_succeed(*, job_id: int, result: dict) -> None:
    if _finish(job_id, JobStatus.SUCCEEDED, result=result, progress=100, message="Done."):
        _start_requested_rerun(job_id)


def job_fail(*, job_id: int, error: str) -> None:
    _finish(job_id, JobStatus.FAILED, error=error, message="Failed.")


def job_mark_cancelled(*, job_id: int) -> None:
    _finish(job_id, JobStatus.CANCELLED, message="Cancelled.")


def _finish(job_id: int, status: str, *, only_from: tuple = UNFINISHED_STATUSES, **fields) -> bool:
    # A job's stored words are English whoever's request finished it (a message may be a lazy translation).
    with translation.override("en"):
        fields = {key: str(value) if isinstance(value, Promise) else value for key, value in fields.items()}
    # One statement: a page polling the job never sees it finished without its last log line.
    finished = Job.objects.filter(pk=job_id, status__in=only_from).update(
        status=status,
        finished_at=timezone.now(),
        log=_with_log_line(fields.get("error") or fields["message"]),
        **fields,
    )
    return bool(finished)


def _abandon(job_id: int, status: str, *, only_from: tuple = UNFINISHED_STATUSES, **fields) -> bool:
    """Finish a job whose body will never run (again), and remove the upload it would have read."""
    finished = _finish(job_id, status, only_from=only_from, **fields)
    if finished:
        _remove_upload(Job.objects.get(pk=job_id))
    return finished


def _remove_upload(job: Job) -> None:
    """Delete the folder of the job's stored upload; only ever one inside MEDIA_ROOT."""
    spec = JOB_KINDS.get(job.kind)
    stored = job.params.get(spec.upload_param) if spec and spec.upload_param else None
    if not stored:
        return
    media = Path(settings.MEDIA_ROOT).resolve()
    folder = (media / stored).resolve().parent
    if folder != media and folder.is_relative_to(media):
        shutil.rmtree(folder, ignore_errors=True)


def job_request_cancel(*, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    if job.is_finished:
        raise ValidationError(f"This job has already {job.status}.")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    if not _abandon(job.pk, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,), message="Cancelled before it started."):
        job_append_log(job_id=job.pk, message="Cancel requested; stopping at the next checkpoint.")
    job.refresh_from_db()
    return job


# --- coalesced kinds: one at a time per project, one more run when asked while running ---------------


def job_request_rerun(*, job: Job) -> bool:
    """Ask for one more run of a running job's kind once it succeeds; False if it is no longer running."""
    asked = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(rerun_requested=True)
    if asked:
        job_append_log(job_id=job.pk, message="Asked again while running: one more run follows this one.")
    return bool(asked)


def _start_requested_rerun(job_id: int) -> None:
    job = Job.objects.filter(pk=job_id, rerun_requested=True).select_related("project", "created_by").first()
    if job is None:
        return
    try:
        with transaction.atomic():
            Project.objects.select_for_update().filter(pk=job.project_id).values_list("pk", flat=True).first()
            if Job.objects.filter(project=job.project_id, kind=job.kind, status__in=UNFINISHED_STATUSES).exists():
                return  # someone queued one meanwhile: it reads the same newest data
            follow_up = job_start(
                kind=job.kind,
                project=job.project,
                params={**job.params, "reason": "rerun"},
                created_by=job.created_by,
                queue=job.queue,
            )
        job_append_log(job_id=job.pk, message=f"Follow-up run queued as job #{follow_up.pk}.")
    except Exception:  # a job limit, the database: the next request asks again
        logger.exception("could not queue the follow-up run of job %s", job_id)


# --- the periodic check (beat, every minute, and every worker's start) ------------------------------------


def jobs_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Fail running jobs whose worker stopped sending heartbeats or that ran past their kind's time
    limit (the worker stops at its next checkpoint, or Celery's time limit stops it); returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    failed = sum(_abandon(pk, JobStatus.FAILED, error=WORKER_LOST_ERROR, message="Failed.") for pk in stale)
    for kind in JOB_KINDS:
        started_before = now - dt.timedelta(seconds=job_max_seconds(kind))
        overdue = Job.objects.filter(status=JobStatus.RUNNING, kind=kind, started_at__lt=started_before)
        for pk in overdue.values_list("pk", flat=True):
            failed += _abandon(pk, JobStatus.FAILED, error=job_timed_out_error(kind), message="Failed.")
    return failed


def jobs_resend_queued(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Send again the queued jobs no worker claimed: soon when the broker never accepted them (Redis
    was down), after JOB_QUEUED_LOST_SECONDS when it did (the message was lost); after JOB_MAX_SENDS
    tries fail them. Returns (sent again, failed)."""
    now = now or timezone.now()
    never_accepted = Q(celery_task_id="", last_send_at__lt=now - dt.timedelta(seconds=settings.JOB_SEND_RETRY_SECONDS))
    lost = ~Q(celery_task_id="") & Q(last_send_at__lt=now - dt.timedelta(seconds=settings.JOB_QUEUED_LOST_SECONDS))
    never_tried = Q(
        last_send_at__isnull=True, created_at__lt=now - dt.timedelta(seconds=settings.JOB_SEND_RETRY_SECONDS)
    )
    resent = failed = 0
    for job in Job.objects.filter(never_accepted | lost | never_tried, status=JobStatus.QUEUED):
        if job.send_attempts < settings.JOB_MAX_SENDS:
            job_append_log(job_id=job.pk, message=f"Not picked up yet: sending again (try {job.send_attempts + 1}).")
            _send(job.pk)
            resent += 1
            continue
        template = NEVER_SENT_ERROR if not job.celery_task_id else NEVER_CLAIMED_ERROR
        error = template.format(tries=job.send_attempts, queue=job.queue)
        failed += _abandon(job.pk, JobStatus.FAILED, only_from=(JobStatus.QUEUED,), error=error, message="Failed.")
    return resent, failed
