"""Issue 21: the distillation request is checked before anything is queued. Each bad field is a 400
whose `key` names it, the page form marks the same field, and no job row is left behind."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Job, ModelVersion, Role
from annotator.services.projects import project_create

pytestmark = pytest.mark.django_db


def _version(project, number: int = 1, f1: float = 0.8) -> ModelVersion:
    return ModelVersion.objects.create(
        project=project, number=number, kind="fast_head", data_hash="x", n_train=20, n_test=10,
        label_ids=[], metrics={"macro_f1": f1}, artifact_dir=f"models/v{number}",
    )  # fmt: skip


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    client = APIClient()
    client.force_authenticate(users[Role.ADMIN])
    return project, users, client, _version(project)


def _good(version) -> dict:
    return {"teachers": [version.pk], "student": "text_cnn", "temperature": 2, "alpha": 0.5, "confidence": 0}


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"teachers": []}, "teachers", "at least one teacher"),
        ({"teachers": [987654]}, "teachers", "#987654 do not exist"),
        ({"student": "bert_huge"}, "student", "Unknown student 'bert_huge'"),
        ({"scheme": "vibes"}, "scheme", "Unknown scheme 'vibes'"),
        ({"temperature": 0}, "temperature", "temperature must be a number above 0"),
        ({"temperature": -1.5}, "temperature", "above 0"),
        ({"alpha": 1.5}, "alpha", "between 0 and 1"),
        ({"alpha": -0.1}, "alpha", "between 0 and 1"),
        ({"confidence": 1.0}, "confidence", "below 1"),
        ({"confidence": -0.2}, "confidence", "at least 0"),
        ({"student_params": {"wings": 2}}, "student_params.wings", "wings"),
    ],
)
def test_each_bad_field_is_a_400_naming_it_and_nothing_is_queued(setup, change, key, words):
    project, _users, client, version = setup
    response = client.post(f"/api/projects/{project.pk}/models/distill/", {**_good(version), **change}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["key"] == key
    assert words in response.json()["detail"]
    assert not Job.objects.filter(kind="distill").exists()


def test_a_teacher_of_another_project_is_refused_like_a_missing_one(setup, make_user):
    project, users, client, _version_here = setup
    elsewhere = _version(project_create(name="Other", created_by=users[Role.ADMIN]))
    response = client.post(f"/api/projects/{project.pk}/models/distill/", _good(elsewhere), format="json")
    assert response.status_code == 400
    assert response.json()["key"] == "teachers" and f"#{elsewhere.pk}" in response.json()["detail"]
    assert not Job.objects.exists()


def test_the_form_marks_the_bad_field_and_keeps_the_page(setup):
    project, users, _client, version = setup
    browser = Client()
    browser.force_login(users[Role.ADMIN])
    form = {**_good(version), "scheme": "both", "use_pool": "on", "finetune": "on", "alpha": "3"}
    response = browser.post(f"/projects/{project.pk}/models/distill/", form)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="option has-error"' in page and "between 0 and 1" in page
    assert not Job.objects.exists()


def test_the_form_proposes_the_best_version_as_teacher(setup):
    project, users, _client, version = setup
    better = _version(project, number=2, f1=0.9)
    _version(project, number=3, f1=0.7)
    browser = Client()
    browser.force_login(users[Role.ADMIN])
    page = browser.get(f"/projects/{project.pk}/models/").content.decode()
    assert f'<option value="{better.pk}" selected>fast_head v2 (macro-F1 0.900)</option>' in page
    assert f'<option value="{version.pk}">fast_head v1' in page


def test_measure_speed_queues_a_cpu_job_for_the_version(setup):
    project, _users, client, version = setup
    response = client.post(f"/api/projects/{project.pk}/models/{version.pk}/speed/")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.queue, job.params) == ("speed", "cpu", {"version": version.pk})
