"""Finding 10: `ensure_admin` creates admin/labelloop only in local mode (DEBUG on, SQLite); elsewhere the
password comes from LABELLOOP_ADMIN_PASSWORD or is random and printed once."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

pytestmark = pytest.mark.django_db

LOCAL_PASSWORD = "labelloop"


def _run(**options) -> str:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out, **options)
    return out.getvalue()


def _admin():
    return get_user_model().objects.get(username="admin")


def test_local_mode_creates_the_well_known_account(settings, monkeypatch):
    """Finding 10: `make run` (DEBUG, SQLite) still gets admin/labelloop."""
    if connection.vendor != "sqlite":
        pytest.skip("local mode is SQLite; on this database ensure_admin rightly never uses the fixed password")
    monkeypatch.delenv("LABELLOOP_ADMIN_PASSWORD", raising=False)
    settings.DEBUG = True
    output = _run()
    assert "password 'labelloop'" in output
    assert _admin().check_password(LOCAL_PASSWORD) and _admin().is_superuser


def test_outside_local_mode_the_password_is_random_and_printed(settings, monkeypatch):
    """Finding 10: with DEBUG off the fixed password is never used; a random one is printed once."""
    monkeypatch.delenv("LABELLOOP_ADMIN_PASSWORD", raising=False)
    settings.DEBUG = False
    output = _run()
    assert not _admin().check_password(LOCAL_PASSWORD)
    printed = re.search(r"password '([^']+)'", output).group(1)
    assert len(printed) >= 20 and _admin().check_password(printed)
    # A second run says the account exists and prints no password.
    again = _run()
    assert "already exists" in again and printed not in again


def test_outside_local_mode_the_password_comes_from_the_environment(settings, monkeypatch):
    """Finding 10: LABELLOOP_ADMIN_PASSWORD sets it, and is not printed."""
    monkeypatch.setenv("LABELLOOP_ADMIN_PASSWORD", "a long deploy passphrase 58")
    settings.DEBUG = False
    output = _run()
    assert _admin().check_password("a long deploy passphrase 58")
    assert "a long deploy passphrase 58" not in output


def test_a_weak_password_is_refused_outside_local_mode(settings, monkeypatch):
    """Finding 10: outside local mode the password validators apply; nothing is created."""
    monkeypatch.setenv("LABELLOOP_ADMIN_PASSWORD", "password123")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="LABELLOOP_ADMIN_PASSWORD"):
        _run()
    assert not get_user_model().objects.filter(username="admin").exists()


def test_debug_on_a_server_database_is_not_local_mode(settings, monkeypatch):
    """Finding 10: DEBUG alone is not local mode: on PostgreSQL the password is random too."""
    monkeypatch.delenv("LABELLOOP_ADMIN_PASSWORD", raising=False)
    settings.DEBUG = True
    monkeypatch.setattr("annotator.management.commands.ensure_admin.uses_sqlite", lambda: False)
    _run()
    assert not _admin().check_password(LOCAL_PASSWORD)
