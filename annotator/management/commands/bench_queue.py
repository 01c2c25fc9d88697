"""`manage.py bench_queue --items 100000 --annotators 10 --out RESULT.json`: the queue under load.

Creates a scratch project of scored items, serves the app with gunicorn on a free local port
against the same database, and lets `--annotators` client threads each ask for the next item and
submit a label over HTTP, as fast as the server answers (or with `--think-ms` between requests).
Server-side times come from the `Server-Timing` header (annotator.middleware): they leave out the
network, gunicorn's accept queue and the client; client-side times are reported for information.
Double assignments are counted from what the clients were served and from the database.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import gunicorn.config
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotator.management.database import migrate_if_needed
from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    Item,
    Label,
    Lease,
    Project,
    RequeuedItem,
    Role,
    ScoreRun,
    SkippedItem,
)
from annotator.services.projects import member_set_role, project_create, project_delete
from annotator.services.queue import required_annotations_for
from mlcore.textnorm import content_hash

LABELS = ["Business", "Entertainment", "Politics", "Sport", "Tech"]
WORDS_PER_TEXT = (15, 60)
WRITE_BATCH_SIZE = 2000
# Share of submits that keep the pre-selected (suggested) label; the rest pick any label.
KEEP_SUGGESTION_SHARE = 0.8
TARGET_P95_MS = 30.0
# The tables the queue's queries read: vacuumed and analyzed after seeding on PostgreSQL.
VACUUMED = [Item, Annotation, AnnotationLabel, Lease, SkippedItem, RequeuedItem]
SERVER_START_TIMEOUT = 60
REQUEST_TIMEOUT = 60
SERVER_TIMING = re.compile(r"dur=([0-9.]+)")
# Given to gunicorn with --config. With --preload the master loads the app before it forks; this
# also loads the URLconf there (the views import torch: seconds), so every worker starts warm and
# the first answer means all of them are ready.
GUNICORN_CONFIG = """
def when_ready(server):
    from django.urls import get_resolver

    get_resolver().url_patterns
