"""Benchmarks of the ML library on labelled JSONL datasets.

    python -m mlcore.bench cluster --dataset FILE.jsonl --out RESULT.json [--k K] [--k-min 2 --k-max 20]
        [--random-state 0] [--limit N] [--cache-dir DIR] [--backbone NAME] [--language en|zh|multi]
    python -m mlcore.bench train --dataset FILE.jsonl --model head|teacher|textcnn --out RESULT.json
        [--random-state 0] [--limit-train N] [--epochs E] [--batch-size B] [--max-len L] [--head lr|mlp]
        [--long-texts truncate|head_tail|sliding_window] [--window-stride S] [--learning-rate R] [--layer-decay D]
        [--cache-dir DIR] [--backbone NAME] [--device cpu] [--quiet] [--language en|zh|multi]
        [--features hybrid|embeddings] [--tokenization wordpiece|char]
    python -m mlcore.bench speed --dataset FILE.jsonl --out RESULT.json [--models textcnn,teacher]
    python -m mlcore.bench al --dataset FILE.jsonl --strategies random,margin,default --out RESULT.json
        [--init 100] [--batch 50] [--budget 2000] [--seeds 3] [--head lr|default] [--plot CURVES.svg|.png]
        [--timing-pool 20000] [--random-state 0] [--cache-dir DIR] [--backbone NAME] [--quiet]
        [--language en|zh|multi] [--features hybrid|embeddings]
    python -m mlcore.bench noise --dataset FILE.jsonl --noise 0.1 --kind symmetric|confusable --seeds 3
        --out RESULT.json [--filter-by both] [--timing-items 20000] (see mlcore/noise_bench.py)
    python -m mlcore.bench distill --dataset FILE.jsonl --labels N|all --teacher head --student static_head,text_cnn
        --out RESULT.json [--seeds 3] [--temperature 2 --alpha 0.5 --confidence 0] (see mlcore/distill_bench.py)
    python -m mlcore.bench augment --dataset FILE.jsonl --per-class 20 --ops 'synonym;swap;synonym+swap'
        --model text_cnn|head|teacher --out RESULT.json [--seeds 3] [--copies 4] [--filter both] [--uda]
        (see mlcore/augment_bench.py)

`train --model head` and `al --head default` use the hybrid fast head (embeddings and a bag of words of the
texts, `mlcore.features`); `train --model head` also reports `baselines` on the same split: TF-IDF + LR
and the embedding-only head. `--language` picks the bag of words' tokenization (jieba words for zh).

Dataset lines are {"text": ..., "label": ..., "split": "train" | "test" | ...}. Each subcommand is
one entry of `SUBCOMMANDS` (name -> (add_arguments, run)); `run(args)` returns the exit status.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, adjusted_rand_score, f1_score, normalized_mutual_info_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from mlcore.augment_bench import add_augment_arguments, run_augment
from mlcore.clustering import TextClusterer, cluster_keywords
from mlcore.datasets import read_rows
from mlcore.distill_bench import add_distill_arguments, run_distill
from mlcore.encoders import DEFAULT_BACKBONE, TextEncoder
from mlcore.features import LANGUAGES, HybridInputs, TextFeaturizer, language_family, word_tokens
from mlcore.noise_bench import add_noise_arguments, run_noise
from mlcore.semi_supervised import NeighbourGraph, neighbour_graph, reorder_graph

DEFAULT_CACHE_DIR = Path("~/.cache/labelloop/embeddings")
KEYWORDS_PER_CLUSTER = 8

# --- datasets and the embedding cache -----------------------------------------------------------


def read_jsonl_split(path: Path, split: str, *, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) of the rows of `split`, in file order; the first `limit` rows when given."""
    rows = [row for row in read_rows(path) if row.get("split") == split][:limit]
    if not rows:
        raise ValueError(f"{path}: no rows with split={split!r}")
    return [row["text"] for row in rows], [str(row["label"]) for row in rows]


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
    """(n, dim) float32 embeddings of `texts` and whether they came from the cache (none embedded now).

    Stored as float16 .npy; fresh embeddings are rounded through float16 too, so a first run and a
    cached run cluster exactly the same vectors. When the exact list is not cached, rows already
    embedded by the same encoder version in other cache files are reused (`CacheIndex`) and only the
    texts found nowhere are embedded: a subset of a cached set (a long-tail variant) costs nothing.
    """
    path = cache_dir / f"{embedding_cache_key(texts, encoder.version)}.npy"
    hashes = text_hashes(texts)
    if path.is_file():
        if not _sidecar_path(path).is_file():
            _save_sidecar(path, encoder.version, hashes)  # files written before sidecars existed join the index
        return np.load(path).astype(np.float32), True
    half, found = CacheIndex(cache_dir, encoder.version).rows(hashes)
    missing = np.flatnonzero(~found)
    if len(missing):
        fresh = encoder.embed([texts[row] for row in missing], progress=progress).astype(np.float16)
        if half is None:
            half = np.zeros((len(texts), fresh.shape[1]), dtype=np.float16)
        half[missing] = fresh
    elif half is None:  # no texts at all
        half = encoder.embed(list(texts), progress=progress).astype(np.float16)
    _save_atomically(path, half)
    _save_sidecar(path, encoder.version, hashes)
    return half.astype(np.float32), not len(missing)


TEXT_HASH_BYTES = 16  # blake2b-128 per text: a collision among millions of texts is out of reach
SIDECAR_SUFFIX = ".index.npz"


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """(n, TEXT_HASH_BYTES) uint8: one hash per text, the key a cached row is found by."""
    hashes = np.empty((len(texts), TEXT_HASH_BYTES), dtype=np.uint8)
    for row, text in enumerate(texts):
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=TEXT_HASH_BYTES).digest()
        hashes[row] = np.frombuffer(digest, dtype=np.uint8)
    return hashes


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".npy") + SIDECAR_SUFFIX)


