"""`python -m mlcore.bench augment`: does text augmentation help a model that has few labels?

    python -m mlcore.bench augment --dataset FILE.jsonl --per-class 20[,10,50] --ops OPSETS
        --model text_cnn|head|teacher --out RESULT.json [--seeds 3] [--copies 4] [--strength 0.1]
        [--filter both|on|off|best] [--filter-model same|tfidf] [--min-confidence 0]
        [--uda] [--uda-pool 2000] [--uda-weight 1] [--uda-ops OPSET] [--language en|zh]
        [--params JSON] [--random-state 0] [--threads N] [--cache-dir DIR] [--backbone NAME] [--quiet]

Per --per-class N and seed: N labels per class are drawn from the train split (every one where a
class has fewer); the rest of train is the unlabeled pool. The model (`--params`: its constructor
options, the same for every run) is trained on the labels alone (`baseline`), then on the labels plus
`--copies` augmented copies of each labeled text (`mlcore.augment.augment_texts`) for every op set,
and scored on the test split (macro-F1). An op set is one op or several joined by "+"
("synonym+swap+delete": each copy made by one of them, `augment_texts` deals them out); op sets are
separated by ";". `--ops singles+best`: every offline op of the language alone, then the best
combinations built from the top 2 and top 3 singles (plug-in ops, which need a model directory, are
left out: none ships offline).

Filter (`--filter`): keep a copy only when a trusted model still gives it its source's label
(`mlcore.augment.label_preserving_mask`); the trusted model is the seed's baseline (`--filter-model
same`: trained anyway) or TF-IDF + logistic regression on the same labels (`tfidf`). `both` runs every
op set with and without it (names "OPSET" and "OPSET|filter"); `best` filters only the best op set.

UDA (`--uda`, text_cnn and teacher): the labels alone plus `--uda-pool` pool texts (a seeded sample)
with one augmented copy each, by the best op set (or `--uda-ops`), under the consistency loss
(`consistency_weight` `--uda-weight`; the model's other consistency options from --params).

JSON (rewritten after every run, `complete` false until the end): with one --per-class, `baseline`,
`runs` (by name: `macro_f1`, `macro_f1_std`, `per_seed`,
`filter`, `kept_fraction`, `n_augmented`, `seconds`), `best` and `uda` at the top level; with several,
one such object per N under `by_per_class` ("10", "20", ...). Means and (population) std over seeds.
`--model head` embeds every augmented copy with the encoder (through the embedding cache): keep it to
few op sets and copies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

MODELS = ("text_cnn", "head", "teacher")
FILTER_CHOICES = ("both", "on", "off", "best")
FILTER_MODELS = ("same", "tfidf")
UDA_MODELS = ("text_cnn", "teacher")
SINGLES_AND_BEST = "singles+best"
# `singles+best` combines the top 2 and the top 3 singles.
COMBINATION_SIZES = (2, 3)
FILTER_SUFFIX = "|filter"


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    from mlcore.bench import DEFAULT_CACHE_DIR, _add_language_argument
    from mlcore.encoders import DEFAULT_BACKBONE

    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--per-class", required=True, help="labels per class, e.g. 20 or 10,20,50")
    parser.add_argument("--ops", required=True, help=f"op sets: 'synonym;swap;synonym+swap' or {SINGLES_AND_BEST!r}")
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--seeds", type=int, default=3, help="seeds random-state, +1, ...")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--copies", type=int, default=4, help="augmented copies per labeled text")
    parser.add_argument("--strength", type=float, default=0.1, help="share of the words an op changes")
    parser.add_argument("--filter", choices=FILTER_CHOICES, default="both", help="label-preservation filter")
    parser.add_argument("--filter-model", choices=FILTER_MODELS, default="same", help="the filter's trusted model")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="the filter's minimum confidence")
    parser.add_argument("--uda", action="store_true", help="also train with UDA consistency (text_cnn, teacher)")
    parser.add_argument("--uda-pool", type=int, default=2000, help="unlabeled pool texts for UDA")
    parser.add_argument("--uda-weight", type=float, default=1.0, help="UDA's consistency_weight")
    parser.add_argument("--uda-ops", default=None, help="UDA's op set (default: the best op set)")
    parser.add_argument("--params", default="{}", help='the model\'s options as JSON, e.g. {"epochs": 30}')
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache (--model head)")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="encoder (head) or backbone/tokenizer")
    _add_language_argument(parser)
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress on stderr")


# --- the arguments ------------------------------------------------------------------------------


def per_class_values(text: str) -> list[int]:
    """`--per-class` "10,20,50" -> [10, 20, 50]; a ValueError for anything but positive integers."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--per-class takes positive integers separated by commas; got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise ValueError(f"--per-class takes positive integers separated by commas; got {text!r}")
    return list(dict.fromkeys(values))


