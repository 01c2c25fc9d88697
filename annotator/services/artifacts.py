"""Removing model files that no registered version owns.

A training job writes its model to a `.staging-*` directory and renames it into place in the same
transaction that registers the version (services/training.py). A worker killed in between (SIGKILL,
out of memory) runs no cleanup: the staging directory, or a renamed directory whose version row was
rolled back, stays on disk. The stale-job check sweeps them, once they are older than a running job
may stay silent, so that a save in progress on another worker is never touched.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from django.conf import settings

from annotator.models import ModelVersion

STAGING_PREFIX = ".staging-"
# The names services/training.py gives: only these are ever swept, whatever else lies beside them.
VERSION_DIR = re.compile(r"v\d+-[0-9a-f]{8}")


def _models_root() -> Path:
    return Path(settings.ARTIFACT_ROOT) / "models"


def _is_old(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:  # removed meanwhile
        return False


def model_artifacts_sweep(*, older_than: float | None = None) -> list[Path]:
    """Delete staging and unregistered model directories older than `older_than` seconds; the removed paths."""
    root = _models_root()
    if not root.is_dir():
        return []
    cutoff = time.time() - (settings.JOB_STALE_SECONDS if older_than is None else older_than)
    registered = {str(Path(path)) for path in ModelVersion.objects.values_list("artifact_dir", flat=True)}
    removed = []
    for directory in sorted(path for project in root.iterdir() if project.is_dir() for path in project.iterdir()):
        relative = str(directory.relative_to(root.parent))
        staging = directory.name.startswith(STAGING_PREFIX)
        orphan = staging or (VERSION_DIR.fullmatch(directory.name) is not None and relative not in registered)
        if directory.is_dir() and orphan and _is_old(directory, cutoff):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed
