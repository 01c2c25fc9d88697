"""The bag-of-words featurizer and the hybrid inputs of the fast head (issue 22)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from mlcore.features import (
    FEATURIZER_FILE,
    HybridInputs,
    TextFeaturizer,
    concatenate,
    language_family,
    word_tokens,
)
from tests.mlcore.test_models import single_label_texts

ENGLISH, _ = single_label_texts(40, seed=0)
CHINESE, _ = single_label_texts(40, seed=1, chinese=True)


def test_transform_gives_unit_float32_rows_of_words_and_characters():
    assert set(TextFeaturizer("en").fit(ENGLISH).blocks_) == {"words"}  # words alone by default
    featurizer = TextFeaturizer("en", char_ngrams="auto").fit(ENGLISH)
    matrix = featurizer.transform(ENGLISH[:5])
    assert sp.isspmatrix_csr(matrix) and matrix.dtype == np.float32
    assert matrix.shape == (5, featurizer.n_features)
    np.testing.assert_allclose(sp.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
    words = featurizer.blocks_["words"].vocabulary_
    assert "striker" in words or "goal" in words
    assert any(" " in term for term in words)  # word bigrams
    assert set(featurizer.blocks_) == {"words", "chars"}


def test_chinese_words_come_from_jieba_and_characters_from_one_to_three():
    featurizer = TextFeaturizer("zh-hans", char_ngrams="auto").fit(CHINESE)
    assert featurizer.language == "zh" and featurizer.char_ngrams == (1, 3)
    words = featurizer.blocks_["words"].vocabulary_
    assert {"足球", "政府"} & set(words)  # words, not single characters only
    chars = featurizer.blocks_["chars"].vocabulary_
    assert "球" in chars and "足球" in chars
    assert word_tokens("这个产品很差！", "zh") == ["这个", "产品", "很差"]  # punctuation dropped


def test_empty_short_and_unseen_texts_give_zero_or_unit_rows():
    featurizer = TextFeaturizer("en").fit(ENGLISH)
    matrix = featurizer.transform(["", "!!!", "a", "qwzx blorft"])  # words alone: "a" is no word
    assert matrix.shape[0] == 4
    norms = sp.linalg.norm(matrix, axis=1)
    assert norms[0] == 0.0 and np.all((np.isclose(norms, 0.0)) | np.isclose(norms, 1.0, rtol=1e-5))
    tiny = TextFeaturizer("zh").fit(["好", "差"])  # a first round of two short texts keeps its terms
    assert tiny.n_features > 0
    empty = TextFeaturizer("en").fit(["", "  "])  # nothing survives: an empty vocabulary, zero rows
    assert empty.n_features == 0 and empty.transform(["goal"]).shape == (1, 0)


def test_save_and_load_round_trip_without_pickle(tmp_path):
    featurizer = TextFeaturizer("zh", char_ngrams="auto", char_weight=0.5).fit(CHINESE + ENGLISH)
    featurizer.save(tmp_path / "f")
    assert json.loads((tmp_path / "f" / FEATURIZER_FILE).read_text(encoding="utf-8"))["params"]["language"] == "zh"
    loaded = TextFeaturizer.load(tmp_path / "f")
    assert loaded.fingerprint == featurizer.fingerprint and loaded.get_params() == featurizer.get_params()
    probe = [*CHINESE[:3], *ENGLISH[:3], "", "没见过的字"]
    assert (loaded.transform(probe) != featurizer.transform(probe)).nnz == 0


def test_a_changed_or_missing_saved_featurizer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a saved featurizer"):
        TextFeaturizer.load(tmp_path)
    TextFeaturizer("en").fit(ENGLISH).save(tmp_path / "f")
    path = tmp_path / "f" / FEATURIZER_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["blocks"]["words"]["vocabulary"][0] = "changed"
    path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="fingerprint does not match"):
        TextFeaturizer.load(tmp_path / "f")


def test_the_fingerprint_changes_with_vocabulary_and_parameters():
    base = TextFeaturizer("en").fit(ENGLISH)
    assert TextFeaturizer("en").fit(ENGLISH).fingerprint == base.fingerprint
    assert TextFeaturizer("en").fit(ENGLISH[:20]).fingerprint != base.fingerprint
    assert TextFeaturizer("en", char_ngrams="auto").fit(ENGLISH).fingerprint != base.fingerprint
    assert TextFeaturizer("en", word_ngrams=1).fit(ENGLISH).fingerprint != base.fingerprint


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"language": "klingon"}, "unknown language 'klingon'"),
        ({"language": ""}, "language must be one of"),
        ({"word_ngrams": 0, "char_ngrams": None}, "needs words"),
        ({"char_ngrams": (3, 2)}, "char_ngrams"),
        ({"min_df": 0}, "min_df"),
        ({"char_weight": 0}, "char_weight"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextFeaturizer(**kwargs)


def test_bad_uses_are_refused():
    with pytest.raises(ValueError, match="not fitted"):
        TextFeaturizer().transform(["x"])
    with pytest.raises(ValueError, match="not a single string"):
        TextFeaturizer().fit("one text")
    with pytest.raises(ValueError, match=r"texts\[1\] is int"):
        TextFeaturizer().fit(["a", 3])
    with pytest.raises(ValueError, match="zero texts"):
        TextFeaturizer().fit([])


def test_language_names():
    assert [language_family(name) for name in ("en", "EN-gb", "zh", "zh_CN", "Chinese", "中文", "other", "multi")] == [
        "en",
        "en",
        "zh",
        "zh",
        "zh",
        "zh",
        "multi",
        "multi",
    ]


def test_hybrid_inputs_take_and_concatenate():
    featurizer = TextFeaturizer("en").fit(ENGLISH)
    embeddings = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    inputs = HybridInputs(ENGLISH, embeddings, featurizer.transform(ENGLISH))
    part = inputs.take(np.array([3, 1]))
    assert part.texts == [ENGLISH[3], ENGLISH[1]] and part.embeddings[0, 0] == 9.0 and part.words.shape[0] == 2
    assert len(inputs.take(np.arange(40) < 5)) == 5
    joined = concatenate(part, inputs.take([0]))
    assert len(joined) == 3 and joined.words.shape == (3, featurizer.n_features)
    assert concatenate(part, HybridInputs(["x"], embeddings[:1])).words is None  # words only when both have them
    assert HybridInputs.concatenate(part, part).texts == part.texts * 2


@pytest.mark.parametrize(
    ("texts", "embeddings", "words", "message"),
    [
        (["a", "b"], np.zeros((3, 2)), None, "2 texts but 3 embeddings"),
        (["a"], np.zeros(2), None, "2-D"),
        (["a"], np.zeros((1, 2)), np.zeros((1, 4)), "scipy sparse"),
        (["a"], np.zeros((1, 2)), sp.csr_matrix((2, 4)), "1 texts but 2 rows of words"),
        ("ab", np.zeros((2, 2)), None, "not a single string"),
    ],
)
def test_bad_hybrid_inputs_are_refused(texts, embeddings, words, message):
    with pytest.raises(ValueError, match=message):
        HybridInputs(texts, embeddings, words)