def _save_sidecar(path: Path, encoder_version: str, hashes: np.ndarray) -> None:
    # The sidecar says which encoder made the file and which text each row embeds.
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, encoder_version=np.array(encoder_version), text_hashes=hashes)
        os.replace(temporary, _sidecar_path(path))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CacheIndex:
    """Every row cached under `cache_dir` by one encoder version, found by its text's hash.

    Reads the sidecars (`<key>.index.npz`: the encoder version and one hash per row) of the cache
    files; a file without one (written before sidecars existed) or of another version is not used.
    """

    def __init__(self, cache_dir: Path, encoder_version: str) -> None:
        self.cache_dir = cache_dir
        self.encoder_version = encoder_version

    def _files(self) -> list[tuple[Path, np.ndarray]]:
        files = []
        for sidecar in sorted(self.cache_dir.glob(f"*{SIDECAR_SUFFIX}")) if self.cache_dir.is_dir() else []:
            path = sidecar.with_name(sidecar.name.removesuffix(SIDECAR_SUFFIX) + ".npy")
            try:
                with np.load(sidecar, allow_pickle=False) as index:
                    if str(index["encoder_version"]) != self.encoder_version:
                        continue
                    hashes = index["text_hashes"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged sidecar only costs a re-embedding
            if path.is_file():
                files.append((path, hashes))
        return files

    def rows(self, hashes: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(float16 rows or None when nothing is found, (n,) bool found) for texts given by `text_hashes`."""
        wanted: dict[bytes, list[int]] = {}
        for row, key in enumerate(hashes):
            wanted.setdefault(key.tobytes(), []).append(row)
        found = np.zeros(len(hashes), dtype=bool)
        result = None
        for path, cached in self._files():
            if found.all():
                break
            pairs = [
                (source, target)
                for source, key in enumerate(cached)
                for target in wanted.get(key.tobytes(), ())
                if not found[target]
            ]
            if not pairs:
                continue
            array = np.load(path, mmap_mode="r")
            if array.shape[0] != len(cached):
                continue
            if result is None:
                result = np.zeros((len(hashes), array.shape[1]), dtype=np.float16)
            sources, targets = (np.array(column) for column in zip(*pairs, strict=True))
            result[targets] = array[sources]
            found[targets] = True
        return result, found


@dataclass(frozen=True)
class EmbeddedDataset:
    """A dataset's train and test splits, embedded by one encoder through the cache."""

    train: np.ndarray
    train_gold: list[str]
    test: np.ndarray
    test_gold: list[str]
    encoder_version: str
    from_cache: bool
    train_texts: tuple[str, ...] = ()
    test_texts: tuple[str, ...] = ()

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.train_gold) | set(self.test_gold))


def embedded_dataset(args: argparse.Namespace) -> EmbeddedDataset:
    """Read --dataset's train and test rows and embed them with --backbone, cached under --cache-dir."""
    train_texts, train_gold = read_jsonl_split(args.dataset, "train")
    test_texts, test_gold = read_jsonl_split(args.dataset, "test")
    encoder = TextEncoder.load(args.backbone)
    progress = None if getattr(args, "quiet", False) else _print_progress
    cache_dir = args.cache_dir.expanduser()
    train, train_cached = cached_embeddings(encoder, train_texts, cache_dir, progress=progress)
    test, test_cached = cached_embeddings(encoder, test_texts, cache_dir, progress=progress)
    return EmbeddedDataset(
        train,
        train_gold,
        test,
        test_gold,
        encoder.version,
        train_cached and test_cached,
        tuple(train_texts),
        tuple(test_texts),
    )


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
    _add_language_argument(parser)


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

    keywords = cluster_keywords(texts, clusterer.labels_, language=args.language, top_n=KEYWORDS_PER_CLUSTER)
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
        "language": args.language,
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
FEATURE_CHOICES = ("hybrid", "embeddings")
TEXTCNN_TOKENIZATIONS = ("wordpiece", "char")
# The bag-of-words reference of issue 22: TF-IDF of word 1-2 grams (sublinear tf, min_df 2; jieba words
# for Chinese) and the head's logistic regression (C=10), fit on the same train split.
BASELINE_C = 10.0
# Train options that go to the model's constructor under the same name (`--batch-size` -> batch_size).
MODEL_OPTIONS = ("epochs", "batch_size", "long_texts", "window_stride", "learning_rate", "layer_decay")
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
    parser.add_argument(
        "--long-texts", default=None, help="teacher: truncate, head_tail or sliding_window; default the model's own"
    )
    parser.add_argument("--window-stride", type=int, default=None, help="teacher: tokens between windows")
    parser.add_argument("--learning-rate", type=float, default=None, help="the optimiser's (teacher: backbone's) rate")
    parser.add_argument("--layer-decay", type=float, default=None, help="teacher: layer-wise learning-rate decay")
    parser.add_argument("--head", choices=HEAD_CHOICES, default=None, help="--model head only (default lr)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache (--model head)")
    parser.add_argument(
        "--backbone", default=None, help=f"encoder (head) or tokenizer/model backbone; default {DEFAULT_BACKBONE}"
    )
    parser.add_argument("--device", default="cpu", help="torch device for training and inference (default cpu)")
    _add_language_argument(parser)
    parser.add_argument(
        "--features",
        choices=FEATURE_CHOICES,
        default=None,
        help="--model head: hybrid (embeddings and a bag of words, the default) or embeddings alone",
    )
    parser.add_argument(
        "--inference-texts",
        type=int,
        default=None,
        help="time inference on the first N test texts only (--model head: the score then uses all test texts, "
        "embedded through the cache); default all",
    )
    parser.add_argument(
        "--tokenization",
        choices=TEXTCNN_TOKENIZATIONS,
        default=None,
        help="--model textcnn: wordpiece or char (default: char for --language zh, else the model's own)",
    )
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output on stderr")


