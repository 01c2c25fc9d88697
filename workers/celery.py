"""The Celery app: `celery -A workers worker -Q default,cpu,gpu`.

Configured from the Django settings' CELERY_* names (REDIS_URL gives the broker).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("labelloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["workers.tasks"]
# Run with `--beat` on exactly one worker (the embedded one, or compose's cpu worker).
STALE_JOB_CHECK_SECONDS = 60.0
app.conf.beat_schedule = {
    "fail-stale-jobs": {"task": "labelloop.fail_stale_jobs", "schedule": STALE_JOB_CHECK_SECONDS},
}


@worker_ready.connect
def _fail_jobs_left_running(**_) -> None:
    """A worker that starts after a crash marks the jobs its predecessor left running as failed, sends
    the queued jobs the broker never got (Redis was down), and removes half-saved model files."""
    from annotator.services.artifacts import model_artifacts_sweep
    from annotator.services.jobs import jobs_fail_stale, jobs_resend_queued

    jobs_fail_stale()
    jobs_resend_queued()
    model_artifacts_sweep()
