"""drf-spectacular hooks."""

from __future__ import annotations


def drop_slashless_duplicates(endpoints: list[tuple], **kwargs) -> list[tuple]:
    """Document `/predict/`, not also its alias `/predict`: one operation, one operationId."""
    paths = {path for path, *_rest in endpoints}
    return [endpoint for endpoint in endpoints if f"{endpoint[0]}/" not in paths]
