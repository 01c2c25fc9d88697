"""What a model trains on: labels or a teacher's soft targets, per-row weights, encoded for training.

Callers hand `TextClassifier.fit` either a label sequence (one label per item; one label list per item
when multi-label) or a `SoftTargets`: a teacher's probabilities over `classes`, optionally with the human
label of the rows that have one. `encode_targets` turns either into a `TrainingTargets` that every model
kind trains from, so that hard labels, soft labels and `sample_weight` follow one code path.

With soft targets the loss of row i is

    alpha * loss(student_i, hard_i)                                 (only rows with a hard label)
    + (1 - alpha) * T^2 * KL(p_teacher_i || softmax(z_i / T))       (every row)

times `sample_weight[i]` (`mlcore.losses.DistillationLoss`; multi-label: one Bernoulli KL per class,
averaged over classes, against sigmoid(z / T)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

# Rows of single-label probabilities must sum to 1 within this tolerance.
ROW_SUM_TOLERANCE = 1e-3
# A hard label's index for a row that has none.
NO_LABEL = -1


# --- labels -------------------------------------------------------------------------------------


def plain_label(label: Any) -> str | int:
    """A JSON-storable label: numpy scalars become Python ones; anything but str/int is refused."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, str | int):
        raise ValueError(f"labels must be strings or integers; got {label!r} ({type(label).__name__})")
    return label


def sorted_classes(labels: Sequence[str | int]) -> list[str | int]:
    if len({type(label) for label in labels}) > 1:
        raise ValueError("labels must be all strings or all integers, not a mix")
    return sorted(set(labels))


def label_list(row: Any, position: int) -> list[str | int]:
    if isinstance(row, str | bytes) or not isinstance(row, Sequence | set | frozenset | np.ndarray):
        raise ValueError(f"multi-label y must hold one list of labels per item; y[{position}] is {row!r}")
    return list(dict.fromkeys(plain_label(label) for label in row))


def _class_index(classes: Sequence[str | int], label: str | int, where: str) -> int:
    try:
        return list(classes).index(label)
    except ValueError:
        raise ValueError(f"{where}: label {label!r} is not among the classes {list(classes)}") from None


# --- soft targets -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SoftTargets:
    """A teacher's probabilities as training targets, for `TextClassifier.fit(X, SoftTargets(...))`.

    - `classes`: the label of each column, sorted (the fitted model's `classes_` will equal them).
    - `probabilities` (n, k): the teacher's rows over `classes`, already softened at `temperature`
      (single-label rows sum to 1; multi-label entries are independent probabilities in [0, 1]).
    - `hard`: per row its human label (a label list when multi-label) or None (a pool row); None: no
      row has one.
    - `temperature` T > 0: the student matches softmax(logits / T) to the rows, scaled by T^2.
    - `alpha` in [0, 1]: the weight of the hard-label loss; 1 - alpha weighs the distillation term.

    Raises ValueError on a wrong shape, values outside [0, 1], T <= 0, alpha outside [0, 1], or a hard
    label that is not among `classes`; row sums are checked by `fit` (they need not sum to 1 when
    multi-label).
    """

    classes: Sequence[str | int]
    probabilities: np.ndarray
    hard: Sequence[Any] | None = None
    temperature: float = 1.0
    alpha: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.classes, str) or not isinstance(self.classes, Sequence | np.ndarray):
            raise ValueError(f"SoftTargets.classes must be a sequence of labels; got {self.classes!r}")
        classes = tuple(plain_label(label) for label in self.classes)
        if not classes:
            raise ValueError("SoftTargets.classes must not be empty")
        if list(classes) != sorted_classes(classes):
            raise ValueError(f"SoftTargets.classes must be sorted and unique (as classes_); got {list(classes)}")
        probabilities = np.array(self.probabilities, dtype=np.float64)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
            raise ValueError(
                f"SoftTargets.probabilities must have shape (n, {len(classes)}), one column per class; "
                f"got {probabilities.shape}"
            )
        if (
            not np.all(np.isfinite(probabilities))
            or probabilities.min(initial=0) < 0
            or probabilities.max(initial=0) > 1
        ):
            raise ValueError("SoftTargets.probabilities must be finite values in [0, 1]")
        probabilities.setflags(write=False)
        temperature, alpha = self.temperature, self.alpha
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
            raise ValueError(f"SoftTargets.temperature must be a number > 0; got {temperature!r}")
        if not math.isfinite(temperature):
            raise ValueError(f"SoftTargets.temperature must be finite; got {temperature!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise ValueError(f"SoftTargets.alpha must be a number in [0, 1]; got {alpha!r}")
        hard = None if self.hard is None else tuple(self.hard)
        if hard is not None:
            if len(hard) != len(probabilities):
                raise ValueError(f"SoftTargets.hard has {len(hard)} rows but probabilities have {len(probabilities)}")
            for i, label in enumerate(hard):
                for one in _hard_labels(label, i):
                    _class_index(classes, one, f"SoftTargets.hard[{i}]")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "probabilities", probabilities)
        object.__setattr__(self, "hard", hard)
        object.__setattr__(self, "temperature", float(temperature))
        object.__setattr__(self, "alpha", float(alpha))

    def __len__(self) -> int:
        return len(self.probabilities)


