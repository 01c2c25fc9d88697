"""The model kinds on tiny separable tasks: one contract that every kind and variant must pass.

Each `Test...` class inherits `ClassifierContract` and says how to build its model and its data:
synthetic blobs for the embedding head, keyword sentences (English and Chinese) for the CNN.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mlcore.models import (
    DEFAULT_SELF_TRAINING,
    MODEL_KINDS,
    FastHead,
    TextClassifier,
    TextCNN,
    TrainingCancelled,
    load_model,
    model_class,
)
from mlcore.teacher import Teacher

SPORT = ["goal", "match", "striker", "referee", "league", "coach"]
POLITICS = ["vote", "parliament", "minister", "election", "policy", "senate"]
FILLER = ["the", "a", "today", "after", "new", "big", "report", "week", "said", "city"]
SPORT_ZH = ["足球", "比赛", "进球", "球员", "教练", "联赛"]
POLITICS_ZH = ["政府", "选举", "议会", "部长", "政策", "投票"]
FILLER_ZH = ["今天", "我们", "新闻", "报道", "城市", "昨天"]


def keyword_texts(topics: list[list[str]], pools: dict[str, list[str]], filler: list[str], rng, sep: str) -> list[str]:
    """One sentence per item: two keywords of each of its topics among filler words, shuffled."""
    texts = []
    for item_topics in topics:
        words = [str(word) for word in rng.choice(filler, size=3)]
        for topic in item_topics:
            words += [str(word) for word in rng.choice(pools[topic], size=2, replace=False)]
        texts.append(sep.join(rng.permutation(words)))
    return texts


def single_label_texts(n: int, seed: int, *, chinese: bool = False) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    pools = {"politics": POLITICS_ZH, "sport": SPORT_ZH} if chinese else {"politics": POLITICS, "sport": SPORT}
    labels = [["politics", "sport"][i % 2] for i in range(n)]
    return keyword_texts(
        [[label] for label in labels], pools, FILLER_ZH if chinese else FILLER, rng, "" if chinese else " "
    ), labels


def multi_label_texts(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(seed)
    labels = [[["politics"], ["sport"], ["politics", "sport"], []][i % 4][:] for i in range(n)]
    return keyword_texts(labels, {"politics": POLITICS, "sport": SPORT}, FILLER, rng, " "), labels


def blobs(n: int, seed: int, dim: int = 16) -> tuple[np.ndarray, list[str]]:
    """Three well-separated Gaussian blobs (fixed centres, seeded noise) labelled by name."""
    centres = np.random.default_rng(123).normal(size=(3, dim))
    rng = np.random.default_rng(seed)
    index = np.arange(n) % 3
    return centres[index] + rng.normal(scale=0.2, size=(n, dim)), [["blue", "green", "red"][i] for i in index]


def label_blobs(n: int, seed: int, dim: int = 16) -> tuple[np.ndarray, list[list[str]]]:
    """Each item carries each of three labels with probability 1/2; its point is the sum of their centres."""
    centres = np.random.default_rng(123).normal(scale=2.0, size=(3, dim))
    rng = np.random.default_rng(seed)
    present = rng.random((n, 3)) < 0.5
    points = present.astype(float) @ centres + rng.normal(scale=0.2, size=(n, dim))
    names = np.array(["blue", "green", "red"])
    return points, [names[row].tolist() for row in present]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine threads contend badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def accuracy(predicted, truth) -> float:
    return float(
        np.mean([list(p) == list(t) if isinstance(t, list) else p == t for p, t in zip(predicted, truth, strict=True)])
    )


class ClassifierContract:
    """Shared tests; subclasses define `make(**params)`, `single(n, seed)` and `multi(n, seed)`."""

    multi_label_train_size = 200

    def make(self, **params) -> TextClassifier:
        raise NotImplementedError

    def single(self, n: int, seed: int):
        raise NotImplementedError

    def multi(self, n: int, seed: int):
        raise NotImplementedError

    def fitted(self, **params) -> TextClassifier:
        return self.make(**params).fit(*self.single(60, seed=0))

    @pytest.fixture(scope="class")
    def model(self) -> TextClassifier:
        """One fitted model per class, for the tests that only read it."""
        return self.fitted()

    def test_learns_the_toy_task(self, model):
        texts, labels = self.single(40, seed=1)
        assert accuracy(model.predict(texts), labels) >= 0.9

    def test_probabilities_sum_to_one_in_sorted_class_order(self, model):
        inputs, labels = self.single(12, seed=2)
        probabilities = model.predict_proba(inputs)
        assert list(model.classes_) == sorted(set(labels))
        assert probabilities.shape == (12, len(model.classes_))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
        assert list(model.predict(inputs)) == list(model.classes_[probabilities.argmax(axis=1)])

    def test_same_random_state_gives_identical_probabilities(self):
        inputs, _ = self.single(12, seed=2)
        first = self.fitted(random_state=3).predict_proba(inputs)
        second = self.fitted(random_state=3).predict_proba(inputs)
        np.testing.assert_array_equal(first, second)

    def test_fit_leaves_the_global_torch_rng_alone(self):
        torch.manual_seed(0)
        expected = torch.rand(3)
        torch.manual_seed(0)
        self.fitted()
        assert torch.equal(torch.rand(3), expected)

    def test_save_and_load_give_identical_predictions(self, model, tmp_path):
        inputs, _ = self.single(12, seed=2)
        model.save(tmp_path / "model")
        for loaded in (type(model).load(tmp_path / "model"), load_model(tmp_path / "model")):
            assert type(loaded) is type(model)
            assert loaded.get_params() == clone(model).get_params()
            assert list(loaded.classes_) == list(model.classes_)
            np.testing.assert_array_equal(loaded.predict_proba(inputs), model.predict_proba(inputs))
        assert json.loads((tmp_path / "model" / "model.json").read_text())["kind"] == model.kind

    def test_multi_label_learns_and_gives_independent_probabilities(self, tmp_path):
        model = self.make(multi_label=True).fit(*self.multi(self.multi_label_train_size, seed=0))
        inputs, labels = self.multi(40, seed=1)
        probabilities = model.predict_proba(inputs)
        assert probabilities.shape == (40, len(model.classes_))
        assert np.all((probabilities >= 0) & (probabilities <= 1))
        assert accuracy(model.predict(inputs), [sorted(row) for row in labels]) >= 0.9
        loaded = load_model(model.save(tmp_path / "multi"))
        assert loaded.predict(inputs) == model.predict(inputs)

    def test_multi_label_refuses_an_indicator_matrix(self):
        inputs, _ = self.single(6, seed=0)
        with pytest.raises(ValueError, match="label lists"):
            self.make(multi_label=True).fit(inputs, np.eye(6, 2, dtype=int))

    def test_a_single_class_is_refused(self):
        inputs, _ = self.single(6, seed=0)
        with pytest.raises(ValueError, match="at least 2 classes"):
            self.make().fit(inputs, ["only"] * 6)

    def test_progress_rises_to_one(self):
        reported: list[float] = []
        self.make().fit(*self.single(60, seed=0), on_progress=reported.append)
        assert reported and reported[-1] == 1.0
        assert reported == sorted(reported)

    def test_cancel_stops_training_and_leaves_the_model_unfitted(self):
        model = self.make()
        with pytest.raises(TrainingCancelled, match="cancelled"):
            model.fit(*self.single(60, seed=0), should_cancel=lambda: True)
        with pytest.raises(NotFittedError):
            model.predict(self.single(2, seed=0)[0])

    def test_mismatched_lengths_are_refused(self):
        inputs, labels = self.single(6, seed=0)
        with pytest.raises(ValueError, match="items but y has"):
            self.make().fit(inputs, labels[:-1])


class TestLogisticHead(ClassifierContract):
    def make(self, **params) -> TextClassifier:
        return FastHead(head="lr", **params)

    def single(self, n: int, seed: int):
        return blobs(n, seed)

    def multi(self, n: int, seed: int):
        return label_blobs(n, seed)

    def test_binary_probabilities_match_scikit_learn(self):
        from sklearn.linear_model import LogisticRegression

        points, labels = blobs(60, seed=0)
        keep = [i for i, label in enumerate(labels) if label != "red"]
        points, labels = points[keep], [labels[i] for i in keep]
        expected = LogisticRegression(C=10.0, max_iter=1000).fit(points, labels).predict_proba(points)
        np.testing.assert_allclose(FastHead().fit(points, labels).predict_proba(points), expected, rtol=1e-6)

    def test_wrong_number_of_features_is_refused(self, model):
        with pytest.raises(ValueError, match="features"):
            model.predict(np.zeros((2, 5)))


def two_wide_clusters(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Two wide clusters left and right of the origin ("left" at x=-3, "right" at x=+3)."""
    rng = np.random.default_rng(seed)
    side = np.arange(n) % 2
    points = np.column_stack([np.where(side == 0, -3.0, 3.0) + rng.normal(scale=1.5, size=n), rng.normal(size=n)])
    return points, [["left", "right"][i] for i in side]


