"""Serializer fields shared by the API's input serializers."""

from __future__ import annotations

from rest_framework import serializers

from annotator.params import MAX_DATABASE_ID


class IdField(serializers.IntegerField):
    """A database id in a request body: 1 to 2⁶³-1, so that a huge number is a 400, not an overflow (500)
    in the database driver."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DATABASE_ID)
        super().__init__(**kwargs)


MAX_JSON_DEPTH = 32
NUL_IN_JSON_ERROR = "Text in this object cannot contain a NUL character (\\u0000)."
JSON_TOO_DEEP_ERROR = f"This object nests more than {MAX_JSON_DEPTH} levels deep."


class JsonObjectField(serializers.DictField):
    """A free-form JSON object (job parameters): no NUL character in any key or string, at any depth
    (PostgreSQL's jsonb refuses them with a 500), and a bounded depth."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        pending: list[tuple[object, int]] = [(value, 1)]
        while pending:
            current, depth = pending.pop()
            if isinstance(current, str):
                if "\x00" in current:
                    raise serializers.ValidationError(NUL_IN_JSON_ERROR)
                continue
            if isinstance(current, dict):
                children = [*current.keys(), *current.values()]
            elif isinstance(current, list):
                children = current
            else:
                continue
            if depth > MAX_JSON_DEPTH:
                raise serializers.ValidationError(JSON_TOO_DEEP_ERROR)
            pending.extend((child, depth + 1) for child in children)
        return value
