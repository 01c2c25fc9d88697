"""An admin trains a fast head and a teacher from the browser, on a real Celery worker, watches each job's
progress bar and opens each version's evaluation.

The project's backbone is the session's tiny random BERT (`allowed_tiny_backbone`), for the fast head's
embeddings and as the teacher's backbone alike, so both trainings take seconds on a CPU.
"""

from __future__ import annotations

import re
import time

import pytest

from annotator.models import Job, JobStatus, ModelVersion
from tests.annotator.services.test_training import _news

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT_SECONDS = 90
FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def watch_job(page) -> list[tuple[str, int]]:
    """Read the job page's status and progress bar as htmx refreshes them, until the job is finished.

    Returns every (status, progress) pair seen, in order, the finished one last.
    """
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        # One evaluate reads both, so a swap of the partial between two reads cannot mix two states.
        state = page.evaluate(
            """() => {
                const status = document.querySelector("#job-status .status");
                const bar = document.querySelector("progress#job-progress");
                return status && bar ? [status.dataset.status, Number(bar.getAttribute("value"))] : null;
            }"""
        )
        if state is not None:
            state = (state[0], int(state[1]))
            if not seen or seen[-1] != state:
                seen.append(state)
            if state[0] in FINISHED:
                return seen
        page.wait_for_timeout(100)
    pytest.fail(f"the job page did not show a finished job within {JOB_TIMEOUT_SECONDS}s; saw {seen}")


def train_and_open_the_evaluation(page, live_server, project, *, preset: str, epochs: int | None = None) -> Job:
    page.goto(f"{live_server.url}/projects/{project.pk}/models/")
    page.select_option("select[name=preset]", preset)
    if epochs is not None:
        page.fill("input[name=epochs]", str(epochs))
    page.click("button:has-text('Start training')")
    page.wait_for_url(re.compile(rf"/projects/{project.pk}/jobs/\d+/$"))
    job = Job.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert page.is_visible("progress#job-progress")

    seen = watch_job(page)
    job.refresh_from_db()
    assert seen[-1] == (JobStatus.SUCCEEDED, 100), f"{seen}\n{job.error}\n{job.log}"
    assert seen[0][0] in (JobStatus.QUEUED, JobStatus.RUNNING) and seen[0][1] < 100, seen
    progress = [value for _, value in seen]
    assert progress == sorted(progress), f"the progress bar went back: {seen}"

    page.click("#job-model-link")
    version = ModelVersion.objects.get(pk=job.result["model_version"])
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/models/{version.pk}/")
    page.wait_for_selector("text=Confusion matrix")
    return job


def test_an_admin_trains_a_fast_head_and_a_teacher_and_opens_their_evaluations(
    page, live_server, celery_worker, project_with_roles, allowed_tiny_backbone
):
    project, users = project_with_roles
    _news(project)
    project.backbone = allowed_tiny_backbone
    project.save(update_fields=["backbone"])
    worker = celery_worker()
    log_in(page, live_server, users["admin"].username, "pw-" + users["admin"].username)

    fast = train_and_open_the_evaluation(page, live_server, project, preset="fast_head")
    teacher = train_and_open_the_evaluation(page, live_server, project, preset="teacher", epochs=1)

    assert (fast.queue, teacher.queue) == ("cpu", "gpu")
    assert teacher.params["epochs"] == 1
    versions = list(project.model_versions.order_by("number").values_list("number", "kind", "job_id"))
    assert versions == [(1, "fast_head", fast.pk), (2, "teacher", teacher.pk)], worker.output()
