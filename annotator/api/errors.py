"""How the API answers errors: one place turns a service's refusal into a readable 400.

`exception_handler` is DRF's EXCEPTION_HANDLER (settings): a Django `ValidationError` raised by a
service, or a `BadRequest` from a malformed query parameter (`annotator.params.query_id`), becomes
`{"detail": ...}` with status 400, so an API view need not wrap each service call in try/except.
Everything else goes to DRF's own handler.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.request_limits import RequestTooLarge

# Service error codes that mean more than "bad request".
STATUS_BY_CODE = {
    "too_many_jobs": status.HTTP_429_TOO_MANY_REQUESTS,
    "not_ready": status.HTTP_409_CONFLICT,
}


def validation_error_response(
    error: DjangoValidationError, *, status_by_code: dict[str, int] | None = None
) -> Response:
    """A service's ValidationError as a 400 with a readable `detail` (and the line, for file errors);
    a few codes (STATUS_BY_CODE, plus the caller's `status_by_code`) answer with their own status."""
    body: dict = {"detail": " ".join(error.messages)}
    params = getattr(error, "params", None) or {}
    if params.get("line") is not None:
        body["line"] = params["line"]
    if params.get("key") is not None:  # a bad option: which one, and what is accepted there
        body["key"] = params["key"]
        body["accepted"] = params.get("accepted", [])
    code = getattr(error, "code", None)
    answer = {**STATUS_BY_CODE, **(status_by_code or {})}.get(code, status.HTTP_400_BAD_REQUEST)
    return Response(body, status=answer)


def field_errors_response(error: DjangoValidationError) -> Response:
    """{"detail": every message, field: [its messages]}: the shape of DRF's own field errors, plus a summary,
    for a service's ValidationError keyed by field."""
    body: dict = {"detail": " ".join(error.messages)}
    if hasattr(error, "error_dict"):
        body.update(error.message_dict)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def conflict_response(conflict: Exception) -> Response:
    """A state conflict (e.g. an item that is no longer the caller's to answer) as a 409 with its reason."""
    return Response({"detail": str(conflict)}, status=status.HTTP_409_CONFLICT)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return validation_error_response(exc)
    if isinstance(exc, BadRequest):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestTooLarge):  # the upload handler stopped a body past its limit
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return drf_exception_handler(exc, context)
