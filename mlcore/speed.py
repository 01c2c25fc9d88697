"""Inference speed, measured the same way for every model kind.

`measure_speed(predict_proba, texts)` times a texts -> probabilities function twice, in this process:

- latency: milliseconds per text at batch 1, the median over single-text calls (up to one per text);
- throughput: texts per second at `batch_size` (256), over whole batches only.

Each part starts with an untimed warm-up call (lazy loading, caches, allocator). Every kind runs under the
same thread count: torch's intra-op threads and the BLAS/OpenMP pools that numpy and scikit-learn use are
set for the measurement and restored after it. For a model on embeddings the function must embed too, so
the encoder is part of what is timed. `max_seconds` bounds the timed calls of both parts together, so a
slow model (the teacher on CPU) measures fewer calls instead of taking minutes; at least one single-text
call and one whole batch are always timed (where the warm-up batch alone exceeds the budget, it is the
one timed batch).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from threadpoolctl import threadpool_limits

DEFAULT_BATCH_SIZE = 256
# The default thread count is the machine's cores, capped: beyond a few threads small models only pay for
# synchronisation, and a number that differs from machine to machine is hard to compare.
MAX_DEFAULT_THREADS = 8
# Share of `max_seconds` for the single-text calls; the rest is for the whole batches.
LATENCY_SHARE = 0.5

PredictProba = Callable[[list[str]], np.ndarray]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS says, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    return min(available_cores(), MAX_DEFAULT_THREADS)


@contextmanager
def thread_count(threads: int) -> Iterator[None]:
    """Run the block with `threads` torch intra-op threads and BLAS/OpenMP threads; restore both after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def measure_speed(
    predict_proba: PredictProba,
    texts: list[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    max_seconds: float = 10.0,
) -> dict:
    """Time `predict_proba` at batch 1 and at `batch_size`; see the module docstring.

    Returns {"ms_per_text", "texts_per_second", "threads", "batch_size", "n_texts"} plus the counts behind
    them ("n_single_calls", "n_batches"). Batches are filled by cycling through `texts` when there are
    fewer than `batch_size` of them.
    """
    texts = _checked_texts(texts)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if threads is None:
        threads = default_threads()
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0; got {max_seconds!r}")
    with thread_count(threads):
        single_times = _single_text_times(predict_proba, texts, max_seconds * LATENCY_SHARE)
        batch_times = _batch_times(predict_proba, texts, batch_size, max_seconds * (1 - LATENCY_SHARE))
    return {
        "ms_per_text": statistics.median(single_times) * 1000.0,
        "texts_per_second": batch_size * len(batch_times) / max(sum(batch_times), 1e-12),
        "threads": threads,
        "batch_size": batch_size,
        "n_texts": len(texts),
        "n_single_calls": len(single_times),
        "n_batches": len(batch_times),
    }


def _checked_texts(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a list of texts, not a single string")
    texts = list(texts)
    if not texts:
        raise ValueError("texts must not be empty")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] is {type(text).__name__}, expected str")
    return texts


def _timed_call(predict_proba: PredictProba, batch: list[str]) -> float:
    start = time.perf_counter()
    probabilities = predict_proba(batch)
    elapsed = time.perf_counter() - start
    if len(probabilities) != len(batch):
        raise ValueError(f"predict_proba returned {len(probabilities)} rows for {len(batch)} texts")
    return elapsed


def _single_text_times(predict_proba: PredictProba, texts: list[str], budget: float) -> list[float]:
    """Seconds per single-text call, one call per text until the budget is spent (at least one)."""
    _timed_call(predict_proba, texts[:1])  # warm-up
    times: list[float] = []
    for text in texts:
        times.append(_timed_call(predict_proba, [text]))
        if sum(times) >= budget:
            break
    return times


def _batch_times(predict_proba: PredictProba, texts: list[str], batch_size: int, budget: float) -> list[float]:
    """Seconds per whole batch of `batch_size` texts, consecutive slices of the texts repeated as needed."""
    batches = _whole_batches(texts, batch_size)
    warm_up = _timed_call(predict_proba, batches[0])
    if warm_up >= budget:
        # A model this slow (the teacher on CPU) gains little from a warm-up; a second batch would double
        # the wait, so the warm-up batch is the measurement.
        return [warm_up]
    times: list[float] = []
    for batch in batches:
        times.append(_timed_call(predict_proba, batch))
        if sum(times) >= budget:
            break
    return times


def _whole_batches(texts: list[str], batch_size: int) -> list[list[str]]:
    """ceil(len(texts) / batch_size) batches, each exactly `batch_size` texts long (cycling at the end)."""
    n_batches = -(-len(texts) // batch_size)
    cycled = [texts[i % len(texts)] for i in range(n_batches * batch_size)]
    return [cycled[start : start + batch_size] for start in range(0, len(cycled), batch_size)]
