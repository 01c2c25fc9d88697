"""Request body parsers for the API."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

JSON_TOO_DEEP_ERROR = "JSON parse error - the body nests too deeply."


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, but a body nested deeper than Python's recursion limit (100,000 brackets)
    is a 400 like any other malformed JSON, not a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(JSON_TOO_DEEP_ERROR) from None
