"""Ids and numbers from URLs and query strings, parsed once so that a malformed one is a 400 or a 404.

Database ids are 64-bit: a longer number (`/labels/99999999999999999999/`) overflowed in the database
driver with a 500, and `?before=abc` reached the ORM as text. Path ids go through the `id` converter
(no match, so 404, beyond the 64-bit range); query-string ids through `query_id` (400 naming the
parameter, as Django's `BadRequest`, which pages and the API's exception handler both answer with).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import BadRequest

MAX_DATABASE_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_DATABASE_ID))
INVALID_ID_PARAMETER = "The “{name}” parameter must be an id (a positive whole number below 2⁶³)."


def parse_id(value: object) -> int | None:
    """`value` as a database id, or None when it is not one (text, negative, zero, too long)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_ID_DIGITS:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_DATABASE_ID else None


def query_id(params: Mapping[str, str], name: str) -> int | None:
    """The id in query parameter `name`; None when absent or empty, BadRequest (400) when malformed."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    number = parse_id(raw.strip())
    if number is None:
        raise BadRequest(INVALID_ID_PARAMETER.format(name=name))
    return number


class IdConverter:
    """`<id:label_id>` in URL patterns: an int like `<int:...>`, but only within the database's id range."""

    regex = f"[0-9]{{1,{_MAX_ID_DIGITS}}}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(value)  # the pattern does not match: 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)
