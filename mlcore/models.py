"""Text classifiers behind one scikit-learn-style interface, trained in a worker and saved to a directory.

Two kinds, looked up by name in `MODEL_KINDS`:

- `FastHead` ("fast_head"): logistic regression or a small MLP on cached sentence embeddings (n, dim).
  It retrains in seconds, so it can follow every new batch of annotations.
- `TextCNN` ("text_cnn"): Kim's (2014) convolutional network trained from scratch on raw texts over
  WordPiece or character tokens; it needs no encoder at prediction time.

Labels. Single-label (`multi_label=False`): `y` holds one label per item; `predict_proba` rows are a
softmax over `classes_` (they sum to 1) and `predict` returns an array of labels. Multi-label
(`multi_label=True`): `y` holds one *list of labels* per item (possibly empty), never a 0/1 matrix;
each `predict_proba` column is an independent sigmoid and `predict` returns label lists (p >= 0.5).
Labels are strings or integers, all of one type; `classes_` holds them sorted.

Artifacts. `save(directory)` writes the weights (numpy arrays or a torch state_dict, never a pickle)
and then `model.json` (kind, parameters, classes); `load_model(directory)` picks the class by kind.
"""

from __future__ import annotations

import copy
import json
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from torch import nn
from transformers import AutoTokenizer

from mlcore.encoders import DEFAULT_BACKBONE, resolve_backbone_dir
from mlcore.semi_supervised import NeighbourGraph, neighbour_graph, spread_labels

MODEL_FILE = "model.json"
FORMAT_VERSION = 1
MULTI_LABEL_THRESHOLD = 0.5
PREDICT_BATCH_SIZE = 256
# Progress is reported (and cancellation checked) at most once per this fraction of training.
PROGRESS_STEP = 0.01
# Early stopping counts an epoch as progress only if the validation loss drops by more than this.
EARLY_STOPPING_TOL = 1e-4

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


class TrainingCancelled(Exception):
    """Raised by `fit` when `should_cancel()` returned True; the model keeps its previous state."""


# --- labels -------------------------------------------------------------------------------------


def _plain_label(label: Any) -> str | int:
    """A JSON-storable label: numpy scalars become Python ones; anything but str/int is refused."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, str | int):
        raise ValueError(f"labels must be strings or integers; got {label!r} ({type(label).__name__})")
    return label


def _sorted_classes(labels: Sequence[str | int]) -> list[str | int]:
    if len({type(label) for label in labels}) > 1:
        raise ValueError("labels must be all strings or all integers, not a mix")
    return sorted(set(labels))


def _single_label_targets(y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(classes (k,), class index per item (n,) int64); at least two classes are needed."""
    labels = [_plain_label(label) for label in y]
    classes = _sorted_classes(labels)
    if len(classes) < 2:
        raise ValueError(f"single-label training needs at least 2 classes; got {len(classes)}: {classes}")
    index = {label: i for i, label in enumerate(classes)}
    return np.asarray(classes), np.array([index[label] for label in labels], dtype=np.int64)


def _label_list(row: Any, position: int) -> list[str | int]:
    if isinstance(row, str | bytes) or not isinstance(row, Sequence | set | frozenset | np.ndarray):
        raise ValueError(f"multi-label y must hold one list of labels per item; y[{position}] is {row!r}")
    return list(dict.fromkeys(_plain_label(label) for label in row))


