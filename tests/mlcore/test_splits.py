import numpy as np
import pytest

from mlcore.splits import stratified_split_indices

LABELS = ["a"] * 50 + ["b"] * 30 + ["c"] * 20


def test_split_is_stratified_disjoint_and_complete():
    train, test = stratified_split_indices(LABELS, test_size=0.2, random_state=0)
    assert len(test) == 20
    assert sorted([*train, *test]) == list(range(100))
    assert sorted(LABELS[i] for i in test).count("a") == 10


def test_split_is_reproducible_under_a_seed_and_changes_with_it():
    first = stratified_split_indices(LABELS, test_size=0.2, random_state=1)[1]
    assert np.array_equal(first, stratified_split_indices(LABELS, test_size=0.2, random_state=1)[1])
    assert not np.array_equal(first, stratified_split_indices(LABELS, test_size=0.2, random_state=2)[1])


def test_bad_test_size_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split_indices(LABELS, test_size=1.5, random_state=0)
