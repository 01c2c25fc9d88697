"""Finding 15: the embedded Redis had no password; the production requirements were open ranges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
import yaml  # PyYAML comes with transformers

from annotator.embedded_redis import EmbeddedRedis

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded(tmp_path):
    with EmbeddedRedis(tmp_path, persistent=False) as server:
        yield server


def test_embedded_redis_refuses_a_client_without_its_password(embedded):
    """Finding 15: any local process could enqueue jobs on the embedded Redis."""
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=embedded.port).ping()
    assert redis.Redis.from_url(embedded.url).ping()


def test_embedded_redis_password_is_fresh_per_server_and_not_on_its_command_line(tmp_path):
    """Finding 15: the password is not visible to other users through `ps`."""
    with (
        EmbeddedRedis(tmp_path / "a", persistent=False) as first,
        EmbeddedRedis(tmp_path / "b", persistent=False) as second,
    ):
        assert first.password != second.password
        command_line = Path(f"/proc/{first.process.pid}/cmdline").read_bytes().decode()
        assert first.password not in command_line


def _requirement_lines(path: Path) -> list[str]:
    """Logical lines of a requirements file (continuations joined), without comments."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_production_lock_pins_every_package_with_a_hash():
    """Finding 15: requirements had open ranges and no lock file."""
    lock = REPO_ROOT / "requirements.lock"
    lines = [line for line in _requirement_lines(lock) if not line.startswith("-")]
    assert lines, "requirements.lock is empty"
    for line in lines:
        assert re.match(r"^[A-Za-z0-9_.\-\[\],]+==[^ ;]+", line), f"not pinned: {line}"
        assert "--hash=sha256:" in line, f"no hash: {line}"


def test_production_lock_covers_every_direct_requirement():
    """The lock is made from requirements.txt: a requirement added there without re-locking fails here."""
    locked = {
        re.split(r"[=\[ ]", line)[0].lower().replace("_", "-")
        for line in _requirement_lines(REPO_ROOT / "requirements.lock")
        if not line.startswith("-")
    }
    direct = {
        re.split(r"[<>=!~\[ ;]", line)[0].lower().replace("_", "-")
        for line in _requirement_lines(REPO_ROOT / "requirements.txt")
        if not line.startswith("-")
    }
    # torch is installed first from its own index (a CPU or CUDA build), outside the lock.
    assert direct - {"torch"} <= locked, f"not in requirements.lock: {sorted(direct - {'torch'} - locked)}"


def test_dockerfile_installs_the_lock_with_hashes():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile


def test_compose_redis_requires_the_password_the_app_uses():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    redis_service = compose["services"]["redis"]
    assert "--requirepass" in " ".join(redis_service["command"])
    assert "${REDIS_PASSWORD" in compose["x-app"]["environment"]["REDIS_URL"]