"""


@dataclass
class Sample:
    server_ms: float
    client_ms: float


@dataclass
class AnnotatorLog:
    """What one simulated annotator did: timings after the warm-up, and every item it was served."""

    username: str
    next_times: list[Sample] = field(default_factory=list)
    submit_times: list[Sample] = field(default_factory=list)
    served: list[int] = field(default_factory=list)
    requests: int = 0
    submitted: int = 0
    queue_empty: bool = False
    errors: list[str] = field(default_factory=list)


def seed_project(*, items: int, annotators: int, seed: int) -> tuple[Project, list[str]]:
    """A project of `items` scored pool items with a model suggestion each; one token per annotator."""
    users = get_user_model().objects
    owner, _ = users.get_or_create(username="bench-queue")
    project = project_create(name=f"bench-queue {time.strftime('%Y-%m-%d %H:%M:%S')}", created_by=owner)
    project.preselect_suggestion = True  # "correct" mode: the model's label comes pre-selected
    project.save(update_fields=["preselect_suggestion"])
    tokens = []
    for n in range(annotators):
        user, _ = users.get_or_create(username=f"bench-queue-{n}")
        member_set_role(project=project, user=user, role=Role.ANNOTATOR)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(5000)]
    with transaction.atomic():
        labels = Label.objects.bulk_create(
            Label(project=project, name=name, order=order) for order, name in enumerate(LABELS)
        )
        run = ScoreRun.objects.create(
            project=project, model_name="bench", strategy="random", items_scored=items, labels_used=0
        )
        rows = []
        for row in range(items):
            text = f"Item {row}: " + " ".join(rng.choices(vocabulary, k=rng.randint(*WORDS_PER_TEXT)))
            digest = content_hash(text)
            rows.append(
                {
                    "text": text,
                    "content_hash": digest,
                    "required_annotations": required_annotations_for(content_hash=digest, project=project),
                    "priority": rng.random(),
                    "suggested_label_id": rng.choice(labels).pk,
                    "suggestion_confidence": round(rng.uniform(0.2, 1.0), 3),
                }
            )
        insert_items(Item(project=project, score_run=run), rows)
    if connection.vendor == "postgresql":
        vacuum_analyze()
    return project, tokens


def vacuum_analyze() -> None:
    """What autovacuum does soon after a large import or delete (it is off on some dev machines).

    Without statistics for the new rows the planner takes the project for one item and sorts all
    100,000 for each "next" (24 s); with the dead rows of earlier runs' projects still in the
    indexes, planning the queue query alone takes 28 ms.
    """
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in VACUUMED)
    with connection.cursor() as cursor:
        # VACUUM cannot run inside a transaction; ANALYZE alone still gives the statistics.
        cursor.execute(f"{'ANALYZE' if connection.in_atomic_block else 'VACUUM ANALYZE'} {tables}")


def insert_items(template: Item, rows: list[dict]) -> None:
    """Insert items that differ from `template` in the columns each row names (plain values).

    One prepared INSERT run with executemany: `bulk_create` spends most of a minute preparing
    100,000 rows field by field; this takes a few seconds. The template's values, defaults
    included, are prepared once, so a column added to Item later still gets its default.
    """
    fields = [f for f in Item._meta.concrete_fields if not f.primary_key]
    if template.created_at is None:
        template.created_at = timezone.now()
    prepared = {f.attname: f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(Item._meta.db_table)} ({columns}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), WRITE_BATCH_SIZE):
            batch = rows[start : start + WRITE_BATCH_SIZE]
            cursor.executemany(sql, [[row.get(f.attname, prepared[f.attname]) for f in fields] for row in batch])


def database_url(settings_dict: dict) -> str:
    """The URL of the database this process uses (for pytest: the test database) for the server,
    with its persistent-connection settings."""
    options = {"conn_max_age": settings_dict.get("CONN_MAX_AGE", 0)}  # None: keep connections for good
    if settings_dict.get("CONN_HEALTH_CHECKS"):
        options["conn_health_checks"] = True
    query = "&".join(f"{key}={value!r}" for key, value in options.items())  # django-environ reads literals
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}?{query}"
    if not settings_dict["ENGINE"].endswith("postgresql"):
        raise CommandError(f"bench_queue supports SQLite and PostgreSQL, not {settings_dict['ENGINE']}.")
    auth = quote(settings_dict["USER"] or "", safe="")
    if settings_dict.get("PASSWORD"):
        auth += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict["HOST"] or "localhost"
    name = quote(settings_dict["NAME"], safe="")
    return f"postgres://{auth}@{host}:{settings_dict['PORT'] or 5432}/{name}?{query}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn annotator.wsgi` in production mode (DEBUG off) on a free local port."""

    def __init__(self, *, workers: int, threads: int, database: str) -> None:
        self.port = free_port()
        self.scratch = tempfile.TemporaryDirectory(prefix="bench-queue-")
        self.log_path = Path(self.scratch.name) / "gunicorn.log"
        config = Path(self.scratch.name) / "gunicorn_conf.py"
        config.write_text(GUNICORN_CONFIG)
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "DEBUG": "0",
            "LABELLOOP_HTTPS": "0",  # plain HTTP on a local port: no redirect to HTTPS
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        command = [
            sys.executable, "-m", "gunicorn", "annotator.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
            "--preload", "--config", str(config), "--timeout", "120", "--graceful-timeout", "10",
        ]  # fmt: skip
        if "control_socket_disable" in {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}:
            # gunicorn 25+: its control socket has one default path for every server (and slows the stop).
            command.append("--no-control-socket")
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                client.request("GET", "/login/")
                client.getresponse().read()
                client.close()
                return
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"gunicorn did not answer within {SERVER_START_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the master stops its workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.scratch.cleanup()