def parse_op_sets(text: str, language: str) -> tuple[list[tuple[str, ...]], bool]:
    """(op sets, whether to add the best combinations): `--ops` checked against the registry."""
    from mlcore.augment import available_ops

    known = [op.name for op in available_ops(language)]
    offline = [op.name for op in available_ops(language) if not op.needs_model]
    if text.strip() == SINGLES_AND_BEST:
        return [(op,) for op in offline], True
    op_sets = []
    for part in text.split(";"):
        ops = tuple(op.strip() for op in part.split("+") if op.strip())
        if not ops:
            continue
        unknown = [op for op in ops if op not in known]
        if unknown:
            raise ValueError(
                f"--ops: unknown op {unknown[0]!r} for language {language!r}; "
                f"valid: {', '.join(known)} (or {SINGLES_AND_BEST!r})"
            )
        op_sets.append(ops)
    if not op_sets:
        raise ValueError(f"--ops names no op set; got {text!r}")
    return list(dict.fromkeys(op_sets)), False


def op_set_name(ops: Sequence[str]) -> str:
    return "+".join(ops)


def model_params(args: argparse.Namespace) -> dict:
    """--params as a dict; char tokens for a Chinese TextCNN unless said otherwise."""
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as error:
        raise ValueError(f"--params is not JSON ({error})") from None
    if not isinstance(params, dict):
        raise ValueError("--params must be a JSON object of the model's options")
    if args.model == "text_cnn" and args.language == "zh":
        params.setdefault("tokenization", "char")
    if args.model in ("text_cnn", "teacher"):
        params.setdefault("backbone", args.backbone)
        params.setdefault("device", "cpu")
    if args.model == "head":
        params.setdefault("language", args.language)
    return params


