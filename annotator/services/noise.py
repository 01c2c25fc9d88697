"""Noisy labels: a `cpu` job runs mlcore's detectors over the labeled training items and flags the
ones whose given label is probably wrong; experts keep, relabel or exclude each flagged item.

The job judges out-of-fold only (mlcore.noise): an item is never judged by a model that trained on
it. With `audit_test` it also judges the locked test split with models of the training items, read
only: the job never changes a label, and test items can never be excluded (nothing trains on them).

Issue 23: the job also picks the cleaning policy the next training snapshot follows while its flags
are open (relabel the flagged items to the suggestion or leave them out, hold the doubtful ones out
or not, judged on plain or class-balanced evidence): by evidence (`AUTO_POLICY`: every candidate
trains the fast head's LR on K-1 folds and is scored out of fold, `mlcore.noise.choose_cleaning_policy`)
or as an expert set it. The run stores the policy and every candidate's score.

A new run replaces the open flags of earlier runs (of the splits it judges); decided flags stay as
history, and an item an expert already decided for its current label (kept it, or relabeled it to
it) is not flagged again. Decisions feed the next training snapshot: a relabel is an expert
decision on the item (`item_adjudicate`, with history), an exclusion an `Exclusion` row (undone by
reopening the flag).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy
from scipy import sparse

from annotator.models import (
    Exclusion,
    Job,
    Label,
    NoiseFlag,
    NoiseRun,
    NoiseSplit,
    NoiseStatus,
    Project,
    RuleKind,
)
from annotator.selectors.noise import NOISE_KIND, JudgedItems, NoiseInputs, is_multi_label, noise_inputs
from annotator.selectors.rules import ProjectTexts, rule_mask
from annotator.services.embeddings import load_encoder, unit_item_embeddings
from annotator.services.head_inputs import fitted_featurizer
from annotator.services.jobs import job_start_alone
from annotator.services.review import item_adjudicate
from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.noise import (
    DEFAULT_DETECTORS,
    DETECTORS,
    FILTER_BY_CHOICES,
    CleaningPolicy,
    NoiseReport,
    NoiseSettings,
    audit_evidence,
    candidate_policies,
    choose_cleaning_policy,
    cleaning_policy,
    detect_label_noise,
    gather_evidence,
    word_features,
)
from mlcore.rules import RuleError

Progress = Callable[[float, str], None]

MIN_LABELED_ITEMS = 20
MIN_CLASSES = 2
# Items of a label with fewer training labels than this are evidence for the others but are not
# flagged themselves: out-of-fold models rarely predict a class seen so few times, so every one of
# them would look wrong.
MIN_LABELS_TO_JUDGE = 5
DEFAULT_FILTER_BY = NoiseSettings().filter_by
# Unflagged items scoring over it stay out of training while open (1.0: hold nothing out).
DEFAULT_DOUBT_SCORE = NoiseSettings().doubt_score
RANDOM_STATE = 0
# The job chooses the cleaning policy by evidence; an expert may instead name one of MANUAL_POLICIES,
# whose hold-out variants hold out at the job's doubt_score.
AUTO_POLICY = "auto"
HOLD_OUT_SUFFIX = "_hold_out"
MANUAL_POLICIES = tuple(policy.name.split("@")[0] for policy in candidate_policies(doubt_scores=(DEFAULT_DOUBT_SCORE,)))
POLICY_CHOICES = (AUTO_POLICY, *MANUAL_POLICIES)
# Blacklist regexes run over every judged text inside the job: a generous budget, per rule.
RULE_BUDGET_SECONDS = 60.0
WRITE_BATCH_SIZE = 1000

MULTI_LABEL_ERROR = gettext_lazy("Noise detection works on single-label projects only; this project is multi-label.")
NO_DETECTOR_ERROR = gettext_lazy("Choose at least one detector.")
UNKNOWN_DETECTOR_ERROR = gettext_lazy("Unknown detector {name!r}: choose from {known}.")
DOUBT_SCORE_ERROR = gettext_lazy("doubt_score must be a number from 0 to 1; got {value!r}.")
UNKNOWN_FILTER_BY_ERROR = gettext_lazy("Unknown filter_by {name!r}: choose one of {known}.")
UNKNOWN_POLICY_ERROR = gettext_lazy("Unknown cleaning policy {name!r}: choose one of {known}.")
NOT_ENOUGH_LABELS_ERROR = gettext_lazy(
    "Noise detection needs at least {items} labeled training items in {classes} or more labels; "
    "this project has {found} in {found_classes} label(s): {missing}."
)
ALREADY_RUNNING_ERROR = gettext_lazy(
    "Noise detection job #{pk} is already {status}: wait for it to finish or cancel it."
)
ALREADY_DECIDED_ERROR = gettext_lazy("This flag was already decided ({status}); reopen it first.")
STILL_OPEN_ERROR = gettext_lazy("This flag is still open: there is no decision to reopen.")
TEST_EXCLUDE_ERROR = gettext_lazy(
    "Test items are only audited: nothing trains on the locked test split, so nothing to exclude."
)
NO_SUGGESTION_ERROR = gettext_lazy("The detectors suggest no other label for this item: choose one.")
SAME_LABEL_ERROR = gettext_lazy("“{name}” is the item's label already: keep it instead.")
REOPEN_RELABEL_ERROR = gettext_lazy(
    "A relabel is an expert decision with its own history: change the item's label on the adjudication page."
)
FLAG_REPLACED_ERROR = gettext_lazy("A newer noise run replaced this flag: reload the page.")
EXCLUSION_REASON = "noise review, flag #{pk}"


# --- starting the job -----------------------------------------------------------------------------------------


def _checked_detectors(detectors: Sequence[str]) -> list[str]:
    """The detectors in registry order, once each; a ValidationError names the valid ones."""
    if not detectors:
        raise ValidationError(NO_DETECTOR_ERROR)
    for name in detectors:
        if name not in DETECTORS:
            raise ValidationError(UNKNOWN_DETECTOR_ERROR.format(name=name, known=", ".join(DETECTORS)))
    return [name for name in DETECTORS if name in set(detectors)]


def _checked_filter_by(filter_by: str) -> str:
    if filter_by not in FILTER_BY_CHOICES:
        raise ValidationError(UNKNOWN_FILTER_BY_ERROR.format(name=filter_by, known=", ".join(FILTER_BY_CHOICES)))
    return filter_by


def _checked_policy(policy: str) -> str:
    if policy not in POLICY_CHOICES:
        raise ValidationError(UNKNOWN_POLICY_ERROR.format(name=policy, known=", ".join(POLICY_CHOICES)))
    return policy


def job_policies(policy: str, doubt_score: float) -> list[CleaningPolicy]:
    """The candidate policies of a job: every one for `AUTO_POLICY`, else the one the expert named;
    hold-out policies hold out above `doubt_score`."""
    if policy == AUTO_POLICY:
        return candidate_policies(doubt_scores=(doubt_score,))
    name = f"{policy}@{doubt_score:g}" if policy.endswith(HOLD_OUT_SUFFIX) else policy
    return [cleaning_policy(name)]


def _check_enough_labels(train: JudgedItems) -> None:
    found, found_classes = len(train), len(train.label_counts)
    if found >= MIN_LABELED_ITEMS and found_classes >= MIN_CLASSES:
        return
    missing = []
    if found < MIN_LABELED_ITEMS:
        missing.append(f"label {MIN_LABELED_ITEMS - found} more item(s)")
    if found_classes < MIN_CLASSES:
        missing.append(f"use {MIN_CLASSES - found_classes} more label(s)")
    raise ValidationError(
        NOT_ENOUGH_LABELS_ERROR.format(
            items=MIN_LABELED_ITEMS,
            classes=MIN_CLASSES,
            found=found,
            found_classes=found_classes,
            missing=" and ".join(missing),
        )
    )


def _checked_inputs(project: Project) -> NoiseInputs:
    if is_multi_label(project):
        raise ValidationError(MULTI_LABEL_ERROR)
    inputs = noise_inputs(project=project)
    _check_enough_labels(inputs.train)
    return inputs


def noise_start(
    *,
    project: Project,
    by: AbstractBaseUser | None,
    detectors: Sequence[str] = DEFAULT_DETECTORS,
    filter_by: str = DEFAULT_FILTER_BY,
    audit_test: bool = False,
    doubt_score: float = DEFAULT_DOUBT_SCORE,
    policy: str = AUTO_POLICY,
) -> Job:
    """Queue a noise-detection job (`cpu` queue). One at a time per project.

    The ensemble judges with the chosen detectors' evidence only (`mlcore.noise.DETECTOR_VIEWS`).
    `policy`: what training does with the flags while they are open, `AUTO_POLICY` (chosen by
    evidence) or one of `MANUAL_POLICIES`; under a hold-out policy unflagged items scoring above
    `doubt_score` (0-1) are held out of training until someone decides.
    """
    chosen = _checked_detectors(detectors)
    filter_by = _checked_filter_by(filter_by)
    doubt_score = _checked_doubt_score(doubt_score)
    policy = _checked_policy(policy)
    # Outside the transaction: reading every final label takes a while, and on SQLite a write
    # transaction would hold up the annotators' submits meanwhile.
    _checked_inputs(project)
    params = {
        "detectors": chosen,
        "filter_by": filter_by,
        "audit_test": bool(audit_test),
        "doubt_score": doubt_score,
        "policy": policy,
    }
    return job_start_alone(
        kind=NOISE_KIND, project=project, params=params, created_by=by, already_running_error=ALREADY_RUNNING_ERROR
    )


# --- the job --------------------------------------------------------------------------------------------------


def _rule_hits(project: Project, texts: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """Which texts the active blacklist rules match (None without such rules), and the rules that failed."""
    rules = list(project.rules.filter(active=True, kind=RuleKind.BLACKLIST))
    if not rules:
        return None, []
    corpus = ProjectTexts(ids=np.arange(len(texts), dtype=np.int64), texts=texts, splits=[""] * len(texts))
    hits = np.zeros(len(texts), dtype=bool)
    failed = []
    for rule in rules:
        try:
            hits |= rule_mask(rule=rule, texts=corpus, budget_seconds=RULE_BUDGET_SECONDS)
        except RuleError:  # too slow or broken since it was saved: the others still count
            failed.append(rule.name)
    return hits, failed


def _job_settings(params: dict) -> tuple[list[str], NoiseSettings]:
    detectors = _checked_detectors(params.get("detectors") or DEFAULT_DETECTORS)
    filter_by = _checked_filter_by(params.get("filter_by") or DEFAULT_FILTER_BY)
    doubt_score = _checked_doubt_score(params.get("doubt_score", DEFAULT_DOUBT_SCORE))
    return detectors, NoiseSettings(filter_by=filter_by, doubt_score=doubt_score, random_state=RANDOM_STATE)


def _checked_doubt_score(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValidationError(DOUBT_SCORE_ERROR.format(value=value))
    return float(value)


def _with_labels(items: JudgedItems, labels: set[int]) -> JudgedItems:
    rows = [row for row, label in enumerate(items.label_ids) if label in labels]
    ids, texts = [items.item_ids[row] for row in rows], [items.texts[row] for row in rows]
    return JudgedItems(ids, texts, [items.label_ids[row] for row in rows])


def _judged_mask(label_ids: list[int], counts: dict[int, int]) -> np.ndarray:
    return np.asarray([counts.get(label, 0) >= MIN_LABELS_TO_JUDGE for label in label_ids], dtype=bool)


def noise_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of a noise-detection job: embed, gather out-of-fold evidence, detect, store the flags."""
    earlier = NoiseRun.objects.filter(job=job).first()
    if earlier is not None:  # a re-delivered task whose first attempt stored its run before the worker died
        progress(100, "Stored by an earlier attempt")
        return _result(earlier)
    project = job.project
    detectors, settings = _job_settings(job.params)
    policies = job_policies(_checked_policy(job.params.get("policy", AUTO_POLICY)), settings.doubt_score)
    inputs = _checked_inputs(project)  # labels may have changed since the job was queued
    train, classes = inputs.train, sorted(inputs.train.label_counts)
    # Test items of a label no training item has cannot be judged by models of the training items.
    audit_test = bool(job.params.get("audit_test"))
    test = _with_labels(inputs.test, set(classes)) if audit_test else JudgedItems([], [], [])
    progress(1, f"{len(train)} labeled items in {len(classes)} labels; loading the encoder")
    encoder = load_encoder(project.backbone)
    vectors = unit_item_embeddings(
        project=project, item_ids=train.item_ids + test.item_ids, encoder=encoder, progress=progress, start=2, span=38
    )
    hits, failed_rules = _rule_hits(project, train.texts + test.texts)
    progress(39, "Counting words for the bag-of-words model")
    # One vocabulary for both splits: the audit's bag-of-words model reads test rows in the train's terms.
    words = word_features(train.texts + test.texts, language=project.language)
    # The out-of-fold model is the loop's hybrid head: one featurizer of every text here (no label seen).
    featurizer = fitted_featurizer(language=project.language, texts=train.texts + test.texts)
    head_words = featurizer.transform(train.texts + test.texts)
    counts = train.label_counts
    train_mask = _judged_mask(train.label_ids, counts)
    report, audit, choice = _detect(
        (train, vectors[: len(train)], _rows(hits, 0, len(train)), _rows(words, 0, len(train))),
        (test, vectors[len(train) :], _rows(hits, len(train), None), _rows(words, len(train), None)),
        classes=classes,
        detectors=detectors,
        settings=settings,
        progress=progress,
        featurizer=featurizer,
        head_words=head_words,
        policies=policies,
        train_mask=train_mask,
    )
    progress(93, "Storing the flags")
    judged = {NoiseSplit.TRAIN: (train, report, train_mask)}
    if audit_test:
        judged[NoiseSplit.TEST] = (test, audit, _judged_mask(test.label_ids, counts))
    run, stored = _store_run(
        job=job,
        encoder_version=encoder.version,
        detectors=detectors,
        settings=settings,
        classes=classes,
        judged=judged,
        choice=choice,
    )
    result = _result(run, already_reviewed=stored["suppressed"], not_judged=stored["not_judged"])
    if failed_rules:
        result["rules_failed"] = failed_rules
    summary = f"{run.n_flagged} of {run.n_items} training items flagged; cleaning policy {run.policy}"
    if run.audited_test:
        summary += f"; test split: {run.test_flagged} of {run.test_items} flagged"
    progress(100, summary)
    return result


