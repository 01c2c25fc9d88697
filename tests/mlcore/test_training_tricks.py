"""Training tricks checked against their closed forms on tiny, seeded tensors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mlcore.training_tricks import (
    EMA,
    FGM,
    UNSEEN_CLASS_LOGIT,
    MultiSampleDropoutHead,
    average_window_logits,
    bert_layer_of,
    class_sampling_weights,
    cosine_warm_restarts,
    disable_dropout,
    head_tail_token_ids,
    layerwise_lr_groups,
    linear_probe_weights,
    r_drop_loss,
    sliding_windows,
)


def assert_tensors_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # numpy's check: torch.testing's first call costs seconds of lazy imports.
    np.testing.assert_allclose(actual.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-7)


# --- class_sampling_weights -----------------------------------------------------------------------------

# Class sizes 4, 1 and 16, shuffled.
LABELS = np.random.default_rng(0).permutation([0] * 4 + [1] * 1 + [2] * 16)


def class_probabilities(weights: np.ndarray, labels: np.ndarray) -> list[float]:
    return [float(weights[labels == j].sum()) for j in range(3)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (1.0, [4 / 21, 1 / 21, 16 / 21]),  # natural: p_j = n_j / n
        (0.0, [1 / 3, 1 / 3, 1 / 3]),  # balanced
        (0.5, [2 / 7, 1 / 7, 4 / 7]),  # square root: sqrt(n_j) = 2, 1, 4
    ],
)
def test_sampling_weights_give_class_probabilities_proportional_to_n_to_the_q(q, expected):
    weights = class_sampling_weights(LABELS, q)
    assert weights.shape == LABELS.shape
    assert weights.sum() == pytest.approx(1.0)
    assert class_probabilities(weights, LABELS) == pytest.approx(expected)
    # Within a class every example is equally likely.
    for j in range(3):
        assert np.ptp(weights[j == LABELS]) == pytest.approx(0.0)


def test_sampling_weights_accept_string_labels():
    weights = class_sampling_weights(["spam", "ham", "ham", "ham"], q=0.0)
    assert weights.tolist() == pytest.approx([1 / 2, 1 / 6, 1 / 6, 1 / 6])


def test_sampling_weights_refuse_empty_labels():
    with pytest.raises(ValueError, match="non-empty 1-d"):
        class_sampling_weights([], q=0.5)


# --- FGM ------------------------------------------------------------------------------------------------


class TinyTextModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(5, 3)
        self.classifier = nn.Linear(3, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.word_embeddings(ids).mean(dim=1))


def test_fgm_adds_epsilon_times_the_normalised_gradient_and_restores_exactly():
    torch.manual_seed(0)
    model = TinyTextModel()
    F.cross_entropy(model(torch.tensor([[0, 1, 2], [2, 3, 3]])), torch.tensor([0, 1])).backward()
    grad = model.word_embeddings.weight.grad.clone()
    before = model.word_embeddings.weight.detach().clone()
    classifier_before = model.classifier.weight.detach().clone()

    fgm = FGM(model)
    fgm.attack(epsilon=0.5, emb_name="word_embeddings")
    delta = model.word_embeddings.weight.detach() - before
    assert_tensors_close(delta, 0.5 * grad / grad.norm())
    assert float(delta.norm()) == pytest.approx(0.5, rel=1e-5)
    assert torch.equal(model.classifier.weight, classifier_before)  # only the embeddings move

    fgm.restore()
    assert torch.equal(model.word_embeddings.weight, before)


def test_fgm_needs_a_matching_parameter_with_a_gradient():
    model = TinyTextModel()
    with pytest.raises(ValueError, match=r"no trainable parameter name contains 'bert\.embeddings'"):
        FGM(model).attack(emb_name="bert.embeddings")
    with pytest.raises(RuntimeError, match=r"call loss.backward\(\) before attack\(\)"):
        FGM(model).attack()


# --- R-Drop ---------------------------------------------------------------------------------------------


def test_r_drop_with_equal_logits_is_just_the_base_loss():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 2, 1, 1])
    assert_tensors_close(r_drop_loss(logits, logits.clone(), targets, alpha=5.0), F.cross_entropy(logits, targets))


# P1 = softmax([0, 0]) = (1/2, 1/2), P2 = softmax([ln 3, 0]) = (3/4, 1/4).
KL_12 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
KL_21 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
CE_MEAN = (math.log(2) + math.log(4 / 3)) / 2  # both passes' CE for class 0


def test_r_drop_symmetric_kl_by_hand():
    logits1 = torch.tensor([[0.0, 0.0]])
    logits2 = torch.tensor([[math.log(3), 0.0]])
    loss = r_drop_loss(logits1, logits2, torch.tensor([0]), alpha=4.0)
    assert float(loss) == pytest.approx(CE_MEAN + 4.0 * (KL_12 + KL_21) / 2, rel=1e-6)


def test_r_drop_multi_label_uses_per_class_bernoulli_kl():
    # sigmoid(0) = 1/2 and sigmoid(ln 3) = 3/4: the same two distributions as the softmax case.
    logits1 = torch.tensor([[0.0]])
    logits2 = torch.tensor([[math.log(3)]])
    loss = r_drop_loss(logits1, logits2, torch.tensor([[1.0]]), alpha=4.0, multi_label=True)
    assert float(loss) == pytest.approx(CE_MEAN + 4.0 * (KL_12 + KL_21) / 2, rel=1e-6)


def test_r_drop_accepts_any_base_loss():
    logits1, logits2 = torch.zeros(1, 2), torch.tensor([[math.log(3), 0.0]])
    loss = r_drop_loss(logits1, logits2, torch.tensor([0]), alpha=0.0, base_loss=lambda logits, y: logits.sum())
    assert float(loss) == pytest.approx(math.log(3) / 2)


# --- dropout --------------------------------------------------------------------------------------------


def test_multi_sample_dropout_head_equals_its_linear_layer_in_eval():
    torch.manual_seed(0)
    head = MultiSampleDropoutHead(4, 3, samples=5, p=0.5).eval()
    features = torch.randn(2, 4)
    assert_tensors_close(head(features), F.linear(features, head.linear.weight, head.linear.bias))


def test_multi_sample_dropout_head_averages_logits_over_dropout_masks_in_training():
    torch.manual_seed(0)
    head = MultiSampleDropoutHead(4, 3, samples=3, p=0.5).train()
    features = torch.randn(2, 4)
    torch.manual_seed(1)
    out = head(features)
    torch.manual_seed(1)  # same masks, drawn in the same order
    masked = [F.linear(F.dropout(features, 0.5, training=True), head.linear.weight, head.linear.bias) for _ in range(3)]
    assert_tensors_close(out, sum(masked) / 3)
    assert not torch.allclose(out, head.eval()(features))


def test_disable_dropout_zeroes_every_dropout_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 4), nn.Sequential(nn.Dropout1d(0.2), nn.Dropout(0.3)))
    assert disable_dropout(model) == 3
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, nn.Dropout | nn.Dropout1d))
    features = torch.randn(2, 4)
    assert_tensors_close(model.train()(features), model.eval()(features))


# --- EMA ------------------------------------------------------------------------------------------------


def test_ema_update_is_decay_times_old_plus_one_minus_decay_times_new():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
        model.bias.fill_(0.5)
    ema = EMA(model, decay=0.75)
    with torch.no_grad():  # a "training step"
        model.weight.copy_(torch.tensor([[3.0, 2.0]]))
        model.bias.fill_(-1.5)
    ema.update()
    # 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * -2 + 0.25 * 2 = -1; 0.75 * 0.5 + 0.25 * -1.5 = 0 (all exact in binary).
    assert torch.equal(ema.shadow["weight"], torch.tensor([[1.5, -1.0]]))
    assert torch.equal(ema.shadow["bias"], torch.tensor([0.0]))


def test_ema_apply_to_and_restore_swap_weights_exactly():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.5)
    original = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    trained = {name: p.detach().clone() for name, p in model.named_parameters()}
    ema.update()
    ema.apply_to(model)
    for name, p in model.named_parameters():
        assert_tensors_close(p.detach(), 0.5 * original[name] + 0.5 * trained[name])
    ema.restore()
    for name, p in model.named_parameters():
        assert torch.equal(p, trained[name])


def test_ema_refuses_a_decay_of_one():
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(nn.Linear(1, 1), decay=1.0)


# --- layer-wise learning rates --------------------------------------------------------------------------


class FakeBert(nn.Module):
    """Parameter names like Hugging Face's BertForSequenceClassification, three encoder layers."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = nn.Module()
        self.bert.embeddings = nn.Module()
        self.bert.embeddings.word_embeddings = nn.Embedding(5, 2)
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))
        self.bert.pooler = nn.Linear(2, 2)
        self.classifier = nn.Linear(2, 2)


