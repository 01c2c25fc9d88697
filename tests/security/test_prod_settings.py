"""Finding 10: production settings. DEBUG is off unless asked for, `check --deploy` is clean, pages carry
CSP and HSTS, the schema and docs need a login, and Django's four password validators are on.

The production checks run `manage.py` in a subprocess with a production environment: the settings
module reads the environment once, at import, so this is the only honest way to see what a
deployment gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import REPO_ROOT

PROD_HOST = "labelloop.example.org"
PROD_SECRET = "prod-test-7Hk2mQ9vXc4LpR8sWz1NbT6yUe3Ao5Jd0FgIhKlMnOpQrStUv"
CLEARED = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "LABELLOOP_BEHIND_PROXY")


def _environment(tmp_path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env["LABELLOOP_VAR_DIR"] = str(tmp_path / "var")
    env.update(extra)
    return env


def _production(tmp_path, **extra: str) -> dict[str, str]:
    return _environment(
        tmp_path, DEBUG="0", SECRET_KEY=PROD_SECRET, ALLOWED_HOSTS=PROD_HOST, LABELLOOP_BEHIND_PROXY="1", **extra
    )


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


def test_debug_is_off_and_a_secret_key_is_required_when_nothing_is_set(tmp_path):
    """Finding 10: with no environment the settings fail closed: DEBUG off, so SECRET_KEY is required."""
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'annotator.settings'; django.setup()"
    bare = _python(code, _environment(tmp_path))
    assert bare.returncode != 0
    assert "Set SECRET_KEY when DEBUG is off." in bare.stderr
    show = code + "; from django.conf import settings; print(settings.DEBUG)"
    assert _python(show, _environment(tmp_path, SECRET_KEY=PROD_SECRET)).stdout.strip() == "False"
    assert _python(show, _environment(tmp_path, DEBUG="1")).stdout.strip() == "True"


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    """Finding 10: `manage.py check --deploy` is clean with DEBUG=0, a real key and ALLOWED_HOSTS."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=_production(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


PAGE_HEADERS = """
    import json, os
    os.environ['DJANGO_SETTINGS_MODULE'] = 'annotator.settings'
    import django
    django.setup()
    from django.test import Client
    client = Client(HTTP_HOST='{host}')
    secure = client.get('/login/', headers={{'X-Forwarded-Proto': 'https'}})
    plain = client.get('/login/')
    print(json.dumps({{
        'status': secure.status_code, 'headers': dict(secure.headers),
        'cookies': {{name: morsel.OutputString() for name, morsel in secure.cookies.items()}},
        'plain_status': plain.status_code, 'plain_location': plain.headers.get('Location', ''),
    }}))
"""


def test_production_pages_carry_csp_and_hsts_and_secure_cookies(tmp_path):
    """Finding 10: behind the TLS proxy a page has CSP, HSTS and secure cookies; plain HTTP is redirected."""
    result = _python(PAGE_HEADERS.format(host=PROD_HOST), _production(tmp_path))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    headers = {key.lower(): value for key, value in seen["headers"].items()}
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";") if part.strip())
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert "secure" in seen["cookies"]["csrftoken"].lower()
    assert (seen["plain_status"], seen["plain_location"]) == (301, f"https://{PROD_HOST}/login/")


@pytest.mark.django_db
def test_schema_and_docs_need_a_login(client, make_user):
    """Finding 10: the OpenAPI schema and the Swagger UI are for logged-in users only."""
    for name in ("api-schema", "api-docs"):
        response = client.get(reverse(name))
        assert response.status_code in (302, 401, 403), name
        assert b"/api/projects/" not in response.content
    assert APIClient().get(reverse("api-schema")).status_code in (401, 403)
    client.force_login(make_user("reader"))
    assert client.get(reverse("api-schema")).status_code == 200
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    # The docs page works under the CSP: its start script is a separate file, not inline.
    page = docs.content.decode()
    assert "<script>" not in page and "<style>" not in page
    script = client.get(reverse("api-docs"), {"script": ""})
    assert (script.status_code, script["Content-Type"].split(";")[0]) == (200, "application/javascript")


@pytest.mark.parametrize(
    "password",
    ["short1!", "password123", "12345678901", "reader-reader"],
    ids=["too-short", "common", "numeric", "like-the-username"],
)
@pytest.mark.django_db
def test_weak_passwords_are_refused(password, make_user):
    """Finding 10: Django's four standard password validators are on."""
    user = make_user("reader-reader")
    with pytest.raises(ValidationError):
        validate_password(password, user=user)
    validate_password("a long unusual passphrase 93", user=user)


def test_production_throttle_counts_are_shared_by_every_web_process(tmp_path):
    """Finding 5/10: gunicorn runs several processes; a per-process cache would multiply the predict rate."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'annotator.settings'; django.setup()"
        "; from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    )
    production = _python(code, _production(tmp_path, REDIS_URL="redis://:pw@127.0.0.1:6379/0"))
    assert production.stdout.strip() == "django.core.cache.backends.redis.RedisCache", production.stderr
    local = _python(code, _environment(tmp_path, DEBUG="1"))
    assert local.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache", local.stderr
