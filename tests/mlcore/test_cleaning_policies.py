"""Cleaning policies (what training learns from once a noise report is acted on) and their chooser."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.noise import (
    CleaningPolicy,
    NoiseEvidence,
    NoiseReport,
    NoiseSettings,
    candidate_policies,
    choose_cleaning_policy,
    cleaning_policy,
    detect_label_noise,
    gather_evidence,
    hedged_rows,
    policy_reports,
    prior_corrected,
    soft_relabel_rows,
    trust_weights,
)
from mlcore.noise_bench import flip_labels


def _report(scores, flags, suggested, wrong=None) -> NoiseReport:
    n = len(scores)
    return NoiseReport(
        detectors={},
        scores=np.asarray(scores, dtype=float),
        flags=np.asarray(flags, dtype=bool),
        votes=np.zeros(n, dtype=np.int64),
        suggested=np.asarray(suggested),
        wrong_probabilities=None if wrong is None else np.asarray(wrong, dtype=float),
    )


LABELS = np.array([0, 1, 1, 0])
REPORT = _report([0.9, 0.3, 0.05, 0.0], [True, False, False, False], [1, 0, 1, 0])


@pytest.mark.parametrize(
    ("policy", "labels", "keep"),
    [
        (CleaningPolicy("relabel"), [1, 1, 1, 0], [True, True, True, True]),
        (CleaningPolicy("remove"), [0, 1, 1, 0], [False, True, True, True]),
        (CleaningPolicy("relabel", 0.15), [1, 1, 1, 0], [True, False, True, True]),
        (CleaningPolicy("remove", 0.15), [0, 1, 1, 0], [False, False, True, True]),
        (CleaningPolicy("relabel", 0.5), [1, 1, 1, 0], [True, True, True, True]),
    ],
)
def test_each_policy_acts_on_the_flags_and_the_doubtful(policy, labels, keep):
    cleaned, kept = policy.apply(LABELS, REPORT)
    assert cleaned.tolist() == labels and kept.tolist() == keep
    assert LABELS.tolist() == [0, 1, 1, 0]  # the given labels are never changed in place


def test_soft_relabeling_trains_a_doubted_item_with_both_labels_weighted_by_p_wrong():
    """Issue 23: the flagged item (p 0.8) trains as its given label at 0.2 and the suggestion at 0.8; the
    unflagged item whose suggestion differs (p 0.3) only when every item is hedged; the rest once, whole."""
    report = _report([0.9, 0.3, 0.05, 0.0], [True, False, False, False], [1, 0, 1, 0], wrong=[0.8, 0.3, 0.0, 0.0])

    rows, labels, weights = soft_relabel_rows(LABELS, report)
    assert rows.tolist() == [0, 1, 2, 3, 0]
    assert labels.tolist() == [0, 1, 1, 0, 1]
    assert np.allclose(weights, [0.2, 1, 1, 1, 0.8])

    rows, labels, weights = soft_relabel_rows(LABELS, report, every_item=True)
    assert rows.tolist() == [0, 1, 2, 3, 0, 1]
    assert labels.tolist() == [0, 1, 1, 0, 1, 0]
    assert np.allclose(weights, [0.2, 0.7, 1, 1, 0.8, 0.3])
    # Each item's weights add up to one: the hedge moves weight between labels, never adds any.
    assert np.allclose(np.bincount(rows, weights=weights), 1.0)
    assert LABELS.tolist() == [0, 1, 1, 0]


def test_soft_relabeling_needs_the_calibrated_probabilities():
    with pytest.raises(ValueError, match="wrong_probabilities"):
        soft_relabel_rows(LABELS, REPORT)
    with pytest.raises(ValueError, match="wrong_probabilities"):
        CleaningPolicy("soft_relabel").training_rows(LABELS, REPORT)


def test_hedged_rows_take_any_labels_and_refuse_rows_that_are_not_items():
    """The app hedges label ids (not class indices) by item position."""
    rows, labels, weights = hedged_rows([41, 42, 43], [2], [41], [0.75])
    assert rows.tolist() == [0, 1, 2, 2] and labels == [41, 42, 43, 41]
    assert np.allclose(weights, [1, 1, 0.25, 0.75])
    for hedged, suggestions, wrong in (([3], [41], [0.5]), ([0, 0], [42, 43], [0.5, 0.5]), ([0], [42], [])):
        with pytest.raises(ValueError):
            hedged_rows([41, 42, 43], hedged, suggestions, wrong)


@pytest.mark.parametrize(
    ("policy", "rows", "labels", "weights"),
    [
        (CleaningPolicy("relabel"), [0, 1, 2, 3], [1, 1, 1, 0], None),
        (CleaningPolicy("remove", 0.15), [2, 3], [1, 0], None),
        (CleaningPolicy("soft_relabel"), [0, 1, 2, 3, 0], [0, 1, 1, 0, 1], [0.2, 1, 1, 1, 0.8]),
        # The doubtful item (score 0.3) is held out; the flagged one still trains with both labels.
        (CleaningPolicy("soft_relabel", 0.15), [0, 2, 3, 0], [0, 1, 0, 1], [0.2, 1, 1, 0.8]),
    ],
)
def test_training_rows_are_what_each_policy_fits_on(policy, rows, labels, weights):
    report = _report([0.9, 0.3, 0.05, 0.0], [True, False, False, False], [1, 0, 1, 0], wrong=[0.8, 0.3, 0.0, 0.0])
    got_rows, got_labels, got_weights = policy.training_rows(LABELS, report)
    assert got_rows.tolist() == rows and got_labels.tolist() == labels
    assert got_weights is None if weights is None else np.allclose(got_weights, weights)
    # A soft policy keeps the labels as given: the hedge is in the rows, not in `apply`.
    if policy.flagged == "soft_relabel":
        assert policy.apply(LABELS, report)[0].tolist() == LABELS.tolist()


def test_names_read_back_and_bad_names_are_clear_errors():
    for policy in candidate_policies(doubt_scores=(0.15, 0.3)):
        assert cleaning_policy(policy.name) == policy and str(policy) == policy.name
    assert cleaning_policy("balanced_remove_hold_out@0.2") == CleaningPolicy("remove", 0.2, True)
    assert cleaning_policy("balanced_soft_relabel") == CleaningPolicy("soft_relabel", None, True)
    for name in ("shuffle", "relabel_hold_out@x", "relabel_hold_out@2"):
        with pytest.raises(ValueError, match="Unknown cleaning policy"):
            cleaning_policy(name)
    with pytest.raises(ValueError, match="doubt_score"):
        CleaningPolicy("relabel", 1.5)


def test_candidates_cover_every_action_with_and_without_hold_out_on_both_reports():
    names = {policy.name for policy in candidate_policies()}
    assert names == {
        f"{balanced}{action}{hold_out}"
        for balanced in ("", "balanced_")
        for action in ("relabel", "remove", "soft_relabel")
        for hold_out in ("", "_hold_out@0.15")
    }


def test_trust_weights_leave_flagged_items_out():
    report = _report([0.9, 0.3, 0.05, 0.0], [True, False, False, False], [1, 0, 1, 0], wrong=[0.9, 0.4, 0.1, 0.0])
    assert trust_weights(report).tolist() == pytest.approx([0.0, 0.6, 0.9, 1.0])
    assert trust_weights(report, "threshold").tolist() == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="Unknown trust"):
        trust_weights(report, "blind")


def test_prior_correction_lifts_the_rare_class_and_leaves_balanced_data_alone():
    labels = np.array([0] * 9 + [1])
    view = np.tile([0.8, 0.2], (10, 1))
    evidence = NoiseEvidence(labels, view, view)
    corrected = prior_corrected(evidence)
    assert corrected.model_probabilities[0, 1] > 0.5  # 0.2 / 0.1 against 0.8 / 0.9
    np.testing.assert_allclose(corrected.model_probabilities.sum(axis=1), 1.0)
    balanced = NoiseEvidence(np.array([0, 1] * 5), view, view)
    np.testing.assert_allclose(prior_corrected(balanced).model_probabilities, view)


def _long_tail(seed: int = 0):
    """Three blobs of 150, 60 and 16 items whose edges overlap, 10% symmetric noise."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [2.2, 0.0], [0.0, 2.2]])
    sizes = [150, 60, 16]
    labels = np.repeat(np.arange(3), sizes)
    features = (centres[labels] + rng.normal(scale=0.8, size=(len(labels), 2))).astype(np.float32)
    noisy, flipped = flip_labels(labels, 0.1, 3, rng)
    return features, labels, noisy, flipped


