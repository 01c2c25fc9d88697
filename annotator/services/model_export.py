"""Export a model version as one archive (issue 21): its files, `model.json`, a model card and, for kinds
that support it, `model.onnx`, written by `mlcore.pipeline.write_archive`. The archive runs anywhere with
`python -m mlcore.predict --model archive.zip --input texts.jsonl`, no Django needed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError

from annotator.models import ModelVersion
from annotator.selectors.training import model_card
from mlcore.pipeline import write_archive

FILES_MISSING_ERROR = "The files of {version} are missing on the server, so it cannot be exported."


def model_archive_name(version: ModelVersion) -> str:
    return f"project-{version.project_id}-v{version.number}-{version.kind}.zip"


def model_version_archive(*, version: ModelVersion) -> BinaryIO:
    """The version's archive as an open file: built in a temporary folder (under ARTIFACT_ROOT, so a large
    model never fills /tmp) that is removed at once; the open handle keeps the file readable until closed."""
    model_dir = Path(settings.ARTIFACT_ROOT) / version.artifact_dir
    if not (model_dir / "model.json").is_file():
        raise ValidationError(FILES_MISSING_ERROR.format(version=version), code="files_missing")
    scratch = Path(settings.ARTIFACT_ROOT) / "exports"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        archive = write_archive(model_dir, model_card(version=version), folder / model_archive_name(version))
        return Path(archive).open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
