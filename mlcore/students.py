"""Fast production students on raw texts: `StaticHead` ("static_head").

One tokenization pass (the encoder's own fast WordPiece tokenizer, cut at `max_tokens`) gives two
feature sets of every text:

- the static embedding: the mean of the tokens' vectors from a table distilled from the project's
  encoder (`mlcore.static_embeddings`), L2-normalised; it carries what the encoder knows about words
  the labeled texts never showed;
- a sparse bag of words over the same ids: WordPiece unigrams plus hashed bigrams, sublinear tf times
  idf (idf fitted on the training texts plus any `unlabeled` ones), L2-normalised per text.

A linear softmax layer reads both (an `nn.EmbeddingBag` over the sparse features plus a linear map of
the dense one), so prediction is a tokenizer call, a table lookup and a sum: thousands of texts per
second on two CPU cores. It trains with Adam on hard labels or a teacher's soft targets
(`fit(X, SoftTargets(...))`: alpha * CE(hard) + (1 - alpha) * T^2 * KL(teacher_T || student_T)).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sparse_matrix
import torch
from torch import nn

from mlcore.encoders import DEFAULT_BACKBONE
from mlcore.models import (
    MODEL_KINDS,
    TextClassifier,
    _as_texts,
    _check_choice,
    _check_positive_int,
    _check_seed,
    _check_torch_training,
    _train_torch,
)
from mlcore.static_embeddings import DEFAULT_STATIC_CACHE_DIR, StaticEmbeddings, load_or_distill
from mlcore.targets import SoftTargets, TrainingTargets
from mlcore.training_loop import Callbacks, CancelCheck, ProgressCallback, resolve_device, seeded_torch

# "lbfgs": full-batch L-BFGS on the convex loss (cross-entropy / distillation; the fastest to its optimum).
# "adam": mini-batches through the shared `mlcore.training_loop.Trainer`, so the whole loss registry,
# class re-sampling and EMA apply to this kind too.
SOLVERS = ("lbfgs", "adam")
# Bigram ids are hashed into 2**bigram_bits buckets after the unigram ids.
_BIGRAM_MULTIPLIER = 2_654_435_761
_LOADED_TABLES: dict[tuple, StaticEmbeddings] = {}


def _static_table(backbone: str, cache_dir: str | None, dims: int, max_tokens: int) -> StaticEmbeddings:
    """The distilled table of `backbone` (from the cache, distilled on first use), kept in memory."""
    key = (backbone, cache_dir, dims, max_tokens)
    if key not in _LOADED_TABLES:
        _LOADED_TABLES[key] = load_or_distill(
            backbone, cache_dir=cache_dir or DEFAULT_STATIC_CACHE_DIR, dims=dims, max_tokens=max_tokens
        )
    return _LOADED_TABLES[key]


class _SparseBatch:
    """Sparse features of texts as EmbeddingBag input: flat feature ids, their weights, per-text offsets."""

    def __init__(self, features: np.ndarray, weights: np.ndarray, offsets: np.ndarray) -> None:
        self.features, self.weights, self.offsets = features, weights, offsets

    def rows(self, index: np.ndarray) -> _SparseBatch:
        starts, ends = self.offsets[index], self._ends()[index]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # Position k of the batch's flat features comes from starts[row] + (k - offsets[row]).
        take = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
        return _SparseBatch(self.features[take], self.weights[take], offsets)

    def _ends(self) -> np.ndarray:
        return np.append(self.offsets[1:], len(self.features))


class _LinearStudent(nn.Module):
    """logits = EmbeddingBag(sparse features, weights) + dense @ W^T + b."""

    def __init__(self, n_sparse: int, n_dense: int, n_outputs: int) -> None:
        super().__init__()
        self.sparse = nn.EmbeddingBag(n_sparse, n_outputs, mode="sum")
        nn.init.zeros_(self.sparse.weight)
        self.dense = nn.Linear(n_dense, n_outputs)

    def forward(
        self, features: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor, dense: torch.Tensor
    ) -> torch.Tensor:
        return self.sparse(features, offsets, per_sample_weights=weights) + self.dense(dense)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _loss_rows_and_gradient(logits: np.ndarray, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss (as `mlcore.losses.DistillationLoss`) and its gradient with respect to the logits, in numpy."""
    hard, has_hard, soft = targets["hard"], targets["has_hard"], targets["soft"]
    n = len(logits)
    rows = np.arange(n)
    probabilities = _softmax(logits)
    if soft is None:
        loss = -np.log(np.clip(probabilities[rows, hard], 1e-300, None))
        gradient = probabilities.copy()
        gradient[rows, hard] -= 1.0
        return loss, gradient
    temperature, alpha = targets["temperature"], targets["alpha"]
    loss, gradient = np.zeros(n), np.zeros_like(logits)
    if alpha > 0:
        labeled = np.flatnonzero(has_hard)
        loss[labeled] += -alpha * np.log(np.clip(probabilities[labeled, hard[labeled]], 1e-300, None))
        gradient[labeled] += alpha * probabilities[labeled]
        gradient[labeled, hard[labeled]] -= alpha
    if alpha < 1:
        tempered = _softmax(logits / temperature)
        teacher = soft.astype(np.float64)
        kl = (teacher * (np.log(np.clip(teacher, 1e-12, None)) - np.log(np.clip(tempered, 1e-300, None)))).sum(axis=1)
        loss += (1 - alpha) * temperature**2 * kl
        gradient += (1 - alpha) * temperature * (tempered - teacher)
    return loss, gradient