# items, their embeddings, their rule hits, their bag-of-words rows
Judged = tuple[JudgedItems, np.ndarray, np.ndarray | None, sparse.csr_matrix | None]


def _rows(matrix, start: int, stop: int | None):
    return None if matrix is None else matrix[start:stop]


def _detect(
    train: Judged,
    test: Judged,
    *,
    classes: list[int],
    detectors: list[str],
    settings: NoiseSettings,
    progress: Progress,
    featurizer: TextFeaturizer,
    head_words: sparse.csr_matrix,
    policies: list[CleaningPolicy],
    train_mask: np.ndarray,
) -> tuple[NoiseReport, NoiseReport | None, ChosenPolicy]:
    """The detectors' report on the training items (out-of-fold), the one the chosen cleaning policy
    acts on, and, if there are any, on the test items, with the policy and how it was chosen.
    The model view is the hybrid head (texts and embeddings, `head_words` the featurizer's rows of the
    train then the test texts); deep kNN reads the embeddings."""
    index = {label: position for position, label in enumerate(classes)}
    (train_items, x_train, train_hits, train_words), (test_items, x_test, test_hits, test_words) = train, test
    n_train = len(train_items)
    train_hybrid = HybridInputs(train_items.texts, x_train, head_words[:n_train])
    y_train = np.asarray([index[label] for label in train_items.label_ids], dtype=np.int64)
    progress(40, f"Out-of-fold models and neighbours for {len(train_items)} items")
    evidence = gather_evidence(
        x_train,
        y_train,
        len(classes),
        words=train_words,
        rule_hits=train_hits,
        settings=settings,
        progress=lambda percent, message: progress(40 + 0.45 * percent, message),
        hybrid=train_hybrid,
        featurizer=featurizer,
    )
    # One report per kind of evidence the candidates act on: plain, or with the classes counted equally.
    reports = {
        balanced: _judged_only(
            detect_label_noise(
                evidence, detectors=detectors, settings=dataclasses.replace(settings, class_balance=balanced)
            ),
            train_mask,
        )
        for balanced in sorted({policy.balanced for policy in policies})
    }
    choice = _choice(x_train, y_train, reports, policies, progress)
    policy = choice["policy"]
    report = reports[policy.balanced]
    if policy.doubt_score is None:  # the policy holds nothing out
        report = dataclasses.replace(report, doubtful=np.zeros(len(report.flags), dtype=bool))
    if not len(test_items):
        return report, None, choice
    progress(90, f"Auditing {len(test_items)} items of the locked test split")
    y_test = np.asarray([index[label] for label in test_items.label_ids], dtype=np.int64)
    audit = audit_evidence(
        x_train,
        y_train,
        x_test,
        y_test,
        len(classes),
        train_words=train_words,
        words=test_words,
        rule_hits=test_hits,
        settings=settings,
        train_hybrid=train_hybrid,
        hybrid=HybridInputs(test_items.texts, x_test, head_words[n_train:]),
        featurizer=featurizer,
    )
    return report, detect_label_noise(audit, detectors=detectors, settings=policy.settings(settings)), choice


