"""Issue 21, export: any version downloads as one archive (experts and admins) that runs in a fresh
process with `python -m mlcore.predict`, giving the labels /predict gives; the archive names no server path."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from annotator.models import Job, ModelVersion, Role
from annotator.services import training
from annotator.services.training import model_version_activate
from mlcore.models import TextCNN
from tests.annotator.services.test_training import _news

pytestmark = pytest.mark.django_db

TEXTS = [
    "The striker scored twice as the club won the cup final.",
    "The minister lost the vote in parliament.",
    "goal",
    "Shares in the chip maker rose after the new phone launch.",
]


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _char_cnn_version(project) -> ModelVersion:
    sport = project.labels.create(name="Sport", order=0)
    politics = project.labels.create(name="Politics", order=1)
    model = TextCNN(tokenization="char", min_count=1, embedding_dim=8, num_filters=4, epochs=3, random_state=0)
    model.fit(["goal", "match", "cup final", "vote", "minister", "parliament"], [sport.pk] * 3 + [politics.pk] * 3)
    relative = f"models/project-{project.pk}/v1-{uuid.uuid4().hex[:8]}"
    model.save(Path(settings.ARTIFACT_ROOT) / relative)
    return ModelVersion.objects.create(
        project=project, number=1, kind=model.kind, data_hash="a" * 64, n_train=6, n_test=2,
        label_ids=[int(label) for label in model.classes_],
        metrics={"macro_f1": 0.5, "accuracy": 0.5, "per_class": [], "confusion": [[1, 0], [0, 1]]},
        artifact_dir=relative, backbone=project.backbone,
    )  # fmt: skip


def _download(project, version, user, tmp_path: Path) -> Path:
    response = _client(user).get(f"/api/projects/{project.pk}/models/{version.pk}/export/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    archive = tmp_path / "archive.zip"
    archive.write_bytes(b"".join(response.streaming_content))
    return archive


def _run_cli(archive: Path, tmp_path: Path) -> list[dict]:
    """`python -m mlcore.predict` in a fresh process: no Django settings, no database."""
    source = tmp_path / "x.jsonl"
    source.write_text("".join(json.dumps(text) + "\n" for text in TEXTS), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "mlcore.predict", "--model", str(archive), "--input", str(source), "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _api_labels(project, user) -> list[str]:
    response = _client(user).post(f"/api/projects/{project.pk}/predict", {"texts": TEXTS}, format="json")
    assert response.status_code == 200, response.content
    return [prediction["labels"][0]["name"] for prediction in response.json()["predictions"]]


def test_a_version_downloads_as_an_archive_that_predicts_like_the_api_in_a_fresh_process(project_with_roles, tmp_path):
    project, users = project_with_roles
    version = _char_cnn_version(project)
    model_version_activate(version=version, by=users[Role.ADMIN])
    archive = _download(project, version, users[Role.EXPERT], tmp_path)
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        card = json.loads(opened.read("model_card.json"))
        everything = b"".join(opened.read(name) for name in names if not name.endswith((".pt", ".onnx", ".bin")))
    assert {"model.json", "model_card.json", "model.onnx"} <= set(names)
    assert card["kind"] == "text_cnn" and card["classes"] == version.label_ids
    assert sorted(card["label_map"].values()) == ["Politics", "Sport"]
    assert card["data"] == {"data_hash": "a" * 64, "n_train": 6, "n_test": 2}
    assert card["metrics"] == {"macro_f1": 0.5, "accuracy": 0.5}  # the numbers; tables stay in the app
    assert str(settings.ARTIFACT_ROOT).encode() not in everything  # no server path in the archive
    assert str(settings.MEDIA_ROOT).encode() not in everything

    cli = _run_cli(archive, tmp_path)
    assert [row["label"] for row in cli] == _api_labels(project, users[Role.ANNOTATOR])
    assert not list((Path(settings.ARTIFACT_ROOT) / "exports").iterdir())  # nothing left behind


def test_only_experts_and_admins_export_and_the_page_links_it(project_with_roles, client):
    project, users = project_with_roles
    version = _char_cnn_version(project)
    url = f"/api/projects/{project.pk}/models/{version.pk}/export/"
    assert _client(users[Role.ANNOTATOR]).get(url).status_code == 403
    assert _client(users["outsider"]).get(url).status_code in (403, 404)
    assert _client(users[Role.ADMIN]).get(f"/api/projects/{project.pk}/models/999999/export/").status_code == 404
    client.force_login(users[Role.ADMIN])
    page = client.get(f"/projects/{project.pk}/models/{version.pk}/").content.decode()
    assert f"/projects/{project.pk}/models/{version.pk}/export/" in page
    download = client.get(f"/projects/{project.pk}/models/{version.pk}/export/")
    assert download.status_code == 200
    assert zipfile.is_zipfile(io.BytesIO(b"".join(download.streaming_content)))
    client.force_login(users[Role.ANNOTATOR])
    assert "/export/" not in client.get(f"/projects/{project.pk}/models/{version.pk}/").content.decode()


@pytest.mark.slow
def test_a_fast_head_archive_names_its_encoder_and_runs_with_it(project_with_roles, tmp_path):
    """A model on embeddings: the card names the packaged encoder, and the fresh process embeds with it."""
    project, users = project_with_roles
    _news(project)
    job = Job.objects.create(project=project, kind="train", params={"kind": "fast_head"}, created_by=users[Role.ADMIN])
    version = ModelVersion.objects.get(
        pk=training.training_run_job(job=job, progress=lambda p, m: None)["model_version"]
    )
    model_version_activate(version=version, by=users[Role.ADMIN])
    archive = _download(project, version, users[Role.ADMIN], tmp_path)
    with zipfile.ZipFile(archive) as opened:
        card = json.loads(opened.read("model_card.json"))
    assert card["encoder"]["backbone"] == project.backbone
    assert card["encoder"]["version"] == version.encoder_version
    cli = _run_cli(archive, tmp_path)
    assert [row["label"] for row in cli] == _api_labels(project, users[Role.ANNOTATOR])
