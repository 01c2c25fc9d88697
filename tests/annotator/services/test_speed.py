"""Issue 21: every new version is timed by its training job, and an older one by a speed job; both
with mlcore.speed.measure_speed, the encoder included for a model on embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.models import Job, ModelVersion
from annotator.services import speed, training
from mlcore.features import HybridInputs
from tests.annotator.services.test_training import _job, _news

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_training_job_times_its_version_and_a_speed_job_times_it_again(project_with_roles):
    project, users = project_with_roles
    _news(project)
    messages: list[str] = []
    result = training.training_run_job(job=_job(project, users["admin"]), progress=lambda p, m: messages.append(m))
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.ms_per_text > 0 and version.texts_per_second > 0 and version.speed_threads >= 1
    assert version.speed_measured_at is not None
    assert "Measuring speed on 51 texts" in messages  # all of the project's texts (fewer than 256)

    ModelVersion.objects.filter(pk=version.pk).update(**speed.speed_fields(None))
    job = speed.speed_job_start(version=version, by=users["admin"])
    assert (job.kind, job.queue) == ("speed", "cpu")
    outcome = speed.speed_run_job(job=Job.objects.get(pk=job.pk), progress=lambda p, m: None)
    version.refresh_from_db()
    assert outcome["model_version"] == version.pk and outcome["n_texts"] == 51
    assert version.texts_per_second == pytest.approx(outcome["texts_per_second"])
    assert version.ms_per_text > 0 and version.speed_measured_at is not None
    _the_encoder_is_part_of_the_timing(version, project)


def _the_encoder_is_part_of_the_timing(version: ModelVersion, project) -> None:
    """The encoder is most of a fast head's cost: timing the head alone would flatter it."""
    model = training.trained_model(version)
    texts = speed.speed_texts(project=project)
    encoder = training.version_encoder(version)
    with_encoder = speed.model_speed(model=model, encoder=encoder, texts=texts)
    embedded = dict(zip(texts, encoder.embed(texts), strict=True))

    class HeadOnly:  # the same head, fed ready-made embeddings (and the texts: it is hybrid, issue 22)
        input_type = "texts"

        def predict_proba(self, batch: list[str]) -> object:
            return model.predict_proba(HybridInputs(batch, np.stack([embedded[text] for text in batch])))

    head_only = speed.model_speed(model=HeadOnly(), encoder=None, texts=texts)
    assert with_encoder["texts_per_second"] < head_only["texts_per_second"]
    with pytest.raises(ValueError, match="needs its encoder"):
        speed.model_speed(model=model, encoder=None, texts=texts)
