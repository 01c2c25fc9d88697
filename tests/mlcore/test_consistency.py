"""UDA consistency training (issue 24): the loss, and the option of the TextCNN and the teacher.

The task that shows it working: the labeled texts carry only "A" keywords of their class; the unlabeled
texts carry A and B keywords, and their augmented copies lose the A keywords. Only the consistency
term can teach the model the B keywords (the copy must be predicted as its original is), so a model
trained with it reads texts of B keywords alone, and one trained without it cannot.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.models import TextCNN
from mlcore.teacher import Teacher
from mlcore.training_loop import ConsistencyPairs, Trainer
from mlcore.training_tricks import ConsistencyLoss

KEYWORDS = {
    "sport": {"A": ["goal", "match", "striker"], "B": ["referee", "league", "coach"]},
    "politics": {"A": ["vote", "parliament", "minister"], "B": ["election", "policy", "senate"]},
}
FILLER = ["the", "a", "today", "after", "new", "big", "report", "week", "said", "city"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def texts_of(n: int, seed: int, sets: str) -> tuple[list[str], list[str]]:
    """n sentences of filler and two keywords of each of `sets` ("A", "B" or "AB") of their class."""
    rng = np.random.default_rng(seed)
    labels = [["politics", "sport"][i % 2] for i in range(n)]
    texts = []
    for label in labels:
        words = [str(word) for word in rng.choice(FILLER, size=3)]
        for keyword_set in sets:
            words += [str(word) for word in rng.choice(KEYWORDS[label][keyword_set], size=2, replace=False)]
        texts.append(" ".join(rng.permutation(words)))
    return texts, labels


def without_a_keywords(texts: list[str]) -> list[str]:
    """The augmented copies: every A keyword deleted (what a deletion op might do, made certain)."""
    a_words = {word for sets in KEYWORDS.values() for word in sets["A"]}
    return [" ".join(word for word in text.split() if word not in a_words) for text in texts]


def accuracy(predicted, truth) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def cnn(**params) -> TextCNN:
    defaults = {"tokenization": "wordpiece", "min_count": 1, "epochs": 8, "batch_size": 8, "learning_rate": 3e-3}
    return TextCNN(**{**defaults, "device": "cpu", **params})


# --- the loss -------------------------------------------------------------------------------------


def test_identical_views_cost_nothing_and_different_ones_do():
    """Issue 24: KL(p(orig) || p(aug)) is 0 when the copy is predicted as the original (no sharpening)."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]])
    loss = ConsistencyLoss(temperature=1.0, confidence=0.0)
    assert float(loss(logits, logits)) == pytest.approx(0.0, abs=1e-7)
    assert float(loss(logits, logits.flip(dims=[1]))) > 0.1


def test_sharpening_pulls_even_an_identical_copy_toward_the_top_class():
    logits = torch.tensor([[1.0, 0.0]])
    assert float(ConsistencyLoss(temperature=0.4, confidence=0.0)(logits, logits)) > 0.0


def test_unconfident_originals_are_masked_out():
    """Issue 24 (UDA's confidence mask): a row below `confidence` contributes 0."""
    sure, unsure = [4.0, -4.0], [0.1, 0.0]
    original = torch.tensor([sure, unsure])
    augmented = torch.tensor([[-4.0, 4.0], [-4.0, 4.0]])
    both = ConsistencyLoss(temperature=1.0, confidence=0.0)(original, augmented)
    masked = ConsistencyLoss(temperature=1.0, confidence=0.8)(original, augmented)
    only_sure = ConsistencyLoss(temperature=1.0, confidence=0.0)(original[:1], augmented[:1])
    assert float(masked) == pytest.approx(float(only_sure) / 2)  # the masked row still counts in the mean
    assert float(masked) < float(both)


def test_gradient_flows_into_the_copy_only():
    original = torch.tensor([[2.0, -1.0]], requires_grad=True)
    augmented = torch.tensor([[-1.0, 2.0]], requires_grad=True)
    ConsistencyLoss(confidence=0.0)(original, augmented).backward()
    assert original.grad is None
    assert augmented.grad is not None and float(augmented.grad.abs().sum()) > 0