def test_bert_layer_of_reads_depth_from_the_name():
    assert bert_layer_of("bert.embeddings.word_embeddings.weight") == 0
    assert bert_layer_of("bert.encoder.layer.0.attention.self.query.weight") == 1
    assert bert_layer_of("roberta.encoder.layer.11.output.dense.bias") == 12
    assert bert_layer_of("classifier.weight") is None


def test_layerwise_lr_decays_by_layer_from_the_head_down():
    model = FakeBert()
    groups = layerwise_lr_groups(model, base_lr=1.0, decay=0.5)
    # Depths: embeddings 0, layers 1..3, head (pooler + classifier) at base_lr; depth k gets 0.5^(4 - k).
    assert [(g["layer"], g["lr"]) for g in groups] == [(0, 1 / 16), (1, 1 / 8), (2, 1 / 4), (3, 1 / 2), (None, 1.0)]
    assert groups[0]["params"] == [model.bert.embeddings.word_embeddings.weight]
    assert groups[3]["params"] == [model.bert.encoder.layer[2].weight, model.bert.encoder.layer[2].bias]
    head = {id(p) for p in groups[-1]["params"]}
    assert head == {id(p) for p in [*model.bert.pooler.parameters(), *model.classifier.parameters()]}
    # The groups go straight into an optimizer.
    optimizer = torch.optim.SGD(groups, lr=1.0)
    assert [g["lr"] for g in optimizer.param_groups] == [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]


