"""`manage.py bench_import --rows 100000 --out RESULT.json`: time a large import end to end.

Writes a synthetic CSV (unique texts, a share of them labeled, a few duplicates) and imports it
through the same service the import job runs, into a scratch project that is deleted afterwards.
"""

from __future__ import annotations

import json
import platform
import random
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection

from annotator.importing.parsers import ImportOptions
from annotator.management.database import migrate_if_needed
from annotator.services.imports import ImportRequest, import_file
from annotator.services.projects import project_create, project_delete

LABELS = ["Business", "Entertainment", "Politics", "Sport", "Tech", "Sport > Football", "Sport > Tennis"]
LABELED_SHARE = 0.3
DUPLICATE_SHARE = 0.01
WORDS_PER_TEXT = (15, 60)


def write_synthetic_csv(path: Path, rows: int, random_state: int) -> None:
    rng = random.Random(random_state)
    vocabulary = [f"w{n}" for n in range(5000)]
    written = []
    with path.open("w", encoding="utf-8") as out:
        out.write("text,label,source\n")
        for row in range(rows):
            if written and rng.random() < DUPLICATE_SHARE:
                text = rng.choice(written)
            else:
                words = rng.choices(vocabulary, k=rng.randint(*WORDS_PER_TEXT))
                text = f"Row {row}: " + " ".join(words)
                if len(written) < 1000:
                    written.append(text)
            label = rng.choice(LABELS) if rng.random() < LABELED_SHARE else ""
            out.write(f'"{text}",{label},bench\n')


class Command(BaseCommand):
    help = "Benchmark importing a large CSV; writes JSON with at least `seconds` and `rows`."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--keep", action="store_true", help="Keep the scratch project.")

    def handle(self, *args, rows: int, out: Path, seed: int, keep: bool, **options):
        migrate_if_needed(log=self.stderr.write)
        user, _ = get_user_model().objects.get_or_create(username="bench-import")
        project = project_create(name=f"bench-import {time.strftime('%Y-%m-%d %H:%M:%S')}", created_by=user)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "bench.csv"
            write_synthetic_csv(path, rows, seed)
            size = path.stat().st_size
            request = ImportRequest(filename=path.name, options=ImportOptions(label_column="label"))
            started = time.perf_counter()
            with path.open("rb") as stream:
                report = import_file(project=project, stream=stream, request=request)
            seconds = time.perf_counter() - started
        result = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds),
            "file_megabytes": round(size / 2**20, 1),
            "created": report.created,
            "duplicates": report.duplicates_in_file + report.duplicates_in_project,
            "annotations": report.annotations,
            "database": connection.vendor,
            "python": platform.python_version(),
        }
        if not keep:
            project_delete(project=project)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        self.stdout.write(json.dumps(result))
