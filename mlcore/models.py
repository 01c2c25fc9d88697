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

Soft targets and weights (issue 21). `y` may also be a `SoftTargets`: a teacher's probabilities over
its `classes` (which become `classes_`), softened at a temperature T, with the human label of the rows
that have one; the loss per row is alpha * loss(hard) + (1 - alpha) * T^2 * KL(teacher || student at T)
(`mlcore.targets`, `mlcore.losses.DistillationLoss`). `sample_weight` (n,) weighs rows (rows of
weight 0 are left out). `continue_fit(X, y, epochs=...)` trains a fitted model further, keeping its
classes (and vocabulary). The torch kinds train through `mlcore.training_loop.Trainer` with any loss
of `mlcore.losses` (`loss`, `loss_params`), class re-sampling (`sampling_q`) and EMA (`ema_decay`).

Artifacts. `save(directory)` writes the weights (numpy arrays or a torch state_dict, never a pickle)
and then `model.json` (kind, parameters, classes); `load_model(directory)` picks the class by kind.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from torch import nn
from transformers import AutoTokenizer

from mlcore.encoders import DEFAULT_BACKBONE, resolve_backbone_dir
from mlcore.features import HybridInputs, TextFeaturizer, concatenate, language_family
from mlcore.losses import LOSSES, make_loss
from mlcore.semi_supervised import NeighbourGraph, neighbour_graph, spread_labels
from mlcore.targets import (
    SoftTargets,
    TrainingTargets,
    check_sample_weight,
    encode_targets,
    label_list,
    multi_label_targets,
    plain_label,
    single_label_targets,
    sorted_classes,
)
from mlcore.textnorm import checked_texts
from mlcore.training_loop import (
    EARLY_STOPPING_TOL,
    PROGRESS_STEP,
    Batch,
    BatchOf,
    Callbacks,
    CancelCheck,
    ConsistencyPairs,
    Objective,
    ProgressCallback,
    Trainer,
    TrainingCancelled,
    TrainingResult,
    check_consistency_options,
    resolve_device,
    seeded_torch,
)

__all__ = [
    "DEFAULT_SELF_TRAINING",
    "EARLY_STOPPING_TOL",
    "FAST_HEADS",
    "HEAD_FEATURES",
    "MODEL_KINDS",
    "PROGRESS_STEP",
    "TOKENIZATIONS",
    "BatchOf",
    "CancelCheck",
    "FastHead",
    "HybridInputs",
    "ProgressCallback",
    "SoftTargets",
    "TextCNN",
    "TextClassifier",
    "TrainingCancelled",
    "TrainingTargets",
    "load_model",
    "model_class",
    "sure_probability",
    "training_objective",
]

MODEL_FILE = "model.json"
FORMAT_VERSION = 1
MULTI_LABEL_THRESHOLD = 0.5
PREDICT_BATCH_SIZE = 256
# Logit of a class that a logistic regression never saw in its training rows: never predicted.
UNSEEN_CLASS_LOGIT = -10.0
# Soft-target LR: a row's class enters the expanded data only above this probability.
SOFT_ROW_MIN = 1e-4


# --- labels -------------------------------------------------------------------------------------

# The label helpers live in mlcore.targets; these names stay for the modules that import them from here.
_plain_label = plain_label
_sorted_classes = sorted_classes
_label_list = label_list
_single_label_targets = single_label_targets
_multi_label_targets = multi_label_targets


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


# --- torch training -----------------------------------------------------------------------------


_Callbacks = Callbacks
_resolve_device = resolve_device
_seeded_torch = seeded_torch


