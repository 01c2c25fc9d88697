"""The active-learning loop: after every N new labels (or on demand) a `cpu` job retrains the fast
head on cached embeddings and the texts' bag of words (the hybrid head, issue 22: one featurizer per
job, fit on the training and pool texts, each text transformed once, both kept on disk while the item
set stays the same), rescores the pool with the
project's strategy, and stores the scores with the model version; the queue then serves by them.

Triggering stays off the annotator's hot path: each new counted annotation bumps the project's
counter with one UPDATE ... RETURNING, and only the submit that crosses a multiple of
`Project.al_every_labels` asks for a job, after its transaction commits.

Coalescing: at most one rescoring job per project is queued or running. A request while one is
queued joins it (it will read the newest labels when it starts); a request while one runs marks it
for one follow-up run, queued when it succeeds. The check and the insert happen under a lock on the
project row (SQLite: every write transaction is BEGIN IMMEDIATE) and a partial unique index on
unfinished rescores, so two requests at once cannot both queue a job and two never run at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from annotator.models import Item, Job, JobStatus, Label, ModelVersion, Project, ScoreRun, Split
from annotator.models.jobs import UNFINISHED_STATUSES
from annotator.selectors.training import TrainingSnapshot, training_snapshot
from annotator.services.embeddings import item_neighbour_graph, load_encoder, unit_item_embeddings
from annotator.services.head_inputs import (
    fit_inputs,
    item_set_featurizer,
    item_texts,
    learns_from_texts,
    predict_inputs,
)
from annotator.services.jobs import job_append_log, job_fail, job_request_rerun, job_start
from annotator.services.scoring import ItemScore, score_run_store
from annotator.services.training import ONE_CLASS_WARNING, Progress, model_version_register, trained_model
from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES, QueryPool, make_strategy, tree_level_probabilities
from mlcore.evaluation import classification_metrics
from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.learning_curves import prediction_agreement
from mlcore.models import FastHead, TextClassifier

logger = logging.getLogger(__name__)

RESCORE_KIND = "rescore"
HEAD_PARAMS = {"head": "lr", "C": 10.0}
MIN_LABELS = 4
MIN_CLASSES = 2
# Evaluate on the locked test split the classes it holds this many items of (the macro averages leave
# the others out and say so), as long as there are MIN_CLASSES of them; else cross-validate.
MIN_TEST_PER_CLASS = 5
CV_FOLDS = 5
# A job still queued after this long lost its message (a broker flush): it no longer blocks new ones.
QUEUED_STALE_AFTER = dt.timedelta(minutes=30)
NOT_ENOUGH_DATA_MESSAGE = gettext_lazy(
    "Not enough labels to rescore yet: {found} labeled item(s) in {classes} label(s); "
    "the fast head needs {items} items in {min_classes} or more labels. Nothing was stored."
)
STALE_QUEUED_ERROR = gettext_lazy("Never picked up by a worker; replaced by a new rescoring job.")


# --- triggering ----------------------------------------------------------------------------------------


def al_labels_added(*, project: Project, count: int = 1, by: AbstractBaseUser | None = None) -> None:
    """Count `count` new labels; on crossing a multiple of `al_every_labels`, rescore after commit.

    Call inside the transaction that adds the annotations: one UPDATE ... RETURNING.
    """
    if count < 1:
        return
    table = connection.ops.quote_name(Project._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET al_label_counter = al_label_counter + %s WHERE id = %s "
            "RETURNING al_label_counter, al_every_labels",
            [count, project.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return
    counter, every = row
    if every and counter // every > (counter - count) // every:
        project_id, user_id = project.pk, getattr(by, "pk", None)
        transaction.on_commit(lambda: _rescore_after_labels(project_id, user_id))


def _rescore_after_labels(project_id: int, user_id: int | None) -> None:
    """Runs after the annotator's submit committed: whatever fails here (the broker is down, say) is
    logged, never shown to the annotator, whose label is saved; the next burst asks again."""
    try:
        project = Project.objects.get(pk=project_id)
        by = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
        rescore_request(project=project, by=by, reason="labels")
    except Exception:
        logger.exception("Could not queue the rescoring of project %s", project_id)


def rescore_request(*, project: Project, by: AbstractBaseUser | None, reason: str = "manual") -> tuple[Job, bool]:
    """Queue a rescoring job unless one is already queued or running; returns (that job, created).

    One rescore at a time per project: a request while one waits joins it (it reads the newest labels
    when it starts); a request while one runs asks that one for a single follow-up run after it.
    The database's unique constraint on unfinished rescores backs the project lock.
    """
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
        current = Job.objects.filter(project=project, kind=RESCORE_KIND, status__in=UNFINISHED_STATUSES).first()
        if current is not None and current.status == JobStatus.RUNNING and job_request_rerun(job=current):
            return current, False
        if current is not None and current.status == JobStatus.QUEUED:
            if current.created_at > timezone.now() - QUEUED_STALE_AFTER:
                job_append_log(
                    job_id=current.pk, message=f"Rescoring asked again ({reason}): this job will include it."
                )
                return current, False
            job_fail(job_id=current.pk, error=STALE_QUEUED_ERROR)
        job = job_start(kind=RESCORE_KIND, project=project, params={"reason": reason}, created_by=by)
        return job, True


def rescore_jobs(*, project: Project):
    return Job.objects.filter(project=project, kind=RESCORE_KIND).order_by("-id")


# --- the job ---------------------------------------------------------------------------------------------


def _classes_of(snapshot: TrainingSnapshot) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in snapshot.train.labels:
        for label in value if snapshot.multi_label else [value]:
            counts[int(label)] = counts.get(int(label), 0) + 1
    return counts


def _new_head(multi_label: bool, language: str) -> FastHead:
    """The loop's head: the hybrid LR (embeddings and the texts' words, tokenised for `language`)."""
    return FastHead(**HEAD_PARAMS, multi_label=multi_label, random_state=0, language=language)


def _rows(inputs: HybridInputs | np.ndarray, rows) -> HybridInputs | np.ndarray:
    return inputs.take(rows) if isinstance(inputs, HybridInputs) else inputs[rows]


def _test_classes(snapshot: TrainingSnapshot, classes: dict[int, int]) -> list[int]:
    """The training classes with at least MIN_TEST_PER_CLASS test items: the ones the test split can judge.

    One rare label used to send the whole evaluation to cross-validation (issue 20, bug 4); now it is
    left out of the macro averages and named, and the test split still judges the others.
    """
    counts = dict.fromkeys(classes, 0)
    for value in snapshot.test.labels:
        for label in value if snapshot.multi_label else [value]:
            if int(label) in counts:
                counts[int(label)] += 1
    return sorted(label for label, n in counts.items() if n >= MIN_TEST_PER_CLASS)


def _cross_validated(
    x: HybridInputs | np.ndarray,
    labels: list,
    classes: list,
    multi_label: bool,
    *,
    language: str,
    featurizer: TextFeaturizer | None,
) -> dict | None:
    """Metrics of out-of-fold predictions over the training labels; None when folds cannot be made.
    Every fold's head reads the job's one featurizer (it saw no label, so the folds stay out-of-fold)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = min(CV_FOLDS, len(labels))
    if folds < 2:
        return None
    if multi_label:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=0).split(np.zeros(len(labels)))
    else:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels)
    predicted: list = [None] * len(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class with fewer members than folds
        try:
            for train_rows, held_rows in splitter:
                fold_labels = [labels[i] for i in train_rows]
                fold = {"featurizer": featurizer} if featurizer is not None else {}
                head = _new_head(multi_label, language).fit(_rows(x, train_rows), fold_labels, **fold)
                for row, value in zip(held_rows, head.predict(_rows(x, held_rows)), strict=True):
                    predicted[row] = value
        except ValueError:
            return None
    predicted = [list(value) for value in predicted] if multi_label else [int(value) for value in predicted]
    return classification_metrics(labels, predicted, classes, multi_label=multi_label)


def _evaluate(model, snapshot, measured: list[int], x_train, x_test, *, language: str, featurizer) -> dict:
    """On the test split (macro averages over `measured`, the rest named in `left_out`) when `x_test`
    is given, else by cross-validation; a cross-validation that cannot run stores no F1 (None), not 0."""
    class_ids = [int(label) for label in model.classes_]
    if x_test is not None:
        predicted = model.predict(x_test)
        predicted = [list(v) for v in predicted] if snapshot.multi_label else [int(v) for v in predicted]
        metrics = classification_metrics(
            snapshot.test.labels, predicted, class_ids, multi_label=snapshot.multi_label, measured=measured
        )
        metrics["evaluation"] = "test"
        return metrics
    metrics = _cross_validated(
        x_train, snapshot.train.labels, class_ids, snapshot.multi_label, language=language, featurizer=featurizer
    )
    if metrics is None:
        return {"evaluation": "none", "macro_f1": None, "per_class": []}
    metrics["evaluation"] = "cross_validation"
    return metrics


def _top_labels(model: TextClassifier, probabilities: np.ndarray) -> np.ndarray:
    return np.asarray([int(label) for label in model.classes_])[probabilities.argmax(axis=1)]


def _previous_scoring(project: Project, encoder_version: str) -> ModelVersion | None:
    run = (
        ScoreRun.objects.filter(project=project, model_version__isnull=False)
        .select_related("model_version")
        .order_by("-created_at", "-id")
        .first()
    )
    if run is None or run.model_version.encoder_version != encoder_version:
        return None
    return run.model_version


def _agreement_with(
    previous: ModelVersion | None, pool_texts: list[str], pool_embeddings: np.ndarray, current: np.ndarray
) -> dict:
    if previous is None or not len(pool_embeddings):
        return {}
    try:
        model = trained_model(previous)  # hybrid or, saved before issue 22, on embeddings alone
        inputs = predict_inputs(model, pool_texts, pool_embeddings)
        earlier = _top_labels(model, np.asarray(model.predict_proba(inputs)))
    except (OSError, ValueError):  # its files are gone, or another embedding size
        return {}
    agreement = prediction_agreement(earlier, current)
    return {"agreement": agreement.share, "kappa": agreement.kappa, "previous_version": previous.number}


def _strategy_name(project: Project) -> tuple[str, str]:
    """(the name to build, a note when the project's strategy is unknown and the default stands in)."""
    name = project.al_strategy or "default"
    if name == "default" or name in STRATEGIES:
        return name, ""
    return "default", f"Unknown strategy {name!r}: used the default ({DEFAULT_STRATEGY})."


def rescore_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of a rescoring job: snapshot, train the fast head, evaluate, register, score, store."""
    project = job.project
    snapshot = training_snapshot(project=project)
    classes = _classes_of(snapshot)
    if len(snapshot.train.item_ids) < MIN_LABELS or len(classes) < MIN_CLASSES:
        message = NOT_ENOUGH_DATA_MESSAGE.format(
            found=len(snapshot.train.item_ids), classes=len(classes), items=MIN_LABELS, min_classes=MIN_CLASSES
        )
        progress(100, message)
        return {"skipped": message}
    progress(1, f"{len(snapshot.train.item_ids)} labeled items in {len(classes)} labels")
    encoder = load_encoder(project.backbone)
    pool_ids = list(
        Item.objects.filter(project=project, split=Split.POOL, is_open=True).order_by("id").values_list("id", flat=True)
    )
    measured = _test_classes(snapshot, classes)
    use_test = len(measured) >= MIN_CLASSES
    test_ids = snapshot.test.item_ids if use_test else []
    wanted = snapshot.train.item_ids + test_ids + pool_ids
    vectors = unit_item_embeddings(
        project=project, item_ids=wanted, encoder=encoder, progress=progress, start=2, span=36
    )
    n_train, n_test = len(snapshot.train.item_ids), len(test_ids)
    e_train, e_test, e_pool = vectors[:n_train], vectors[n_train : n_train + n_test], vectors[n_train + n_test :]
    model = _new_head(snapshot.multi_label, project.language)
    pool_texts = item_texts(pool_ids)
    test_texts = snapshot.test.texts if use_test else []
    progress(38, "Reading the texts' words")
    featurizer, (x_train, x_test, x_pool) = _head_inputs(
        model,
        project,
        (snapshot.train.item_ids, snapshot.train.texts, e_train),
        (test_texts, e_test),
        (pool_ids, pool_texts, e_pool),
    )

    progress(40, "Training the fast head (with the pool items it is sure of)")
    started = time.perf_counter()
    graph = None
    if len(pool_ids) and model.self_training is not None and not snapshot.multi_label:
        graph = item_neighbour_graph(
            project=project,
            item_ids=snapshot.train.item_ids + pool_ids,
            vectors=np.concatenate([e_train, e_pool]),
            encoder=encoder,
        )
    fit_options = {"featurizer": featurizer} if featurizer is not None else {}
    model.fit(x_train, snapshot.train.labels, unlabeled=x_pool, graph=graph, **fit_options)
    train_seconds = time.perf_counter() - started
    # The queue's uncertainty comes from the head of the labels alone: the self-trained one is sure
    # wherever it labeled the pool itself, which hides what the labels have not taught yet.
    query_head = model.labels_only_
    progress(50, "Evaluating on the test split" if use_test else "Cross-validating (the test split is small)")
    metrics = _evaluate(
        model,
        snapshot,
        measured,
        x_train,
        x_test if use_test else None,
        language=project.language,
        featurizer=featurizer,
    )
    metrics["class_counts"] = {str(label): n for label, n in sorted(classes.items())}

    progress(60, f"Scoring {len(pool_ids)} pool items")
    probabilities = np.asarray(model.predict_proba(x_pool)) if len(pool_ids) else np.zeros((0, len(classes)))
    top = _top_labels(model, probabilities) if len(pool_ids) else np.zeros(0, dtype=np.int64)
    previous = _previous_scoring(project, encoder.version)
    stats = {**_agreement_with(previous, pool_texts, e_pool, top), "pool": len(pool_ids)}
    name, note = _strategy_name(project)
    strategy = make_strategy(name, random_state=int(snapshot.data_hash[:8], 16))
    previous_f1 = _class_f1(previous.metrics) if previous is not None else None
    query_probabilities = probabilities if query_head is model else np.asarray(query_head.predict_proba(x_pool))
    pool = QueryPool(
        embeddings=e_pool.astype(np.float32),  # diversity and density read the embeddings
        probabilities=query_probabilities,
        labeled_embeddings=e_train.astype(np.float32),
        classes=[int(label) for label in model.classes_],
        class_f1=_class_f1(metrics),
        class_f1_previous=previous_f1,
        class_counts=classes,  # labels per class: how skewed the project's classes are (adaptive_diversity)
        model_prior=getattr(query_head, "class_prior_", None),  # FastHead's; other kinds do not say
        multi_label=snapshot.multi_label,
        level_probabilities=_tree_levels(project, [int(label) for label in model.classes_], query_probabilities)
        if not snapshot.multi_label
        else None,
    )
    priorities = strategy.priorities(pool, max(1, project.al_every_labels))
    confidence = probabilities.max(axis=1) if len(pool_ids) else np.zeros(0)
    scores = [
        ItemScore(item_id=pk, priority=float(p), suggested_label_id=int(label), confidence=float(c))
        for pk, p, label, c in zip(pool_ids, priorities, top, confidence, strict=True)
    ]
    progress(85, "Storing the model and the new queue order")
    version = None
    try:
        with transaction.atomic():
            version = model_version_register(
                job=job,
                model=model,
                snapshot=snapshot,
                metrics=metrics,
                seconds=train_seconds,
                params={
                    **HEAD_PARAMS,
                    "features": "hybrid" if model.is_hybrid else "embeddings",
                    "language": project.language,
                    "self_training": model.self_training,
                    "pseudo_labeled": model.n_pseudo_labeled_,
                },
            )
            run = score_run_store(
                project=project,
                model_name=f"fast head v{version.number}",
                strategy=DEFAULT_STRATEGY if name == "default" else name,
                scores=scores,
                labels_used=n_train,
            )
            ScoreRun.objects.filter(pk=run.pk).update(model_version=version, stats=stats)
    except BaseException:
        if version is not None:  # its row was rolled back: its files go too
            shutil.rmtree(Path(settings.ARTIFACT_ROOT) / version.artifact_dir, ignore_errors=True)
        raise
    summary = f"v{version.number}: {_f1_words(metrics)}"
    if version.predicts_one_class:
        summary += f" ({ONE_CLASS_WARNING})"
    if "agreement" in stats:
        summary += f", {stats['agreement']:.1%} of the pool predicted as by v{stats['previous_version']}"
    progress(100, f"{summary}; {len(scores)} items rescored")
    result = {
        "model_version": version.pk,
        "number": version.number,
        "score_run": run.pk,
        "items_scored": len(scores),
        "macro_f1": metrics["macro_f1"],
        "evaluation": metrics["evaluation"],
        **{key: stats[key] for key in ("agreement", "kappa") if key in stats},
    }
    if metrics.get("left_out"):
        result["left_out"] = metrics["left_out"]
    if note:
        result["note"] = note
    return result


def _head_inputs(
    model: FastHead,
    project: Project,
    train: tuple[list[int], list[str], np.ndarray],
    test: tuple[list[str], np.ndarray],
    pool: tuple[list[int], list[str], np.ndarray],
) -> tuple[TextFeaturizer | None, list[HybridInputs | np.ndarray]]:
    """(the job's featurizer, the train, test and pool inputs) from (ids,) texts and embeddings.

    A hybrid head gets one featurizer for the whole job, fit on the training and pool texts (the test
    split is never looked at) and kept for the next jobs while that item set stays the same
    (`item_set_featurizer`); each text is transformed once. A head on embeddings gets them as is."""
    (train_ids, train_texts, e_train), (test_texts, e_test), (pool_ids, pool_texts, e_pool) = train, test, pool
    if not learns_from_texts(model):
        return None, [e_train, e_test, e_pool]
    featurizer, words = item_set_featurizer(
        project=project,
        language=project.language,
        item_ids=[*train_ids, *pool_ids],
        texts=[*train_texts, *pool_texts],
    )
    n_train = len(train_ids)
    return featurizer, [
        fit_inputs(model, train_texts, e_train, words[:n_train]),
        fit_inputs(model, test_texts, e_test, featurizer.transform(test_texts) if test_texts else None),
        fit_inputs(model, pool_texts, e_pool, words[n_train:]),
    ]


def _tree_levels(project: Project, classes: list[int], probabilities: np.ndarray) -> list[np.ndarray] | None:
    """Per depth of the label tree, the probabilities of its nodes (sums of their classes'), for
    `tree_uncertainty`; None for a flat project (the strategy is then plain margin)."""
    parents = dict(Label.objects.filter(project=project).values_list("id", "parent_id"))

    def path(label: int) -> list[int]:
        chain = [label]
        while parents.get(chain[-1]) is not None and len(chain) <= len(parents):
            chain.append(parents[chain[-1]])
        return chain[::-1]

    levels = tree_level_probabilities(probabilities, [path(label) for label in classes]) if len(probabilities) else []
    return levels if len(levels) > 1 else None


def _f1_words(metrics: dict) -> str:
    """ "macro-F1 0.812 (test; 1 label left out: fewer than 5 test items)", or why there is none."""
    if metrics["macro_f1"] is None:
        return "not evaluated (too few labels to cross-validate)"
    words = f"macro-F1 {metrics['macro_f1']:.3f} ({metrics['evaluation'].replace('_', '-')}"
    if metrics.get("left_out"):
        n = len(metrics["left_out"])
        words += f"; {n} label{'s' if n > 1 else ''} left out: fewer than {MIN_TEST_PER_CLASS} test items"
    return words + ")"


def _class_f1(metrics: dict) -> dict[int, float]:
    return {int(row["label"]): float(row["f1"]) for row in metrics.get("per_class", [])}
