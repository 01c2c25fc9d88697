"""Classification losses for fine-tuning, looked up by name through `LOSSES` / `make_loss`.

Every loss is an `nn.Module` called as `loss(logits, targets)` and returns a scalar:

- logits: float (n, C);
- targets, single-label: int64 class ids, shape (n,);
- targets, multi-label: float 0/1 indicators, shape (n, C).

Single-label losses work on softmax probabilities, multi-label ones on per-class sigmoids. The Django
model stores only the loss name and its parameters; `make_loss` turns them back into a module:

>>> loss = make_loss("focal", multi_label=False, gamma=2.0)
>>> float(loss(torch.zeros(2, 3), torch.tensor([0, 2]))) > 0
True
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

UNKNOWN_LOSS = "unknown loss {name!r}; known losses: {known}"
NEEDS_CLASS_COUNTS = "loss {name!r} needs class_counts (examples per class, or positives per class if multi-label)"


def _check_inputs(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (n, C); got {tuple(logits.shape)}")
    if multi_label:
        if targets.shape != logits.shape:
            raise ValueError(
                f"multi-label targets must have the logits' shape {tuple(logits.shape)}; got {tuple(targets.shape)}"
            )
        if not targets.is_floating_point():
            raise ValueError(f"multi-label targets must be float 0/1 indicators; got dtype {targets.dtype}")
        return
    if targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"single-label targets must be class ids of shape ({logits.shape[0]},); got {tuple(targets.shape)}"
        )
    if targets.dtype != torch.int64:
        raise ValueError(f"single-label targets must be int64 class ids; got dtype {targets.dtype}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[1]):
        raise ValueError(f"single-label targets must lie in [0, {logits.shape[1]}); got {targets.tolist()}")


def _check_per_class(values: torch.Tensor, logits: torch.Tensor, what: str) -> None:
    if values.shape[0] != logits.shape[1]:
        raise ValueError(f"{what} has {values.shape[0]} entries but logits have {logits.shape[1]} classes")


def _counts_array(class_counts: Sequence[int]) -> np.ndarray:
    """Class counts as float64, with 0 read as 1 so weights and log-priors stay finite."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"class_counts must be a non-empty 1-d sequence; got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError(f"class_counts must be >= 0; got {counts.tolist()}")
    return np.maximum(counts, 1.0)


def inverse_frequency_weights(class_counts: Sequence[int], power: float = 1.0) -> np.ndarray:
    """Weights w_j ∝ n_j^-power normalised to mean 1, so the weighted loss stays on the plain loss's scale.

    power=1 is inverse frequency, power=0.5 inverse square root (milder), power=0 uniform.
    """
    weights = _counts_array(class_counts) ** -power
    return weights / weights.mean()


