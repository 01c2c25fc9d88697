"""Fine-tuning tricks for text classifiers, each small and independent of any training loop.

- sampling: `class_sampling_weights` (natural / square-root / balanced class sampling);
- adversarial training: `FGM` (perturb the embedding layer along its gradient);
- regularisation: `r_drop_loss`, `MultiSampleDropoutHead`, `disable_dropout`, `EMA` (weight averaging);
- semi-supervised: `ConsistencyLoss` (UDA: unlabeled texts and their augmented copies agree);
- optimisation: `layerwise_lr_groups` (layer-wise learning-rate decay), `cosine_warm_restarts`;
- long texts: `head_tail_token_ids`, `sliding_windows` + `average_window_logits`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

# --- class-aware sampling -------------------------------------------------------------------------------


def class_sampling_weights(labels: Sequence[Hashable] | np.ndarray, q: float) -> np.ndarray:
    """Per-example sampling weights (summing to 1) under which class j is drawn with p_j ∝ n_j^q.

    q=1 is the natural distribution, q=0 balanced (each class equally often), q=0.5 square-root sampling
    (Mahajan et al. 2018), a middle ground that helps rare classes without repeating them endlessly.
    Example i of class j gets n_j^(q-1) / Z, so the n_j examples of j together get n_j^q / Z. Feed the
    result to `torch.utils.data.WeightedRandomSampler` or `Generator.choice(p=...)`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d sequence; got shape {labels.shape}")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(np.float64) ** (q - 1.0)
    return weights / weights.sum()


# --- adversarial training -------------------------------------------------------------------------------


class FGM:
    """Fast gradient method on the embedding layer (Miyato et al. 2017), a cheap adversarial regulariser.

    Per step: loss.backward(); fgm.attack(); loss_adv.backward() (on the perturbed embeddings);
    fgm.restore(); optimizer.step(). `attack` adds epsilon * g / ||g||_2 to every parameter whose name
    contains `emb_name`, g its current gradient; `restore` puts the saved weights back bit for bit.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.backup: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def attack(self, epsilon: float = 1.0, emb_name: str = "word_embeddings") -> None:
        """Perturb the embedding weights along their gradient (call after backward())."""
        if self.backup:
            raise RuntimeError("attack() called twice without restore()")
        matched = False
        for name, param in self.model.named_parameters():
            if not param.requires_grad or emb_name not in name:
                continue
            matched = True
            if param.grad is None:
                raise RuntimeError(f"parameter {name!r} has no gradient: call loss.backward() before attack()")
            self.backup[name] = param.detach().clone()
            norm = torch.linalg.vector_norm(param.grad)
            if norm != 0 and torch.isfinite(norm):
                param.add_(epsilon * param.grad / norm)
        if not matched:
            raise ValueError(f"no trainable parameter name contains {emb_name!r}")

    @torch.no_grad()
    def restore(self) -> None:
        """Put back the weights saved by `attack`."""
        for name, param in self.model.named_parameters():
            if name in self.backup:
                param.copy_(self.backup[name])
        self.backup = {}


# --- regularisation -------------------------------------------------------------------------------------


def _symmetric_kl(logits1: torch.Tensor, logits2: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Mean over examples of (KL(P1||P2) + KL(P2||P1)) / 2; per-class Bernoulli KLs summed if multi-label."""
    if multi_label:
        # Two-outcome distributions per class: log p and log(1 - p) from the logits, stably.
        log_p1 = torch.stack([F.logsigmoid(logits1), F.logsigmoid(-logits1)], dim=-1)
        log_p2 = torch.stack([F.logsigmoid(logits2), F.logsigmoid(-logits2)], dim=-1)
    else:
        log_p1, log_p2 = F.log_softmax(logits1, dim=-1), F.log_softmax(logits2, dim=-1)
    kl_12 = (log_p1.exp() * (log_p1 - log_p2)).sum(dim=-1)
    kl_21 = (log_p2.exp() * (log_p2 - log_p1)).sum(dim=-1)
    per_example = (kl_12 + kl_21) / 2
    if multi_label:
        per_example = per_example.sum(dim=-1)
    return per_example.mean()


