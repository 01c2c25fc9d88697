"""The active-learning loop's service: every N-th new label queues one rescoring (coalesced, also
under concurrency), and a rescoring job trains the fast head, registers it, and reorders the queue."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from annotator.importing.parsers import Record
from annotator.models import Item, Job, JobStatus, ModelVersion, Project, ScoreRun, Split
from annotator.selectors.training import training_snapshot
from annotator.services import active_learning, embeddings, jobs, training
from annotator.services.active_learning import RESCORE_KIND, rescore_request, rescore_run_job
from annotator.services.demo import bbc_articles
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import annotation_submit, queue_next_item
from annotator.services.review import item_adjudicate
from annotator.services.training import model_version_activate, predict_texts, trained_model
from mlcore.active_learning import DEFAULT_STRATEGY
from mlcore.models import DEFAULT_SELF_TRAINING, FastHead
from mlcore.semi_supervised import neighbour_graph

TOPICS = ("Sport", "Politics", "Tech")


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, str]]:
    """Tasks the services enqueue (no broker traffic)."""
    calls: list[tuple[str, list, str]] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, args, queue)) or "tid"
    )
    return calls


def _news(project: Project, *, pool_per_topic: int, test_per_topic: int) -> None:
    """Article openings: a pool with gold labels in meta, and a labeled locked test split."""
    counts = dict.fromkeys(TOPICS, 0)
    pool, test = [], []
    for text, label, _ in bbc_articles():
        if label not in counts or counts[label] >= pool_per_topic + test_per_topic:
            continue
        counts[label] += 1
        (pool if counts[label] <= pool_per_topic else test).append((text[:200], label))
    test_records = [Record(line=n, text=t, labels=(label,), meta={}) for n, (t, label) in enumerate(test, 1)]
    pool_records = [
        Record(line=n, text=t, labels=(), meta={"gold_label": label}) for n, (t, label) in enumerate(pool, 1)
    ]
    import_parsed(project=project, records=test_records, split=Split.TEST, report=ImportReport(format="test"))
    import_parsed(project=project, records=pool_records, split=Split.POOL, report=ImportReport(format="test"))
    for topic in TOPICS:  # the pool's labels, even when the test split is empty
        project.labels.get_or_create(name=topic)


def _label_next(project: Project, user, count: int) -> list[Item]:
    labels = {label.name: label for label in project.labels.all()}
    done = []
    for _ in range(count):
        item = queue_next_item(project=project, user=user)
        annotation_submit(item=item, annotator=user, labels=[labels[item.meta["gold_label"]]])
        done.append(item)
    return done


def _rescore_jobs(project: Project):
    return Job.objects.filter(project=project, kind=RESCORE_KIND)


@pytest.mark.django_db
def test_every_nth_new_label_queues_one_rescoring_after_commit(
    project_with_roles, sent, django_capture_on_commit_callbacks
):
    project, users = project_with_roles
    project.al_every_labels = 5
    project.save()
    _news(project, pool_per_topic=6, test_per_topic=0)
    with django_capture_on_commit_callbacks(execute=True):
        first = _label_next(project, users["annotator"], 4)
    assert not _rescore_jobs(project).exists()
    with django_capture_on_commit_callbacks(execute=True):  # a resubmit is not a new label
        annotation_submit(item=first[0], annotator=users["annotator"], labels=[project.labels.get(name="Tech")])
    assert not _rescore_jobs(project).exists()
    with django_capture_on_commit_callbacks(execute=True):
        _label_next(project, users["annotator"], 1)
    job = _rescore_jobs(project).get()
    assert (job.status, job.queue, job.params["reason"], job.created_by) == (
        "queued",
        "cpu",
        "labels",
        users["annotator"],
    )
    assert sent == [("labelloop.rescore_pool", [job.pk], "cpu")]
    with django_capture_on_commit_callbacks(execute=True):  # the next burst joins the waiting job
        _label_next(project, users["annotator"], 5)
    assert _rescore_jobs(project).count() == 1 and len(sent) == 1
    project.refresh_from_db()
    assert project.al_label_counter == 10


@pytest.mark.django_db
def test_an_experts_decision_counts_as_a_label_when_it_sets_or_changes_the_final_label(project_with_roles, sent):
    project, users = project_with_roles
    _news(project, pool_per_topic=2, test_per_topic=0)
    item = project.items.first()
    sport, tech = project.labels.get(name="Sport"), project.labels.get(name="Tech")
    item_adjudicate(item=item, by=users["expert"], labels=[sport])
    item_adjudicate(item=item, by=users["expert"], labels=[sport], note="same label: no new information")
    item_adjudicate(item=item, by=users["expert"], labels=[tech])
    project.refresh_from_db()
    assert project.al_label_counter == 2


@pytest.mark.django_db
def test_requests_coalesce_into_the_waiting_job_and_one_follow_up_runs_after_a_running_one(
    project_with_roles, sent, django_capture_on_commit_callbacks
):
    project, users = project_with_roles
    with django_capture_on_commit_callbacks(execute=True):
        first, created = rescore_request(project=project, by=users["admin"])
        again, created_again = rescore_request(project=project, by=users["admin"])
    assert created and not created_again and again == first
    assert "asked again" in Job.objects.get(pk=first.pk).log
    Job.objects.filter(pk=first.pk).update(status=JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        marked, created = rescore_request(project=project, by=users["admin"])
        joined, created_again = rescore_request(project=project, by=users["admin"])
    # Finding 14: nothing is queued beside a running rescore; it is asked for one more run instead.
    assert marked == first and joined == first and not created and not created_again
    assert Job.objects.get(pk=first.pk).rerun_requested and len(sent) == 1
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_succeed(job_id=first.pk, result={})
    follow_up = _rescore_jobs(project).filter(status=JobStatus.QUEUED).get()
    assert follow_up.params["reason"] == "rerun" and len(sent) == 2
    # A queued job whose message was lost (never picked up) no longer blocks the loop.
    Job.objects.filter(pk=follow_up.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    replacement, created = rescore_request(project=project, by=users["admin"])
    assert created and Job.objects.get(pk=follow_up.pk).status == JobStatus.FAILED
    assert _rescore_jobs(project).filter(status=JobStatus.QUEUED).get() == replacement


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_queue_exactly_one_job(project_with_roles, sent):
    project, users = project_with_roles
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            rescore_request(project=project, by=users["admin"])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert _rescore_jobs(project).filter(status=JobStatus.QUEUED).count() == 1
    assert len(sent) == 1


def _run(project: Project, by) -> dict:
    job = Job.objects.create(
        project=project, kind=RESCORE_KIND, queue="cpu", params={}, created_by=by, status=JobStatus.RUNNING
    )
    seen: list[float] = []
    result = rescore_run_job(job=job, progress=lambda p, m: seen.append(p))
    assert seen == sorted(seen) and seen[-1] == 100
    # Finished, as its task would: a project has one unfinished rescore at most (a database constraint).
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    return result


@pytest.mark.django_db
def test_a_rescoring_trains_registers_and_reorders_the_open_pool(project_with_roles, allowed_tiny_backbone, sent):
    project, users = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.al_every_labels = 6
    project.save()
    _news(project, pool_per_topic=12, test_per_topic=2)  # 2 test items per class: cross-validation
    assert "skipped" in _run(project, users["admin"])  # nothing labeled yet: nothing stored
    assert not ScoreRun.objects.exists() and not ModelVersion.objects.exists()

    labeled = _label_next(project, users["annotator"], 12)
    result = _run(project, users["admin"])
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert (version.kind, version.n_train, version.metrics["evaluation"]) == ("fast_head", 12, "cross_validation")
    assert sum(version.metrics["class_counts"].values()) == 12
    # The head may also learn from pool items it is sure of (self-training); a random tiny backbone is
    # sure of none, but the hybrid head's words (issue 22) are of some of these topic texts.
    assert version.params["self_training"] == DEFAULT_SELF_TRAINING and version.params["pseudo_labeled"] >= 0
    # Issue 22: the loop's head is the hybrid one, reading the project's language; it is saved with its
    # featurizer and predicts from texts and embeddings.
    assert (version.params["features"], version.params["language"]) == ("hybrid", "en")
    assert trained_model(version).is_hybrid
    run = ScoreRun.objects.get(pk=result["score_run"])
    assert run.model_version == version and run.labels_used == 12 and run.strategy == DEFAULT_STRATEGY
    assert "agreement" not in run.stats  # nothing to compare with yet
    open_pool = Item.objects.filter(project=project, split=Split.POOL, is_open=True)
    assert run.items_scored == open_pool.count() == 36 - 12
    assert set(open_pool.values_list("score_run", flat=True)) == {run.pk}
    assert not Item.objects.filter(split=Split.TEST, score_run__isnull=False).exists()
    assert all(item.suggested_label_id for item in open_pool)
    # The queue now serves the highest new priority.
    top = open_pool.order_by("-priority", "id").first()
    assert queue_next_item(project=project, user=users["expert"]) == top
    assert top.pk not in {item.pk for item in labeled}

    _label_next(project, users["annotator"], 6)
    second = _run(project, users["admin"])
    run2 = ScoreRun.objects.get(pk=second["score_run"])
    assert run2.model_version.number == 2 and run2.model_version.parent == version
    assert run2.stats["previous_version"] == 1 and 0.0 <= run2.stats["agreement"] <= 1.0
    assert second["agreement"] == run2.stats["agreement"]
    # Issue 22: the featurizer of the item set is fit once and kept (labeling keeps the set): the second
    # job reads the same one; new items make a new one, and the old folder goes.
    folders = Path(settings.ARTIFACT_ROOT) / "featurizers" / f"project-{project.pk}"
    first_folders = sorted(folder.name for folder in folders.iterdir())
    assert len(first_folders) == 1
    assert trained_model(run2.model_version).featurizer_.fingerprint == trained_model(version).featurizer_.fingerprint
    extra = [Record(line=1, text="A brand new article about the election campaign.", labels=(), meta={})]
    import_parsed(project=project, records=extra, split=Split.POOL, report=ImportReport(format="test"))
    _label_next(project, users["annotator"], 1)
    third = ScoreRun.objects.get(pk=_run(project, users["admin"])["score_run"])
    assert sorted(folder.name for folder in folders.iterdir()) != first_folders and len(list(folders.iterdir())) == 1
    assert trained_model(third.model_version).featurizer_.fingerprint != trained_model(version).featurizer_.fingerprint


@pytest.mark.django_db
def test_a_large_enough_test_split_is_used_and_an_unknown_strategy_falls_back(
    project_with_roles, allowed_tiny_backbone
):
    project, users = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.al_strategy = "no-such-strategy"
    project.save()
    _news(project, pool_per_topic=4, test_per_topic=5)
    _label_next(project, users["annotator"], 12)
    result = _run(project, users["admin"])
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.metrics["evaluation"] == "test" and version.metrics["n"] == 15
    assert "Unknown strategy" in result["note"]
    assert active_learning.RESCORE_KIND in jobs.JOB_KINDS


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_never_fails_the_annotators_submit(project_with_roles, monkeypatch, caplog):
    project, users = project_with_roles
    project.al_every_labels = 2
    project.save()
    _news(project, pool_per_topic=2, test_per_topic=0)

    def broker_down(name, *, args, queue, **options):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(jobs, "enqueue", broker_down)
    done = _label_next(project, users["annotator"], 2)  # the 2nd label asks for a rescoring

    assert [item.annotations.filter(annotator=users["annotator"]).count() for item in done] == [1, 1]
    # The job stays queued without a task id: the periodic check sends it again (finding 7).
    job = _rescore_jobs(project).get()
    assert (job.status, job.celery_task_id, job.send_attempts) == (JobStatus.QUEUED, "", 1)
    assert "could not send job" in caplog.text


def _news_on_tiny_backbone(project_with_roles, backbone: str) -> tuple[Project, dict]:
    """The roles' project on the tiny backbone: 12 pool items and 2 test items per topic."""
    project, users = project_with_roles
    project.backbone = backbone
    project.save()
    _news(project, pool_per_topic=12, test_per_topic=2)
    return project, users


