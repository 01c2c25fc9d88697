"""Authentication glue: expiring API tokens, token revocation on a password change, and the login lockout.

The lockout itself is django-axes (settings: AXES_*); this module tells it the client's address and
what a locked-out person sees.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from annotator.services.accounts import PASSWORD_CHANGE_NEEDED, account_must_change_password
from annotator.services.tokens import token_is_expired, token_revoke_all

TOKEN_EXPIRED = gettext_lazy(
    "This token has expired: ask /api/auth/token/ for a new one with your username and password."
)
LOCKOUT_MESSAGE = gettext_lazy(
    "Too many failed logins for this username from your address. Try again in {minutes} minutes."
)


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
        return gettext("Changing the password revokes the account's API tokens.")


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


# The session key that holds a person with a one-time password on the password-change page.
PASSWORD_CHANGE_SESSION_KEY = "labelloop_must_change_password"
# What a held person may still reach: the change itself, logging out, static files.
PASSWORD_CHANGE_OPEN_PATHS = (
    "/account/password/",
    "/api/auth/password/",
    "/logout/",
    "/login/",
    "/static/",
    "/i18n/setlang/",  # the language switch, so the password page can be read in one's own language
)


def note_password_change_needed(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: remember in the session whether the account still has its one-time
    password, so that the middleware asks the session and not the database on every request."""
    if request is not None and hasattr(request, "session"):
        if account_must_change_password(user=user):
            request.session[PASSWORD_CHANGE_SESSION_KEY] = True
        else:
            request.session.pop(PASSWORD_CHANGE_SESSION_KEY, None)


class PasswordChangeRequiredMiddleware:
    """Sends a person logged in with a one-time password to the password-change page (pages: a redirect;
    the API with a session: 403 and the reason). Tokens are never issued to such an account."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.session.get(PASSWORD_CHANGE_SESSION_KEY) and not request.path.startswith(PASSWORD_CHANGE_OPEN_PATHS):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": PASSWORD_CHANGE_NEEDED}, status=403)
            return HttpResponseRedirect(reverse("password-change"))
        return self.get_response(request)