def r_drop_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    base_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    multi_label: bool = False,
) -> torch.Tensor:
    """R-Drop (Liang et al. 2021): two forward passes with different dropout masks, kept consistent.

    loss = (base(logits1, y) + base(logits2, y)) / 2 + alpha * mean_i (KL(P1||P2) + KL(P2||P1)) / 2,
    P the softmax distributions (multi-label: per-class Bernoulli distributions, KLs summed over classes).
    `base_loss` defaults to cross-entropy (BCE-with-logits if multi-label); any `mlcore.losses` loss works.
    """
    if logits1.shape != logits2.shape:
        raise ValueError(f"the two passes' logits differ in shape: {tuple(logits1.shape)} vs {tuple(logits2.shape)}")
    if base_loss is None:
        base_loss = F.binary_cross_entropy_with_logits if multi_label else F.cross_entropy
    supervised = (base_loss(logits1, targets) + base_loss(logits2, targets)) / 2
    return supervised + alpha * _symmetric_kl(logits1, logits2, multi_label)


class ConsistencyLoss(nn.Module):
    """UDA's consistency term (Xie et al. 2019, "Unsupervised Data Augmentation for Consistency Training").

    For a batch of unlabeled texts and one augmented copy of each: the target is the model's prediction
    on the original, sharpened at `temperature` (softmax(logits / T); T < 1 sharpens) and detached (no
    gradient flows into it); the loss is KL(target || prediction on the copy), averaged over the batch.
    Only confident originals count (`confidence` masking): a row whose top probability (before
    sharpening) is below `confidence` contributes 0, but still counts in the batch mean, as in UDA.

    Multi-label: each label is its own Bernoulli distribution (sigmoid of its logit), sharpened, masked
    and compared by its own KL (a label counts where max(p, 1 - p) >= confidence); the KLs of a row
    are summed over labels, like `r_drop_loss`.

        >>> loss = ConsistencyLoss(temperature=0.4, confidence=0.8)
        >>> with torch.no_grad():
        ...     original = network(*original_inputs)
        >>> total = supervised + weight * loss(original, network(*augmented_inputs))
    """

    def __init__(self, temperature: float = 0.4, confidence: float = 0.8, *, multi_label: bool = False) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature!r}")
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1]; got {confidence!r}")
        self.temperature = temperature
        self.confidence = confidence
        self.multi_label = multi_label

    def forward(self, original_logits: torch.Tensor, augmented_logits: torch.Tensor) -> torch.Tensor:
        if original_logits.shape != augmented_logits.shape:
            raise ValueError(
                f"original and augmented logits differ in shape: {tuple(original_logits.shape)} vs "
                f"{tuple(augmented_logits.shape)}"
            )
        original_logits = original_logits.detach().float()
        augmented_logits = augmented_logits.float()
        if self.multi_label:
            # (batch, labels, 2): each label's log p and log(1 - p), stably from its logit.
            log_target = _bernoulli_log_probs(original_logits / self.temperature)
            log_prediction = _bernoulli_log_probs(augmented_logits)
            confident = _bernoulli_log_probs(original_logits).exp().amax(dim=-1) >= self.confidence
        else:
            log_target = F.log_softmax(original_logits / self.temperature, dim=-1)
            log_prediction = F.log_softmax(augmented_logits, dim=-1)
            confident = F.softmax(original_logits, dim=-1).amax(dim=-1) >= self.confidence
        kl = (log_target.exp() * (log_target - log_prediction)).sum(dim=-1)
        kl = kl * confident.to(kl.dtype)
        if self.multi_label:
            kl = kl.sum(dim=-1)
        return kl.mean()


