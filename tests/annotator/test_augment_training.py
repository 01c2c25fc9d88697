"""Augmentation (issue 24) reaching training and the API: a training request with augmentation on trains
on the accepted copies only (with their source's current label) and the version records it; UDA's
consistency pairs; the augment API's answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from annotator.models import AugmentedText, AugmentStatus, Job, ModelVersion, Role
from annotator.services import augment, jobs, training
from annotator.services.review import item_adjudicate
from mlcore.models import TextCNN
from tests.annotator.test_augment_service import LOCAL_OPS, _job, _label, _run, news_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def news(project_with_roles):
    return news_project(project_with_roles)


@pytest.fixture
def sent(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, args)) or "tid")
    return calls


TINY_CNN = {"kind": "text_cnn", "tokenization": "char", "epochs": 1, "embedding_dim": 8, "num_filters": 4}


@pytest.fixture
def reviewed(news):
    """Copies of Tech's training items: two accepted, one rejected, the rest pending."""
    project, users = news
    _run(_job(project))
    ids = list(AugmentedText.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) >= 4
    augment.augment_decide(project=project, user=users["expert"], copy_ids=ids[:2], status="accepted")
    augment.augment_decide(project=project, user=users["expert"], copy_ids=ids[2:3], status="rejected")
    return project, users, ids


@pytest.fixture
def fit_calls(monkeypatch) -> list[tuple[list[str], list]]:
    """What every TextCNN fit saw (the real fit runs)."""
    calls = []
    original = TextCNN.fit

    def spy(self, X, y, **options):
        calls.append((list(X), list(y)))
        return original(self, X, y, **options)

    monkeypatch.setattr(TextCNN, "fit", spy)
    return calls


def _train(project, users, **params) -> ModelVersion:
    job = Job.objects.create(project=project, kind="train", params={**TINY_CNN, **params}, created_by=users["admin"])
    return ModelVersion.objects.get(pk=training.training_run_job(job=job, progress=lambda p, m: None)["model_version"])


def test_training_with_augmentation_uses_the_accepted_copies_only_and_records_it(reviewed, fit_calls):
    project, users, ids = reviewed
    plain = _train(project, users)
    assert plain.params["augmentation"] == {"used": False}
    augmented = _train(project, users, augmentation=True)
    (plain_texts, _), (texts, labels) = fit_calls
    accepted = list(AugmentedText.objects.filter(pk__in=ids[:2]).order_by("id"))
    assert texts == plain_texts + [copy.text for copy in accepted]
    assert labels[len(plain_texts) :] == [_label(project, "Tech").pk] * 2
    record = augmented.params["augmentation"]
    assert (record["used"], record["copies"]) == (True, 2)
    assert record["by_class"] == {str(_label(project, "Tech").pk): 2}
    assert sum(record["by_op"].values()) == 2 and set(record["by_op"]) <= set(LOCAL_OPS)
    assert "augmentation" not in augmented.params.get("kind", "") and augmented.n_train == plain.n_train
    assert augmented.data_hash != plain.data_hash  # same labels, other data: the hash says so

    # Relabeling a source follows through: its accepted copy trains with the new label.
    item_adjudicate(item=accepted[0].source_item, by=users["expert"], labels=[_label(project, "Sport")])
    relabeled = _train(project, users, augmentation=True)
    moved = sum(copy.source_item_id == accepted[0].source_item_id for copy in accepted)
    expected = {str(_label(project, "Sport").pk): moved, str(_label(project, "Tech").pk): 2 - moved}
    assert relabeled.params["augmentation"]["by_class"] == {key: n for key, n in expected.items() if n}


def test_a_training_request_with_augmentation_needs_accepted_copies(news, sent):
    project, users = news
    with pytest.raises(ValidationError, match="needs accepted augmented copies"):
        training.training_job_start(project=project, by=users["admin"], preset="text_cnn_chars", augmentation=True)
    assert not Job.objects.filter(kind="train").exists()
    _run(_job(project))
    AugmentedText.objects.update(status=AugmentStatus.ACCEPTED)
    job = training.training_job_start(project=project, by=users["admin"], preset="text_cnn_chars", augmentation=True)
    assert job.params["augmentation"] is True
    assert "augmentation" not in training._model_params(job.params, project)  # never a model option