def check_arguments(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {args.seeds}")
    from mlcore.augment import MAX_COPIES

    if not 1 <= args.copies <= MAX_COPIES:
        raise ValueError(f"--copies must be from 1 to {MAX_COPIES}; got {args.copies}")
    if args.uda and args.model not in UDA_MODELS:
        raise ValueError(f"--uda needs --model {' or '.join(UDA_MODELS)}; the {args.model} has no consistency option")
    if args.uda and args.uda_pool < 1:
        raise ValueError(f"--uda-pool must be >= 1; got {args.uda_pool}")
    if not 0 <= args.min_confidence <= 1:
        raise ValueError(f"--min-confidence must be in [0, 1]; got {args.min_confidence}")


# --- data and models ----------------------------------------------------------------------------


def per_class_sample(labels: Sequence[str], n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of n items of each class (all of a class that has fewer), drawn by `rng`."""
    labels = np.asarray(labels)
    picks = []
    for label in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == label)
        picks.append(rng.choice(rows, size=min(n, len(rows)), replace=False))
    return np.sort(np.concatenate(picks))


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    labels = sorted(set(gold) | set(predicted))
    return float(f1_score(list(gold), list(predicted), labels=labels, average="macro", zero_division=0))


@dataclass
class Data:
    """The dataset's splits, and (for the head) a function that embeds texts through the cache."""

    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]
    embed: Callable[[list[str]], np.ndarray] | None = None
    _test_inputs: object = field(default=None, repr=False)


def load_data(args: argparse.Namespace) -> Data:
    from mlcore.bench import read_jsonl_split

    train_texts, train_labels = read_jsonl_split(args.dataset, "train")
    test_texts, test_labels = read_jsonl_split(args.dataset, "test")
    data = Data(train_texts, train_labels, test_texts, test_labels)
    if args.model == "head":
        from mlcore.bench import cached_embeddings
        from mlcore.encoders import TextEncoder

        encoder = TextEncoder.load(args.backbone, device="cpu")
        cache_dir = args.cache_dir.expanduser()
        data.embed = lambda texts: cached_embeddings(encoder, texts, cache_dir)[0]
    return data


class Runner:
    """Trains the benchmark's model kind on texts and labels and scores it; one per benchmark."""

    def __init__(self, args: argparse.Namespace, data: Data) -> None:
        from mlcore.models import model_class

        self.kind = {"text_cnn": "text_cnn", "head": "fast_head", "teacher": "teacher"}[args.model]
        self.cls = model_class(self.kind)
        self.params = model_params(args)
        self.data = data
        self.cls(**self.params)._check_params()  # bad --params fail before anything trains

    def inputs(self, texts: list[str]):
        """What the model reads: the texts, or (head) the texts with their embeddings."""
        if self.data.embed is None:
            return texts
        from mlcore.features import HybridInputs

        embeddings = self.data.embed(texts)
        return HybridInputs(texts, embeddings) if self.params.get("features", "hybrid") == "hybrid" else embeddings

    def fit(self, texts: list[str], labels: list[str], seed: int, **fit_options):
        model = self.cls(**{**self.params, "random_state": seed})
        return model.fit(self.inputs(texts), labels, **fit_options)

    def fit_uda(self, texts, labels, seed: int, pairs: tuple[list[str], list[str]], weight: float):
        model = self.cls(**{**self.params, "random_state": seed, "consistency_weight": weight})
        return model.fit(texts, labels, consistency_pairs=pairs)

    def score(self, model) -> float:
        if self.data._test_inputs is None:
            self.data._test_inputs = self.inputs(self.data.test_texts)
        predicted = [str(label) for label in model.predict(self.data._test_inputs)]
        return macro_f1(self.data.test_labels, predicted)

    def predict_proba_of(self, model) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: model.predict_proba(self.inputs(list(texts)))


def tfidf_trusted_model(texts: list[str], labels: list[str], language: str, seed: int):
    """TF-IDF (the bench's word 1-2 grams) + logistic regression on the labels: a cheap trusted model."""
    from mlcore.bench import _word_bigrams
    from mlcore.features import word_tokens

    vectorizer = TfidfVectorizer(analyzer=lambda text: _word_bigrams(word_tokens(text, language)), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=1000, random_state=seed).fit(vectorizer.fit_transform(texts), labels)
    return model, lambda batch: model.predict_proba(vectorizer.transform(list(batch)))


# --- one seed -----------------------------------------------------------------------------------


@dataclass
class Seed:
    """One seed's labeled sample, pool and baseline (also the trusted model of the filter)."""

    seed: int
    texts: list[str]
    labels: list[str]
    pool: np.ndarray
    baseline: object
    baseline_f1: float
    trusted_proba: Callable[[list[str]], np.ndarray]
    trusted_classes: list[str]
    augmented: dict = field(default_factory=dict)


def prepare_seed(args: argparse.Namespace, runner: Runner, per_class: int, seed: int) -> Seed:
    data = runner.data
    rng = np.random.default_rng([seed, per_class])
    labeled = per_class_sample(data.train_labels, per_class, rng)
    texts = [data.train_texts[i] for i in labeled]
    labels = [data.train_labels[i] for i in labeled]
    pool = np.setdiff1d(np.arange(len(data.train_texts)), labeled)
    baseline = runner.fit(texts, labels, seed)
    if args.filter_model == "tfidf":
        trusted, proba = tfidf_trusted_model(texts, labels, args.language, seed)
        classes = [str(label) for label in trusted.classes_]
    else:
        proba, classes = runner.predict_proba_of(baseline), [str(label) for label in baseline.classes_]
    return Seed(seed, texts, labels, pool, baseline, runner.score(baseline), proba, classes)


def augmented_of(args: argparse.Namespace, state: Seed, ops: tuple[str, ...]) -> list:
    """The seed's augmented copies by `ops` (made once, shared by the filtered and unfiltered runs)."""
    from mlcore.augment import augment_texts

    if ops not in state.augmented:
        state.augmented[ops] = augment_texts(
            state.texts,
            list(ops),
            copies=args.copies,
            language=args.language,
            strength=args.strength,
            random_state=state.seed,
        )
    return state.augmented[ops]


def kept_copies(args: argparse.Namespace, state: Seed, augmented: list) -> np.ndarray:
    """The label-preservation filter's keep mask over `augmented`."""
    from mlcore.augment import label_preserving_mask

    column = {label: index for index, label in enumerate(state.trusted_classes)}
    source_columns = [column[label] for label in state.labels]  # the filter reads labels as columns
    return label_preserving_mask(augmented, source_columns, state.trusted_proba, min_confidence=args.min_confidence)


def augmented_run(args: argparse.Namespace, runner: Runner, state: Seed, ops: tuple[str, ...], filtered: bool) -> dict:
    started = time.perf_counter()
    augmented = augmented_of(args, state, ops)
    keep = kept_copies(args, state, augmented) if filtered else np.ones(len(augmented), dtype=bool)
    copies = [copy for copy, kept in zip(augmented, keep, strict=True) if kept]
    texts = state.texts + [copy.text for copy in copies]
    labels = state.labels + [state.labels[copy.source_index] for copy in copies]
    model = runner.fit(texts, labels, state.seed)
    return {
        "macro_f1": runner.score(model),
        "kept_fraction": float(keep.mean()) if len(keep) else 1.0,
        "n_augmented": len(copies),
        "seconds": time.perf_counter() - started,
    }


def uda_run(args: argparse.Namespace, runner: Runner, state: Seed, ops: tuple[str, ...]) -> dict:
    from mlcore.augment import augment_texts

    started = time.perf_counter()
    rng = np.random.default_rng([state.seed, len(state.texts), 1])
    pool = rng.choice(state.pool, size=min(args.uda_pool, len(state.pool)), replace=False)
    originals = [runner.data.train_texts[i] for i in pool]
    copies = augment_texts(
        originals, list(ops), copies=1, language=args.language, strength=args.strength, random_state=state.seed
    )
    # A copy identical to its text is dropped by augment_texts; those texts have no pair.
    pairs = ([originals[copy.source_index] for copy in copies], [copy.text for copy in copies])
    model = runner.fit_uda(state.texts, state.labels, state.seed, pairs, args.uda_weight)
    return {"macro_f1": runner.score(model), "n_pairs": len(copies), "seconds": time.perf_counter() - started}


# --- summaries ----------------------------------------------------------------------------------


def summary(per_seed: list[dict]) -> dict:
    """Mean and std over seeds of the macro-F1 (and of kept_fraction, seconds where present)."""
    scores = [run["macro_f1"] for run in per_seed]
    out = {"macro_f1": float(np.mean(scores)), "macro_f1_std": float(np.std(scores)), "per_seed": scores}
    for key in ("kept_fraction", "n_augmented", "n_pairs", "seconds"):
        values = [run[key] for run in per_seed if key in run]
        if values:
            out[key] = float(np.mean(values))
    return out


def best_combinations(singles: dict[str, dict]) -> list[tuple[str, ...]]:
    """Combinations of the top 2 and top 3 singles by mean macro-F1 (ties by name)."""
    ranked = sorted(singles, key=lambda name: (-singles[name]["macro_f1"], name))
    return [tuple(ranked[:size]) for size in COMBINATION_SIZES if size <= len(ranked)]


def _log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


# --- the benchmark ------------------------------------------------------------------------------


def _block(per_class: int, states: list[Seed], baseline: dict, runs: dict[str, dict]) -> dict:
    """One N's results so far: the baseline, the runs and the best of them."""
    block = {"per_class": per_class, "n_labeled_per_seed": [len(state.texts) for state in states], "baseline": baseline}
    block["runs"] = runs
    if runs:
        best = max(runs, key=lambda name: runs[name]["macro_f1"])
        block["best"], block["best_gain"] = best, runs[best]["macro_f1"] - baseline["macro_f1"]
    return block


def benchmark_per_class(
    args: argparse.Namespace, runner: Runner, per_class: int, checkpoint: Callable[[dict], None] = lambda block: None
) -> dict:
    """Baseline, every op set (filtered and not, as --filter says), the best, and UDA, for one N.

    `checkpoint(block)` receives the results so far after the baseline and after each run (a long
    benchmark cut short still leaves its finished runs).
    """
    op_sets, add_best = parse_op_sets(args.ops, args.language)
    seeds = list(range(args.random_state, args.random_state + args.seeds))
    states = []
    for seed in seeds:
        states.append(prepare_seed(args, runner, per_class, seed))
        _log(args, f"N={per_class} seed {seed} baseline: {states[-1].baseline_f1:.4f}")
    baseline = summary([{"macro_f1": state.baseline_f1} for state in states])
    runs: dict[str, dict] = {}
    checkpoint(_block(per_class, states, baseline, runs))

    def run(ops: tuple[str, ...], filtered: bool) -> None:
        name = op_set_name(ops) + (FILTER_SUFFIX if filtered else "")
        if name in runs:
            return
        per_seed = []
        for state in states:
            per_seed.append(augmented_run(args, runner, state, ops, filtered))
            _log(args, f"N={per_class} seed {state.seed} {name}: {per_seed[-1]['macro_f1']:.4f}")
        runs[name] = {**summary(per_seed), "filter": filtered, "ops": list(ops)}
        checkpoint(_block(per_class, states, baseline, runs))

    filters = {"both": (False, True), "on": (True,), "off": (False,), "best": (False,)}[args.filter]
    for ops in op_sets:
        for filtered in filters:
            run(ops, filtered)
    if add_best:
        singles = {op_set_name(ops): runs[op_set_name(ops) + ("" if False in filters else FILTER_SUFFIX)]
                   for ops in op_sets}  # fmt: skip
        for ops in best_combinations(singles):
            for filtered in filters:
                run(ops, filtered)
    best = max(runs, key=lambda name: runs[name]["macro_f1"])
    if args.filter == "best":
        run(tuple(runs[best]["ops"]), True)
        best = max(runs, key=lambda name: runs[name]["macro_f1"])
    result = _block(per_class, states, baseline, runs)
    if args.uda:
        ops = parse_op_sets(args.uda_ops, args.language)[0][0] if args.uda_ops else tuple(runs[best]["ops"])
        per_seed = []
        for state in states:
            per_seed.append(uda_run(args, runner, state, ops))
            _log(args, f"N={per_class} seed {state.seed} uda ({op_set_name(ops)}): {per_seed[-1]['macro_f1']:.4f}")
        result["uda"] = {
            **summary(per_seed),
            "ops": op_set_name(ops),
            "pool": args.uda_pool,
            "consistency_weight": args.uda_weight,
            "gain": float(np.mean([run["macro_f1"] for run in per_seed])) - baseline["macro_f1"],
        }
    return result


def augment_benchmark(args: argparse.Namespace) -> dict:
    check_arguments(args)
    per_class = per_class_values(args.per_class)
    parse_op_sets(args.ops, args.language)  # a bad op fails before anything trains
    if args.uda_ops:
        parse_op_sets(args.uda_ops, args.language)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    data = load_data(args)
    runner = Runner(args, data)
    by_per_class: dict[str, dict] = {}

    def checkpoint(block: dict) -> None:
        by_per_class[str(block["per_class"])] = block
        write_result(args.out, assemble(args, runner, data, per_class, by_per_class, complete=False))

    for n in per_class:
        by_per_class[str(n)] = benchmark_per_class(args, runner, n, checkpoint)
    return assemble(args, runner, data, per_class, by_per_class, complete=True)


def assemble(
    args: argparse.Namespace, runner: Runner, data: Data, per_class: list[int], by_per_class: dict, *, complete: bool
) -> dict:
    """The result JSON: the settings, `by_per_class`, and (one N) that N's block at the top level too."""
    result = {
        "dataset": str(args.dataset),
        "model": args.model,
        "params": runner.params,
        "language": args.language,
        "per_class": per_class[0] if len(per_class) == 1 else per_class,
        "seeds": list(range(args.random_state, args.random_state + args.seeds)),
        "copies": args.copies,
        "strength": args.strength,
        "filter": args.filter,
        "filter_model": args.filter_model,
        "min_confidence": args.min_confidence,
        "n_test": len(data.test_texts),
        "complete": complete,
        "by_per_class": dict(by_per_class),
    }
    if len(per_class) == 1 and str(per_class[0]) in by_per_class:
        result.update(by_per_class[str(per_class[0])])
    return result


def write_result(path: Path, result: dict) -> None:
    """Write-then-rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)


def run_augment(args: argparse.Namespace) -> int:
    result = augment_benchmark(args)
    write_result(args.out, result)
    for n, block in result["by_per_class"].items():
        line = (
            f"augment {args.dataset.name} {args.model} N={n}: baseline {block['baseline']['macro_f1']:.4f} "
            f"(±{block['baseline']['macro_f1_std']:.4f}); best {block['best']} "
            f"{block['runs'][block['best']]['macro_f1']:.4f}"
        )
        if "uda" in block:
            line += f"; uda {block['uda']['macro_f1']:.4f} (±{block['uda']['macro_f1_std']:.4f})"
        print(line)
    return 0