def _bernoulli_log_probs(logits: torch.Tensor) -> torch.Tensor:
    return torch.stack([F.logsigmoid(logits), F.logsigmoid(-logits)], dim=-1)


class MultiSampleDropoutHead(nn.Module):
    """Classification head averaging the logits of `samples` dropout masks (Inoue 2019).

    In training: mean_k linear(dropout_k(x)), which trains like `samples` mini-batches for one backbone
    pass. In eval dropout is the identity, so it equals the plain linear layer `self.linear`.
    """

    def __init__(self, in_features: int, num_classes: int, samples: int = 5, p: float = 0.5) -> None:
        super().__init__()
        if samples < 1:
            raise ValueError(f"samples must be >= 1; got {samples}")
        self.linear = nn.Linear(in_features, num_classes)
        self.dropouts = nn.ModuleList(nn.Dropout(p) for _ in range(samples))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.linear(features)
        return torch.stack([self.linear(dropout(features)) for dropout in self.dropouts]).mean(dim=0)


def disable_dropout(module: nn.Module) -> int:
    """Set p=0 on every dropout layer of `module` (regression-style fine-tuning, R-Drop ablations).

    Returns how many dropout layers were changed. Dropout applied functionally from a config value (some
    Hugging Face attention code) is out of reach here; set it in the model config instead.
    """
    changed = 0
    for child in module.modules():
        if isinstance(child, nn.modules.dropout._DropoutNd):
            child.p = 0.0
            changed += 1
    return changed


class EMA:
    """Exponential moving average of a model's trainable weights, often better than the last weights.

    `update()` after each optimizer step: shadow = decay * shadow + (1 - decay) * weight. To evaluate or
    save the averaged model: `apply_to(model)`, then `restore()` to continue training.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1); got {decay}")
        self.model = model
        self.decay = float(decay)
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
        self._backup: dict[str, torch.Tensor] = {}
        self._applied_to: nn.Module | None = None

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights into the average."""
        for name, param in self.model.named_parameters():
            if name in self.shadow:
                self.shadow[name].mul_(self.decay).add_(param.detach(), alpha=1 - self.decay)

    @torch.no_grad()
    def apply_to(self, model: nn.Module | None = None) -> None:
        """Copy the averaged weights into `model` (default: the tracked model), keeping its own for `restore`."""
        if self._applied_to is not None:
            raise RuntimeError("apply_to() called twice without restore()")
        model = self.model if model is None else model
        params = dict(model.named_parameters())
        missing = sorted(set(self.shadow) - set(params))
        if missing:
            raise ValueError(f"model lacks averaged parameters: {', '.join(missing[:5])}")
        for name, shadow in self.shadow.items():
            self._backup[name] = params[name].detach().clone()
            params[name].copy_(shadow)
        self._applied_to = model

    @torch.no_grad()
    def restore(self) -> None:
        """Undo `apply_to`: put the model's own weights back."""
        if self._applied_to is None:
            return
        params = dict(self._applied_to.named_parameters())
        for name, saved in self._backup.items():
            params[name].copy_(saved)
        self._backup = {}
        self._applied_to = None


# --- optimisation ---------------------------------------------------------------------------------------

_BERT_LAYER = re.compile(r"(?:^|\.)encoder\.layers?\.(\d+)\.")
_BERT_EMBEDDINGS = re.compile(r"(?:^|\.)embeddings\.")


def bert_layer_of(name: str) -> int | None:
    """Depth of a BERT-style parameter: embeddings 0, `encoder.layer.{i}.` i + 1, anything else None (head)."""
    match = _BERT_LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if _BERT_EMBEDDINGS.search(name):
        return 0
    return None


