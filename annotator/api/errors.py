from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.response import Response


def validation_error_response(error: ValidationError) -> Response:
    """A service's ValidationError as a 400 with a readable `detail` (and the line, for file errors)."""
    body: dict = {"detail": " ".join(error.messages)}
    params = getattr(error, "params", None) or {}
    if params.get("line") is not None:
        body["line"] = params["line"]
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def conflict_response(conflict: Exception) -> Response:
    """A state conflict (e.g. an item that is no longer the caller's to answer) as a 409 with its reason."""
    return Response({"detail": str(conflict)}, status=status.HTTP_409_CONFLICT)
