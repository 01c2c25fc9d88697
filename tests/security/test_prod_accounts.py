"""Issue 20, item 1: members and accounts in the app.

A project admin creates an account (one-time password, shown once, a change forced at the first login,
Django's validators), changes roles and removes members (the last admin stays); a removed member's
session and token no longer reach the project; the login lockout still holds for created accounts."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Membership, Role
from annotator.services.accounts import (
    PASSWORD_CHANGE_NEEDED,
    USERNAME_TAKEN,
    account_create,
)
from annotator.services.projects import LAST_ADMIN_ERROR, member_set_role

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a sturdy new passphrase 42"


@pytest.fixture
def roles(project_with_roles):
    return project_with_roles


def admin_client(roles) -> Client:
    client = Client()
    client.force_login(roles[1][Role.ADMIN])
    return client


def admin_api(roles) -> APIClient:
    client = APIClient()
    client.force_authenticate(roles[1][Role.ADMIN])
    return client


def create_on_page(roles, username: str, role: str = Role.ANNOTATOR, email: str = ""):
    project = roles[0]
    data = {"username": username, "email": email, "role": role}
    return admin_client(roles).post(reverse("member-create", args=[project.pk]), data)


def login(client: Client, username: str, password: str, address: str = "203.0.113.9"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_page_creates_an_account_shows_its_one_time_password_once_and_adds_it(roles):
    project = roles[0]
    response = create_on_page(roles, "dora", Role.EXPERT, "dora@example.org")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    user = get_user_model().objects.get(username="dora")
    password = page.split('id="one-time-password">')[1].split("<")[0]
    assert user.check_password(password) and user.email == "dora@example.org"
    assert Membership.objects.get(project=project, user=user).role == Role.EXPERT
    assert user.account_profile.must_change_password
    again = admin_client(roles).get(reverse("member-list", args=[project.pk])).content.decode()
    assert password not in again and "one-time-password" not in again  # shown once


def test_the_api_creates_an_account_and_a_taken_username_is_a_conflict(roles):
    project = roles[0]
    url = reverse("api-account-create", args=[project.pk])
    created = admin_api(roles).post(url, {"username": "eve", "role": Role.ANNOTATOR}, format="json")
    assert created.status_code == 201, created.json()
    assert created["Cache-Control"] == "no-store"
    assert get_user_model().objects.get(username="eve").check_password(created.json()["one_time_password"])
    for taken in ("eve", "EVE", "outsider"):
        response = admin_api(roles).post(url, {"username": taken, "role": Role.ANNOTATOR}, format="json")
        assert response.status_code == 409
        assert response.json()["detail"] == USERNAME_TAKEN.format(username=taken)
    bad = admin_api(roles).post(url, {"username": "no spaces!", "role": Role.ANNOTATOR}, format="json")
    assert bad.status_code == 400 and "username" in bad.json()["detail"].lower()
    email = admin_api(roles).post(url, {"username": "fred", "email": "nope", "role": "annotator"}, format="json")
    assert email.status_code == 400
    assert not get_user_model().objects.filter(username__in=["no spaces!", "fred"]).exists()


def test_a_taken_username_on_the_page_is_a_form_error_and_changes_nothing(roles):
    response = create_on_page(roles, "outsider")
    assert response.status_code == 400
    assert "is taken: choose another" in response.content.decode()
    assert not Membership.objects.filter(project=roles[0], user=roles[1]["outsider"]).exists()


def test_inviting_still_answers_the_same_for_real_and_unknown_names(roles):
    """Item 1 keeps issue 19's rule: only *creating* tells whether a name exists."""
    project = roles[0]
    url = reverse("api-member-list", args=[project.pk])
    real = admin_api(roles).post(url, {"username": "outsider", "role": Role.ANNOTATOR}, format="json")
    ghost = admin_api(roles).post(url, {"username": "nobody_has_this", "role": Role.ANNOTATOR}, format="json")
    assert real.status_code == ghost.status_code == 202
    assert real.json()["detail"].replace("outsider", "X") == ghost.json()["detail"].replace("nobody_has_this", "X")