def layerwise_lr_groups(
    model: nn.Module,
    base_lr: float,
    decay: float,
    layer_of: Callable[[str], int | None] | None = None,
) -> list[dict]:
    """Optimizer parameter groups with layer-wise learning-rate decay (Howard & Ruder 2018; Sun et al. 2019).

    Lower layers hold general language knowledge and should move less. `layer_of(name)` gives a parameter's
    depth (default `bert_layer_of`: embeddings 0, encoder layer i at i + 1) or None for the task head. With
    D the deepest depth, the head gets base_lr and depth k gets base_lr * decay^(D + 1 - k): the top encoder
    layer base_lr * decay, the embeddings base_lr * decay^(D + 1). Frozen parameters are left out.
    Groups are ordered from the embeddings up and carry a "layer" key (None for the head).
    """
    if base_lr <= 0 or not 0 < decay <= 1:
        raise ValueError(f"base_lr must be > 0 and decay in (0, 1]; got base_lr={base_lr}, decay={decay}")
    layer_of = bert_layer_of if layer_of is None else layer_of
    by_layer: dict[int | None, list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            by_layer.setdefault(layer_of(name), []).append(param)
    depths = sorted(k for k in by_layer if k is not None)
    top = (depths[-1] + 1) if depths else 0
    groups = [{"params": by_layer[k], "lr": base_lr * decay ** (top - k), "layer": k} for k in depths]
    if None in by_layer:
        groups.append({"params": by_layer[None], "lr": base_lr, "layer": None})
    return groups


def cosine_warm_restarts(
    optimizer: Optimizer,
    first_cycle_steps: int,
    cycle_mult: int = 1,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warmup, then cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017), per step.

    Multiplier of each group's initial lr at step s (call `scheduler.step()` once per optimizer step):
    s < warmup_steps: s / warmup_steps; then with t = s - warmup_steps falling at position u of a cycle of
    length T (cycles last first_cycle_steps, times cycle_mult each restart):
    min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * u / T)) / 2.
    """
    if first_cycle_steps < 1 or cycle_mult < 1 or warmup_steps < 0 or not 0 <= min_lr_ratio <= 1:
        raise ValueError(
            "need first_cycle_steps >= 1, integer cycle_mult >= 1, warmup_steps >= 0, min_lr_ratio in [0, 1]; got "
            f"{first_cycle_steps}, {cycle_mult}, {warmup_steps}, {min_lr_ratio}"
        )
    if int(cycle_mult) != cycle_mult:
        raise ValueError(f"cycle_mult must be an integer; got {cycle_mult}")
    cycle_mult = int(cycle_mult)

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        position, length = step - warmup_steps, first_cycle_steps
        if cycle_mult == 1:
            position %= length
        else:
            while position >= length:
                position -= length
                length *= cycle_mult
        return min_lr_ratio + (1 - min_lr_ratio) * (1 + math.cos(math.pi * position / length)) / 2

    return LambdaLR(optimizer, multiplier)


# --- long texts -----------------------------------------------------------------------------------------


def head_tail_token_ids(ids: Sequence[int], max_len: int, head: int) -> list[int]:
    """Truncate to `max_len` tokens keeping the first `head` and the last `max_len - head` (Sun et al. 2019).

    The end of a review or ticket often carries the verdict, so head+tail beats head-only truncation.
    Works on the ids without special tokens; leave room for [CLS]/[SEP] in `max_len`.
    """
    if max_len < 0 or not 0 <= head <= max_len:
        raise ValueError(f"need 0 <= head <= max_len; got head={head}, max_len={max_len}")
    ids = list(ids)
    if len(ids) <= max_len:
        return ids
    return ids[:head] + ids[len(ids) - (max_len - head) :]


def sliding_windows(ids: Sequence[int], window: int, stride: int) -> list[list[int]]:
    """Overlapping windows of `window` tokens starting every `stride` tokens, covering all of `ids`.

    The last window is moved back to end at the last token, so every window is full length (no scrap of a
    few tokens without context) whenever the text has at least `window` tokens. A short text is one
    window. Classify each window, then combine with `average_window_logits`.
    """
    if window < 1 or not 1 <= stride <= window:
        raise ValueError(f"need window >= 1 and 1 <= stride <= window; got window={window}, stride={stride}")
    ids = list(ids)
    if len(ids) <= window:
        return [ids]
    starts = [*range(0, len(ids) - window, stride), len(ids) - window]
    return [ids[start : start + window] for start in starts]


def average_window_logits(
    logits: torch.Tensor, window_to_doc: Sequence[int] | torch.Tensor, num_docs: int | None = None
) -> torch.Tensor:
    """Mean of the window logits of each document: (w, C) logits, window i from document window_to_doc[i]
    -> (num_docs, C). `num_docs` defaults to max(window_to_doc) + 1; every document needs a window.
    """
    index = torch.as_tensor(window_to_doc, dtype=torch.int64, device=logits.device)
    if logits.dim() != 2 or index.shape != (logits.shape[0],):
        raise ValueError(
            f"need logits (w, C) and one document id per window; got {tuple(logits.shape)} and {tuple(index.shape)}"
        )
    if index.numel() and int(index.min()) < 0:
        raise ValueError("document ids must be >= 0")
    num_docs = (int(index.max()) + 1 if index.numel() else 0) if num_docs is None else num_docs
    counts = torch.bincount(index, minlength=num_docs)
    if counts.numel() > num_docs:
        raise ValueError(f"window_to_doc names document {counts.numel() - 1} but num_docs is {num_docs}")
    if (counts == 0).any():
        raise ValueError(f"documents without any window: {torch.nonzero(counts == 0)[:, 0].tolist()}")
    sums = torch.zeros(num_docs, logits.shape[1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, index, logits)
    return sums / counts[:, None].to(logits.dtype)


# --- linear probing, then fine-tuning (LP-FT) ------------------------------------------------------

# Logit of a class the probe never saw in training: far below any fitted one, yet finite for the optimiser.
UNSEEN_CLASS_LOGIT = -10.0


def linear_probe_weights(
    features: np.ndarray,
    targets: np.ndarray,
    n_outputs: int,
    *,
    multi_label: bool,
    C: float = 1.0,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_outputs, dim) weights and (n_outputs,) biases of a logistic regression on frozen features.

    LP-FT (Kumar et al. 2022): a classification head fitted on the pretrained features before fine-tuning
    starts; a random head's large early gradients would otherwise distort those features. Single-label:
    `targets` are class indices and softmax(x.W + b) is the regression's probabilities; a class absent
    from `targets` gets zero weights and a very low bias. Multi-label: a 0/1 matrix, one binary
    regression per column (sigmoid outputs); a column with one value only gets the matching constant.
    """
    from sklearn.linear_model import LogisticRegression  # only the probe needs it

    features = np.asarray(features, dtype=np.float64)
    weight = np.zeros((n_outputs, features.shape[1]))
    bias = np.full(n_outputs, UNSEEN_CLASS_LOGIT)

    def fit(y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=1000, random_state=random_state).fit(features, y)

    if multi_label:
        for j in range(n_outputs):
            column = np.asarray(targets[:, j]).astype(int)
            if column.min() == column.max():
                bias[j] = -UNSEEN_CLASS_LOGIT if column[0] else UNSEEN_CLASS_LOGIT
                continue
            model = fit(column)
            weight[j], bias[j] = model.coef_[0], model.intercept_[0]
        return weight, bias
    targets = np.asarray(targets).astype(int)
    seen = np.unique(targets)
    if len(seen) == 1:
        bias[seen[0]] = 0.0
        return weight, bias
    model = fit(targets)
    if len(seen) == 2:  # one row w: p(second) = sigmoid(x.w + b) = softmax([0, x.w + b])[1]
        weight[seen[1]], bias[seen[0]], bias[seen[1]] = model.coef_[0], 0.0, model.intercept_[0]
    else:
        weight[seen], bias[seen] = model.coef_, model.intercept_
    return weight, bias