def test_layerwise_lr_with_a_custom_layer_map_and_frozen_parameters():
    model = FakeBert()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)

    def layer_of(name: str) -> int | None:
        return 0 if name.startswith("bert.") else None  # whole backbone as one layer

    groups = layerwise_lr_groups(model, base_lr=2e-5, decay=0.1, layer_of=layer_of)
    assert [g["layer"] for g in groups] == [0, None]
    assert groups[0]["lr"] == pytest.approx(2e-6)
    assert len(groups[0]["params"]) == 3 * 2 + 2  # encoder layers and pooler, not the frozen embeddings


# --- cosine warm restarts -------------------------------------------------------------------------------


def learning_rates(steps: int, **schedule) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = cosine_warm_restarts(optimizer, **schedule)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def cosine(position: int, length: int, floor: float) -> float:
    return floor + (1 - floor) * (1 + math.cos(math.pi * position / length)) / 2


def test_cosine_warm_restarts_with_warmup_and_growing_cycles():
    rates = learning_rates(16, first_cycle_steps=4, cycle_mult=2, warmup_steps=2, min_lr_ratio=0.2)
    assert rates[0] == pytest.approx(0.0)  # linear warmup over 2 steps
    assert rates[1] == pytest.approx(0.5)
    assert rates[2] == pytest.approx(1.0)  # first cycle: steps 2..5, length 4
    assert rates[3] == pytest.approx(cosine(1, 4, 0.2))
    assert rates[4] == pytest.approx(0.6)  # half way: 0.2 + 0.8 / 2
    assert rates[5] == pytest.approx(cosine(3, 4, 0.2))
    assert rates[6] == pytest.approx(1.0)  # restart; second cycle: steps 6..13, length 8
    assert rates[10] == pytest.approx(0.6)
    assert rates[13] == pytest.approx(cosine(7, 8, 0.2))
    assert rates[14] == pytest.approx(1.0)  # restart; third cycle of length 16


def test_cosine_warm_restarts_with_fixed_cycles_and_no_warmup():
    rates = learning_rates(7, first_cycle_steps=3)
    assert rates == pytest.approx([1.0, 0.75, 0.25, 1.0, 0.75, 0.25, 1.0])  # (1 + cos(pi k / 3)) / 2


