"""Issue 20, bug 10: `make bench-import` and `make bench-queue` failed on a fresh checkout with "no such
table: auth_user" until `make run` had migrated. The commands now migrate the database they use when it
has unapplied migrations, and the Makefile gives them a scratch database of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def fresh_environment(var_dir: Path) -> dict[str, str]:
    """The environment of a fresh clone: no DATABASE_URL, an empty var directory (no database file yet)."""
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {**environment, "DEBUG": "1", "LABELLOOP_VAR_DIR": str(var_dir)}


def run_command(arguments: list[str], var_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE), *arguments],
        cwd=settings.BASE_DIR,
        env=fresh_environment(var_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bench_import_works_on_an_unmigrated_database(tmp_path):
    var_dir = tmp_path / "var"
    out = tmp_path / "import.json"
    done = run_command(["bench_import", "--rows", "300", "--out", str(out)], var_dir)
    assert done.returncode == 0, done.stderr
    assert "Migrating the database first" in done.stderr
    result = json.loads(out.read_text())
    assert result["rows"] == 300 and result["created"] + result["duplicates"] == 300
    assert (var_dir / "labelloop.sqlite3").exists()


@pytest.mark.slow  # starts gunicorn
def test_bench_queue_works_on_an_unmigrated_database(tmp_path):
    var_dir = tmp_path / "var"
    out = tmp_path / "queue.json"
    arguments = ["--items", "50", "--annotators", "2", "--per-annotator", "3", "--warmup", "1", "--workers", "1"]
    done = run_command(["bench_queue", *arguments, "--out", str(out)], var_dir)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["errors"] == [] and result["annotations"] == 6


def test_the_make_targets_use_a_scratch_database_not_the_apps():
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "bench-import", "bench-queue"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scratch = f"LABELLOOP_VAR_DIR={Path(settings.BASE_DIR) / 'var' / 'bench'} "
    assert dry_run.count(scratch) == 2, dry_run
