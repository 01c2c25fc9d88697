"""Benchmarks of the ML library on labelled JSONL datasets.

    python -m mlcore.bench cluster --dataset FILE.jsonl --out RESULT.json [--k K] [--k-min 2 --k-max 20]
        [--random-state 0] [--limit N] [--cache-dir DIR]

Dataset lines are {"text": ..., "label": ..., "split": "train" | "test" | ...}. Each subcommand is
one entry of `SUBCOMMANDS` (name -> (add_arguments, run)); `run(args)` returns the exit status.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mlcore.clustering import TextClusterer, cluster_keywords
from mlcore.encoders import DEFAULT_BACKBONE, TextEncoder

DEFAULT_CACHE_DIR = Path("~/.cache/labelloop/embeddings")
KEYWORDS_PER_CLUSTER = 8

# --- datasets and the embedding cache -----------------------------------------------------------


def read_jsonl_split(path: Path, split: str, *, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) of the rows of `split`, in file order; the first `limit` rows when given."""
    texts: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or "label" not in row:
                raise ValueError(f"{path}:{line_number}: each line needs a string 'text' and a 'label'")
            if row.get("split") != split:
                continue
            texts.append(row["text"])
            labels.append(str(row["label"]))
            if limit is not None and len(texts) >= limit:
                break
    if not texts:
        raise ValueError(f"{path}: no rows with split={split!r}")
    return texts, labels


def embedding_cache_key(texts: Sequence[str], encoder_version: str) -> str:
    """Hash of the encoder version and the exact texts in order."""
    digest = hashlib.sha256(encoder_version.encode("utf-8"))
    for text in texts:
        encoded = text.encode("utf-8")
        # Length-prefixing keeps ["ab", "c"] and ["a", "bc"] apart.
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def cached_embeddings(
    encoder: TextEncoder, texts: Sequence[str], cache_dir: Path, *, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, bool]:
    """(n, dim) float32 embeddings of `texts` and whether they came from the cache.

    Stored as float16 .npy; fresh embeddings are rounded through float16 too, so a first run and a
    cached run cluster exactly the same vectors.
    """
    path = cache_dir / f"{embedding_cache_key(texts, encoder.version)}.npy"
    if path.is_file():
        return np.load(path).astype(np.float32), True
    half = encoder.embed(texts, progress=progress).astype(np.float16)
    _save_atomically(path, half)
    return half.astype(np.float32), False


def _save_atomically(path: Path, array: np.ndarray) -> None:
    # Write-then-rename: a run killed mid-write never leaves a truncated file under the final name.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npy.part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, array)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _print_progress(done: int, total: int) -> None:
    print(f"\rembedding {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


# --- cluster ------------------------------------------------------------------------------------


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--k", type=int, default=None, help="number of clusters (default: chosen by silhouette)")
    parser.add_argument("--k-min", type=int, default=2)
    parser.add_argument("--k-max", type=int, default=20)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N train rows")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="packaged model name or local model directory")


def cluster_benchmark(args: argparse.Namespace) -> dict:
    """Cluster the train split, score against its labels; the result as a JSON-ready dict."""
    texts, gold = read_jsonl_split(args.dataset, "train", limit=args.limit)
    encoder = TextEncoder.load(args.backbone)
    started = time.perf_counter()
    embeddings, from_cache = cached_embeddings(
        encoder, texts, args.cache_dir.expanduser(), progress=None if getattr(args, "quiet", False) else _print_progress
    )
    embed_seconds = time.perf_counter() - started

    started = time.perf_counter()
    clusterer = TextClusterer(n_clusters=args.k, k_range=(args.k_min, args.k_max), random_state=args.random_state).fit(
        embeddings
    )
    cluster_seconds = time.perf_counter() - started

    keywords = cluster_keywords(texts, clusterer.labels_, top_n=KEYWORDS_PER_CLUSTER)
    return {
        "dataset": str(args.dataset),
        "n_items": len(texts),
        "n_gold_labels": len(set(gold)),
        "encoder": encoder.version,
        "k": clusterer.n_clusters_,
        "k_chosen_automatically": args.k is None,
        "ari": float(adjusted_rand_score(gold, clusterer.labels_)),
        "nmi": float(normalized_mutual_info_score(gold, clusterer.labels_)),
        "silhouette_scores": {str(k): score for k, score in clusterer.silhouette_scores_.items()},
        "cluster_sizes": np.bincount(clusterer.labels_).tolist(),
        "embed_seconds": round(embed_seconds, 3),
        "embeddings_from_cache": from_cache,
        "cluster_seconds": round(cluster_seconds, 3),
        "keywords": {str(c): [term for term, _ in terms] for c, terms in keywords.items()},
        "random_state": args.random_state,
    }


def _run_cluster(args: argparse.Namespace) -> int:
    if args.k is not None and args.k < 1:
        raise ValueError(f"--k must be >= 1; got {args.k}")
    result = cluster_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"cluster {args.dataset.name}: n={result['n_items']} k={result['k']} ari={result['ari']:.3f} "
        f"nmi={result['nmi']:.3f} embed={result['embed_seconds']:.1f}s"
        f"{' (cached)' if result['embeddings_from_cache'] else ''} cluster={result['cluster_seconds']:.1f}s"
    )
    return 0


# --- command line -------------------------------------------------------------------------------

SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "cluster": (_add_cluster_arguments, _run_cluster),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlcore.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, run) in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name)
        add_arguments(subparser)
        subparser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
