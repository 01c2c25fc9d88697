"""Issue 21, serving: the promotion gate and its history, seed rules' measured precision and the rules
bypass at /predict, the synchronous endpoint's bad inputs, batch prediction over a file or the whole
pool, and the Predict page. A tiny character TextCNN serves (no encoder needed)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotator.models import Annotation, AnnotationLabel, Job, JobStatus, ModelVersion, Promotion, Role, Split
from annotator.selectors.rules import MIN_PRECISION_MATCHES
from annotator.services import jobs, rules
from annotator.services.predictions import predict_batch_run_job
from annotator.services.project_settings import project_settings_update
from annotator.services.training import REASON_REQUIRED, model_version_activate, predict_texts
from mlcore.models import TextCNN
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db

SPORT_TEXTS = ["goal", "match", "cup final"]
POLITICS_TEXTS = ["vote", "minister", "parliament"]


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, queue)) or "tid")
    return calls


def _version(project, number: int, macro_f1: float | None, labels) -> ModelVersion:
    """A registered tiny char TextCNN with the given macro-F1 (the gate reads only the metrics)."""
    model = TextCNN(tokenization="char", min_count=1, embedding_dim=8, num_filters=4, epochs=1, random_state=number)
    model.fit(SPORT_TEXTS + POLITICS_TEXTS, [labels[0].pk] * 3 + [labels[1].pk] * 3)
    relative = f"models/project-{project.pk}/v{number}-{uuid.uuid4().hex[:8]}"
    model.save(Path(settings.ARTIFACT_ROOT) / relative)
    return ModelVersion.objects.create(
        project=project, number=number, kind=model.kind, data_hash="0" * 64, n_train=6, n_test=4,
        label_ids=[int(label) for label in model.classes_], metrics={"macro_f1": macro_f1}, artifact_dir=relative,
    )  # fmt: skip


@pytest.fixture
def served(project_with_roles):
    """A project with two labels and three versions: v1 (F1 0.90), v2 (0.895: within 1 point), v3 (0.80)."""
    project, users = project_with_roles
    labels = (project.labels.create(name="Sport", order=0), project.labels.create(name="Politics", order=1))
    versions = [
        _version(project, 1, 0.90, labels),
        _version(project, 2, 0.895, labels),
        _version(project, 3, 0.80, labels),
    ]
    return project, users, labels, versions


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _label(item, label) -> None:
    annotation = Annotation.objects.create(item=item, source="human")
    AnnotationLabel.objects.create(annotation=annotation, label=label)


# --- the promotion gate --------------------------------------------------------------------------------------


def test_the_first_activation_and_a_small_drop_need_no_reason_a_large_drop_does(served):
    project, users, _, (v1, v2, v3) = served
    admin = users[Role.ADMIN]
    api = _client(admin)
    url = f"/api/projects/{project.pk}/models/{{}}/activate/"
    assert api.post(url.format(v1.pk), {}, format="json").status_code == 200  # first: no active version yet
    assert api.post(url.format(v2.pk), {}, format="json").status_code == 200  # 0.5 point below: within 1

    refused = api.post(url.format(v3.pk), {"reason": "   "}, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == REASON_REQUIRED
    assert "macro-F1 0.800, 9.5 points below the active text_cnn v2 (0.895)" in body["detail"]
    project.refresh_from_db()
    assert project.active_model == v2 and Promotion.objects.count() == 2  # nothing changed

    accepted = api.post(url.format(v3.pk), {"reason": "10x faster; the drop is on a rare label"}, format="json")
    assert accepted.status_code == 200, accepted.content
    project.refresh_from_db()
    assert project.active_model == v3
    history = api.get(f"/api/projects/{project.pk}/models/promotions/").json()
    assert [(row["version_number"], row["previous_number"]) for row in history] == [(3, 2), (2, 1), (1, None)]
    newest = history[0]
    assert (newest["by"], newest["reason"], newest["reason_required"]) == (
        admin.username,
        "10x faster; the drop is on a rare label",
        True,
    )
    assert (newest["f1"], newest["previous_f1"]) == (0.80, 0.895)
    assert history[1]["reason"] == "" and history[1]["reason_required"] is False


def test_the_allowed_drop_is_a_project_setting_and_an_unevaluated_version_needs_a_reason(served):
    project, users, labels, (v1, _, v3) = served
    admin = users[Role.ADMIN]
    model_version_activate(version=v1, by=admin)
    response = _client(admin).patch(
        f"/api/projects/{project.pk}/settings/", {"promotion_max_f1_drop": 0.1}, format="json"
    )
    assert response.status_code == 200 and response.json()["promotion_max_f1_drop"] == 0.1
    project.refresh_from_db()
    model_version_activate(version=v3, by=admin)  # 10 points below, 10 allowed
    unevaluated = _version(project, 4, None, labels)
    with pytest.raises(Exception, match="no macro-F1 to compare") as refused:
        model_version_activate(version=unevaluated, by=admin)
    assert refused.value.code == REASON_REQUIRED
    bad = _client(admin).patch(f"/api/projects/{project.pk}/settings/", {"promotion_max_f1_drop": 2}, format="json")
    assert bad.status_code == 400 and "promotion_max_f1_drop" in json.dumps(bad.json())


def test_only_admins_activate_and_the_reason_is_bounded(served):
    project, users, _, (v1, *_) = served
    url = f"/api/projects/{project.pk}/models/{v1.pk}/activate/"
    assert _client(users[Role.EXPERT]).post(url, {}, format="json").status_code == 403
    too_long = _client(users[Role.ADMIN]).post(url, {"reason": "x" * 2001}, format="json")
    assert too_long.status_code == 400
    client = Client()
    client.force_login(users[Role.ADMIN])
    nul = client.post(f"/projects/{project.pk}/models/{v1.pk}/activate/", {"reason": "a\x00b"})
    assert nul.status_code == 400 and "without NUL" in nul.content.decode()
    assert not Promotion.objects.exists()


def test_the_page_asks_for_a_reason_and_shows_who_when_and_why(served, client):
    project, users, _, (_v1, v2, v3) = served
    admin = users[Role.ADMIN]
    model_version_activate(version=v2, by=admin)
    client.force_login(admin)
    detail = client.get(f"/projects/{project.pk}/models/{v3.pk}/").content.decode()
    assert "Give a reason to make it active anyway" in detail and 'name="reason"' in detail

    refused = client.post(f"/projects/{project.pk}/models/{v3.pk}/activate/", {"reason": ""})
    assert refused.status_code == 400
    assert 'id="gate-error"' in refused.content.decode()
    project.refresh_from_db()
    assert project.active_model == v2

    done = client.post(f"/projects/{project.pk}/models/{v3.pk}/activate/", {"reason": "Ship the fast student"})
    assert done.status_code == 302
    models_page = client.get(f"/projects/{project.pk}/models/").content.decode()
    history = models_page[models_page.index('id="promotions"') :]
    assert "Ship the fast student" in history and admin.username in history and "first active version" in history
    assert "Ship the fast student" in client.get(f"/projects/{project.pk}/models/{v3.pk}/").content.decode()


# --- rule precision and the rules bypass ----------------------------------------------------------------------


@pytest.fixture
def ruled(served):
    """Seven labeled "goal" items (six Sport, one Politics), one test item, and a seed rule on "goal"."""
    project, users, (sport, politics), versions = served
    for n in range(7):
        item = project.items.create(text=f"a goal number {n}", content_hash=f"g{n}")
        _label(item, sport if n < 6 else politics)
    test_item = project.items.create(text="a goal in the test split", content_hash="t", split=Split.TEST)
    _label(test_item, politics)  # the test split never counts
    rule = rules.rule_create(project=project, name="goal", pattern="goal", label=sport, by=users[Role.EXPERT])
    return project, users, (sport, politics), versions, rule


def test_a_seed_rule_s_precision_is_measured_on_human_labels_outside_the_test_split(ruled, client):
    project, users, (sport, _politics), _, rule = ruled
    rule.refresh_from_db()
    assert (rule.precision, rule.precision_matches) == (pytest.approx(6 / 7), 7)
    few = rules.rule_create(project=project, name="number 1", pattern="number 1", label=sport, by=users[Role.EXPERT])
    few.refresh_from_db()
    assert few.precision is None and few.precision_matches == 1 < MIN_PRECISION_MATCHES
    client.force_login(users[Role.EXPERT])
    page = client.get(f"/projects/{project.pk}/rules/").content.decode()
    assert "0.86" in page and "of 7" in page
    assert _client(users[Role.EXPERT]).get(f"/api/projects/{project.pk}/rules/").json()[0]["precision_matches"] >= 1


def test_activation_measures_the_rules_again(ruled):
    project, users, (_sport, politics), (v1, *_), rule = ruled
    item = project.items.create(text="goal of the minister", content_hash="m")
    _label(item, politics)
    model_version_activate(version=v1, by=users[Role.ADMIN])
    rule.refresh_from_db()
    assert (rule.precision, rule.precision_matches) == (pytest.approx(6 / 8), 8)


def test_the_rules_bypass_decides_only_where_the_model_is_unsure(ruled):
    project, users, (sport, _), (v1, *_), rule = ruled
    model_version_activate(version=v1, by=users[Role.ADMIN])
    texts = ["the goal of the season", "parliament votes"]

    _, off = predict_texts(project=project, texts=texts)
    assert [p["decided_by"] for p in off] == [{"type": "model"}] * 2  # off by default

    admin = users[Role.ADMIN]
    project_settings_update(
        project=project,
        changes={"rules_bypass": True, "rules_bypass_min_precision": 0.8, "rules_bypass_below_confidence": 1.0},
        by=admin,
    )
    _, unsure = predict_texts(project=project, texts=texts)
    assert unsure[0]["decided_by"] == {"type": "rule", "rule_id": rule.pk, "rule": "goal", "precision": 0.8571}
    assert unsure[0]["labels"] == [{"id": sport.pk, "name": "Sport"}]
    assert set(unsure[0]["probabilities"]) == {"Sport", "Politics"}  # the model's, always
    assert unsure[1]["decided_by"] == {"type": "model"}  # no rule matches it

    project_settings_update(project=project, changes={"rules_bypass_below_confidence": 0.0}, by=admin)
    _, confident = predict_texts(project=project, texts=texts)
    assert confident[0]["decided_by"] == {"type": "model"}  # a confident model overrides the rule

    project_settings_update(
        project=project, changes={"rules_bypass_below_confidence": 1.0, "rules_bypass_min_precision": 0.9}, by=admin
    )
    _, imprecise = predict_texts(project=project, texts=texts)
    assert imprecise[0]["decided_by"] == {"type": "model"}  # 0.86 is below the required precision

    rule.refresh_from_db()
    project_settings_update(project=project, changes={"rules_bypass_min_precision": 0.8}, by=admin)
    response = _client(users[Role.ANNOTATOR]).post(
        f"/api/projects/{project.pk}/predict", {"texts": texts}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["decided_by"]["rule_id"] == rule.pk


# --- the synchronous endpoint's bad inputs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"texts": []}, 400, "texts"),
        ({"texts": [1, 2]}, 400, "must be a JSON string; got a number"),
        ({"texts": ["ok", None]}, 400, "texts"),
        ({"texts": None}, 400, "texts"),
        ({}, 400, "texts"),
        ({"texts": "goal"}, 400, "texts"),
        ({"texts": ["goal"] * 33}, 413, "/predict/batch/"),
        ({"texts": ["x" * 64_001]}, 413, "/predict/batch/"),
    ],
)
def test_bad_predict_requests_get_a_clear_error(served, body, status, says):
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    response = _client(users[Role.ANNOTATOR]).post(f"/api/projects/{project.pk}/predict", body, format="json")
    assert response.status_code == status, response.content
    assert says in json.dumps(response.json())


# --- batch prediction over a file or the pool ------------------------------------------------------------------


def _run(job: Job) -> dict:
    result = predict_batch_run_job(job=job, progress=lambda p, m: None)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, result=result)
    return result


def _lines(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("texts.csv", 'text,label\ngoal,Sport\n"vote, again",x\nminister,\n'),
        ("texts.jsonl", '{"text": "goal"}\n{"text": "vote, again"}\n{"text": "minister", "label": "x"}\n'),
        ("texts.txt", "goal\nvote, again\nminister\n"),
    ],
)
def test_a_file_of_texts_is_predicted_by_a_job_and_downloaded(served, sent, name, content):
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    api = _client(users[Role.ANNOTATOR])
    upload = SimpleUploadedFile(name, content.encode())
    response = api.post(f"/api/projects/{project.pk}/predict/batch/file/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.params["source"], job.params["texts"], job.params["filename"]) == (
        "predict",
        "file",
        3,
        name,
    )
    assert _run(job)["texts"] == 3
    rows = _lines(api.get(f"/api/projects/{project.pk}/predict/batch/{job.pk}/"))
    assert [row["index"] for row in rows] == [0, 1, 2]
    assert all(set(row) == {"index", "labels", "probabilities", "decided_by"} for row in rows)


def test_a_bad_prediction_file_is_a_400_naming_the_line_and_starts_nothing(served, sent):
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    api = _client(users[Role.ANNOTATOR])
    url = f"/api/projects/{project.pk}/predict/batch/file/"
    bad = api.post(url, {"file": SimpleUploadedFile("t.jsonl", b'{"text": "a"}\n{"text": 3}\n')}, format="multipart")
    assert bad.status_code == 400 and bad.json()["line"] == 2
    unknown = api.post(url, {"file": SimpleUploadedFile("t.pdf", b"%PDF")}, format="multipart")
    assert unknown.status_code == 400
    assert api.post(url, {}, format="multipart").status_code == 400
    assert not Job.objects.exists() and not sent


def test_the_whole_pool_is_predicted_with_results_keyed_by_item_id(served, sent):
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    ids = [project.items.create(text=text, content_hash=text).pk for text in ("goal", "vote", "cup")]
    url = f"/api/projects/{project.pk}/predict/batch/pool/"
    assert _client(users[Role.ANNOTATOR]).post(url).status_code == 403
    expert = _client(users[Role.EXPERT])
    response = expert.post(url)
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.params["source"], job.params["texts"], job.queue) == ("pool", 3, "cpu")
    assert _run(job) == {"texts": 3, "model_version": 1, "source": "pool"}
    rows = _lines(expert.get(f"/api/projects/{project.pk}/predict/batch/{job.pk}/"))
    assert [row["item_id"] for row in rows] == ids


def test_the_predict_page_answers_texts_and_starts_batches(served, sent, client):
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    project.items.create(text="goal", content_hash="goal")
    client.force_login(users[Role.EXPERT])
    url = f"/projects/{project.pk}/predict/"
    assert "Predict the file" in client.get(url).content.decode()
    answered = client.post(url, {"texts": "goal\n\nparliament\n"})
    assert answered.status_code == 200
    html = answered.content.decode()
    assert html.count('class="predicted"') == 2 and "model" in html
    assert client.post(url, {"texts": "  \n"}).status_code == 400
    assert client.post(url, {"texts": "\n".join(["goal"] * 33)}).status_code == 413

    upload = SimpleUploadedFile("few.txt", b"goal\nvote\n")
    assert client.post(f"/projects/{project.pk}/predict/file/", {"file": upload}).status_code == 302
    assert client.post(f"/projects/{project.pk}/predict/pool/").status_code == 302
    file_job, pool_job = Job.objects.order_by("pk")
    _run(file_job)
    page = client.get(url).content.decode()
    assert "few.txt" in page and f"/predict/{file_job.pk}/download/" in page
    assert f"/predict/{pool_job.pk}/download/" not in page  # not done yet: the table polls
    download = client.get(f"/projects/{project.pk}/predict/{file_job.pk}/download/")
    assert download.status_code == 200
    assert len(io.BytesIO(b"".join(download.streaming_content)).read().splitlines()) == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_file_and_pool_predictions_run_on_the_worker(served, celery_worker):
    """The `predict` job of an uploaded file and of the whole pool, on a real worker (queue `cpu`)."""
    project, users, _, (v1, *_) = served
    model_version_activate(version=v1, by=users[Role.ADMIN])
    ids = [project.items.create(text=f"goal {n}", content_hash=f"w{n}").pk for n in range(300)]
    celery_worker()
    expert = _client(users[Role.EXPERT])
    upload = SimpleUploadedFile("few.txt", b"goal\nvote\n")
    started = [
        expert.post(f"/api/projects/{project.pk}/predict/batch/file/", {"file": upload}, format="multipart"),
        expert.post(f"/api/projects/{project.pk}/predict/batch/pool/"),
    ]
    assert [response.status_code for response in started] == [202, 202]
    file_job, pool_job = (Job.objects.get(pk=response.json()["id"]) for response in started)

    def finished() -> bool:
        return all(Job.objects.get(pk=job.pk).is_finished for job in (file_job, pool_job))

    wait_for(finished, timeout=90, message="the batch predictions")
    for job in (file_job, pool_job):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
    assert len(_lines(expert.get(f"/api/projects/{project.pk}/predict/batch/{file_job.pk}/"))) == 2
    pool_rows = _lines(expert.get(f"/api/projects/{project.pk}/predict/batch/{pool_job.pk}/"))
    assert [row["item_id"] for row in pool_rows] == ids
