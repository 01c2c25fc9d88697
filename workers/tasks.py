"""Celery tasks. Each is a few lines: fetch by id, call a service, report progress."""

from __future__ import annotations

from annotator.models import Job
from annotator.services import (
    active_learning,
    augment,
    clustering,
    distillation,
    imports,
    jobs,
    noise,
    predictions,
    speed,
    training,
)
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
    params = jobs.selfcheck_params(job.params)  # bounded again: a row may predate the check
    steps, seconds = params["steps"], params["seconds"]
    for step in range(steps):
        ctx.progress(100 * step / steps, f"Step {step + 1} of {steps}")
        ctx.sleep(seconds)
    return {"steps": steps}


@app.task(name="labelloop.fail_stale_jobs")
def fail_stale_jobs() -> int:
    """The periodic check: fail dead or overdue running jobs, send unclaimed queued ones again."""
    failed = jobs.jobs_fail_stale()
    _, never_sent = jobs.jobs_resend_queued()
    model_artifacts_sweep()  # what a killed worker's half-saved model left on disk
    return failed + never_sent


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


@job_task("labelloop.predict_batch")
def predict_batch(ctx: JobContext, job: Job) -> dict:
    """Batch prediction: the stored texts through the active model version, results to a file."""
    return predictions.predict_batch_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.distill_model")
def distill_model(ctx: JobContext, job: Job) -> dict:
    """Distill teacher versions into a student, evaluate it, time it and register it (nothing on failure)."""
    return distillation.distill_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.measure_speed")
def measure_speed(ctx: JobContext, job: Job) -> dict:
    """Time an existing model version on the project's texts and store its speed."""
    return speed.speed_run_job(job=job, progress=ctx.progress)


@job_task("labelloop.augment_items")
def augment_items(ctx: JobContext, job: Job) -> dict:
    """Augmentation: write augmented copies of scarce classes' training items for experts to review."""
    return augment.augment_run_job(job=job, progress=ctx.progress)
