import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "labelloop"


class Command(BaseCommand):
    help = "Create the local admin account if it does not exist, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("LABELLOOP_ADMIN_USER", DEFAULT_USERNAME))
        parser.add_argument("--password", default=os.environ.get("LABELLOOP_ADMIN_PASSWORD", DEFAULT_PASSWORD))

    def handle(self, *args, username: str, password: str, **options):
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(
                f"Log in as '{username}' with the password set when it was created (default '{DEFAULT_PASSWORD}')."
            )
            return
        users.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"Created admin account: username '{username}', password '{password}'.")