@pytest.mark.django_db
def test_the_rescoring_head_learns_from_the_pool_it_is_sure_of(project_with_roles, allowed_tiny_backbone, monkeypatch):
    project, users = _news_on_tiny_backbone(project_with_roles, allowed_tiny_backbone)
    _label_next(project, users["annotator"], 12)
    # A bar just above chance: every open pool item is sure enough, so all 24 join the second fit.
    monkeypatch.setitem(active_learning.HEAD_PARAMS, "self_training", 0.01)
    version = ModelVersion.objects.get(pk=_run(project, users["admin"])["model_version"])
    assert (version.params["self_training"], version.params["pseudo_labeled"]) == (0.01, 24)


@pytest.mark.django_db
def test_the_neighbour_graph_is_kept_while_the_item_set_stays(project_with_roles, allowed_tiny_backbone, monkeypatch):
    project, users = _news_on_tiny_backbone(project_with_roles, allowed_tiny_backbone)
    built: list[int] = []
    real_graph = embeddings.neighbour_graph
    monkeypatch.setattr(
        embeddings, "neighbour_graph", lambda vectors: built.append(len(vectors)) or real_graph(vectors)
    )

    _label_next(project, users["annotator"], 12)
    _run(project, users["admin"])
    _label_next(project, users["annotator"], 6)  # pool items move into training: the same 36 items
    _run(project, users["admin"])
    assert built == [36]
    import_parsed(
        project=project,
        records=[Record(line=1, text="A late arrival about the league", labels=(), meta={"gold_label": "Sport"})],
        split=Split.POOL,
        report=ImportReport(format="test"),
    )
    _run(project, users["admin"])
    assert built == [36, 37]


