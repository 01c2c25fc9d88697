"""The one torch training loop of every torch model kind (teacher, TextCNN, the fast head's MLP, students).

A model kind prepares its data and network and hands them to `Trainer.fit`:

    >>> trainer = Trainer(multi_label=False, loss_fn=Objective(make_loss("focal", multi_label=False)),
    ...                   learning_rate=1e-3, epochs=5, batch_size=32, scheduler="constant", warmup_ratio=0.0)
    >>> result = trainer.fit(network, batch_of, train_rows, dev_rows, rng=rng, callbacks=callbacks)

- `batch_of(rows)` returns `(inputs, targets)`: `network(*inputs)` gives (len(rows), classes) logits and
  `targets` is what the loss takes (`TrainingTargets.batch`: a tensor of hard labels, or a
  `TargetBatch` with soft targets and sample weights).
- `param_groups(network)` (optional) returns the optimizer's parameter groups (dicts with "params" and
  "lr"); by default one group of every trainable parameter at `learning_rate`. The teacher passes its
  layer-wise groups and a head group.
- `Objective` turns a registry loss (`mlcore.losses.make_loss`) into a loss over `TargetBatch`es: the
  plain loss on hard labels, weighted by sample weights, or `DistillationLoss` with soft targets.

Everything of `mlcore.training_tricks` is an option (FGM, R-Drop, EMA, class re-sampling, warmup and
schedules, clipping, UDA consistency), off by default. Progress and cancellation go through `Callbacks`.

UDA (`consistency_weight` > 0 and `fit(consistency_pairs=...)`): each step also draws
`consistency_batch_size` pairs of an unlabeled text and its augmented copy (`ConsistencyPairs`) and
adds weight x `training_tricks.ConsistencyLoss(prediction on the original, prediction on the copy)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import WeightedRandomSampler

from mlcore import training_tricks as tricks
from mlcore.losses import CrossEntropyLoss, DistillationLoss
from mlcore.targets import TargetBatch

# Progress is reported (and cancellation checked) at most once per this fraction of training.
PROGRESS_STEP = 0.01
# Early stopping counts an epoch as progress only if the validation loss drops by more than this.
EARLY_STOPPING_TOL = 1e-4
# Rows per forward pass when scoring the dev split.
EVAL_BATCH_SIZE = 64
SCHEDULERS = ("linear", "cosine", "constant")
OPTIMIZERS = ("adamw", "adam")

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
MetricsCallback = Callable[[dict], None]
Batch = tuple[tuple[torch.Tensor, ...], Any]
BatchOf = Callable[[np.ndarray], Batch]
ParamGroups = Callable[[nn.Module], list[dict]]
# UDA's unlabeled batch is this many times the labeled batch (Xie et al. 2019 use 3x and more).
CONSISTENCY_BATCH_RATIO = 3
# The share of training over which the UDA consistency weight rises from 0 to its value (`consistency_ramp`).
# Measured with the first, dropout-noised targets (BBC News, 20 labels per class, TextCNN, seed 0): 0.503
# with it (also at 0.8), 0.489 without, labels alone 0.569; the targets without dropout then made UDA pay
# (`Trainer._consistency_targets`; docs/benchmarks.md, augmentation).
CONSISTENCY_RAMPUP = 0.5


def consistency_ramp(step: int, total_steps: int, rampup: float | None = None) -> float:
    """The share of the consistency weight at `step`: 0 at the start, rising linearly to 1 at `rampup` of
    the way (`CONSISTENCY_RAMPUP`), then 1. A network trained from scratch predicts noise at first, and a
    full-weight consistency term then teaches it to agree with itself by predicting one class for every
    unlabeled text (Laine & Aila 2017 and Tarvainen & Valpola 2017 ramp it up for the same reason)."""
    rampup = CONSISTENCY_RAMPUP if rampup is None else rampup
    if rampup <= 0:
        return 1.0
    return min(1.0, step / (rampup * total_steps))


def check_consistency_options(
    *, consistency_weight: Any, consistency_temperature: Any, consistency_confidence: Any, consistency_batch_size: Any
) -> None:
    """UDA's options as every torch kind takes them, or a ValueError naming the bad one."""
    weight, temperature = consistency_weight, consistency_temperature
    confidence, batch_size = consistency_confidence, consistency_batch_size
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
        raise ValueError(f"consistency_weight must be a number >= 0 (0: off); got {weight!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise ValueError(f"consistency_temperature must be a number > 0; got {temperature!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ValueError(f"consistency_confidence must be a number in [0, 1]; got {confidence!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"consistency_batch_size must be None or an integer >= 1; got {batch_size!r}")


class TrainingCancelled(Exception):
    """Raised by `fit` when `should_cancel()` returned True; the model keeps its previous state."""


class Callbacks:
    """`on_progress(fraction)` and `should_cancel()`, throttled to one call per PROGRESS_STEP.

    Workers may touch a database in either callback, so a long epoch of tiny batches must not call
    them thousands of times.
    """

    def __init__(self, on_progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None) -> None:
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


def resolve_device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@contextmanager
def seeded_torch(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block only: the caller's global RNG state is restored afterwards."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


# --- the objective ------------------------------------------------------------------------------


class Objective(nn.Module):
    """A registry loss over whatever targets a batch carries.

    - a tensor (hard labels): `base(logits, targets)`, exactly as the plain loss;
    - a `TargetBatch` without soft targets: `base(logits, hard, sample_weight=weight)`;
    - a `TargetBatch` with soft targets: `DistillationLoss(base, temperature, alpha)`.
    """

    def __init__(self, base: nn.Module, *, multi_label: bool, temperature: float = 1.0, alpha: float = 1.0) -> None:
        super().__init__()
        self.base = base
        self.multi_label = multi_label
        self.distillation = DistillationLoss(base, temperature=temperature, alpha=alpha, multi_label=multi_label)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor | TargetBatch) -> torch.Tensor:
        if isinstance(targets, torch.Tensor):
            return self.base(logits, targets)
        if targets.soft is None:
            if targets.weight is None:
                return self.base(logits, targets.hard)
            return self.base(logits, targets.hard, sample_weight=targets.weight)
        return self.distillation(logits, targets.soft, targets.hard, targets.has_hard, targets.weight)

    def evaluation(self) -> Objective:
        """The same objective over plain cross-entropy (BCE if multi-label): what the dev split is scored by."""
        return Objective(
            CrossEntropyLoss(multi_label=self.multi_label),
            multi_label=self.multi_label,
            temperature=self.distillation.temperature,
            alpha=self.distillation.alpha,
        )


# --- the trainer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsistencyPairs:
    """Unlabeled items and one augmented copy of each, for UDA: `n` pairs; `inputs_of(rows)` returns the
    network inputs of those pairs' originals and of their copies, `(original inputs, augmented inputs)`."""

    n: int
    inputs_of: Callable[[np.ndarray], tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]


class _PairDraws:
    """Batches of pair rows: a fresh seeded permutation each time the pairs run out (like epochs of their own)."""

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator) -> None:
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.order, self.position = rng.permutation(n), 0

    def next(self) -> np.ndarray:
        if self.position >= self.n:
            self.order, self.position = self.rng.permutation(self.n), 0
        rows = self.order[self.position : self.position + self.batch_size]
        self.position += len(rows)
        return rows


@dataclass
class TrainingResult:
    """What `Trainer.fit` reports: epochs run, the epoch whose weights were kept, per-epoch metrics."""

    n_epochs: int
    best_epoch: int
    history: list[dict] = field(default_factory=list)


class _BestState:
    """Early stopping on the dev loss: remembers the best weights (on the CPU) and counts stale epochs."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.loss = math.inf
        self.epoch = 0
        self.state: dict[str, torch.Tensor] | None = None
        self.stale = 0

    def improved(self, network: nn.Module, loss: float, epoch: int) -> bool:
        if loss < self.loss - EARLY_STOPPING_TOL:
            self.loss, self.epoch, self.stale = loss, epoch, 0
            self.state = {name: value.detach().to("cpu", copy=True) for name, value in network.state_dict().items()}
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience


class Trainer:
    """Trains any network with Adam(W); every trick is off unless its option is set.

    - optimisation: `optimizer` "adamw" (decoupled `weight_decay`) or "adam" (L2 `weight_decay` added to
      the gradients, as `torch.optim.Adam`); the parameter groups come from `fit(param_groups=...)`; a
      step schedule with `warmup_ratio` of the steps warming up linearly, then "linear" decay to 0,
      "cosine" annealing with `cosine_cycles` warm restarts, or "constant"; gradients clipped to
      `max_grad_norm` (None: no clipping).
    - `loss_fn(logits, targets)`: usually an `Objective` over a `mlcore.losses` loss; `r_drop_alpha` > 0
      adds R-Drop's consistency term over two passes; `fgm_epsilon` > 0 adds an FGM adversarial step on
      the parameters named "word_embeddings".
    - `sampling_q`: draw each epoch's examples with replacement so that stratum j comes up ∝ n_j^q
      (`class_sampling_weights`; 0 balanced, 0.5 square root, 1 natural); None shuffles without replacement.
    - `ema_decay`: keep an exponential moving average of the weights; the dev split is scored with it
      and the model ends with it.
    - UDA consistency: with `consistency_weight` > 0 and `fit(consistency_pairs=...)`, each step adds
      weight x `ConsistencyLoss(temperature=consistency_temperature, confidence=consistency_confidence)`
      over `consistency_batch_size` pairs (default CONSISTENCY_BATCH_RATIO x batch_size), drawn by a
      generator of their own (seeded from `rng`); the originals are predicted in training mode and
      detached (no gradient flows into the target), as UDA does. Weight 0 ignores the pairs: training
      is exactly as without them.
    - early stopping: given dev rows, stops after `patience` epochs without a lower dev loss (scored by
      `dev_loss_fn`, by default `loss_fn.evaluation()` for an `Objective`: cross-entropy, or BCE when
      multi-label, with the same soft targets) and restores the best weights.

    `on_metrics(dict)` receives {"event": "step", "epoch", "step", "fraction", "loss", "learning_rates"}
    about once per PROGRESS_STEP of training (loss: the mean since the previous report) and
    {"event": "epoch", "epoch", "train_loss", "dev_loss", "best_epoch"} after each epoch (plus
    "consistency_loss", the epoch's mean unweighted consistency term, when UDA is on; train_loss is the
    supervised loss alone).
    """

    def __init__(
        self,
        *,
        multi_label: bool,
        loss_fn: Callable[[torch.Tensor, Any], torch.Tensor],
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adamw",
        epochs: int = 3,
        batch_size: int = 16,
        scheduler: str = "constant",
        warmup_ratio: float = 0.0,
        cosine_cycles: int = 1,
        max_grad_norm: float | None = None,
        fgm_epsilon: float = 0.0,
        r_drop_alpha: float = 0.0,
        ema_decay: float | None = None,
        sampling_q: float | None = None,
        patience: int = 2,
        consistency_weight: float = 0.0,
        consistency_temperature: float = 0.4,
        consistency_confidence: float = 0.8,
        consistency_batch_size: int | None = None,
        dev_loss_fn: Callable[[torch.Tensor, Any], torch.Tensor] | None = None,
        on_metrics: MetricsCallback | None = None,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}; got {scheduler!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
        self.multi_label = multi_label
        self.loss_fn = loss_fn
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.optimizer_name = optimizer
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
        self.patience = patience
        check_consistency_options(
            consistency_weight=consistency_weight,
            consistency_temperature=consistency_temperature,
            consistency_confidence=consistency_confidence,
            consistency_batch_size=consistency_batch_size,
        )
        self.consistency_weight = consistency_weight
        self.consistency_loss = tricks.ConsistencyLoss(
            consistency_temperature, consistency_confidence, multi_label=multi_label
        )
        self.consistency_batch_size = consistency_batch_size or CONSISTENCY_BATCH_RATIO * batch_size
        if dev_loss_fn is None:
            dev_loss_fn = loss_fn.evaluation() if isinstance(loss_fn, Objective) else loss_fn
        self.dev_loss_fn = dev_loss_fn
        self.on_metrics = on_metrics

    # - optimisation

    def optimizer(self, network: nn.Module, param_groups: ParamGroups | None = None) -> torch.optim.Optimizer:
        """Adam(W) over `param_groups(network)`, or one group of every trainable parameter."""
        if param_groups is None:
            groups = [{"params": [p for p in network.parameters() if p.requires_grad], "lr": self.learning_rate}]
        else:
            groups = param_groups(network)
        make = torch.optim.AdamW if self.optimizer_name == "adamw" else torch.optim.Adam
        return make(groups, lr=self.learning_rate, weight_decay=self.weight_decay)

    def lr_schedule(self, optimizer: torch.optim.Optimizer, total_steps: int) -> LambdaLR:
        """Per-step multiplier of every group's rate: linear warmup, then linear / cosine / constant."""
        warmup = round(self.warmup_ratio * total_steps)
        if self.scheduler == "cosine":
            cycle = max(1, math.ceil((total_steps - warmup) / self.cosine_cycles))
            return tricks.cosine_warm_restarts(optimizer, cycle, warmup_steps=warmup)

        def multiplier(step: int) -> float:
            if step < warmup:
                return step / warmup
            if self.scheduler == "constant":
                return 1.0
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        return LambdaLR(optimizer, multiplier)

    # - training

    def fit(
        self,
        network: nn.Module,
        batch_of: BatchOf,
        train_rows: np.ndarray,
        dev_rows: np.ndarray | None = None,
        *,
        rng: np.random.Generator,
        strata: np.ndarray | None = None,
        param_groups: ParamGroups | None = None,
        generator: torch.Generator | None = None,
        callbacks: Callbacks | None = None,
        consistency_pairs: ConsistencyPairs | None = None,
    ) -> TrainingResult:
        """Train `network` in place on `train_rows`; `strata` (one per row of the data, needed with
        `sampling_q`) drive re-sampling; `generator` seeds the sampler (default: from `rng`);
        `consistency_pairs` are UDA's unlabeled pairs (used when `consistency_weight` > 0)."""
        callbacks = Callbacks() if callbacks is None else callbacks
        pair_draws = self._pair_draws(consistency_pairs, rng)
        per_epoch = math.ceil(len(train_rows) / self.batch_size)
        total_steps = self.epochs * per_epoch
        optimizer = self.optimizer(network, param_groups)
        schedule = self.lr_schedule(optimizer, total_steps)
        fgm = tricks.FGM(network) if self.fgm_epsilon > 0 else None
        ema = tricks.EMA(network, self.ema_decay) if self.ema_decay is not None else None
        best = _BestState(self.patience) if dev_rows is not None else None
        sampler = self._sampler(strata, train_rows, generator, rng)
        result = TrainingResult(n_epochs=0, best_epoch=0)
        step, pending, reported = 0, [], 0.0
        for epoch in range(1, self.epochs + 1):
            callbacks.check(f"before epoch {epoch} of {self.epochs}")
            network.train()
            order = train_rows[list(sampler)] if sampler is not None else rng.permutation(train_rows)
            epoch_losses, consistency_losses = [], []
            for start in range(0, len(order), self.batch_size):
                pairs = None if pair_draws is None else consistency_pairs.inputs_of(pair_draws.next())
                loss, consistency = self._step(
                    network,
                    batch_of(order[start : start + self.batch_size]),
                    optimizer,
                    fgm,
                    pairs,
                    self.consistency_weight * consistency_ramp(step, total_steps),
                )
                if consistency is not None:
                    consistency_losses.append(consistency)
                schedule.step()
                if ema is not None:
                    ema.update()
                step += 1
                pending.append(loss)
                epoch_losses.append(loss)
                fraction = step / total_steps
                if self.on_metrics is not None and (fraction - reported >= PROGRESS_STEP or step == total_steps):
                    reported = fraction
                    self._emit(
                        event="step",
                        epoch=epoch,
                        step=step,
                        fraction=fraction,
                        loss=float(np.mean(pending)),
                        learning_rates=[group["lr"] for group in optimizer.param_groups],
                    )
                    pending = []
                callbacks.step(fraction, f"in epoch {epoch} of {self.epochs}")
            result.n_epochs = epoch
            if ema is not None:
                ema.apply_to()
            dev_loss = self.dev_loss(network, batch_of, dev_rows) if dev_rows is not None else None
            if best is not None:
                best.improved(network, dev_loss, epoch)
            if ema is not None:
                ema.restore()
            metrics = {
                "epoch": epoch,
                "train_loss": float(np.mean(epoch_losses)),
                "dev_loss": dev_loss,
                "best_epoch": best.epoch if best is not None else epoch,
            }
            if consistency_losses:
                metrics["consistency_loss"] = float(np.mean(consistency_losses))
            result.history.append(metrics)
            self._emit(event="epoch", **metrics)
            if best is not None and best.should_stop:
                break
        if best is not None and best.state is not None:
            network.load_state_dict(best.state)
            result.best_epoch = best.epoch
        else:
            if ema is not None:
                ema.apply_to()  # keep the averaged weights for good
            result.best_epoch = result.n_epochs
        network.eval()
        return result

    def _pair_draws(self, pairs: ConsistencyPairs | None, rng: np.random.Generator) -> _PairDraws | None:
        if pairs is None or self.consistency_weight == 0:
            return None  # nothing drawn from `rng`: training is exactly as without pairs
        if pairs.n < 1:
            raise ValueError("consistency training needs at least one unlabeled pair")
        return _PairDraws(pairs.n, self.consistency_batch_size, np.random.default_rng(rng.integers(2**63)))

    def _sampler(
        self,
        strata: np.ndarray | None,
        train_rows: np.ndarray,
        generator: torch.Generator | None,
        rng: np.random.Generator,
    ) -> WeightedRandomSampler | None:
        if self.sampling_q is None:
            return None
        if strata is None:
            raise ValueError("sampling_q needs strata (one class per row)")
        if generator is None:
            generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        weights = tricks.class_sampling_weights(strata[train_rows], self.sampling_q)
        return WeightedRandomSampler(
            weights.tolist(), num_samples=len(train_rows), replacement=True, generator=generator
        )

    def _step(
        self,
        network: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        fgm: tricks.FGM | None,
        pairs: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]] | None = None,
        consistency_weight: float = 0.0,
    ) -> tuple[float, float | None]:
        """One optimizer step on one batch (and a batch of UDA pairs); returns its supervised loss and
        the unweighted consistency term (None without pairs)."""
        inputs, targets = batch
        logits = network(*inputs)
        if self.r_drop_alpha > 0:
            loss = tricks.r_drop_loss(
                logits, network(*inputs), targets, self.r_drop_alpha, self.loss_fn, multi_label=self.multi_label
            )
        else:
            loss = self.loss_fn(logits, targets)
        consistency = None
        total = loss
        if pairs is not None:
            original_inputs, augmented_inputs = pairs
            original_logits = self._consistency_targets(network, original_inputs)
            consistency = self.consistency_loss(original_logits, network(*augmented_inputs))
            total = loss + consistency_weight * consistency
        optimizer.zero_grad()
        total.backward()
        if fgm is not None:
            fgm.attack(self.fgm_epsilon)
            self.loss_fn(network(*inputs), targets).backward()
            fgm.restore()
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(network.parameters(), self.max_grad_norm)
        optimizer.step()
        return float(loss.detach()), None if consistency is None else float(consistency.detach())

    @staticmethod
    def _consistency_targets(network: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The network's prediction on the unlabeled originals, the consistency term's target: without
        dropout and without gradients. With dropout on, the target is as noisy as the copy's prediction it
        should teach, and a TextCNN trained from scratch (dropout 0.5) collapsed to one class under UDA;
        without it UDA gained 4.9 points on BBC News at 20 labels per class (docs/benchmarks.md)."""
        network.eval()
        try:
            with torch.no_grad():
                return network(*inputs).detach()
        finally:
            network.train()

    def dev_loss(self, network: nn.Module, batch_of: BatchOf, rows: np.ndarray) -> float:
        """Mean `dev_loss_fn` over `rows`, in eval mode and without gradients."""
        network.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(rows), EVAL_BATCH_SIZE):
                chunk = rows[start : start + EVAL_BATCH_SIZE]
                inputs, targets = batch_of(chunk)
                total += float(self.dev_loss_fn(network(*inputs), targets)) * len(chunk)
        network.train()
        return total / len(rows)

    def _emit(self, **metrics: Any) -> None:
        if self.on_metrics is not None:
            self.on_metrics(metrics)
