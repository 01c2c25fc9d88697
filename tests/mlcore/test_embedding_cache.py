"""The embedding cache reuses rows embedded before, in any cache file of the same encoder version."""

import numpy as np

from mlcore import bench


class CountingEncoder:
    """Embeds a text as a vector of its length and first character; counts the texts it embedded."""

    def __init__(self, version: str = "counting-v1") -> None:
        self.version = version
        self.embedded: list[str] = []

    def embed(self, texts, progress=None):
        self.embedded.extend(texts)
        return np.array([[len(text), ord(text[0]) if text else 0, 1.0] for text in texts], dtype=np.float32)


def _expected(texts):
    return CountingEncoder().embed(texts).astype(np.float16).astype(np.float32)


def test_exact_list_is_cached(tmp_path):
    encoder = CountingEncoder()
    texts = ["alpha", "beta", "gamma"]
    first, first_cached = bench.cached_embeddings(encoder, texts, tmp_path)
    second, second_cached = bench.cached_embeddings(encoder, texts, tmp_path)
    assert (first_cached, second_cached) == (False, True)
    assert encoder.embedded == texts
    np.testing.assert_array_equal(first, second)


def test_a_subset_in_another_order_embeds_nothing(tmp_path):
    encoder = CountingEncoder()
    bench.cached_embeddings(encoder, ["alpha", "beta", "gamma", "delta"], tmp_path)
    encoder.embedded.clear()
    subset = ["delta", "alpha", "gamma"]
    rows, from_cache = bench.cached_embeddings(encoder, subset, tmp_path)
    assert encoder.embedded == []
    assert from_cache is True
    np.testing.assert_array_equal(rows, _expected(subset))


def test_only_new_texts_are_embedded_and_rows_come_from_several_files(tmp_path):
    encoder = CountingEncoder()
    bench.cached_embeddings(encoder, ["alpha", "beta"], tmp_path)
    bench.cached_embeddings(encoder, ["gamma", "delta"], tmp_path)
    encoder.embedded.clear()
    texts = ["delta", "epsilon", "alpha", "beta", "zeta"]
    rows, from_cache = bench.cached_embeddings(encoder, texts, tmp_path)
    assert sorted(encoder.embedded) == ["epsilon", "zeta"]
    assert from_cache is False
    np.testing.assert_array_equal(rows, _expected(texts))


def test_repeated_texts_are_filled_everywhere(tmp_path):
    encoder = CountingEncoder()
    bench.cached_embeddings(encoder, ["alpha", "beta"], tmp_path)
    encoder.embedded.clear()
    texts = ["beta", "beta", "alpha", "beta"]
    rows, _ = bench.cached_embeddings(encoder, texts, tmp_path)
    assert encoder.embedded == []
    np.testing.assert_array_equal(rows, _expected(texts))


def test_another_encoder_version_is_never_reused(tmp_path):
    bench.cached_embeddings(CountingEncoder("counting-v1"), ["alpha", "beta"], tmp_path)
    other = CountingEncoder("counting-v2")
    bench.cached_embeddings(other, ["beta", "alpha"], tmp_path)
    assert sorted(other.embedded) == ["alpha", "beta"]


def test_a_file_without_a_sidecar_is_not_reused_until_its_exact_list_is_read(tmp_path):
    encoder = CountingEncoder()
    texts = ["alpha", "beta", "gamma"]
    bench.cached_embeddings(encoder, texts, tmp_path)
    for sidecar in tmp_path.glob(f"*{bench.SIDECAR_SUFFIX}"):
        sidecar.unlink()  # as written before sidecars existed
    encoder.embedded.clear()
    bench.cached_embeddings(encoder, ["beta"], tmp_path)
    assert encoder.embedded == ["beta"]
    # An exact hit writes the missing sidecar, so the old file joins the index from then on.
    bench.cached_embeddings(encoder, texts, tmp_path)
    encoder.embedded.clear()
    bench.cached_embeddings(encoder, ["gamma", "alpha"], tmp_path)
    assert encoder.embedded == []


def test_a_damaged_sidecar_only_costs_a_re_embedding(tmp_path):
    encoder = CountingEncoder()
    bench.cached_embeddings(encoder, ["alpha", "beta"], tmp_path)
    for sidecar in tmp_path.glob(f"*{bench.SIDECAR_SUFFIX}"):
        sidecar.write_bytes(b"not an npz")
    encoder.embedded.clear()
    rows, _ = bench.cached_embeddings(encoder, ["beta"], tmp_path)
    assert encoder.embedded == ["beta"]
    np.testing.assert_array_equal(rows, _expected(["beta"]))