def test_the_chooser_scores_every_candidate_and_returns_the_best():
    features, _labels, noisy, _flipped = _long_tail()
    settings = NoiseSettings(neighbours=5)
    evidence = gather_evidence(features, noisy, 3, settings=settings)
    policies = candidate_policies()
    reports = policy_reports(evidence, policies, settings=settings)
    assert set(reports) == {False, True}
    choice = choose_cleaning_policy(features, noisy, reports, policies=policies, random_state=0)
    assert set(choice.scores) == {policy.name for policy in policies}
    assert all(len(scores) == choice.folds for scores in choice.fold_scores.values())
    assert choice.scores[choice.policy.name] == max(choice.scores.values())
    assert 0 < choice.trusted <= len(noisy)
    assert choice.as_dict()["policy"] == choice.policy.name


def test_the_chooser_sees_a_policy_that_starves_a_rare_class():
    """A report that doubts every item of the rare class: holding the doubtful out leaves the class
    with no training item, and the chooser must see the macro-F1 that costs."""
    features, labels, _noisy, _flipped = _long_tail()
    scores = np.where(labels == 2, 0.5, 0.0)
    report = _report(scores, np.zeros(len(labels), dtype=bool), labels, wrong=np.where(labels == 2, 0.3, 0.0))
    policies = [CleaningPolicy("relabel", 0.15), CleaningPolicy("relabel")]
    choice = choose_cleaning_policy(features, labels, {False: report}, policies=policies, random_state=0)
    assert choice.policy == CleaningPolicy("relabel")
    assert choice.scores["relabel"] > choice.scores["relabel_hold_out@0.15"] + 0.1