def _add_language_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--language",
        type=_language,
        default="en",
        help=f"the texts' language, one of {', '.join(LANGUAGES)}: tokenization of the bag of words and keywords",
    )


def _language(value: str) -> str:
    try:
        return language_family(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    names = list(MODEL_OPTIONS)
    if cls.input_type == "embeddings":
        params["head"] = args.head or "lr"  # --max-len and --backbone go to the encoder
        features = getattr(args, "features", None)
        if params["head"] != "lr" and features == "hybrid":
            raise ValueError(f"--features hybrid needs --head lr: the {params['head']} head reads embeddings only")
        params["features"] = features or ("hybrid" if params["head"] == "lr" else "embeddings")
        params["language"] = getattr(args, "language", "en")
    elif args.head is not None:
        raise ValueError(f"--head does not apply to --model {args.model}")
    else:
        names += ["max_len", "backbone"]
    if cls.input_type != "embeddings" and getattr(args, "features", None) is not None:
        raise ValueError(f"--features does not apply to --model {args.model}")
    if "tokenization" in accepted:
        tokenization = getattr(args, "tokenization", None)
        if tokenization is None and getattr(args, "language", "en") == "zh":
            tokenization = "char"  # word pieces of an English vocabulary do not read Chinese
        if tokenization is not None:
            params["tokenization"] = tokenization
    elif getattr(args, "tokenization", None) is not None:
        raise ValueError(f"--tokenization does not apply to --model {args.model}")
    for name in names:
        option, value = "--" + name.replace("_", "-"), getattr(args, name)
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
    if getattr(args, "inference_texts", None) is not None and args.inference_texts < 1:
        raise ValueError(f"--inference-texts must be >= 1; got {args.inference_texts}")
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
    hybrid = cls.input_type == "embeddings" and params.get("features") == "hybrid" and params.get("head") == "lr"
    if cls.input_type == "embeddings":
        encoder_options = {} if args.max_len is None else {"max_length": args.max_len}
        encoder = TextEncoder.load(args.backbone or DEFAULT_BACKBONE, device=args.device, **encoder_options)
        embed_progress = None if quiet else _print_progress
        started = time.perf_counter()
        train_embeddings, from_cache = cached_embeddings(
            encoder, train_texts, args.cache_dir.expanduser(), progress=embed_progress
        )
        extra = {
            "encoder": encoder.version,
            "embed_train_seconds": round(time.perf_counter() - started, 3),
            "embeddings_from_cache": from_cache,
        }
        # A hybrid head fits its bag of words on the train texts inside `fit` (timed with it).
        train_inputs = HybridInputs(train_texts, train_embeddings) if hybrid else train_embeddings
        test_embeddings: list[np.ndarray] = []

        def predict_proba(texts: list[str]) -> np.ndarray:
            embeddings = encoder.embed(texts, progress=embed_progress)
            test_embeddings.append(embeddings)
            return model.predict_proba(HybridInputs(texts, embeddings) if hybrid else embeddings)
    else:
        train_inputs, predict_proba = train_texts, model.predict_proba

    started = time.perf_counter()
    model.fit(train_inputs, train_labels, on_progress=None if quiet else _print_fraction)
    train_seconds = time.perf_counter() - started

    limit = getattr(args, "inference_texts", None)
    timed_texts = test_texts if limit is None else test_texts[:limit]
    started = time.perf_counter()
    probabilities = predict_proba(timed_texts)
    inference_seconds = time.perf_counter() - started
    if len(timed_texts) < len(test_texts) and cls.input_type != "embeddings":
        probabilities = model.predict_proba(test_texts)
    elif len(timed_texts) < len(test_texts):
        # Scored on every test text: embedded through the cache (a slow encoder on a busy machine would
        # spend most of the run re-embedding texts only to time it).
        test_inputs, _ = cached_embeddings(encoder, test_texts, args.cache_dir.expanduser(), progress=embed_progress)
        test_embeddings[:] = [test_inputs]
        probabilities = model.predict_proba(HybridInputs(test_texts, test_inputs) if hybrid else test_inputs)
        extra["test_embeddings_from_cache"] = True
    predicted = [str(label) for label in model.classes_[probabilities.argmax(axis=1)]]
    if cls.input_type == "embeddings":
        extra["baselines"], extra["baseline_seconds"] = head_baselines(
            (train_texts, train_embeddings, train_labels),
            (test_texts, test_embeddings[0], test_labels),
            language=args.language,
            C=model.C,
            random_state=args.random_state,
        )
        extra["baselines_detail"] = BASELINES_DETAIL
        if hybrid:
            extra["featurizer"] = {
                "params": model.featurizer_.get_params(),
                "n_features": model.featurizer_.n_features,
            }

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
        "texts_per_second": round(len(timed_texts) / max(inference_seconds, 1e-9), 2),
        "inference_texts": len(timed_texts),
        "inference_timed": timed,
        "inference_timed_detail": timed_detail,
        **extra,
        "device": args.device,
        **machine,
        "random_state": args.random_state,
    }


BASELINES_DETAIL = {
    "tfidf_lr": "TF-IDF of word 1-2 grams (sublinear tf, min_df 2, fit on the train texts; jieba words for zh) "
    "+ LogisticRegression(C=10)",
    "embedding_lr": "FastHead(features='embeddings'): the LR head on the same embeddings alone",
}


