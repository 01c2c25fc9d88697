"""Noisy labels: starting the job (and its refusals), the job on known flipped labels, the experts'
decisions, and how they reach the next training snapshot.

Most runs use embeddings the test controls (one tight cluster per true class), so which items are
wrong is known and the assertions can name them; one run goes through a real (tiny, random) encoder.
"""

from __future__ import annotations

import dataclasses
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from annotator.importing.parsers import Record
from annotator.models import (
    AnnotationSource,
    Exclusion,
    Item,
    Job,
    JobStatus,
    NoiseFlag,
    NoiseRun,
    NoiseSplit,
    NoiseStatus,
    Project,
    RuleKind,
    Split,
    TaskType,
)
from annotator.selectors.items import final_label_ids
from annotator.selectors.noise import annotator_corrections, noise_inputs
from annotator.selectors.training import training_snapshot, weighted_training_set
from annotator.services import embeddings, jobs, noise
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import annotation_submit
from annotator.services.review import annotation_correct, item_adjudicate
from annotator.services.rules import rule_apply, rule_create
from annotator.services.taxonomy import label_archive
from mlcore.noise import DETECTORS, NoiseSettings

pytestmark = pytest.mark.django_db

TOPICS = ("Sport", "Politics", "Tech")
PER_CLASS = 20
# Index (in TOPICS order, PER_CLASS each) -> the wrong label it is given.
FLIPS = {0: "Politics", 25: "Tech", 47: "Sport"}
DIM = 16


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, str]]:
    calls: list[tuple[str, list, str]] = []
    monkeypatch.setattr(
        jobs, "enqueue", lambda name, *, args, queue, **options: calls.append((name, args, queue)) or "tid"
    )
    return calls


def _controlled_vector(centers: dict, truth: str, text: str) -> np.ndarray:
    # Seeded by the text, not the primary key: keys depend on which tests ran before on PostgreSQL.
    noise_vector = np.random.default_rng(zlib.crc32(text.encode())).normal(0, 0.15, DIM).astype(np.float32)
    if ":" in truth:  # "Sport:0.5,Politics:0.5": an item between two classes
        parts = [part.split(":") for part in truth.split(",")]
        return sum(float(weight) * centers[name] for name, weight in parts) + noise_vector
    return centers[truth] + noise_vector


@pytest.fixture
def controlled_embeddings(monkeypatch):
    """Each item's vector: its true class's axis plus a little seeded noise (true class in meta)."""
    centers = {topic: np.eye(DIM, dtype=np.float32)[position] for position, topic in enumerate(TOPICS)}
    embedded: list[int] = []

    def item_embeddings(*, project, item_ids, encoder, progress=None):
        embedded.extend(item_ids)
        rows = Item.objects.filter(pk__in=item_ids).values_list("id", "meta__true", "text")
        truth_and_text = {pk: (truth, text) for pk, truth, text in rows}
        return np.stack([_controlled_vector(centers, *truth_and_text[pk]) for pk in item_ids])

    monkeypatch.setattr(noise, "load_encoder", lambda backbone: SimpleNamespace(version="controlled", dim=DIM))
    monkeypatch.setattr(embeddings, "item_embeddings", item_embeddings)
    return embedded


def _add(project: Project, *, split: str = Split.TRAIN, per_class: int = PER_CLASS, flips=None, prefix: str = ""):
    """Items with given labels (imported): `flips` gives some of them a wrong one. Returns them in order."""
    flips = FLIPS if flips is None else flips
    records = []
    for position, topic in enumerate(TOPICS):
        for i in range(per_class):
            n = position * per_class + i
            text = f"{prefix}{topic} story number {i}"
            records.append(Record(line=n + 1, text=text, labels=(flips.get(n, topic),), meta={"true": topic}))
    import_parsed(project=project, records=records, split=split, report=ImportReport(format="test"))
    texts = [record.text for record in records]
    items = {item.text: item for item in Item.objects.filter(project=project, text__in=texts)}
    return [items[text] for text in texts]