def test_multi_label_is_a_bernoulli_kl_per_label():
    """Issue 24: multi-label uses per-label Bernoulli KLs, masked per label."""
    logits = torch.tensor([[3.0, -3.0, 0.0]])
    loss = ConsistencyLoss(temperature=1.0, confidence=0.0, multi_label=True)
    assert float(loss(logits, logits)) == pytest.approx(0.0, abs=1e-7)
    flipped = loss(logits, -logits)
    # Label 3 (p = 0.5 both ways) costs nothing; labels 1 and 2 cost KL(Bern(0.95) || Bern(0.05)) each.
    p = torch.sigmoid(torch.tensor(3.0))
    one = p * torch.log(p / (1 - p)) + (1 - p) * torch.log((1 - p) / p)
    assert float(flipped) == pytest.approx(2 * float(one), rel=1e-5)
    masked = ConsistencyLoss(temperature=1.0, confidence=0.9, multi_label=True)(logits, -logits)
    assert float(masked) == pytest.approx(2 * float(one), rel=1e-5)  # label 3 (0.5) was masked anyway


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"consistency_weight": -1.0}, "consistency_weight must be a number >= 0"),
        ({"consistency_weight": float("nan")}, "consistency_weight"),
        ({"consistency_temperature": 0.0}, "consistency_temperature must be a number > 0"),
        ({"consistency_confidence": 1.5}, "consistency_confidence must be a number in"),
        ({"consistency_batch_size": 0}, "consistency_batch_size must be None or an integer >= 1"),
    ],
)
def test_bad_options_are_refused(options, message):
    """Issue 24: bad UDA options raise clear errors, for the trainer and both model kinds."""
    with pytest.raises(ValueError, match=message):
        Trainer(multi_label=False, loss_fn=torch.nn.functional.cross_entropy, **options)
    texts, labels = texts_of(8, seed=0, sets="A")
    with pytest.raises(ValueError, match=message):
        cnn(**options).fit(texts, labels)
    with pytest.raises(ValueError, match=message):
        Teacher(**options).fit(texts, labels)


# --- the TextCNN ------------------------------------------------------------------------------------


def test_bad_pairs_are_refused():
    """Issue 24: pairs of unequal length, or not a pair, are refused before training."""
    texts, labels = texts_of(8, seed=0, sets="A")
    pool, _ = texts_of(6, seed=1, sets="AB")
    model = cnn(consistency_weight=1.0)
    with pytest.raises(ValueError, match="6 unlabeled texts but 5 augmented copies"):
        model.fit(texts, labels, consistency_pairs=(pool, pool[:5]))
    with pytest.raises(ValueError, match="consistency_pairs must be a pair"):
        model.fit(texts, labels, consistency_pairs=(pool,))
    with pytest.raises(ValueError, match=r"consistency_pairs\[1\]\[0\] is int"):
        model.fit(texts, labels, consistency_pairs=(pool[:1], [3]))
    with pytest.raises(ValueError, match="holds no texts"):
        model.fit(texts, labels, consistency_pairs=([], []))
    assert not hasattr(model, "classes_")  # nothing was fitted


def test_weight_zero_trains_exactly_as_without_pairs():
    """Issue 24: consistency_weight=0 (the default) leaves training unchanged: same seed, same weights."""
    texts, labels = texts_of(16, seed=0, sets="A")
    pool, _ = texts_of(20, seed=1, sets="AB")
    plain = cnn(epochs=2).fit(texts, labels)
    with_pairs = cnn(epochs=2, consistency_weight=0.0).fit(
        texts, labels, consistency_pairs=(pool, without_a_keywords(pool))
    )
    assert plain.vocabulary_ == with_pairs.vocabulary_
    for name, value in plain.module_.state_dict().items():
        assert torch.equal(value, with_pairs.module_.state_dict()[name]), name


def test_consistency_teaches_the_words_only_unlabeled_texts_have():
    """Issue 24: the copies' predictions move toward the originals': B keywords, never labeled, are learned."""
    texts, labels = texts_of(20, seed=0, sets="A")
    pool, _ = texts_of(200, seed=1, sets="AB")
    pairs = (pool, without_a_keywords(pool))
    b_texts, b_labels = texts_of(60, seed=2, sets="B")
    uda = cnn(consistency_weight=1.0, consistency_confidence=0.6, epochs=12).fit(texts, labels, consistency_pairs=pairs)
    labels_only = cnn(epochs=12).fit(texts, labels)
    assert accuracy(uda.predict(b_texts), b_labels) >= 0.9
    assert accuracy(labels_only.predict(b_texts), b_labels) <= 0.75
    # The vocabulary took the unlabeled words in.
    assert len(uda.vocabulary_) > len(labels_only.vocabulary_)