def tfidf_lr_f1(
    train: tuple[Sequence[str], Sequence[str]], test: tuple[Sequence[str], Sequence[str]], *, language: str, C: float
) -> float:
    """Macro-F1 of TF-IDF (word 1-2 grams, sublinear tf, min_df 2) + LogisticRegression on the test split."""
    family = language_family(language)
    vectorizer = TfidfVectorizer(
        analyzer=lambda text: _word_bigrams(word_tokens(text, family)), sublinear_tf=True, min_df=2
    )
    features = vectorizer.fit_transform(train[0])
    model = LogisticRegression(C=C, max_iter=1000).fit(features, list(train[1]))
    return _macro_f1(test[1], model.predict(vectorizer.transform(test[0])).tolist())


def _word_bigrams(tokens: list[str]) -> list[str]:
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def _macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    labels = sorted(set(gold) | set(predicted))
    return float(f1_score(list(gold), list(predicted), labels=labels, average="macro", zero_division=0))


def head_baselines(
    train: tuple[Sequence[str], np.ndarray, Sequence[str]],
    test: tuple[Sequence[str], np.ndarray, Sequence[str]],
    *,
    language: str,
    C: float,
    random_state: int,
) -> tuple[dict, dict]:
    """({"tfidf_lr": macro-F1, "embedding_lr": macro-F1}, seconds of each) on the same split."""
    from mlcore.models import FastHead

    started = time.perf_counter()
    tfidf = tfidf_lr_f1((train[0], train[2]), (test[0], test[2]), language=language, C=C)
    tfidf_seconds = time.perf_counter() - started
    started = time.perf_counter()
    head = FastHead(features="embeddings", C=C, random_state=random_state).fit(train[1], list(train[2]))
    embedding = _macro_f1(test[2], [str(label) for label in head.predict(test[1])])
    scores = {"tfidf_lr": round(tfidf, 4), "embedding_lr": round(embedding, 4)}
    return scores, {"tfidf_lr": round(tfidf_seconds, 3), "embedding_lr": round(time.perf_counter() - started, 3)}


def _run_train(args: argparse.Namespace) -> int:
    result = train_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(
        f"train {args.dataset.name} {args.model}: n_train={result['n_train']} n_test={result['n_test']} "
        f"macro_f1={result['macro_f1']:.3f} accuracy={result['accuracy']:.3f} train={result['train_seconds']:.1f}s "
        f"inference={result['texts_per_second']:.1f} texts/s ({result['inference_timed']}, "
        f"{result['torch_threads']} threads)"
        + (
            "".join(f" {name}={value:.3f}" for name, value in result["baselines"].items())
            if "baselines" in result
            else ""
        )
    )
    return 0


# --- al (active-learning simulation) ------------------------------------------------------------

AL_HEADS = ("lr", "default")
# Where the pool is timed for the "query + retrain under 2 s" target: a pool of this many rows.
AL_TIMING_POOL = 20_000
# "Within 1 point of the full-pool F1": macro-F1 points are hundredths.
FULL_F1_TOLERANCE = 0.01


def _add_al_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument(
        "--strategies", default="random,default", help="comma-separated strategy names; 'default' = the project's"
    )
    parser.add_argument("--init", type=int, default=100, help="random labels before the first query")
    parser.add_argument("--batch", type=int, default=50, help="labels per query round")
    parser.add_argument("--budget", type=int, default=2000, help="stop at this many labels")
    parser.add_argument("--seeds", type=int, default=3, help="runs per strategy (seeds random-state, +1, ...)")
    parser.add_argument("--random-state", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--head", choices=AL_HEADS, default="default", help="lr: LogisticRegression C=10; default: FastHead()"
    )
    parser.add_argument("--plot", type=Path, default=None, help="learning curves as .svg (or .png with matplotlib)")
    parser.add_argument(
        "--timing-pool", type=int, default=AL_TIMING_POOL, help="pool rows of the timed round; 0 times no round"
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="packaged model name or local model directory")
    _add_language_argument(parser)
    parser.add_argument(
        "--features",
        choices=FEATURE_CHOICES,
        default="hybrid",
        help="--head default: hybrid (embeddings and a bag of words of the texts) or embeddings alone",
    )
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output on stderr")


def _al_head(head: str, random_state: int, language: str = "en"):
    """The fast head the loop retrains every round: --head lr pins the reference setup (C=10, labels only,
    embeddings only, no logit adjustment); --head default is a new project's head, which also learns from the pool
    (self-training) and, given `HybridInputs`, from the texts' bag of words."""
    from mlcore.models import FastHead

    if head == "lr":
        # The peers' plain regression: no self-training, no words, no correction for skewed labels.
        return FastHead(
            head="lr",
            C=10.0,
            self_training=None,
            features="embeddings",
            logit_adjustment=0.0,
            random_state=random_state,
        )
    return FastHead(random_state=random_state, language=language)


def _embeddings(inputs: np.ndarray | HybridInputs) -> np.ndarray:
    return inputs.embeddings if isinstance(inputs, HybridInputs) else inputs


def _rows(inputs: np.ndarray | HybridInputs, rows: np.ndarray) -> np.ndarray | HybridInputs:
    return inputs.take(rows) if isinstance(inputs, HybridInputs) else inputs[rows]


def hybrid_view(featurizer: TextFeaturizer, texts: Sequence[str], embeddings: np.ndarray) -> tuple[HybridInputs, float]:
    """(texts and embeddings with the featurizer's rows of the texts, seconds of the transform)."""
    started = time.perf_counter()
    words = featurizer.transform(texts)
    return HybridInputs(list(texts), embeddings, words), time.perf_counter() - started


