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