class TestSelfTraining:
    """Two labeled items far off centre put the labels-only boundary deep inside the right cluster;
    the unlabeled pool shows where the clusters really part."""

    labeled = np.array([[-0.2, 0.0], [5.5, 0.0]])
    labels = ["left", "right"]

    def test_the_pool_moves_a_misplaced_boundary(self):
        pool, _ = two_wide_clusters(400, seed=0)
        test, truth = two_wide_clusters(400, seed=1)
        alone = FastHead(self_training=None).fit(self.labeled, self.labels, unlabeled=pool)
        taught = FastHead(self_training=DEFAULT_SELF_TRAINING).fit(self.labeled, self.labels, unlabeled=pool)
        assert alone.n_pseudo_labeled_ == 0
        assert taught.n_pseudo_labeled_ > 200
        assert accuracy(alone.predict(test), truth) < 0.85
        # The head of the first fit is kept: what the labels alone taught.
        np.testing.assert_array_equal(taught.labels_only_.coef_, alone.coef_)
        assert alone.labels_only_ is alone
        assert accuracy(taught.predict(test), truth) > accuracy(alone.predict(test), truth) + 0.08

    def test_without_a_pool_it_is_the_labels_only_head(self):
        points, labels = blobs(30, seed=0)
        plain = FastHead(self_training=None).fit(points, labels)
        for unlabeled in (None, np.zeros((0, points.shape[1]))):
            head = FastHead(self_training=DEFAULT_SELF_TRAINING).fit(points, labels, unlabeled=unlabeled)
            np.testing.assert_array_equal(head.coef_, plain.coef_)
            assert head.n_pseudo_labeled_ == 0 and head.labels_only_ is head

    def test_a_multi_label_head_ignores_the_pool(self):
        points, labels = label_blobs(40, seed=0)
        plain = FastHead(multi_label=True, self_training=None).fit(points, labels)
        head = FastHead(multi_label=True).fit(points, labels, unlabeled=label_blobs(40, seed=1)[0])
        np.testing.assert_array_equal(head.coef_, plain.coef_)

    def test_progress_covers_both_fits_once(self):
        pool, _ = two_wide_clusters(100, seed=0)
        seen: list[float] = []
        FastHead(head="mlp", epochs=5, device="cpu").fit(
            self.labeled, self.labels, unlabeled=pool, on_progress=seen.append
        )
        assert seen == sorted(seen) and seen[-1] == 1.0
        assert any(0.45 <= value <= 0.55 for value in seen)

    def test_a_pool_of_another_width_is_refused(self):
        with pytest.raises(ValueError, match="unlabeled has 3 features"):
            FastHead().fit(self.labeled, self.labels, unlabeled=np.zeros((4, 3)))

    @pytest.mark.parametrize("threshold", [0.0, 1.5])
    def test_a_threshold_outside_0_1_is_refused(self, threshold):
        with pytest.raises(ValueError, match="self_training must be None or a share"):
            FastHead(self_training=threshold).fit(self.labeled, self.labels)

    def test_the_threshold_survives_a_round_trip(self, tmp_path):
        pool, _ = two_wide_clusters(100, seed=0)
        head = FastHead(self_training=0.6).fit(self.labeled, self.labels, unlabeled=pool)
        loaded = load_model(head.save(tmp_path))
        assert loaded.self_training == 0.6
        np.testing.assert_allclose(loaded.predict_proba(pool), head.predict_proba(pool))


