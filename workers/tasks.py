"""Celery tasks. Each is a few lines: fetch by id, call a service, report progress."""

from __future__ import annotations

import time

from annotator.models import Job
from annotator.services import active_learning, clustering, imports, jobs, noise, training
from annotator.services.artifacts import model_artifacts_sweep
from workers.celery import app
from workers.jobtask import JobContext, job_task


@job_task("labelloop.import_items")
def import_items(ctx: JobContext, job: Job) -> dict:
    """Import an uploaded file into the job's project (all-or-nothing)."""
    return imports.import_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.cluster_items")
def cluster_items(ctx: JobContext, job: Job) -> dict:
    """Embed and cluster the project's unlabeled items (cold start)."""
    return clustering.cluster_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.selfcheck")
def selfcheck(ctx: JobContext, job: Job) -> dict:
    """Walk through `steps` steps of `seconds` each, reporting progress: proves the worker loop."""
    steps = int(job.params.get("steps", 5))
    seconds = float(job.params.get("seconds", 0.5))
    for step in range(steps):
        ctx.progress(100 * step / steps, f"Step {step + 1} of {steps}")
        time.sleep(seconds)
    return {"steps": steps}


@app.task(name="labelloop.fail_stale_jobs")
def fail_stale_jobs() -> int:
    failed = jobs.jobs_fail_stale()
    model_artifacts_sweep()  # what a killed worker's half-saved model left on disk
    return failed


@job_task("labelloop.train_model")
def train_model(ctx: JobContext, job: Job) -> dict:
    """Train, evaluate on the locked test split, and register a model version (nothing on failure)."""
    return training.training_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.rescore_pool")
def rescore_pool(ctx: JobContext, job: Job) -> dict:
    """Active learning: retrain the fast head, rescore the pool, store the new queue order."""
    return active_learning.rescore_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.detect_noise")
def detect_noise(ctx: JobContext, job: Job) -> dict:
    """Noisy labels: run the detectors over the labeled items and store the flags for review."""
    return noise.noise_run_job(job=job, progress=ctx.progress)