def _hard_labels(label: Any, position: int) -> list[str | int]:
    """The labels one hard entry names: none for None, its list (multi-label), or the one label."""
    if label is None:
        return []
    if isinstance(label, str | int | np.generic):
        return [plain_label(label)]
    return label_list(label, position)


# --- encoded targets ----------------------------------------------------------------------------


@dataclass
class TargetBatch:
    """The targets of one mini-batch, as tensors; `hard` alone for plain labels without weights."""

    hard: torch.Tensor
    has_hard: torch.Tensor | None = None
    soft: torch.Tensor | None = None
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.hard.shape[0])


@dataclass(eq=False)
class TrainingTargets:
    """Targets encoded over the model's classes, what `_fit_encoded` / `_continue_encoded` receive.

    - `hard`: (n,) int64 class ids (NO_LABEL where a row has none) or (n, k) float32 0/1 (multi-label).
    - `has_hard`: (n,) bool, rows with a hard label.
    - `soft`: (n, k) float32 teacher probabilities, or None (plain labels).
    - `weight`: (n,) float32 sample weights, or None (all 1).
    - `temperature`, `alpha`: of the soft targets (alpha 1 for plain labels).
    """

    hard: np.ndarray
    has_hard: np.ndarray
    multi_label: bool
    n_classes: int
    soft: np.ndarray | None = None
    weight: np.ndarray | None = None
    temperature: float = 1.0
    alpha: float = 1.0
    _tensors: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.has_hard)

    @property
    def is_soft(self) -> bool:
        return self.soft is not None

    def subset(self, rows: np.ndarray) -> TrainingTargets:
        return TrainingTargets(
            hard=self.hard[rows],
            has_hard=self.has_hard[rows],
            multi_label=self.multi_label,
            n_classes=self.n_classes,
            soft=None if self.soft is None else self.soft[rows],
            weight=None if self.weight is None else self.weight[rows],
            temperature=self.temperature,
            alpha=self.alpha,
        )

    def labels(self) -> np.ndarray:
        """One label per row for what needs one (strata, a linear probe): the hard label where a row has
        one, else the teacher's most probable class (multi-label: its labels with probability >= 0.5)."""
        if self.soft is None:
            return self.hard
        if self.multi_label:
            guessed = (self.soft >= 0.5).astype(np.float32)
            return np.where(self.has_hard[:, None], self.hard, guessed).astype(np.float32)
        return np.where(self.has_hard, self.hard, self.soft.argmax(axis=1)).astype(np.int64)

    def class_counts(self) -> list[float]:
        """Examples per class (positives per label when multi-label), weighted; with soft targets the
        teacher's expected counts. What class-count losses (class_weighted, logit_adjusted) need."""
        weight = np.ones(len(self)) if self.weight is None else self.weight.astype(np.float64)
        if self.soft is not None:
            counts = (self.soft * weight[:, None]).sum(axis=0)
        elif self.multi_label:
            counts = (self.hard * weight[:, None]).sum(axis=0)
        else:
            counts = np.bincount(self.hard, weights=weight, minlength=self.n_classes)
        if self.weight is None and self.soft is None:
            return np.rint(counts).astype(np.int64).tolist()
        return counts.tolist()

    def strata(self) -> np.ndarray:
        """One stratum per row for re-sampling and dev splits: its class, or (multi-label) its rarest
        label, -1 for an item without labels."""
        labels = self.labels()
        if not self.multi_label:
            return labels
        counts = labels.sum(axis=0)
        masked = np.where(labels > 0, counts[None, :], np.inf)
        return np.where(labels.any(axis=1), masked.argmin(axis=1), -1)

    def batch(self, rows: np.ndarray, device: torch.device) -> TargetBatch | torch.Tensor:
        """The rows' targets on `device`: the plain hard tensor for unweighted labels (as before soft
        targets existed), else a `TargetBatch`."""
        tensors = self._device_tensors(device)
        index = torch.as_tensor(rows, device=device)
        if self.soft is None and self.weight is None:
            return tensors["hard"][index]
        return TargetBatch(
            hard=tensors["hard"][index],
            has_hard=tensors["has_hard"][index],
            soft=None if self.soft is None else tensors["soft"][index],
            weight=None if self.weight is None else tensors["weight"][index],
        )

    def _device_tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._tensors:
            hard = self.hard if self.multi_label else np.where(self.has_hard, self.hard, 0)
            tensors = {"hard": torch.as_tensor(hard, device=device)}
            tensors["has_hard"] = torch.as_tensor(self.has_hard, device=device)
            if self.soft is not None:
                tensors["soft"] = torch.as_tensor(self.soft, dtype=torch.float32, device=device)
            if self.weight is not None:
                tensors["weight"] = torch.as_tensor(self.weight, dtype=torch.float32, device=device)
            self._tensors[key] = tensors
        return self._tensors[key]


