"""`job_task`: a Celery task bound to a Job row, with progress, heartbeat and cancellation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection

from annotator.models import Job
from annotator.services import jobs
from workers.celery import app

logger = logging.getLogger(__name__)


# A body that waits checks for a cancel this often.
CANCEL_POLL_SECONDS = 0.25


class JobCancelled(Exception):
    """Raised at a progress checkpoint when an admin has cancelled the job (or it was failed meanwhile)."""


class JobTimedOut(Exception):
    """Raised at a checkpoint once the job has run longer than its kind's limit."""


class JobContext:
    """What a task body gets to report with."""

    def __init__(self, job_id: int, *, max_seconds: float | None = None) -> None:
        self.job_id = job_id
        self._deadline = time.monotonic() + max_seconds if max_seconds else None

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress (0-100); raises JobCancelled if the job was cancelled, JobTimedOut past its limit."""
        self._check_deadline()
        if jobs.job_report_progress(job_id=self.job_id, progress=percent, message=message):
            raise JobCancelled

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, checking for a cancel (and the time limit) every CANCEL_POLL_SECONDS."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            time.sleep(min(left, CANCEL_POLL_SECONDS))
            self._check_deadline()
            if jobs.job_should_stop(job_id=self.job_id):
                raise JobCancelled

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise JobTimedOut

    def log(self, message: str) -> None:
        jobs.job_append_log(job_id=self.job_id, message=message)


class _Heartbeat:
    """Touches the job row from a side thread, so a long silent step is not taken for a dead worker."""

    def __init__(self, job_id: int, interval: float) -> None:
        self._job_id = job_id
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(self._interval):
                try:
                    jobs.job_heartbeat(job_id=self._job_id)
                except DatabaseError as exc:  # e.g. SQLite busy during the job's own write transaction
                    logger.warning("heartbeat for job %s skipped: %s", self._job_id, exc)
        finally:
            connection.close()


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return f"{type(exc).__name__}: {exc}"


def job_task(name: str) -> Callable[[Callable[[JobContext, Job], dict | None]], Any]:
    """Make `body(ctx, job) -> result dict` a Celery task that takes a job id.

    The task claims the job (a finished job is never run again), beats a heartbeat, turns
    JobCancelled into 'cancelled' and any other exception into 'failed' with a readable error.
    """

    def decorate(body: Callable[[JobContext, Job], dict | None]) -> Any:
        @app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True)
        def task(self, job_id: int) -> None:
            job = jobs.job_claim(job_id=job_id, celery_task_id=self.request.id or "")
            if job is None:
                logger.info("job %s is not runnable (finished or missing); skipped", job_id)
                return
            context = JobContext(job_id, max_seconds=jobs.job_max_seconds(job.kind))
            with _Heartbeat(job_id, settings.JOB_HEARTBEAT_SECONDS):
                try:
                    result = body(context, job)
                except JobCancelled:
                    jobs.job_mark_cancelled(job_id=job_id)
                    return
                except (JobTimedOut, SoftTimeLimitExceeded):  # ours at a checkpoint, or Celery's soft limit
                    logger.warning("job %s ran past its time limit; stopped", job_id)
                    jobs.job_fail(job_id=job_id, error=jobs.job_timed_out_error(job.kind))
                    return
                except Exception as exc:
                    logger.exception("job %s failed", job_id)
                    jobs.job_fail(job_id=job_id, error=_error_text(exc))
                    return
            jobs.job_succeed(job_id=job_id, result=result or {})

        task.__doc__ = body.__doc__
        return task

    return decorate
