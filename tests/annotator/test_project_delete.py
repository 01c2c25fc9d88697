"""Issue 20: admins delete a project from the page and the API, confirming with its exact name."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Item, Project, Role
from annotator.services.imports import ImportRequest, import_file
from annotator.services.projects import DELETE_CONFIRMATION_ERROR

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_with_roles):
    project, users = project_with_roles
    rows = b"text,label\nThe striker scored twice,Sport\n"
    import_file(project=project, stream=io.BytesIO(rows), request=ImportRequest(filename="seed.csv"))
    return project, users


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("query", ["", "?confirm=", "?confirm=roles", "?confirm=Roles%20"])
def test_api_delete_needs_the_exact_name(project, query: str):
    project, users = project
    url = reverse("api-project-detail", kwargs={"project_id": project.pk}) + query
    response = _api(users[Role.ADMIN]).delete(url)
    assert (response.status_code, response.json()["detail"]) == (400, DELETE_CONFIRMATION_ERROR.format(name="Roles"))
    assert Item.objects.filter(project=project).count() == 1


def test_api_delete_removes_everything(project):
    project, users = project
    url = reverse("api-project-detail", kwargs={"project_id": project.pk}) + "?confirm=Roles"
    assert _api(users[Role.EXPERT]).delete(url).status_code == 403
    assert _api(users[Role.ADMIN]).delete(url).status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Item.objects.filter(project_id=project.pk).exists()


def test_the_page_offers_deletion_to_admins_only(project):
    project, users = project
    url = reverse("project-detail", kwargs={"project_id": project.pk})
    delete_url = reverse("project-delete", kwargs={"project_id": project.pk})
    for role, shown in ((Role.ADMIN, True), (Role.EXPERT, False), (Role.ANNOTATOR, False)):
        client = Client()
        client.force_login(users[role])
        assert (delete_url in client.get(url).content.decode()) is shown, role


def test_the_page_refuses_a_wrong_name_with_the_reason(project):
    project, users = project
    client = Client()
    client.force_login(users[Role.ADMIN])
    delete_url = reverse("project-delete", kwargs={"project_id": project.pk})
    response = client.post(delete_url, {"confirm": "Role"}, follow=True)
    assert DELETE_CONFIRMATION_ERROR.format(name="Roles") in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    response = client.post(delete_url, {"confirm": "Roles"}, follow=True)
    assert "Project “Roles” and everything in it were deleted." in response.content.decode()
    assert not Project.objects.filter(pk=project.pk).exists()
