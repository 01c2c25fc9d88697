"""TextEncoder against the real packaged MiniLM model, loaded once for the module."""

import numpy as np
import pytest
import torch

from mlcore.encoders import DEFAULT_BACKBONE, TextEncoder, _pool, resolve_backbone_dir

TEXTS = [
    "The striker scored twice in the second half.",
    "Shares fell sharply after the quarterly results were published by the bank.",
    "Rain",
    "A new smartphone with a foldable screen goes on sale next week in several countries.",
    "",
]


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder.load(device="cpu")


def test_embeddings_have_shape_dtype_and_unit_norm(encoder):
    vectors = encoder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), encoder.dim) == (5, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_unnormalized_embeddings_are_not_unit_length(encoder):
    norms = np.linalg.norm(encoder.embed(TEXTS[:2], normalize=False), axis=1)
    assert not np.allclose(norms, 1.0)


def test_batch_order_matches_texts_despite_length_sorting(encoder):
    batched = encoder.embed(TEXTS, batch_size=2)
    one_by_one = np.vstack([encoder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)


def test_similar_texts_are_closer_than_unrelated_ones(encoder):
    football, goal, shares = encoder.embed(
        ["The team won the football match.", "The striker scored a goal.", "The stock market fell today."]
    )
    assert football @ goal > football @ shares


def test_empty_input_gives_zero_rows(encoder):
    vectors = encoder.embed([])
    assert vectors.shape == (0, encoder.dim)
    assert vectors.dtype == np.float32


def test_progress_is_reported_after_each_batch(encoder):
    calls = []
    encoder.embed(TEXTS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_version_is_stable_across_loads_and_changes_with_pooling_and_length(encoder):
    assert TextEncoder.load(device="cpu").version == encoder.version
    assert encoder.version.startswith(DEFAULT_BACKBONE)
    assert TextEncoder.load(device="cpu", pooling="cls").version != encoder.version
    assert TextEncoder.load(device="cpu", max_length=128).version != encoder.version


def test_a_local_model_directory_is_a_backbone(encoder):
    by_path = TextEncoder.load(str(resolve_backbone_dir(DEFAULT_BACKBONE)), device="cpu")
    assert by_path.version.split("@")[1] == encoder.version.split("@")[1]
    np.testing.assert_allclose(by_path.embed(TEXTS[:1]), encoder.embed(TEXTS[:1]), atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "max", "attention"])
def test_other_poolings_give_unit_vectors(pooling):
    vectors = TextEncoder.load(device="cpu", pooling=pooling).embed(TEXTS[:3])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_attention_pooling_weighs_tokens_by_their_closeness_to_the_mean():
    # Two tokens and padding: token 0 lies along the mean, token 1 across it; padding gets no weight.
    hidden = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    pooled = _pool(hidden, mask, "attention")
    # mean (1, 0.5); scores (2/sqrt2, 0.5/sqrt2); softmax weights w0, w1
    w = torch.softmax(torch.tensor([2.0, 0.5]) / 2**0.5, dim=0)
    assert torch.allclose(pooled, torch.tensor([[2 * w[0], w[1]]]))


def test_bad_pooling_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="cls, mean, max"):
        TextEncoder.load(pooling="median")


def test_bad_max_length_and_backbone_are_refused(tmp_path):
    with pytest.raises(ValueError, match="max_length"):
        TextEncoder.load(max_length=100_000)
    with pytest.raises(ValueError, match=r"config\.json"):
        TextEncoder.load(str(tmp_path))


def test_bad_texts_are_refused(encoder):
    with pytest.raises(ValueError, match="single string"):
        encoder.embed("just one text")
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        encoder.embed(["fine", None])
