from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Project


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
UNFINISHED_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
# Kinds of which a project has at most one queued or running job (a database constraint).
COALESCED_KINDS = ("rescore",)


class Job(models.Model):
    """A background job. This row is the truth; the Celery task only reports into it."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=40)
    queue = models.CharField(max_length=20, default="default")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100
    message = models.CharField(max_length=300, blank=True, help_text="What the job is doing now.")
    log = models.TextField(blank=True)  # one line per event, appended in SQL
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Sending to the broker: how often it was tried and when last; `celery_task_id` stays empty until
    # the broker accepted a message, so the periodic check can tell a failed send from a slow queue.
    send_attempts = models.PositiveSmallIntegerField(default=0)
    last_send_at = models.DateTimeField(null=True, blank=True)
    # Coalesced kinds (rescore): asked again while running, so one more run follows this one.
    rerun_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            # One rescore at a time per project, whatever races the requests run into.
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=models.Q(kind__in=COALESCED_KINDS, status__in=UNFINISHED_STATUSES),
                name="one_unfinished_coalesced_job_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
