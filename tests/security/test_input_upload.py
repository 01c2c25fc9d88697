"""Finding 9: a body over the limit is refused from its Content-Length before it is read or spooled.

Real HTTP through pytest-django's `live_server`: the client sends only the headers of a huge request
and must get the 413 back without sending a byte of the body; nothing may reach the temporary
directory Django spools uploads to.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotator.request_limits import RequestTooLarge, SizeLimitedUploadHandler
from annotator.services.projects import project_create

HUGE = 248 * 1024 * 1024
RESPONSE_TIMEOUT = 15


@pytest.fixture
def spool_dir(settings, tmp_path):
    directory = tmp_path / "spool"
    directory.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(directory)
    return directory


def send_headers_only(live_server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple:
    """Send a request line and headers (and `body`, if any), then read the status line and headers."""
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=RESPONSE_TIMEOUT) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {address.hostname}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        # Read a little of the body for the message (the server closes the connection after it).
        sock.settimeout(2)
        try:
            while chunk := sock.recv(65536):
                rest += chunk
        except (TimeoutError, ConnectionError):
            pass
        return status, head.decode(errors="replace"), rest.decode(errors="replace")


@pytest.fixture
def token(django_user_model, transactional_db):
    user = django_user_model.objects.create_user(username="uploader", password="pw-uploader-long")
    project = project_create(name="Uploads", created_by=user)
    return Token.objects.create(user=user).key, project


def test_anonymous_huge_post_to_login_is_refused_before_the_body(live_server, spool_dir):
    """Finding 9: 248 MB announced to /login/ without signing in: 413 at once, nothing spooled."""
    status, _head, body = send_headers_only(
        live_server,
        "POST",
        "/login/",
        {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(HUGE)},
    )
    assert status == 413
    assert "without signing in" in body
    assert list(spool_dir.iterdir()) == []


def test_import_over_the_import_limit_is_refused_before_the_body(live_server, spool_dir, token, settings):
    """Finding 9: a signed-in import larger than IMPORT_MAX_BYTES: 413 from the header alone."""
    key, project = token
    status, _, body = send_headers_only(
        live_server,
        "POST",
        reverse("api-import", args=[project.pk]),
        {
            "Authorization": f"Token {key}",
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(settings.IMPORT_MAX_BYTES + 2 * 1024 * 1024),
        },
    )
    assert status == 413
    assert "at most" in body
    assert list(spool_dir.iterdir()) == []


def test_other_endpoints_have_a_small_limit(live_server, spool_dir, token, settings):
    """Finding 9: the import limit is for the import endpoints only; elsewhere REQUEST_MAX_BYTES."""
    key, project = token
    status, _, _ = send_headers_only(
        live_server,
        "POST",
        reverse("api-label-list", args=[project.pk]),
        {
            "Authorization": f"Token {key}",
            "Content-Type": "application/json",
            "Content-Length": str(settings.REQUEST_MAX_BYTES + 1),
        },
    )
    assert status == 413
    # An invalid token is anonymous: the anonymous limit applies.
    status, _, _ = send_headers_only(
        live_server,
        "POST",
        reverse("api-import", args=[project.pk]),
        {
            "Authorization": "Token not-a-real-token",
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(settings.ANONYMOUS_REQUEST_MAX_BYTES + 1),
        },
    )
    assert status == 413


def test_a_small_import_still_works_over_http(live_server, token):
    """Finding 9 (control): an ordinary upload under the limits goes through."""
    key, project = token
    boundary = "----labelloop"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nfirst item\nsecond item\n\r\n--{boundary}--\r\n"
    ).encode()
    status, _, _ = send_headers_only(
        live_server,
        "POST",
        reverse("api-import", args=[project.pk]),
        {
            "Authorization": f"Token {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(body)),
        },
        body,
    )
    assert status == 201
    assert project.items.count() == 2


def test_chunked_upload_without_length_is_refused(live_server, spool_dir, token):
    """Finding 9: a chunked body (no Content-Length) is refused at once with 411, nothing spooled."""
    key, project = token
    first_chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    status, _, body = send_headers_only(
        live_server,
        "POST",
        reverse("api-import", args=[project.pk]),
        {
            "Authorization": f"Token {key}",
            "Content-Type": "multipart/form-data; boundary=x",
            "Transfer-Encoding": "chunked",
        },
        first_chunk,
    )
    assert status == 411
    assert "Content-Length" in body
    assert list(spool_dir.iterdir()) == []


def test_upload_handler_stops_a_streamed_body_past_the_limit(spool_dir, settings):
    """Finding 9: should a server pass on more than the header said, the handler stops the stream at the
    limit, before the temporary-file handler writes the chunk that passes it."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1  # everything would go to a temporary file
    boundary = "b"
    payload = b"x" * (3 * 1024 * 1024)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'.encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = RequestFactory().generic(
        "POST", "/api/projects/1/imports/", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    request.body_limit = 1024 * 1024
    request.upload_handlers = [
        SizeLimitedUploadHandler(request),
        MemoryFileUploadHandler(request),
        TemporaryFileUploadHandler(request),
    ]
    with pytest.raises(RequestTooLarge):
        request.FILES  # noqa: B018 - parsing is what is tested
    leftovers = [path for path in spool_dir.iterdir() if path.stat().st_size > request.body_limit]
    assert leftovers == []


@pytest.mark.django_db
def test_an_import_between_the_anonymous_and_the_import_limit_is_accepted(project_with_roles):
    """Finding 9 (control): a signed-in 1 MB+ import is not held to the anonymous limit."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    project, users = project_with_roles
    api = APIClient()
    api.force_authenticate(users["admin"])
    content = "".join(f"item number {n} with some padding text\n" for n in range(40_000)).encode()
    assert len(content) > 1024 * 1024
    response = api.post(
        reverse("api-import", args=[project.pk]), {"file": SimpleUploadedFile("a.txt", content)}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content
