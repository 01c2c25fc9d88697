"""Issue 20, API parity: the noise flags and their decisions (keep, relabel, exclude, reopen) over the API."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Exclusion, NoiseFlag, NoiseRun, NoiseSplit, NoiseStatus, Role
from annotator.services.imports import ImportRequest, import_file
from annotator.services.noise import (
    ALREADY_DECIDED_ERROR,
    FLAG_REPLACED_ERROR,
    REOPEN_RELABEL_ERROR,
    SAME_LABEL_ERROR,
    TEST_EXCLUDE_ERROR,
)
from annotator.services.projects import project_create

pytestmark = pytest.mark.django_db

ROWS = b"text,label\nThe striker scored twice,Sport\nThe budget passed,Politics\n"


@pytest.fixture
def world(project_with_roles):
    project, users = project_with_roles
    import_file(project=project, stream=io.BytesIO(ROWS), request=ImportRequest(filename="seed.csv"))
    test_rows = b"text,label\nThe final went to penalties,Politics\n"
    import_file(project=project, stream=io.BytesIO(test_rows), request=ImportRequest(filename="t.csv", split="test"))
    sport, politics = project.labels.get(name="Sport"), project.labels.get(name="Politics")
    run = NoiseRun.objects.create(project=project, encoder="test", n_items=2, n_flagged=1, test_items=1, test_flagged=1)

    def flag(text: str, given, suggested, split=NoiseSplit.TRAIN, score=0.9) -> NoiseFlag:
        return NoiseFlag.objects.create(
            project=project, run=run, item=project.items.get(text=text), split=split, given_label=given,
            suggested_label=suggested, score=score, votes=2, detectors=["kfold"],
        )  # fmt: skip

    flags = {
        "train": flag("The striker scored twice", sport, politics),
        "test": flag("The final went to penalties", politics, sport, split=NoiseSplit.TEST),
    }
    expert = APIClient()
    expert.force_authenticate(users[Role.EXPERT])
    return project, users, flags, expert


def _decide(client, project, flag, decision: str, data=None):
    url = reverse(f"api-noise-flag-{decision}", kwargs={"project_id": project.pk, "flag_id": flag.pk})
    return client.post(url, data or {}, format="json")


def test_status_and_flags_as_on_the_page(world):
    project, _users, flags, expert = world
    status = expert.get(reverse("api-noise-status", kwargs={"project_id": project.pk})).json()
    assert status["counts"]["open"] == 1
    assert status["audit_run"]["test_share_flagged"] == 1.0
    url = reverse("api-noise-flag-list", kwargs={"project_id": project.pk})
    train = expert.get(url).json()["results"]
    assert [(row["id"], row["given"][0]["path"], row["suggested"][0]["path"]) for row in train] == [
        (flags["train"].pk, "Sport", "Politics")
    ]
    audit = expert.get(url, {"split": "test"}).json()["results"]
    assert [row["text"] for row in audit] == ["The final went to penalties"]
    assert expert.get(url, {"status": "kept"}).json()["count"] == 0
    assert expert.get(url, {"status": "maybe"}).status_code == 400
    assert expert.get(url, {"run": 987654}).status_code == 404


def test_keep_then_reopen_then_exclude_then_reopen(world):
    """Issue 20: every decision of the noise page, and undo, over the API."""
    project, _users, flags, expert = world
    flag = flags["train"]
    kept = _decide(expert, project, flag, "keep")
    assert (kept.status_code, kept.json()["status"], kept.json()["decided_by"]) == (200, "kept", "expert_user")
    again = _decide(expert, project, flag, "exclude")
    assert (again.status_code, again.json()["detail"]) == (400, ALREADY_DECIDED_ERROR.format(status="kept"))
    assert _decide(expert, project, flag, "reopen").json()["status"] == "open"
    assert _decide(expert, project, flag, "exclude").json()["status"] == "excluded"
    assert Exclusion.objects.filter(item=flag.item).exists()
    assert _decide(expert, project, flag, "reopen").json()["status"] == "open"
    assert not Exclusion.objects.filter(item=flag.item).exists()


def test_relabel_gives_the_suggestion_or_the_chosen_label(world):
    project, _users, flags, expert = world
    flag = flags["train"]
    same = _decide(expert, project, flag, "relabel", {"label": project.labels.get(name="Sport").pk})
    assert (same.status_code, same.json()["detail"]) == (400, SAME_LABEL_ERROR.format(name="Sport"))
    unknown = _decide(expert, project, flag, "relabel", {"label": 987654})
    assert unknown.status_code == 400 and "987654" in unknown.json()["labels"][0]
    response = _decide(expert, project, flag, "relabel", {"note": "a budget story"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["relabeled_to"][0]["path"], body["current"][0]["path"]) == (
        "relabeled",
        "Politics",
        "Politics",
    )
    refused = _decide(expert, project, flag, "reopen")
    assert (refused.status_code, refused.json()["detail"]) == (400, REOPEN_RELABEL_ERROR)


def test_a_test_split_flag_cannot_be_excluded(world):
    project, _users, flags, expert = world
    response = _decide(expert, project, flags["test"], "exclude")
    assert (response.status_code, response.json()["detail"]) == (400, TEST_EXCLUDE_ERROR)
    assert NoiseFlag.objects.get(pk=flags["test"].pk).status == NoiseStatus.OPEN


def test_a_replaced_or_foreign_flag_is_404(world, make_user):
    project, _users, flags, expert = world
    other = project_create(name="Other", created_by=make_user("other_admin"))
    foreign_run = NoiseRun.objects.create(project=other, encoder="test")
    flag = flags["train"]
    NoiseFlag.objects.filter(pk=flag.pk).update(run=foreign_run, project=other)
    response = _decide(expert, project, flag, "keep")
    assert (response.status_code, response.json()["detail"]) == (404, FLAG_REPLACED_ERROR)


def test_corrections_are_for_admins(world):
    project, users, _flags, expert = world
    url = reverse("api-noise-corrections", kwargs={"project_id": project.pk})
    assert expert.get(url).status_code == 403
    admin = APIClient()
    admin.force_authenticate(users[Role.ADMIN])
    assert admin.get(url).status_code == 200
