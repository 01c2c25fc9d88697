"""`manage.py bench_al_loop --items 20000 --out RESULT.json`: time from the N-th label to the new order.

Creates a scratch project of `--items` pool items in five labels. Their embeddings are pre-seeded in
the project's embedding cache: random unit vectors written through `item_embeddings` (the same store
and keys the embedding code uses), as an earlier embedding or clustering job would have left them,
so the measurement is the loop itself, not first-time embedding. The encoder's identity (version,
size) is the project's real backbone, which the worker still loads once.

A real Celery worker subprocess (all queues, concurrency 1) runs against the same database and
Redis (REDIS_URL, or an embedded redis-server). Each round labels `--labels` items through the
queue services (N = the project's al_every_labels) and measures, from the return of the N-th submit,
until the queue's first open item belongs to the new score run, polling every 20 ms. Round 1 includes
the worker loading the encoder; later rounds are warm. The scratch project is deleted at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from annotator.embedded_redis import EmbeddedRedis
from annotator.models import Item, Job, Project, ScoreRun
from annotator.services.embeddings import item_embeddings, load_encoder
from annotator.services.projects import project_create, project_delete
from annotator.services.queue import annotation_submit, initial_priority, queue_next_item
from annotator.services.taxonomy import label_create

LABELS = ["Business", "Entertainment", "Politics", "Sport", "Tech"]
TARGET_SECONDS = 30.0
POLL_SECONDS = 0.02
WORKER_READY_TIMEOUT = 120
ROUND_TIMEOUT = 300
CREATE_BATCH_SIZE = 2000


class _SeedEncoder:
    """Stands in for the real encoder when seeding the cache: same version and size, random unit vectors."""

    def __init__(self, version: str, dim: int, seed: int) -> None:
        self.version, self.dim = version, dim
        self._rng = np.random.default_rng(seed)

    def embed(self, texts, batch_size: int = 32, progress=None) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Command(BaseCommand):
    help = "Benchmark the active-learning loop: N-th label to new queue order, with a real worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--items", type=int, default=20000)
        parser.add_argument("--labels", type=int, default=25, help="N: labels per round (al_every_labels).")
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", type=Path, default=None)
        parser.add_argument("--keep", action="store_true", help="Keep the scratch project.")

    def handle(self, *args, **options) -> None:
        if options["items"] < options["labels"] * options["rounds"]:
            raise CommandError("--items must exceed --labels x --rounds")
        user, _ = get_user_model().objects.get_or_create(username="bench-al")
        project = self._project(user, options)
        redis, worker = None, None
        try:
            env = dict(os.environ)
            if "REDIS_URL" not in os.environ:
                redis = EmbeddedRedis(Path(settings.VAR_DIR) / "redis-bench-al", persistent=False).start()
                env["REDIS_URL"] = redis.url
                settings.CELERY_BROKER_URL = redis.url
            worker, _log = self._worker(env)
            rounds = [self._round(project, user, n, options["labels"]) for n in range(1, options["rounds"] + 1)]
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            if redis is not None:
                redis.stop()
            if not options["keep"]:
                project_delete(project=project)
        result = {
            "benchmark": "active-learning loop: N-th label to new queue order",
            "items": options["items"],
            "labels_per_round": options["labels"],
            "database": connection.vendor,
            "backbone": project.backbone,
            "embeddings": "pre-seeded random unit vectors in the project's embedding cache (item_embeddings)",
            "worker": "real celery worker subprocess, -Q default,cpu,gpu, concurrency 1",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "target_seconds": TARGET_SECONDS,
            "rounds": rounds,
        }
        text = json.dumps(result, indent=2)
        if options["out"]:
            options["out"].write_text(text + "\n")
        self.stdout.write(text)

    # --- setup -------------------------------------------------------------------------------------------

    def _project(self, user, options) -> Project:
        project = project_create(name=f"bench-al-{uuid.uuid4().hex[:8]}", created_by=user)
        project.al_every_labels = options["labels"]
        project.overlap_fraction = 0.0
        project.save(update_fields=["al_every_labels", "overlap_fraction"])
        for name in LABELS:
            label_create(project=project, name=name, by=user)
        rng = np.random.default_rng(options["seed"])
        started = time.perf_counter()
        for start in range(0, options["items"], CREATE_BATCH_SIZE):
            rows = []
            for i in range(start, min(start + CREATE_BATCH_SIZE, options["items"])):
                digest = hashlib.sha256(f"{project.pk}-{i}".encode()).hexdigest()
                gold = LABELS[int(rng.integers(len(LABELS)))]
                rows.append(
                    Item(
                        project=project,
                        text=f"bench item {i} about {gold.lower()}",
                        meta={"gold_label": gold},
                        content_hash=digest,
                        priority=initial_priority(digest),
                    )
                )
            Item.objects.bulk_create(rows)
        encoder = load_encoder(project.backbone)
        seeder = _SeedEncoder(encoder.version, encoder.dim, options["seed"])
        ids = list(project.items.order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), 10_000):
            item_embeddings(project=project, item_ids=ids[start : start + 10_000], encoder=seeder)
        self.stdout.write(f"Seeded {len(ids)} items and their embeddings in {time.perf_counter() - started:.1f}s")
        return project

    def _worker(self, env: dict) -> tuple[subprocess.Popen, Path]:
        log = Path(settings.VAR_DIR) / f"bench-al-worker-{os.getpid()}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "default,cpu,gpu",
            "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        out = log.open("w")
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"celery worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        return process, log

    # --- one round ---------------------------------------------------------------------------------------

    def _round(self, project: Project, user, number: int, labels: int) -> dict:
        by_name = {label.name: label for label in project.labels.all()}
        submit_seconds = []
        for _ in range(labels):
            item = queue_next_item(project=project, user=user)
            started = time.perf_counter()
            annotation_submit(item=item, annotator=user, labels=[by_name[item.meta["gold_label"]]])
            submit_seconds.append(time.perf_counter() - started)
        after_nth = time.perf_counter()
        job = Job.objects.filter(project=project, kind="rescore").order_by("-id").first()
        run_id = None
        while run_id is None or _first_open_run(project) != run_id:
            if time.perf_counter() - after_nth > ROUND_TIMEOUT:
                raise CommandError(f"round {number}: no new order after {ROUND_TIMEOUT}s (job {job})")
            time.sleep(POLL_SECONDS)
            job.refresh_from_db()
            run_id = (job.result or {}).get("score_run")
            if job.status in ("failed", "cancelled"):
                raise CommandError(f"round {number}: job {job.pk} {job.status}: {job.error}")
        seconds = time.perf_counter() - after_nth
        job.refresh_from_db()
        run = ScoreRun.objects.get(pk=run_id)
        row = {
            "round": number,
            "seconds_to_new_order": round(seconds, 3),
            "nth_submit_ms": round(submit_seconds[-1] * 1000, 1),
            "max_submit_ms": round(max(submit_seconds) * 1000, 1),
            "job_pickup_seconds": round((job.started_at - job.created_at).total_seconds(), 3),
            "job_run_seconds": round((job.finished_at - job.started_at).total_seconds(), 3),
            "items_scored": run.items_scored,
            "model": run.model_name,
            "evaluation": run.model_version.metrics.get("evaluation"),
            "met_target": seconds < TARGET_SECONDS,
        }
        self.stdout.write(json.dumps(row))
        return row


def _first_open_run(project: Project) -> int | None:
    items = Item.objects.filter(project=project, is_open=True).order_by("-priority", "id")
    first = items.values("score_run_id").first()
    return first["score_run_id"] if first else None
