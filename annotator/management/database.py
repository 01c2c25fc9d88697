"""What the benchmark commands need of their database before they start."""

from __future__ import annotations

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_if_needed(*, log) -> bool:
    """Apply unapplied migrations (a fresh clone's database has no tables until `make run`);
    True if any ran. `log` gets one line saying so."""
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    log(f"Migrating the database first ({connection.settings_dict['NAME']}).")
    call_command("migrate", interactive=False, verbosity=0)
    return True
