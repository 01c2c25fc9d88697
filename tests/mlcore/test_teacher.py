"""The fine-tuned teacher on keyword tasks, mostly with a tiny random BERT so that CPU runs take seconds.

The tiny backbone (2 layers, hidden size 32: `tiny_backbone` in tests/conftest.py) is built once per
session and saved beside the real MiniLM tokenizer, so tokenisation is the production one. One slow test
fine-tunes the real MiniLM offline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from mlcore.models import MODEL_KINDS, TrainingCancelled, load_model, model_class
from mlcore.teacher import Teacher, TeacherNetwork, stratified_dev_split

SPORT = ["goal", "match", "striker", "referee", "league", "coach"]
POLITICS = ["vote", "parliament", "minister", "election", "policy", "senate"]
FILLER = ["the", "a", "today", "after", "new", "big", "report", "week", "said", "city"]
POOLS = {"politics": POLITICS, "sport": SPORT}
# Settings that make the tiny random backbone learn the toy tasks in a few quick epochs.
FAST = {
    "epochs": 4,
    "batch_size": 8,
    "learning_rate": 2e-3,
    "head_learning_rate": 5e-3,
    "warmup_ratio": 0.0,
    "max_len": 32,
    "dev_fraction": 0.0,
    # A probe of a random backbone's features fits noise: the toy tasks start from a random head.
    "head_init": "random",
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine threads contend badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def keyword_texts(topics: list[list[str]], rng, *, filler: int = 3, keywords_last: bool = False) -> list[str]:
    """One sentence per item: two keywords of each of its topics among `filler` filler words."""
    texts = []
    for item_topics in topics:
        words = [str(word) for word in rng.choice(FILLER, size=filler)]
        keywords = [str(word) for topic in item_topics for word in rng.choice(POOLS[topic], size=2, replace=False)]
        texts.append(" ".join([*words, *keywords] if keywords_last else rng.permutation([*words, *keywords])))
    return texts


def single(n: int, seed: int, **options) -> tuple[list[str], list[str]]:
    labels = [["politics", "sport"][i % 2] for i in range(n)]
    return keyword_texts([[label] for label in labels], np.random.default_rng(seed), **options), labels


def imbalanced(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Three politics items to one sport item."""
    labels = [["sport", "politics", "politics", "politics"][i % 4] for i in range(n)]
    return keyword_texts([[label] for label in labels], np.random.default_rng(seed)), labels


def multi(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    labels = [[["politics"], ["sport"], ["politics", "sport"], []][i % 4][:] for i in range(n)]
    return keyword_texts(labels, np.random.default_rng(seed)), labels


def accuracy(predicted, truth) -> float:
    return float(
        np.mean([list(p) == list(t) if isinstance(t, list) else p == t for p, t in zip(predicted, truth, strict=True)])
    )


def make(backbone: str, **params) -> Teacher:
    return Teacher(backbone=backbone, **{**FAST, **params})


@pytest.fixture(scope="module")
def fitted(tiny_backbone) -> Teacher:
    """One fitted single-label teacher, for the tests that only read it."""
    return make(tiny_backbone).fit(*single(60, seed=0))


# --- the contract ---------------------------------------------------------------------------------


def test_is_registered_as_teacher():
    assert MODEL_KINDS["teacher"] is Teacher
    assert model_class("teacher") is Teacher


def test_learns_the_toy_task(fitted):
    texts, labels = single(40, seed=1)
    assert accuracy(fitted.predict(texts), labels) >= 0.9
    probabilities = fitted.predict_proba(texts)
    assert list(fitted.classes_) == ["politics", "sport"]
    assert probabilities.shape == (40, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "max", "attention"])
def test_every_pooling_learns(tiny_backbone, pooling):
    model = make(tiny_backbone, pooling=pooling, epochs=5).fit(*single(60, seed=0))
    assert (model.network_.attention is not None) == (pooling == "attention")
    texts, labels = single(40, seed=1)
    assert accuracy(model.predict(texts), labels) >= 0.9


def test_multi_label_learns_label_lists(tiny_backbone):
    model = make(tiny_backbone, multi_label=True, epochs=6).fit(*multi(80, seed=0))
    texts, labels = multi(40, seed=1)
    predicted = model.predict(texts)
    assert all(isinstance(row, list) for row in predicted)
    assert accuracy(predicted, labels) >= 0.8
    assert model.predict_proba(texts).shape == (40, 2)


def test_same_random_state_gives_identical_probabilities(tiny_backbone):
    texts, labels = single(40, seed=0)
    params = {"epochs": 1, "dev_fraction": 0.2, "sampling_q": 0.5, "random_state": 3}
    first = make(tiny_backbone, **params).fit(texts, labels).predict_proba(texts[:8])
    second = make(tiny_backbone, **params).fit(texts, labels).predict_proba(texts[:8])
    np.testing.assert_array_equal(first, second)
    other = make(tiny_backbone, **{**params, "random_state": 4}).fit(texts, labels).predict_proba(texts[:8])
    assert not np.array_equal(first, other)