def single_label_targets(y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(classes (k,), class index per item (n,) int64); at least two classes are needed."""
    labels = [plain_label(label) for label in y]
    classes = sorted_classes(labels)
    if len(classes) < 2:
        raise ValueError(f"single-label training needs at least 2 classes; got {len(classes)}: {classes}")
    index = {label: i for i, label in enumerate(classes)}
    return np.asarray(classes), np.array([index[label] for label in labels], dtype=np.int64)


def multi_label_targets(y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(classes (k,), 0/1 float32 indicator (n, k)); every label must be absent from some item."""
    if isinstance(y, np.ndarray) and y.ndim == 2:
        raise ValueError("multi-label y must be a list of label lists, not a 0/1 matrix")
    rows = [label_list(row, i) for i, row in enumerate(y)]
    classes = sorted_classes([label for row in rows for label in row])
    if not classes:
        raise ValueError("multi-label training needs at least one item with a label")
    index = {label: i for i, label in enumerate(classes)}
    indicator = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for i, row in enumerate(rows):
        indicator[i, [index[label] for label in row]] = 1.0
    everywhere = [label for label, column in zip(classes, indicator.T, strict=True) if column.all()]
    if everywhere:
        raise ValueError(f"labels {everywhere} are on every item; training needs items without each label too")
    return np.asarray(classes), indicator


def _labels_over(y: Sequence, classes: Sequence[str | int], multi_label: bool) -> np.ndarray:
    """Labels encoded over known `classes` (continue_fit): each must be among them."""
    if multi_label:
        if isinstance(y, np.ndarray) and y.ndim == 2:
            raise ValueError("multi-label y must be a list of label lists, not a 0/1 matrix")
        indicator = np.zeros((len(y), len(classes)), dtype=np.float32)
        for i, row in enumerate(y):
            for label in label_list(row, i):
                indicator[i, _class_index(classes, label, f"y[{i}]")] = 1.0
        return indicator
    return np.array([_class_index(classes, plain_label(label), f"y[{i}]") for i, label in enumerate(y)], dtype=np.int64)


def _soft_training_targets(y: SoftTargets, multi_label: bool) -> TrainingTargets:
    probabilities = y.probabilities
    if not multi_label:
        if len(y.classes) < 2:
            raise ValueError(f"single-label training needs at least 2 classes; got {list(y.classes)}")
        sums = probabilities.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
        if len(bad):
            raise ValueError(
                f"SoftTargets.probabilities rows must sum to 1 (single-label); row {bad[0]} sums to {sums[bad[0]]:.4g}"
            )
    n, k = probabilities.shape
    hard_entries = y.hard if y.hard is not None else (None,) * n
    has_hard = np.array([entry is not None for entry in hard_entries], dtype=bool)
    if multi_label:
        hard = np.zeros((n, k), dtype=np.float32)
        for i, entry in enumerate(hard_entries):
            for label in _hard_labels(entry, i):
                hard[i, _class_index(y.classes, label, f"SoftTargets.hard[{i}]")] = 1.0
    else:
        hard = np.full(n, NO_LABEL, dtype=np.int64)
        for i, entry in enumerate(hard_entries):
            if entry is None:
                continue
            if not isinstance(entry, str | int | np.generic):
                raise ValueError(f"SoftTargets.hard[{i}] must be one label (single-label); got {entry!r}")
            hard[i] = _class_index(y.classes, plain_label(entry), f"SoftTargets.hard[{i}]")
    return TrainingTargets(
        hard=hard,
        has_hard=has_hard,
        multi_label=multi_label,
        n_classes=k,
        soft=probabilities.astype(np.float32),
        temperature=y.temperature,
        alpha=y.alpha,
    )


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """(n,) float64 weights >= 0 with a positive sum, or None when not given."""
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per item; got {weight.shape}")
    if not np.all(np.isfinite(weight)) or (weight < 0).any():
        raise ValueError("sample_weight must hold finite numbers >= 0")
    if not weight.sum() > 0:
        raise ValueError("sample_weight must not be all zero")
    return weight


def encode_targets(
    y: Sequence | SoftTargets,
    *,
    multi_label: bool,
    classes: Sequence[str | int] | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, TrainingTargets]:
    """(classes, targets) for `y` (labels or SoftTargets). With `classes` given (continue_fit), labels
    are encoded over them and must be among them; else labels define the classes (sorted)."""
    if isinstance(y, SoftTargets):
        targets = _soft_training_targets(y, multi_label)
        found = np.asarray(y.classes)
        if classes is not None and list(found) != list(classes):
            raise ValueError(f"SoftTargets.classes {list(found)} differ from the model's classes {list(classes)}")
    elif classes is not None:
        found = np.asarray(classes)
        hard = _labels_over(y, classes, multi_label)
        targets = TrainingTargets(hard, np.ones(len(hard), dtype=bool), multi_label, len(classes))
    else:
        found, hard = (multi_label_targets if multi_label else single_label_targets)(y)
        targets = TrainingTargets(hard, np.ones(len(hard), dtype=bool), multi_label, len(found))
    if sample_weight is not None and not np.all(sample_weight == 1.0):
        targets.weight = sample_weight.astype(np.float32)
    return found, targets
