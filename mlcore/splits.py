"""Reproducible data splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[str], *, test_size: float, random_state: int | np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/test split: (train_idx, test_idx), each sorted.

    Class proportions in the test part match the whole (up to rounding).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    indices = np.arange(len(labels))
    seed = random_state.integers(2**32) if isinstance(random_state, np.random.Generator) else random_state
    train_idx, test_idx = train_test_split(indices, test_size=test_size, random_state=seed, stratify=list(labels))
    return np.sort(train_idx), np.sort(test_idx)
