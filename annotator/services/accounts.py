"""Accounts a project admin creates for people, and the first password change they are held to.

Inviting a username (`services.projects.member_invite`) never tells whether an account has that name.
Creating an account has to: a taken name must fail, so this action (and only this one) tells a project
admin that a name exists, as any sign-up form would. Each user may create at most
MAX_ACCOUNTS_PER_CREATOR accounts (docs/architecture.md, "Members join by invitation")."""

from __future__ import annotations

import dataclasses
import secrets

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from annotator.models import AccountProfile, Membership, Project
from annotator.services.projects import member_set_role

ACCOUNT_CREATED = (
    "Account “{username}” created and added as {role}. Give them the one-time password below; it is shown only "
    "this once, and they choose their own at their first login."
)
USERNAME_TAKEN = "The username “{username}” is taken: choose another."
MAX_ACCOUNTS_PER_CREATOR = 200
TOO_MANY_ACCOUNTS = (
    f"You have created {MAX_ACCOUNTS_PER_CREATOR} accounts, the most one person may: "
    "invite existing users by username instead."
)
PASSWORD_CHANGE_NEEDED = gettext_lazy(
    "This account still has its one-time password: choose your own first "
    "(the page /account/password/ or POST /api/auth/password/)."
)
# Enough entropy to be unguessable in the lockout's five tries, short enough to read out or type.
ONE_TIME_PASSWORD_BYTES = 12


@dataclasses.dataclass(frozen=True)
class CreatedAccount:
    user: AbstractBaseUser
    membership: Membership
    one_time_password: str  # shown once to the admin who created the account, never stored in clear


@transaction.atomic
def account_create(
    *, project: Project, username: str, role: str, created_by: AbstractBaseUser, email: str = ""
) -> CreatedAccount:
    """A new account with a one-time password, added to `project` with `role`.

    The person is held to a password change at their first login. Raises ValidationError: an invalid
    username or email (code `invalid`), a taken username (`taken`, also case-insensitively: "Ann" and
    "ann" would be told apart by nobody), too many accounts created by `created_by` (`too_many`)."""
    user_model = get_user_model()
    username = _clean_username(username)
    email = email.strip()
    if email:
        validate_email(email)
    if AccountProfile.objects.filter(created_by=created_by).count() >= MAX_ACCOUNTS_PER_CREATOR:
        raise ValidationError(TOO_MANY_ACCOUNTS, code="too_many")
    if user_model.objects.filter(username__iexact=username).exists():
        raise ValidationError(USERNAME_TAKEN.format(username=username), code="taken")
    user = user_model(username=username, email=email)
    password = _one_time_password(user)
    user.set_password(password)
    try:
        with transaction.atomic():  # a concurrent create of the same name loses here, not with a 500
            user.save()
    except IntegrityError:
        raise ValidationError(USERNAME_TAKEN.format(username=username), code="taken") from None
    AccountProfile.objects.create(user=user, must_change_password=True, created_by=created_by)
    membership = member_set_role(project=project, user=user, role=role)
    # An invitation to the same name in this project is answered by the membership.
    project.invitations.filter(username=username).delete()
    return CreatedAccount(user=user, membership=membership, one_time_password=password)


@transaction.atomic
def account_password_change(*, user: AbstractBaseUser, password: str) -> None:
    """Set the user's own password (Django's validators apply) and lift the one-time-password hold.

    Saving a new password revokes the account's API tokens (annotator.auth.RevokeTokensOnPasswordChange)."""
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    AccountProfile.objects.filter(user=user).update(must_change_password=False)


def account_must_change_password(*, user: AbstractBaseUser) -> bool:
    return AccountProfile.objects.filter(user_id=user.pk, must_change_password=True).exists()


def _clean_username(username: str) -> str:
    username = get_user_model().normalize_username(username.strip())
    if not username:
        raise ValidationError("Give a username.", code="invalid")
    if len(username) > 150:
        raise ValidationError("A username has at most 150 characters.", code="invalid")
    get_user_model().username_validator(username)
    return username


def _one_time_password(user: AbstractBaseUser) -> str:
    """A random password that passes the configured validators (a random one virtually always does)."""
    while True:
        password = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
        try:
            password_validation.validate_password(password, user)
        except ValidationError:
            continue
        return password
