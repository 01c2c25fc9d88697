"""measure_speed on real functions that sleep or compute (the timer is never mocked)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mlcore.speed import available_cores, default_threads, measure_speed

TEXTS = [f"text number {i}" for i in range(40)]


def sleeping(seconds_per_call: float, seconds_per_text: float = 0.0):
    """A predict_proba that sleeps a fixed time per call plus a time per text."""

    def predict_proba(texts: list[str]) -> np.ndarray:
        time.sleep(seconds_per_call + seconds_per_text * len(texts))
        return np.full((len(texts), 2), 0.5)

    return predict_proba


def computing(size: int):
    """A predict_proba that multiplies matrices per text with torch (uses the thread count that is set)."""
    weights = torch.randn(size, size, generator=torch.Generator().manual_seed(0))

    def predict_proba(texts: list[str]) -> np.ndarray:
        x = torch.randn(len(texts), size, generator=torch.Generator().manual_seed(1))
        for _ in range(3):
            x = torch.tanh(x @ weights)
        return torch.softmax(x[:, :3], dim=1).numpy()

    return predict_proba


def test_the_result_has_the_contract_shape():
    result = measure_speed(computing(32), TEXTS, max_seconds=1.0)
    assert set(result) >= {"ms_per_text", "texts_per_second", "threads", "batch_size", "n_texts"}
    assert result["batch_size"] == 256
    assert result["n_texts"] == len(TEXTS)
    assert result["threads"] == default_threads() <= available_cores()
    assert result["ms_per_text"] > 0 and result["texts_per_second"] > 0
    assert 1 <= result["n_single_calls"] <= len(TEXTS)
    assert result["n_batches"] == 1  # 40 texts fill one whole batch of 256 by cycling


def test_a_slow_model_measures_slower_than_a_fast_one():
    # One thread and ten batches: on a busy machine a thread pool's stall in one batch is not the result.
    slow = measure_speed(sleeping(0.01, 0.002), TEXTS * 8, batch_size=32, threads=1, max_seconds=2.0)
    fast = measure_speed(computing(16), TEXTS * 8, batch_size=32, threads=1, max_seconds=2.0)
    assert slow["ms_per_text"] >= 10.0
    assert fast["ms_per_text"] < slow["ms_per_text"] / 2
    # 32 texts sleep at least 0.01 + 32 * 0.002 s, so at most ~430 texts/s.
    assert slow["texts_per_second"] < 32 / (0.01 + 32 * 0.002) * 1.01
    assert fast["texts_per_second"] > 2 * slow["texts_per_second"]


def test_batching_shows_in_throughput_but_not_in_latency():
    # A fixed cost per call dominates at batch 1 and is shared by 64 texts in a batch.
    result = measure_speed(sleeping(0.005), TEXTS, batch_size=64, max_seconds=1.0)
    assert result["ms_per_text"] >= 5.0
    assert result["texts_per_second"] > 10 * 1000 / result["ms_per_text"]


def test_the_time_budget_bounds_a_slow_model():
    start = time.perf_counter()
    result = measure_speed(sleeping(0.05), TEXTS * 10, batch_size=8, max_seconds=0.4)
    elapsed = time.perf_counter() - start
    # Budget 0.4 s (0.2 per part) + the two warm-ups + one call past the budget per part.
    assert elapsed < 0.4 + 4 * 0.05 + 0.5
    assert result["n_single_calls"] < len(TEXTS)
    assert result["n_single_calls"] >= 1 and result["n_batches"] >= 1


def test_the_thread_count_is_set_inside_and_restored_after():
    before = torch.get_num_threads()
    seen = []

    def recording(texts: list[str]) -> np.ndarray:
        seen.append(torch.get_num_threads())
        return np.zeros((len(texts), 2))

    result = measure_speed(recording, TEXTS[:3], threads=1, max_seconds=0.5)
    assert set(seen) == {1}
    assert result["threads"] == 1
    assert torch.get_num_threads() == before


def test_the_thread_count_is_restored_when_the_model_fails():
    before = torch.get_num_threads()

    def failing(texts: list[str]) -> np.ndarray:
        raise RuntimeError("broken model")

    with pytest.raises(RuntimeError, match="broken model"):
        measure_speed(failing, TEXTS, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("texts", "kwargs", "message"),
    [
        ([], {}, "must not be empty"),
        ("one text", {}, "not a single string"),
        (["ok", 3], {}, r"texts\[1\] is int"),
        (TEXTS, {"threads": 0}, "threads"),
        (TEXTS, {"batch_size": 0}, "batch_size"),
        (TEXTS, {"max_seconds": 0}, "max_seconds"),
    ],
)
def test_bad_arguments_are_refused(texts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure_speed(computing(4), texts, **kwargs)


def test_a_function_that_drops_rows_is_refused():
    with pytest.raises(ValueError, match="returned 0 rows for 1 texts"):
        measure_speed(lambda texts: np.zeros((0, 2)), TEXTS)
