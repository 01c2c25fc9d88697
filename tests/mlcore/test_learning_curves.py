"""Learning-curve fits, label estimates, prediction agreement and the stopping signal."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.learning_curves import (
    fit_learning_curve,
    labels_needed,
    prediction_agreement,
    stopping_signal,
)


def _law(n, a=0.95, b=1.2, c=0.6):
    return a - b * np.asarray(n, dtype=float) ** -c


def test_the_fit_recovers_an_inverse_power_law_and_estimates_the_labels_for_a_target():
    n = np.array([10, 20, 40, 80, 160])
    curve = fit_learning_curve(n, _law(n))
    assert curve is not None and curve.n_points == 5
    assert (curve.a, curve.b, curve.c) == pytest.approx((0.95, 1.2, 0.6), rel=1e-2)
    estimate = labels_needed(curve, target=0.9, current_n=160, current_f1=float(_law(160)))
    truth = (1.2 / 0.05) ** (1 / 0.6)
    assert estimate.status == "estimate"
    assert estimate.total == pytest.approx(truth, rel=0.05)
    assert estimate.more == estimate.total - 160


def test_noisy_points_still_fit_and_repeated_counts_are_averaged():
    rng = np.random.default_rng(0)
    n = np.repeat([10, 25, 50, 100, 200], 2)
    curve = fit_learning_curve(n, _law(n) + rng.normal(0, 0.01, len(n)))
    assert curve is not None and curve.n_points == 5
    assert 0.9 < curve.a <= 1.0
    assert curve.predict([1e6])[0] == pytest.approx(curve.a, abs=0.01)


def test_estimates_say_enough_unreachable_or_too_few_points():
    assert labels_needed(None, target=0.9, current_n=30, current_f1=0.95).status == "enough"
    assert labels_needed(None, target=0.9, current_n=30, current_f1=0.5).status == "too_few_points"
    assert fit_learning_curve([10, 20], [0.5, 0.6]) is None
    plateau = fit_learning_curve([10, 20, 40, 80], _law([10, 20, 40, 80], a=0.7))
    assert labels_needed(plateau, target=0.9, current_n=80, current_f1=0.65).status == "unreachable"
    with pytest.raises(ValueError):
        labels_needed(plateau, target=1.5, current_n=1)
    with pytest.raises(ValueError):
        fit_learning_curve([1, 2, 3], [0.1, 0.2])


def test_agreement_and_kappa():
    same = prediction_agreement([1, 2, 3, 1], [1, 2, 3, 1])
    assert (same.share, same.kappa, same.n) == (1.0, 1.0, 4)
    half = prediction_agreement([1, 1, 2, 2], [1, 2, 1, 2])
    assert half.share == 0.5 and half.kappa == pytest.approx(0.0)
    constant = prediction_agreement([5, 5], [5, 5])
    assert constant.kappa == 1.0
    assert prediction_agreement([], []).n == 0
    with pytest.raises(ValueError):
        prediction_agreement([1], [1, 2])


def test_the_stopping_signal_needs_the_last_rounds_above_the_threshold():
    assert stopping_signal([]).latest is None and not stopping_signal([]).stable
    signal = stopping_signal([0.80, 0.98, 0.99], threshold=0.97, window=2)
    assert signal.stable and signal.rounds_above == 2 and signal.latest == 0.99
    assert not stopping_signal([0.99, 0.90, 0.98], threshold=0.97, window=2).stable
    with pytest.raises(ValueError):
        stopping_signal([0.9], window=0)
