"""Finding 13 (jobs): what each project role sees of a job. Annotators: kind, status, progress and a
generic failure line; experts: params, log and error with server paths shortened; admins: all of it."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Job, JobStatus, ModelVersion, Role
from annotator.selectors.jobs import GENERIC_FAILURE_MESSAGE, strip_server_paths

pytestmark = pytest.mark.django_db

SECRET_PATH = "/srv/labelloop/media/imports/4f2a9c/upload"
ERROR = f"FileNotFoundError: [Errno 2] No such file or directory: '{SECRET_PATH}'"


@pytest.fixture
def failed_job(project_with_roles) -> Job:
    project, users = project_with_roles
    return Job.objects.create(
        project=project,
        kind="import",
        status=JobStatus.FAILED,
        progress=40,
        params={"filename": "big.csv", "path": SECRET_PATH},
        error=ERROR,
        message="Failed.",
        log=f"10:00:00 Queued on 'default'.\n10:00:01 Reading {SECRET_PATH}\n10:00:02 {ERROR}\n",
        created_by=users[Role.ADMIN],
    )


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_annotators_see_kind_status_progress_and_a_generic_failure_only(project_with_roles, failed_job):
    """Finding 13: no params, log or exception text (before: all of it, with the server's paths)."""
    project, users = project_with_roles
    client = _api(users[Role.ANNOTATOR])
    detail = client.get(f"/api/projects/{project.pk}/jobs/{failed_job.pk}/").json()
    listed = client.get(f"/api/projects/{project.pk}/jobs/").json()[0]
    for data in (detail, listed):
        assert (data["kind"], data["status"], data["progress"]) == ("import", "failed", 40)
        assert data["error"] == GENERIC_FAILURE_MESSAGE
        assert data["params"] == {} and data["log"] == [] and data["result"] == {}
        assert "/srv" not in str(data) and "FileNotFoundError" not in str(data)


def test_experts_see_the_log_and_error_without_absolute_server_paths(project_with_roles, failed_job):
    """Finding 13: experts can tell why a job failed, not where the server keeps its files."""
    project, users = project_with_roles
    data = _api(users[Role.EXPERT]).get(f"/api/projects/{project.pk}/jobs/{failed_job.pk}/").json()
    assert data["error"] == "FileNotFoundError: [Errno 2] No such file or directory: '…/upload'"
    assert data["params"] == {"filename": "big.csv", "path": "…/upload"}
    assert data["log"][1] == "10:00:01 Reading …/upload"
    assert "/srv" not in str(data)


def test_admins_see_the_job_as_stored(project_with_roles, failed_job):
    """Finding 13: the admins, who run the server's jobs, see everything."""
    project, users = project_with_roles
    data = _api(users[Role.ADMIN]).get(f"/api/projects/{project.pk}/jobs/{failed_job.pk}/").json()
    assert data["error"] == ERROR and data["params"]["path"] == SECRET_PATH
    assert len(data["log"]) == 3


@pytest.mark.parametrize(
    ("role", "shows_error", "shows_path"),
    [(Role.ANNOTATOR, False, False), (Role.EXPERT, True, False), (Role.ADMIN, True, True)],
)
def test_the_job_page_shows_each_role_what_it_may_see(project_with_roles, failed_job, role, shows_error, shows_path):
    """Finding 13: the job page (and its htmx partial) follow the same rule as the API."""
    project, users = project_with_roles
    client = Client()
    client.force_login(users[role])
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        page = client.get(f"/projects/{project.pk}/jobs/{failed_job.pk}/", **headers).content.decode()
        assert ("FileNotFoundError" in page) is shows_error
        assert (SECRET_PATH in page) is shows_path
        assert (GENERIC_FAILURE_MESSAGE in page) is (not shows_error)


def test_server_paths_are_shortened_but_urls_and_relative_names_stay():
    assert strip_server_paths("see /var/lib/x/model.bin and ./a/b") == "see …/model.bin and ./a/b"
    assert strip_server_paths("https://example.org/a/b stays") == "https://example.org/a/b stays"
    assert strip_server_paths("Queued on 'default'.") == "Queued on 'default'."


@pytest.mark.parametrize(("role", "shows_error"), [(Role.ANNOTATOR, False), (Role.EXPERT, True)])
def test_the_active_learning_page_lists_rescore_jobs_by_the_same_rule(project_with_roles, role, shows_error):
    """Finding 13: the rescoring list on the active-learning page (open to annotators) hides the error too."""
    project, users = project_with_roles
    Job.objects.create(project=project, kind="rescore", status=JobStatus.FAILED, error=ERROR, message="Failed.")
    client = Client()
    client.force_login(users[role])
    page = client.get(f"/projects/{project.pk}/active-learning/").content.decode()
    assert ("FileNotFoundError" in page) is shows_error
    assert SECRET_PATH not in page
    assert (GENERIC_FAILURE_MESSAGE in page) is (not shows_error)


@pytest.mark.parametrize(("role", "shows_path"), [(Role.ANNOTATOR, False), (Role.EXPERT, False), (Role.ADMIN, True)])
def test_a_model_versions_params_show_no_server_path_to_non_admins(project_with_roles, role, shows_path):
    """Finding 13: a version trained on a backbone given as a path names that folder in its params."""
    project, users = project_with_roles
    version = ModelVersion.objects.create(
        project=project, number=1, kind="teacher", data_hash="0" * 64, n_train=1, n_test=1,
        params={"backbone": "/srv/models/my-bert", "epochs": 3}, metrics={}, artifact_dir="models/x",
    )  # fmt: skip
    client = _api(users[role])
    for url in (f"/api/projects/{project.pk}/models/", f"/api/projects/{project.pk}/models/{version.pk}/"):
        data = str(client.get(url).json())
        assert ("/srv/models/my-bert" in data) is shows_path
        assert "my-bert" in data and "'epochs': 3" in data