def _label(project: Project, name: str):
    return project.labels.get(name=name)


def _run(project: Project, **params) -> tuple[Job, dict, list[float]]:
    job = Job.objects.create(
        project=project, kind="noise", params={"detectors": list(DETECTORS), "filter_by": "both", **params}
    )
    seen: list[float] = []
    result = noise.noise_run_job(job=job, progress=lambda percent, message: seen.append(percent))
    return job, result, seen


def _flipped(items: list[Item]) -> set[int]:
    return {items[n].pk for n in FLIPS}


# --- starting -------------------------------------------------------------------------------------------------


def test_start_queues_one_cpu_job_and_refuses_a_second_while_it_waits(
    project_with_roles, sent, django_capture_on_commit_callbacks
):
    project, users = project_with_roles
    _add(project)
    with django_capture_on_commit_callbacks(execute=True):
        job = noise.noise_start(project=project, by=users["admin"], detectors=["deep_knn", "kfold"], audit_test=True)
    assert (job.kind, job.queue, job.created_by) == ("noise", "cpu", users["admin"])
    assert job.params == {
        "detectors": ["kfold", "deep_knn"],
        "filter_by": "both",
        "audit_test": True,
        "doubt_score": noise.DEFAULT_DOUBT_SCORE,
        "policy": noise.AUTO_POLICY,
    }
    assert sent == [("labelloop.detect_noise", [job.pk], "cpu")]
    with pytest.raises(ValidationError, match=f"job #{job.pk} is already queued"):
        noise.noise_start(project=project, by=users["admin"])
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert noise.noise_start(project=project, by=users["admin"]).pk != job.pk


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detectors": ["kfold", "magic"]}, "Unknown detector 'magic': choose from kfold, confident_learning"),
        ({"detectors": []}, str(noise.NO_DETECTOR_ERROR)),
        ({"filter_by": "vibes"}, "Unknown filter_by 'vibes': choose one of prune_by_noise_rate"),
    ],
)
def test_start_refuses_unknown_detectors_and_filters(project_with_roles, sent, kwargs, message):
    project, users = project_with_roles
    _add(project)
    with pytest.raises(ValidationError) as error:
        noise.noise_start(project=project, by=users["admin"], **kwargs)
    assert message in error.value.messages[0]
    assert not Job.objects.filter(kind="noise").exists()


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "high", True])
def test_start_refuses_a_doubt_score_outside_0_to_1(project_with_roles, sent, value):
    """Issue 20, item 3: doubt_score is set when the job starts, and checked there."""
    project, users = project_with_roles
    _add(project)
    with pytest.raises(ValidationError, match="doubt_score must be a number from 0 to 1"):
        noise.noise_start(project=project, by=users["admin"], doubt_score=value)
    assert not Job.objects.filter(kind="noise").exists()
    job = noise.noise_start(project=project, by=users["admin"], doubt_score=0.4)
    assert job.params["doubt_score"] == 0.4


def test_start_says_how_many_labels_are_missing(project_with_roles, sent):
    project, users = project_with_roles
    _add(project, per_class=4, flips={})  # 12 items in 3 labels
    with pytest.raises(ValidationError) as error:
        noise.noise_start(project=project, by=users["admin"])
    assert error.value.messages == [
        "Noise detection needs at least 20 labeled training items in 2 or more labels; "
        "this project has 12 in 3 label(s): label 8 more item(s)."
    ]
    other = Project.objects.create(name="One label")
    import_parsed(
        project=other,
        records=[Record(line=n, text=f"text {n}", labels=("Only",), meta={}) for n in range(1, 6)],
        split=Split.TRAIN,
        report=ImportReport(format="test"),
    )
    with pytest.raises(ValidationError, match=r"has 5 in 1 label\(s\): label 15 more item\(s\) and use 1 more label"):
        noise.noise_start(project=other, by=users["admin"])


