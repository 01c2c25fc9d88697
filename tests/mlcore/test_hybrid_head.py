"""The fast head on embeddings and a bag of words (`HybridInputs`, issue 22).

The embeddings here are noise with a weak label signal, and the words carry the labels: a head that
reads the words gets them right where the embeddings alone cannot.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.models import FastHead, SoftTargets, load_model
from tests.mlcore.test_models import multi_label_texts, single_label_texts

DIM = 8


def noisy_embeddings(labels, seed: int, signal: float = 0.3) -> np.ndarray:
    """Unit rows of noise, nudged by `signal` towards a direction per label (weak on purpose)."""
    rng = np.random.default_rng(seed)
    directions = {label: rng.normal(size=DIM) for label in sorted({str(label) for label in labels})}
    rows = rng.normal(size=(len(labels), DIM)) + signal * np.array([directions[str(label)] for label in labels])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def hybrid_data(n: int, seed: int, *, chinese: bool = False) -> tuple[HybridInputs, list[str]]:
    texts, labels = single_label_texts(n, seed, chinese=chinese)
    return HybridInputs(texts, noisy_embeddings(labels, seed)), labels


@pytest.fixture(scope="module")
def data():
    train, labels = hybrid_data(60, seed=0)
    pool, pool_labels = hybrid_data(80, seed=1)
    test, test_labels = hybrid_data(40, seed=2)
    return train, labels, pool, pool_labels, test, test_labels


def accuracy(model, inputs, labels) -> float:
    return float(np.mean(model.predict(inputs) == np.array(labels)))


def test_the_hybrid_head_reads_the_words_the_embeddings_miss(data):
    train, labels, _, _, test, test_labels = data
    hybrid = FastHead(self_training=None).fit(train, labels)
    alone = FastHead(self_training=None).fit(train.embeddings, labels)
    assert hybrid.is_hybrid and not alone.is_hybrid
    assert accuracy(hybrid, test, test_labels) == 1.0
    assert accuracy(alone, test.embeddings, test_labels) < 0.9
    assert hybrid.n_features_in_ == DIM and hybrid.coef_.shape[1] == DIM + hybrid.featurizer_.n_features


def test_an_array_keeps_the_embedding_only_head_exactly(data):
    train, labels, pool, _, test, _ = data
    default = FastHead().fit(train.embeddings, labels, unlabeled=pool.embeddings)
    embeddings_only = FastHead(features="embeddings").fit(train, labels, unlabeled=pool)
    np.testing.assert_array_equal(default.coef_, embeddings_only.coef_)
    assert not embeddings_only.is_hybrid
    # An embeddings-only head reads HybridInputs for their embeddings.
    np.testing.assert_array_equal(default.predict_proba(test.embeddings), embeddings_only.predict_proba(test))


def test_save_and_load_keep_the_featurizer_in_the_folder(data, tmp_path):
    train, labels, _, _, test, _ = data
    head = FastHead(self_training=None, words_weight=2.0).fit(train, labels)
    head.save(tmp_path / "head")
    meta = json.loads((tmp_path / "head" / "model.json").read_text(encoding="utf-8"))
    assert meta["params"]["features"] == "hybrid" and meta["state"]["featurizer"] == "featurizer"
    assert meta["state"]["featurizer_fingerprint"] == head.featurizer_.fingerprint
    (tmp_path / "moved").mkdir()
    for path in (tmp_path / "head").rglob("*"):  # self-contained: the folder moves as one
        target = tmp_path / "moved" / path.relative_to(tmp_path / "head")
        target.mkdir(exist_ok=True) if path.is_dir() else target.write_bytes(path.read_bytes())
    loaded = load_model(tmp_path / "moved")
    assert loaded.is_hybrid and loaded.featurizer_.fingerprint == head.featurizer_.fingerprint
    np.testing.assert_allclose(loaded.predict_proba(test), head.predict_proba(test), atol=1e-12)


def test_self_training_with_hybrid_inputs(data):
    train, labels, pool, pool_labels, test, test_labels = data
    head = FastHead(cold_start_per_class=None).fit(train.take(np.arange(10)), labels[:10], unlabeled=pool)
    assert head.n_pseudo_labeled_ > 0
    assert head.labels_only_ is not head and head.labels_only_.is_hybrid
    assert head.labels_only_.featurizer_ is head.featurizer_
    assert head.featurizer_.n_features >= TextFeaturizer("en").fit(train.texts[:10]).n_features  # pool texts too
    assert accuracy(head, test, test_labels) >= accuracy(head.labels_only_, test, test_labels)
    assert accuracy(head, pool, pool_labels) > 0.7


def test_at_the_cold_start_the_embeddings_pick_the_pseudo_labels_and_the_queue(data):
    train, labels, pool, pool_labels, test, _ = data
    few, few_labels = train.take(np.arange(10)), labels[:10]  # 5 per class
    cold = FastHead(cold_start_per_class=20).fit(few, few_labels, unlabeled=pool)
    lead = cold.labels_only_
    assert cold.is_hybrid and not lead.is_hybrid and lead.features == "embeddings" and lead.self_training is None
    alone = FastHead(self_training=None, features="embeddings").fit(few.embeddings, few_labels)
    np.testing.assert_allclose(lead.predict_proba(test), alone.predict_proba(test.embeddings), atol=1e-12)
    # Past the cold start (or with it off) the hybrid head of the labels leads, as before.
    for warm in (
        FastHead(cold_start_per_class=5).fit(few, few_labels, unlabeled=pool),
        FastHead(cold_start_per_class=None).fit(few, few_labels, unlabeled=pool),
    ):
        assert warm.labels_only_.is_hybrid
        # Here the words carry the labels and the embeddings hardly do, so the lead shows in what
        # the pseudo-labels taught: the embeddings' picks are worse on these data.
        assert accuracy(warm, pool, pool_labels) > accuracy(cold, pool, pool_labels)
    assert cold.is_cold_start(few_labels) and not cold.is_cold_start(labels * 4)


def test_an_array_to_a_hybrid_head_is_refused(data):
    train, labels, pool, _, _, _ = data
    head = FastHead(self_training=None).fit(train, labels)
    with pytest.raises(ValueError, match="pass HybridInputs"):
        head.predict_proba(train.embeddings)
    with pytest.raises(ValueError, match="unlabeled must be HybridInputs too"):
        FastHead().fit(train, labels, unlabeled=pool.embeddings)
    with pytest.raises(ValueError, match="unlabeled is HybridInputs"):
        FastHead().fit(train.embeddings, labels, unlabeled=pool)
    with pytest.raises(ValueError, match="featurizer applies to HybridInputs only"):
        FastHead().fit(train.embeddings, labels, featurizer=TextFeaturizer().fit(train.texts))
    with pytest.raises(ValueError, match="X has 3 features; the model was fit on 8"):
        head.predict_proba(HybridInputs(["goal"], np.zeros((1, 3))))


def test_a_prefit_featurizer_and_precomputed_words_are_used(data):
    train, labels, pool, _, test, _ = data
    featurizer = TextFeaturizer("en").fit([*train.texts, *pool.texts])
    with_words = train.with_words(featurizer.transform(train.texts))
    head = FastHead(self_training=None).fit(with_words, labels, featurizer=featurizer)
    assert head.featurizer_ is featurizer
    own = FastHead(self_training=None).fit(train, labels, unlabeled=pool)  # fits the same featurizer itself
    np.testing.assert_allclose(head.coef_, own.coef_, atol=1e-6)
    test_words = test.with_words(featurizer.transform(test.texts))
    np.testing.assert_allclose(head.predict_proba(test_words), head.predict_proba(test), atol=1e-12)
    with pytest.raises(ValueError, match="compute them with the same featurizer"):
        head.predict_proba(test.with_words(featurizer.transform(test.texts)[:, :5]))
    with pytest.raises(ValueError, match="not fitted"):
        FastHead().fit(train, labels, featurizer=TextFeaturizer())


def test_soft_targets_and_sample_weights_with_hybrid_inputs(data):
    train, labels, _, _, test, test_labels = data
    classes = ["politics", "sport"]
    probabilities = np.array([[0.9, 0.1] if label == "politics" else [0.2, 0.8] for label in labels])
    soft = FastHead().fit(train, SoftTargets(classes, probabilities))
    assert soft.is_hybrid and soft.classes_.tolist() == classes and accuracy(soft, test, test_labels) == 1.0
    weight = np.ones(len(labels))
    weight[:10] = 0.0  # rows of weight 0 are left out
    featurizer = TextFeaturizer().fit(train.texts)  # one vocabulary for both (a head fits its own on all texts)
    weighted = FastHead(self_training=None).fit(train, labels, sample_weight=weight, featurizer=featurizer)
    rest = FastHead(self_training=None).fit(train.take(np.arange(10, 60)), labels[10:], featurizer=featurizer)
    np.testing.assert_allclose(weighted.predict_proba(test), rest.predict_proba(test), atol=1e-4)


def test_continue_fit_and_multi_label_with_hybrid_inputs(data):
    train, labels, _, _, test, test_labels = data
    head = FastHead(self_training=None).fit(train.take(np.arange(20)), labels[:20])
    featurizer = head.featurizer_
    head.continue_fit(train, labels)
    assert head.featurizer_ is featurizer  # the vocabulary stays, as the classes do
    assert accuracy(head, test, test_labels) >= 0.9
    texts, label_lists = multi_label_texts(80, seed=0)
    inputs = HybridInputs(texts, noisy_embeddings(["x"] * 80, seed=3))
    multi = FastHead(multi_label=True).fit(inputs, label_lists)
    assert multi.predict(inputs.take(np.arange(8))) == [sorted(labels) for labels in label_lists[:8]]


def test_the_mlp_head_reads_embeddings_only(data):
    train, labels, _, _, test, _ = data
    with pytest.raises(ValueError, match="the mlp head reads embeddings only"):
        FastHead(head="mlp", epochs=2).fit(train, labels)
    mlp = FastHead(head="mlp", epochs=2, features="embeddings").fit(train, labels)
    assert mlp.predict_proba(test).shape == (40, 2)


def test_a_chinese_hybrid_head_uses_jieba_words():
    train, labels = hybrid_data(60, seed=0, chinese=True)
    test, test_labels = hybrid_data(30, seed=5, chinese=True)
    head = FastHead(language="zh", self_training=None).fit(train, labels)
    assert head.featurizer_.language == "zh" and "足球" in head.featurizer_.blocks_["words"].vocabulary_
    alone = FastHead(self_training=None).fit(train.embeddings, labels)
    assert accuracy(head, test, test_labels) >= 0.85 > accuracy(alone, test.embeddings, test_labels)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"features": "words"}, "features must be one of hybrid, embeddings"),
        ({"language": "xx"}, "unknown language 'xx'"),
        ({"words_weight": 0}, "words_weight must be a number > 0"),
        ({"embedding_weight": -1.0}, "embedding_weight must be a number > 0"),
        ({"cold_start_per_class": "many"}, "cold_start_per_class must be None or a number >= 0"),
        ({"cold_start_per_class": -1}, "cold_start_per_class must be None or a number >= 0"),
    ],
)
def test_bad_hybrid_parameters_are_refused(data, params, message):
    train, labels, *_ = data
    with pytest.raises(ValueError, match=message):
        FastHead(**params).fit(train, labels)
