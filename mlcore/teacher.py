"""Teacher ("teacher"): a pretrained transformer fine-tuned end to end for text classification.

The strongest and slowest model kind: the whole backbone (by default the packaged all-MiniLM-L6-v2, or
any local Hugging Face encoder directory) is trained together with a small head, then used to label
data for the fast students. It follows `mlcore.models.TextClassifier` (fit / predict_proba / predict /
classes_ / save / load, single- and multi-label), and is registered in `MODEL_KINDS` under "teacher".

    >>> teacher = Teacher(epochs=3, pooling="mean").fit(texts, labels, on_metrics=print)
    >>> teacher.save("artifacts/teacher-7")
    >>> load_model("artifacts/teacher-7").predict(["the striker scored twice"])

`Teacher` prepares the data (tokens, windows of long texts, the stratified dev split) and builds the
network; `mlcore.training_loop.Trainer` (re-exported here), the loop every torch kind shares, runs the
optimisation: AdamW with per-group learning rates (optionally decayed layer
by layer), a warmup schedule, and the optional tricks of `mlcore.training_tricks` (FGM, R-Drop, EMA,
class re-sampling) with any loss of `mlcore.losses`. Training stops early when the loss on the dev split
stops improving and keeps the best weights.

Artifacts: `backbone/` (the fine-tuned encoder's `save_pretrained` files and its tokenizer), `head.pt`
(the pooling and classification layers' state_dict), then `model.json` last.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from mlcore import training_tricks as tricks
from mlcore.encoders import DEFAULT_BACKBONE, _pool, resolve_backbone_dir
from mlcore.losses import LOSSES
from mlcore.models import (
    MODEL_KINDS,
    CancelCheck,
    ProgressCallback,
    SoftTargets,
    TextClassifier,
    _as_texts,
    _check_choice,
    _check_fraction,
    _check_positive_int,
    _check_seed,
    check_consistency_params,
    checked_consistency_pairs,
    consistency_options,
    training_objective,
)
from mlcore.targets import TrainingTargets
from mlcore.training_loop import (
    SCHEDULERS,
    Callbacks,
    ConsistencyPairs,
    MetricsCallback,
    Trainer,
    TrainingResult,
    resolve_device,
    seeded_torch,
)

__all__ = ["SCHEDULERS", "Teacher", "TeacherNetwork", "Trainer", "TrainingResult", "stratified_dev_split"]

POOLINGS = ("cls", "mean", "max", "attention")
LONG_TEXTS = ("truncate", "head_tail", "sliding_window")
HEAD_INITS = ("linear_probe", "random")
BACKBONE_DIR = "backbone"
HEAD_FILE = "head.pt"
# Documents per forward pass at prediction time (each may be several windows).
PREDICT_BATCH_SIZE = 64
# Share of the kept tokens that head+tail truncation takes from the start (Sun et al. 2019: 128 of 510).
DEFAULT_HEAD_SHARE = 0.25


# --- texts -> token windows ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Windowing:
    """How one text becomes model inputs: `mode` in LONG_TEXTS, `body` tokens between the special ones."""

    mode: str
    body: int
    head_tokens: int
    stride: int
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    def windows(self, ids: list[int]) -> list[list[int]]:
        """Full input ids (special tokens included) of each window of one text; one unless sliding."""
        if self.mode == "sliding_window":
            pieces = tricks.sliding_windows(ids, self.body, self.stride)
        elif self.mode == "head_tail":
            pieces = [tricks.head_tail_token_ids(ids, self.body, self.head_tokens)]
        else:
            pieces = [ids[: self.body]]
        return [[*self.prefix, *piece, *self.suffix] for piece in pieces]


def _special_tokens(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ids the tokenizer puts before and after a single text ([CLS] and [SEP] for BERT)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return tuple(full[:start]), tuple(full[start + len(plain) :])
    raise ValueError("cannot tell the tokenizer's special tokens apart from the text's tokens")


def _documents(tokenizer, texts: list[str], windowing: _Windowing) -> list[list[list[int]]]:
    """Per text, its windows of input ids."""
    token_ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    return [windowing.windows(ids) for ids in token_ids]


def _collate(
    documents: Sequence[list[list[int]]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(windows, width) ids and attention mask, padded to the longest window, and each window's document."""
    windows = [window for document in documents for window in document]
    owners = [position for position, document in enumerate(documents) for _ in document]
    width = max(len(window) for window in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return (
        torch.as_tensor(ids, device=device),
        torch.as_tensor(mask, device=device),
        torch.as_tensor(owners, dtype=torch.int64, device=device),
    )


@dataclass
class _Data:
    """Encoded documents and their targets; `batch(rows)` gives a model input and the rows' targets."""

    documents: list[list[list[int]]]
    targets: TrainingTargets
    pad_id: int
    device: torch.device

    def batch(self, rows: np.ndarray) -> tuple[tuple[torch.Tensor, ...], Any]:
        inputs = _collate([self.documents[i] for i in rows], self.pad_id, self.device)
        return inputs, self.targets.batch(rows, self.device)


# --- the network --------------------------------------------------------------------------------


class AttentionPooling(nn.Module):
    """Learned attention over token states (Yang et al. 2016): softmax_t(v . tanh(W h_t)) weighted sum.

    Padding tokens get no weight. (batch, tokens, dim) hidden states and (batch, tokens) mask -> (batch, dim).
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.project = nn.Linear(hidden_size, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(torch.tanh(self.project(hidden))).squeeze(-1)
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return (weights * hidden).sum(dim=1)


class TeacherNetwork(nn.Module):
    """Backbone -> pooling over tokens -> (multi-sample) dropout + linear, one row of logits per window.

    `forward(input_ids, attention_mask, window_to_doc)` averages the logits of each document's windows
    (the identity when every document is one window), so it returns (documents, outputs).
    """

    def __init__(self, backbone: nn.Module, n_outputs: int, *, pooling: str, dropout: float, samples: int) -> None:
        super().__init__()
        hidden_size = int(backbone.config.hidden_size)
        self.backbone = backbone
        self.pooling = pooling
        self.attention = AttentionPooling(hidden_size) if pooling == "attention" else None
        self.head = tricks.MultiSampleDropoutHead(hidden_size, n_outputs, samples=samples, p=dropout)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, window_to_doc: torch.Tensor
    ) -> torch.Tensor:
        return _per_document(self.head(self._pooled(input_ids, attention_mask)), window_to_doc)

    def document_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, window_to_doc: torch.Tensor
    ) -> torch.Tensor:
        """(documents, hidden) pooled features, averaged over each document's windows: what the head reads
        (averaging features, then the linear layer, equals averaging the logits)."""
        return _per_document(self._pooled(input_ids, attention_mask), window_to_doc)

    def _pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.attention is not None:
            return self.attention(hidden, attention_mask)
        return _pool(hidden, attention_mask, self.pooling)

    def set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Start the linear layer from given weights (linear probing)."""
        linear = self.head.linear
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
            linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))

    def head_parameters(self) -> list[nn.Parameter]:
        """Everything trained from scratch: the attention pooling (if any) and the classification head."""
        return [param for name, param in self.named_parameters() if not name.startswith("backbone.")]

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        return {name: value for name, value in self.state_dict().items() if not name.startswith("backbone.")}