class TestMLPHead(ClassifierContract):
    def make(self, **params) -> TextClassifier:
        return FastHead(head="mlp", device="cpu", **{"epochs": 30, "batch_size": 16, **params})

    def single(self, n: int, seed: int):
        return blobs(n, seed)

    def multi(self, n: int, seed: int):
        return label_blobs(n, seed)

    def test_early_stopping_keeps_the_task_learnt(self):
        model = self.make(early_stopping=True, patience=2, epochs=200).fit(*blobs(100, seed=0))
        assert model.n_epochs_ < 200
        points, labels = blobs(40, seed=1)
        assert accuracy(model.predict(points), labels) >= 0.9

    def test_cancel_between_epochs_after_some_progress(self):
        checks = iter([False] * 5 + [True] * 1000)
        with pytest.raises(TrainingCancelled, match="epoch"):
            self.make().fit(*blobs(60, seed=0), should_cancel=lambda: next(checks))


class TestWordPieceCNN(ClassifierContract):
    def make(self, **params) -> TextClassifier:
        defaults = {"tokenization": "wordpiece", "min_count": 1, "epochs": 8, "batch_size": 16, "learning_rate": 3e-3}
        return TextCNN(**{**defaults, "device": "cpu", **params})

    def single(self, n: int, seed: int):
        return single_label_texts(n, seed)

    def multi(self, n: int, seed: int):
        return multi_label_texts(n, seed)

    def test_vocabulary_is_the_training_tokens_only(self, model):
        assert 0 < len(model.vocabulary_) < 100
        assert model.module_.embedding.num_embeddings == len(model.vocabulary_) + 2

    def test_unseen_words_and_empty_texts_still_get_probabilities(self, model):
        probabilities = model.predict_proba(["zebra xylophone", "", "goal"])
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)

    def test_batch_composition_does_not_change_a_prediction(self, model):
        short, long = "goal", "the vote in parliament after the minister said the election policy week city"
        alone = model.predict_proba([short])
        with_long = model.predict_proba([short, long])[:1]
        np.testing.assert_allclose(alone, with_long, atol=1e-6)


