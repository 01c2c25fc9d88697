"""`manage.py ensure_admin`: create the first admin account if it does not exist, and say how to log in.

Local mode (DEBUG on and SQLite, as `make run`) creates the well-known admin/labelloop. Anywhere else the
password comes from LABELLOOP_ADMIN_PASSWORD (checked by the password validators) or is random and
printed once: a server never gets a password that is written in the README.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

DEFAULT_USERNAME = "admin"
LOCAL_PASSWORD = "labelloop"
RANDOM_PASSWORD_BYTES = 18  # 24 URL-safe characters
WEAK_PASSWORD = "LABELLOOP_ADMIN_PASSWORD is too weak: {reasons}"


def uses_sqlite() -> bool:
    return connection.vendor == "sqlite"


def is_local_mode() -> bool:
    """`make run` on a laptop: DEBUG on and the SQLite database."""
    return settings.DEBUG and uses_sqlite()


class Command(BaseCommand):
    help = "Create the admin account if it does not exist, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("LABELLOOP_ADMIN_USER", DEFAULT_USERNAME))

    def handle(self, *args, username: str, **options):
        users = get_user_model().objects
        if users.filter(username=username).exists():
            hint = f" (in local mode '{LOCAL_PASSWORD}')" if is_local_mode() else ""
            self.stdout.write(f"The admin account '{username}' already exists: use its password{hint}.")
            return
        from_env = os.environ.get("LABELLOOP_ADMIN_PASSWORD")
        if from_env:
            self._check(from_env, username)
            users.create_superuser(username=username, email="", password=from_env)
            self.stdout.write(f"Created admin account '{username}' with the password from LABELLOOP_ADMIN_PASSWORD.")
        elif is_local_mode():
            users.create_superuser(username=username, email="", password=LOCAL_PASSWORD)
            self.stdout.write(f"Created admin account: username '{username}', password '{LOCAL_PASSWORD}'.")
        else:
            password = secrets.token_urlsafe(RANDOM_PASSWORD_BYTES)
            users.create_superuser(username=username, email="", password=password)
            self.stdout.write(
                f"Created admin account: username '{username}', password '{password}'. "
                "It is shown only now: store it, or change it after logging in."
            )

    def _check(self, password: str, username: str) -> None:
        if is_local_mode():
            return
        try:
            validate_password(password, user=get_user_model()(username=username))
        except ValidationError as error:
            raise CommandError(WEAK_PASSWORD.format(reasons=" ".join(error.messages))) from None