# The chosen policy and how: {"policy": CleaningPolicy, "chosen_by": "evidence"|"expert", "scores": {...}, ...}
ChosenPolicy = dict


def _judged_only(report: NoiseReport, mask: np.ndarray) -> NoiseReport:
    """The report as the run stores it: items of labels too rare to judge are neither flagged nor doubtful."""
    doubtful = None if report.doubtful is None else report.doubtful & mask
    return dataclasses.replace(report, flags=report.flags & mask, doubtful=doubtful, scores=report.scores * mask)


def _choice(x_train, y_train, reports: dict, policies: list[CleaningPolicy], progress: Progress) -> ChosenPolicy:
    if len(policies) == 1:
        return {"policy": policies[0], "chosen_by": "expert", "scores": {}}
    progress(86, f"Comparing {len(policies)} cleaning policies out of fold")
    try:
        choice = choose_cleaning_policy(x_train, y_train, reports, policies=policies, random_state=RANDOM_STATE)
    except ValueError as error:  # too few items to score: the first candidate, and why
        return {"policy": policies[0], "chosen_by": "fallback", "scores": {}, "reason": str(error)}
    return {"chosen_by": "evidence", **choice.as_dict(), "policy": choice.policy}


def _result(run: NoiseRun, **extra: int) -> dict:
    result = {
        "noise_run": run.pk,
        "items": run.n_items,
        "flagged": run.n_flagged,
        "held_out": run.n_held_out,
        "detectors": run.detector_counts,
        **extra,
    }
    if run.audited_test:
        result["audit"] = {"items": run.test_items, "flagged": run.test_flagged, "share": run.test_share_flagged}
    return result