@pytest.mark.django_db
def test_a_cached_graph_follows_the_callers_row_order(project_with_roles, allowed_tiny_backbone):
    project, _ = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.save()
    _news(project, pool_per_topic=5, test_per_topic=0)
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    encoder = embeddings.load_encoder(allowed_tiny_backbone)
    vectors = embeddings.item_embeddings(project=project, item_ids=ids, encoder=encoder)
    embeddings.item_neighbour_graph(project=project, item_ids=ids, vectors=vectors, encoder=encoder)  # stored
    shuffled = np.random.default_rng(0).permutation(len(ids))
    order = [ids[i] for i in shuffled]
    cached = embeddings.item_neighbour_graph(
        project=project, item_ids=order, vectors=vectors[shuffled], encoder=encoder
    )
    fresh = neighbour_graph(vectors[shuffled])
    # The same neighbours of the same items, whichever row order asked.
    as_ids = np.asarray(order)
    assert [set(row) for row in as_ids[cached.indices]] == [set(row) for row in as_ids[fresh.indices]]


@pytest.mark.django_db
def test_one_rare_label_is_left_out_of_the_test_evaluation_not_the_whole_test_split(
    project_with_roles, allowed_tiny_backbone
):
    """Issue 20, bug 4: a single rare label used to switch the whole evaluation to cross-validation."""
    project, users = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.save()
    _news(project, pool_per_topic=4, test_per_topic=5)
    _label_next(project, users["annotator"], 12)
    rare = project.labels.create(name="Rare")
    item = Item.objects.create(project=project, text="A rare kind of story", content_hash="a" * 64, split=Split.POOL)
    annotation_submit(item=item, annotator=users["expert"], labels=[rare])
    result = _run(project, users["admin"])
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.metrics["evaluation"] == "test" and version.metrics["n"] == 15
    assert version.metrics["left_out"] == [rare.pk]
    assert len(version.metrics["per_class"]) == 4  # the rare label's row is still there
    assert result["left_out"] == [rare.pk]
    assert "1 label left out: fewer than 5 test items" in active_learning._f1_words(version.metrics)