def test_start_refuses_a_multi_label_project(project_with_roles, sent):
    project, users = project_with_roles
    Project.objects.filter(pk=project.pk).update(task_type=TaskType.MULTI_LABEL)
    project.refresh_from_db()
    with pytest.raises(ValidationError, match="single-label projects only"):
        noise.noise_start(project=project, by=users["admin"])


# --- the job --------------------------------------------------------------------------------------------------


def test_the_job_flags_exactly_the_flipped_labels_and_suggests_the_true_ones(project_with_roles, controlled_embeddings):
    project, _ = project_with_roles
    items = _add(project)
    job, result, progress = _run(project)

    run = NoiseRun.objects.get(pk=result["noise_run"])
    flags = NoiseFlag.objects.filter(run=run)
    assert {flag.item_id for flag in flags} == _flipped(items)
    for flag in flags:
        item = Item.objects.get(pk=flag.item_id)
        assert flag.split == NoiseSplit.TRAIN and flag.status == NoiseStatus.OPEN
        assert flag.given_label == _label(project, FLIPS[items.index(item)])
        assert flag.suggested_label == _label(project, item.meta["true"])
        assert flag.score > 0.5 and 0.5 < flag.wrong_probability <= 1 and flag.votes == len(flag.detectors) >= 2
        assert set(flag.detectors) <= {
            "kfold",
            "confident_learning",
            "deep_knn",
            "kfold_words",
            "knn_words",
        }  # no rules here
    assert (run.job, run.encoder, run.n_items, run.n_flagged) == (job, "controlled", 3 * PER_CLASS, 3)
    assert run.detectors == list(DETECTORS) and run.params["filter_by"] == "both"
    assert not run.audited_test and run.test_share_flagged is None
    assert result == {
        "noise_run": run.pk,
        "items": 3 * PER_CLASS,
        "flagged": 3,
        "held_out": 0,
        "detectors": run.detector_counts,
        "already_reviewed": 0,
        "not_judged": 0,
    }
    assert set(run.detector_counts) == {"kfold", "confident_learning", "deep_knn", "kfold_words", "knn_words"}
    assert progress == sorted(progress) and progress[-1] == 100
    assert set(controlled_embeddings) == {item.pk for item in items}  # the test split was not asked for


def test_choosing_fewer_detectors_changes_the_flags(project_with_roles, controlled_embeddings):
    """Issue 20, item 3: the ensemble used to judge with every view whatever was chosen; with the
    blacklist rules alone (and no rule) nothing is flagged or held out."""
    project, _ = project_with_roles
    _add(project)
    _job, result, _progress = _run(project, detectors=["rules"])
    run = NoiseRun.objects.get(pk=result["noise_run"])
    assert (run.detectors, result["flagged"], result["held_out"]) == (["rules"], 0, 0)
    assert not NoiseFlag.objects.filter(run=run).exists()


def test_a_redelivered_job_whose_run_was_stored_stores_nothing_twice(project_with_roles, controlled_embeddings):
    project, _ = project_with_roles
    _add(project)
    job, result, _ = _run(project)
    embedded = len(controlled_embeddings)
    again = noise.noise_run_job(job=job, progress=lambda percent, message: None)
    assert again == {key: value for key, value in result.items() if key not in ("already_reviewed", "not_judged")}
    assert NoiseRun.objects.count() == 1 and NoiseFlag.objects.count() == 3
    assert len(controlled_embeddings) == embedded  # nothing recomputed