def _reviewed(project: Project) -> set[tuple[int, int]]:
    """(item, label) pairs experts already confirmed: kept as given, or relabeled to that label."""
    decided = NoiseFlag.objects.filter(project=project, status__in=[NoiseStatus.KEPT, NoiseStatus.RELABELED])
    pairs = set()
    rows = decided.values_list("item_id", "status", "given_label_id", "relabeled_to_id")
    for item_id, status, given, relabeled in rows:
        label = given if status == NoiseStatus.KEPT else relabeled
        if label is not None:
            pairs.add((item_id, label))
    return pairs


@transaction.atomic
def _store_run(
    *,
    job: Job,
    encoder_version: str,
    detectors: list[str],
    settings: NoiseSettings,
    classes: list[int],
    judged: dict[str, tuple[JudgedItems, NoiseReport | None, np.ndarray]],
    choice: ChosenPolicy,
) -> tuple[NoiseRun, dict]:
    """Record the run and replace earlier runs' open flags with this run's, in one transaction.

    `judged`: per split, the items, the detectors' report (None: nothing to judge) and which items
    may be flagged (their label has enough training labels). `choice`: the cleaning policy and how it
    was chosen (`_choice`).
    """
    policy = choice["policy"]
    project = job.project
    _train, report, train_mask = judged[NoiseSplit.TRAIN]
    run = NoiseRun.objects.create(
        project=project,
        job=job,
        encoder=encoder_version,
        detectors=detectors,
        params={
            "filter_by": settings.filter_by,
            "folds": settings.folds,
            "neighbours": settings.neighbours,
            "doubt_score": settings.doubt_score,
            "class_balance": policy.balanced,
        },
        policy=policy.name,
        policy_choice={key: value for key, value in choice.items() if key != "policy"},
        n_items=int(train_mask.sum()),
        detector_counts={name: int((result.flags & train_mask).sum()) for name, result in report.detectors.items()},
        created_by=job.created_by,
    )
    # Per split: a run that did not audit the test split leaves the last audit's open flags alone.
    NoiseFlag.objects.filter(project=project, status=NoiseStatus.OPEN, split__in=list(judged)).delete()
    reviewed = _reviewed(project)  # read inside the transaction: a decision made during the job counts
    stored = {"suppressed": 0, "not_judged": int((~train_mask).sum())}
    flagged_per_split, held_out_per_split = {}, {}
    for split, (items, split_report, mask) in judged.items():
        flags = []
        for row, held_out in _rows_to_store(split, split_report, mask):
            item_id, given = items.item_ids[row], items.label_ids[row]
            if (item_id, given) in reviewed:
                stored["suppressed"] += 1
                continue
            suggested = classes[int(split_report.suggested[row])]
            flags.append(
                NoiseFlag(
                    project=project,
                    run=run,
                    item_id=item_id,
                    split=split,
                    given_label_id=given,
                    # A flag from the rules alone can have the given label as the best guess: no suggestion.
                    suggested_label_id=suggested if suggested != given else None,
                    score=float(split_report.scores[row]),
                    wrong_probability=float(split_report.wrong_probabilities[row]),
                    votes=int(split_report.votes[row]),
                    detectors=list(split_report.agreeing[row]),
                    held_out=held_out,
                )
            )
        NoiseFlag.objects.bulk_create(flags, batch_size=WRITE_BATCH_SIZE)
        flagged_per_split[split] = sum(not flag.held_out for flag in flags)
        held_out_per_split[split] = sum(flag.held_out for flag in flags)
    run.n_flagged = flagged_per_split[NoiseSplit.TRAIN]
    run.n_held_out = held_out_per_split[NoiseSplit.TRAIN]
    if NoiseSplit.TEST in judged:
        run.test_items = int(judged[NoiseSplit.TEST][2].sum())
        run.test_flagged = flagged_per_split[NoiseSplit.TEST]
    run.save(update_fields=["n_flagged", "n_held_out", "test_items", "test_flagged"])
    return run, stored