def _weighted_mean(losses: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-example (n,) or per-(example, class) (n, C) losses, each example's scaled by its weight."""
    if weight is None:
        return losses.mean()
    return (losses * (weight[:, None] if losses.dim() == 2 else weight)).mean()


class _ClassificationLoss(nn.Module):
    """Base: stores `multi_label` and validates (logits, targets) before `_loss`."""

    def __init__(self, *, multi_label: bool) -> None:
        super().__init__()
        self.multi_label = multi_label

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The loss; `sample_weight` (n,) scales each example's terms (mean of weight * loss)."""
        _check_inputs(logits, targets, self.multi_label)
        if sample_weight is None:
            return self._loss(logits, targets)
        if sample_weight.shape != (logits.shape[0],):
            raise ValueError(f"sample_weight must have shape ({logits.shape[0]},); got {tuple(sample_weight.shape)}")
        return self._loss(logits, targets, sample_weight.to(logits.dtype))

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"multi_label={self.multi_label}"


class CrossEntropyLoss(_ClassificationLoss):
    """Softmax cross-entropy (single-label) or per-class sigmoid BCE averaged over n*C (multi-label)."""

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if weight is None:
            if self.multi_label:
                return F.binary_cross_entropy_with_logits(logits, targets)
            return F.cross_entropy(logits, targets)
        if self.multi_label:
            return _weighted_mean(F.binary_cross_entropy_with_logits(logits, targets, reduction="none"), weight)
        return _weighted_mean(F.cross_entropy(logits, targets, reduction="none"), weight)


class ClassWeightedLoss(_ClassificationLoss):
    """Cross-entropy with per-class weights, so rare classes count as much as frequent ones.

    loss = mean_i w_{y_i} * CE_i (single-label) or mean_{i,c} w_c * BCE_ic (multi-label). This is a
    plain mean, not torch's sum(w*l)/sum(w): with weights of mean 1 the loss keeps CE's scale, and a
    batch holding only a rare class still pulls harder than one holding only a frequent class.
    """

    def __init__(self, weights: Sequence[float], *, multi_label: bool) -> None:
        super().__init__(multi_label=multi_label)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        _check_per_class(self.weights, logits, "weights")
        weights = self.weights.to(logits.dtype)
        if self.multi_label:
            return _weighted_mean(
                F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weights, weight
            )
        return _weighted_mean(F.cross_entropy(logits, targets, reduction="none") * weights[targets], weight)

    def extra_repr(self) -> str:
        return f"weights={self.weights.tolist()}, multi_label={self.multi_label}"


class FocalLoss(_ClassificationLoss):
    """Focal loss (Lin et al. 2017): -alpha_t (1 - p_t)^gamma log p_t, down-weighting easy examples.

    p_t is the probability given to the true class (single-label, softmax) or to the true 0/1 value of
    each class (multi-label, sigmoid). `alpha`: single-label, one weight per class (or None);
    multi-label, a float in [0, 1] weighting positives by alpha and negatives by 1 - alpha (or None).
    gamma=0 and alpha=None is exactly cross-entropy.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | Sequence[float] | None = None, *, multi_label: bool) -> None:
        super().__init__(multi_label=multi_label)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0; got {gamma}")
        self.gamma = float(gamma)
        if alpha is not None and multi_label and not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
            raise ValueError(f"multi-label focal alpha must be a float in [0, 1]; got {alpha!r}")
        if alpha is not None and not multi_label and isinstance(alpha, int | float):
            raise ValueError("single-label focal alpha must be one weight per class, not a single number")
        self.alpha = alpha if (alpha is None or multi_label) else [float(a) for a in alpha]

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if self.multi_label:
            ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            p_t = torch.exp(-ce)
            loss = (1 - p_t) ** self.gamma * ce
            if self.alpha is not None:
                loss = (self.alpha * targets + (1 - self.alpha) * (1 - targets)) * loss
            return _weighted_mean(loss, weight)
        log_p_t = F.log_softmax(logits, dim=1).gather(1, targets[:, None])[:, 0]
        loss = -((1 - log_p_t.exp()) ** self.gamma) * log_p_t
        if self.alpha is not None:
            alpha = torch.as_tensor(self.alpha, dtype=logits.dtype, device=logits.device)
            _check_per_class(alpha, logits, "alpha")
            loss = alpha[targets] * loss
        return _weighted_mean(loss, weight)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, multi_label={self.multi_label}"


class GHMCLoss(_ClassificationLoss):
    """Gradient harmonizing classification loss, GHM-C (Li et al. 2019, "Gradient Harmonized Single-stage
    Detector"): cross-entropy reweighted so that crowds of examples with the same gradient norm (the many
    easy ones, and the few hopeless outliers) do not dominate.

    The gradient norm of an example with respect to its logit is g = |p - y|: per (example, class) with
    sigmoids (multi-label), per example as 1 - p_true with softmax (single-label). g in [0, 1] is cut into
    `bins` equal bins; an example in a bin holding k of the N examples gets weight N / (k * m), m the
    number of non-empty bins (the gradient density GD(g) = k * m, as in the mmdetection reference code).
    loss = sum(weight * CE) / N. With `momentum` > 0, k is an exponential moving average over calls of the
    bin's counts (state kept in the `acc_counts` buffer, starting at 0 as in the reference code).
    Weights are constants: no gradient flows through them.
    """

    def __init__(self, bins: int = 10, momentum: float = 0.0, *, multi_label: bool) -> None:
        super().__init__(multi_label=multi_label)
        if bins < 1:
            raise ValueError(f"bins must be >= 1; got {bins}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.bins = int(bins)
        self.momentum = float(momentum)
        edges = torch.arange(self.bins + 1, dtype=torch.float64) / self.bins
        edges[-1] += 1e-6  # g == 1 falls in the last bin
        self.register_buffer("edges", edges)
        self.register_buffer("acc_counts", torch.zeros(self.bins, dtype=torch.float64))

    @torch.no_grad()
    def gradient_weights(self, g: torch.Tensor) -> torch.Tensor:
        """Weights N / GD(g) for gradient norms `g` (any shape); updates `acc_counts` when momentum > 0."""
        g = g.detach().double()
        total = max(g.numel(), 1)
        weights = torch.zeros_like(g)
        non_empty = 0
        for i in range(self.bins):
            in_bin = (g >= self.edges[i]) & (g < self.edges[i + 1])
            count = int(in_bin.sum())
            if count == 0:
                continue
            non_empty += 1
            if self.momentum > 0:
                self.acc_counts[i] = self.momentum * self.acc_counts[i] + (1 - self.momentum) * count
                weights[in_bin] = total / self.acc_counts[i]
            else:
                weights[in_bin] = total / count
        if non_empty:
            weights /= non_empty
        return weights

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if self.multi_label:
            g = (torch.sigmoid(logits) - targets).abs()
            ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        else:
            g = 1 - F.softmax(logits, dim=1).gather(1, targets[:, None])[:, 0]
            ce = F.cross_entropy(logits, targets, reduction="none")
        weights = self.gradient_weights(g).to(logits.dtype)
        if weight is not None:
            weights = weights * (weight[:, None] if ce.dim() == 2 else weight)
        return (weights * ce).sum() / max(ce.numel(), 1)

    def extra_repr(self) -> str:
        return f"bins={self.bins}, momentum={self.momentum}, multi_label={self.multi_label}"


class DiceLoss(_ClassificationLoss):
    """Soft dice loss, optionally self-adjusting (Li et al. 2020, "Dice Loss for Data-imbalanced NLP Tasks").

    Dice ignores the mass of true negatives, which is what makes it robust to class imbalance. Per class c
    over the batch, with p the softmax (single-label) or sigmoid (multi-label) probabilities, y the one-hot
    or 0/1 targets and q = (1 - p)^alpha * p (alpha > 0 is the self-adjusting variant that down-weights
    easy, confident examples):

        dice_c = (2 * sum_i q_ic y_ic + smooth) / (sum_i q_ic + sum_i y_ic + smooth)
        loss = mean_c (1 - dice_c)
    """

    def __init__(self, smooth: float = 1.0, alpha: float = 0.0, *, multi_label: bool) -> None:
        super().__init__(multi_label=multi_label)
        if smooth < 0 or alpha < 0:
            raise ValueError(f"smooth and alpha must be >= 0; got smooth={smooth}, alpha={alpha}")
        self.smooth = float(smooth)
        self.alpha = float(alpha)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if self.multi_label:
            probs, onehot = torch.sigmoid(logits), targets
        else:
            probs = F.softmax(logits, dim=1)
            onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
        q = (1 - probs) ** self.alpha * probs
        if weight is not None:  # a weighted row counts in the overlaps and the sums in proportion
            q, onehot = q * weight[:, None], onehot * weight[:, None]
        dice = (2 * (q * onehot).sum(0) + self.smooth) / (q.sum(0) + onehot.sum(0) + self.smooth)
        return (1 - dice).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, alpha={self.alpha}, multi_label={self.multi_label}"


class LogitAdjustedLoss(_ClassificationLoss):
    """Logit-adjusted cross-entropy (Menon et al. 2021, "Long-tail learning via logit adjustment").

    loss = CE(logits + tau * log(prior), y), prior_j = n_j / sum(n). Training against the prior-shifted
    logits makes the raw logits approximate the balanced (per-class) error minimiser, so predict with the
    raw logits. A uniform prior shifts every logit equally and gives plain cross-entropy. Single-label only.
    """

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0, *, multi_label: bool = False) -> None:
        if multi_label:
            raise ValueError("logit_adjusted is defined for single-label classification only")
        super().__init__(multi_label=False)
        counts = _counts_array(class_counts)
        self.tau = float(tau)
        self.register_buffer("log_prior", torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32))

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        _check_per_class(self.log_prior, logits, "class_counts")
        adjusted = logits + self.tau * self.log_prior.to(logits.dtype)
        if weight is None:
            return F.cross_entropy(adjusted, targets)
        return _weighted_mean(F.cross_entropy(adjusted, targets, reduction="none"), weight)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, prior={[round(math.exp(v), 4) for v in self.log_prior.tolist()]}"


# --- distillation ---------------------------------------------------------------------------------------


def distillation_divergence(
    logits: torch.Tensor, soft: torch.Tensor, temperature: float, *, multi_label: bool
) -> torch.Tensor:
    """(n,) KL(p_teacher || student at temperature T) per example.

    Single-label: KL(p || softmax(z / T)). Multi-label: the Bernoulli KL of each class against
    sigmoid(z / T), averaged over classes (BCE against soft targets, minus the targets' own entropy).
    Entries with p = 0 contribute 0 (xlogy), so one-hot rows are fine.
    """
    scaled = logits / temperature
    if multi_label:
        kl = (
            torch.special.xlogy(soft, soft)
            + torch.special.xlogy(1 - soft, 1 - soft)
            - soft * F.logsigmoid(scaled)
            - (1 - soft) * F.logsigmoid(-scaled)
        )
        return kl.mean(dim=1)
    return (torch.special.xlogy(soft, soft) - soft * F.log_softmax(scaled, dim=1)).sum(dim=1)


class DistillationLoss(nn.Module):
    """Knowledge distillation (Hinton et al. 2015) around any loss of the registry.

    loss = alpha * base(student, hard) * n_hard / n + (1 - alpha) * T^2 * mean_i KL(p_i || softmax(z_i / T))

    over a batch of n rows of which n_hard carry a hard label (`has_hard`); rows without one contribute
    only the distillation term, so the hard term is the base loss of the hard rows scaled to their share.
    T^2 keeps the soft term's gradients on the hard term's scale as T grows. `soft` holds the teacher's
    probabilities, already softened at T. `sample_weight` (n,) weighs each row in both terms.
    alpha = 1 gives exactly `base` on hard labels; alpha = 0 pure distillation.
    """

    def __init__(
        self, base: nn.Module | None = None, *, temperature: float = 1.0, alpha: float = 0.0, multi_label: bool = False
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
        self.base = CrossEntropyLoss(multi_label=multi_label) if base is None else base
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.multi_label = multi_label

    def forward(
        self,
        logits: torch.Tensor,
        soft: torch.Tensor,
        hard: torch.Tensor | None = None,
        has_hard: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if soft.shape != logits.shape:
            raise ValueError(f"soft targets must have the logits' shape {tuple(logits.shape)}; got {tuple(soft.shape)}")
        n = logits.shape[0]
        total = logits.new_zeros(())
        if self.alpha > 0 and hard is not None:
            rows = torch.ones(n, dtype=torch.bool, device=logits.device) if has_hard is None else has_hard
            n_hard = int(rows.sum())
            if n_hard:
                if n_hard == n:
                    part = self._base(logits, hard, sample_weight)
                else:
                    part = self._base(logits[rows], hard[rows], None if sample_weight is None else sample_weight[rows])
                total = total + self.alpha * part * (n_hard / n)
        if self.alpha < 1:
            kl = distillation_divergence(logits, soft.to(logits.dtype), self.temperature, multi_label=self.multi_label)
            if sample_weight is not None:
                kl = kl * sample_weight.to(logits.dtype)
            total = total + (1 - self.alpha) * self.temperature**2 * kl.mean()
        return total

    def _base(self, logits: torch.Tensor, hard: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        return self.base(logits, hard) if weight is None else self.base(logits, hard, sample_weight=weight)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, multi_label={self.multi_label}"


# --- registry -------------------------------------------------------------------------------------------


def _require_counts(name: str, class_counts: Sequence[int] | None) -> Sequence[int]:
    if class_counts is None:
        raise ValueError(NEEDS_CLASS_COUNTS.format(name=name))
    return class_counts


def _cross_entropy(*, multi_label: bool, class_counts: Sequence[int] | None = None) -> nn.Module:
    return CrossEntropyLoss(multi_label=multi_label)


def _class_weighted(
    *,
    multi_label: bool,
    class_counts: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
    power: float = 1.0,
) -> nn.Module:
    if weights is None:
        weights = inverse_frequency_weights(_require_counts("class_weighted", class_counts), power)
    return ClassWeightedLoss(weights, multi_label=multi_label)


def _focal(
    *,
    multi_label: bool,
    class_counts: Sequence[int] | None = None,
    gamma: float = 2.0,
    alpha: float | Sequence[float] | None = None,
) -> nn.Module:
    return FocalLoss(gamma, alpha, multi_label=multi_label)


def _ghm_c(
    *, multi_label: bool, class_counts: Sequence[int] | None = None, bins: int = 10, momentum: float = 0.0
) -> nn.Module:
    return GHMCLoss(bins, momentum, multi_label=multi_label)


def _dice(
    *, multi_label: bool, class_counts: Sequence[int] | None = None, smooth: float = 1.0, alpha: float = 0.0
) -> nn.Module:
    return DiceLoss(smooth, alpha, multi_label=multi_label)


def _logit_adjusted(*, multi_label: bool, class_counts: Sequence[int] | None = None, tau: float = 1.0) -> nn.Module:
    return LogitAdjustedLoss(_require_counts("logit_adjusted", class_counts), tau, multi_label=multi_label)


# name -> factory(*, multi_label, class_counts=None, **params)
LOSSES: dict[str, Callable[..., nn.Module]] = {
    "cross_entropy": _cross_entropy,
    "class_weighted": _class_weighted,
    "focal": _focal,
    "ghm_c": _ghm_c,
    "dice": _dice,
    "logit_adjusted": _logit_adjusted,
}


def make_loss(
    name: str, *, multi_label: bool, class_counts: Sequence[int] | None = None, **params: object
) -> nn.Module:
    """Build the loss registered as `name` with its hyperparameters `params`.

    `class_counts` (examples per class; positives per class if multi-label) is needed by class_weighted
    (unless `weights` is given) and logit_adjusted, and ignored by the others.
    """
    if name not in LOSSES:
        raise ValueError(UNKNOWN_LOSS.format(name=name, known=", ".join(sorted(LOSSES))))
    factory = LOSSES[name]
    accepted = set(inspect.signature(factory).parameters) - {"multi_label", "class_counts"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) or "none"
        raise ValueError(f"loss {name!r} takes no parameter(s) {', '.join(unknown)}; it takes: {takes}")
    return factory(multi_label=multi_label, class_counts=class_counts, **params)
