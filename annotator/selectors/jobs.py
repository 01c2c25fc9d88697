from __future__ import annotations

from django.db.models import QuerySet

from annotator.models import Job, Project


def project_jobs(*, project: Project) -> QuerySet[Job]:
    return project.jobs.select_related("created_by")


def job_log_lines(*, job: Job, last: int = 200) -> list[str]:
    """The last `last` log lines of a job, oldest first."""
    return job.log.splitlines()[-last:]
