"""Finding 13 (usernames, consent): adding someone to a project is an invitation they accept or decline.

A project admin (anyone can create a project) learns nothing about which usernames exist: inviting an
existing and a made-up username gives the same answer and the same pending row. The invited person
sees only the invitation (project name, role, who invited them) until they accept.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Invitation, Membership, Role
from annotator.services import projects as services
from annotator.services.projects import INVITED, project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user):
    owner = make_user("owner")
    project = project_create(name="Secret plans", created_by=owner)
    project.items.create(text="a confidential sentence", content_hash="h1")
    return project, owner, make_user("dana")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _without_name(answer: dict, username: str) -> dict:
    """The answer with what must differ (the name typed, the row's id and time) taken out."""
    invitation = {**answer["invitation"], "id": None, "created_at": None, "username": None}
    return {"detail": answer["detail"].replace(username, "NAME"), "invitation": invitation}


def test_api_invite_answers_the_same_for_a_real_and_a_made_up_username(world):
    """Finding 13: the member API cannot be used to probe usernames, and adds nobody without consent."""
    project, owner, dana = world
    url = reverse("api-member-list", kwargs={"project_id": project.pk})
    real = _api(owner).post(url, {"username": "dana", "role": Role.ANNOTATOR}, format="json")
    ghost = _api(owner).post(url, {"username": "nobody-here", "role": Role.ANNOTATOR}, format="json")
    assert real.status_code == ghost.status_code == 202
    assert _without_name(real.json(), "dana") == _without_name(ghost.json(), "nobody-here")
    assert real.json()["detail"] == INVITED.format(username="dana", role=Role.ANNOTATOR)
    assert not Membership.objects.filter(project=project, user=dana).exists()
    listed = _api(owner).get(reverse("api-invitation-list", kwargs={"project_id": project.pk})).json()
    assert sorted(row["username"] for row in listed) == ["dana", "nobody-here"]


def test_page_invite_answers_the_same_for_a_real_and_a_made_up_username(world):
    """Finding 13: the members page says the same for both, and adds nobody."""
    project, owner, dana = world
    client = _page(owner)
    url = reverse("member-save", kwargs={"project_id": project.pk})
    real = client.post(url, {"username": "dana", "role": Role.EXPERT}, follow=True)
    ghost = client.post(url, {"username": "nobody-here", "role": Role.EXPERT}, follow=True)
    assert real.status_code == ghost.status_code == 200
    assert INVITED.format(username="dana", role=Role.EXPERT) in real.content.decode()
    assert INVITED.format(username="nobody-here", role=Role.EXPERT) in ghost.content.decode()
    assert not Membership.objects.filter(project=project, user=dana).exists()


def test_the_invited_person_sees_nothing_of_the_project_until_they_accept(world):
    """Finding 13: before accepting, the project is 404 to them; accepting makes them a member with the role."""
    project, owner, dana = world
    _api(owner).post(
        reverse("api-member-list", kwargs={"project_id": project.pk}), {"username": "dana", "role": "expert"}
    )
    api = _api(dana)
    assert api.get(reverse("api-project-detail", kwargs={"project_id": project.pk})).status_code == 404
    assert api.get(reverse("api-item-list", kwargs={"project_id": project.pk})).status_code == 404
    assert api.get(reverse("api-project-list")).json() == []
    mine = api.get(reverse("api-my-invitations")).json()
    assert mine == [
        {
            "id": mine[0]["id"],
            "project_id": project.pk,
            "project_name": "Secret plans",
            "role": "expert",
            "invited_by": "owner",
            "created_at": mine[0]["created_at"],
        }
    ]
    page = _page(dana).get(reverse("project-list")).content.decode()
    assert "Secret plans" in page and "a confidential sentence" not in page
    accepted = api.post(reverse("api-invitation-accept", kwargs={"invitation_id": mine[0]["id"]}))
    assert accepted.status_code == 200
    assert Membership.objects.get(project=project, user=dana).role == Role.EXPERT
    assert not Invitation.objects.exists()
    assert api.get(reverse("api-item-list", kwargs={"project_id": project.pk})).json()["count"] == 1


def test_declining_leaves_no_membership(world):
    """Finding 13: a declined invitation is gone and grants nothing (page flow)."""
    project, owner, dana = world
    invitation = Invitation.objects.create(project=project, username="dana", role=Role.ADMIN, invited_by=owner)
    client = _page(dana)
    response = client.post(reverse("invitation-decline", kwargs={"invitation_id": invitation.pk}))
    assert response.status_code == 302
    assert not Invitation.objects.exists()
    assert not Membership.objects.filter(project=project, user=dana).exists()


def test_someone_else_cannot_accept_an_invitation(world, make_user):
    """Finding 13: an invitation is accepted only by the user it names; to anyone else it does not exist."""
    project, owner, _dana = world
    invitation = Invitation.objects.create(project=project, username="dana", role=Role.ADMIN, invited_by=owner)
    mallory = make_user("mallory")
    assert (
        _api(mallory).post(reverse("api-invitation-accept", kwargs={"invitation_id": invitation.pk})).status_code == 404
    )
    page = _page(mallory).post(reverse("invitation-accept", kwargs={"invitation_id": invitation.pk}))
    assert page.status_code == 404
    assert _api(mallory).get(reverse("api-my-invitations")).json() == []
    assert not Membership.objects.filter(project=project, user=mallory).exists()
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_admin_can_revoke_a_pending_invitation(world):
    """Finding 13: the inviting project's admins can withdraw an invitation before it is answered."""
    project, owner, dana = world
    invitation = Invitation.objects.create(project=project, username="dana", role=Role.EXPERT, invited_by=owner)
    url = reverse("api-invitation-detail", kwargs={"project_id": project.pk, "invitation_id": invitation.pk})
    assert _api(owner).delete(url).status_code == 204
    assert _api(dana).get(reverse("api-my-invitations")).json() == []


def test_an_invitation_of_another_project_cannot_be_revoked(world, make_user):
    """Finding 13: invitation ids are scoped to their project."""
    project, owner, _dana = world
    other_owner = make_user("other_owner")
    other = project_create(name="Other", created_by=other_owner)
    foreign = Invitation.objects.create(project=other, username="dana", role=Role.EXPERT, invited_by=other_owner)
    url = reverse("api-invitation-detail", kwargs={"project_id": project.pk, "invitation_id": foreign.pk})
    assert _api(owner).delete(url).status_code == 404
    page = reverse("invitation-revoke", kwargs={"project_id": project.pk, "invitation_id": foreign.pk})
    assert _page(owner).post(page).status_code == 404
    assert Invitation.objects.filter(pk=foreign.pk).exists()


def test_an_existing_members_role_still_changes_directly(world):
    """Finding 13: for someone already in the project the form still changes the role (no invitation)."""
    project, owner, dana = world
    Membership.objects.create(project=project, user=dana, role=Role.ANNOTATOR)
    response = _api(owner).post(
        reverse("api-member-list", kwargs={"project_id": project.pk}), {"username": "dana", "role": "expert"}
    )
    assert (response.status_code, response.json()["role"]) == (200, Role.EXPERT)
    assert not Invitation.objects.exists()


def test_pending_invitations_are_capped(world):
    """Finding 13: a project cannot pile up invitations without end (409 with a message)."""
    project, owner, _dana = world
    url = reverse("api-member-list", kwargs={"project_id": project.pk})
    for n in range(services.MAX_PENDING_INVITATIONS):
        Invitation.objects.create(project=project, username=f"user{n}", role=Role.ANNOTATOR, invited_by=owner)
    response = _api(owner).post(url, {"username": "one-more", "role": Role.ANNOTATOR})
    assert (response.status_code, response.json()["detail"]) == (409, services.TOO_MANY_INVITATIONS)


def test_an_overlong_username_is_a_clear_error(world):
    """Finding 13: a name longer than any username is a 400 (not a database error on PostgreSQL)."""
    project, owner, _dana = world
    url = reverse("api-member-list", kwargs={"project_id": project.pk})
    response = _api(owner).post(url, {"username": "x" * 151, "role": Role.ANNOTATOR})
    assert response.status_code == 400 and "username" in response.json()
    page = _page(owner).post(reverse("member-save", kwargs={"project_id": project.pk}), {"username": "x" * 151})
    assert page.status_code == 400
    assert not Invitation.objects.exists()
