"""Benchmarks of the ML library on labelled JSONL datasets.

    python -m mlcore.bench cluster --dataset FILE.jsonl --out RESULT.json [--k K] [--k-min 2 --k-max 20]
        [--random-state 0] [--limit N] [--cache-dir DIR]
    python -m mlcore.bench train --dataset FILE.jsonl --model head|teacher|textcnn --out RESULT.json
        [--random-state 0] [--limit-train N] [--epochs E] [--batch-size B] [--max-len L] [--head lr|mlp]
        [--cache-dir DIR] [--backbone NAME] [--device cpu] [--quiet]

Dataset lines are {"text": ..., "label": ..., "split": "train" | "test" | ...}. Each subcommand is
one entry of `SUBCOMMANDS` (name -> (add_arguments, run)); `run(args)` returns the exit status.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, adjusted_rand_score, f1_score, normalized_mutual_info_score
from sklearn.model_selection import train_test_split

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


# --- train --------------------------------------------------------------------------------------

# --model name -> kind in mlcore.models.MODEL_KINDS.
TRAIN_MODELS = {"head": "fast_head", "teacher": "teacher", "textcnn": "text_cnn"}
HEAD_CHOICES = ("lr", "mlp")
INFERENCE_TIMED = {
    "embeddings": (
        "embed+predict",
        "TextEncoder.embed (tokenization + transformer, batch 32, never from the cache) and predict_proba "
        "on all test texts; encoder and model already loaded",
    ),
    "texts": (
        "tokenize+predict",
        "predict_proba on all raw test texts (tokenization included); model already in memory",
    ),
}
TRAIN_TIMED = {
    "embeddings": "fit on the train embeddings (embedding the train texts is embed_train_seconds)",
    "texts": "fit on the raw train texts (tokenization included)",
}


def stratified_subset(labels: Sequence[str], n: int, *, random_state: int) -> np.ndarray:
    """Sorted indices of a seeded subset of `n` items with the class proportions of `labels`.

    All indices when n >= len(labels). Every class needs at least two items (scikit-learn's rule).
    """
    if n < 1:
        raise ValueError(f"the subset size must be >= 1; got {n}")
    if n >= len(labels):
        return np.arange(len(labels))
    try:
        subset, _ = train_test_split(
            np.arange(len(labels)), train_size=n, stratify=list(labels), random_state=random_state
        )
    except ValueError as error:
        raise ValueError(f"cannot draw a stratified subset of {n} from {len(labels)} items: {error}") from None
    return np.sort(subset)


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--model", required=True, choices=sorted(TRAIN_MODELS), help="model to train")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--limit-train", type=int, default=None, help="train on a stratified seeded subset of N")
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's own")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size; default: the model's own")
    parser.add_argument(
        "--max-len", type=int, default=None, help="tokens per text (the encoder's for head); default: the model's own"
    )
    parser.add_argument("--head", choices=HEAD_CHOICES, default=None, help="--model head only (default lr)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache (--model head)")
    parser.add_argument(
        "--backbone", default=None, help=f"encoder (head) or tokenizer/model backbone; default {DEFAULT_BACKBONE}"
    )
    parser.add_argument("--device", default="cpu", help="torch device for training and inference (default cpu)")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output on stderr")


def _train_model_class(name: str) -> type:
    """The TextClassifier class behind `--model name`; a ValueError when its kind is not registered."""
    from mlcore.models import model_class  # imported here: a kind in progress must not break `cluster`

    try:
        return model_class(TRAIN_MODELS[name])
    except ValueError as error:
        raise ValueError(f"--model {name} is not available: {error}") from None


def _model_params(cls: type, args: argparse.Namespace) -> dict:
    """Constructor arguments from the options; an option the model does not take is a ValueError."""
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    params = {name: getattr(args, name) for name in ("random_state", "device") if name in accepted}
    given = {"--epochs": ("epochs", args.epochs), "--batch-size": ("batch_size", args.batch_size)}
    if cls.input_type == "embeddings":
        params["head"] = args.head or "lr"  # --max-len and --backbone go to the encoder
    elif args.head is not None:
        raise ValueError(f"--head does not apply to --model {args.model}")
    else:
        given |= {"--max-len": ("max_len", args.max_len), "--backbone": ("backbone", args.backbone)}
    for option, (name, value) in given.items():
        if value is None:
            continue
        if name not in accepted:
            raise ValueError(f"{option} does not apply to --model {args.model}")
        params[name] = value
    return params


def _machine() -> dict:
    """What the timings ran on; sets torch's thread count to the CPU count first."""
    torch.set_num_threads(os.cpu_count() or 1)
    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), cpu_model
            )
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _print_fraction(fraction: float) -> None:
    print(f"\rtraining {fraction:.0%}", end="" if fraction < 1.0 else "\n", file=sys.stderr, flush=True)