class TestCharCNN(ClassifierContract):
    multi_label_train_size = 100  # characters generalise from fewer sentences than whole words

    def make(self, **params) -> TextClassifier:
        defaults = {"tokenization": "char", "min_count": 1, "epochs": 8, "batch_size": 16, "learning_rate": 3e-3}
        return TextCNN(**{**defaults, "device": "cpu", **params})

    def single(self, n: int, seed: int):
        return single_label_texts(n, seed, chinese=True)

    def multi(self, n: int, seed: int):
        return multi_label_texts(n, seed)

    def test_chinese_characters_form_the_vocabulary(self, model):
        assert {"球", "选", "议"} <= set(model.vocabulary_)
        assert list(model.predict(["足球比赛进球", "政府选举议会"])) == ["sport", "politics"]

    def test_rare_characters_fall_to_unk_with_min_count(self):
        texts, labels = single_label_texts(60, seed=0, chinese=True)
        model = self.make(min_count=1000, epochs=1).fit(texts, labels)
        assert model.vocabulary_ == []


# --- registry and loading -----------------------------------------------------------------------


def test_registry_maps_kinds_to_classes():
    from mlcore.students import StaticHead

    assert {"fast_head": FastHead, "static_head": StaticHead, "teacher": Teacher, "text_cnn": TextCNN} == MODEL_KINDS
    assert model_class("text_cnn") is TextCNN
    with pytest.raises(ValueError, match="fast_head, static_head, teacher, text_cnn"):
        model_class("bert")


def test_loading_an_unknown_kind_is_refused(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"kind": "bert", "format_version": 1}))
    with pytest.raises(ValueError, match="unknown model kind 'bert'"):
        load_model(tmp_path)


def test_loading_a_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a saved model"):
        load_model(tmp_path)


def test_loading_with_the_wrong_class_is_refused(tmp_path):
    FastHead().fit(*blobs(30, seed=0)).save(tmp_path)
    with pytest.raises(ValueError, match="not 'text_cnn'"):
        TextCNN.load(tmp_path)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"head": "svm"}, "head must be one of"),
        ({"C": 0}, "C must be"),
        ({"random_state": -1}, "random_state"),
        ({"logit_adjustment": -1}, "logit_adjustment"),
    ],
)
def test_bad_head_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        FastHead(**params).fit(*blobs(30, seed=0))