def test_blacklisted_items_are_judged_by_the_rules_detector(project_with_roles, controlled_embeddings):
    project, users = project_with_roles
    items = _add(project)
    rule = rule_create(project=project, name="drafts", pattern="number 3", kind=RuleKind.BLACKLIST, by=users["admin"])
    rule_apply(rule=rule, by=users["admin"])
    hit = {item.pk for item in items if "number 3" in item.text}
    assert len(hit) == 3 and Exclusion.objects.filter(rule=rule).count() == 3
    assert not hit & set(training_snapshot(project=project).train.item_ids)
    assert hit <= set(noise_inputs(project=project).train.item_ids)  # judged although not trained on

    _job, result, _ = _run(project)
    flags = {flag.item_id: flag for flag in NoiseFlag.objects.filter(run=result["noise_run"])}
    assert set(flags) == _flipped(items) | hit
    for pk in hit:
        assert "rules" in flags[pk].detectors
        assert flags[pk].suggested_label is None  # their label is fine: nothing better to suggest
    assert result["detectors"]["rules"] == 3


def test_a_new_run_replaces_open_flags_and_never_reflags_what_an_expert_kept(project_with_roles, controlled_embeddings):
    project, users = project_with_roles
    items = _add(project)
    _job, first, _ = _run(project)
    kept = NoiseFlag.objects.get(run=first["noise_run"], item=items[0])
    noise.noise_flag_keep(flag=kept, by=users["expert"])

    _job, second, _ = _run(project)
    assert second["already_reviewed"] == 1 and second["flagged"] == 2
    assert NoiseFlag.objects.filter(run=first["noise_run"]).get() == kept  # history stays, open flags went
    assert set(NoiseFlag.objects.filter(run=second["noise_run"]).values_list("item_id", flat=True)) == (
        _flipped(items) - {items[0].pk}
    )
    # A different label on the item is a new question: flagged again.
    annotation = items[0].annotations.get()
    annotation_correct(annotation=annotation, by=users["expert"], labels=[_label(project, "Tech")])
    _job, third, _ = _run(project)
    assert NoiseFlag.objects.filter(run=third["noise_run"], item=items[0], given_label__name="Tech").exists()


def test_relabel_and_exclude_reach_the_next_training_snapshot(project_with_roles, controlled_embeddings):
    project, users = project_with_roles
    items = _add(project)
    _job, result, _ = _run(project)
    flags = {flag.item_id: flag for flag in NoiseFlag.objects.filter(run=result["noise_run"])}
    to_relabel, to_exclude = flags[items[0].pk], flags[items[25].pk]

    relabeled = noise.noise_flag_relabel(flag=to_relabel, by=users["expert"], note="clearly sport")
    excluded = noise.noise_flag_exclude(flag=to_exclude, by=users["expert"])
    assert (relabeled.status, relabeled.decided_by, relabeled.relabeled_to) == (
        NoiseStatus.RELABELED,
        users["expert"],
        _label(project, "Sport"),
    )
    assert relabeled.decided_at is not None
    decision = items[0].annotations.get(source=AnnotationSource.ADJUDICATED)
    revision = decision.revisions.get()
    assert revision.changed_by == users["expert"] and revision.labels_after == [_label(project, "Sport").pk]
    assert revision.note.startswith(f"Noise review, flag #{to_relabel.pk}:") and revision.note.endswith("clearly sport")
    exclusion = excluded.exclusion
    assert (exclusion.item_id, exclusion.rule, exclusion.created_by) == (items[25].pk, None, users["expert"])
    assert "noise review" in exclusion.reason

    snapshot = training_snapshot(project=project)
    train = dict(zip(snapshot.train.item_ids, snapshot.train.labels, strict=True))
    assert train[items[0].pk] == _label(project, "Sport").pk
    assert items[25].pk not in train
    assert len(train) == 3 * PER_CLASS - 1

    with pytest.raises(ValidationError, match="already decided"):
        noise.noise_flag_keep(flag=to_exclude, by=users["expert"])
    with pytest.raises(ValidationError, match="adjudication page"):
        noise.noise_flag_reopen(flag=to_relabel)
    reopened = noise.noise_flag_reopen(flag=to_exclude)
    assert (reopened.status, reopened.decided_by, reopened.exclusion) == (NoiseStatus.OPEN, None, None)
    assert not Exclusion.objects.filter(pk=exclusion.pk).exists()
    assert items[25].pk in training_snapshot(project=project).train.item_ids
    with pytest.raises(ValidationError, match="still open"):
        noise.noise_flag_reopen(flag=to_exclude)


