"""Augmentation (issue 24) in the app: starting the job and its refusals, the job writing copies (all
or nothing), the filter, the experts' decisions, copies following their source, and copies staying out
of everything that counts human labels."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from annotator.importing.parsers import Record
from annotator.models import (
    AugmentedText,
    AugmentStatus,
    Item,
    Job,
    JobStatus,
    Label,
    ModelVersion,
    Project,
    Split,
    TaskType,
)
from annotator.selectors import augment as augment_selectors
from annotator.selectors.exports import export_stream
from annotator.selectors.labels import counted_item_counts
from annotator.selectors.noise import noise_inputs
from annotator.selectors.training import training_snapshot
from annotator.services import augment, jobs
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import queue_next_item
from annotator.services.review import item_adjudicate
from mlcore.augment import MAX_COPIES, available_ops
from workers.jobtask import JobCancelled

pytestmark = pytest.mark.django_db

# Scarce "Tech": the median count is 8, so Tech (3) is the only class below it by default.
COUNTS = {"Sport": 8, "Politics": 8, "Tech": 3}
WORDS = {
    "Sport": "the striker scored twice as the club won the final at the stadium",
    "Politics": "the minister told parliament the new budget would cut taxes for families",
    "Tech": "the new phone ships with a faster chip and a brighter screen this autumn",
}
# Ops of English that run offline, with no model: what a test can ask for.
LOCAL_OPS = [op.name for op in available_ops("en") if not op.needs_model]


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, str]]:
    calls: list[tuple[str, list, str]] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, args, queue)) or "tid"
    )
    return calls


def _import(project: Project, split: str, counts: dict[str, int], prefix: str = "") -> None:
    records = [
        Record(line=n + 1, text=f"{prefix}{topic} {i}: {WORDS[topic]} number {i}", labels=(topic,), meta={})
        for n, (topic, i) in enumerate((topic, i) for topic, count in counts.items() for i in range(count))
    ]
    import_parsed(project=project, records=records, split=split, report=ImportReport(format="test"))


def news_project(project_with_roles):
    """A project with labeled training items (Tech scarce), a locked test split and unlabeled pool items."""
    project, users = project_with_roles
    _import(project, Split.TRAIN, COUNTS)
    _import(project, Split.TEST, {topic: 2 for topic in COUNTS}, prefix="test ")
    Item.objects.bulk_create(
        [Item(project=project, text=f"pool text {i} about nothing", content_hash=f"pool{i}") for i in range(3)]
    )
    return project, users


@pytest.fixture
def news(project_with_roles):
    return news_project(project_with_roles)


def _label(project: Project, name: str) -> Label:
    return project.labels.get(name=name)


def _version(project: Project, names=("Sport", "Politics", "Tech")) -> ModelVersion:
    """A registered version row (its files are never read: the tests that filter set its probabilities)."""
    return ModelVersion.objects.create(
        project=project,
        number=ModelVersion.objects.filter(project=project).count() + 1,
        kind="text_cnn",
        data_hash="x",
        n_train=1,
        n_test=1,
        label_ids=[_label(project, name).pk for name in names],
        artifact_dir="nowhere",
    )


def _job(project: Project, **params) -> Job:
    return Job.objects.create(
        project=project,
        kind="augment",
        params={
            "ops": LOCAL_OPS[:2],
            "copies": 2,
            "classes": [_label(project, "Tech").pk],
            "use_filter": False,
            "model_version": None,
            "strength": 0.3,
            "random_state": 0,
            **params,
        },
    )


def _run(job: Job, progress=None) -> dict:
    return augment.augment_run_job(job=job, progress=progress or (lambda percent, message: None))


# --- starting -------------------------------------------------------------------------------------------------


def test_start_defaults_to_the_classes_below_the_median_and_queues_one_cpu_job(
    news, sent, django_capture_on_commit_callbacks
):
    project, users = news
    version = _version(project)
    with django_capture_on_commit_callbacks(execute=True):
        job = augment.augment_start(project=project, user=users["expert"], ops=LOCAL_OPS[:1], copies=2)
    assert (job.kind, job.queue, job.created_by) == ("augment", "cpu", users["expert"])
    assert job.params["classes"] == [_label(project, "Tech").pk]
    assert job.params["classes_chosen_by"] == augment.CHOSEN_BELOW_MEDIAN
    assert (job.params["model_version"], job.params["use_filter"]) == (version.pk, True)
    assert sent == [("labelloop.augment_items", [job.pk], "cpu")]
    with pytest.raises(ValidationError, match=f"job #{job.pk} is already queued"):
        augment.augment_start(project=project, user=users["expert"], ops=LOCAL_OPS[:1], copies=1)


def _plugin_op() -> str | None:
    return next((op.name for op in available_ops("en") if op.needs_model), None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ops": ["no_such_op"]}, "no_such_op"),
        ({"copies": 0}, f"copies must be a whole number from 1 to {MAX_COPIES}"),
        ({"copies": 1000}, f"copies must be a whole number from 1 to {MAX_COPIES}"),
        ({"copies": True}, "copies must be a whole number"),
        ({"strength": 0}, "strength must be a number above 0"),
        ({"classes": ["Empty"]}, "“Empty” has no labeled training items"),
        ({"classes": [10**9]}, "No label with id 1000000000 in this project"),
        ({"classes": ["Sport"]}, "classes are label ids (whole numbers)"),
        ({"use_filter": True}, "needs a trained model of this project: train one first, or turn the filter off"),
        ({"model_version": 10**9, "use_filter": True}, "No model version with id 1000000000"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(news, sent, kwargs, message):
    project, users = news
    empty = Label.objects.create(project=project, name="Empty")
    kwargs = {**kwargs, "classes": [empty.pk if c == "Empty" else c for c in kwargs.get("classes", [])] or None}
    if "model_version" in kwargs:
        _version(project)
    request = {"ops": LOCAL_OPS[:1], "copies": 1, "use_filter": False, **kwargs}
    with pytest.raises(ValidationError) as error:
        augment.augment_start(project=project, user=users["expert"], **request)
    assert message in " ".join(error.value.messages)
    assert not Job.objects.filter(kind="augment").exists() and not AugmentedText.objects.exists()
    assert sent == []


def test_the_filter_model_must_know_the_classes(news, sent):
    project, users = news
    _version(project, names=("Sport", "Politics"))
    with pytest.raises(ValidationError, match="was not trained on “Tech”"):
        augment.augment_start(project=project, user=users["expert"], ops=LOCAL_OPS[:1], copies=1)
    assert not Job.objects.filter(kind="augment").exists()


def test_a_plugin_directory_that_is_not_a_model_is_refused(news, sent, settings, tmp_path):
    op = _plugin_op()
    if op is None:
        pytest.skip("mlcore.augment has no plug-in op")
    project, users = news
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("hello")
    settings.LABELLOOP_AUGMENT_MODEL_DIRS = {op: str(tmp_path / "not-a-model")}
    with pytest.raises(ValidationError):
        augment.augment_start(project=project, user=users["expert"], ops=[op], copies=1, use_filter=False)
    assert not Job.objects.filter(kind="augment").exists()
    overview = augment_selectors.augment_overview(project=project)
    assert overview["plugins"][op] is True  # configured (the start checks whether it is a model)
    settings.LABELLOOP_AUGMENT_MODEL_DIRS = {}
    assert augment_selectors.augment_overview(project=project)["plugins"][op] is False


def test_a_multi_label_project_is_refused(news, sent):
    project, users = news
    Project.objects.filter(pk=project.pk).update(task_type=TaskType.MULTI_LABEL)
    project.refresh_from_db()
    with pytest.raises(ValidationError, match="single-label projects only"):
        augment.augment_start(project=project, user=users["expert"], ops=LOCAL_OPS[:1], copies=1)


# --- the job --------------------------------------------------------------------------------------------------


def test_the_job_writes_copies_of_the_chosen_classes_training_items_only(news):
    project, _ = news
    items_before = Item.objects.count()
    result = _run(_job(project))
    copies = list(AugmentedText.objects.filter(project=project))
    tech_train = set(
        Item.objects.filter(project=project, split=Split.TRAIN, text__startswith="Tech").values_list("id", flat=True)
    )
    assert copies and {copy.source_item_id for copy in copies} <= tech_train
    assert {copy.status for copy in copies} == {AugmentStatus.PENDING}
    assert all(copy.text != copy.source_item.text and copy.changed_spans for copy in copies)
    assert {copy.op for copy in copies} <= set(LOCAL_OPS[:2])
    assert result["copies"] == result["kept"] == len(copies) and result["kept_fraction"] == 1.0
    assert set(result["by_class"]) == {"Tech"} and sum(c["copies"] for c in result["by_op"].values()) == len(copies)
    assert Item.objects.count() == items_before  # copies are not items
    # A re-delivered task finds its copies stored and writes nothing twice.
    assert _run(Job.objects.get(pk=copies[0].job_id))["copies"] == len(copies)
    assert AugmentedText.objects.count() == len(copies)


def test_the_filter_stores_the_copies_it_rejects_as_rejected(news, monkeypatch):
    project, _ = news
    version = _version(project)
    tech = version.label_ids.index(_label(project, "Tech").pk)

    def predicts(version):  # every other copy looks like Sport to the model
        def predict_proba(texts):
            rows = np.full((len(texts), 3), 0.1)
            for row, text in enumerate(texts):
                rows[row, tech if len(text) % 2 else 0] = 0.8
            return rows

        return predict_proba

    monkeypatch.setattr(augment, "version_predict_proba", predicts)
    result = _run(_job(project, use_filter=True, model_version=version.pk))
    copies = list(AugmentedText.objects.filter(project=project))
    for copy in copies:
        kept = len(copy.text) % 2 == 1
        assert (copy.filtered_out, copy.status) == (not kept, AugmentStatus.PENDING if kept else AugmentStatus.REJECTED)
        assert copy.filter_confidence == pytest.approx(0.8 if kept else 0.1)
    assert 0 < result["kept"] < result["copies"]
    assert result["filtered_out"] == sum(copy.filtered_out for copy in copies)


def test_a_job_that_fails_or_is_cancelled_writes_nothing(news, monkeypatch):
    project, _ = news
    version = _version(project)

    def broken(version):
        def predict_proba(texts):
            raise RuntimeError("the model broke")

        return predict_proba

    monkeypatch.setattr(augment, "version_predict_proba", broken)
    with pytest.raises(RuntimeError):
        _run(_job(project, use_filter=True, model_version=version.pk))
    assert not AugmentedText.objects.exists()

    def cancel_when_storing(percent, message):
        if message.startswith("Storing"):
            raise JobCancelled

    with pytest.raises(JobCancelled):
        _run(_job(project), progress=cancel_when_storing)
    assert not AugmentedText.objects.exists()


def test_a_real_model_version_filters(news, settings):
    """The filter through a real registered version (a tiny character TextCNN trained here)."""
    from annotator.services import training

    project, users = news
    train_job = Job.objects.create(
        project=project,
        kind="train",
        params={"kind": "text_cnn", "tokenization": "char", "epochs": 2, "embedding_dim": 8, "num_filters": 4},
        created_by=users["admin"],
    )
    version = ModelVersion.objects.get(
        pk=training.training_run_job(job=train_job, progress=lambda p, m: None)["model_version"]
    )
    result = _run(_job(project, use_filter=True, model_version=version.pk))
    copies = AugmentedText.objects.filter(project=project)
    assert result["copies"] == copies.count() > 0
    assert all(0.0 <= copy.filter_confidence <= 1.0 for copy in copies)


# --- decisions, and copies following their source ------------------------------------------------------------


def test_decide_accepts_and_rejects_in_bulk_only_the_projects_copies(news, make_user):
    project, users = news
    _run(_job(project))
    ids = list(AugmentedText.objects.order_by("id").values_list("id", flat=True))
    assert augment.augment_decide(project=project, user=users["expert"], copy_ids=ids[:2], status="accepted") == 2
    accepted = AugmentedText.objects.filter(status=AugmentStatus.ACCEPTED)
    assert set(accepted.values_list("id", flat=True)) == set(ids[:2])
    assert {copy.decided_by for copy in accepted} == {users["expert"]}

    other = Project.objects.create(name="Other")
    for bad, message in ((ids[2:4], "No augmented copy with id"), ([], "at least one")):
        with pytest.raises(ValidationError, match=message):
            augment.augment_decide(project=other, user=users["expert"], copy_ids=bad, status="accepted")
    with pytest.raises(ValidationError, match="Unknown status 'maybe'"):
        augment.augment_decide(project=project, user=users["expert"], copy_ids=ids, status="maybe")
    with pytest.raises(ValidationError, match=f"No augmented copy with id {10**9}"):  # one bad id: nothing changes
        augment.augment_decide(project=project, user=users["expert"], copy_ids=[ids[3], 10**9], status="rejected")
    assert AugmentedText.objects.filter(status=AugmentStatus.REJECTED).count() == 0
    assert augment.augment_decide(project=project, user=users["expert"], copy_ids=ids[:1], status="pending") == 1
    assert AugmentedText.objects.get(pk=ids[0]).decided_by is None
    assert augment.augment_discard_pending(project=project) == len(ids) - 1
    assert list(AugmentedText.objects.values_list("id", flat=True)) == [ids[1]]


def test_copies_follow_a_relabel_and_a_delete_of_their_source(news):
    project, users = news
    _run(_job(project))
    source = AugmentedText.objects.order_by("id").first().source_item
    n_copies = source.augmented_copies.count()
    samples = augment_selectors.augment_samples(project=project, label_id=_label(project, "Tech").pk, limit=500)
    assert source.pk in {sample["source_item_id"] for sample in samples}

    item_adjudicate(item=source, by=users["expert"], labels=[_label(project, "Sport")])
    sport = augment_selectors.augment_samples(project=project, label_id=_label(project, "Sport").pk, limit=500)
    assert {sample["source_item_id"] for sample in sport} == {source.pk} and len(sport) == n_copies
    assert {sample["label"] for sample in sport} == {"Sport"}
    overview = {row["name"]: row for row in augment_selectors.augment_overview(project=project)["classes"]}
    assert overview["Sport"]["pending"] == n_copies

    source.delete()
    assert not AugmentedText.objects.filter(source_item_id=source.pk).exists()


def test_copies_stay_out_of_the_queue_pool_test_split_label_counts_and_exports(news):
    project, users = news
    counts, export = counted_item_counts(project=project), "".join(export_stream(project=project, fmt="jsonl"))
    snapshot, noise = training_snapshot(project=project), noise_inputs(project=project)
    _run(_job(project))
    AugmentedText.objects.update(status=AugmentStatus.ACCEPTED)
    assert counted_item_counts(project=project) == counts
    assert "".join(export_stream(project=project, fmt="jsonl")) == export
    assert training_snapshot(project=project) == snapshot  # training adds copies only when asked
    # Noise detection's folds never see copies (they are not items), so no copy can leak across folds.
    assert noise_inputs(project=project) == noise
    copy_texts = set(AugmentedText.objects.values_list("text", flat=True))
    served = queue_next_item(project=project, user=users["annotator"])
    assert served is not None and served.text not in copy_texts
    assert not Item.objects.filter(text__in=copy_texts).exists()


def test_overview_and_samples_for_the_page(news):
    project, _ = news
    _version(project)
    _run(_job(project))
    overview = augment_selectors.augment_overview(project=project)
    rows = {row["name"]: row for row in overview["classes"]}
    assert (rows["Tech"]["labeled"], rows["Sport"]["labeled"]) == (3, 8)
    assert rows["Tech"]["pending"] > 0 and rows["Tech"]["below_median"] and not rows["Sport"]["below_median"]
    assert overview["default_class_ids"] == [_label(project, "Tech").pk]
    assert {op["name"] for op in overview["ops"]} == {op.name for op in available_ops("en")}
    assert overview["filter_version"]["number"] == 1 and overview["max_copies"] == MAX_COPIES
    [sample] = augment_selectors.augment_samples(project=project, status="pending", limit=1)
    assert "".join(piece for piece, _ in sample["segments"]) == sample["text"]
    assert any(changed for _, changed in sample["segments"])
    assert augment_selectors.augment_samples(project=project, status="accepted") == []
    assert augment_selectors.augment_samples(project=project, op="no_such_op") == []


def test_segments_clip_bad_spans():
    assert augment_selectors.segments("abcdef", [[1, 3], [2, 4], [10, 12]]) == [
        ("a", False),
        ("bc", True),
        ("d", True),
        ("ef", False),
    ]
    assert augment_selectors.segments("abc", []) == [("abc", False)]


def test_a_job_for_a_class_that_lost_its_items_fails_clearly(news):
    project, _ = news
    job = _job(project)
    Item.objects.filter(project=project, text__startswith="Tech").delete()
    with pytest.raises(ValidationError, match="nothing to augment"):
        _run(job)
    assert job.status == JobStatus.QUEUED and not AugmentedText.objects.exists()
