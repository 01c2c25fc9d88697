"""Enqueue Celery tasks by name, so that `annotator` never imports `workers`.

A sending-only Celery client built from the same CELERY_* settings as the worker's app.
"""

from __future__ import annotations

import functools

from celery import Celery
from django.conf import settings


@functools.cache
def _client(broker_url: str) -> Celery:
    app = Celery("labelloop-client")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    return app


def enqueue(task_name: str, *, args: list, queue: str, **options) -> str:
    """Send `task_name(*args)` to `queue` (`options`: send_task's, e.g. time limits); returns the task id."""
    result = _client(settings.CELERY_BROKER_URL).send_task(task_name, args=args, queue=queue, **options)
    return result.id
