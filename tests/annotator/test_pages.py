"""Pages as a browser sees them: login, project list, import, the job page and its htmx partial."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotator.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, project_with_roles):
    client.force_login(project_with_roles[1]["admin"])
    return client


def test_login_page_and_login(client, make_user):
    make_user("alice")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert response["Location"] == reverse("project-list")


def test_pages_require_login(client):
    response = client.get(reverse("project-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_project_list_and_create(admin_client):
    assert "Roles" in admin_client.get(reverse("project-list")).content.decode()
    response = admin_client.post(reverse("project-new"), {"name": "Fresh", "task_type": "multi", "language": "zh"})
    assert response.status_code == 302
    assert "Fresh" in admin_client.get(response["Location"]).content.decode()


def test_import_page_reports_and_lists_items(admin_client, project_with_roles):
    project = project_with_roles[0]
    url = reverse("item-import", args=[project.pk])
    upload = SimpleUploadedFile("a.csv", b"text,label\nfirst item,A\nsecond item,B\nfirst item,A\n")
    response = admin_client.post(url, {"file": upload, "format": "auto", "text_column": "text", "split": "auto"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>2</strong> new items" in page
    assert "1 repeated in the file" in page
    items = admin_client.get(reverse("item-list", args=[project.pk])).content.decode()
    assert "first item" in items and "second item" in items


def test_import_page_shows_the_error_line(admin_client, project_with_roles):
    project = project_with_roles[0]
    upload = SimpleUploadedFile("a.jsonl", b'{"text": "ok"}\n{"text": ""}\n')
    response = admin_client.post(
        reverse("item-import", args=[project.pk]),
        {"file": upload, "format": "auto", "text_column": "text", "split": "auto"},
    )
    assert response.status_code == 400
    assert "Line 2: empty text" in response.content.decode()
    assert project.items.count() == 0


def test_item_text_is_escaped(admin_client, project_with_roles):
    project = project_with_roles[0]
    project.items.create(text="<script>alert(1)</script>", content_hash="x")
    page = admin_client.get(reverse("item-list", args=[project.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_job_page_polls_while_running_and_stops_when_finished(admin_client, project_with_roles):
    project = project_with_roles[0]
    job = Job.objects.create(project=project, kind="selfcheck", status=JobStatus.RUNNING, progress=40)
    url = reverse("job-detail", args=[project.pk, job.pk])
    page = admin_client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="40"' in page and "<html" in page
    partial = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'id="job-status"' in partial
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress=100)
    done = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in done and 'value="100"' in done


def test_openapi_schema_and_docs(admin_client):
    schema = admin_client.get(reverse("api-schema"))
    assert schema.status_code == 200
    assert b"/api/projects/{project_id}/imports/" in schema.content
    docs = admin_client.get(reverse("api-docs"))
    assert docs.status_code == 200
    # Swagger UI comes from our own static files: the app must work without internet.
    assert "cdn" not in docs.content.decode().lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content.decode()


def test_token_auth(client, make_user):
    make_user("bob")
    token = client.post(reverse("api-token"), {"username": "bob", "password": "pw-bob"}).json()["token"]
    response = client.get(reverse("api-project-list"), headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert client.get(reverse("api-project-list")).status_code in (401, 403)


def test_import_page_reads_a_gbk_file_with_the_chosen_encoding(admin_client, project_with_roles):
    project = project_with_roles[0]
    upload = SimpleUploadedFile("a.csv", "text,label\n价格便宜,正面\n".encode("gbk"))
    fields = {"file": upload, "format": "auto", "encoding": "gb18030", "text_column": "text", "split": "auto"}
    response = admin_client.post(reverse("item-import", args=[project.pk]), fields)
    page = response.content.decode()
    assert response.status_code == 200, page
    assert "(csv, gb18030)" in page
    assert list(project.items.values_list("text", flat=True)) == ["价格便宜"]


def test_import_page_offers_the_encodings(admin_client, project_with_roles):
    page = admin_client.get(reverse("item-import", args=[project_with_roles[0].pk])).content.decode()
    assert 'name="encoding"' in page and 'value="gb18030"' in page