def _overlapping_skewed(n_big: int, n_small: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Two overlapping unit-vector blobs, `n_big` rows of "big" and `n_small` of "small"."""
    rng = np.random.default_rng(seed)
    centres = np.eye(2, 8)
    labels = ["big"] * n_big + ["small"] * n_small
    points = centres[[0] * n_big + [1] * n_small] + rng.normal(scale=0.6, size=(n_big + n_small, 8))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), labels


def test_logit_adjustment_evens_out_skewed_labels():
    """Issue 23: trained on 20 "small" against 400 "big", the head adjusted for the skew finds more of
    the small class on a balanced test set (and a better macro-F1); on balanced labels it changes nothing."""
    from sklearn.metrics import f1_score

    x, y = _overlapping_skewed(400, 20, seed=0)
    test_x, test_y = _overlapping_skewed(300, 300, seed=1)
    plain = FastHead(logit_adjustment=0.0).fit(x, y).predict(test_x)
    adjusted = FastHead().fit(x, y).predict(test_x)
    assert sum(label == "small" for label in adjusted) > sum(label == "small" for label in plain) + 30
    assert f1_score(test_y, adjusted, average="macro") > f1_score(test_y, plain, average="macro") + 0.05
    balanced_x, balanced_y = _overlapping_skewed(100, 100, seed=2)
    np.testing.assert_allclose(
        FastHead().fit(balanced_x, balanced_y).predict_proba(test_x),
        FastHead(logit_adjustment=0.0).fit(balanced_x, balanced_y).predict_proba(test_x),
    )


def test_bad_cnn_parameters_are_refused():
    with pytest.raises(ValueError, match="tokenization must be one of"):
        TextCNN(tokenization="bytes").fit(["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="single string"):
        TextCNN(tokenization="char", min_count=1, epochs=1).fit("ab", ["x", "y"])


def test_mixed_label_types_are_refused():
    with pytest.raises(ValueError, match="all strings or all integers"):
        FastHead().fit(*blobs(4, seed=0)[:1], [1, "a", 1, "a"])


def test_integer_labels_survive_a_round_trip(tmp_path):
    points, names = blobs(30, seed=0)
    labels = [{"blue": 7, "green": 8, "red": 9}[name] for name in names]
    model = FastHead().fit(points, labels)
    loaded = load_model(model.save(tmp_path))
    assert loaded.classes_.tolist() == [7, 8, 9]
    assert loaded.predict(points).tolist() == labels


# --- TextCNN's prediction from token tables ------------------------------------------------------------


def _kim_cnn(seed: int = 0):
    from mlcore.models import _KimCNN

    torch.manual_seed(seed)
    return _KimCNN(vocab_size=50, embedding_dim=8, filter_sizes=(2, 3, 4), num_filters=5, n_outputs=3, dropout=0.5)


def _ids_and_lengths(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([12, 5, 1, 9])
    ids = torch.randint(2, 50, (4, 12), generator=generator)
    ids[torch.arange(12).unsqueeze(0) >= lengths.unsqueeze(1)] = 0  # padding
    return ids, lengths


def test_token_tables_give_the_convolutions_result():
    network, (ids, lengths) = _kim_cnn().eval(), _ids_and_lengths()
    with torch.enable_grad():
        by_convolution = network(ids, lengths).detach()
    with torch.inference_mode():
        by_tables = network(ids, lengths)
    np.testing.assert_allclose(by_tables.numpy(), by_convolution.numpy(), rtol=1e-5, atol=1e-5)


def test_token_tables_follow_weight_changes():
    network, (ids, lengths) = _kim_cnn().eval(), _ids_and_lengths()
    with torch.inference_mode():
        before = network(ids, lengths).clone()
    with torch.no_grad():
        network.load_state_dict(_kim_cnn(seed=7).state_dict())  # what restoring the best epoch does
        after = network(ids, lengths)
    with torch.enable_grad():
        expected = network(ids, lengths).detach()
    assert not torch.allclose(before, after)
    np.testing.assert_allclose(after.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_sure_probability_runs_from_chance_to_certainty():
    from mlcore.models import sure_probability

    assert sure_probability(0.0, 4) == 0.25 and sure_probability(1.0, 4) == 1.0
    assert sure_probability(0.5, 2) == 0.75 and sure_probability(0.5, 20) == pytest.approx(0.525)
