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

from annotator.models import ModelVersion
from annotator.selectors.training import model_card
from mlcore.pipeline import write_archive


def model_archive_name(version: ModelVersion) -> str:
    return f"project-{version.project_id}-v{version.number}-{version.kind}.zip"


def model_version_archive(*, version: ModelVersion) -> BinaryIO:
    """The version's archive as an open file: built in a temporary folder (under ARTIFACT_ROOT, so a large
    model never fills /tmp) that is removed at once; the open handle keeps the file readable until closed."""
    scratch = Path(settings.ARTIFACT_ROOT) / "exports"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        archive = write_archive(
            Path(settings.ARTIFACT_ROOT) / version.artifact_dir,
            model_card(version=version),
            folder / model_archive_name(version),
        )
        return Path(archive).open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