def _per_document(rows: torch.Tensor, window_to_doc: torch.Tensor) -> torch.Tensor:
    """Window rows averaged per document (the identity when every document is one window)."""
    n_documents = int(window_to_doc[-1]) + 1
    if n_documents == len(window_to_doc):
        return rows
    return tricks.average_window_logits(rows, window_to_doc, n_documents)


# --- splits and strata --------------------------------------------------------------------------


def stratified_dev_split(
    strata: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, dev rows), both sorted: about `fraction` of the rows, drawn stratum by stratum.

    Each stratum gives its share of round(n * fraction) (largest remainders, ties broken at random by
    `rng`), but never all of its rows, so every class stays in training.
    """
    n = len(strata)
    n_dev = round(n * fraction)
    values, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    quotas = counts * n_dev / n
    take = np.floor(quotas).astype(np.int64)
    by_remainder = np.lexsort((rng.random(len(values)), -(quotas - take)))
    take[by_remainder[: n_dev - int(take.sum())]] += 1
    take = np.minimum(take, counts - 1)
    picks = [rng.permutation(np.flatnonzero(inverse == j))[: take[j]] for j in range(len(values))]
    dev = np.concatenate(picks).astype(np.int64)
    if not len(dev):
        raise ValueError(
            f"{n} items are too few to hold out a dev split of {fraction:g} for early stopping; "
            "label more or set dev_fraction=0"
        )
    dev = np.sort(dev)
    return np.setdiff1d(np.arange(n), dev), dev


# --- the model kind -----------------------------------------------------------------------------


class Teacher(TextClassifier):
    """A transformer backbone fine-tuned end to end with a classification head; X is a sequence of texts.

    Model: `backbone` (a packaged model name or a local Hugging Face directory) -> `pooling` over the
    token states ("cls", "mean", "max", or "attention", a learned attention layer) -> dropout
    `head_dropout` (averaged over `multi_sample_dropout` masks when > 1) -> linear; a softmax, or one
    sigmoid per label when `multi_label`. `disable_dropout` sets every dropout of backbone and head to 0.
    `head_init="linear_probe"` (LP-FT) starts the linear layer from a logistic regression (C=`probe_C`)
    fitted on the frozen backbone's pooled features of the training split; "random" starts it at random.

    Long texts: inputs hold at most `max_len` tokens, special ones included. `long_texts="truncate"`
    keeps the start; "head_tail" keeps `head_tokens` from the start (default a quarter) and the rest from
    the end; "sliding_window" cuts windows every `window_stride` tokens (default half a window) and
    averages their logits, in training and in prediction alike.

    Training (see `Trainer`): `loss` names an `mlcore.losses` loss and `loss_params` its parameters
    (class counts come from y); `epochs`, `batch_size`, `learning_rate` (backbone), `head_learning_rate`,
    `weight_decay`, `layer_decay`, `scheduler`, `warmup_ratio`, `cosine_cycles`, `max_grad_norm`,
    `fgm_epsilon`, `r_drop_alpha`, `ema_decay`, `sampling_q`. Early stopping: with `dev_fraction` > 0 a
    stratified, seeded dev split is held out and training stops after `patience` epochs without a lower
    dev loss, keeping the best weights. `device` defaults to CUDA when available, else CPU.

    UDA consistency training: with `consistency_weight` > 0, `fit(..., consistency_pairs=(unlabeled
    texts, one augmented copy of each))` adds the weighted consistency term of
    `training_tricks.ConsistencyLoss` (`consistency_temperature`, `consistency_confidence`) over
    `consistency_batch_size` pairs per step (default 3 x batch_size), as `mlcore.models.TextCNN` does.

    Learned: `classes_`, `network_`, `tokenizer_`, `n_epochs_`, `best_epoch_`, `history_` (per epoch:
    train_loss, dev_loss, best_epoch).
    """

    kind = "teacher"
    input_type = "texts"

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        multi_label: bool = False,
        pooling: str = "mean",
        max_len: int = 256,
        long_texts: str = "head_tail",
        head_tokens: int | None = None,
        window_stride: int | None = None,
        head_dropout: float = 0.1,
        head_init: str = "linear_probe",
        probe_C: float = 1.0,
        multi_sample_dropout: int = 1,
        disable_dropout: bool = False,
        loss: str = "cross_entropy",
        loss_params: dict | None = None,
        learning_rate: float = 5e-5,
        head_learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        layer_decay: float = 1.0,
        epochs: int = 3,
        batch_size: int = 16,
        scheduler: str = "linear",
        warmup_ratio: float = 0.1,
        cosine_cycles: int = 1,
        max_grad_norm: float | None = 1.0,
        fgm_epsilon: float = 0.0,
        r_drop_alpha: float = 0.0,
        ema_decay: float | None = None,
        sampling_q: float | None = None,
        dev_fraction: float = 0.1,
        patience: int = 2,
        consistency_weight: float = 0.0,
        consistency_temperature: float = 0.4,
        consistency_confidence: float = 0.8,
        consistency_batch_size: int | None = None,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.multi_label = multi_label
        self.pooling = pooling
        self.max_len = max_len
        self.long_texts = long_texts
        self.head_tokens = head_tokens
        self.window_stride = window_stride
        self.head_dropout = head_dropout
        self.head_init = head_init
        self.probe_C = probe_C
        self.multi_sample_dropout = multi_sample_dropout
        self.disable_dropout = disable_dropout
        self.loss = loss
        self.loss_params = loss_params
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.weight_decay = weight_decay
        self.layer_decay = layer_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.scheduler = scheduler
        self.warmup_ratio = warmup_ratio
        self.cosine_cycles = cosine_cycles
        self.max_grad_norm = max_grad_norm
        self.fgm_epsilon = fgm_epsilon
        self.r_drop_alpha = r_drop_alpha
        self.ema_decay = ema_decay
        self.sampling_q = sampling_q
        self.dev_fraction = dev_fraction
        self.patience = patience
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
        on_metrics: MetricsCallback | None = None,
        consistency_pairs: tuple[Sequence[str], Sequence[str]] | None = None,
    ) -> Teacher:
        """`TextClassifier.fit`, plus `on_metrics(dict)` with losses and learning rates (see `Trainer`)
        and UDA's `consistency_pairs` (used when `consistency_weight` > 0)."""
        self._check_params()
        pairs = checked_consistency_pairs(consistency_pairs)
        self._on_metrics = on_metrics
        self._consistency_pairs = pairs if self.consistency_weight else None  # weight 0: exactly a plain fit
        try:
            return super().fit(X, y, sample_weight=sample_weight, on_progress=on_progress, should_cancel=should_cancel)
        finally:
            del self._on_metrics, self._consistency_pairs

    def continue_fit(
        self,
        X: Any,
        y: Sequence | SoftTargets,
        *,
        epochs: int | None = None,
        sample_weight: Any = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
        on_metrics: MetricsCallback | None = None,
    ) -> Teacher:
        """`TextClassifier.continue_fit` (no new linear probe; a new optimizer and schedule), plus
        `on_metrics`."""
        self._on_metrics = on_metrics
        try:
            return super().continue_fit(
                X, y, epochs=epochs, sample_weight=sample_weight, on_progress=on_progress, should_cancel=should_cancel
            )
        finally:
            del self._on_metrics

    # - parameters

    def _check_params(self) -> None:
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("long_texts", self.long_texts, LONG_TEXTS)
        _check_choice("scheduler", self.scheduler, SCHEDULERS)
        _check_choice("head_init", self.head_init, HEAD_INITS)
        _check_choice("loss", self.loss, sorted(LOSSES))
        _check_seed(self.random_state)
        check_consistency_params(self)
        for name in ("max_len", "multi_sample_dropout", "epochs", "batch_size", "cosine_cycles", "patience"):
            _check_positive_int(name, getattr(self, name))
        if self.max_len < 3:
            raise ValueError(f"max_len must leave room for special tokens and text (>= 3); got {self.max_len}")
        for name in ("head_dropout", "warmup_ratio", "dev_fraction"):
            _check_fraction(name, getattr(self, name))
        for name in ("learning_rate", "head_learning_rate", "probe_C"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")
        for name in ("weight_decay", "fgm_epsilon", "r_drop_alpha"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1]; got {self.layer_decay!r}")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be None or in [0, 1); got {self.ema_decay!r}")
        if self.sampling_q is not None and not self.sampling_q >= 0:
            raise ValueError(f"sampling_q must be None or >= 0; got {self.sampling_q!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be None or > 0; got {self.max_grad_norm!r}")
        if self.loss_params is not None and not isinstance(self.loss_params, dict):
            raise ValueError(f"loss_params must be a dict or None; got {self.loss_params!r}")
        for name in ("head_tokens", "window_stride"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))

    def _validate_inputs(self, X: Any, *, fitting: bool) -> list[str]:
        return _as_texts(X)

    def _windowing(self, tokenizer, model_limit: int | None) -> _Windowing:
        if model_limit is not None and self.max_len > model_limit:
            raise ValueError(f"max_len {self.max_len} exceeds what the backbone supports ({model_limit})")
        prefix, suffix = _special_tokens(tokenizer)
        body = self.max_len - len(prefix) - len(suffix)
        if body < 1:
            raise ValueError(f"max_len {self.max_len} leaves no room for text besides the special tokens")
        head_tokens = round(body * DEFAULT_HEAD_SHARE) if self.head_tokens is None else self.head_tokens
        stride = max(1, body // 2) if self.window_stride is None else self.window_stride
        if head_tokens > body or stride > body:
            raise ValueError(f"head_tokens and window_stride must be at most {body} (max_len minus special tokens)")
        return _Windowing(self.long_texts, body, head_tokens, stride, prefix, suffix)

    # - training

    def _fit_encoded(self, inputs: list[str], targets: TrainingTargets, n_outputs: int, callbacks: Callbacks) -> None:
        device = resolve_device(self.device)
        model_dir = resolve_backbone_dir(self.backbone)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        callbacks.check("before training")
        with seeded_torch(self.random_state, device):
            backbone = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
            windowing = self._windowing(tokenizer, getattr(backbone.config, "max_position_embeddings", None))
            network = self._network(backbone, n_outputs).to(device)
            if self.disable_dropout:
                tricks.disable_dropout(network)
            result = self._train(network, tokenizer, windowing, inputs, targets, self.epochs, callbacks, probe=True)
        self.network_, self.tokenizer_, self.windowing_ = network, tokenizer, windowing
        self.n_epochs_, self.best_epoch_, self.history_ = result.n_epochs, result.best_epoch, result.history

    def _continue_encoded(
        self, inputs: list[str], targets: TrainingTargets, callbacks: Callbacks, epochs: int | None
    ) -> None:
        """More epochs from the current weights (a copy, so that a cancelled run leaves the model as it was)."""
        network = copy.deepcopy(self.network_)
        with seeded_torch(self.random_state, next(network.parameters()).device):
            result = self._train(
                network,
                self.tokenizer_,
                self.windowing_,
                inputs,
                targets,
                epochs or self.epochs,
                callbacks,
                probe=False,
            )
        self.network_ = network
        self.n_epochs_, self.best_epoch_ = self.n_epochs_ + result.n_epochs, self.n_epochs_ + result.best_epoch
        self.history_ = [*self.history_, *result.history]

    def _train(
        self,
        network: TeacherNetwork,
        tokenizer,
        windowing: _Windowing,
        inputs: list[str],
        targets: TrainingTargets,
        epochs: int,
        callbacks: Callbacks,
        *,
        probe: bool,
    ) -> TrainingResult:
        """The dev split, the linear probe (when `probe` and head_init asks for it), then the `Trainer`."""
        device = next(network.parameters()).device
        rng = np.random.default_rng(self.random_state)
        strata = targets.strata()
        if self.dev_fraction > 0:
            train_rows, dev_rows = stratified_dev_split(strata, self.dev_fraction, rng)
        else:
            train_rows, dev_rows = np.arange(len(inputs)), None
        data = _Data(_documents(tokenizer, inputs, windowing), targets, tokenizer.pad_token_id, device)
        n_outputs = network.head.linear.out_features
        if probe and self.head_init == "linear_probe":
            self._linear_probe(network, data, train_rows, targets.labels()[train_rows], n_outputs, callbacks)
        loss_fn = training_objective(
            self.loss, self.loss_params, targets.subset(train_rows), multi_label=self.multi_label
        ).to(device)
        generator = torch.Generator().manual_seed(self.random_state)
        pairs = getattr(self, "_consistency_pairs", None) if probe else None
        return self._trainer(loss_fn, epochs).fit(
            network,
            data.batch,
            train_rows,
            dev_rows,
            rng=rng,
            strata=strata,
            param_groups=self._param_groups,
            generator=generator,
            callbacks=callbacks,
            consistency_pairs=None if pairs is None else self._pair_batches(tokenizer, windowing, pairs, device),
        )

    def _pair_batches(
        self, tokenizer, windowing: _Windowing, pairs: tuple[list[str], list[str]], device: torch.device
    ) -> ConsistencyPairs:
        """UDA's pairs as network inputs: the originals' and the copies' windows, collated per batch."""
        originals, augmented = (_documents(tokenizer, texts, windowing) for texts in pairs)
        pad_id = tokenizer.pad_token_id

        def inputs_of(rows: np.ndarray) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
            return (
                _collate([originals[i] for i in rows], pad_id, device),
                _collate([augmented[i] for i in rows], pad_id, device),
            )

        return ConsistencyPairs(len(originals), inputs_of)

    def _param_groups(self, network: TeacherNetwork) -> list[dict]:
        """The backbone's groups (layer-wise decayed rates) plus one head group (layer None)."""
        groups = tricks.layerwise_lr_groups(network.backbone, self.learning_rate, self.layer_decay)
        groups.append({"params": network.head_parameters(), "lr": self.head_learning_rate, "layer": None})
        return groups

    def _linear_probe(
        self, network: TeacherNetwork, data: _Data, rows: np.ndarray, targets: np.ndarray, n_outputs: int, callbacks
    ) -> None:
        """Fit the head on the frozen backbone's features of `rows` (one pass, no gradients), then set it."""
        network.eval()
        features = []
        with torch.inference_mode():
            for start in range(0, len(rows), PREDICT_BATCH_SIZE):
                callbacks.check("while probing the backbone's features")
                inputs, _ = data.batch(rows[start : start + PREDICT_BATCH_SIZE])
                features.append(network.document_features(*inputs).float().cpu().numpy())
        weight, bias = tricks.linear_probe_weights(
            np.concatenate(features), targets, n_outputs, multi_label=self.multi_label, C=self.probe_C,
            random_state=self.random_state,
        )  # fmt: skip
        network.set_head(weight, bias)

    def _network(self, backbone: nn.Module, n_outputs: int) -> TeacherNetwork:
        return TeacherNetwork(
            backbone, n_outputs, pooling=self.pooling, dropout=self.head_dropout, samples=self.multi_sample_dropout
        )

    def _trainer(self, loss_fn: nn.Module, epochs: int) -> Trainer:
        return Trainer(
            multi_label=self.multi_label,
            loss_fn=loss_fn,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            optimizer="adamw",
            epochs=epochs,
            batch_size=self.batch_size,
            scheduler=self.scheduler,
            warmup_ratio=self.warmup_ratio,
            cosine_cycles=self.cosine_cycles,
            max_grad_norm=self.max_grad_norm,
            fgm_epsilon=self.fgm_epsilon,
            r_drop_alpha=self.r_drop_alpha,
            ema_decay=self.ema_decay,
            sampling_q=self.sampling_q,
            patience=self.patience,
            **consistency_options(self),
            on_metrics=getattr(self, "_on_metrics", None),
        )

    # - prediction and storage

    def _logits(self, inputs: list[str]) -> np.ndarray:
        documents = _documents(self.tokenizer_, inputs, self.windowing_)
        device = next(self.network_.parameters()).device
        # Longest first, so that a batch's texts need about the same padding; `order` maps back.
        order = sorted(range(len(documents)), key=lambda i: -sum(len(window) for window in documents[i]))
        out = np.zeros((len(documents), self.network_.head.linear.out_features), dtype=np.float32)
        self.network_.eval()
        with torch.inference_mode():
            for start in range(0, len(order), PREDICT_BATCH_SIZE):
                rows = order[start : start + PREDICT_BATCH_SIZE]
                inputs_ = _collate([documents[i] for i in rows], self.tokenizer_.pad_token_id, device)
                out[rows] = self.network_(*inputs_).float().cpu().numpy()
        return out

    def _save_state(self, directory: Path) -> dict:
        self.network_.backbone.save_pretrained(directory / BACKBONE_DIR)
        self.tokenizer_.save_pretrained(directory / BACKBONE_DIR)
        torch.save(self.network_.head_state_dict(), directory / HEAD_FILE)
        return {
            "backbone": BACKBONE_DIR,
            "head": HEAD_FILE,
            "n_epochs": self.n_epochs_,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
        }

    def _load_state(self, directory: Path, state: dict, *, n_outputs: int) -> None:
        device = resolve_device(self.device)
        backbone_dir = str(directory / state["backbone"])
        tokenizer = AutoTokenizer.from_pretrained(backbone_dir, local_files_only=True)
        backbone = AutoModel.from_pretrained(backbone_dir, local_files_only=True)
        network = self._network(backbone, n_outputs)
        head = torch.load(directory / state["head"], map_location="cpu", weights_only=True)
        missing, unexpected = network.load_state_dict(head, strict=False)
        if unexpected or any(not name.startswith("backbone.") for name in missing):
            raise ValueError(f"{directory / state['head']} does not match the model's head")
        self.windowing_ = self._windowing(tokenizer, getattr(backbone.config, "max_position_embeddings", None))
        self.network_, self.tokenizer_ = network.to(device).eval(), tokenizer
        self.n_epochs_, self.best_epoch_, self.history_ = state["n_epochs"], state["best_epoch"], state["history"]


MODEL_KINDS[Teacher.kind] = Teacher