def _rows_to_store(split: str, report: NoiseReport | None, mask: np.ndarray) -> list[tuple[int, bool]]:
    """(row, held out) of the items to store: the flagged ones, then (training split only) the doubtful.

    The doubtful items of the test split are not stored: nothing trains on them, so holding them
    out means nothing, and the audit lists what the flags say.
    """
    if report is None:
        return []
    rows = [(int(row), False) for row in np.flatnonzero(report.flags & mask)]
    if split == NoiseSplit.TRAIN and report.doubtful is not None:
        rows += [(int(row), True) for row in np.flatnonzero(report.doubtful & mask)]
    return rows


# --- the experts' decisions -----------------------------------------------------------------------------------


def _lock(flag: NoiseFlag) -> NoiseFlag:
    try:
        return NoiseFlag.objects.select_for_update().select_related("item__project").get(pk=flag.pk)
    except NoiseFlag.DoesNotExist:  # a newer run replaced it while the expert looked at it
        raise ValidationError(FLAG_REPLACED_ERROR) from None


def _lock_open(flag: NoiseFlag) -> NoiseFlag:
    locked = _lock(flag)
    if locked.status != NoiseStatus.OPEN:
        raise ValidationError(ALREADY_DECIDED_ERROR.format(status=locked.get_status_display().lower()))
    return locked