@pytest.fixture
def unflag_the_last_item(monkeypatch):
    """The job's real report, but its last training item doubtful instead of flagged.

    On 60 items confident learning counts every item the views doubt, so nothing is ever doubtful
    without being flagged; on a real project (20 Newsgroups: ~600 of 11,293) many are.
    """
    real = noise.detect_label_noise

    def detect(evidence, **kwargs):
        report = real(evidence, **kwargs)
        if len(report.flags) != 3 * PER_CLASS + 1:  # only the training items' report
            return report
        flags, doubtful = report.flags.copy(), report.doubtful.copy()
        # The views do doubt it (less since issue 22: the hybrid out-of-fold model reads both topic words).
        assert flags[-1] and report.scores[-1] > 0
        flags[-1], doubtful[-1] = False, True
        return dataclasses.replace(report, flags=flags, doubtful=doubtful)

    monkeypatch.setattr(noise, "detect_label_noise", detect)


def test_doubtful_items_stay_out_of_training_until_an_expert_keeps_them(
    project_with_roles, controlled_embeddings, unflag_the_last_item
):
    project, users = project_with_roles
    items = _add(project)
    record = Record(
        line=1, text="Sport and Politics story number 99", labels=("Politics",), meta={"true": "Sport:0.5,Politics:0.5"}
    )
    import_parsed(project=project, records=[record], split=Split.TRAIN, report=ImportReport(format="test"))
    between = Item.objects.get(project=project, text=record.text)
    _job, result, _ = _run(project, policy="relabel_hold_out")  # an expert's choice: no comparison
    held = NoiseFlag.objects.get(run=result["noise_run"], held_out=True)
    assert (held.item_id, held.status, held.suggested_label) == (between.pk, NoiseStatus.OPEN, _label(project, "Sport"))
    assert (result["flagged"], result["held_out"]) == (3, 1)
    run = NoiseRun.objects.get(pk=result["noise_run"])
    assert (run.n_held_out, run.params["doubt_score"]) == (1, NoiseSettings().doubt_score)
    assert (run.policy, run.policy_choice) == ("relabel_hold_out@0.15", {"chosen_by": "expert", "scores": {}})

    train = training_snapshot(project=project).train.item_ids
    # The flagged items train with their suggestion until decided (the policy relabels).
    assert between.pk not in train and len(train) == 3 * PER_CLASS
    assert not Exclusion.objects.filter(item=between).exists()  # held out by the open flag, not an exclusion

    kept = noise.noise_flag_keep(flag=held, by=users["expert"])
    assert kept.status == NoiseStatus.KEPT and between.pk in training_snapshot(project=project).train.item_ids
    noise.noise_flag_reopen(flag=kept)  # undo: out of training again while the flag is open
    assert between.pk not in training_snapshot(project=project).train.item_ids
    assert items[0].pk in training_snapshot(project=project).train.item_ids
    excluded = noise.noise_flag_exclude(flag=held, by=users["expert"])
    assert (
        excluded.exclusion.item_id == between.pk and between.pk not in training_snapshot(project=project).train.item_ids
    )


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True])
def test_the_job_refuses_a_doubt_score_outside_0_to_1(project_with_roles, controlled_embeddings, value):
    project, _users = project_with_roles
    _add(project)
    with pytest.raises(ValidationError, match="doubt_score"):
        _run(project, doubt_score=value)