class ApiClient:
    """One annotator's HTTP connection (kept alive where the server allows it), with token auth."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict, Sample]:
        payload = json.dumps(body or {}).encode()
        started = time.perf_counter()
        self.connection.request("POST", path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        client_ms = (time.perf_counter() - started) * 1000
        timing = SERVER_TIMING.search(response.getheader("Server-Timing") or "")
        server_ms = float(timing.group(1)) if timing else float("nan")
        return response.status, json.loads(data or b"{}"), Sample(server_ms, client_ms)

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Workload:
    port: int
    project_id: int
    label_ids: list[int]
    rounds: int
    warmup: int
    duration: float | None
    think_ms: float


def annotate(workload: Workload, token: str, log: AnnotatorLog, start: threading.Barrier, seed: int) -> None:
    """Next item, then submit (mostly the pre-selected label), `rounds` times or for `duration` seconds."""
    rng = random.Random(seed)
    client = ApiClient(workload.port, token)
    base = f"/api/projects/{workload.project_id}/queue"
    try:
        start.wait()
        measured_since = None
        done = 0
        while True:
            if workload.duration is None:
                if done >= workload.rounds:
                    break
            elif measured_since is not None and time.perf_counter() - measured_since >= workload.duration:
                break
            measuring = done >= workload.warmup
            if measuring and measured_since is None:
                measured_since = time.perf_counter()
            status, data, sample = client.post(f"{base}/next/")
            log.requests += 1
            if status != 200:
                log.errors.append(f"next: HTTP {status} {data}")
                break
            if measuring:
                log.next_times.append(sample)
            item = data["item"]
            if item is None:
                log.queue_empty = True
                break
            log.served.append(item["id"])
            keep = item["preselected"] and rng.random() < KEEP_SUGGESTION_SHARE
            label = item["preselected"][0] if keep else rng.choice(workload.label_ids)
            _pause(workload.think_ms)
            status, data, sample = client.post(f"{base}/items/{item['id']}/submit/", {"labels": [label]})
            log.requests += 1
            if status != 201:
                log.errors.append(f"submit {item['id']}: HTTP {status} {data}")
                break
            if measuring:
                log.submit_times.append(sample)
            log.submitted += 1
            done += 1
            _pause(workload.think_ms)
    except (OSError, http.client.HTTPException, ValueError) as error:
        log.errors.append(f"{type(error).__name__}: {error}")
    finally:
        client.close()


def _pause(think_ms: float) -> None:
    if think_ms > 0:
        time.sleep(think_ms / 1000)


def double_assignments(project: Project, logs: list[AnnotatorLog]) -> dict[str, int]:
    """Every way an item can be given out too often, as counts; all must be zero.

    From the clients: items served to more distinct people than they need, and items served to one
    person again after they submitted it (each serve here is followed by a submit, nothing is
    released). From the database: items with more slot-filling annotations than they need, and
    people with two counted annotations on one item.
    """
    served_to = defaultdict(set)
    served_again = 0
    for log in logs:
        counts = Counter(log.served)
        served_again += sum(n - 1 for n in counts.values())
        for item_id in counts:
            served_to[item_id].add(log.username)
    required = dict(Item.objects.filter(pk__in=list(served_to)).values_list("pk", "required_annotations"))
    counted = Annotation.objects.filter(item__project=project, candidate_status="")
    per_person = counted.values("item", "annotator").annotate(n=Count("id"))
    return {
        "served_to_too_many": sum(len(people) > required[pk] for pk, people in served_to.items()),
        "served_again_to_same_person": served_again,
        "stored_over_required": counted.exclude(source=AnnotationSource.ADJUDICATED)
        .values("item")
        .annotate(n=Count("id"))
        .filter(n__gt=F("item__required_annotations"))
        .count(),
        "stored_twice_by_same_person": per_person.filter(n__gt=1).count(),
    }


def percentiles(samples: list[Sample], prefix: str) -> dict[str, float | None]:
    """Server-side p50/p95/p99/max and client-side p50/p95 in ms (None without samples)."""
    wanted = {"": ("server_ms", (50, 95, 99, 100)), "client_": ("client_ms", (50, 95))}
    result = {}
    for side, (attribute, levels) in wanted.items():
        values = np.array([getattr(sample, attribute) for sample in samples])
        for level in levels:
            name = "max" if level == 100 else f"p{level}"
            value = np.percentile(values, level) if len(values) else None
            result[f"{side}{prefix}_{name}_ms"] = None if value is None else round(float(value), 2)
    return result


class Command(BaseCommand):
    help = (
        "Benchmark the annotation queue over HTTP (gunicorn, concurrent annotators); writes JSON with "
        "next_p95_ms, submit_p95_ms (server-side), annotations and double_assignments."
    )

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=100_000)
        parser.add_argument("--annotators", type=int, default=10)
        parser.add_argument("--per-annotator", type=int, default=200, help="Items each annotator submits.")
        parser.add_argument(
            "--duration", type=float, default=None, help="Seconds to run after the warm-up, instead of rounds."
        )
        parser.add_argument("--warmup", type=int, default=5, help="First rounds per annotator left out of timings.")
        parser.add_argument("--think-ms", type=float, default=0.0, help="Pause before each request (0: none).")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 2,
            help="gunicorn sync workers; default one per core (the requests are CPU-bound).",
        )
        parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker.")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--keep", action="store_true", help="Keep the scratch project.")

    def handle(self, *args, items: int, annotators: int, out: Path, seed: int, keep: bool, **options):
        if annotators < 1 or items < 1:
            raise CommandError("--items and --annotators must be at least 1.")
        migrate_if_needed(log=self.stderr.write)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        project, tokens = seed_project(items=items, annotators=annotators, seed=seed)
        setup_seconds = time.perf_counter() - started
        self.stderr.write(f"Created {items} items in {setup_seconds:.1f}s; starting gunicorn.")
        try:
            server = Gunicorn(
                workers=options["workers"], threads=options["threads"], database=database_url(connection.settings_dict)
            )
            try:
                server.wait_until_serving()
                workload = Workload(
                    port=server.port,
                    project_id=project.pk,
                    label_ids=list(project.labels.values_list("pk", flat=True)),
                    rounds=options["per_annotator"],
                    warmup=options["warmup"],
                    duration=options["duration"],
                    think_ms=options["think_ms"],
                )
                logs, wall_seconds, client_cpu_seconds = self._run_annotators(workload, tokens, seed)
            finally:
                server.stop()
            result = self._result(project, logs, wall_seconds, setup_seconds, items=items, **options)
            # The machine's other work inflates every time here: worth knowing beside the numbers.
            result["load_average_before"] = round(load_before, 2)
            result["load_average_after"] = round(os.getloadavg()[0], 2)
            # The simulated annotators share the server's cores: this is the CPU they took.
            result["client_cpu_seconds"] = round(client_cpu_seconds, 2)
        finally:
            if not keep:
                project_delete(project=project)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        self.stdout.write(json.dumps(result))

    def _run_annotators(
        self, workload: Workload, tokens: list[str], seed: int
    ) -> tuple[list[AnnotatorLog], float, float]:
        """Run the annotators; their logs, the wall seconds and this process's (the clients') CPU seconds."""
        logs = [AnnotatorLog(username=f"bench-queue-{n}") for n in range(len(tokens))]
        start = threading.Barrier(len(tokens) + 1)
        threads = [
            threading.Thread(target=annotate, args=(workload, token, log, start, seed * 1000 + n), daemon=True)
            for n, (token, log) in enumerate(zip(tokens, logs, strict=True))
        ]
        for thread in threads:
            thread.start()
        start.wait()
        began, began_cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.join()
        return logs, time.perf_counter() - began, time.process_time() - began_cpu

    def _result(
        self, project: Project, logs: list[AnnotatorLog], wall_seconds: float, setup_seconds: float, **options
    ) -> dict:
        checks = double_assignments(project, logs)
        next_times = [s for log in logs for s in log.next_times]
        submit_times = [s for log in logs for s in log.submit_times]
        annotations = Annotation.objects.filter(
            item__project=project, source=AnnotationSource.HUMAN, candidate_status=""
        ).count()
        requests = sum(log.requests for log in logs)
        result = {
            **percentiles(next_times, "next"),
            **percentiles(submit_times, "submit"),
            "target_p95_ms": TARGET_P95_MS,
            "annotations": annotations,
            "submitted": sum(log.submitted for log in logs),
            "double_assignments": sum(checks.values()),
            "double_assignment_checks": checks,
            "errors": [error for log in logs for error in log.errors],
            "queue_emptied": any(log.queue_empty for log in logs),
            "items": options["items"],
            "annotators": len(logs),
            "per_annotator": None if options["duration"] else options["per_annotator"],
            "duration": options["duration"],
            "warmup_rounds": options["warmup"],
            "think_ms": options["think_ms"],
            "measured_next": len(next_times),
            "measured_submit": len(submit_times),
            "wall_seconds": round(wall_seconds, 2),
            "requests_per_second": round(requests / wall_seconds, 1) if wall_seconds else None,
            "setup_seconds": round(setup_seconds, 2),
            "database": connection.vendor,
            "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE"),
            "gunicorn_workers": options["workers"],
            "gunicorn_threads": options["threads"],
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        }
        result["passed"] = (
            result["double_assignments"] == 0
            and not result["errors"]
            and result["next_p95_ms"] is not None
            and result["submit_p95_ms"] is not None
            and result["next_p95_ms"] < TARGET_P95_MS
            and result["submit_p95_ms"] < TARGET_P95_MS
        )
        return result
