"""The sweep of model files left behind by a worker killed while saving."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from annotator.models import ModelVersion
from annotator.services.artifacts import model_artifacts_sweep

pytestmark = pytest.mark.django_db

HOUR = 3600


def _directory(root: Path, relative: str, *, age: float) -> Path:
    path = root / relative
    path.mkdir(parents=True)
    (path / "model.json").write_text("{}")
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def test_only_old_staging_and_unregistered_version_directories_go(settings, tmp_path, project_with_roles):
    project, _users = project_with_roles
    settings.ARTIFACT_ROOT = str(tmp_path)
    ModelVersion.objects.create(
        project=project, number=1, kind="fast_head", n_train=10, n_test=5, artifact_dir="models/project-1/v1-0123abcd"
    )
    kept_registered = _directory(tmp_path, "models/project-1/v1-0123abcd", age=HOUR)
    old_staging = _directory(tmp_path, "models/project-1/.staging-ffff", age=HOUR)
    old_orphan = _directory(tmp_path, "models/project-1/v2-89abcdef", age=HOUR)
    fresh_staging = _directory(tmp_path, "models/project-1/.staging-eeee", age=5)  # a save in progress
    fresh_orphan = _directory(tmp_path, "models/project-1/v3-00000000", age=5)  # its row not committed yet
    foreign = _directory(tmp_path, "models/project-1/notes", age=HOUR)  # not a name training gives

    removed = model_artifacts_sweep(older_than=120)

    assert sorted(removed) == sorted([old_staging, old_orphan])
    assert not old_staging.exists() and not old_orphan.exists()
    assert all(path.exists() for path in (kept_registered, fresh_staging, fresh_orphan, foreign))


def test_no_models_directory_is_nothing_to_do(settings, tmp_path):
    settings.ARTIFACT_ROOT = str(tmp_path / "absent")
    assert model_artifacts_sweep() == []
