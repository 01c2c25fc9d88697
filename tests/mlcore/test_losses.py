"""Losses checked against values computed by hand on tiny batches (ln of simple fractions)."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlcore.losses import (
    LOSSES,
    ClassWeightedLoss,
    FocalLoss,
    GHMCLoss,
    inverse_frequency_weights,
    make_loss,
)

LN3 = math.log(3)
LN9 = math.log(9)


def assert_tensors_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # numpy's check: torch.testing's first call costs seconds of lazy imports.
    np.testing.assert_allclose(actual.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-7)


def close(value: torch.Tensor, expected: float) -> None:
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def random_batch(multi_label: bool, n: int = 6, classes: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=generator)
    if multi_label:
        targets = (torch.rand(n, classes, generator=generator) > 0.5).float()
    else:
        targets = torch.randint(0, classes, (n,), generator=generator)
    return logits, targets


# --- contract: every registered loss --------------------------------------------------------------------


CASES = [
    (name, multi) for name in sorted(LOSSES) for multi in (False, True) if (name, multi) != ("logit_adjusted", True)
]


@pytest.mark.parametrize(("name", "multi_label"), CASES)
def test_every_loss_returns_a_finite_scalar_with_gradients(name, multi_label):
    logits, targets = random_batch(multi_label)
    logits.requires_grad_(True)
    loss = make_loss(name, multi_label=multi_label, class_counts=[10, 5, 2, 1])(logits, targets)
    assert loss.shape == ()
    assert torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize(("name", "multi_label"), CASES)
def test_every_loss_takes_sample_weights(name, multi_label):
    """Issue 21: unit weights give the unweighted loss; a zero weight removes a row's pull."""
    logits, targets = random_batch(multi_label)
    loss = make_loss(name, multi_label=multi_label, class_counts=[10, 5, 2, 1])
    assert_tensors_close(loss(logits, targets, sample_weight=torch.ones(6)), loss(logits, targets))
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    logits.requires_grad_(True)
    loss(logits, targets, sample_weight=weights).backward()
    assert logits.grad[3:].abs().sum() == 0 and logits.grad[:3].abs().sum() > 0
    if name != "dice":  # a mean of per-example terms: weight 2 everywhere doubles it
        assert_tensors_close(loss(logits, targets, sample_weight=torch.full((6,), 2.0)), 2 * loss(logits, targets))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(6,\)"):
        loss(logits, targets, sample_weight=torch.ones(5))


def test_unknown_loss_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known losses: class_weighted, cross_entropy, dice"):
        make_loss("hinge", multi_label=False)


def test_unknown_parameter_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match=r"takes no parameter\(s\) gama; it takes: alpha, gamma"):
        make_loss("focal", multi_label=False, gama=2.0)


@pytest.mark.parametrize("name", ["class_weighted", "logit_adjusted"])
def test_losses_built_on_class_counts_require_them(name):
    with pytest.raises(ValueError, match=f"loss '{name}' needs class_counts"):
        make_loss(name, multi_label=False)


def test_bad_shapes_and_dtypes_are_refused():
    loss = make_loss("cross_entropy", multi_label=False)
    with pytest.raises(ValueError, match=r"logits must have shape \(n, C\)"):
        loss(torch.zeros(2, 3, 1), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"class ids of shape \(2,\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="must be int64 class ids"):
        loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 3]))
    multi = make_loss("cross_entropy", multi_label=True)
    with pytest.raises(ValueError, match=r"the logits' shape \(2, 3\)"):
        multi(torch.zeros(2, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="float 0/1 indicators"):
        multi(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.int64))


def test_per_class_parameters_must_match_the_number_of_classes():
    loss = make_loss("class_weighted", multi_label=False, class_counts=[1, 2])
    with pytest.raises(ValueError, match="weights has 2 entries but logits have 3 classes"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))


# --- cross_entropy --------------------------------------------------------------------------------------