def test_consistency_training_gets_unlabeled_pool_texts_and_one_copy_each(news):
    project, _ = news

    on, off = SimpleNamespace(consistency_weight=1.0), SimpleNamespace(consistency_weight=0.0)
    options = training._consistency_option(on, project, lambda p, m: None)
    texts, copies = options["consistency_pairs"]
    assert sorted(texts) == sorted(project.items.filter(text__startswith="pool").values_list("text", flat=True))
    assert len(copies) == len(texts) and any(copy != text for copy, text in zip(copies, texts, strict=True))
    assert training._consistency_option(off, project, print) == {}
    assert training._consistency_option(SimpleNamespace(), project, print) == {}  # a kind without UDA


def test_a_text_cnn_with_consistency_weight_trains_on_pool_pairs(news, monkeypatch):
    from mlcore.training_options import OPTION_SPECS

    assert "consistency_weight" in {option.name for option in OPTION_SPECS["text_cnn"]}
    project, users = news
    seen = {}
    original = TextCNN.fit

    def spy(self, X, y, **options):
        seen.update(options)
        return original(self, X, y, **options)

    monkeypatch.setattr(TextCNN, "fit", spy)
    version = _train(project, users, consistency_weight=1.0)
    texts, copies = seen["consistency_pairs"]
    assert len(texts) == len(copies) == 3 and version.params["consistency_weight"] == 1.0


# --- the API --------------------------------------------------------------------------------------------------


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_starts_lists_and_decides(news, sent):
    project, users = news
    client, base = _client(users[Role.EXPERT]), f"/api/projects/{project.pk}/augment/"
    overview = client.get(base).json()
    assert overview["default_class_ids"] == [_label(project, "Tech").pk]
    answer = client.post(base, {"ops": LOCAL_OPS[:2], "copies": 2, "use_filter": False}, format="json")
    assert answer.status_code == 202, answer.content
    job = Job.objects.get(pk=answer.json()["id"])
    _run(job)
    samples = client.get(base + "samples/", {"status": "pending", "label": _label(project, "Tech").pk}).json()[
        "results"
    ]
    assert samples and all(sample["label"] == "Tech" for sample in samples)
    assert client.get(base + "samples/", {"label": _label(project, "Sport").pk}).json()["results"] == []
    ids = [sample["id"] for sample in samples[:2]]
    assert client.post(base + "decide/", {"ids": ids, "status": "accepted"}, format="json").json() == {"changed": 2}
    assert set(AugmentedText.objects.filter(status="accepted").values_list("id", flat=True)) == set(ids)
    assert client.get(base + "samples/", {"status": "maybe"}).status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ops": ["no_such_op"], "copies": 1}, "no_such_op"),
        ({"ops": ["swap"], "copies": 0}, "copies must be a whole number"),
        ({"ops": ["swap"], "copies": 1000}, "copies must be a whole number"),
        ({"ops": ["swap"], "copies": 1, "classes": [10**9]}, "No label with id"),
        ({"ops": ["swap"], "copies": 1}, "needs a trained model of this project"),
    ],
)
def test_the_api_answers_bad_input_with_400_and_creates_nothing(news, sent, body, message):
    project, users = news
    answer = _client(users[Role.ADMIN]).post(f"/api/projects/{project.pk}/augment/", body, format="json")
    assert answer.status_code == 400 and message in answer.json()["detail"], answer.content
    assert not Job.objects.filter(kind="augment").exists()


def test_deciding_another_projects_copies_is_a_400_that_changes_nothing(news, make_user):
    from annotator.services.projects import project_create

    project, users = news
    _run(_job(project))
    other = project_create(name="Other", created_by=users[Role.ADMIN])
    copy = AugmentedText.objects.first()
    answer = _client(users[Role.ADMIN]).post(
        f"/api/projects/{other.pk}/augment/decide/", {"ids": [copy.pk], "status": "accepted"}, format="json"
    )
    assert answer.status_code == 400 and "No augmented copy" in answer.json()["detail"]
    assert AugmentedText.objects.get(pk=copy.pk).status == AugmentStatus.PENDING


def test_cancel_refuses_other_job_kinds(news):
    project, users = news
    other = Job.objects.create(project=project, kind="selfcheck")
    answer = _client(users[Role.EXPERT]).post(f"/api/projects/{project.pk}/augment/{other.pk}/cancel/")
    assert answer.status_code == 400 and "not an augmentation job" in answer.json()["detail"]