def _decide(flag: NoiseFlag, status: str, by: AbstractBaseUser, **fields) -> NoiseFlag:
    flag.status, flag.decided_by, flag.decided_at = status, by, timezone.now()
    for name, value in fields.items():
        setattr(flag, name, value)
    flag.save(update_fields=["status", "decided_by", "decided_at", *fields])
    return flag


@transaction.atomic
def noise_flag_keep(*, flag: NoiseFlag, by: AbstractBaseUser) -> NoiseFlag:
    """The given label is right: the item stays as it is and is not flagged for this label again."""
    return _decide(_lock_open(flag), NoiseStatus.KEPT, by)


@transaction.atomic
def noise_flag_relabel(
    *, flag: NoiseFlag, by: AbstractBaseUser, label: Label | None = None, note: str = ""
) -> NoiseFlag:
    """Give the item `label` (default: the suggestion) as an expert decision, kept in its history."""
    flag = _lock_open(flag)
    label = label or flag.suggested_label
    if label is None:
        raise ValidationError(NO_SUGGESTION_ERROR)
    if label.pk == flag.given_label_id:
        raise ValidationError(SAME_LABEL_ERROR.format(name=label.name))
    why = f"Noise review, flag #{flag.pk}: {', '.join(flag.detectors) or 'ensemble'} (score {flag.score:.2f})"
    item_adjudicate(item=flag.item, by=by, labels=[label], note=f"{why}. {note.strip()}".strip())
    return _decide(flag, NoiseStatus.RELABELED, by, relabeled_to=label)


