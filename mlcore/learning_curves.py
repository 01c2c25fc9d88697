"""Learning curves and stopping signals for active learning: pure math over small arrays.

- `fit_learning_curve(n, f1)`: fits the inverse power law F1(n) = a - b * n^(-c) (a: the plateau
  the class tends to, b, c > 0: how fast it gets there) to one class's (labels, F1) points.
- `labels_needed(curve, target)`: how many labels of that class the fit says reach `target` F1.
- `prediction_agreement(previous, current)`: share of pool items on which two successive models
  predict the same label, and Cohen's kappa between them.
- `stopping_signal(agreements, threshold)`: "stabilising predictions" (Bloodgood & Vijay-Shanker,
  2009): labeling can stop once successive models agree on the pool above a threshold.

    >>> curve = fit_learning_curve([10, 20, 40, 80], [0.52, 0.66, 0.75, 0.81])
    >>> labels_needed(curve, target=0.9).status
    'estimate'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 3  # the law has three parameters
MAX_EXPONENT = 3.0
# An estimate far beyond what was seen is a guess, not a forecast: report it as out of reach.
MAX_EXTRAPOLATION = 100.0
DEFAULT_AGREEMENT_THRESHOLD = 0.97
DEFAULT_STABLE_WINDOW = 2


@dataclass(frozen=True)
class LearningCurve:
    """F1(n) = a - b * n^(-c), fitted on `n_points` points up to `max_n` labels."""

    a: float
    b: float
    c: float
    n_points: int
    max_n: int

    def predict(self, n: float | np.ndarray) -> np.ndarray:
        n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
        return np.clip(self.a - self.b * n ** (-self.c), 0.0, 1.0)


@dataclass(frozen=True)
class LabelEstimate:
    """How many labels a class needs for a target F1.

    status: "enough" (already at the target), "estimate" (`total` labels in all, `more` to add),
    "unreachable" (the fitted plateau is below the target, or the answer is far beyond the data),
    "too_few_points" (fewer than MIN_POINTS distinct label counts: nothing to fit).
    """

    status: str
    total: int | None = None
    more: int | None = None


def _law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * n ** (-c)


def fit_learning_curve(n_labels: Sequence[float], f1: Sequence[float]) -> LearningCurve | None:
    """Fit F1(n) = a - b n^-c to points (labels, F1); None with fewer than MIN_POINTS distinct n.

    Bounded least squares: 0 <= a <= 1, b >= 0, 0 < c <= MAX_EXPONENT. Repeated label counts are
    averaged first, so several models trained on the same labels count as one point.
    """
    n = np.asarray(n_labels, dtype=np.float64)
    y = np.asarray(f1, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError(f"n_labels and f1 must be 1-d and of equal length; got {n.shape} and {y.shape}")
    keep = np.isfinite(n) & np.isfinite(y) & (n > 0)
    n, y = n[keep], y[keep]
    distinct = np.unique(n)
    if len(distinct) < MIN_POINTS:
        return None
    y = np.array([y[n == value].mean() for value in distinct])
    n = distinct
    from scipy.optimize import curve_fit

    start = (min(1.0, max(float(y.max()), 0.05)), max(float(y.max() - y.min()), 0.1) * n[0] ** 0.5, 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = curve_fit(
                _law, n, y, p0=start, bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, MAX_EXPONENT]), maxfev=5000
            )
    except (RuntimeError, ValueError):
        return None
    a, b, c = (float(value) for value in params)
    return LearningCurve(a=a, b=b, c=c, n_points=len(n), max_n=int(n.max()))


def labels_needed(curve: LearningCurve | None, *, target: float, current_n: int, current_f1: float | None = None):
    """The labels (in all, and more than `current_n`) the fitted curve needs to reach `target` F1."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be within (0, 1]; got {target}")
    if current_f1 is not None and current_f1 >= target:
        return LabelEstimate("enough", total=current_n, more=0)
    if curve is None:
        return LabelEstimate("too_few_points")
    if curve.a <= target or curve.b <= 0:
        return LabelEstimate("unreachable")
    total = (curve.b / (curve.a - target)) ** (1.0 / curve.c)
    if not math.isfinite(total) or total > MAX_EXTRAPOLATION * max(curve.max_n, 1):
        return LabelEstimate("unreachable")
    total = max(math.ceil(total), current_n)
    return LabelEstimate("estimate" if total > current_n else "enough", total=total, more=total - current_n)


@dataclass(frozen=True)
class Agreement:
    share: float  # of items with the same predicted label
    kappa: float  # Cohen's kappa: agreement beyond chance
    n: int


def prediction_agreement(previous: Sequence, current: Sequence) -> Agreement:
    """How far two models' predicted labels for the same items agree: raw share and Cohen's kappa."""
    a, b = np.asarray(previous), np.asarray(current)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two 1-d prediction arrays of equal length are needed; got {a.shape} and {b.shape}")
    n = len(a)
    if n == 0:
        return Agreement(share=1.0, kappa=1.0, n=0)
    observed = float((a == b).mean())
    labels = np.union1d(a, b)
    expected = float(sum((a == label).mean() * (b == label).mean() for label in labels))
    kappa = 1.0 if expected >= 1.0 else (observed - expected) / (1.0 - expected)
    return Agreement(share=observed, kappa=float(kappa), n=n)


@dataclass(frozen=True)
class StoppingSignal:
    stable: bool
    latest: float | None  # the last agreement, None before two models exist
    threshold: float
    window: int
    rounds_above: int  # how many of the latest agreements in a row reach the threshold


def stopping_signal(
    agreements: Sequence[float], *, threshold: float = DEFAULT_AGREEMENT_THRESHOLD, window: int = DEFAULT_STABLE_WINDOW
) -> StoppingSignal:
    """Stable once the last `window` agreements between successive models all reach `threshold`."""
    if window < 1:
        raise ValueError(f"window must be >= 1; got {window}")
    values = [float(value) for value in agreements]
    rounds = 0
    for value in reversed(values):
        if value < threshold:
            break
        rounds += 1
    return StoppingSignal(
        stable=rounds >= window,
        latest=values[-1] if values else None,
        threshold=threshold,
        window=window,
        rounds_above=rounds,
    )
