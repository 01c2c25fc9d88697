"""Reading jobs, and what each project role sees of them.

Annotators see a job's kind, status, progress and times, and a generic line when it failed; its
params, result, log and error text (which can hold server paths, backbones and exception messages)
are for experts and admins. Experts see them with absolute server paths shortened to their last
part; admins (who run jobs and configure the server) see them as stored.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet

from annotator.models import Job, JobStatus, Project, Role
from annotator.permissions import Capability, role_can

GENERIC_FAILURE_MESSAGE = "This job failed. An expert or an admin of the project can see why."
# An absolute POSIX path of two or more parts (e.g. /srv/labelloop/media/imports/ab12/upload).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])(?:/[\w.@+~-]+){2,}/?")


def project_jobs(*, project: Project) -> QuerySet[Job]:
    return project.jobs.select_related("created_by")


def job_log_lines(*, job: Job, last: int = 200) -> list[str]:
    """The last `last` log lines of a job, oldest first."""
    return job.log.splitlines()[-last:]


def strip_server_paths(text: str) -> str:
    """`/srv/app/media/imports/ab12/upload` -> `…/upload`: what a path names without where it lives."""
    return _ABSOLUTE_PATH.sub(lambda match: "…/" + match.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def strip_server_paths_in(value: Any) -> Any:
    """`strip_server_paths` over every string of a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return strip_server_paths(value)
    if isinstance(value, dict):
        return {key: strip_server_paths_in(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_server_paths_in(item) for item in value]
    return value


def job_details_visible(*, role: str | None) -> bool:
    """Whether `role` sees a job's params, result, log and error (experts and admins)."""
    return role_can(role, Capability.REVIEW)


def job_for_role(*, job: Job, role: str | None) -> dict:
    """The job's details as `role` may see them: `params`, `result`, `log` (lines), `error`, `message`."""
    if role == Role.ADMIN:
        return {
            "params": job.params,
            "result": job.result,
            "log": job_log_lines(job=job),
            "error": job.error,
            "message": job.message,
        }
    if job_details_visible(role=role):
        return {
            "params": strip_server_paths_in(job.params),
            "result": strip_server_paths_in(job.result),
            "log": [strip_server_paths(line) for line in job_log_lines(job=job)],
            "error": strip_server_paths(job.error),
            "message": strip_server_paths(job.message),
        }
    return {
        "params": {},
        "result": {},
        "log": [],
        "error": GENERIC_FAILURE_MESSAGE if job.status == JobStatus.FAILED else "",
        "message": strip_server_paths(job.message),
    }