def _batches(index: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [index[start : start + batch_size] for start in range(0, len(index), batch_size)]


def _check_torch_training(estimator: TextClassifier) -> None:
    """The options every torch kind shares: loss, loss_params, sampling_q, ema_decay, rates."""
    _check_choice("loss", estimator.loss, sorted(LOSSES))
    if estimator.loss_params is not None and not isinstance(estimator.loss_params, dict):
        raise ValueError(f"loss_params must be a dict or None; got {estimator.loss_params!r}")
    if estimator.ema_decay is not None and not 0 <= estimator.ema_decay < 1:
        raise ValueError(f"ema_decay must be None or in [0, 1); got {estimator.ema_decay!r}")
    if estimator.sampling_q is not None and not estimator.sampling_q >= 0:
        raise ValueError(f"sampling_q must be None or >= 0; got {estimator.sampling_q!r}")
    if not estimator.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {estimator.learning_rate!r}")
    if not estimator.weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0; got {estimator.weight_decay!r}")


def consistency_options(estimator: TextClassifier) -> dict:
    """The `Trainer`'s UDA options from a TextCNN's or a teacher's parameters."""
    return {
        "consistency_weight": estimator.consistency_weight,
        "consistency_temperature": estimator.consistency_temperature,
        "consistency_confidence": estimator.consistency_confidence,
        "consistency_batch_size": estimator.consistency_batch_size,
    }


def check_consistency_params(estimator: TextClassifier) -> None:
    check_consistency_options(**consistency_options(estimator))


def checked_consistency_pairs(pairs: Any) -> tuple[list[str], list[str]] | None:
    """UDA's `(unlabeled texts, one augmented copy of each)` as two lists of equal length, or a ValueError."""
    if pairs is None:
        return None
    if isinstance(pairs, str) or not isinstance(pairs, Sequence) or len(pairs) != 2:
        raise ValueError(
            f"consistency_pairs must be a pair (unlabeled texts, their augmented copies); got {type(pairs).__name__}"
        )
    originals = checked_texts(pairs[0], name="consistency_pairs[0]")
    augmented = checked_texts(pairs[1], name="consistency_pairs[1]")
    if len(originals) != len(augmented):
        raise ValueError(
            f"consistency_pairs: {len(originals)} unlabeled texts but {len(augmented)} augmented copies; "
            "give one copy per text"
        )
    if not originals:
        raise ValueError("consistency_pairs holds no texts; pass None to train without consistency")
    return originals, augmented


def training_objective(
    loss: str, loss_params: dict | None, targets: TrainingTargets, *, multi_label: bool
) -> Objective:
    """The registry loss `loss` (class counts from the targets) wrapped for soft targets and weights."""
    base = make_loss(loss, multi_label=multi_label, class_counts=targets.class_counts(), **(loss_params or {}))
    return Objective(base, multi_label=multi_label, temperature=targets.temperature, alpha=targets.alpha)


def _train_torch(
    estimator: TextClassifier,
    module: nn.Module,
    inputs_of: Callable[[np.ndarray], tuple[torch.Tensor, ...]],
    targets: TrainingTargets,
    *,
    epochs: int,
    rng: np.random.Generator,
    callbacks: Callbacks,
    validation_index: np.ndarray | None = None,
    patience: int = 1,
    consistency_pairs: ConsistencyPairs | None = None,
    consistency: dict | None = None,
) -> TrainingResult:
    """Train a TextCNN or MLP module through the shared `Trainer`: Adam (L2 `weight_decay`), a constant
    rate, no clipping, the estimator's loss, `sampling_q` and `ema_decay`.

    With `validation_index`, stops after `patience` epochs without a lower validation loss and keeps
    the best weights. `consistency` holds the `Trainer`'s UDA options (`consistency_options`) and
    `consistency_pairs` its unlabeled pairs.
    """
    device = next(module.parameters()).device
    objective = training_objective(estimator.loss, estimator.loss_params, targets, multi_label=estimator.multi_label)
    trainer = Trainer(
        multi_label=estimator.multi_label,
        loss_fn=objective.to(device),
        learning_rate=estimator.learning_rate,
        weight_decay=estimator.weight_decay,
        optimizer="adam",
        epochs=epochs,
        batch_size=estimator.batch_size,
        scheduler="constant",
        warmup_ratio=0.0,
        max_grad_norm=None,
        ema_decay=estimator.ema_decay,
        sampling_q=estimator.sampling_q,
        patience=patience,
        **(consistency or {}),
    )

    def batch_of(rows: np.ndarray) -> Batch:
        return inputs_of(rows), targets.batch(rows, device)

    train_index = np.arange(len(targets))
    if validation_index is not None:
        train_index = np.setdiff1d(train_index, validation_index)
    strata = targets.strata() if estimator.sampling_q is not None else None
    return trainer.fit(
        module,
        batch_of,
        train_index,
        validation_index,
        rng=rng,
        strata=strata,
        callbacks=callbacks,
        consistency_pairs=consistency_pairs,
    )


def _predict_logits(
    module: nn.Module, batch_inputs: Callable[[np.ndarray], tuple[torch.Tensor, ...]], n: int
) -> np.ndarray:
    module.eval()
    parts = []
    with torch.inference_mode():
        for batch in _batches(np.arange(n), PREDICT_BATCH_SIZE):
            parts.append(module(*batch_inputs(batch)).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _n_rows(inputs: Any) -> int:
    """Rows of an array, a sparse matrix (whose len() is ambiguous) or a list of texts."""
    return inputs.shape[0] if sp.issparse(inputs) else len(inputs)


def _take(inputs: Any, rows: np.ndarray) -> Any:
    """The given rows of an (n, dim) array, a sparse matrix or a list of texts."""
    if isinstance(inputs, np.ndarray) or sp.issparse(inputs):
        return inputs[rows]
    return [inputs[i] for i in rows]


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
        y: Sequence | SoftTargets,
        *,
        sample_weight: Any = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> TextClassifier:
        """Train on X and y; returns self.

        `y`: one label (one label list when multi_label) per item, or a `SoftTargets` (a teacher's
        probabilities, the human labels where there are some; `classes_` become its classes).
        `sample_weight` (n,) weighs each item's loss; items of weight 0 are left out altogether (they
        would contribute nothing, and so they add no class or vocabulary either).
        `on_progress(fraction)` is called as training advances (last with 1.0); when
        `should_cancel()` returns True, training stops with `TrainingCancelled`.
        """
        self._check_params()
        inputs, classes, targets = self._training_data(X, y, sample_weight, classes=None)
        callbacks = Callbacks(on_progress, should_cancel)
        self._fit_encoded(inputs, targets, len(classes), callbacks)
        self.classes_ = classes
        callbacks.step(1.0, "at the end")
        return self

    def continue_fit(
        self,
        X: Any,
        y: Sequence | SoftTargets,
        *,
        epochs: int | None = None,
        sample_weight: Any = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> TextClassifier:
        """Train the fitted model further on X and y, from its current weights; returns self.

        The classes (and a TextCNN's vocabulary) stay as fitted: labels must be among `classes_`, and a
        `SoftTargets` must have exactly `classes_`. `epochs` overrides the model's own for this call.
        Typical use, after distillation: fine-tune on the human labels alone. When cancelled, the model
        keeps its previous weights.
        """
        check_is_fitted(self, "classes_")
        self._check_params()
        if epochs is not None:
            _check_positive_int("epochs", epochs)
        inputs, _, targets = self._training_data(X, y, sample_weight, classes=self.classes_.tolist())
        callbacks = Callbacks(on_progress, should_cancel)
        self._continue_encoded(inputs, targets, callbacks, epochs)
        callbacks.step(1.0, "at the end")
        return self

    def _training_data(
        self, X: Any, y: Sequence | SoftTargets, sample_weight: Any, *, classes: list | None
    ) -> tuple[Any, np.ndarray, TrainingTargets]:
        """Validated inputs, the classes and the encoded targets, rows of weight 0 left out."""
        inputs = self._validate_inputs(X, fitting=classes is None)
        if isinstance(y, str) or not hasattr(y, "__len__"):
            raise ValueError(f"y must be a sequence of labels or a SoftTargets; got {type(y).__name__}")
        if len(y) != _n_rows(inputs):
            raise ValueError(f"X has {_n_rows(inputs)} items but y has {len(y)}")
        if not _n_rows(inputs):
            raise ValueError("cannot fit on zero items")
        weight = check_sample_weight(sample_weight, _n_rows(inputs))
        keep = None if weight is None or weight.all() else np.flatnonzero(weight > 0)
        if keep is not None and not isinstance(y, SoftTargets):
            y, weight = [y[i] for i in keep], weight[keep]
        found, targets = encode_targets(y, multi_label=self.multi_label, classes=classes, sample_weight=weight)
        if keep is not None:
            inputs = _take(inputs, keep)
            if isinstance(y, SoftTargets):
                targets = targets.subset(keep)
        return inputs, found, targets

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, len(classes_)) float64: a softmax per row, or one sigmoid per label when multi_label."""
        check_is_fitted(self, "classes_")
        inputs = self._validate_inputs(X, fitting=False)
        if not _n_rows(inputs):
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
    def _fit_encoded(self, inputs: Any, targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        """Learn from validated inputs and encoded targets (`TrainingTargets`: hard labels as class
        indices or a 0/1 matrix, soft targets, sample weights)."""

    def _continue_encoded(
        self, inputs: Any, targets: TrainingTargets, callbacks: Callbacks, epochs: int | None
    ) -> None:
        """Train further from the fitted state; set the new state only when done (cancel keeps the old)."""
        raise NotImplementedError(f"{type(self).__name__} does not support continue_fit")

    @abstractmethod
    def _logits(self, inputs: Any) -> np.ndarray: ...

    @abstractmethod
    def _save_state(self, directory: Path) -> dict:
        """Write the weights; return what `_load_state` needs besides them (JSON-ready)."""

    @abstractmethod
    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None: ...


# --- FastHead -----------------------------------------------------------------------------------

FAST_HEADS = ("lr", "mlp")
# What a head reads from HybridInputs: embeddings and a bag of words, or the embeddings alone.
HEAD_FEATURES = ("hybrid", "embeddings")
FEATURIZER_DIR = "featurizer"
HYBRID_SOLVER = "newton-cg"
# The hybrid LR's design matrix: [embedding_weight * embeddings, words_weight * TF-IDF rows], both
# blocks of unit rows; with C=10 these set each block's regularisation (docs/benchmarks.md, issue 22).
# Measured (macro-F1): 20 Newsgroups wants the words heavy (train hold-out: 1:1 0.900, 1:2 0.917,
# 1.5:3 0.918, 1:4 0.926), Chinese news the embeddings (1:1 0.705, 1:3 0.681, 1.5:3 0.704, 2:1 0.716),
# BBC News less of them (2:1 0.977, 1:2 and 1.5:3 0.987); 1.5:3 is at or above both baselines on all three.
DEFAULT_EMBEDDING_WEIGHT = 1.5
DEFAULT_WORDS_WEIGHT = 3.0
# Labels per class (on average) under which a hybrid head lets its embeddings lead: the head of the
# embeddings alone picks the pool items to pseudo-label and gives the queue its uncertainty; the head
# trained on labels and pseudo-labels still reads both. With a few labels per class a bag of words
# holds mostly chance words. 20 Newsgroups, 3 seeds (docs/benchmarks.md, issue 22): at 100 random
# labels (5 per class) pseudo-labels picked by the embeddings gave 0.561 macro-F1 against 0.545 for
# the hybrid's own; at 300 labels 0.712 against 0.699; at 600 (30 per class) 0.754 against 0.766.
DEFAULT_COLD_START_PER_CLASS = 20.0
# Self-training threshold of a new head (FastHead's default), as a share of the way from chance to
# certainty (`sure_probability`): 0.2875 with 20 labels, 0.625 with 2. On 20 Newsgroups (3 seeds,
# 2,000 labels) 0.05 / 0.15 / 0.25 / 0.35 / 0.45 gave 0.764 / 0.763 / 0.765 / 0.764 / 0.762 macro-F1.
DEFAULT_SELF_TRAINING = 0.25
# Post-hoc logit adjustment of the single-label LR head (Menon et al. 2021, "Long-tail learning via
# logit adjustment"): tau x log(class share / even share) comes off each class's intercept, so the head
# predicts as if its labels had been balanced. Exactly nothing when they are; the more skewed the labels,
# the larger the shift. BBC News long-tail (imbalance 20, 3 seeds, LR C=10 on embeddings; macro-F1):
# 100 labels 0.615 -> 0.887, all 616 0.841 -> 0.945; balanced "class_weight" weights gave 0.726 / 0.921.
# Balanced BBC News and 20 Newsgroups: docs/benchmarks.md, issue 23.
DEFAULT_LOGIT_ADJUSTMENT = 1.0
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


def _embeddings_of(inputs: Any) -> np.ndarray:
    return inputs.embeddings if isinstance(inputs, HybridInputs) else inputs


def _rows(inputs: Any, rows: np.ndarray) -> Any:
    return inputs.take(rows) if isinstance(inputs, HybridInputs) else inputs[rows]


def _joined(first: Any, second: Any) -> Any:
    if isinstance(first, HybridInputs):
        return concatenate(first, second)
    return np.concatenate([first, second])


def _without_words(inputs: HybridInputs) -> HybridInputs:
    """Words computed by some other featurizer cannot be read by the one the head fits itself."""
    return inputs if inputs.words is None else HybridInputs(inputs.texts, inputs.embeddings)


def _mlp(n_features: int, hidden_size: int, n_outputs: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, n_outputs)
    )


class FastHead(TextClassifier):
    """A classifier head on precomputed sentence embeddings, optionally with a bag of words beside them.

    X is a float array (n, dim) of embeddings, or a `HybridInputs` (texts, embeddings and optionally
    their TF-IDF rows). With `HybridInputs` and `features="hybrid"` (the default) the LR head reads the
    embeddings (scaled by `embedding_weight`) side by side with a `TextFeaturizer`'s sparse TF-IDF of
    words and character n-grams (scaled by `words_weight`; tokenised for `language`): a bag of words is
    strong where the labels follow words, the embeddings where they follow meaning (issue 22,
    docs/benchmarks.md). The featurizer is fit on the labeled and unlabeled texts (never the labels)
    unless `fit(..., featurizer=...)` gives one, and is saved with the head; a head fit so predicts from
    `HybridInputs` only. A plain array X trains on the embeddings alone, exactly as before, and so does
    `features="embeddings"` (then `HybridInputs` are read for their embeddings).

    head="lr": scikit-learn LogisticRegression (multinomial; one binary model per label when
    multi_label), stored as plain coefficient arrays. head="mlp": Linear-ReLU-Dropout-Linear in torch,
    trained with Adam, optionally stopped early on a seeded held-out `validation_fraction`, with the
    registry loss `loss`, `sampling_q` and `ema_decay` as the TextCNN (the LR head ignores those). The
    MLP reads embeddings only: it refuses hybrid inputs (use head="lr" or features="embeddings").
    Soft targets on the LR head: see `_fit_logistic`. The single-label LR head corrects for skewed
    labels by `logit_adjustment` (tau; 0 turns it off, see `DEFAULT_LOGIT_ADJUSTMENT`): each class's
    intercept loses tau x log(its share of the training rows / an even share), nothing when balanced.

    Self-training (single-label): given the unlabeled items (`fit(..., unlabeled=pool)`, of the same
    type as X), the head labels the ones it is sure of (its probabilities averaged with label spreading
    over the 10-nearest-neighbour graph of all items' embeddings put one label `self_training` of the
    way from chance to certain: `sure_probability`) and trains once more on the labeled and those
    pseudo-labeled items. `self_training=None`, no `unlabeled`, or a multi-label head trains on the
    labels alone. `labels_only_` is the head of the first fit, on the labels alone (itself when no pool
    item joined): what the queue reads its uncertainty from.

    Cold start (hybrid, single-label, self-training): while the labels are fewer than
    `cold_start_per_class` per class on average, the LR head of the labels' embeddings alone takes the
    labels-only head's place: it picks the pseudo-labels and is `labels_only_`. The head trained on
    labels and pseudo-labels still reads embeddings and words, so the words learn from the many
    pseudo-labeled items instead of the few labels. `cold_start_per_class=None` turns this off.

        >>> head = FastHead(head="lr").fit(embeddings, ["sport", "politics", ...])
        >>> head.predict(new_embeddings)
        >>> hybrid = FastHead(language="zh").fit(HybridInputs(texts, embeddings), labels, unlabeled=pool)
        >>> hybrid.predict(HybridInputs(new_texts, new_embeddings))
    """

    kind = "fast_head"
    input_type = "embeddings"
    _tolerance = 1e-4  # the logistic regression solver's stopping tolerance (scikit-learn's default)
    featurizer_: TextFeaturizer | None = None
    class_prior_: np.ndarray | None = None  # the LR head's assumed class shares (see `_assumed_prior`)

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
        loss: str = "cross_entropy",
        loss_params: dict | None = None,
        sampling_q: float | None = None,
        ema_decay: float | None = None,
        random_state: int = 0,
        device: str | None = None,
        features: str = "hybrid",
        language: str = "en",
        embedding_weight: float = DEFAULT_EMBEDDING_WEIGHT,
        words_weight: float = DEFAULT_WORDS_WEIGHT,
        cold_start_per_class: float | None = DEFAULT_COLD_START_PER_CLASS,
        logit_adjustment: float = DEFAULT_LOGIT_ADJUSTMENT,
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
        self.loss = loss
        self.loss_params = loss_params
        self.sampling_q = sampling_q
        self.ema_decay = ema_decay
        self.random_state = random_state
        self.device = device
        self.features = features
        self.language = language
        self.embedding_weight = embedding_weight
        self.words_weight = words_weight
        self.cold_start_per_class = cold_start_per_class
        self.logit_adjustment = logit_adjustment

    @property
    def is_hybrid(self) -> bool:
        """Whether the fitted head reads texts too (predict from `HybridInputs`, not an array)."""
        return self.featurizer_ is not None

    def fit(
        self,
        X: Any,
        y: Sequence | SoftTargets,
        *,
        sample_weight: Any = None,
        unlabeled: Any = None,
        graph: NeighbourGraph | None = None,
        featurizer: TextFeaturizer | None = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> FastHead:
        """Train on X and y; with `self_training` set and `unlabeled` items given, train a second
        time with the unlabeled items the evidence is sure of (see the class docstring). Returns self.

        `y` and `sample_weight` as in `TextClassifier.fit`. Self-training is skipped when y is a
        `SoftTargets` (the teacher already labels the pool); pseudo-labeled items weigh 1.
        `graph`: the neighbour graph of the rows of X followed by those of `unlabeled`
        (`mlcore.semi_supervised`, over the embeddings); built here when not given. Callers retraining on
        one pool round after round build it once: it depends on the embeddings only.
        `featurizer`: a fitted `TextFeaturizer` for hybrid inputs (then the `words` the inputs carry are
        taken as its rows); without one the head fits its own on the texts of X and `unlabeled`.
        """
        self._check_params()
        X, unlabeled = self._prepare_inputs(X, unlabeled, featurizer)
        pool = unlabeled
        self.n_pseudo_labeled_ = 0
        self.__dict__.pop("labels_only_", None)  # never carried into the copy below from an earlier fit
        plain = self.self_training is None or self.multi_label or isinstance(y, SoftTargets)
        if plain or pool is None or not len(pool):
            super().fit(X, y, sample_weight=sample_weight, on_progress=on_progress, should_cancel=should_cancel)
            self.labels_only_ = self
            return self
        first_half, second_half = _halved_progress(on_progress)
        super().fit(X, y, sample_weight=sample_weight, on_progress=first_half, should_cancel=should_cancel)
        # Refitting replaces the weight arrays (or the network) and never writes into them, so a shallow
        # copy keeps the head of the labels alone.
        lead = self._embedding_lead(X, y, sample_weight)
        self.labels_only_ = lead or copy.copy(self)
        labeled_embeddings, pool_embeddings = _embeddings_of(X), _embeddings_of(pool)
        if pool_embeddings.shape[1] != self.n_features_in_:
            raise ValueError(f"unlabeled has {pool_embeddings.shape[1]} features; X has {self.n_features_in_}")
        if graph is None:
            graph = neighbour_graph(np.concatenate([labeled_embeddings, pool_embeddings]))
        elif len(graph) != len(X) + len(pool):
            raise ValueError(f"the graph has {len(graph)} rows; X and unlabeled have {len(X) + len(pool)}")
        rows, pseudo_labels = self._sure_pseudo_labels(y, pool, graph)
        if len(rows):
            inputs, labels = _joined(X, _rows(pool, rows)), [*y, *pseudo_labels]
            weight = None if sample_weight is None else np.concatenate([sample_weight, np.ones(len(rows))])
            with self._solver_tolerance(SELF_TRAINING_TOLERANCE):
                super().fit(inputs, labels, sample_weight=weight, on_progress=second_half, should_cancel=should_cancel)
        else:
            self.labels_only_ = lead or self
            if second_half is not None:
                second_half(1.0)
        self.n_pseudo_labeled_ = len(rows)
        return self

    def _prepare_inputs(self, X: Any, unlabeled: Any, featurizer: TextFeaturizer | None) -> tuple[Any, Any]:
        """(X, unlabeled) as the fit reads them: embedding arrays, or `HybridInputs` with their words
        filled in by the featurizer (fit here unless given), which becomes `featurizer_`."""
        self.featurizer_ = None
        hybrid = isinstance(X, HybridInputs)
        if not hybrid:
            if featurizer is not None:
                raise ValueError("featurizer applies to HybridInputs only; X is an array of embeddings")
            if isinstance(unlabeled, HybridInputs):
                raise ValueError("X is an array of embeddings but unlabeled is HybridInputs; pass both of one type")
            return _as_embeddings(X), None if unlabeled is None else _as_embeddings(unlabeled)
        if unlabeled is not None and not isinstance(unlabeled, HybridInputs):
            raise ValueError("X is HybridInputs, so unlabeled must be HybridInputs too (texts and embeddings)")
        if self.features == "embeddings":
            return X.embeddings, None if unlabeled is None else unlabeled.embeddings
        if self.head != "lr":
            raise ValueError(
                f"the {self.head} head reads embeddings only; for texts and embeddings use head='lr', "
                "or set features='embeddings'"
            )
        if featurizer is None:
            texts = [*X.texts, *([] if unlabeled is None else unlabeled.texts)]
            featurizer = TextFeaturizer(language=self.language).fit(texts)
            X, unlabeled = _without_words(X), None if unlabeled is None else _without_words(unlabeled)
        elif featurizer.blocks_ is None:
            raise ValueError("the featurizer given is not fitted; fit it on the texts first")
        self.featurizer_ = featurizer
        return self._with_words(X), None if unlabeled is None else self._with_words(unlabeled)

    def _with_words(self, inputs: HybridInputs) -> HybridInputs:
        """`inputs` with the featurizer's rows of its texts (the ones it carries, when of the right width)."""
        width = self.featurizer_.n_features
        if inputs.words is not None:
            if inputs.words.shape[1] != width:
                raise ValueError(
                    f"the inputs carry words of {inputs.words.shape[1]} columns; the featurizer gives {width}: "
                    "compute them with the same featurizer, or leave words out"
                )
            return inputs
        return inputs.with_words(self.featurizer_.transform(inputs.texts))

    @contextmanager
    def _solver_tolerance(self, tolerance: float) -> Iterator[None]:
        previous, self._tolerance = self._tolerance, tolerance
        try:
            yield
        finally:
            self._tolerance = previous

    def _sure_pseudo_labels(self, y: Sequence, pool: Any, graph: NeighbourGraph) -> tuple[np.ndarray, list]:
        """(rows of `pool` to pseudo-label, their labels): where the labels-only head (`labels_only_`:
        at a hybrid head's cold start the embeddings' head) and label spreading over the graph,
        averaged, put one label `self_training` of the way from chance to certain.

        Two views that err differently: the linear head alone pseudo-labels its own mistakes
        confidently; spreading follows the pool's dense regions, where the head draws one global
        boundary. On 20 Newsgroups at 2,000 labels the average beat either alone (docs/benchmarks.md).
        """
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        targets = np.array([index[_plain_label(label)] for label in y], dtype=np.int64)
        spread = spread_labels(graph, targets, len(self.classes_))[len(targets) :]
        evidence = (self.labels_only_.predict_proba(pool) + spread) / 2.0
        rows = np.flatnonzero(evidence.max(axis=1) >= sure_probability(self.self_training, len(self.classes_)))
        return rows, self.classes_[evidence[rows].argmax(axis=1)].tolist()

    def is_cold_start(self, y: Sequence) -> bool:
        """Whether a hybrid head fit on labels `y` lets its embeddings lead (`cold_start_per_class`)."""
        if self.cold_start_per_class is None or not len(y):
            return False
        return len(y) / len({_plain_label(label) for label in y}) < self.cold_start_per_class

    def _embedding_lead(self, X: Any, y: Sequence, sample_weight: Any) -> FastHead | None:
        """At the cold start of a hybrid head: the LR head of the labels' embeddings alone (reading
        `HybridInputs` for their embeddings), which then picks the pseudo-labels and gives the queue's
        uncertainty; None otherwise."""
        if self.featurizer_ is None or not self.is_cold_start(y):
            return None
        lead = FastHead(
            head="lr",
            C=self.C,
            max_iter=self.max_iter,
            self_training=None,
            features="embeddings",
            random_state=self.random_state,
            logit_adjustment=self.logit_adjustment,
        )
        return lead.fit(_embeddings_of(X), list(y), sample_weight=sample_weight)

    def _check_params(self) -> None:
        _check_choice("head", self.head, FAST_HEADS)
        _check_choice("features", self.features, HEAD_FEATURES)
        language_family(self.language)
        for name in ("embedding_weight", "words_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
                raise ValueError(f"{name} must be a number > 0; got {value!r}")
        adjustment = self.logit_adjustment
        if isinstance(adjustment, bool) or not isinstance(adjustment, int | float) or not 0 <= adjustment <= 10:
            raise ValueError(f"logit_adjustment must be a number in [0, 10]; got {adjustment!r}")
        _check_seed(self.random_state)
        cold_start = self.cold_start_per_class
        if cold_start is not None and (
            isinstance(cold_start, bool) or not isinstance(cold_start, int | float) or cold_start < 0
        ):
            raise ValueError(f"cold_start_per_class must be None or a number >= 0; got {cold_start!r}")
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
        _check_torch_training(self)

    def _validate_inputs(self, X: Any, *, fitting: bool) -> np.ndarray | sp.csr_matrix:
        """Embeddings (n, dim); for a hybrid head the (n, dim + words) sparse design matrix."""
        if self.featurizer_ is None:
            embeddings = _as_embeddings(X.embeddings if isinstance(X, HybridInputs) else X)
        elif not isinstance(X, HybridInputs):
            raise ValueError(
                "this head was fit on texts and embeddings: pass HybridInputs(texts, embeddings), "
                "not an array of embeddings"
            )
        else:
            embeddings = _as_embeddings(X.embeddings)
        if not fitting and embeddings.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {embeddings.shape[1]} features; the model was fit on {self.n_features_in_}")
        if self.featurizer_ is None:
            return embeddings
        words = self._with_words(X).words
        # One sparse matrix for one LR: the dense block is small (dim columns) beside the vocabulary.
        return sp.hstack(
            [sp.csr_matrix(embeddings * np.float32(self.embedding_weight)), words * np.float32(self.words_weight)],
            format="csr",
            dtype=np.float32,
        )

    def _fit_encoded(self, inputs: Any, targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        if self.head == "lr":
            self._fit_logistic(inputs, targets, n_outputs, callbacks)
        else:
            self._fit_mlp(inputs, targets, n_outputs, callbacks)
        n_words = 0 if self.featurizer_ is None else self.featurizer_.n_features
        self.n_features_in_ = inputs.shape[1] - n_words  # the embeddings' dimension

    def _continue_encoded(
        self, inputs: np.ndarray, targets: TrainingTargets, callbacks: Callbacks, epochs: int | None
    ) -> None:
        """MLP: more epochs from the current weights. LR: a refit on the new data (see `_fit_logistic`)."""
        if self.head == "lr":
            self._fit_logistic(inputs, targets, len(self.classes_), callbacks)
            return
        rng = np.random.default_rng(self.random_state)
        module = copy.deepcopy(self.module_)
        with seeded_torch(self.random_state, next(module.parameters()).device):
            result = self._train_mlp(module, inputs, targets, epochs or self.epochs, rng, callbacks)
        self.module_, self.n_epochs_ = module, self.n_epochs_ + result.n_epochs

    # - logistic regression

    def _logistic(self, sparse: bool = False) -> LogisticRegression:
        # The hybrid design (a sparse vocabulary of ~10^5 columns per class) converges in a few Newton
        # steps where L-BFGS needs dozens of costly ones: on 20 Newsgroups' TF-IDF at 2,000 labels
        # newton-cg took 8.7 s against 75 s for the same macro-F1 (0.772 / 0.773; docs/benchmarks.md).
        solver = HYBRID_SOLVER if sparse else "lbfgs"
        return LogisticRegression(
            C=self.C, max_iter=self.max_iter, tol=self._tolerance, solver=solver, random_state=self.random_state
        )

    def _fit_logistic(self, X: np.ndarray, targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        """Multinomial LR (one binary LR per label when multi-label), weighted by the sample weights.

        Soft targets: each row becomes one row per class with probability > SOFT_ROW_MIN, weighted by that
        probability times (1 - alpha) times its sample weight, plus its hard label (if any) weighted by
        alpha: the weighted log-loss of those rows is the cross-entropy against the soft targets, i.e.
        the KL term up to a constant. Unlike the torch kinds, the logits are not divided by T and the
        term is not scaled by T^2 (a linear model's scale is set by C; T only softens the targets given).
        A class without any row gets zero weights and a very low intercept (never predicted). The
        problem is convex, so `continue_fit` refits on the new data (a warm start would reach the same
        optimum): the classes stay, what was learned from the earlier data does not.
        """
        callbacks.check("before fitting")
        if not self.multi_label:
            rows, labels, weights = _expanded_rows(targets)
            self.coef_, self.intercept_ = self._softmax_lr(X[rows], labels, weights, n_outputs)
            self.class_prior_ = _assumed_prior(labels, weights, n_outputs, self.logit_adjustment)
            return
        self.class_prior_ = None
        coefs, intercepts = [], []
        for j in range(n_outputs):
            rows, labels, weights = _expanded_rows(targets, column=j)
            coef, intercept = self._binary_lr(X[rows], labels, weights)
            coefs.append(coef)
            intercepts.append(intercept)
            callbacks.step((j + 1) / n_outputs, f"after label {j + 1} of {n_outputs}")
        self.coef_, self.intercept_ = np.array(coefs), np.array(intercepts)

    def _softmax_lr(
        self, X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, n_outputs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        present = np.unique(labels)
        coef = np.zeros((n_outputs, X.shape[1]))
        intercept = np.full(n_outputs, UNSEEN_CLASS_LOGIT)
        if len(present) == 1:
            intercept[present[0]] = 0.0
            return coef, intercept
        model = self._logistic(sp.issparse(X)).fit(X, labels, sample_weight=weights)
        fitted_coef, fitted_intercept = _softmax_weights(model)
        coef[model.classes_], intercept[model.classes_] = fitted_coef, fitted_intercept
        intercept[model.classes_] -= self.logit_adjustment * _log_skew(labels, weights, model.classes_)
        return coef, intercept

    def _binary_lr(self, X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, float]:
        if labels.min() == labels.max():
            return np.zeros(X.shape[1]), (-UNSEEN_CLASS_LOGIT if labels[0] else UNSEEN_CLASS_LOGIT)
        model = self._logistic(sp.issparse(X)).fit(X, labels, sample_weight=weights)
        return model.coef_[0].astype(np.float64), float(model.intercept_[0])

    # - MLP

    def _fit_mlp(self, X: np.ndarray, targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        with seeded_torch(self.random_state, device):
            module = _mlp(X.shape[1], self.hidden_size, n_outputs, self.dropout).to(device)
            result = self._train_mlp(module, X, targets, self.epochs, rng, callbacks)
        self.module_, self.n_epochs_ = module, result.n_epochs

    def _train_mlp(
        self,
        module: nn.Module,
        X: np.ndarray,
        targets: TrainingTargets,
        epochs: int,
        rng: np.random.Generator,
        callbacks: Callbacks,
    ) -> TrainingResult:
        _, validation_index = self._split(len(X), rng)
        device = next(module.parameters()).device
        features = torch.as_tensor(X, device=device)

        def inputs_of(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
            return (features[torch.as_tensor(rows, device=device)],)

        return _train_torch(
            self,
            module,
            inputs_of,
            targets,
            epochs=epochs,
            rng=rng,
            callbacks=callbacks,
            validation_index=validation_index,
            patience=self.patience,
        )

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

    def _logits(self, inputs: Any) -> np.ndarray:
        if self.head == "lr":
            if sp.issparse(inputs):
                return np.asarray(inputs @ self.coef_.T, dtype=np.float64) + self.intercept_
            return inputs.astype(np.float64) @ self.coef_.T + self.intercept_
        device = next(self.module_.parameters()).device
        features = torch.as_tensor(inputs, device=device)
        return _predict_logits(
            self.module_, lambda rows: (features[torch.as_tensor(rows, device=device)],), len(inputs)
        )

    def _save_state(self, directory: Path) -> dict:
        if self.head == "lr":
            np.savez(directory / "weights.npz", coef=self.coef_, intercept=self.intercept_)
            state = {"n_features_in": self.n_features_in_, "weights": "weights.npz"}
            if self.featurizer_ is not None:
                self.featurizer_.save(directory / FEATURIZER_DIR)
                state |= {"featurizer": FEATURIZER_DIR, "featurizer_fingerprint": self.featurizer_.fingerprint}
            return state
        torch.save(self.module_.state_dict(), directory / "weights.pt")
        return {"n_features_in": self.n_features_in_, "weights": "weights.pt", "n_epochs": self.n_epochs_}

    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None:
        self.n_features_in_ = state["n_features_in"]
        if self.head == "lr":
            with np.load(directory / state["weights"]) as weights:
                self.coef_, self.intercept_ = weights["coef"], weights["intercept"]
            self.featurizer_ = None
            if state.get("featurizer") is not None:
                self.featurizer_ = TextFeaturizer.load(directory / state["featurizer"])
                width = self.n_features_in_ + self.featurizer_.n_features
                if self.coef_.shape[1] != width:
                    raise ValueError(f"{directory}: the weights have {self.coef_.shape[1]} columns, not {width}")
            return
        device = _resolve_device(self.device)
        module = _mlp(self.n_features_in_, self.hidden_size, n_outputs, self.dropout)
        module.load_state_dict(torch.load(directory / state["weights"], map_location=device, weights_only=True))
        self.module_, self.n_epochs_ = module.to(device).eval(), state["n_epochs"]


def _expanded_rows(
    targets: TrainingTargets, column: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(row of X, label, weight or None) of the rows a logistic regression fits; `column`: the one label
    of a multi-label head (labels 0/1). Plain labels give the rows as they are; soft targets expand
    each row into weighted rows (see `FastHead._fit_logistic`)."""
    n = len(targets)
    weight = np.ones(n) if targets.weight is None else targets.weight.astype(np.float64)
    hard = targets.hard if column is None else targets.hard[:, column].astype(np.int64)
    if not targets.is_soft:
        return np.arange(n), hard, targets.weight
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if targets.alpha < 1:
        if column is None:
            probabilities = targets.soft.astype(np.float64)
        else:  # the label's absence and presence as two classes
            positive = targets.soft[:, column].astype(np.float64)
            probabilities = np.stack([1.0 - positive, positive], axis=1)
        rows, labels = np.nonzero(probabilities > SOFT_ROW_MIN)
        parts.append((rows, labels, probabilities[rows, labels] * weight[rows] * (1.0 - targets.alpha)))
    if targets.alpha > 0:
        rows = np.flatnonzero(targets.has_hard)
        parts.append((rows, hard[rows], weight[rows] * targets.alpha))
    rows, labels, weights = (np.concatenate(values) for values in zip(*parts, strict=True))
    if not len(rows):
        raise ValueError("no training rows: every soft target is below SOFT_ROW_MIN and no row has a hard label")
    return rows, labels.astype(np.int64), None if np.all(weights == 1.0) else weights


def _log_skew(labels: np.ndarray, weights: np.ndarray | None, classes: np.ndarray) -> np.ndarray:
    """(len(classes),) log(class share / even share) of the training rows: 0 for every class when balanced."""
    mass = np.bincount(labels, weights=weights, minlength=int(classes.max()) + 1)[classes].astype(np.float64)
    share = np.clip(mass / mass.sum(), 1e-12, None)
    return np.log(share * len(classes))


def _assumed_prior(labels: np.ndarray, weights: np.ndarray | None, n_outputs: int, adjustment: float) -> np.ndarray:
    """(n_outputs,) the class shares a single-label LR head's probabilities assume: the training rows'
    shares, flattened by the logit adjustment (tau 1 removes them: an even prior). Read by the queue to
    tell how skewed the pool is behind a head that predicts as if it were not (`QueryPool.model_prior`)."""
    mass = np.bincount(labels, weights=weights, minlength=n_outputs)[:n_outputs].astype(np.float64)
    share = np.clip(mass / max(mass.sum(), 1e-12), 1e-12, None) ** (1.0 - adjustment)
    return share / share.sum()


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
    return checked_texts(X, name="X")


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

    Training: Adam (`weight_decay` an L2 penalty) at a constant `learning_rate` for `epochs`, with the
    loss `loss` of `mlcore.losses` (`loss_params` its parameters, class counts from y), optional class
    re-sampling `sampling_q` and an EMA of the weights `ema_decay` (`mlcore.training_loop.Trainer`).

    UDA consistency training (Xie et al. 2019): with `consistency_weight` > 0, `fit(...,
    consistency_pairs=(unlabeled texts, one augmented copy of each))` adds to every step the weight times
    KL(sharpened prediction on the original || prediction on the copy) over `consistency_batch_size`
    pairs (default 3 x batch_size), counting only originals predicted with at least
    `consistency_confidence`, sharpened at `consistency_temperature` (`training_tricks.ConsistencyLoss`;
    multi-label: per-label Bernoulli KLs). The unlabeled texts and copies join the vocabulary (no
    labels are read from them), so that the consistency term can train embeddings of words the few
    labeled texts lack.
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
        loss: str = "cross_entropy",
        loss_params: dict | None = None,
        sampling_q: float | None = None,
        ema_decay: float | None = None,
        consistency_weight: float = 0.0,
        consistency_temperature: float = 0.4,
        consistency_confidence: float = 0.8,
        consistency_batch_size: int | None = None,
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
        self.loss = loss
        self.loss_params = loss_params
        self.sampling_q = sampling_q
        self.ema_decay = ema_decay
        self.consistency_weight = consistency_weight
        self.consistency_temperature = consistency_temperature
        self.consistency_confidence = consistency_confidence
        self.consistency_batch_size = consistency_batch_size
        self.random_state = random_state
        self.device = device

    def fit(
        self,
        X: Any,
        y: Sequence | SoftTargets,
        *,
        sample_weight: Any = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
        consistency_pairs: tuple[Sequence[str], Sequence[str]] | None = None,
    ) -> TextCNN:
        """`TextClassifier.fit`, plus UDA's `consistency_pairs` (unlabeled texts, one augmented copy of
        each), used when `consistency_weight` > 0 (see the class docstring)."""
        self._check_params()
        pairs = checked_consistency_pairs(consistency_pairs)
        self._consistency_pairs = pairs if self.consistency_weight else None  # weight 0: exactly a plain fit
        try:
            return super().fit(X, y, sample_weight=sample_weight, on_progress=on_progress, should_cancel=should_cancel)
        finally:
            del self._consistency_pairs

    def _check_params(self) -> None:
        _check_torch_training(self)
        check_consistency_params(self)
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

    def _fit_encoded(self, inputs: list[str], targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        device = resolve_device(self.device)
        pairs = getattr(self, "_consistency_pairs", None)
        unlabeled = [*pairs[0], *pairs[1]] if pairs is not None else []
        vocabulary = _build_vocabulary(self._tokens(inputs + unlabeled), self.min_count)
        with seeded_torch(self.random_state, device):
            module = self._network(len(vocabulary), n_outputs).to(device)
            encoded_pairs = None
            if pairs is not None:
                encoded_pairs = (self._encode(pairs[0], vocabulary), self._encode(pairs[1], vocabulary))
            self._train_module(module, self._encode(inputs, vocabulary), targets, self.epochs, callbacks, encoded_pairs)
        self.module_, self.vocabulary_ = module, vocabulary

    def _continue_encoded(
        self, inputs: list[str], targets: TrainingTargets, callbacks: Callbacks, epochs: int | None
    ) -> None:
        """More epochs from the current weights over the fitted vocabulary (new tokens are unknown)."""
        module = copy.deepcopy(self.module_)
        with seeded_torch(self.random_state, next(module.parameters()).device):
            self._train_module(
                module, self._encode(inputs, self.vocabulary_), targets, epochs or self.epochs, callbacks
            )
        self.module_ = module

    def _train_module(
        self,
        module: _KimCNN,
        sequences: list[np.ndarray],
        targets: TrainingTargets,
        epochs: int,
        callbacks: Callbacks,
        pairs: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
    ) -> None:
        device = next(module.parameters()).device
        width = max(self.filter_sizes)

        def inputs_of(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
            return _pad([sequences[i] for i in rows], width, device)

        consistency_pairs = None
        if pairs is not None:
            originals, augmented = pairs

            def pair_inputs_of(rows: np.ndarray) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
                return (
                    _pad([originals[i] for i in rows], width, device),
                    _pad([augmented[i] for i in rows], width, device),
                )

            consistency_pairs = ConsistencyPairs(len(originals), pair_inputs_of)
        rng = np.random.default_rng(self.random_state)
        _train_torch(
            self,
            module,
            inputs_of,
            targets,
            epochs=epochs,
            rng=rng,
            callbacks=callbacks,
            consistency_pairs=consistency_pairs,
            consistency=consistency_options(self),
        )

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
import mlcore.students  # noqa: E402  (adds "static_head")
import mlcore.teacher  # noqa: E402, F401
