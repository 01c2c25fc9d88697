from __future__ import annotations

from django.conf import settings
from django.db import models


class AccountProfile(models.Model):
    """What Labelloop keeps about an account beyond Django's user row.

    An account a project admin created (`services.accounts.account_create`) starts with a one-time
    password that the admin saw: `must_change_password` holds the person on the password-change page
    until they choose their own."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_profile")
    must_change_password = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"