def test_relabel_refusals(project_with_roles, controlled_embeddings):
    project, users = project_with_roles
    items = _add(project)
    _job, result, _ = _run(project)
    flag = NoiseFlag.objects.get(run=result["noise_run"], item=items[0])
    with pytest.raises(ValidationError, match="“Politics” is the item's label already"):
        noise.noise_flag_relabel(flag=flag, by=users["expert"], label=_label(project, "Politics"))
    label_archive(label=_label(project, "Tech"), by=users["admin"])
    with pytest.raises(ValidationError, match="archived"):
        noise.noise_flag_relabel(flag=flag, by=users["expert"], label=_label(project, "Tech"))
    NoiseFlag.objects.filter(pk=flag.pk).update(suggested_label=None)
    flag.refresh_from_db()
    with pytest.raises(ValidationError, match=str(noise.NO_SUGGESTION_ERROR)):
        noise.noise_flag_relabel(flag=flag, by=users["expert"])
    assert NoiseFlag.objects.get(pk=flag.pk).status == NoiseStatus.OPEN
    assert not items[0].annotations.filter(source=AnnotationSource.ADJUDICATED).exists()


def test_the_test_split_audit_is_read_only(project_with_roles, controlled_embeddings):
    project, users = project_with_roles
    items = _add(project)
    test_items = _add(project, split=Split.TEST, per_class=10, flips={2: "Tech", 15: "Sport"}, prefix="held out ")
    finals_before = final_label_ids(project=project)
    _job, result, progress = _run(project, audit_test=True)

    run = NoiseRun.objects.get(pk=result["noise_run"])
    audit = NoiseFlag.objects.filter(run=run, split=NoiseSplit.TEST)
    assert {flag.item_id for flag in audit} == {test_items[2].pk, test_items[15].pk}
    assert (run.test_items, run.test_flagged, run.test_share_flagged) == (30, 2, 2 / 30)
    assert result["audit"] == {"items": 30, "flagged": 2, "share": 2 / 30}
    assert {flag.item_id for flag in NoiseFlag.objects.filter(run=run, split=NoiseSplit.TRAIN)} == _flipped(items)
    assert final_label_ids(project=project) == finals_before  # the job changed no label
    assert progress[-1] == 100
    with pytest.raises(ValidationError, match="only audited"):
        noise.noise_flag_exclude(flag=audit.first(), by=users["expert"])
    assert not Exclusion.objects.exists()

    # A run without the audit replaces the training flags and leaves the audit's open flags alone.
    _job, again, _ = _run(project)
    assert set(NoiseFlag.objects.filter(split=NoiseSplit.TEST).values_list("run", flat=True)) == {run.pk}
    assert set(NoiseFlag.objects.filter(split=NoiseSplit.TRAIN).values_list("run", flat=True)) == {again["noise_run"]}


def test_labels_with_too_few_items_are_evidence_but_not_judged(project_with_roles, controlled_embeddings):
    project, _ = project_with_roles
    _add(project)
    import_parsed(
        project=project,
        records=[Record(line=n, text=f"rare {n}", labels=("Rare",), meta={"true": "Tech"}) for n in range(1, 4)],
        split=Split.TRAIN,
        report=ImportReport(format="test"),
    )
    _job, result, _ = _run(project)
    assert result["not_judged"] == 3 and result["items"] == 3 * PER_CLASS
    assert not NoiseFlag.objects.filter(given_label__name="Rare").exists()


def test_the_job_runs_with_a_real_encoder(project_with_roles, allowed_tiny_backbone):
    """A random tiny BERT judges at random: the flags' shape is checked, not which items they are."""
    project, _ = project_with_roles
    project.backbone = allowed_tiny_backbone
    project.save(update_fields=["backbone"])
    items = _add(project)
    _add(project, split=Split.TEST, per_class=5, flips={}, prefix="held out ")
    _job, result, _ = _run(project, audit_test=True)
    run = NoiseRun.objects.get(pk=result["noise_run"])
    assert run.n_items == 3 * PER_CLASS and run.test_items == 15
    assert allowed_tiny_backbone.rstrip("/").split("/")[-1] in run.encoder
    flags = list(NoiseFlag.objects.filter(run=run))
    assert len(flags) == run.n_flagged + run.test_flagged
    labels = {label.pk for label in project.labels.all()}
    for flag in flags:
        assert 0.0 <= flag.score <= 1.0 and set(flag.detectors) <= set(DETECTORS)
        assert flag.given_label_id in labels and flag.suggested_label_id != flag.given_label_id
    assert {flag.item_id for flag in flags if flag.split == NoiseSplit.TRAIN} <= {item.pk for item in items}