def test_fit_leaves_the_global_torch_rng_alone(tiny_backbone):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    make(tiny_backbone, epochs=1).fit(*single(16, seed=0))
    assert torch.equal(torch.rand(3), expected)


def test_save_and_load_give_identical_predictions(fitted, tmp_path):
    texts, _ = single(12, seed=2)
    fitted.save(tmp_path / "teacher")
    assert (tmp_path / "teacher" / "backbone" / "config.json").is_file()
    assert (tmp_path / "teacher" / "head.pt").is_file()
    for loaded in (Teacher.load(tmp_path / "teacher"), load_model(tmp_path / "teacher")):
        assert isinstance(loaded, Teacher)
        assert loaded.get_params() == fitted.get_params()
        np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
        assert loaded.n_epochs_ == fitted.n_epochs_


def test_a_directory_without_model_json_does_not_load(fitted, tmp_path):
    fitted.save(tmp_path / "teacher")
    (tmp_path / "teacher" / "model.json").unlink()
    with pytest.raises(ValueError, match=r"model\.json"):
        load_model(tmp_path / "teacher")


# --- training control -----------------------------------------------------------------------------


def test_cancel_raises_and_leaves_the_model_unfitted(tiny_backbone):
    checks = iter(range(100))
    model = make(tiny_backbone)
    with pytest.raises(TrainingCancelled):
        model.fit(*single(40, seed=0), should_cancel=lambda: next(checks) >= 3)
    with pytest.raises(NotFittedError):
        check_is_fitted(model, "classes_")
    assert not hasattr(model, "network_")


def test_progress_and_metrics_are_reported(tiny_backbone):
    fractions, metrics = [], []
    make(tiny_backbone, epochs=2, dev_fraction=0.2).fit(
        *single(40, seed=0), on_progress=fractions.append, on_metrics=metrics.append
    )
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    steps = [m for m in metrics if m["event"] == "step"]
    epochs = [m for m in metrics if m["event"] == "epoch"]
    assert steps and all(np.isfinite(m["loss"]) for m in steps)
    assert [m["epoch"] for m in epochs] == [1, 2]
    assert all(m["dev_loss"] is not None for m in epochs)


def test_early_stopping_stops_when_the_dev_loss_stops_improving(tiny_backbone):
    # Labels independent of the texts: the network can only memorise, so the dev loss soon rises.
    texts, _ = single(60, seed=0)
    labels = [str(label) for label in np.random.default_rng(5).choice(["politics", "sport"], size=60)]
    epochs = []
    model = make(tiny_backbone, epochs=20, dev_fraction=0.25, patience=2, learning_rate=5e-3).fit(
        texts, labels, on_metrics=lambda m: m["event"] == "epoch" and epochs.append(m)
    )
    assert model.n_epochs_ == len(epochs) < 20
    assert model.n_epochs_ == model.best_epoch_ + 2
    best = min(epochs, key=lambda m: m["dev_loss"])
    assert best["epoch"] == model.best_epoch_


def test_stratified_dev_split_keeps_class_shares_and_every_class_in_training():
    strata = np.array([0] * 60 + [1] * 30 + [2] * 10)
    train, dev = stratified_dev_split(strata, 0.1, np.random.default_rng(0))
    assert sorted([*train, *dev]) == list(range(100))
    assert np.bincount(strata[dev]).tolist() == [6, 3, 1]
    again = stratified_dev_split(strata, 0.1, np.random.default_rng(0))
    np.testing.assert_array_equal(dev, again[1])
    _, dev = stratified_dev_split(np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6]), 0.5, np.random.default_rng(0))
    assert set(strata[dev]) <= {0} and len(dev) >= 1  # singletons stay in training
    with pytest.raises(ValueError, match="dev_fraction=0"):
        stratified_dev_split(np.array([0, 1, 0]), 0.1, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pooling": "first"}, "pooling must be one of cls, mean, max, attention"),
        ({"long_texts": "middle"}, "long_texts"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"layer_decay": 0.0}, "layer_decay"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"max_len": 600}, "exceeds what the backbone supports"),
    ],
)
def test_invalid_parameters_are_refused(tiny_backbone, params, message):
    with pytest.raises(ValueError, match=message):
        make(tiny_backbone, **params).fit(*single(10, seed=0))


