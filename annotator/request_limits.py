"""Request body limits enforced before the body is read (finding 9 of issue 19).

Django reads a multipart body while parsing it and spools files over FILE_UPLOAD_MAX_MEMORY_SIZE to
the temporary directory: a 248 MB POST to /login/ used to be written to disk before the view refused
it. `RequestSizeLimitMiddleware` looks at the Content-Length header first and answers 413 at once:
- anonymous requests (the login form, the token endpoint) may send ANONYMOUS_REQUEST_MAX_BYTES;
- the two import endpoints IMPORT_MAX_BYTES plus room for the multipart envelope;
- every other request REQUEST_MAX_BYTES.
A query string with a NUL character (`%00`) is a 400 here too, for every page and API view.
A body without Content-Length (chunked) is refused with 411: Django's WSGI handler would not read
it anyway (the view would see an empty form), and a proxy in front sends a length.

`SizeLimitedUploadHandler` (first in FILE_UPLOAD_HANDLERS) counts the bytes as the parser streams
them and stops at the same limit: a second line of defence should a server hand Django a body longer
than its header said.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request as DRFRequest
from rest_framework.settings import api_settings

# Room for the multipart boundaries and the form's other fields around an import file.
MULTIPART_ENVELOPE_BYTES = 1024 * 1024
IMPORT_URL_NAMES = frozenset({"api-import", "item-import"})

TOO_LARGE_ERROR = "The request is {size} but this address accepts at most {limit}{hint}."
SIGN_IN_HINT = " without signing in"
LENGTH_REQUIRED_ERROR = "Send the request with a Content-Length header (chunked uploads are not accepted)."
NUL_IN_QUERY_ERROR = "Query parameters cannot contain a NUL character (%00)."


class RequestTooLarge(Exception):
    """Raised by the upload handler when the streamed body passes its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(TOO_LARGE_ERROR.format(size="larger than that", limit=_megabytes(limit), hint=""))
        self.limit = limit


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 2**20:.1f} MB"


def _is_import(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).url_name in IMPORT_URL_NAMES
    except Resolver404:
        return False


def _is_authenticated(request: HttpRequest) -> bool:
    """A signed-in session, or credentials that one of the API's header authentications accepts
    (a token; the DRF request also honours tests' `force_authenticate`).

    Checked only for bodies over the anonymous limit, so ordinary requests cost nothing extra."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    authenticators = [
        authentication_class()
        for authentication_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES
        # The session is already covered by request.user, and DRF's would enforce CSRF here.
        if not issubclass(authentication_class, SessionAuthentication)
    ]
    drf_request = DRFRequest(request, authenticators=authenticators)  # wraps without reading the body
    try:
        return bool(drf_request.user and drf_request.user.is_authenticated)
    except APIException:  # a bad or expired credential: anonymous as far as the size limit goes
        return False


def request_body_limit(request: HttpRequest) -> int:
    """The most bytes this request's body may have (see the module's docstring)."""
    if not _is_authenticated(request):
        return settings.ANONYMOUS_REQUEST_MAX_BYTES
    if _is_import(request):
        return settings.IMPORT_MAX_BYTES + MULTIPART_ENVELOPE_BYTES
    return settings.REQUEST_MAX_BYTES


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=status)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    # No "Connection: close" here: WSGI forbids hop-by-hop headers; the server closes a connection
    # whose body was left unread.
    return response


def too_large_response(request: HttpRequest, error: RequestTooLarge) -> HttpResponse:
    return _error(request, str(error), 413)


class RequestSizeLimitMiddleware:
    """Answer 413 (or 411) before anything reads a body that is too large (or of unknown length);
    and 400 to a query string with a NUL character.

    Sits right after AuthenticationMiddleware (it needs `request.user`, which is lazy: nothing is
    looked up for small bodies); no middleware before it reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        # No search, filter or id ever holds a NUL; PostgreSQL refuses one in a query with a 500.
        if "%00" in request.META.get("QUERY_STRING", ""):
            return _error(request, NUL_IN_QUERY_ERROR, 400)
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        if not raw_length.strip():
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
                return _error(request, LENGTH_REQUIRED_ERROR, 411)
            return None
        try:
            length = int(raw_length)
        except ValueError:
            return _error(request, "The Content-Length header is not a number.", 400)
        if length <= settings.ANONYMOUS_REQUEST_MAX_BYTES:
            return None
        limit = request_body_limit(request)
        request.body_limit = limit  # for SizeLimitedUploadHandler
        if length <= limit:
            return None
        hint = SIGN_IN_HINT if limit == settings.ANONYMOUS_REQUEST_MAX_BYTES else ""
        message = TOO_LARGE_ERROR.format(size=_megabytes(length), limit=_megabytes(limit), hint=hint)
        return _error(request, message, 413)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestTooLarge):
            return too_large_response(request, exception)
        return None


class SizeLimitedUploadHandler(FileUploadHandler):
    """Counts the file bytes the multipart parser streams and stops once they pass the request's limit."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0

    def _limit(self) -> int:
        return getattr(self.request, "body_limit", None) or settings.ANONYMOUS_REQUEST_MAX_BYTES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self._limit():
            raise RequestTooLarge(self._limit())
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