@pytest.mark.django_db
def test_a_cross_validation_that_cannot_run_stores_no_f1_and_is_not_drawn(project_with_roles, allowed_tiny_backbone):
    """Issue 20, bug 4: it used to be stored as macro-F1 0 and drawn on the learning curves."""
    from annotator.selectors.active_learning import fast_head_points
    from annotator.selectors.training import learning_curve

    project, users = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.save()
    _news(project, pool_per_topic=6, test_per_topic=0)
    labels = {label.name: label for label in project.labels.all()}
    pool = list(Item.objects.filter(project=project, split=Split.POOL).order_by("id"))
    sport = [item for item in pool if item.meta["gold_label"] == "Sport"][:3]
    politics = [item for item in pool if item.meta["gold_label"] == "Politics"][:1]
    for item in sport + politics:
        annotation_submit(item=item, annotator=users["expert"], labels=[labels[item.meta["gold_label"]]])
    result = _run(project, users["admin"])
    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.metrics["evaluation"] == "none" and version.metrics["macro_f1"] is None
    assert learning_curve(project=project) == [] and fast_head_points(project=project) == []


@pytest.mark.django_db
def test_a_label_tree_gives_tree_uncertainty_real_per_level_probabilities(project_with_roles):
    """Issue 20, item 4: the app never passed per-level probabilities, so tree_uncertainty was margin."""
    from annotator.services.taxonomy import label_create

    project, users = project_with_roles
    admin = users["admin"]
    sport = label_create(project=project, name="Sport", by=admin)
    football = label_create(project=project, name="Football", by=admin, parent=sport)
    tennis = label_create(project=project, name="Tennis", by=admin, parent=sport)
    politics = label_create(project=project, name="Politics", by=admin)
    leaves = np.array([[0.45, 0.45, 0.10]])
    top, bottom = active_learning._tree_levels(project, [football.pk, tennis.pk, politics.pk], leaves)
    np.testing.assert_allclose(top, [[0.9, 0.1]])
    np.testing.assert_allclose(bottom, leaves)
    assert active_learning._tree_levels(project, [sport.pk, politics.pk], np.array([[0.6, 0.4]])) is None  # flat


