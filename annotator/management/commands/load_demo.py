import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotator.management.commands.ensure_admin import DEFAULT_USERNAME
from annotator.selectors.projects import project_split_counts
from annotator.services.demo import demo_project_load


class Command(BaseCommand):
    help = "Load the BBC News demo project (idempotent) and make USERNAME its admin."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin",
            default=os.environ.get("LABELLOOP_ADMIN_USER", DEFAULT_USERNAME),
            help="Username of the demo project's admin.",
        )

    def handle(self, *args, admin: str, **options):
        user = get_user_model().objects.filter(username=admin).first()
        if user is None:
            raise CommandError(f"No user {admin!r}: run `manage.py ensure_admin` first.")
        project, created = demo_project_load(admin=user)
        counts = project_split_counts(project=project)
        verb = "Loaded" if created else "Found"
        self.stdout.write(f"{verb} demo project “{project.name}” (#{project.pk}): {counts}")
