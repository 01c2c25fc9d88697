"""Finding 10: login lockout on the form and the token endpoint, expiring tokens, revocation on a password change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.auth import TOKEN_EXPIRED, lockout_message

pytestmark = pytest.mark.django_db

WRONG_TRIES = 40


def _form_login(client: Client, password: str, address: str = "203.0.113.5"):
    return client.post(reverse("login"), {"username": "carol", "password": password}, REMOTE_ADDR=address)


def _token(client: APIClient, password: str, address: str = "203.0.113.5"):
    return client.post(reverse("api-token"), {"username": "carol", "password": password}, REMOTE_ADDR=address)


def _end_the_cooloff() -> None:
    """As if the cool-off time had passed."""
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(hours=1))


def test_forty_wrong_passwords_on_the_login_form_do_not_let_anyone_in(make_user, settings):
    """Finding 10: after AXES_FAILURE_LIMIT failures the form refuses even the right password, with a message."""
    make_user("carol")
    client = Client()
    statuses = [_form_login(client, f"guess-{n}").status_code for n in range(WRONG_TRIES)]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(statuses[settings.AXES_FAILURE_LIMIT :]) == {429}
    right = _form_login(client, "pw-carol")
    assert right.status_code == 429
    assert lockout_message() in right.content.decode()
    assert int(right["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "_auth_user_id" not in client.session
    # Someone else's address is not locked out by these failures...
    assert _form_login(Client(), "pw-carol", address="198.51.100.7").status_code == 302
    # ...and after the cool-off the right password works again from the first address.
    _end_the_cooloff()
    assert _form_login(client, "pw-carol").status_code == 302
    assert client.session["_auth_user_id"] == str(get_user_model().objects.get(username="carol").pk)


def test_forty_wrong_passwords_on_the_token_endpoint_give_no_token(make_user, settings):
    """Finding 10: the token endpoint counts failures with the form and locks out the same way (429 JSON)."""
    make_user("carol")
    client = APIClient()
    statuses = [_token(client, f"guess-{n}").status_code for n in range(WRONG_TRIES)]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [400] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(statuses[settings.AXES_FAILURE_LIMIT :]) == {429}
    right = _token(client, "pw-carol")
    assert (right.status_code, right.json()) == (429, {"detail": lockout_message()})
    assert not Token.objects.exists()
    _end_the_cooloff()
    assert _token(client, "pw-carol").status_code == 200


def test_behind_the_proxy_the_lockout_counts_the_forwarded_address(make_user, settings):
    """Finding 10: behind the TLS proxy every client arrives from the proxy; the lockout uses the address it adds."""
    settings.BEHIND_PROXY = True
    make_user("carol")
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            reverse("login"),
            {"username": "carol", "password": f"guess-{n}"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5",  # the client's claim, then what the proxy saw
        )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.5"
    other = Client().post(
        reverse("login"),
        {"username": "carol", "password": "pw-carol"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert other.status_code == 302


def test_tokens_expire(make_user, settings):
    """Finding 10: a token older than API_TOKEN_TTL is refused; asking again issues a new one."""
    make_user("carol")
    client = APIClient()
    issued = _token(client, "pw-carol").json()
    assert issued["expires"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issued['token']}")
    assert api.get(reverse("api-project-list")).status_code == 200
    Token.objects.update(created=timezone.now() - settings.API_TOKEN_TTL - timedelta(seconds=1))
    refused = api.get(reverse("api-project-list"))
    # 403 rather than 401 because session authentication comes first in DRF's list (no WWW-Authenticate).
    assert (refused.status_code, refused.json()["detail"]) == (403, TOKEN_EXPIRED)
    fresh = _token(client, "pw-carol").json()["token"]
    assert fresh != issued["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
    assert api.get(reverse("api-project-list")).status_code == 200


def test_a_password_change_revokes_the_tokens(make_user):
    """Finding 10: after a password change the old token no longer works."""
    carol = make_user("carol")
    bob = make_user("bob")
    client = APIClient()
    key = _token(client, "pw-carol").json()["token"]
    bobs = Token.objects.create(user=bob)
    carol.set_password("a new long passphrase 71")
    carol.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(reverse("api-project-list")).status_code == 403
    assert not Token.objects.filter(user=carol).exists()
    assert Token.objects.filter(pk=bobs.pk).exists()  # nobody else's


def test_logging_in_keeps_the_tokens(make_user):
    """Finding 10: only a password change revokes tokens; logging in (which saves last_login) does not."""
    make_user("carol")
    key = _token(APIClient(), "pw-carol").json()["token"]
    assert _form_login(Client(), "pw-carol").status_code == 302
    assert Token.objects.filter(key=key).exists()