@pytest.mark.django_db
def test_a_head_saved_before_the_hybrid_one_still_predicts_and_is_compared(project_with_roles, allowed_tiny_backbone):
    """Issue 22: versions stored before the hybrid head (an LR on embeddings, no featurizer beside it) still
    answer /predict and still serve as the previous version the next rescoring is compared with."""
    project, users = _news_on_tiny_backbone(project_with_roles, allowed_tiny_backbone)
    _label_next(project, users["annotator"], 12)
    version = ModelVersion.objects.get(pk=_run(project, users["admin"])["model_version"])
    assert trained_model(version).is_hybrid
    # Its files become what an older version saved: the same classes, embeddings only.
    snapshot = training_snapshot(project=project)
    encoder = embeddings.load_encoder(project.backbone)
    x = embeddings.item_embeddings(project=project, item_ids=snapshot.train.item_ids, encoder=encoder)
    old = FastHead(head="lr", self_training=None).fit(x, [int(label) for label in snapshot.train.labels])
    folder = Path(settings.ARTIFACT_ROOT) / version.artifact_dir
    shutil.rmtree(folder)
    old.save(folder)
    training._loaded.cache_clear()
    assert not trained_model(version).is_hybrid

    model_version_activate(version=version, by=users["admin"])
    answered, rows = predict_texts(project=project, texts=["Shares fell as the bank cut its forecast."])
    assert answered.pk == version.pk and abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-3
    _label_next(project, users["annotator"], 6)
    second = _run(project, users["admin"])
    run2 = ScoreRun.objects.get(pk=second["score_run"])
    assert run2.stats["previous_version"] == version.number and 0.0 <= run2.stats["agreement"] <= 1.0
    assert trained_model(run2.model_version).is_hybrid
