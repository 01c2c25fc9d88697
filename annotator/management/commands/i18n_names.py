"""Writes annotator/i18n_names.py: the msgids of strings translated at display time (see annotator.i18n)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from annotator.i18n import i18n_names_source

TARGET = Path(__file__).resolve().parents[2] / "i18n_names.py"


class Command(BaseCommand):
    help = "Write annotator/i18n_names.py (run before makemessages)."

    def handle(self, *args, **options) -> None:
        TARGET.write_text(i18n_names_source(), encoding="utf-8")
        self.stdout.write(f"Wrote {TARGET}")