def test_the_chooser_needs_the_reports_its_policies_act_on():
    features, labels, *_ = _long_tail()
    report = _report(np.zeros(len(labels)), np.zeros(len(labels), dtype=bool), labels)
    with pytest.raises(ValueError, match="no report for the policies with balanced"):
        choose_cleaning_policy(features, labels, {False: report})
    with pytest.raises(ValueError, match="must judge the"):
        choose_cleaning_policy(features[:10], labels[:10], {False: report}, policies=[CleaningPolicy()])
    with pytest.raises(ValueError, match="at least one policy"):
        choose_cleaning_policy(features, labels, {False: report}, policies=[])


def test_a_balanced_policy_acts_on_the_prior_corrected_report():
    features, _labels, noisy, _flipped = _long_tail()
    evidence = gather_evidence(features, noisy, 3, settings=NoiseSettings(neighbours=5))
    plain = detect_label_noise(evidence, settings=NoiseSettings(neighbours=5))
    balanced = detect_label_noise(
        evidence, settings=CleaningPolicy(balanced=True).settings(NoiseSettings(neighbours=5))
    )
    # The rare class's own items look less wrong once the classes count equally.
    rare = noisy == 2
    assert balanced.scores[rare].mean() <= plain.scores[rare].mean()


def test_the_chooser_fits_a_soft_policy_with_its_weights():
    """A soft relabel that is sure of every flag (p = 1) trains exactly what a hard relabel trains: its
    given-label rows weigh 0. Were the weights dropped, those rows would count whole and the scores part."""
    features, labels, noisy, flipped = _long_tail()
    sure = _report(flipped.astype(float), flipped, labels, wrong=flipped.astype(float))
    policies = [CleaningPolicy("relabel"), CleaningPolicy("soft_relabel")]
    choice = choose_cleaning_policy(features, noisy, {False: sure}, policies=policies, random_state=0)
    assert choice.scores["soft_relabel"] == pytest.approx(choice.scores["relabel"], abs=2e-4)
    unsure = _report(flipped.astype(float), flipped, labels, wrong=np.where(flipped, 0.5, 0.0))
    halved = choose_cleaning_policy(features, noisy, {False: unsure}, policies=policies, random_state=0)
    assert halved.fold_scores["soft_relabel"] != choice.fold_scores["soft_relabel"]