def train_benchmark(args: argparse.Namespace) -> dict:
    """Train `--model` on the train split, score it on the test split; the result as a JSON-ready dict."""
    if args.limit_train is not None and args.limit_train < 1:
        raise ValueError(f"--limit-train must be >= 1; got {args.limit_train}")
    cls = _train_model_class(args.model)
    params = _model_params(cls, args)
    machine = _machine()
    quiet = getattr(args, "quiet", False)
    train_texts, train_labels = read_jsonl_split(args.dataset, "train")
    test_texts, test_labels = read_jsonl_split(args.dataset, "test")
    n_train_available = len(train_texts)
    if args.limit_train is not None:
        keep = stratified_subset(train_labels, args.limit_train, random_state=args.random_state)
        train_texts, train_labels = [train_texts[i] for i in keep], [train_labels[i] for i in keep]

    model = cls(**params)
    extra: dict = {}
    if cls.input_type == "embeddings":
        encoder_options = {} if args.max_len is None else {"max_length": args.max_len}
        encoder = TextEncoder.load(args.backbone or DEFAULT_BACKBONE, device=args.device, **encoder_options)
        embed_progress = None if quiet else _print_progress
        started = time.perf_counter()
        train_inputs, from_cache = cached_embeddings(
            encoder, train_texts, args.cache_dir.expanduser(), progress=embed_progress
        )
        extra = {
            "encoder": encoder.version,
            "embed_train_seconds": round(time.perf_counter() - started, 3),
            "embeddings_from_cache": from_cache,
        }

        def predict_proba(texts: list[str]) -> np.ndarray:
            return model.predict_proba(encoder.embed(texts, progress=embed_progress))
    else:
        train_inputs, predict_proba = train_texts, model.predict_proba

    started = time.perf_counter()
    model.fit(train_inputs, train_labels, on_progress=None if quiet else _print_fraction)
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    probabilities = predict_proba(test_texts)
    inference_seconds = time.perf_counter() - started
    predicted = [str(label) for label in model.classes_[probabilities.argmax(axis=1)]]

    labels = sorted(set(test_labels) | set(predicted))
    per_class = f1_score(test_labels, predicted, labels=labels, average=None, zero_division=0)
    timed, timed_detail = INFERENCE_TIMED[cls.input_type]
    return {
        "dataset": str(args.dataset),
        "model": args.model,
        "model_kind": cls.kind,
        "params": model.get_params(),
        "n_train": len(train_texts),
        "n_train_available": n_train_available,
        "limit_train": args.limit_train,
        "n_test": len(test_texts),
        "n_classes": len(model.classes_),
        "macro_f1": float(f1_score(test_labels, predicted, labels=labels, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(test_labels, predicted, labels=labels, average="micro", zero_division=0)),
        "accuracy": float(accuracy_score(test_labels, predicted)),
        "per_class_f1": {label: round(float(score), 4) for label, score in zip(labels, per_class, strict=True)},
        "train_seconds": round(train_seconds, 3),
        "train_timed": TRAIN_TIMED[cls.input_type],
        "inference_seconds": round(inference_seconds, 3),
        "texts_per_second": round(len(test_texts) / max(inference_seconds, 1e-9), 2),
        "inference_timed": timed,
        "inference_timed_detail": timed_detail,
        **extra,
        "device": args.device,
        **machine,
        "random_state": args.random_state,
    }


def _run_train(args: argparse.Namespace) -> int:
    result = train_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(
        f"train {args.dataset.name} {args.model}: n_train={result['n_train']} n_test={result['n_test']} "
        f"macro_f1={result['macro_f1']:.3f} accuracy={result['accuracy']:.3f} train={result['train_seconds']:.1f}s "
        f"inference={result['texts_per_second']:.1f} texts/s ({result['inference_timed']}, "
        f"{result['torch_threads']} threads)"
    )
    return 0


# --- command line -------------------------------------------------------------------------------

SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "cluster": (_add_cluster_arguments, _run_cluster),
    "train": (_add_train_arguments, _run_train),
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
