"""How fast a model version predicts (issue 21): batch-1 latency and batch throughput on the project's
own texts, measured by `mlcore.speed.measure_speed` in the worker's process, the encoder included for
models on embeddings (what `/predict` pays), so a fast head and a TextCNN compare fairly.

New versions are timed by their training or distillation job before they are registered; older ones
by a small `speed` job (a teacher on CPU takes a while, so never inside a request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from annotator.models import Job, ModelVersion, Project
from annotator.services.head_inputs import predict_inputs
from annotator.services.jobs import job_start
from mlcore.encoders import TextEncoder
from mlcore.models import TextClassifier
from mlcore.speed import measure_speed

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

SPEED_TEXTS = 256  # the first texts of the project by id: the same ones for every version


def speed_texts(*, project: Project) -> list[str]:
    """Up to SPEED_TEXTS of the project's texts, the same for every version so their speeds compare."""
    return list(project.items.order_by("id").values_list("text", flat=True)[:SPEED_TEXTS])


def model_speed(*, model: TextClassifier, encoder: TextEncoder | None, texts: list[str]) -> dict:
    """`mlcore.speed.measure_speed` of `model` on `texts`; `encoder` embeds first for embedding models."""
    if model.input_type == "embeddings":
        if encoder is None:
            raise ValueError("a model on embeddings needs its encoder to be timed")

        def predict_proba(batch: list[str]) -> np.ndarray:
            return model.predict_proba(predict_inputs(model, batch, encoder.embed(batch)))

    else:
        predict_proba = model.predict_proba
    return measure_speed(
        predict_proba, texts, batch_size=settings.SPEED_BATCH_SIZE, max_seconds=settings.SPEED_MAX_SECONDS
    )


def speed_fields(measured: dict | None) -> dict:
    """The ModelVersion fields for a `measure_speed` result (all None when it was not measured)."""
    if not measured:
        return {"ms_per_text": None, "texts_per_second": None, "speed_threads": None, "speed_measured_at": None}
    return {
        "ms_per_text": float(measured["ms_per_text"]),
        "texts_per_second": float(measured["texts_per_second"]),
        "speed_threads": int(measured["threads"]),
        "speed_measured_at": timezone.now(),
    }


def speed_or_none(
    *, model: TextClassifier, encoder: TextEncoder | None, texts: list[str], progress: Progress, percent: float
) -> dict | None:
    """A new version's speed, or None: a timing that fails must not throw away a trained, evaluated model
    (the version is registered without a speed and can be timed later with the Measure speed action)."""
    progress(percent, f"Measuring speed on {len(texts)} texts")
    if not texts:
        return None
    try:
        return model_speed(model=model, encoder=encoder, texts=texts)
    except Exception as error:  # a thread setting, out of memory: the model matters more than its timing
        logger.warning("speed measurement failed: %s", error)
        progress(percent, f"Speed not measured: {error}")
        return None


def speed_job_start(*, version: ModelVersion, by: AbstractBaseUser) -> Job:
    """Queue a job that times `version` on the project's texts (the cpu queue, where /predict runs)."""
    return job_start(kind="speed", project=version.project, params={"version": version.pk}, created_by=by)


def speed_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of a speed job: load the version (and its encoder), time it, store the numbers."""
    from annotator.services.training import trained_model, version_encoder  # training imports this module

    version = ModelVersion.objects.select_related("project").get(pk=job.params["version"], project=job.project)
    progress(5, f"Loading {version}")
    model = trained_model(version)
    encoder = version_encoder(version) if model.input_type == "embeddings" else None
    texts = speed_texts(project=version.project)
    progress(20, f"Measuring speed on {len(texts)} texts")
    measured = model_speed(model=model, encoder=encoder, texts=texts)
    fields = speed_fields(measured)
    ModelVersion.objects.filter(pk=version.pk).update(**fields)
    message = f"{version}: {fields['ms_per_text']:.2f} ms per text, {fields['texts_per_second']:.0f} texts/s"
    progress(100, message)
    return {
        "model_version": version.pk,
        "ms_per_text": fields["ms_per_text"],
        "texts_per_second": fields["texts_per_second"],
        "threads": fields["speed_threads"],
        "n_texts": measured.get("n_texts", len(texts)),
    }
