"""The active-learning page: learning curve, per-class estimates, stopping signal, rescoring."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Job, ModelVersion, ScoreRun
from annotator.services import jobs
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: "tid")


def _law(n: int, a: float) -> float:
    return a - 1.2 * n**-0.6


def _history(project, labels, agreements):
    """Three fast-head versions: "Sport" is learned fast, "Politics" plateaus below the target."""
    sport, politics = labels
    for number, n in enumerate((10, 20, 40), 1):
        metrics = {
            "macro_f1": (_law(n, 1.0) + _law(n, 0.7)) / 2,
            "evaluation": "cross_validation" if number == 1 else "test",
            "class_counts": {str(sport.pk): n, str(politics.pk): n},
            "per_class": [{"label": sport.pk, "f1": _law(n, 1.0)}, {"label": politics.pk, "f1": _law(n, 0.7)}],
        }
        version = ModelVersion.objects.create(
            project=project, number=number, kind="fast_head", data_hash="x", n_train=2 * n, n_test=0,
            label_ids=[sport.pk, politics.pk], metrics=metrics, artifact_dir=f"models/v{number}",
        )  # fmt: skip
        stats = {"agreement": agreements[number - 2], "previous_version": number - 1} if number > 1 else {}
        ScoreRun.objects.create(
            project=project, model_name=f"fast head v{number}", strategy="entropy", model_version=version, stats=stats
        )


def test_the_page_shows_the_curve_the_estimates_and_the_stopping_signal(project_with_roles):
    project, users = project_with_roles
    labels = [label_create(project=project, name=name, by=users["admin"]) for name in ("Sport", "Politics")]
    label_create(project=project, name="Tech", by=users["admin"])
    browser = Client()
    browser.force_login(users["annotator"])
    url = f"/projects/{project.pk}/active-learning/"
    empty = browser.get(url).content.decode()
    assert "No fast head yet" in empty and "No signal yet" in empty and "Rescore now" not in empty

    _history(project, labels, agreements=[0.90, 0.985])
    page = browser.get(url).content.decode()
    assert page.count('<svg class="curve"') == 2
    assert 'class="cv"' in page and 'class="test"' in page
    assert "Predictions still changing: 98.5%" in page
    assert "not reachable at this rate" in page  # Politics plateaus at 0.7
    assert "not enough data to estimate" in page  # Tech has no points
    sport_row = page.split("Sport</td>")[1].split("</tr>")[0]
    assert "more" in sport_row or "enough" in sport_row
    assert "Queue ordered by <strong>fast head v3</strong>" in page
    assert "25 new labels until the next automatic rescoring" in page

    ScoreRun.objects.filter(model_version__number=2).update(stats={"agreement": 0.99})
    assert "Predictions stable: 98.5% agree (threshold 97%)" in browser.get(url).content.decode()


def test_rescore_now_queues_one_job_for_admins_and_is_refused_to_annotators(project_with_roles):
    project, users = project_with_roles
    url = f"/projects/{project.pk}/active-learning/rescore/"
    annotator = Client()
    annotator.force_login(users["annotator"])
    assert annotator.post(url).status_code == 403
    admin = Client()
    admin.force_login(users["admin"])
    assert admin.post(url).status_code == 302
    assert admin.post(url).status_code == 302  # coalesced
    job = Job.objects.get(project=project, kind="rescore")
    page = admin.get(f"/projects/{project.pk}/active-learning/")
    assert f"#{job.pk}</a>" in page.content.decode() and "Rescore now" in page.content.decode()
    partial = admin.get(f"/projects/{project.pk}/active-learning/", headers={"HX-Request": "true"}).content.decode()
    assert partial.startswith('<section class="card" id="al-status"') and "every 2s" in partial

    api = APIClient()
    api.force_authenticate(users["admin"])
    again = api.post(f"/api/projects/{project.pk}/rescore/")
    assert again.status_code == 200 and again.json() == {**again.json(), "created": False}
    assert again.json()["job"]["id"] == job.pk
    Job.objects.filter(pk=job.pk).update(status="running")
    # One rescore at a time (issue 19, finding 14): the running one is asked for a follow-up run.
    marked = api.post(f"/api/projects/{project.pk}/rescore/")
    assert marked.status_code == 200 and marked.json()["job"]["id"] == job.pk and not marked.json()["created"]
    assert Job.objects.get(pk=job.pk).rerun_requested