def _multi_label_targets(y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(classes (k,), 0/1 float32 indicator (n, k)); every label must be absent from some item."""
    if isinstance(y, np.ndarray) and y.ndim == 2:
        raise ValueError("multi-label y must be a list of label lists, not a 0/1 matrix")
    rows = [_label_list(row, i) for i, row in enumerate(y)]
    classes = _sorted_classes([label for row in rows for label in row])
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


def _probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """(n, k) logits -> float64 probabilities: independent sigmoids or a row softmax."""
    logits = logits.astype(np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# --- parameters and callbacks -------------------------------------------------------------------


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def _check_fraction(name: str, value: Any) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")


def _check_seed(random_state: Any) -> None:
    if isinstance(random_state, bool) or not isinstance(random_state, int) or random_state < 0:
        raise ValueError(f"random_state must be an integer >= 0; got {random_state!r}")


class _Callbacks:
    """`on_progress(fraction)` and `should_cancel()`, throttled to one call per PROGRESS_STEP.

    Workers may touch a database in either callback, so a long epoch of tiny batches must not call
    them thousands of times.
    """

    def __init__(self, on_progress: ProgressCallback | None, should_cancel: CancelCheck | None) -> None:
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.reported = 0.0

    def check(self, where: str) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise TrainingCancelled(f"training cancelled {where}")

    def step(self, fraction: float, where: str) -> None:
        """Report `fraction` of training done and check for cancellation, if enough has passed."""
        fraction = min(fraction, 1.0)
        if fraction - self.reported < PROGRESS_STEP and fraction < 1.0:
            return
        self.reported = fraction
        if self.on_progress is not None:
            self.on_progress(fraction)
        if fraction < 1.0:
            self.check(where)


# --- torch training -----------------------------------------------------------------------------


def _resolve_device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@contextmanager
def _seeded_torch(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block only: the caller's global RNG state is restored afterwards."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]
BatchOf = Callable[[np.ndarray], Batch]


def _loss_function(multi_label: bool) -> nn.Module:
    return nn.BCEWithLogitsLoss() if multi_label else nn.CrossEntropyLoss()


class _BestWeights:
    """Early stopping: remembers the weights with the lowest validation loss."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.epochs_without_gain = 0

    def should_stop(self, module: nn.Module, loss: float) -> bool:
        if loss < self.best_loss - EARLY_STOPPING_TOL:
            self.best_loss, self.epochs_without_gain = loss, 0
            self.best_state = copy.deepcopy(module.state_dict())
            return False
        self.epochs_without_gain += 1
        return self.epochs_without_gain >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


def _batches(index: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [index[start : start + batch_size] for start in range(0, len(index), batch_size)]


def _validation_loss(module: nn.Module, batch_of: BatchOf, index: np.ndarray, loss_fn: nn.Module) -> float:
    module.eval()
    total = 0.0
    with torch.inference_mode():
        for batch in _batches(index, PREDICT_BATCH_SIZE):
            inputs, targets = batch_of(batch)
            total += float(loss_fn(module(*inputs), targets)) * len(batch)
    return total / len(index)


def _train(
    module: nn.Module,
    batch_of: BatchOf,
    train_index: np.ndarray,
    *,
    estimator: TextClassifier,
    rng: np.random.Generator,
    callbacks: _Callbacks,
    validation_index: np.ndarray | None = None,
    patience: int = 1,
) -> int:
    """Adam over shuffled mini-batches for `estimator.epochs` epochs; the number of epochs run.

    With `validation_index`, stops after `patience` epochs without a lower validation loss and
    keeps the best weights.
    """
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.learning_rate, weight_decay=estimator.weight_decay)
    loss_fn = _loss_function(estimator.multi_label)
    best = _BestWeights(patience) if validation_index is not None else None
    epochs, per_epoch = estimator.epochs, math.ceil(len(train_index) / estimator.batch_size)
    epoch = 0
    for epoch in range(1, epochs + 1):
        callbacks.check(f"before epoch {epoch} of {epochs}")
        module.train()
        for done, batch in enumerate(_batches(rng.permutation(train_index), estimator.batch_size), start=1):
            inputs, targets = batch_of(batch)
            optimizer.zero_grad()
            loss_fn(module(*inputs), targets).backward()
            optimizer.step()
            callbacks.step(((epoch - 1) * per_epoch + done) / (epochs * per_epoch), f"in epoch {epoch} of {epochs}")
        if best is not None and best.should_stop(module, _validation_loss(module, batch_of, validation_index, loss_fn)):
            break
    if best is not None:
        best.restore(module)
    module.eval()
    return epoch


def _predict_logits(
    module: nn.Module, batch_inputs: Callable[[np.ndarray], tuple[torch.Tensor, ...]], n: int
) -> np.ndarray:
    module.eval()
    parts = []
    with torch.inference_mode():
        for batch in _batches(np.arange(n), PREDICT_BATCH_SIZE):
            parts.append(module(*batch_inputs(batch)).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _targets_tensor(targets: np.ndarray, device: torch.device) -> torch.Tensor:
    """Class indices (int64) for softmax training, a 0/1 float matrix for sigmoid training."""
    return torch.as_tensor(targets, device=device)


# --- the interface ------------------------------------------------------------------------------


def _read_model_json(directory: Path) -> dict:
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{directory}: no {MODEL_FILE}; not a saved model")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model format; expected format_version {FORMAT_VERSION}")
    return meta


class TextClassifier(BaseEstimator, ABC):
    """What every model kind offers: fit, predict_proba, predict, classes_, save and load.

    Subclasses set `kind` (the registry name stored in model.json) and `input_type` ("embeddings":
    an (n, dim) float array; "texts": a sequence of strings), and implement the abstract hooks.
    """

    kind: ClassVar[str]
    input_type: ClassVar[str]
    multi_label: bool

    def fit(
        self,
        X: Any,
        y: Sequence,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> TextClassifier:
        """Train on X and y (one label, or one label list when multi_label, per item); returns self.

        `on_progress(fraction)` is called as training advances (last with 1.0); when
        `should_cancel()` returns True, training stops with `TrainingCancelled`.
        """
        self._check_params()
        inputs = self._validate_inputs(X, fitting=True)
        if len(y) != len(inputs):
            raise ValueError(f"X has {len(inputs)} items but y has {len(y)}")
        if not len(inputs):
            raise ValueError("cannot fit on zero items")
        classes, targets = (_multi_label_targets if self.multi_label else _single_label_targets)(y)
        callbacks = _Callbacks(on_progress, should_cancel)
        self._fit_encoded(inputs, targets, len(classes), callbacks)
        self.classes_ = classes
        callbacks.step(1.0, "at the end")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, len(classes_)) float64: a softmax per row, or one sigmoid per label when multi_label."""
        check_is_fitted(self, "classes_")
        inputs = self._validate_inputs(X, fitting=False)
        if not len(inputs):
            return np.zeros((0, len(self.classes_)))
        return _probabilities(self._logits(inputs), self.multi_label)

    def predict(self, X: Any) -> np.ndarray | list[list[str | int]]:
        """An array of labels, or (multi_label) one list of labels with probability >= 0.5 per item."""
        probabilities = self.predict_proba(X)
        if not self.multi_label:
            return self.classes_[probabilities.argmax(axis=1)]
        return [self.classes_[row >= MULTI_LABEL_THRESHOLD].tolist() for row in probabilities]

    def save(self, directory: str | Path) -> Path:
        """Write the model into `directory` (created if needed); model.json is written last."""
        check_is_fitted(self, "classes_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "state": self._save_state(directory),
        }
        (directory / MODEL_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        """A model saved by `save`; raises ValueError if the directory holds another kind."""
        directory = Path(directory)
        meta = _read_model_json(directory)
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        params = {name: tuple(value) if isinstance(value, list) else value for name, value in meta["params"].items()}
        model = cls(**params)
        model._load_state(directory, meta["state"], n_outputs=len(meta["classes"]))
        model.classes_ = np.asarray(meta["classes"])
        return model

    @abstractmethod
    def _check_params(self) -> None: ...

    @abstractmethod
    def _validate_inputs(self, X: Any, *, fitting: bool) -> Any: ...

    @abstractmethod
    def _fit_encoded(self, inputs: Any, targets: np.ndarray, n_outputs: int, callbacks: _Callbacks) -> None:
        """Learn from validated inputs and encoded targets (class indices, or a 0/1 matrix)."""

    @abstractmethod
    def _logits(self, inputs: Any) -> np.ndarray: ...

    @abstractmethod
    def _save_state(self, directory: Path) -> dict:
        """Write the weights; return what `_load_state` needs besides them (JSON-ready)."""

    @abstractmethod
    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None: ...


# --- FastHead -----------------------------------------------------------------------------------

FAST_HEADS = ("lr", "mlp")
# Self-training threshold of a new head (FastHead's default), as a share of the way from chance to
# certainty (`sure_probability`): 0.2875 with 20 labels, 0.625 with 2. On 20 Newsgroups (3 seeds,
# 2,000 labels) 0.05 / 0.15 / 0.25 / 0.35 / 0.45 gave 0.764 / 0.763 / 0.765 / 0.764 / 0.762 macro-F1.
DEFAULT_SELF_TRAINING = 0.25
# The refit on pseudo-labels stops at a looser optimum: its labels are estimates themselves. On 20
# Newsgroups at 2,000 labels: 0.7641 macro-F1 against 0.7645 at 1e-4, in a third of the iterations.
SELF_TRAINING_TOLERANCE = 1e-3


def sure_probability(threshold: float, n_classes: int) -> float:
    """The top probability that is `threshold` of the way from chance (1/K) to certainty.

    A fixed probability would mean different things: 0.4 is picky among 20 labels and says nothing
    between two (every item clears it); the way from chance asks the same of both.
    """
    chance = 1.0 / n_classes
    return chance + threshold * (1.0 - chance)


def _halved_progress(on_progress: ProgressCallback | None) -> tuple[ProgressCallback | None, ProgressCallback | None]:
    """Two callbacks that report a first and a second training run as one 0..1 progress."""
    if on_progress is None:
        return None, None
    return (lambda fraction: on_progress(fraction / 2.0)), (lambda fraction: on_progress(0.5 + fraction / 2.0))


def _as_embeddings(X: Any) -> np.ndarray:
    array = np.asarray(X, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"X must be a 2-D (n, dim) array of embeddings; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("X contains NaN or infinite values")
    return array


def _mlp(n_features: int, hidden_size: int, n_outputs: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, n_outputs)
    )


class FastHead(TextClassifier):
    """A classifier head on precomputed sentence embeddings: X is a float array (n, dim).

    head="lr": scikit-learn LogisticRegression (multinomial; one binary model per label when
    multi_label), stored as plain coefficient arrays. head="mlp": Linear-ReLU-Dropout-Linear in torch,
    trained with Adam, optionally stopped early on a seeded held-out `validation_fraction`.

    Self-training (single-label): given the unlabeled items' embeddings (`fit(..., unlabeled=pool)`),
    the head labels the ones it is sure of (its probabilities averaged with label spreading over the
    10-nearest-neighbour graph of all items put one label `self_training` of the way from chance to
    certain: `sure_probability`) and trains once more on the labeled and those pseudo-labeled items.
    `self_training=None`, no `unlabeled`, or a multi-label head trains on the labels alone.
    `labels_only_` is the head of the first fit, on the labels alone (itself when no pool item joined).

        >>> head = FastHead(head="lr").fit(embeddings, ["sport", "politics", ...])
        >>> head.predict(new_embeddings)
    """

    kind = "fast_head"
    input_type = "embeddings"
    _tolerance = 1e-4  # the logistic regression solver's stopping tolerance (scikit-learn's default)

    def __init__(
        self,
        head: str = "lr",
        multi_label: bool = False,
        C: float = 10.0,
        max_iter: int = 1000,
        hidden_size: int = 256,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 20,
        batch_size: int = 128,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 3,
        self_training: float | None = DEFAULT_SELF_TRAINING,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.head = head
        self.multi_label = multi_label
        self.C = C
        self.max_iter = max_iter
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.self_training = self_training
        self.random_state = random_state
        self.device = device

    def fit(
        self,
        X: Any,
        y: Sequence,
        *,
        unlabeled: Any = None,
        graph: NeighbourGraph | None = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> FastHead:
        """Train on X and y; with `self_training` set and `unlabeled` embeddings given, train a second
        time with the unlabeled items the evidence is sure of (see the class docstring). Returns self.

        `graph`: the neighbour graph of the rows of X followed by those of `unlabeled`
        (`mlcore.semi_supervised`); built here when not given. Callers retraining on one pool round after
        round build it once: it depends on the embeddings only.
        """
        self._check_params()
        pool = None if unlabeled is None else _as_embeddings(unlabeled)
        self.n_pseudo_labeled_ = 0
        self.__dict__.pop("labels_only_", None)  # never carried into the copy below from an earlier fit
        if self.self_training is None or self.multi_label or pool is None or not len(pool):
            super().fit(X, y, on_progress=on_progress, should_cancel=should_cancel)
            self.labels_only_ = self
            return self
        first_half, second_half = _halved_progress(on_progress)
        super().fit(X, y, on_progress=first_half, should_cancel=should_cancel)
        # Refitting replaces the weight arrays (or the network) and never writes into them, so a shallow
        # copy keeps the head of the labels alone.
        self.labels_only_ = copy.copy(self)
        if pool.shape[1] != self.n_features_in_:
            raise ValueError(f"unlabeled has {pool.shape[1]} features; X has {self.n_features_in_}")
        labeled = _as_embeddings(X)
        if graph is None:
            graph = neighbour_graph(np.concatenate([labeled, pool]))
        elif len(graph) != len(labeled) + len(pool):
            raise ValueError(f"the graph has {len(graph)} rows; X and unlabeled have {len(labeled) + len(pool)}")
        rows, pseudo_labels = self._sure_pseudo_labels(y, pool, graph)
        if len(rows):
            inputs, labels = np.concatenate([labeled, pool[rows]]), [*y, *pseudo_labels]
            with self._solver_tolerance(SELF_TRAINING_TOLERANCE):
                super().fit(inputs, labels, on_progress=second_half, should_cancel=should_cancel)
        else:
            self.labels_only_ = self
            if second_half is not None:
                second_half(1.0)
        self.n_pseudo_labeled_ = len(rows)
        return self

    @contextmanager
    def _solver_tolerance(self, tolerance: float) -> Iterator[None]:
        previous, self._tolerance = self._tolerance, tolerance
        try:
            yield
        finally:
            self._tolerance = previous

    def _sure_pseudo_labels(self, y: Sequence, pool: np.ndarray, graph: NeighbourGraph) -> tuple[np.ndarray, list]:
        """(rows of `pool` to pseudo-label, their labels): where the head and label spreading over the
        graph, averaged, put one label `self_training` of the way from chance to certain.

        Two views that err differently: the linear head alone pseudo-labels its own mistakes
        confidently; spreading follows the pool's dense regions, where the head draws one global
        boundary. On 20 Newsgroups at 2,000 labels the average beat either alone (docs/benchmarks.md).
        """
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        targets = np.array([index[_plain_label(label)] for label in y], dtype=np.int64)
        spread = spread_labels(graph, targets, len(self.classes_))[len(targets) :]
        evidence = (self.predict_proba(pool) + spread) / 2.0
        rows = np.flatnonzero(evidence.max(axis=1) >= sure_probability(self.self_training, len(self.classes_)))
        return rows, self.classes_[evidence[rows].argmax(axis=1)].tolist()

    def _check_params(self) -> None:
        _check_choice("head", self.head, FAST_HEADS)
        _check_seed(self.random_state)
        if self.self_training is not None and not 0.0 < self.self_training <= 1.0:
            raise ValueError(f"self_training must be None or a share in (0, 1]; got {self.self_training!r}")
        if self.head == "lr":
            if not self.C > 0:
                raise ValueError(f"C must be > 0; got {self.C!r}")
            _check_positive_int("max_iter", self.max_iter)
            return
        for name in ("hidden_size", "epochs", "batch_size", "patience"):
            _check_positive_int(name, getattr(self, name))
        _check_fraction("dropout", self.dropout)
        _check_fraction("validation_fraction", self.validation_fraction)

    def _validate_inputs(self, X: Any, *, fitting: bool) -> np.ndarray:
        embeddings = _as_embeddings(X)
        if not fitting and embeddings.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {embeddings.shape[1]} features; the model was fit on {self.n_features_in_}")
        return embeddings

    def _fit_encoded(self, inputs: np.ndarray, targets: np.ndarray, n_outputs: int, callbacks: _Callbacks) -> None:
        if self.head == "lr":
            self._fit_logistic(inputs, targets, callbacks)
        else:
            self._fit_mlp(inputs, targets, n_outputs, callbacks)
        self.n_features_in_ = inputs.shape[1]

    # - logistic regression

    def _logistic(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=self.max_iter, tol=self._tolerance, random_state=self.random_state)

    def _fit_logistic(self, X: np.ndarray, targets: np.ndarray, callbacks: _Callbacks) -> None:
        callbacks.check("before fitting")
        if not self.multi_label:
            self.coef_, self.intercept_ = _softmax_weights(self._logistic().fit(X, targets))
            return
        coefs, intercepts = [], []
        for j in range(targets.shape[1]):
            model = self._logistic().fit(X, targets[:, j])
            coefs.append(model.coef_[0])
            intercepts.append(model.intercept_[0])
            callbacks.step((j + 1) / targets.shape[1], f"after label {j + 1} of {targets.shape[1]}")
        self.coef_, self.intercept_ = np.array(coefs), np.array(intercepts)

    # - MLP

    def _fit_mlp(self, X: np.ndarray, targets: np.ndarray, n_outputs: int, callbacks: _Callbacks) -> None:
        device = _resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        train_index, validation_index = self._split(len(X), rng)
        features, labels = torch.as_tensor(X, device=device), _targets_tensor(targets, device)

        def batch_of(index: np.ndarray) -> Batch:
            rows = torch.as_tensor(index, device=device)
            return (features[rows],), labels[rows]

        with _seeded_torch(self.random_state, device):
            module = _mlp(X.shape[1], self.hidden_size, n_outputs, self.dropout).to(device)
            epochs = _train(
                module,
                batch_of,
                train_index,
                estimator=self,
                rng=rng,
                callbacks=callbacks,
                validation_index=validation_index,
                patience=self.patience,
            )
        self.module_, self.n_epochs_ = module, epochs

    def _split(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """(train rows, validation rows or None): a seeded random hold-out when early_stopping."""
        if not self.early_stopping:
            return np.arange(n), None
        n_validation = round(n * self.validation_fraction)
        if not 1 <= n_validation < n:
            raise ValueError(f"early stopping needs a non-empty hold-out and training set; {n} items are too few")
        order = rng.permutation(n)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    # - prediction and storage

    def _logits(self, inputs: np.ndarray) -> np.ndarray:
        if self.head == "lr":
            return inputs.astype(np.float64) @ self.coef_.T + self.intercept_
        device = next(self.module_.parameters()).device
        features = torch.as_tensor(inputs, device=device)
        return _predict_logits(
            self.module_, lambda rows: (features[torch.as_tensor(rows, device=device)],), len(inputs)
        )

    def _save_state(self, directory: Path) -> dict:
        if self.head == "lr":
            np.savez(directory / "weights.npz", coef=self.coef_, intercept=self.intercept_)
            return {"n_features_in": self.n_features_in_, "weights": "weights.npz"}
        torch.save(self.module_.state_dict(), directory / "weights.pt")
        return {"n_features_in": self.n_features_in_, "weights": "weights.pt", "n_epochs": self.n_epochs_}

    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None:
        self.n_features_in_ = state["n_features_in"]
        if self.head == "lr":
            with np.load(directory / state["weights"]) as weights:
                self.coef_, self.intercept_ = weights["coef"], weights["intercept"]
            return
        device = _resolve_device(self.device)
        module = _mlp(self.n_features_in_, self.hidden_size, n_outputs, self.dropout)
        module.load_state_dict(torch.load(directory / state["weights"], map_location=device, weights_only=True))
        self.module_, self.n_epochs_ = module.to(device).eval(), state["n_epochs"]


def _softmax_weights(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """(k, dim) coefficients and (k,) intercepts whose row softmax is `model.predict_proba`.

    A binary LogisticRegression keeps one row w (p = sigmoid(x.w + b)); softmax([0, x.w + b]) is the
    same pair of probabilities, so both cases share one prediction path.
    """
    coef, intercept = model.coef_.astype(np.float64), model.intercept_.astype(np.float64)
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return coef, intercept


# --- TextCNN ------------------------------------------------------------------------------------

TOKENIZATIONS = ("wordpiece", "char")
PAD_ID, UNK_ID = 0, 1
_RESERVED_IDS = 2


@lru_cache(maxsize=4)
def _wordpiece_tokenizer(backbone: str):
    """The backbone's tokenizer, from local files only; cached since loading takes a moment."""
    return AutoTokenizer.from_pretrained(str(resolve_backbone_dir(backbone)), local_files_only=True)


def _characters(text: str, max_len: int) -> list[str]:
    """Lower-cased characters, whitespace runs as one space: works for scripts without spaces."""
    return list(" ".join(text.lower().split())[:max_len])


def _as_texts(X: Any) -> list[str]:
    if isinstance(X, str):
        raise ValueError("X must be a sequence of texts, not a single string")
    texts = list(X)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"X[{i}] is {type(text).__name__}, expected str")
    return texts