# --- the annotators' correction rates -------------------------------------------------------------------------


def test_corrections_per_annotator_count_review_corrections_adjudications_and_noise_relabels(
    project_with_roles, make_user
):
    project, users = project_with_roles
    careful, sloppy = users["annotator"], make_user("sloppy")
    records = [Record(line=n, text=f"plain text {n}", labels=(), meta={}) for n in range(1, 11)]
    import_parsed(project=project, records=records, split=Split.POOL, report=ImportReport(format="test"))
    for name in TOPICS:
        project.labels.get_or_create(name=name)
    sport, politics = _label(project, "Sport"), _label(project, "Politics")
    pool = list(project.items.order_by("id"))
    for item in pool[:6]:
        annotation_submit(item=item, annotator=careful, labels=[sport])
    sloppy_annotations = [annotation_submit(item=item, annotator=sloppy, labels=[sport]) for item in pool[6:]]
    # One corrected in review, one relabeled through noise review, one overruled by the same label (no change).
    annotation_correct(annotation=sloppy_annotations[0], by=users["expert"], labels=[politics])
    run = NoiseRun.objects.create(project=project, encoder="test")
    flag = NoiseFlag.objects.create(
        project=project, run=run, item=pool[7], given_label=sport, suggested_label=politics, score=0.9
    )
    noise.noise_flag_relabel(flag=flag, by=users["expert"])
    item_adjudicate(item=pool[8], by=users["expert"], labels=[sport])

    rows = {row.username: row for row in annotator_corrections(project=project)}
    assert set(rows) == {careful.username, "sloppy"}
    assert (rows["sloppy"].labels, rows["sloppy"].corrected, rows["sloppy"].by_noise_review) == (4, 2, 1)
    assert rows["sloppy"].share == 0.5
    assert (rows[careful.username].corrected, rows[careful.username].share) == (0, 0.0)


# --- issue 23: the cleaning policy ----------------------------------------------------------------------------


def _trained_labels(project: Project) -> dict[int, int]:
    train = training_snapshot(project=project).train
    return dict(zip(train.item_ids, train.labels, strict=True))


def test_the_job_chooses_a_cleaning_policy_by_evidence_and_stores_every_score(
    project_with_roles, controlled_embeddings
):
    project, _ = project_with_roles
    _add(project)
    _job, result, progress = _run(project)  # no policy in the params: chosen by evidence
    run = NoiseRun.objects.get(pk=result["noise_run"])
    candidates = {policy.name for policy in noise.job_policies(noise.AUTO_POLICY, noise.DEFAULT_DOUBT_SCORE)}
    choice = run.policy_choice
    assert choice["chosen_by"] == "evidence" and set(choice["scores"]) == candidates
    assert run.policy in candidates and choice["scores"][run.policy] == max(choice["scores"].values())
    assert choice["folds"] >= 2 and 0 < choice["trusted"] <= 3 * PER_CLASS
    assert run.params["class_balance"] == run.policy.startswith("balanced_")
    assert progress == sorted(progress)


