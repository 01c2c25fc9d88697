"""Finding 9, production path: docker-compose's nginx (`deploy/nginx.conf`) holds the same body limits.

Runs the real nginx (Debian's `nginx-light`; `.ci/run` installs it, the test is skipped where it is
missing) with the repository's server block in front of the app on pytest-django's `live_server`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.security.test_input_upload import HUGE, send_headers_only

REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
START_TIMEOUT = 10

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")


class _Address:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def nginx_in_front(live_server, tmp_path):
    """nginx with deploy/nginx.conf's server block, its upstream pointed at the live server."""
    app = urlsplit(live_server.url)
    port = _free_port()
    server_block = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
    server_block = server_block.replace("server web:8000;", f"server 127.0.0.1:{app.port};")
    server_block = server_block.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    assert f"127.0.0.1:{app.port}" in server_block and f"127.0.0.1:{port}" in server_block
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for directory in temp.values():
        directory.mkdir()
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        "http {\n access_log off;\n"
        + "".join(f" {name}_temp_path {path};\n" for name, path in temp.items() if name != "body")
        + f" client_body_temp_path {temp['body']};\n{server_block}\n}}\n"
    )
    process = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited: {process.stderr.read().decode()}")
        try:
            send_headers_only(_Address(port), "GET", "/login/", {"Connection": "close"})
            break
        except OSError:
            time.sleep(0.1)
    yield _Address(port), temp["body"]
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_nginx_passes_ordinary_requests_to_the_app(nginx_in_front):
    proxy, _ = nginx_in_front
    status, head, _ = send_headers_only(proxy, "GET", "/login/", {"Connection": "close"})
    assert status == 200
    assert "Content-Security-Policy" in head  # the app's answer, through the proxy


@pytest.mark.django_db(transaction=True)
def test_nginx_refuses_a_huge_upload_from_its_content_length(nginx_in_front):
    """Finding 9: a 248 MB body is refused before nginx or the app stores any of it."""
    proxy, body_dir = nginx_in_front
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(HUGE), "Connection": "close"}
    status, head, _ = send_headers_only(proxy, "POST", "/api/projects/1/imports/", headers)
    assert status == 413
    assert "nginx" in head.lower()
    assert not any(body_dir.rglob("*")) or all(path.is_dir() for path in body_dir.rglob("*"))


@pytest.mark.django_db(transaction=True)
def test_nginx_holds_the_login_form_to_a_small_body(nginx_in_front):
    proxy, _ = nginx_in_front
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(100 * 1024)}
    status, _, _ = send_headers_only(proxy, "POST", "/login/", {**headers, "Connection": "close"})
    assert status == 413