def _macro_f1_and_per_class(model, inputs: np.ndarray, gold: np.ndarray, classes: list[str]) -> tuple[float, dict]:
    predicted = np.asarray(model.classes_)[model.predict_proba(inputs).argmax(axis=1)]
    per_class = f1_score(gold, predicted, labels=classes, average=None, zero_division=0)
    return float(per_class.mean()), dict(zip(classes, per_class.tolist(), strict=True))


def initial_labels(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random rows, at least two classes among them (a classifier needs two)."""
    chosen = rng.choice(len(labels), size=min(n, len(labels)), replace=False)
    if len(set(labels[chosen])) < 2 and len(set(labels)) > 1 and len(chosen) > 1:
        other = np.flatnonzero(labels != labels[chosen[0]])
        chosen[-1] = rng.choice(other)
    return chosen


def simulate_active_learning(
    train: np.ndarray | HybridInputs,
    train_labels: np.ndarray,
    test: np.ndarray | HybridInputs,
    test_labels: np.ndarray,
    strategy: str,
    *,
    init: int,
    batch: int,
    budget: int,
    seed: int,
    head: str = "default",
    train_graph: NeighbourGraph | None = None,
    featurizer: TextFeaturizer | None = None,
    language: str = "en",
    on_round: Callable[[int, float], None] | None = None,
) -> dict:
    """One run of the loop with the gold labels as the oracle.

    Returns {labels: [...], f1: [...], query_seconds: [...]}: the macro-F1 on the test split after
    the initial labels and after every batch, until `budget` labels. The strategy sees what the web
    app would: the unlabeled rows' embeddings and probabilities, the labeled embeddings, and the
    per-class F1 of the current and the previous model on the test split.

    `train` and `test` are embeddings, or `HybridInputs` whose words `featurizer` computed once (the
    hybrid head of --head default then reads them every round; the graph stays on the embeddings).
    `on_round(labels, f1)` is called after every evaluation (progress of a long run).
    """
    from mlcore.active_learning import QueryPool, make_strategy

    classes = sorted(set(train_labels.tolist()) | set(test_labels.tolist()))
    rng = np.random.default_rng(seed)
    labeled = np.zeros(len(train), dtype=bool)
    labeled[initial_labels(train_labels, init, rng)] = True
    curve: dict[str, list] = {"labels": [], "f1": [], "query_seconds": []}
    previous_f1: dict | None = None
    embeddings = _embeddings(train)
    graph = train_graph if train_graph is not None or head == "lr" else neighbour_graph(embeddings)
    hybrid = head != "lr" and isinstance(train, HybridInputs)
    if not hybrid:
        test = _embeddings(test)
    for round_number in range(len(train)):
        order = np.concatenate([np.flatnonzero(labeled), np.flatnonzero(~labeled)])
        model = _al_head(head, seed, language).fit(
            _rows(train, labeled) if hybrid else embeddings[labeled],
            train_labels[labeled].tolist(),
            unlabeled=_rows(train, ~labeled) if hybrid else embeddings[~labeled],
            graph=None if graph is None else reorder_graph(graph, order),
            **({"featurizer": featurizer} if hybrid and featurizer is not None else {}),
        )
        f1, per_class = _macro_f1_and_per_class(model, test, test_labels, classes)
        curve["labels"].append(int(labeled.sum()))
        curve["f1"].append(f1)
        if on_round is not None:
            on_round(int(labeled.sum()), f1)
        if labeled.sum() >= min(budget, len(train)):
            break
        pool_rows = np.flatnonzero(~labeled)
        query_head = model.labels_only_  # the queue reads uncertainty from the labels alone, as the app does
        pool = QueryPool(
            embeddings=embeddings[pool_rows],
            probabilities=query_head.predict_proba(_rows(train, pool_rows) if hybrid else embeddings[pool_rows]),
            labeled_embeddings=embeddings[labeled],
            classes=[str(c) for c in query_head.classes_],
            class_f1=per_class,
            class_f1_previous=previous_f1,
            class_counts=dict(Counter(train_labels[labeled].tolist())),
            model_prior=query_head.class_prior_,
        )
        started = time.perf_counter()
        picked = make_strategy(strategy, random_state=seed * 10_000 + round_number).query(
            pool, min(batch, budget - int(labeled.sum()))
        )
        curve["query_seconds"].append(time.perf_counter() - started)
        if len(set(picked.tolist())) != len(picked) or np.any(labeled[pool_rows[picked]]):
            raise RuntimeError(f"strategy {strategy!r} returned a repeated or already labeled row")
        labeled[pool_rows[picked]] = True
        previous_f1 = per_class
    return curve


def time_query_round(
    train: np.ndarray | HybridInputs,
    train_labels: np.ndarray,
    strategy: str,
    *,
    pool_size: int,
    labeled: int,
    batch: int,
    head: str,
    featurizer: TextFeaturizer | None = None,
    language: str = "en",
) -> tuple[float, float | None]:
    """(seconds of one round: retrain on `labeled` rows, predict the pool, query; seconds to build the
    neighbour graph of labeled + pool rows, None for the labels-only head) with a `pool_size`-row pool.

    The graph depends on the embeddings only, so it is built once per pool, not every round; so do a
    hybrid head's words (`featurizer`'s rows of the texts, computed once: see `time_featurizer`).
    The pool is the train embeddings repeated to `pool_size` rows with a little seeded noise, so
    duplicates do not make k-means or the neighbour search unrealistically easy (texts and words repeat).
    """
    from mlcore.active_learning import QueryPool, make_strategy

    embeddings = _embeddings(train)
    hybrid = head != "lr" and isinstance(train, HybridInputs)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(train), size=min(labeled, len(train) - 1), replace=False)
    picked = rng.integers(len(train), size=pool_size)
    pool = embeddings[picked] + rng.normal(0, 0.01, (pool_size, embeddings.shape[1]))
    pool = (pool / np.linalg.norm(pool, axis=1, keepdims=True)).astype(np.float32)
    graph, graph_seconds = None, None
    if head != "lr":
        started = time.perf_counter()
        graph = neighbour_graph(np.concatenate([embeddings[rows], pool]))
        graph_seconds = time.perf_counter() - started
    labeled_inputs, pool_inputs, options = embeddings[rows], pool, {}
    if hybrid:
        source = train.take(picked)
        labeled_inputs, pool_inputs = train.take(rows), HybridInputs(source.texts, pool, source.words)
        options = {"featurizer": featurizer} if featurizer is not None else {}
    started = time.perf_counter()
    model = _al_head(head, 0, language).fit(
        labeled_inputs, train_labels[rows].tolist(), unlabeled=pool_inputs, graph=graph, **options
    )
    model.predict_proba(pool_inputs)  # the suggestions
    probabilities = model.labels_only_.predict_proba(pool_inputs)  # the queue's uncertainty
    query_pool = QueryPool(embeddings=pool, probabilities=probabilities, labeled_embeddings=embeddings[rows])
    make_strategy(strategy, random_state=0).query(query_pool, batch)
    return time.perf_counter() - started, graph_seconds


def time_featurizer(texts: Sequence[str], pool_size: int, language: str) -> dict:
    """Seconds to fit a `TextFeaturizer` on a `pool_size`-row pool (the texts repeated) and to transform
    it: what a hybrid head costs once per pool, before the rounds."""
    pool = [texts[i % len(texts)] for i in range(pool_size)]
    started = time.perf_counter()
    featurizer = TextFeaturizer(language=language).fit(pool)
    fitted = time.perf_counter()
    featurizer.transform(pool)
    done = time.perf_counter()
    return {"fit_seconds": round(fitted - started, 3), "transform_seconds": round(done - fitted, 3)}


def summarize_curves(runs: list[dict], full_f1: float) -> dict:
    """Mean curve over seeded runs: labels, f1, area (mean F1 over the curve), labels_to_full, query_seconds."""
    length = min(len(run["labels"]) for run in runs)
    labels = runs[0]["labels"][:length]
    f1 = np.mean([run["f1"][:length] for run in runs], axis=0)
    reached = np.flatnonzero(f1 >= full_f1 - FULL_F1_TOLERANCE)
    query_times = [seconds for run in runs for seconds in run["query_seconds"]]
    return {
        "labels": labels,
        "f1": [round(float(value), 4) for value in f1],
        "area": round(float(f1.mean()), 4),
        "labels_to_full": int(labels[reached[0]]) if len(reached) else None,
        "query_seconds": round(float(np.mean(query_times)), 4) if query_times else 0.0,
        "area_per_seed": [round(float(np.mean(run["f1"][:length])), 4) for run in runs],
    }


def f1_at(summary: dict, n_labels: int) -> float | None:
    """The mean F1 at the first curve point with at least `n_labels` labels (None past the curve)."""
    for count, value in zip(summary["labels"], summary["f1"], strict=True):
        if count >= n_labels:
            return value
    return None


def al_benchmark(args: argparse.Namespace) -> dict:
    """Simulate the labeling loop for every strategy on the train split; the result as a JSON-ready dict."""
    from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES

    names = [name.strip() for name in args.strategies.split(",") if name.strip()]
    unknown = [name for name in names if name != "default" and name not in STRATEGIES]
    if not names or unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from default, {', '.join(sorted(STRATEGIES))}")
    for option in ("init", "batch", "budget", "seeds"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option} must be >= 1; got {getattr(args, option)}")
    if args.timing_pool < 0:
        raise ValueError(f"--timing-pool must be >= 0 (0: time no round); got {args.timing_pool}")
    machine = _machine()
    dataset = embedded_dataset(args)
    train, train_gold, test = dataset.train, dataset.train_gold, dataset.test
    train_labels, test_labels = np.array(train_gold), np.array(dataset.test_gold)
    classes = dataset.classes

    seeds = [args.random_state + i for i in range(args.seeds)]
    language = getattr(args, "language", "en")
    featurizer, featurizer_info = None, None
    if args.head == "default" and getattr(args, "features", "hybrid") == "hybrid":
        # The bag of words of the pool (the train split) is fit and computed once, as the app does per
        # rescoring; every round's head reads the rows it needs. The test texts are only transformed.
        started = time.perf_counter()
        featurizer = TextFeaturizer(language=language).fit(dataset.train_texts)
        fit_seconds = time.perf_counter() - started
        train, train_seconds = hybrid_view(featurizer, dataset.train_texts, train)
        test, _ = hybrid_view(featurizer, dataset.test_texts, test)
        featurizer_info = {
            "params": featurizer.get_params(),
            "n_features": featurizer.n_features,
            "fit_seconds": round(fit_seconds, 3),
            "transform_train_seconds": round(train_seconds, 3),
        }
    data = (train, train_labels, test, test_labels, featurizer)
    # One BLAS thread: a round's matrices are small, and BLAS threads waiting on each other cost more than
    # they gain (LogisticRegression on 2,000 x 384: 0.5 s on one thread, 5.7 s on two on a busy 2-core VM).
    with threadpool_limits(limits=1, user_api="blas"):
        extra = {"featurizer": featurizer} if featurizer is not None else {}
        full_model = _al_head(args.head, args.random_state, language).fit(train, train_gold, **extra)
        full_f1, _ = _macro_f1_and_per_class(full_model, test, test_labels, classes)
        results = {name: _strategy_summary(name, args, data, full_f1, seeds) for name in names}
        if featurizer is not None and args.timing_pool > 0:
            featurizer_info["at_timing_pool"] = time_featurizer(dataset.train_texts, args.timing_pool, language)
    return {
        "dataset": str(args.dataset),
        "n_train": len(train_gold),
        "n_test": len(dataset.test_gold),
        "n_classes": len(classes),
        "encoder": dataset.encoder_version,
        "embeddings_from_cache": dataset.from_cache,
        "head": args.head,
        "head_params": full_model.get_params(),
        "language": language,
        "features": "hybrid" if featurizer is not None else "embeddings",
        "featurizer": featurizer_info,
        "init": args.init,
        "batch": args.batch,
        "budget": args.budget,
        "seeds": seeds,
        "default_strategy": DEFAULT_STRATEGY,
        "full_f1": round(full_f1, 4),
        "full_f1_tolerance": FULL_F1_TOLERANCE,
        "timing_pool": args.timing_pool,
        "round_seconds_timed": "retrain on --budget labels + predict + query, pool of --timing-pool rows",
        "blas_threads": 1,
        "strategies": results,
        **machine,
    }


def _round_printer(name: str, seed: int) -> Callable[[int, float], None]:
    started = time.perf_counter()

    def report(labels: int, f1: float) -> None:
        elapsed = time.perf_counter() - started
        print(f"al {name} seed {seed}: {labels} labels f1={f1:.4f} ({elapsed:.0f}s)", file=sys.stderr, flush=True)

    return report


def _strategy_summary(name: str, args: argparse.Namespace, data: tuple, full_f1: float, seeds: list[int]) -> dict:
    """One strategy's runs over the seeds, summarised, with the timed round on a --timing-pool pool."""
    from mlcore.active_learning import DEFAULT_STRATEGY

    train, train_labels, test, test_labels, featurizer = data
    language = getattr(args, "language", "en")
    # The same for every seed and round: it depends on the embeddings only.
    graph = neighbour_graph(_embeddings(train)) if args.head != "lr" else None
    runs = []
    for seed in seeds:
        started = time.perf_counter()
        loop = {"init": args.init, "batch": args.batch, "budget": args.budget, "seed": seed, "head": args.head}
        loop |= {"train_graph": graph, "featurizer": featurizer, "language": language}
        if not getattr(args, "quiet", False):
            loop["on_round"] = _round_printer(name, seed)
        runs.append(simulate_active_learning(train, train_labels, test, test_labels, name, **loop))
        if not getattr(args, "quiet", False):
            print(
                f"al {name} seed {seed}: area={np.mean(runs[-1]['f1']):.4f} ({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    summary = summarize_curves(runs, full_f1)
    summary["round_seconds_at_pool"] = None  # --timing-pool 0: no timed round
    if args.timing_pool > 0:
        timing = {"pool_size": args.timing_pool, "labeled": args.budget, "batch": args.batch, "head": args.head}
        timing |= {"featurizer": featurizer, "language": language}
        round_seconds, graph_seconds = time_query_round(train, train_labels, name, **timing)
        summary["round_seconds_at_pool"] = round(round_seconds, 3)
        if graph_seconds is not None:
            summary["graph_seconds_at_pool"] = round(graph_seconds, 3)
    if name == "default":
        summary["resolves_to"] = DEFAULT_STRATEGY
    return summary


# Colour-blind-safe palette (Okabe-Ito) for the curves.
_CURVE_COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442")


def curves_svg(result: dict, *, width: int = 720, height: int = 440) -> str:
    """The mean learning curves of an `al` result as an SVG line chart (labels -> macro-F1)."""
    left, right, top, bottom = 60, 190, 30, 50
    curves = result["strategies"]
    all_f1 = [value for summary in curves.values() for value in summary["f1"]] + [result["full_f1"]]
    all_labels = [count for summary in curves.values() for count in summary["labels"]]
    y_low, y_high = np.floor(min(all_f1) * 20) / 20, np.ceil(max(all_f1) * 20) / 20 + 1e-9
    x_low, x_high = 0, max(all_labels)

    def x(value: float) -> float:
        return left + (value - x_low) / max(x_high - x_low, 1) * (width - left - right)

    def y(value: float) -> float:
        return top + (y_high - value) / max(y_high - y_low, 1e-9) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">{Path(result["dataset"]).name}: macro-F1 on the test split, '
        f"head {result['head']}, mean of {len(result['seeds'])} seeds</text>",
    ]
    for tick in np.arange(y_low, y_high, 0.05):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    step = 500 if x_high > 1500 else 100 if x_high > 300 else 10
    for tick in range(0, x_high + 1, step):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{tick}</text>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle">labels</text>')
    full = y(result["full_f1"])
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{full:.1f}" y2="{full:.1f}" stroke="#888" stroke-dasharray="6 4"/>'
    )
    parts.append(
        f'<text x="{width - right + 8}" y="{full + 4:.1f}" fill="#555">full pool {result["full_f1"]:.3f}</text>'
    )
    for i, (name, summary) in enumerate(curves.items()):
        colour = _CURVE_COLOURS[i % len(_CURVE_COLOURS)]
        points = " ".join(f"{x(c):.1f},{y(f):.1f}" for c, f in zip(summary["labels"], summary["f1"], strict=True))
        dash = ' stroke-dasharray="4 3"' if i >= len(_CURVE_COLOURS) else ""
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        legend_y = top + 20 + 18 * i
        parts.append(
            f'<line x1="{width - right + 8}" x2="{width - right + 28}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="3"{dash}/>'
        )
        parts.append(f'<text x="{width - right + 34}" y="{legend_y}">{name} ({summary["area"]:.3f})</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_curves(result: dict, path: Path) -> None:
    """The curve plot: SVG for .svg; for .png matplotlib when installed, else a plain raster of the curves.

    The raster has no text (no font without matplotlib); an SVG with the labels is written beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".svg":
        path.write_text(curves_svg(result), encoding="utf-8")
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path.write_bytes(curves_png(result))
        path.with_suffix(".svg").write_text(curves_svg(result), encoding="utf-8")
        return
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, summary in result["strategies"].items():
        axes.plot(summary["labels"], summary["f1"], label=f"{name} ({summary['area']:.3f})")
    axes.axhline(result["full_f1"], color="grey", linestyle="--", label=f"full pool {result['full_f1']:.3f}")
    axes.set_xlabel("labels")
    axes.set_ylabel("macro-F1 (test)")
    axes.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def curves_png(result: dict, *, width: int = 720, height: int = 440) -> bytes:
    """The curves of `curves_svg` rasterised with numpy alone: same geometry and colours, no text."""
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    svg = curves_svg(result, width=width, height=height)
    for line in svg.splitlines():
        colour = _svg_attribute(line, "stroke")
        if colour is None or not colour.startswith("#"):
            continue
        rgb = [int(colour[part] * (2 if len(colour) == 4 else 1), 16) for part in _hex_slices(colour)]
        if line.startswith("<polyline"):
            coordinates = [tuple(map(float, pair.split(","))) for pair in _svg_attribute(line, "points").split()]
        elif line.startswith("<line"):
            coordinates = [(float(_svg_attribute(line, f"x{i}")), float(_svg_attribute(line, f"y{i}"))) for i in (1, 2)]
        else:
            continue
        thickness = 2 if line.startswith("<polyline") else 1
        for (x0, y0), (x1, y1) in itertools.pairwise(coordinates):
            steps = int(max(abs(x1 - x0), abs(y1 - y0))) * 2 + 2
            xs = np.clip(np.rint(np.linspace(x0, x1, steps)).astype(int), 0, width - 1)
            ys = np.clip(np.rint(np.linspace(y0, y1, steps)).astype(int), 0, height - 1)
            for offset in range(thickness):
                canvas[np.clip(ys + offset, 0, height - 1), xs] = rgb
    return _png_bytes(canvas)


def _hex_slices(colour: str) -> tuple[slice, ...]:
    if len(colour) == 4:  # "#ddd"
        return (slice(1, 2), slice(2, 3), slice(3, 4))
    return (slice(1, 3), slice(3, 5), slice(5, 7))


def _svg_attribute(line: str, name: str) -> str | None:
    marker = f' {name}="'
    if marker not in line:
        return None
    return line.split(marker, 1)[1].split('"', 1)[0]


def _png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (h, w, 3) uint8 array."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _run_al(args: argparse.Namespace) -> int:
    if args.plot is not None and args.plot.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"--plot must end in .svg or .png; got {args.plot.name}")
    result = al_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if args.plot is not None:
        write_curves(result, args.plot)
    print(f"al {args.dataset.name} head={args.head} ({result['features']}): full_f1={result['full_f1']:.4f}")
    for name, summary in result["strategies"].items():
        timed = summary["round_seconds_at_pool"]
        print(
            f"  {name:28s} area={summary['area']:.4f} f1@300={f1_at(summary, 300)} f1@1000={f1_at(summary, 1000)} "
            f"f1@{result['budget']}={summary['f1'][-1]} labels_to_full={summary['labels_to_full']} "
            f"query={summary['query_seconds']:.3f}s" + (f" round@{result['timing_pool']}={timed}s" if timed else "")
        )
    return 0


# --- command line -------------------------------------------------------------------------------

# --- speed: inference of text models, back to back ----------------------------------------------

SPEED_MODELS = ("textcnn", "teacher")
SPEED_FIT_TEXTS = 64  # speed does not depend on how well a model learned: a short fit is enough


def _add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--models", default=",".join(SPEED_MODELS), help="comma-separated, of: textcnn, teacher")
    parser.add_argument("--device", default="cpu")


def speed_benchmark(args: argparse.Namespace) -> dict:
    """Texts per second of `predict_proba` on the test split for each model, measured one after the
    other in one process, so that the ratio between them does not depend on what else the machine did
    at other times. Each model is fit for one epoch on the first SPEED_FIT_TEXTS train texts."""
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SPEED_MODELS))
    if unknown or not names:
        raise ValueError(f"--models takes a list of {', '.join(SPEED_MODELS)}; got {args.models!r}")
    machine = _machine()
    train_texts, train_labels = read_jsonl_split(args.dataset, "train", limit=SPEED_FIT_TEXTS)
    test_texts, _ = read_jsonl_split(args.dataset, "test")
    speeds = {}
    for name in names:
        model = _train_model_class(name)(epochs=1, device=args.device).fit(train_texts, train_labels)
        model.predict_proba(test_texts[:8])  # warm-up: lazy loads and first-call allocations
        started = time.perf_counter()
        model.predict_proba(test_texts)
        speeds[name] = round(len(test_texts) / (time.perf_counter() - started), 2)
    ratios = {f"{a}/{b}": round(speeds[a] / speeds[b], 1) for a in names for b in names if a != b}
    return {
        "dataset": str(args.dataset),
        "n_test": len(test_texts),
        "texts_per_second": speeds,
        "ratios": ratios,
        "device": args.device,
        **machine,
    }


def _run_speed(args: argparse.Namespace) -> int:
    result = speed_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"speed {args.dataset.name}: {result['texts_per_second']} texts/s; ratios {result['ratios']}")
    return 0


SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "cluster": (_add_cluster_arguments, _run_cluster),
    "train": (_add_train_arguments, _run_train),
    "al": (_add_al_arguments, _run_al),
    "speed": (_add_speed_arguments, _run_speed),
    "noise": (add_noise_arguments, run_noise),
    "distill": (add_distill_arguments, run_distill),
    "augment": (add_augment_arguments, run_augment),
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