def test_cross_entropy_single_label_by_hand():
    # softmax([0, ln 3]) = [1/4, 3/4]: CE is ln 4 for class 0 and ln(4/3) for class 1.
    logits = torch.tensor([[0.0, LN3], [0.0, LN3]])
    loss = make_loss("cross_entropy", multi_label=False)(logits, torch.tensor([0, 1]))
    close(loss, (math.log(4) + math.log(4 / 3)) / 2)


def test_cross_entropy_multi_label_is_bce_averaged_over_all_cells():
    # sigmoid(ln 3) = 3/4: BCE is ln(4/3) for a positive, ln 4 for a negative; sigmoid(0) = 1/2 gives ln 2.
    logits = torch.tensor([[LN3, LN3], [0.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss = make_loss("cross_entropy", multi_label=True)(logits, targets)
    close(loss, (math.log(4 / 3) + math.log(4) + 2 * math.log(2)) / 4)


# --- class_weighted -------------------------------------------------------------------------------------


def test_inverse_frequency_weights_have_mean_one():
    # counts [1, 3]: 1/n = [1, 1/3], mean 2/3 -> [3/2, 1/2]. power 0.5 on [1, 4]: [1, 1/2] / (3/4).
    assert inverse_frequency_weights([1, 3]).tolist() == pytest.approx([1.5, 0.5])
    assert inverse_frequency_weights([1, 4], power=0.5).tolist() == pytest.approx([4 / 3, 2 / 3])
    # A class never seen counts as seen once, so its weight stays finite.
    assert inverse_frequency_weights([0, 1]).tolist() == pytest.approx([1.0, 1.0])


def test_class_weighted_single_label_is_the_plain_mean_of_weighted_ce():
    loss = make_loss("class_weighted", multi_label=False, class_counts=[1, 3])
    assert isinstance(loss, ClassWeightedLoss)
    logits = torch.tensor([[0.0, LN3], [0.0, LN3]])
    close(loss(logits, torch.tensor([0, 1])), (1.5 * math.log(4) + 0.5 * math.log(4 / 3)) / 2)
    # A batch of only the rare class is weighted 1.5, not renormalised away.
    close(loss(logits, torch.tensor([0, 0])), 1.5 * math.log(4))


def test_class_weighted_explicit_weights_override_counts():
    loss = make_loss("class_weighted", multi_label=False, class_counts=[1, 3], weights=[2.0, 1.0])
    logits = torch.tensor([[0.0, LN3], [0.0, LN3]])
    close(loss(logits, torch.tensor([0, 1])), (2 * math.log(4) + math.log(4 / 3)) / 2)


def test_class_weighted_multi_label_weights_each_column():
    loss = make_loss("class_weighted", multi_label=True, class_counts=[1, 3])  # weights [1.5, 0.5]
    logits = torch.tensor([[LN3, 0.0]])
    targets = torch.tensor([[1.0, 0.0]])
    close(loss(logits, targets), (1.5 * math.log(4 / 3) + 0.5 * math.log(2)) / 2)


# --- focal ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("multi_label", [False, True])
def test_focal_with_gamma_zero_is_cross_entropy(multi_label):
    logits, targets = random_batch(multi_label, seed=1)
    focal = make_loss("focal", multi_label=multi_label, gamma=0.0)(logits, targets)
    plain = make_loss("cross_entropy", multi_label=multi_label)(logits, targets)
    assert_tensors_close(focal, plain)


def test_focal_single_label_by_hand():
    # p_t = 3/4: (1 - 3/4)^2 * ln(4/3) = ln(4/3) / 16; alpha of class 1 = 0.75 multiplies it.
    logits = torch.tensor([[0.0, LN3]])
    targets = torch.tensor([1])
    close(make_loss("focal", multi_label=False, gamma=2.0)(logits, targets), math.log(4 / 3) / 16)
    weighted = make_loss("focal", multi_label=False, gamma=2.0, alpha=[0.25, 0.75])(logits, targets)
    close(weighted, 0.75 * math.log(4 / 3) / 16)


def test_focal_multi_label_by_hand():
    # sigmoid(ln 3) = 3/4. Positive: p_t = 3/4, weight alpha = 0.25, factor (1/4)^2, CE ln(4/3).
    # Negative: p_t = 1/4, weight 1 - alpha = 0.75, factor (3/4)^2, CE ln 4.
    logits = torch.tensor([[LN3, LN3]])
    targets = torch.tensor([[1.0, 0.0]])
    loss = make_loss("focal", multi_label=True, gamma=2.0, alpha=0.25)(logits, targets)
    close(loss, (0.25 / 16 * math.log(4 / 3) + 0.75 * 9 / 16 * math.log(4)) / 2)


def test_focal_alpha_must_fit_the_task():
    with pytest.raises(ValueError, match="one weight per class"):
        FocalLoss(2.0, 0.25, multi_label=False)
    with pytest.raises(ValueError, match=r"float in \[0, 1\]"):
        FocalLoss(2.0, [0.2, 0.8], multi_label=True)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        FocalLoss(-1.0, multi_label=False)


# --- ghm_c ----------------------------------------------------------------------------------------------

# Multi-label, 4 cells, bins of width 1/4. sigmoid(ln 9) = 0.9, sigmoid(-ln 9) = 0.1, sigmoid(ln(3/7)) = 0.3.
GHM_LOGITS = torch.tensor([[LN9, LN9], [-LN9, math.log(3 / 7)]])
GHM_TARGETS = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
# g = |p - y| = [[0.1, 0.1], [0.1, 0.7]]: bin 0 holds 3 cells, bin 2 holds 1; 2 non-empty bins, N = 4.
# weight = N / (count * non_empty): 4 / (3 * 2) = 2/3 and 4 / (1 * 2) = 2.
GHM_WEIGHTS = [[2 / 3, 2 / 3], [2 / 3, 2.0]]


def test_ghm_c_weights_by_hand():
    ghm = GHMCLoss(bins=4, multi_label=True)
    g = (torch.sigmoid(GHM_LOGITS) - GHM_TARGETS).abs()
    assert_tensors_close(ghm.gradient_weights(g), torch.tensor(GHM_WEIGHTS, dtype=torch.float64))


def test_ghm_c_multi_label_loss_by_hand():
    # sum(w * BCE) / N: the three easy cells each have BCE ln(10/9), the hard one ln(10/3).
    loss = make_loss("ghm_c", multi_label=True, bins=4)(GHM_LOGITS, GHM_TARGETS)
    close(loss, (2 / 3 * 3 * math.log(10 / 9) + 2 * math.log(10 / 3)) / 4)


def test_ghm_c_momentum_averages_bin_counts_across_calls():
    ghm = GHMCLoss(bins=4, momentum=0.5, multi_label=True)
    g = (torch.sigmoid(GHM_LOGITS) - GHM_TARGETS).abs()
    # Call 1: acc = 0.5 * 0 + 0.5 * count -> bin 0: 1.5, bin 2: 0.5; weight 4 / acc / 2.
    assert_tensors_close(ghm.gradient_weights(g), torch.tensor([[4 / 3, 4 / 3], [4 / 3, 4.0]], dtype=torch.float64))
    # Call 2: acc = 0.5 * acc + 0.5 * count -> bin 0: 2.25, bin 2: 0.75.
    assert_tensors_close(ghm.gradient_weights(g), torch.tensor([[8 / 9, 8 / 9], [8 / 9, 8 / 3]], dtype=torch.float64))
    assert ghm.acc_counts.tolist() == pytest.approx([2.25, 0.0, 0.75, 0.0])


def test_ghm_c_single_label_uses_one_minus_true_class_probability():
    # softmax([ln 9, 0]) = [0.9, 0.1]. Rows: g = 0.1 (bin 0), g = 0.9 (bin 3), g = 0.1 (bin 0).
    # N = 3, 2 non-empty bins: weights 3 / (2 * 2) = 3/4 for bin 0 and 3 / (1 * 2) = 3/2 for bin 3.
    logits = torch.tensor([[LN9, 0.0], [LN9, 0.0], [0.0, LN9]])
    targets = torch.tensor([0, 1, 1])
    loss = make_loss("ghm_c", multi_label=False, bins=4)(logits, targets)
    close(loss, (3 / 4 * 2 * math.log(10 / 9) + 3 / 2 * math.log(10)) / 3)


def test_ghm_c_weights_carry_no_gradient():
    logits = GHM_LOGITS.clone().requires_grad_(True)
    make_loss("ghm_c", multi_label=True, bins=4)(logits, GHM_TARGETS).backward()
    # d BCE / d logit = p - y; each cell's gradient is weight * (p - y) / N.
    expected = torch.tensor(GHM_WEIGHTS) * (torch.sigmoid(GHM_LOGITS) - GHM_TARGETS) / 4
    assert_tensors_close(logits.grad, expected)


# --- dice -----------------------------------------------------------------------------------------------


def test_dice_single_label_by_hand():
    # p = 1/2 everywhere, both targets class 0.
    # class 0: (2 * 1 + 1) / (1 + 2 + 1) = 3/4; class 1: (0 + 1) / (1 + 0 + 1) = 1/2. loss = mean(1/4, 1/2).
    logits = torch.zeros(2, 2)
    targets = torch.tensor([0, 0])
    close(make_loss("dice", multi_label=False, smooth=1.0)(logits, targets), 3 / 8)


def test_self_adjusting_dice_by_hand():
    # alpha = 1: q = (1 - p) p = 1/4 per cell.
    # class 0: (2 * 1/2 + 1) / (1/2 + 2 + 1) = 4/7; class 1: 1 / (1/2 + 1) = 2/3. loss = mean(3/7, 1/3) = 8/21.
    logits = torch.zeros(2, 2)
    targets = torch.tensor([0, 0])
    close(make_loss("dice", multi_label=False, smooth=1.0, alpha=1.0)(logits, targets), 8 / 21)


def test_dice_multi_label_by_hand():
    # p = [3/4, 1/4], both positive, no smoothing: dice 1.5 / 1.75 = 6/7 and 0.5 / 1.25 = 2/5.
    logits = torch.tensor([[LN3, -LN3]])
    targets = torch.tensor([[1.0, 1.0]])
    close(make_loss("dice", multi_label=True, smooth=0.0)(logits, targets), (1 / 7 + 3 / 5) / 2)


# --- logit_adjusted -------------------------------------------------------------------------------------


def test_logit_adjusted_with_uniform_prior_is_cross_entropy():
    logits, targets = random_batch(False, classes=3, seed=2)
    adjusted = make_loss("logit_adjusted", multi_label=False, class_counts=[7, 7, 7], tau=1.5)(logits, targets)
    assert_tensors_close(adjusted, F.cross_entropy(logits, targets))


def test_logit_adjusted_by_hand():
    # prior [1/4, 3/4]; zero logits + log prior -> softmax [1/4, 3/4]: CE of class 0 is ln 4.
    logits = torch.zeros(1, 2)
    loss = make_loss("logit_adjusted", multi_label=False, class_counts=[1, 3])
    close(loss(logits, torch.tensor([0])), math.log(4))
    # tau = 2 squares the prior: softmax of [2 ln 1/4, 2 ln 3/4] = [1/10, 9/10].
    loss = make_loss("logit_adjusted", multi_label=False, class_counts=[1, 3], tau=2.0)
    close(loss(logits, torch.tensor([0])), math.log(10))


def test_logit_adjusted_is_single_label_only():
    with pytest.raises(ValueError, match="single-label classification only"):
        make_loss("logit_adjusted", multi_label=True, class_counts=[1, 3])


# --- purity ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter imports torch: seconds
def test_modules_import_neither_django_nor_celery():
    # A fresh interpreter: the test session itself has Django loaded by pytest-django.
    code = (
        "import sys, mlcore.losses, mlcore.training_tricks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'annotator', 'workers')))"
    )
    repo_root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