def _build_vocabulary(token_lists: Sequence[Sequence[str | int]], min_count: int) -> list[str | int]:
    """Tokens seen at least `min_count` times, most frequent first (ties in token order)."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    return sorted((token for token, count in counts.items() if count >= min_count), key=lambda t: (-counts[t], t))


def _pad(sequences: Sequence[np.ndarray], min_width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, width) token ids padded with PAD_ID and (batch,) true lengths."""
    width = max(min_width, *(len(sequence) for sequence in sequences))
    ids = np.full((len(sequences), width), PAD_ID, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    return torch.as_tensor(ids, device=device), torch.as_tensor(lengths, device=device)


class _KimCNN(nn.Module):
    """Embedding -> parallel 1-D convolutions + ReLU -> max over time -> dropout -> linear.

    Without gradients (prediction, validation) the convolutions are computed from per-token tables:
    a window's filter response is sum_j W_j . e(token_{t+j}), and e(token) . W_j depends only on the
    token, so `tables[j] = E @ W_j^T` (vocabulary x filters) turns each convolution into k row
    lookups and sums: about 9 x 100 additions per token instead of 9 x 100 x 128 multiply-adds,
    same result up to float rounding. The tables are rebuilt when the weights change.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        filter_sizes: Sequence[int],
        num_filters: int,
        n_outputs: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, size) for size in filter_sizes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_filters * len(filter_sizes), n_outputs)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            embedded = self.embedding(ids).transpose(1, 2)  # (batch, dim, width)
            pooled = [self._max_over_time(conv, embedded, lengths) for conv in self.convs]
        else:
            # One lookup per token gives its response to every filter at every offset of every kernel.
            responses = self._token_table()[ids]  # (batch, width, sum of kernels, filters)
            offsets = np.cumsum([0, *(conv.kernel_size[0] for conv in self.convs)])
            pooled = [
                _max_over_windows(conv, responses[:, :, start:end], lengths)
                for conv, start, end in zip(self.convs, offsets[:-1], offsets[1:], strict=True)
            ]
        return self.output(self.dropout(torch.cat(pooled, dim=1)))

    def _token_table(self) -> torch.Tensor:
        """(vocabulary, sum of kernel sizes, filters): each token's response at each window offset."""
        # `_version` counts in-place changes (optimizer steps, load_state_dict): stale tables are rebuilt.
        key = tuple(param._version for param in self.parameters())
        if getattr(self, "_table_key", None) != key:
            weights = self.embedding.weight
            parts = [torch.einsum("vd,fdk->vkf", weights, conv.weight) for conv in self.convs]
            self._table, self._table_key = torch.cat(parts, dim=1).contiguous(), key
        return self._table

    @staticmethod
    def _max_over_time(conv: nn.Conv1d, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Windows starting in the padding are zeroed (ReLU outputs are >= 0, so zero never wins over a real
        # window): a text's prediction must not depend on how long the other texts of its batch are.
        activations = torch.relu(conv(embedded))  # (batch, filters, windows)
        valid = (lengths - conv.kernel_size[0] + 1).clamp(min=1)
        positions = torch.arange(activations.shape[2], device=activations.device)
        mask = positions.unsqueeze(0) < valid.unsqueeze(1)
        return activations.masked_fill(~mask.unsqueeze(1), 0.0).max(dim=2).values


def _max_over_windows(conv: nn.Conv1d, responses: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """`_KimCNN._max_over_time` from looked-up token responses (batch, width, kernel, filters) -> (batch, filters)."""
    width, kernel = responses.shape[1], responses.shape[2]
    windows = width - kernel + 1
    summed = sum(responses[:, j : j + windows, j] for j in range(kernel))  # (batch, windows, filters)
    activations = torch.relu(summed + conv.bias)
    valid = (lengths - kernel + 1).clamp(min=1)
    mask = torch.arange(windows, device=responses.device).unsqueeze(0) < valid.unsqueeze(1)
    return activations.masked_fill(~mask.unsqueeze(2), 0.0).max(dim=1).values


class TextCNN(TextClassifier):
    """Kim (2014) CNN for sentence classification, trained from scratch on raw texts.

    tokenization="wordpiece" splits with the tokenizer of `backbone` (its tokenization only, no
    pretrained weights); "char" uses characters, which suits Chinese. Either way the vocabulary is
    the training tokens seen at least `min_count` times; others map to one UNK id. Texts are cut at
    `max_len` tokens. `device` defaults to CUDA when available, else CPU.
    """

    kind = "text_cnn"
    input_type = "texts"

    def __init__(
        self,
        tokenization: str = "wordpiece",
        multi_label: bool = False,
        backbone: str = DEFAULT_BACKBONE,
        min_count: int = 2,
        max_len: int = 256,
        embedding_dim: int = 128,
        filter_sizes: Sequence[int] = (2, 3, 4),
        num_filters: int = 100,
        dropout: float = 0.5,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 10,
        batch_size: int = 32,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.tokenization = tokenization
        self.multi_label = multi_label
        self.backbone = backbone
        self.min_count = min_count
        self.max_len = max_len
        self.embedding_dim = embedding_dim
        self.filter_sizes = filter_sizes
        self.num_filters = num_filters
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        _check_choice("tokenization", self.tokenization, TOKENIZATIONS)
        _check_seed(self.random_state)
        for name in ("min_count", "max_len", "embedding_dim", "num_filters", "epochs", "batch_size"):
            _check_positive_int(name, getattr(self, name))
        if not self.filter_sizes:
            raise ValueError("filter_sizes must not be empty")
        for size in self.filter_sizes:
            _check_positive_int("each of filter_sizes", size)
        _check_fraction("dropout", self.dropout)

    def _validate_inputs(self, X: Any, *, fitting: bool) -> list[str]:
        return _as_texts(X)

    def _tokens(self, texts: list[str]) -> list[list[str | int]]:
        """Token strings (char) or the backbone's WordPiece ids, at most `max_len` per text."""
        if self.tokenization == "char":
            return [_characters(text, self.max_len) for text in texts]
        tokenizer = _wordpiece_tokenizer(self.backbone)
        encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=self.max_len)
        return encoded["input_ids"]

    def _encode(self, texts: list[str], vocabulary: Sequence[str | int]) -> list[np.ndarray]:
        """Token ids per text: a vocabulary entry's position after the reserved ids, else UNK_ID."""
        index = {token: i for i, token in enumerate(vocabulary, start=_RESERVED_IDS)}
        return [np.array([index.get(t, UNK_ID) for t in tokens], dtype=np.int64) for tokens in self._tokens(texts)]

    def _fit_encoded(self, inputs: list[str], targets: np.ndarray, n_outputs: int, callbacks: _Callbacks) -> None:
        device = _resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        vocabulary = _build_vocabulary(self._tokens(inputs), self.min_count)
        sequences, labels = self._encode(inputs, vocabulary), _targets_tensor(targets, device)

        def batch_of(index: np.ndarray) -> Batch:
            return _pad([sequences[i] for i in index], max(self.filter_sizes), device), labels[
                torch.as_tensor(index, device=device)
            ]

        with _seeded_torch(self.random_state, device):
            module = self._network(len(vocabulary), n_outputs).to(device)
            _train(module, batch_of, np.arange(len(inputs)), estimator=self, rng=rng, callbacks=callbacks)
        self.module_, self.vocabulary_ = module, vocabulary

    def _network(self, vocabulary_size: int, n_outputs: int) -> _KimCNN:
        return _KimCNN(
            vocabulary_size + _RESERVED_IDS,
            self.embedding_dim,
            tuple(self.filter_sizes),
            self.num_filters,
            n_outputs,
            self.dropout,
        )

    def _logits(self, inputs: list[str]) -> np.ndarray:
        sequences = self._encode(inputs, self.vocabulary_)
        device = next(self.module_.parameters()).device
        return _predict_logits(
            self.module_, lambda rows: _pad([sequences[i] for i in rows], max(self.filter_sizes), device), len(inputs)
        )

    def _save_state(self, directory: Path) -> dict:
        torch.save(self.module_.state_dict(), directory / "weights.pt")
        (directory / "vocabulary.json").write_text(json.dumps(self.vocabulary_, ensure_ascii=False), encoding="utf-8")
        return {"weights": "weights.pt", "vocabulary": "vocabulary.json"}

    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None:
        self.vocabulary_ = json.loads((directory / state["vocabulary"]).read_text(encoding="utf-8"))
        device = _resolve_device(self.device)
        module = self._network(len(self.vocabulary_), n_outputs)
        module.load_state_dict(torch.load(directory / state["weights"], map_location=device, weights_only=True))
        self.module_ = module.to(device).eval()


# --- registry -----------------------------------------------------------------------------------

MODEL_KINDS: dict[str, type[TextClassifier]] = {FastHead.kind: FastHead, TextCNN.kind: TextCNN}


def model_class(kind: str) -> type[TextClassifier]:
    """The class registered under `kind`; a ValueError names the valid kinds."""
    try:
        return MODEL_KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(sorted(MODEL_KINDS))}") from None


def load_model(directory: str | Path) -> TextClassifier:
    """Load whatever model `directory` holds, dispatching on the kind in its model.json."""
    return model_class(_read_model_json(Path(directory)).get("kind")).load(directory)


# The teacher builds on the helpers above, so it comes last; importing it adds "teacher" to MODEL_KINDS.
import mlcore.teacher  # noqa: E402, F401