def test_cosine_warm_restarts_refuses_fractional_cycle_mult():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="cycle_mult must be an integer"):
        cosine_warm_restarts(optimizer, first_cycle_steps=4, cycle_mult=1.5)


# --- long texts -----------------------------------------------------------------------------------------


def test_head_tail_keeps_the_first_head_and_last_tokens():
    ids = list(range(10))
    assert head_tail_token_ids(ids, max_len=6, head=2) == [0, 1, 6, 7, 8, 9]
    assert head_tail_token_ids(ids, max_len=6, head=0) == [4, 5, 6, 7, 8, 9]
    assert head_tail_token_ids(ids, max_len=6, head=6) == [0, 1, 2, 3, 4, 5]
    assert head_tail_token_ids([1, 2, 3], max_len=6, head=2) == [1, 2, 3]
    with pytest.raises(ValueError, match="0 <= head <= max_len"):
        head_tail_token_ids(ids, max_len=6, head=7)


def test_sliding_windows_cover_the_text_with_full_windows():
    ids = list(range(10))
    assert sliding_windows(ids, window=4, stride=3) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    # One more token: the last window moves back to end at the last token instead of holding only [9, 10].
    assert sliding_windows([*ids, 10], window=4, stride=3) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [7, 8, 9, 10]]
    assert sliding_windows(ids, window=5, stride=5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert sliding_windows([1, 2], window=4, stride=2) == [[1, 2]]
    assert sliding_windows([], window=4, stride=2) == [[]]
    with pytest.raises(ValueError, match="1 <= stride <= window"):
        sliding_windows(ids, window=4, stride=5)


def test_average_window_logits_means_each_documents_windows():
    logits = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    assert_tensors_close(average_window_logits(logits, [0, 0, 1]), torch.tensor([[2.0, 3.0], [10.0, 0.0]]))


def test_average_window_logits_needs_a_window_per_document():
    logits = torch.zeros(2, 2)
    with pytest.raises(ValueError, match=r"documents without any window: \[1\]"):
        average_window_logits(logits, [0, 2])
    with pytest.raises(ValueError, match="num_docs is 1"):
        average_window_logits(logits, [0, 1], num_docs=1)
    with pytest.raises(ValueError, match="one document id per window"):
        average_window_logits(logits, [0])


# --- linear probe -------------------------------------------------------------------------------


def _probe_data(n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, 6)) * 3
    targets = np.arange(60) % n_classes
    return centers[targets] + rng.normal(size=(60, 6)), targets


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_probe_softmax_reproduces_the_regression(n_classes):
    from sklearn.linear_model import LogisticRegression

    features, targets = _probe_data(n_classes)
    weight, bias = linear_probe_weights(features, targets, n_classes, multi_label=False, C=1.0)
    expected = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(features, targets).predict_proba(features)
    logits = features @ weight.T + bias
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), expected, atol=1e-6)


def test_linear_probe_gives_an_unseen_class_a_low_logit():
    features, targets = _probe_data(3)
    targets = np.where(targets == 1, 2, targets)  # class 1 of 4 outputs never appears; nor does 3
    weight, bias = linear_probe_weights(features, targets, 4, multi_label=False)
    assert not weight[[1, 3]].any() and (bias[[1, 3]] == UNSEEN_CLASS_LOGIT).all()
    assert ((features @ weight.T + bias).argmax(axis=1) == targets).mean() > 0.9


def test_linear_probe_multi_label_fits_one_sigmoid_per_column():
    features, classes = _probe_data(2)
    targets = np.stack([classes == 1, np.ones(len(classes), dtype=bool), np.zeros(len(classes), dtype=bool)], axis=1)
    weight, bias = linear_probe_weights(features, targets.astype(float), 3, multi_label=True)
    first = 1 / (1 + np.exp(-(features @ weight[0] + bias[0])))
    assert ((first > 0.5) == targets[:, 0]).mean() > 0.9
    assert bias[1] == -UNSEEN_CLASS_LOGIT and bias[2] == UNSEEN_CLASS_LOGIT and not weight[1:].any()