class StaticHead(TextClassifier):
    """Linear softmax over a static embedding distilled from `backbone` and a WordPiece bag of words.

    Single-label only. `fit(X, y, unlabeled=pool_texts)` also fits the idf on the pool's texts.
    `static_cache_dir`: where distilled tables are cached (None: ~/.cache/labelloop/static).
    """

    kind = "static_head"
    input_type = "texts"

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        multi_label: bool = False,
        dims: int = 256,
        max_tokens: int = 512,
        use_static: bool = True,
        use_bow: bool = True,
        bigram_bits: int = 18,
        min_df: int = 2,
        dense_scale: float = 1.0,
        C: float = 10.0,
        max_iter: int = 100,
        solver: str = "lbfgs",
        loss: str = "cross_entropy",
        loss_params: dict | None = None,
        sampling_q: float | None = None,
        ema_decay: float | None = None,
        learning_rate: float = 1e-2,
        weight_decay: float = 0.0,
        epochs: int = 10,
        batch_size: int = 64,
        static_cache_dir: str | None = None,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.multi_label = multi_label
        self.dims = dims
        self.max_tokens = max_tokens
        self.use_static = use_static
        self.use_bow = use_bow
        self.bigram_bits = bigram_bits
        self.min_df = min_df
        self.dense_scale = dense_scale
        self.C = C
        self.max_iter = max_iter
        self.solver = solver
        self.loss = loss
        self.loss_params = loss_params
        self.sampling_q = sampling_q
        self.ema_decay = ema_decay
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.static_cache_dir = static_cache_dir
        self.random_state = random_state
        self.device = device

    # - parameters and inputs

    def _check_params(self) -> None:
        if self.multi_label:
            raise ValueError("static_head is single-label only")
        _check_seed(self.random_state)
        for name in ("dims", "max_tokens", "bigram_bits", "min_df", "max_iter"):
            _check_positive_int(name, getattr(self, name))
        if not (self.use_static or self.use_bow):
            raise ValueError("static_head needs use_static or use_bow (or both)")
        if not self.C > 0:
            raise ValueError(f"C must be > 0; got {self.C!r}")
        _check_choice("solver", self.solver, SOLVERS)
        _check_torch_training(self)
        for name in ("epochs", "batch_size"):
            _check_positive_int(name, getattr(self, name))
        if self.solver == "lbfgs" and (self.loss != "cross_entropy" or self.sampling_q or self.ema_decay):
            raise ValueError(
                "loss, sampling_q and ema_decay train through the shared loop: set solver='adam' to use them"
            )

    def _validate_inputs(self, X: Any, *, fitting: bool) -> list[str]:
        return _as_texts(X)

    def _table(self) -> StaticEmbeddings:
        return _static_table(self.backbone, self.static_cache_dir, self.dims, self.max_tokens)

    @property
    def _n_unigrams(self) -> int:
        return self._table().vocabulary_size

    @property
    def _n_sparse(self) -> int:
        return self._n_unigrams + 2**self.bigram_bits

    # - features

    def _token_ids(self, texts: list[str]) -> list[np.ndarray]:
        return self._table().token_ids(texts)

    def _feature_keys(self, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, feature id) of every unigram and bigram occurrence."""
        n_unigrams, buckets = self._n_unigrams, 2**self.bigram_bits
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        flat = np.concatenate(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        docs = np.repeat(np.arange(len(ids)), lengths)
        if len(flat) > 1:
            same_doc = docs[:-1] == docs[1:]
            bigrams = (flat[:-1] * _BIGRAM_MULTIPLIER + flat[1:]) % buckets + n_unigrams
            features = np.concatenate([flat, bigrams[same_doc]])
            docs = np.concatenate([docs, docs[:-1][same_doc]])
        else:
            features = flat
        return docs, features

    def _fit_idf(self, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(kept feature ids, sorted; their idf): the features in at least `min_df` of the texts.

        Keeping only these (not the whole hashed space) shrinks the weight table several times, which
        makes the L-BFGS steps and the saved model smaller by as much."""
        docs, features = self._feature_keys(ids)
        keys = np.unique(docs * self._n_sparse + features)
        df = np.bincount(keys % self._n_sparse, minlength=self._n_sparse)
        kept = np.flatnonzero(df >= self.min_df)
        idf = np.log((1.0 + len(ids)) / (1.0 + df[kept])) + 1.0
        return kept.astype(np.int64), idf.astype(np.float32)

    @property
    def _n_features(self) -> int:
        return len(self.features_)

    def _sparse(self, ids: list[np.ndarray]) -> _SparseBatch:
        """Sublinear tf * idf per (text, kept feature), L2-normalised per text; columns index `features_`."""
        docs, features = self._feature_keys(ids)
        keys, counts = np.unique(docs * self._n_sparse + features, return_counts=True)
        docs, features = keys // self._n_sparse, keys % self._n_sparse
        columns = np.minimum(np.searchsorted(self.features_, features), max(self._n_features - 1, 0))
        keep = self.features_[columns] == features if self._n_features else np.zeros(len(features), bool)
        docs, columns, counts = docs[keep], columns[keep], counts[keep]
        weights = (1.0 + np.log(counts)).astype(np.float32) * self.idf_[columns]
        norms = np.sqrt(np.bincount(docs, weights=weights.astype(np.float64) ** 2, minlength=len(ids)))
        weights = (weights / np.maximum(norms[docs], 1e-12)).astype(np.float32)
        offsets = np.searchsorted(docs, np.arange(len(ids))).astype(np.int64)
        return _SparseBatch(columns.astype(np.int64), weights, offsets)

    def _dense(self, ids: list[np.ndarray]) -> np.ndarray:
        if not self.use_static:
            return np.zeros((len(ids), 1), dtype=np.float32)
        return self._table().embed_ids(ids) * np.float32(self.dense_scale)

    def _features(self, texts: list[str]) -> tuple[_SparseBatch, np.ndarray]:
        ids = self._token_ids(texts)
        if self.use_bow:
            sparse = self._sparse(ids)
        else:
            sparse = _SparseBatch(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(len(ids), np.int64))
        return sparse, self._dense(ids)

    # - training

    def fit(
        self,
        X: Any,
        y: Sequence | SoftTargets,
        *,
        sample_weight: Any = None,
        unlabeled: Sequence[str] | None = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> StaticHead:
        """`TextClassifier.fit`; the `unlabeled` texts (the pool) only add to the idf statistics."""
        self._unlabeled = [] if unlabeled is None else _as_texts(unlabeled)
        try:
            return super().fit(X, y, sample_weight=sample_weight, on_progress=on_progress, should_cancel=should_cancel)
        finally:
            del self._unlabeled

    def _fit_encoded(self, inputs: list[str], targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        if targets.multi_label:
            raise ValueError("static_head is single-label only")
        ids = self._token_ids(inputs)
        extra = getattr(self, "_unlabeled", [])
        self.features_, self.idf_ = self._fit_idf(ids + self._token_ids(extra) if extra else ids)
        with seeded_torch(self.random_state, resolve_device(self.device)):
            self.module_ = _LinearStudent(max(self._n_features, 1), self._dense(ids[:1]).shape[1], n_outputs)
        if self.solver == "adam":
            self._train_adam(ids, targets, self.epochs, callbacks)
        else:
            self._train(ids, _plain_targets(targets), targets.weight, self.max_iter, callbacks)

    def _train_adam(self, ids: list[np.ndarray], targets: TrainingTargets, epochs: int, callbacks: Callbacks) -> None:
        """Mini-batch training of the same linear layer through `training_loop.Trainer` (`_train_torch`):
        the registry's `loss`, `sampling_q`, `ema_decay`, soft targets and weights as every torch kind."""
        device = resolve_device(self.device)
        module = copy.deepcopy(self.module_).to(device)  # a cancelled run leaves the fitted weights as they were
        sparse = self._sparse(ids) if self.use_bow else None
        dense = torch.as_tensor(self._dense(ids), dtype=torch.float32, device=device)

        def inputs_of(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
            return (*self._sparse_inputs(sparse, rows, device), dense[torch.as_tensor(rows, device=device)])

        rng = np.random.default_rng(self.random_state)
        with seeded_torch(self.random_state, device):
            result = _train_torch(self, module, inputs_of, targets, epochs=epochs, rng=rng, callbacks=callbacks)
        self.n_iter_ = result.n_epochs
        self.module_ = module.eval()

    def _continue_encoded(
        self, inputs: list[str], targets: TrainingTargets, callbacks: Callbacks, epochs: int | None
    ) -> None:
        """Continue from the fitted weights: the same loss, pulled toward the current weights instead of
        zero, for `epochs` (else `max_iter`) L-BFGS iterations. The idf and features stay as fitted.
        With solver="adam": `epochs` (else `self.epochs`) more epochs of the shared loop."""
        if self.solver == "adam":
            self._train_adam(self._token_ids(inputs), targets, epochs or self.epochs, callbacks)
            return
        self._train(
            self._token_ids(inputs),
            _plain_targets(targets),
            targets.weight,
            epochs or self.max_iter,
            callbacks,
            anchor=True,
        )

    def _train(
        self,
        ids: list[np.ndarray],
        targets: dict,
        weight: np.ndarray | None,
        max_iter: int,
        callbacks: Callbacks,
        *,
        anchor: bool = False,
    ) -> None:
        """Full-batch L-BFGS (scipy) on the convex loss + l2/2 * ||W - W0||^2 with l2 = 1 / (C n);
        W0 = 0, or the current weights when `anchor` (continue_fit: move from the distilled weights only
        as far as the labels ask).

        Measured on BBC against mini-batch Adam (dense and sparse gradients), torch autograd through a
        sparse COO matrix and scipy's L-BFGS-B: torch's L-BFGS with scipy CSR products for the gradient
        was several times faster than each.
        """
        features = self._design_matrix(ids)
        dense = self._dense(ids).astype(np.float64)
        module = self.module_
        shapes = [tuple(module.sparse.weight.shape), tuple(module.dense.weight.T.shape), (module.dense.bias.shape[0],)]
        sizes = [int(np.prod(shape)) for shape in shapes]
        start = np.concatenate(
            [
                module.sparse.weight.detach().double().numpy().ravel(),
                module.dense.weight.detach().double().numpy().T.ravel(),
                module.dense.bias.detach().double().numpy(),
            ]
        )
        anchor_point = start.copy() if anchor else np.zeros_like(start)
        penalised = np.ones_like(start)
        penalised[-sizes[2] :] = 0.0  # the bias is not regularised
        l2 = 1.0 / (self.C * len(ids))
        row_weight = np.ones(len(ids)) if weight is None else weight.astype(np.float64)
        row_weight = row_weight / row_weight.sum()
        evaluations = [0]

        def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            evaluations[0] += 1
            callbacks.step(min(evaluations[0] / max_iter, 0.99), f"at step {evaluations[0]}")
            sparse_w, dense_w, bias = np.split(theta, np.cumsum(sizes)[:-1])
            sparse_w, dense_w = sparse_w.reshape(shapes[0]), dense_w.reshape(shapes[1])
            logits = features @ sparse_w + dense @ dense_w + bias
            loss_rows, grad_logits = _loss_rows_and_gradient(logits, targets)
            grad_logits *= row_weight[:, None]
            difference = (theta - anchor_point) * penalised
            loss = float(loss_rows @ row_weight) + l2 / 2 * float(difference @ difference)
            gradient = np.concatenate(
                [(features.T @ grad_logits).ravel(), (dense.T @ grad_logits).ravel(), grad_logits.sum(axis=0)]
            )
            return loss, gradient + l2 * difference

        theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [theta], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe", tolerance_grad=1e-6
        )

        def closure() -> torch.Tensor:
            # The gradient comes from numpy/scipy (CSR products), not autograd.
            loss, gradient = loss_and_gradient(theta.detach().numpy())
            theta.grad = torch.from_numpy(gradient)
            return torch.tensor(loss, dtype=torch.float64)

        optimizer.step(closure)
        sparse_w, dense_w, bias = np.split(theta.detach().numpy(), np.cumsum(sizes)[:-1])
        with torch.no_grad():
            module.sparse.weight.copy_(torch.as_tensor(sparse_w.reshape(shapes[0])))
            module.dense.weight.copy_(torch.as_tensor(dense_w.reshape(shapes[1]).T))
            module.dense.bias.copy_(torch.as_tensor(bias))
        self.n_iter_ = evaluations[0]
        self.module_ = module.to(resolve_device(self.device)).eval()

    def _design_matrix(self, ids: list[np.ndarray]) -> sparse_matrix.csr_matrix:
        """(n, n_sparse) CSR tf-idf matrix of the texts (all zeros without use_bow)."""
        if not self.use_bow:
            return sparse_matrix.csr_matrix((len(ids), max(self._n_features, 1)))
        sparse = self._sparse(ids)
        indptr = np.append(sparse.offsets, len(sparse.features))
        return sparse_matrix.csr_matrix(
            (sparse.weights.astype(np.float64), sparse.features, indptr), shape=(len(ids), max(self._n_features, 1))
        )

    @staticmethod
    def _sparse_inputs(
        sparse: _SparseBatch | None, rows: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if sparse is None:
            empty = torch.zeros(0, dtype=torch.int64, device=device)
            return empty, torch.zeros(0, device=device), torch.zeros(len(rows), dtype=torch.int64, device=device)
        part = sparse.rows(rows) if rows is not None else sparse
        return (
            torch.as_tensor(part.features, device=device),
            torch.as_tensor(part.weights, device=device),
            torch.as_tensor(part.offsets, device=device),
        )

    # - prediction and storage

    def _logits(self, inputs: list[str]) -> np.ndarray:
        sparse, dense = self._features(inputs)
        device = next(self.module_.parameters()).device
        with torch.inference_mode():
            logits = self.module_(*self._sparse_inputs(sparse, None, device), torch.as_tensor(dense, device=device))
        return logits.double().cpu().numpy()

    def _save_state(self, directory: Path) -> dict:
        torch.save(self.module_.state_dict(), directory / "weights.pt")
        np.savez(directory / "features.npz", features=self.features_, idf=self.idf_)
        table_dir = self._table().save(directory / "static")
        return {"weights": "weights.pt", "features": "features.npz", "static": table_dir.name}

    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None:
        table = StaticEmbeddings.load(directory / state["static"], max_tokens=self.max_tokens)
        # The saved table is the one the weights were trained against: it wins over any cache.
        _LOADED_TABLES[(self.backbone, self.static_cache_dir, self.dims, self.max_tokens)] = table
        with np.load(directory / state["features"]) as saved:
            self.features_, self.idf_ = saved["features"], saved["idf"]
        module = _LinearStudent(max(self._n_features, 1), self._dense([np.zeros(1, np.int64)]).shape[1], n_outputs)
        module.load_state_dict(torch.load(directory / state["weights"], map_location="cpu", weights_only=True))
        self.module_ = module.to(resolve_device(self.device)).eval()


def _plain_targets(targets: TrainingTargets) -> dict:
    """The encoded targets as the numpy loss reads them."""
    return {
        "hard": np.where(targets.has_hard, targets.hard, 0).astype(np.int64),
        "has_hard": targets.has_hard.astype(bool),
        "soft": targets.soft,
        "temperature": float(targets.temperature),
        "alpha": float(targets.alpha) if targets.soft is not None else 1.0,
    }


MODEL_KINDS[StaticHead.kind] = StaticHead
__all__ = ["StaticHead"]