@transaction.atomic
def noise_flag_exclude(*, flag: NoiseFlag, by: AbstractBaseUser) -> NoiseFlag:
    """Keep the item out of training (it stays visible, with its label); reopening the flag undoes it."""
    flag = _lock_open(flag)
    if flag.split == NoiseSplit.TEST:
        raise ValidationError(TEST_EXCLUDE_ERROR)
    exclusion = Exclusion.objects.create(
        item=flag.item, rule=None, reason=EXCLUSION_REASON.format(pk=flag.pk), created_by=by
    )
    return _decide(flag, NoiseStatus.EXCLUDED, by, exclusion=exclusion)


@transaction.atomic
def noise_flag_reopen(*, flag: NoiseFlag) -> NoiseFlag:
    """Undo a keep or an exclusion: the flag is open again (and the item back in training)."""
    flag = _lock(flag)
    if flag.status == NoiseStatus.OPEN:
        raise ValidationError(STILL_OPEN_ERROR)
    if flag.status == NoiseStatus.RELABELED:
        raise ValidationError(REOPEN_RELABEL_ERROR)
    if flag.exclusion_id is not None:
        Exclusion.objects.filter(pk=flag.exclusion_id).delete()
    flag.status, flag.decided_by, flag.decided_at, flag.exclusion = NoiseStatus.OPEN, None, None, None
    flag.save(update_fields=["status", "decided_by", "decided_at", "exclusion"])
    return flag
