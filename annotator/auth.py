"""Authentication glue: expiring API tokens, token revocation on a password change, and the login lockout.

The lockout itself is django-axes (settings: AXES_*); this module tells it the client's address and
what a locked-out person sees.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from annotator.services.tokens import token_is_expired, token_revoke_all

TOKEN_EXPIRED = "This token has expired: ask /api/auth/token/ for a new one with your username and password."
LOCKOUT_MESSAGE = "Too many failed logins for this username from your address. Try again in {minutes} minutes."


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing tokens older than `settings.API_TOKEN_TTL`."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token=token):
            raise exceptions.AuthenticationFailed(TOKEN_EXPIRED)
        return user, token


class RevokeTokensOnPasswordChange:
    """Listed in AUTH_PASSWORD_VALIDATORS for its hook, not as a check.

    Django calls every validator's `password_changed()` after `set_password()` and `save()`, whatever
    path changed the password (the admin, `changepassword`, a password-change view); a leaked token must
    not outlive the password it was issued for."""

    def validate(self, password: str, user=None) -> None:
        return None

    def password_changed(self, password: str, user=None) -> None:
        if user is not None and user.pk is not None:
            token_revoke_all(user=user)

    def get_help_text(self) -> str:
        return "Changing the password revokes the account's API tokens."


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for the lockout.

    Behind our TLS proxy (LABELLOOP_BEHIND_PROXY) it is the right-most X-Forwarded-For entry: the one
    the proxy appended. Entries to its left come from the client and can be anything."""
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


def lockout_message() -> str:
    return LOCKOUT_MESSAGE.format(minutes=max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)))


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 with a readable message: JSON for the API, the login page with the message for people."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        context = {"form": AuthenticationForm(request), "lockout": lockout_message()}
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