def test_the_first_login_goes_to_the_password_change_and_nothing_else_until_then(roles):
    project = roles[0]
    created = account_create(project=project, username="gil", role=Role.ANNOTATOR, created_by=roles[1][Role.ADMIN])
    client = Client()
    assert login(client, "gil", created.one_time_password).status_code == 302
    for url in (reverse("project-list"), reverse("project-detail", args=[project.pk])):
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, reverse("password-change")), url
    api = client.get(reverse("api-project-list"))
    assert (api.status_code, api.json()["detail"]) == (403, PASSWORD_CHANGE_NEEDED)
    page = client.get(reverse("password-change"))
    assert page.status_code == 200 and "one-time password" in page.content.decode()
    weak = client.post(
        reverse("password-change"),
        {"old_password": created.one_time_password, "new_password1": "password", "new_password2": "password"},
    )
    assert weak.status_code == 400 and "too common" in weak.content.decode()  # Django's validators apply
    changed = client.post(
        reverse("password-change"),
        {"old_password": created.one_time_password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed["Location"] == reverse("project-list")
    assert client.get(reverse("project-detail", args=[project.pk])).status_code == 200
    assert not get_user_model().objects.get(username="gil").account_profile.must_change_password
    assert login(Client(), "gil", created.one_time_password).status_code == 200  # the one-time password is spent


def test_no_token_before_the_password_change_and_the_api_can_change_it(roles):
    project = roles[0]
    created = account_create(project=project, username="hal", role=Role.ANNOTATOR, created_by=roles[1][Role.ADMIN])
    api = APIClient()
    credentials = {"username": "hal", "password": created.one_time_password}
    refused = api.post(reverse("api-token"), credentials, REMOTE_ADDR="203.0.113.9")
    assert (refused.status_code, refused.json()["detail"]) == (403, PASSWORD_CHANGE_NEEDED)
    change = {"username": "hal", "old_password": created.one_time_password}
    weak = api.post(reverse("api-password-change"), {**change, "new_password": "hal"}, REMOTE_ADDR="203.0.113.9")
    assert weak.status_code == 400
    done = api.post(reverse("api-password-change"), {**change, "new_password": NEW_PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert done.status_code == 200, done.json()
    token = api.post(reverse("api-token"), {"username": "hal", "password": NEW_PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert token.status_code == 200


def test_wrong_passwords_lock_out_a_created_account_too(roles, settings):
    created = account_create(project=roles[0], username="ida", role=Role.ANNOTATOR, created_by=roles[1][Role.ADMIN])
    client = Client()
    statuses = [login(client, "ida", f"guess-{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT + 1)]
    assert statuses[-1] == 429
    assert login(client, "ida", created.one_time_password).status_code == 429
    api = APIClient()
    change = {"username": "ida", "old_password": created.one_time_password, "new_password": NEW_PASSWORD}
    assert api.post(reverse("api-password-change"), change, REMOTE_ADDR="203.0.113.9").status_code == 429


def test_roles_change_and_the_last_admin_can_be_neither_demoted_nor_removed(roles):
    project, users = roles
    admin = users[Role.ADMIN]
    detail = reverse("api-member-detail", args=[project.pk, admin.pk])
    demote = admin_api(roles).put(detail, {"role": Role.EXPERT}, format="json")
    assert (demote.status_code, demote.json()["detail"]) == (400, LAST_ADMIN_ERROR)
    remove = admin_api(roles).delete(detail)
    assert (remove.status_code, remove.json()["detail"]) == (400, LAST_ADMIN_ERROR)
    page = admin_client(roles).post(
        reverse("member-save", args=[project.pk]), {"username": admin.username, "role": Role.EXPERT}
    )
    assert page.status_code == 400 and "at least one admin" in page.content.decode()
    removed = admin_client(roles).post(reverse("member-remove", args=[project.pk, admin.pk]), follow=True)
    assert "at least one admin" in removed.content.decode()
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN
    listing = admin_client(roles).get(reverse("member-list", args=[project.pk])).content.decode()
    assert "the only admin" in listing
    # With a second admin, the first may step down.
    member_set_role(project=project, user=users[Role.EXPERT], role=Role.ADMIN)
    assert admin_api(roles).put(detail, {"role": Role.EXPERT}, format="json").status_code == 200


def test_removing_asks_first_and_then_the_members_session_and_token_reach_nothing(roles):
    project, users = roles
    annotator = users[Role.ANNOTATOR]
    session = Client()
    session.force_login(annotator)
    token = APIClient()
    key = (
        APIClient()
        .post(reverse("api-token"), {"username": annotator.username, "password": "pw-" + annotator.username})
        .json()["token"]
    )
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert session.get(reverse("project-detail", args=[project.pk])).status_code == 200
    assert token.get(reverse("api-project-detail", args=[project.pk])).status_code == 200

    confirm = admin_client(roles).get(reverse("member-remove", args=[project.pk, annotator.pk]))
    assert confirm.status_code == 200 and f"Remove {annotator.username}?" in confirm.content.decode()
    assert Membership.objects.filter(project=project, user=annotator).exists()  # asking removes nothing
    admin_client(roles).post(reverse("member-remove", args=[project.pk, annotator.pk]))

    assert session.get(reverse("project-detail", args=[project.pk])).status_code == 404
    assert session.get(reverse("queue", args=[project.pk])).status_code == 404
    assert token.get(reverse("api-project-detail", args=[project.pk])).status_code == 404
    assert token.get(reverse("api-item-list", args=[project.pk])).status_code == 404


def test_a_pending_invitation_of_the_same_name_is_answered_by_the_created_account(roles):
    project = roles[0]
    admin_api(roles).post(
        reverse("api-member-list", args=[project.pk]), {"username": "jo", "role": Role.EXPERT}, format="json"
    )
    create_on_page(roles, "jo", Role.ANNOTATOR)
    assert not project.invitations.filter(username="jo").exists()
    assert Membership.objects.get(project=project, user__username="jo").role == Role.ANNOTATOR