def test_the_trainer_reports_the_consistency_term():
    """The epoch metrics carry the mean consistency term; identical views at T=1 cost 0."""
    torch.manual_seed(0)
    network = torch.nn.Linear(4, 2)
    features = torch.randn(24, 4)
    targets = (features[:, 0] > 0).long()
    unlabeled = torch.randn(30, 4)

    def batch_of(rows):
        return (features[rows],), targets[rows]

    def same_views(rows):
        return (unlabeled[rows],), (unlabeled[rows],)

    def noisy_views(rows):
        return (unlabeled[rows],), (unlabeled[rows] + torch.randn(len(rows), 4),)

    def train(views, temperature):
        trainer = Trainer(
            multi_label=False,
            loss_fn=torch.nn.functional.cross_entropy,
            epochs=2,
            batch_size=8,
            consistency_weight=1.0,
            consistency_temperature=temperature,
            consistency_confidence=0.0,
        )
        pairs = ConsistencyPairs(30, views)
        return trainer.fit(network, batch_of, np.arange(24), rng=np.random.default_rng(0), consistency_pairs=pairs)

    assert all(epoch["consistency_loss"] == pytest.approx(0.0, abs=1e-6) for epoch in train(same_views, 1.0).history)
    assert all(epoch["consistency_loss"] > 0 for epoch in train(noisy_views, 0.4).history)


# --- the teacher ------------------------------------------------------------------------------------


def test_the_teacher_trains_with_pairs(tiny_backbone):
    """Issue 24: the teacher takes the same option; weight 0 changes nothing, weight 1 changes the model."""
    texts, labels = texts_of(16, seed=0, sets="A")
    pool, _ = texts_of(12, seed=1, sets="AB")
    pairs = (pool, without_a_keywords(pool))
    common = {"backbone": tiny_backbone, "epochs": 1, "batch_size": 8, "max_len": 32, "dev_fraction": 0.0}
    common["head_init"] = "random"
    plain = Teacher(**common).fit(texts, labels)
    off = Teacher(**common, consistency_weight=0.0).fit(texts, labels, consistency_pairs=pairs)
    on = Teacher(**common, consistency_weight=1.0, consistency_confidence=0.0).fit(
        texts, labels, consistency_pairs=pairs
    )
    np.testing.assert_array_equal(plain.predict_proba(texts), off.predict_proba(texts))
    assert not np.allclose(plain.predict_proba(texts), on.predict_proba(texts))
    assert "consistency_loss" in on.history_[0] and "consistency_loss" not in plain.history_[0]
    with pytest.raises(ValueError, match="12 unlabeled texts but 11 augmented copies"):
        Teacher(**common, consistency_weight=1.0).fit(texts, labels, consistency_pairs=(pool, pool[:11]))


def test_the_consistency_weight_ramps_up_over_the_first_half_of_training():
    from mlcore.training_loop import CONSISTENCY_RAMPUP, consistency_ramp

    assert CONSISTENCY_RAMPUP == 0.5
    assert consistency_ramp(0, 100) == 0.0
    assert consistency_ramp(25, 100) == pytest.approx(0.5)
    assert consistency_ramp(50, 100) == 1.0
    assert consistency_ramp(99, 100) == 1.0
    assert consistency_ramp(0, 100, rampup=0.0) == 1.0  # no ramp: full weight from the first step


def test_the_consistency_targets_are_predictions_without_dropout():
    """UDA's target is the clean prediction on the original: with dropout on it was as noisy as the
    copy's, and a TextCNN trained from scratch collapsed to one class (docs/benchmarks.md)."""
    import torch
    from torch import nn

    from mlcore.training_loop import Trainer

    torch.manual_seed(0)
    network = nn.Sequential(nn.Dropout(0.9), nn.Linear(8, 3))
    network.train()
    inputs = (torch.ones(4, 8),)
    first = Trainer._consistency_targets(network, inputs)
    second = Trainer._consistency_targets(network, inputs)
    assert torch.equal(first, second)  # no dropout: the same prediction every time
    assert torch.allclose(first, network[1](inputs[0]))
    assert network.training  # back in training mode for the step
    assert not first.requires_grad