@pytest.mark.parametrize(
    ("policy", "in_training", "trained_as"),
    [("relabel", True, "suggested"), ("remove", False, None), ("balanced_relabel", True, "suggested")],
)
def test_open_flags_reach_training_as_the_policy_says_until_an_expert_decides(
    project_with_roles, controlled_embeddings, policy, in_training, trained_as
):
    project, users = project_with_roles
    items = _add(project)
    _job, result, _ = _run(project, policy=policy)
    run = NoiseRun.objects.get(pk=result["noise_run"])
    assert (run.policy, run.policy_choice["chosen_by"]) == (policy, "expert")
    flag = NoiseFlag.objects.get(run=run, item=items[0])  # given Politics, truly Sport
    train = _trained_labels(project)
    assert (items[0].pk in train) is in_training
    if trained_as:
        assert train[items[0].pk] == flag.suggested_label_id == _label(project, "Sport").pk
    # The expert keeps the given label: it trains as given, whatever the policy said.
    noise.noise_flag_keep(flag=flag, by=users["expert"])
    train = _trained_labels(project)
    assert train[items[0].pk] == _label(project, "Politics").pk
    noise.noise_flag_reopen(flag=flag)  # open again: the policy applies again
    assert (items[0].pk in training_snapshot(project=project).train.item_ids) is in_training


@pytest.mark.parametrize("policy", ["soft_relabel", "balanced_soft_relabel"])
def test_a_soft_policy_trains_a_flagged_item_with_both_labels_weighted_by_p_wrong(
    project_with_roles, controlled_embeddings, policy
):
    project, users = project_with_roles
    items = _add(project)
    unhedged_hash = training_snapshot(project=project).data_hash
    _job, result, _ = _run(project, policy=policy)
    flag = NoiseFlag.objects.get(run_id=result["noise_run"], item=items[0])  # given Politics, truly Sport
    politics, sport = _label(project, "Politics").pk, _label(project, "Sport").pk
    snapshot = training_snapshot(project=project)
    # The snapshot keeps the given label: the queue's head, distillation and augmentation read that one.
    assert _trained_labels(project)[items[0].pk] == politics
    assert snapshot.hedges[items[0].pk] == (sport, pytest.approx(flag.wrong_probability))
    assert set(snapshot.hedges) == {
        flag.item_id for flag in NoiseFlag.objects.filter(run_id=result["noise_run"], held_out=False)
    }
    assert snapshot.data_hash != unhedged_hash  # the same labels, hedged: other training data

    fit_set, weights = weighted_training_set(snapshot)
    rows = [row for row, pk in enumerate(fit_set.item_ids) if pk == items[0].pk]
    assert [fit_set.labels[row] for row in rows] == [politics, sport]
    p_wrong = flag.wrong_probability
    assert [weights[row] for row in rows] == pytest.approx([1 - p_wrong, p_wrong])
    assert len(fit_set.item_ids) == len(snapshot.train.item_ids) + len(snapshot.hedges)
    assert sum(weights) == pytest.approx(len(snapshot.train.item_ids))  # a hedge moves weight, never adds

    noise.noise_flag_keep(flag=flag, by=users["expert"])  # the expert's decision replaces the hedge
    snapshot = training_snapshot(project=project)
    assert items[0].pk not in snapshot.hedges and weighted_training_set(snapshot)[1] is not None


def test_flags_of_runs_before_policies_train_with_their_given_label(project_with_roles, controlled_embeddings):
    project, _ = project_with_roles
    items = _add(project)
    _job, result, _ = _run(project, policy="remove")
    assert items[0].pk not in training_snapshot(project=project).train.item_ids
    NoiseRun.objects.filter(pk=result["noise_run"]).update(policy="")  # as stored before issue 23
    train = _trained_labels(project)
    assert train[items[0].pk] == _label(project, "Politics").pk


def test_start_takes_a_policy_and_refuses_an_unknown_one(project_with_roles, sent):
    project, users = project_with_roles
    _add(project)
    with pytest.raises(ValidationError, match="Unknown cleaning policy 'shuffle'"):
        noise.noise_start(project=project, by=users["admin"], policy="shuffle")
    job = noise.noise_start(project=project, by=users["admin"], policy="remove_hold_out", doubt_score=0.3)
    assert job.params["policy"] == "remove_hold_out"
    assert [policy.name for policy in noise.job_policies("remove_hold_out", 0.3)] == ["remove_hold_out@0.3"]
