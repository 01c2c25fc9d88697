"""Inter-annotator agreement for nominal labels: Cohen's kappa and Krippendorff's alpha.

Values are any hashables: label ids, strings, or frozensets of label ids when a whole multi-label set
is compared as one value. Nothing here needs the values to be orderable.

Both coefficients are 0/0 when there is no variation at all (everybody used one single category).
We return 1.0 there rather than NaN: every rater gave the same answer to every item, which a
project dashboard should show as agreement, not as a gap. Callers that need to tell this apart can
check the data for a single category themselves.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

LENGTH_MISMATCH = "labels_a and labels_b must rate the same items: got {len_a} and {len_b} labels"
NOT_A_SET = "rater {rater!r} on item {item!r} gave {value!r}; per_label_alpha needs a set of labels per rating"


@dataclasses.dataclass(frozen=True)
class PairKappa:
    """Cohen's kappa of one pair of raters over the `items` items both of them rated."""

    rater_a: Hashable
    rater_b: Hashable
    kappa: float
    items: int


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters who labelled the same items (nominal categories).

    `labels_a[i]` and `labels_b[i]` are the two labels of item i. Returns None when there are no
    items. When the expected agreement p_e is 1 (both raters used one and the same category for
    every item) kappa is 0/0; we return 1.0, because p_e == 1 forces the observed agreement to be 1
    too, i.e. the raters agree on everything (scikit-learn returns NaN here).
    """
    if len(labels_a) != len(labels_b):
        raise ValueError(LENGTH_MISMATCH.format(len_a=len(labels_a), len_b=len(labels_b)))
    n = len(labels_a)
    if n == 0:
        return None
    agreements = sum(a == b for a, b in zip(labels_a, labels_b, strict=True))
    counts_a, counts_b = Counter(labels_a), Counter(labels_b)
    # n^2 * p_e, kept in integers so that the p_e == 1 test below is exact, not a float comparison.
    chance = sum(count * counts_b[label] for label, count in counts_a.items())
    if chance == n * n:
        return 1.0
    # (p_o - p_e) / (1 - p_e) with both fractions multiplied through by n^2.
    return (n * agreements - chance) / (n * n - chance)


def krippendorff_alpha_nominal(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha with the nominal metric, computed from the coincidence matrix.

    `units[u]` holds the values the coders gave unit u; missing values are simply left out. Units
    with fewer than 2 values cannot be paired and are ignored. Returns None when no unit is
    pairable. When the expected disagreement D_e is 0 (one single category over all pairable
    values) alpha is 0/0; we return 1.0: there is no variation and no disagreement.
    """
    coincidences = coincidence_matrix(units)
    n = coincidences.sum()
    if n < 2:
        return None
    value_totals = coincidences.sum(axis=1)
    observed = (n - np.trace(coincidences)) / n
    expected = (n * n - np.square(value_totals).sum()) / (n * (n - 1))
    if expected == 0:
        return 1.0
    return float(1 - observed / expected)


def coincidence_matrix(units: Iterable[Sequence[Hashable]]) -> np.ndarray:
    """Coincidence matrix o[c, k] of the pairable units, shape (n_values, n_values).

    Rows and columns follow the order in which values first appear. Each unit with m >= 2 values
    contributes its m * (m - 1) ordered pairs of different coders, each weighted 1 / (m - 1), so
    that every pairable value counts exactly once in the total.
    """
    unit_counts = [Counter(unit) for unit in units if len(unit) >= 2]
    index: dict[Hashable, int] = {}
    for counts in unit_counts:
        for value in counts:
            index.setdefault(value, len(index))
    coincidences = np.zeros((len(index), len(index)))
    for counts in unit_counts:
        positions = [index[value] for value in counts]
        tally = np.fromiter(counts.values(), dtype=float, count=len(counts))
        # outer(tally, tally) counts pairs of values in the unit; a value is not paired with itself.
        pairs = np.outer(tally, tally) - np.diag(tally)
        coincidences[np.ix_(positions, positions)] += pairs / (tally.sum() - 1)
    return coincidences


def pairwise_kappa(ratings: Mapping[Hashable, Mapping[Hashable, Hashable]]) -> list[PairKappa]:
    """Cohen's kappa for every pair of raters who share at least one item.

    `ratings[item][rater]` is the rater's label for the item. Kappa is computed on the items both
    raters labelled. Within a pair rater_a < rater_b, and the output is sorted by
    (rater_a, rater_b); raters that cannot be compared are kept in order of first appearance.
    """
    raters = _ordered_raters(ratings)
    rank = {rater: position for position, rater in enumerate(raters)}
    shared: dict[tuple[int, int], tuple[list[Hashable], list[Hashable]]] = defaultdict(lambda: ([], []))
    # One pass over items instead of one per pair: cost grows with the ratings, not raters squared.
    for by_rater in ratings.values():
        for rater_a, rater_b in itertools.combinations(sorted(by_rater, key=rank.__getitem__), 2):
            labels_a, labels_b = shared[rank[rater_a], rank[rater_b]]
            labels_a.append(by_rater[rater_a])
            labels_b.append(by_rater[rater_b])
    return [
        PairKappa(raters[a], raters[b], kappa=cohen_kappa(labels_a, labels_b), items=len(labels_a))
        for (a, b), (labels_a, labels_b) in sorted(shared.items())
    ]


def per_label_alpha(
    ratings: Mapping[Hashable, Mapping[Hashable, AbstractSet[Hashable]]], labels: Iterable[Hashable]
) -> dict[Hashable, float | None]:
    """Krippendorff's alpha for each label on the binary value "label is in this rater's set".

    `ratings[item][rater]` is the set of labels the rater gave the item; a single-label project
    passes one-element sets. A label that nobody ever applied scores 1.0 (all agreed it is absent,
    see the module docstring); None means no item has two raters.
    """
    sets_by_item = [_label_sets(item, by_rater) for item, by_rater in ratings.items()]
    return {
        label: krippendorff_alpha_nominal([[label in labelled for labelled in sets] for sets in sets_by_item])
        for label in labels
    }


def _label_sets(item: Hashable, by_rater: Mapping[Hashable, AbstractSet[Hashable]]) -> list[AbstractSet[Hashable]]:
    # A bare string would pass `label in value` as a substring test and give silently wrong numbers.
    for rater, value in by_rater.items():
        if not isinstance(value, AbstractSet):
            raise TypeError(NOT_A_SET.format(rater=rater, item=item, value=value))
    return list(by_rater.values())


def _ordered_raters(ratings: Mapping[Hashable, Mapping[Hashable, Hashable]]) -> list[Hashable]:
    raters = list(dict.fromkeys(rater for by_rater in ratings.values() for rater in by_rater))
    try:
        return sorted(raters)
    except TypeError:  # e.g. a mix of user ids and names: keep first appearance, still deterministic
        return raters