# --- long texts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("long_texts", "learns"), [("truncate", False), ("head_tail", True), ("sliding_window", True)])
def test_long_texts_see_keywords_past_max_len(tiny_backbone, long_texts, learns):
    # 20 filler words, then the keywords: cut at 16 tokens, only the text's end tells the topic.
    texts, labels = single(48, seed=0, filler=20, keywords_last=True)
    params = {"max_len": 16, "head_tokens": 2, "window_stride": 7, "epochs": 5, "pooling": "max"}
    model = make(tiny_backbone, long_texts=long_texts, **params).fit(texts, labels)
    test_texts, test_labels = single(30, seed=1, filler=20, keywords_last=True)
    windows = model.windowing_.windows(model.tokenizer_(test_texts[0], add_special_tokens=False)["input_ids"])
    assert len(windows) == (3 if long_texts == "sliding_window" else 1)
    assert all(len(window) <= 16 for window in windows)
    score = accuracy(model.predict(test_texts), test_labels)
    assert score >= 0.9 if learns else score < 0.8


# --- training tricks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_probabilities(tiny_backbone) -> np.ndarray:
    texts, labels = imbalanced(32, seed=0)
    return make(tiny_backbone, epochs=1).fit(texts, labels).predict_proba(texts[:8])


@pytest.mark.parametrize(
    "params",
    [
        {"fgm_epsilon": 1.0},
        {"r_drop_alpha": 1.0},
        {"ema_decay": 0.5},
        {"layer_decay": 0.5},
        {"multi_sample_dropout": 4},
        {"disable_dropout": True},
        {"loss": "focal", "loss_params": {"gamma": 2.0}},
        {"loss": "class_weighted"},
        {"sampling_q": 0.0},
        {"scheduler": "cosine", "cosine_cycles": 2, "warmup_ratio": 0.2},
        {"head_init": "linear_probe"},
    ],
    ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()),
)
def test_each_option_runs_and_changes_training(tiny_backbone, baseline_probabilities, params):
    texts, labels = imbalanced(32, seed=0)
    model = make(tiny_backbone, epochs=1, **params).fit(texts, labels)
    probabilities = model.predict_proba(texts[:8])
    assert np.isfinite(probabilities).all()
    assert not np.allclose(probabilities, baseline_probabilities)


def test_linear_probe_starts_the_head_from_a_regression_on_frozen_features(tiny_backbone):
    """Before any fine-tuning step the probed head already separates the toy task; a random one does not."""
    texts, labels = single(40, seed=3)
    probed = make(
        tiny_backbone, epochs=1, learning_rate=1e-12, head_learning_rate=1e-12, head_init="linear_probe", probe_C=100.0
    )
    random_head = make(tiny_backbone, epochs=1, learning_rate=1e-12, head_learning_rate=1e-12, head_init="random")
    assert accuracy(probed.fit(texts, labels).predict(texts), labels) >= 0.9
    assert accuracy(random_head.fit(texts, labels).predict(texts), labels) < 0.8


def test_disable_dropout_zeroes_every_dropout(tiny_backbone):
    model = make(tiny_backbone, epochs=1, disable_dropout=True, multi_sample_dropout=3).fit(*single(16, seed=0))
    dropouts = [module for module in model.network_.modules() if isinstance(module, torch.nn.Dropout)]
    assert len(dropouts) > 3
    assert all(module.p == 0 for module in dropouts)


def test_multi_sample_dropout_builds_that_many_masks(tiny_backbone):
    model = make(tiny_backbone, epochs=1, multi_sample_dropout=4).fit(*single(16, seed=0))
    assert isinstance(model.network_, TeacherNetwork)
    assert len(model.network_.head.dropouts) == 4


def test_layer_decay_lowers_the_rates_of_lower_layers(tiny_backbone):
    metrics = []
    make(tiny_backbone, epochs=1, layer_decay=0.5, scheduler="constant").fit(
        *single(16, seed=0), on_metrics=metrics.append
    )
    rates = next(m for m in metrics if m["event"] == "step")["learning_rates"]
    # Groups: embeddings, layer 1, layer 2, BERT's own pooler, then the head.
    base, head = FAST["learning_rate"], FAST["head_learning_rate"]
    np.testing.assert_allclose(rates, [base * 0.5**3, base * 0.5**2, base * 0.5, base, head])


# --- the real backbone ----------------------------------------------------------------------------


@pytest.mark.slow  # fine-tunes the real MiniLM on the CPU for one short epoch
def test_the_default_backbone_loads_offline_and_trains():
    texts, labels = single(40, seed=0)
    model = Teacher(epochs=1, batch_size=16, max_len=32, dev_fraction=0.0).fit(texts, labels)
    assert model.network_.backbone.config.hidden_size == 384
    probabilities = model.predict_proba(texts[:4])
    assert probabilities.shape == (4, 2) and np.isfinite(probabilities).all()
