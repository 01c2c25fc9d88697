"""API tokens: issued on a correct password, valid for `settings.API_TOKEN_TTL`, revoked by a password change."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token


def token_expires_at(*, token: Token) -> datetime:
    return token.created + settings.API_TOKEN_TTL


def token_is_expired(*, token: Token) -> bool:
    return timezone.now() >= token_expires_at(token=token)


@transaction.atomic
def token_issue(*, user: AbstractBaseUser) -> Token:
    """The user's token; a new one when they have none or theirs has expired (one token per user)."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not token_is_expired(token=token):
        return token
    if token is not None:
        token.delete()
    return Token.objects.create(user=user)


def token_revoke_all(*, user: AbstractBaseUser) -> int:
    """Delete the user's tokens (after a password change): clients must log in again. Returns how many."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted
