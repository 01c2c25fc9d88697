"""Finding 12: a request names a backbone only from the packaged list or a model folder under the
server's LABELLOOP_MODEL_DIRS, never a free path; the refusal is the same whether the path exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from annotator.models import Job, Role
from annotator.services.embeddings import backbone_source, load_encoder
from annotator.services.training import NOT_ENOUGH_DATA_ERROR
from mlcore.encoders import BACKBONE_UNAVAILABLE_ERROR, DEFAULT_BACKBONE, allowed_backbone_dir, packaged_backbones

pytestmark = pytest.mark.django_db


def _unavailable(backbone: str) -> str:
    return BACKBONE_UNAVAILABLE_ERROR.format(backbone=backbone, known=", ".join(packaged_backbones()))


def _train(project, user, backbone: str):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(
        f"/api/projects/{project.pk}/models/",
        {"preset": "teacher", "params": {"backbone": backbone}},
        format="json",
    )


def test_training_refuses_a_free_server_path_without_saying_whether_it_exists(project_with_roles, tmp_path):
    """Finding 12: `params.backbone` = any directory used to be loaded (and its existence told)."""
    project, users = project_with_roles
    real = tmp_path / "some-model"
    real.mkdir()
    (real / "config.json").write_text("{}")
    for backbone in (str(real), str(tmp_path / "missing"), "/etc", "../../etc", "some-model"):
        response = _train(project, users[Role.ADMIN], backbone)
        assert response.status_code == 400, (backbone, response.content)
        assert response.json()["detail"] == _unavailable(backbone)
    assert not Job.objects.exists()


def test_a_model_folder_under_the_configured_dirs_is_accepted(project_with_roles, settings, tmp_path):
    """Finding 12: by its name or its path, when LABELLOOP_MODEL_DIRS holds its parent."""
    project, users = project_with_roles
    model = tmp_path / "models" / "my-bert"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    settings.LABELLOOP_MODEL_DIRS = [str(tmp_path / "elsewhere"), str(tmp_path / "models")]
    for backbone in ("my-bert", str(model)):
        response = _train(project, users[Role.ADMIN], backbone)
        # The backbone passed; the project has no labels, which is the next check.
        assert response.status_code == 400
        assert response.json()["detail"].startswith(NOT_ENOUGH_DATA_ERROR.split("{")[0])
    assert backbone_source("my-bert") == str(model.resolve())
    assert backbone_source(DEFAULT_BACKBONE) == DEFAULT_BACKBONE


def test_a_link_out_of_the_model_dirs_is_refused(settings, tmp_path):
    """Finding 12: the check is on the resolved folder, so a symlink does not lead outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    root = tmp_path / "models"
    root.mkdir()
    (root / "sneaky").symlink_to(outside)
    for backbone in ("sneaky", str(root / "sneaky"), str(root / ".." / "outside"), str(root)):
        with pytest.raises(ValueError) as refused:
            allowed_backbone_dir(backbone, [root])
        assert str(refused.value) == _unavailable(backbone)


def test_a_projects_backbone_is_checked_where_it_is_loaded(tmp_path):
    """Finding 12: a project's stored backbone outside the model dirs is not loaded by any job."""
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValidationError) as refused:
        load_encoder(str(tmp_path))
    assert refused.value.messages == [_unavailable(str(tmp_path))]
    assert Path(tmp_path).exists()
