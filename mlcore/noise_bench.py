"""`python -m mlcore.bench noise`: flip a share of the training labels and measure who finds them.

    python -m mlcore.bench noise --dataset FILE.jsonl --noise 0.1 --kind symmetric|confusable
        --seeds 3 --out RESULT.json [--filter-by both] [--trust weighted|threshold] [--timing-items 20000]
        [--random-state 0]
        [--no-words] [--model-view hybrid|embeddings] [--language en] [--cache-dir DIR] [--backbone NAME]
        [--head lr|default] [--quiet]

Per seed: flip `--noise` of the train labels (symmetric: to a uniformly random other class;
confusable: to the class a clean out-of-fold LR on the embeddings gives the item most after its own),
gather the out-of-fold evidence on the noisy labels (a model and the neighbours over the embeddings
and, unless `--no-words`, over the bag of words), run every detector, the ensemble and cleanlab under each
`filter_by`, and score each one's flags against the flipped items. Then train the fast head on clean
and noisy labels and on the labels of every cleaning policy (`mlcore.noise.candidate_policies`:
flagged items relabeled to the suggestion or removed, alone or with the doubtful items held out at
each threshold) and report its test macro-F1 and `recovered_share` per policy, and for the policy
`mlcore.noise.choose_cleaning_policy` picks on the noisy training data alone (`default`), and three
ceilings that only the benchmark can reach: `oracle_remove` (without exactly the flipped items),
`oracle_review` and `oracle_precision` (the prior-corrected report's flags acted on with the truth:
`flag_ceilings`). One variant that is no policy: `soft_relabel_all` (that report's items whose
suggestion differs from their label, flagged or not, trained with both labels weighted by P(label
wrong): `mlcore.noise.soft_relabel_rows`). Before the soft policies existed, `soft_relabel` named what
is now the `balanced_soft_relabel` policy.
The model view (`--model-view`): `hybrid` (the default since 2026-12-07 (third stop), with words) is
what the app's noise job fits, the hybrid fast head on the texts and the embeddings; `embeddings`, an
LR on the embeddings alone, is what the benchmark fit before (and always with `--no-words`).
The head that is retrained and scored (`--head`, `ScoringHead`): `lr` (the default here) the peers'
plain regression on the embeddings (C=10, no logit adjustment), so that the recovery measures the
cleaning alone; `default` the project's fast head as a training job fits it (the embeddings beside
the texts' bag of words, logit adjustment on skewed labels). The chooser and the detectors are the
same under either.
`cleaned`, `flagged_relabeled` and `flagged_removed` are the earlier names of
`relabel_hold_out@0.15`, `relabel` and `remove`. `calibration` holds the expected calibration error of
each estimate of P(label wrong) against the flips: the raw score, the ensemble's calibrated
probability and Bayes' rule through the noise matrix, over all items and over those scoring > 0.1
(`_suspicious`). The JSON holds the mean over seeds and every seed's numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.noise import (
    FILTER_BY_CHOICES,
    TRUST_CHOICES,
    NoiseReport,
    NoiseSettings,
    candidate_policies,
    choose_cleaning_policy,
    cleaned_training,
    detect_label_noise,
    gather_evidence,
    out_of_fold_probabilities,
    policy_reports,
    soft_relabel_rows,
    word_features,
    wrong_label_probabilities,
)

NOISE_KINDS = ("symmetric", "confusable")
CLEANLAB_BASELINES = ("prune_by_noise_rate", "both", "confident_learning")
TIMING_ITEMS = 20_000


def add_noise_arguments(parser: argparse.ArgumentParser) -> None:
    from mlcore.bench import DEFAULT_CACHE_DIR
    from mlcore.encoders import DEFAULT_BACKBONE

    parser.add_argument("--dataset", type=Path, required=True, help="JSONL with text, label, split")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result JSON")
    parser.add_argument("--noise", type=float, default=0.1, help="share of train labels to flip, in (0, 1)")
    parser.add_argument("--kind", choices=NOISE_KINDS, default="symmetric")
    parser.add_argument("--seeds", type=int, default=3, help="runs (seeds random-state, +1, ...)")
    parser.add_argument("--random-state", type=int, default=0, help="the first seed")
    parser.add_argument("--filter-by", choices=FILTER_BY_CHOICES, default="both", help="cleanlab's, in the ensemble")
    parser.add_argument(
        "--trust", choices=TRUST_CHOICES, default="weighted", help="how the policy chooser trusts held-out labels"
    )
    parser.add_argument(
        "--timing-items", type=int, default=TIMING_ITEMS, help="items of the timed detector run; 0 skips"
    )
    parser.add_argument(
        "--no-words", action="store_true", help="leave the bag-of-words view out (the ensemble before 2026-12-03)"
    )
    parser.add_argument("--language", default="en", help="the texts' language, for the bag of words (zh: jieba)")
    parser.add_argument(
        "--model-view",
        choices=MODEL_VIEWS,
        default="hybrid",
        help="the detectors' model: hybrid (the app's fast head on texts and embeddings) or embeddings (an LR)",
    )
    parser.add_argument(
        "--head",
        choices=SCORING_HEADS,
        default="lr",
        help="the head retrained on each cleaning: lr (the peers' plain LR) or default (the project's fast head)",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="packaged model name or local model directory")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output on stderr")


# --- noise --------------------------------------------------------------------------------------


def flip_labels(
    labels: np.ndarray,
    share: float,
    n_classes: int,
    rng: np.random.Generator,
    *,
    confusion: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, flipped mask): round(share * n) random items get another class.

    Without `confusion` the new class is uniformly random among the others (symmetric noise). With
    `confusion` (n, K) scores, it is the item's highest-scoring other class (confusable noise).
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"--noise must lie in (0, 1); got {share}")
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), size=round(share * len(labels)), replace=False)] = True
    noisy = labels.copy()
    rows = np.flatnonzero(flipped)
    if confusion is None:
        offsets = rng.integers(1, n_classes, size=len(rows))  # never 0: the label always changes
        noisy[rows] = (labels[rows] + offsets) % n_classes
    else:
        others = confusion[rows].copy()
        others[np.arange(len(rows)), labels[rows]] = -np.inf
        noisy[rows] = others.argmax(axis=1)
    return noisy, flipped


RELIABILITY_EDGES = (0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
SUSPICIOUS_SCORE = 0.1  # items above it are the ones the calibration must get right


def reliability(scores: np.ndarray, flipped: np.ndarray, edges: Sequence[float] = RELIABILITY_EDGES) -> list[dict]:
    """Per score bin: items, their mean score, and the share of them that were flipped."""
    bins = []
    for low, high in itertools.pairwise(edges):
        inside = (scores >= low) & ((scores < high) if high < 1.0 else (scores <= high))
        count = int(inside.sum())
        bins.append(
            {
                "bin": f"[{low}, {high}{']' if high == 1.0 else ')'}",
                "items": count,
                "mean_score": round(float(scores[inside].mean()), 4) if count else None,
                "flipped_share": round(float(flipped[inside].mean()), 4) if count else None,
            }
        )
    return bins


def expected_calibration_error(scores: np.ndarray, flipped: np.ndarray) -> float:
    """Item-weighted mean |mean score - flipped share| over the reliability bins (0 = calibrated)."""
    total = sum(row["items"] for row in reliability(scores, flipped))
    return sum(
        row["items"] / total * abs(row["mean_score"] - row["flipped_share"])
        for row in reliability(scores, flipped)
        if row["items"]
    )


def calibration_errors(estimates: dict[str, np.ndarray], flipped: np.ndarray, *, suspicious: np.ndarray) -> dict:
    """Per estimate of P(label wrong): its expected calibration error over every item (`NAME_ece`)
    and over the suspicious ones (`NAME_ece_suspicious`), where a review queue spends its time and
    the thousands of clean items scoring 0 cannot hide an error."""
    errors = {}
    for name, estimate in estimates.items():
        errors[f"{name}_ece"] = expected_calibration_error(estimate, flipped)
        if suspicious.any():
            errors[f"{name}_ece_suspicious"] = expected_calibration_error(estimate[suspicious], flipped[suspicious])
    return errors


def flag_scores(flags: np.ndarray, flipped: np.ndarray) -> dict:
    """Precision, recall and F1 of the flags against the flipped items."""
    hits = int((flags & flipped).sum())
    flagged, actual = int(flags.sum()), int(flipped.sum())
    precision = hits / flagged if flagged else 0.0
    recall = hits / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"flagged": flagged, "precision": precision, "recall": recall, "f1": f1}


# --- one seed -----------------------------------------------------------------------------------


SCORING_HEADS = ("lr", "default")
MODEL_VIEWS = ("hybrid", "embeddings")


@dataclass(frozen=True)
class ScoringHead:
    """The head each cleaning is retrained with and scored by, on the test split's true labels.

    head: "lr", the head the noise benchmark has always retrained (the peers' plain LR on the embeddings,
    C=10, no logit adjustment: the recovery measures the cleaning alone); "default", the project's fast
    head as a training job fits it (`FastHead()`: the embeddings beside the texts' bag of words, logit
    adjustment on skewed labels). train / test: what it reads (embeddings, or `HybridInputs` with the
    rows of `featurizer`, fit once on the train texts).
    """

    head: str
    train: np.ndarray | HybridInputs
    test: np.ndarray | HybridInputs
    test_labels: np.ndarray
    featurizer: TextFeaturizer | None = None
    language: str = "en"

    def f1(self, rows: np.ndarray, labels: np.ndarray, seed: int, sample_weight: np.ndarray | None = None) -> float:
        """Test macro-F1 of the head trained on train[rows] with `labels` (rows weighted by `sample_weight`)."""
        from mlcore.bench import _al_head  # the same two heads the active-learning benchmark retrains

        model = _al_head(self.head, seed, self.language)
        hybrid = isinstance(self.train, HybridInputs)
        inputs = self.train.take(rows) if hybrid else self.train[rows]
        extra = {"featurizer": self.featurizer} if hybrid else {}
        model.fit(inputs, labels, sample_weight=sample_weight, **extra)
        predicted = np.asarray(model.classes_)[model.predict_proba(self.test).argmax(axis=1)]
        return float(f1_score(self.test_labels, predicted, average="macro", zero_division=0))


def hybrid_train(args: argparse.Namespace, dataset, train_texts: Sequence[str]) -> tuple[HybridInputs, TextFeaturizer]:
    """The train split as the hybrid fast head reads it, and the featurizer (fit on the train texts)."""
    from mlcore.bench import hybrid_view

    featurizer = TextFeaturizer(language=getattr(args, "language", "en")).fit(train_texts)
    return hybrid_view(featurizer, train_texts, dataset.train)[0], featurizer


def scoring_head(
    args: argparse.Namespace, dataset, hybrid: tuple[HybridInputs, TextFeaturizer] | None = None
) -> ScoringHead:
    """The `--head` to score the cleanings with, on `dataset`'s embeddings (and, for "default", its texts:
    `hybrid`, the train split's `hybrid_train`, built here when not given)."""
    from mlcore.bench import hybrid_view, read_jsonl_split

    head = getattr(args, "head", "lr")
    index = {name: number for number, name in enumerate(dataset.classes)}
    test_labels = np.array([index[name] for name in dataset.test_gold])
    if head == "lr":
        return ScoringHead(head, dataset.train, dataset.test, test_labels)
    train, featurizer = hybrid or hybrid_train(args, dataset, read_jsonl_split(args.dataset, "train")[0])
    test_texts = read_jsonl_split(args.dataset, "test")[0]
    test = hybrid_view(featurizer, test_texts, dataset.test)[0]
    return ScoringHead(head, train, test, test_labels, featurizer, getattr(args, "language", "en"))


def noise_seed_run(data: tuple, args: argparse.Namespace, seed: int, n_classes: int) -> dict:
    """Flip, detect, score and retrain for one seed."""
    train, labels, words, _scorer, model_view = data
    rng = np.random.default_rng(seed)
    settings = NoiseSettings(random_state=seed, filter_by=args.filter_by)
    confusion = None
    if args.kind == "confusable":
        confusion = out_of_fold_probabilities(train, labels, n_classes, settings=settings)
    noisy, flipped = flip_labels(labels, args.noise, n_classes, rng, confusion=confusion)

    started = time.perf_counter()
    evidence = gather_evidence(train, noisy, n_classes, words=words, settings=settings, **model_view)
    report = detect_label_noise(evidence, settings=settings)
    seconds = time.perf_counter() - started
    probabilities = wrong_label_probabilities(evidence)

    detectors = {name: flag_scores(result.flags, flipped) for name, result in report.detectors.items()}
    detectors["ensemble"] = flag_scores(report.flags, flipped)
    cleanlab = {}
    for filter_by in CLEANLAB_BASELINES:
        variant = detect_label_noise(
            evidence, detectors=("confident_learning",), settings=NoiseSettings(random_state=seed, filter_by=filter_by)
        )
        cleanlab[filter_by] = flag_scores(variant.detectors["confident_learning"].flags, flipped)
    _cleaned, kept = cleaned_training(noisy, report)
    suggestions_right = report.suggested[report.flags & flipped] == labels[report.flags & flipped]
    return {
        "seed": seed,
        "flipped": int(flipped.sum()),
        "held_out": int((~kept).sum()),
        "held_out_flipped": int((~kept & flipped).sum()),
        "detectors": detectors,
        "cleanlab_filter_by": cleanlab,
        "suggestion_accuracy": float(suggestions_right.mean()) if suggestions_right.size else None,
        "calibration": calibration_errors(
            {"score": report.scores, "calibrated": report.wrong_probabilities, "probability": probabilities},
            flipped,
            suspicious=report.scores > SUSPICIOUS_SCORE,
        ),
        "reliability": {
            "score": reliability(report.scores, flipped),
            "calibrated": reliability(report.wrong_probabilities, flipped),
            "probability": reliability(probabilities, flipped),
        },
        "detect_seconds": round(seconds, 2),
        **policy_test_f1(data, noisy, evidence, settings, seed, trust=getattr(args, "trust", "weighted")),
    }


ORACLE_REMOVE = "oracle_remove"  # not a policy: the flipped items removed, which only the benchmark knows
# Not policies either: the flags of the report a long-tail default acts on (the prior-corrected one), acted
# on with what only the benchmark knows. `oracle_review`: an expert answers every flag with the true class
# (the review queue's ceiling). `oracle_precision`: the flagged flips take the report's suggestion and its
# false flags keep their label (the suggestions' ceiling once false flags are told apart).
ORACLE_REVIEW = "oracle_review"
ORACLE_PRECISION = "oracle_precision"
# Not a policy either (the app stores P(label wrong) of the flagged and doubtful items only): every item of
# the prior-corrected report whose suggestion differs from its label, trained with both labels weighted
# by P(label wrong) (`soft_relabel_rows`). The flagged items alone are the `balanced_soft_relabel` policy.
SOFT_RELABEL_ALL = "soft_relabel_all"
# The earlier names of three policies, kept in the JSON so that older tables compare.
EARLIER_NAMES = {"cleaned": "relabel_hold_out@0.15", "flagged_relabeled": "relabel", "flagged_removed": "remove"}


def policy_test_f1(
    data: tuple, noisy: np.ndarray, evidence, settings: NoiseSettings, seed: int, *, trust: str = "weighted"
) -> dict:
    """Test macro-F1 of the head on clean and noisy labels and on each policy's cleaning, the policy the
    chooser picks out of fold on the noisy training data alone (`default`), the chooser's scores, and
    `oracle_remove` (trained without exactly the flipped items: what a perfect detector's removal reaches),
    `oracle_review` and `oracle_precision` (the prior-corrected report's flags acted on perfectly: see
    `flag_ceilings`), and `soft_relabel_all` (that report's suggestions weighted by P(label wrong) on
    every item where they differ: `soft_relabel_rows`)."""
    train, labels, _words, scorer, _model_view = data
    every = np.arange(len(labels))
    policies = candidate_policies()
    started = time.perf_counter()
    reports = policy_reports(evidence, policies, settings=settings)
    choice = choose_cleaning_policy(train, noisy, reports, policies=policies, trust=trust, random_state=seed)
    choose_seconds = time.perf_counter() - started
    test_f1 = {"clean": scorer.f1(every, labels, seed), "noisy": scorer.f1(every, noisy, seed)}
    for policy in policies:
        rows, policy_labels, weights = policy.training_rows(noisy, reports[policy.balanced])
        test_f1[policy.name] = scorer.f1(rows, policy_labels, seed, weights)
    test_f1["default"] = test_f1[choice.policy.name]
    # The ceiling of every "remove" policy: a detector that flags exactly the flipped items and no other.
    # (Relabeling exactly those to their true class gives back the clean labels: "clean" is its ceiling.)
    unflipped = labels == noisy
    test_f1[ORACLE_REMOVE] = scorer.f1(every[unflipped], noisy[unflipped], seed)
    report = reports.get(True, reports.get(False))
    for name, ceiling_labels in flag_ceilings(labels, noisy, report).items():
        test_f1[name] = scorer.f1(every, ceiling_labels, seed)
    rows, soft_labels, weights = soft_relabel_rows(noisy, report, every_item=True)
    test_f1[SOFT_RELABEL_ALL] = scorer.f1(rows, soft_labels, seed, weights)
    for earlier, name in EARLIER_NAMES.items():
        test_f1[earlier] = test_f1[name]
    recovered = {name: recovered_share(test_f1, name) for name in test_f1 if name not in ("clean", "noisy")}
    flips = data[1] != noisy
    return {
        # The flags of the prior-corrected report against the flips: what an expert reviews under a balanced policy.
        "balanced_ensemble": flag_scores(reports[True].flags, flips) if True in reports else None,
        "test_f1": test_f1,
        "recovered": recovered,
        "chosen_policy": choice.policy.name,
        "policy_scores": choice.scores,
        "choose_seconds": round(choose_seconds, 2),
    }


def flag_ceilings(labels: np.ndarray, noisy: np.ndarray, report: NoiseReport) -> dict[str, np.ndarray]:
    """The training labels of two ceilings of one report's flags (`ORACLE_REVIEW`, `ORACLE_PRECISION`).

    Between them they say where a cleaning policy loses: a low `oracle_precision` next to a high
    `oracle_review` means the suggestions are wrong; both high while the policies are low means the
    false flags (clean items the policy relabels or removes) cost what the flips give back.
    """
    flags = report.flags
    reviewed = noisy.copy()
    reviewed[flags] = labels[flags]  # a flagged clean item's true class is its given one: it keeps it
    precise = noisy.copy()
    flagged_flips = flags & (labels != noisy)
    precise[flagged_flips] = report.suggested[flagged_flips]
    return {ORACLE_REVIEW: reviewed, ORACLE_PRECISION: precise}


# --- summary ------------------------------------------------------------------------------------


def _mean_scores(runs: list[dict]) -> dict:
    """Mean of every numeric leaf over the runs, rounded; same nesting as one run."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: _mean_scores([run[key] for run in runs]) for key in first}
    if first is None or isinstance(first, bool):
        return first
    return round(float(np.mean(runs)), 4)


def _spread(values: list[float | None]) -> dict | None:
    """Min, max and standard deviation over the seeds (None when a seed lost nothing to the noise)."""
    if any(value is None for value in values):
        return None
    return {"min": min(values), "max": max(values), "std": round(float(np.std(values)), 4)}


def recovered_share(test_f1: dict, cleaned: str = "cleaned") -> float | None:
    """How much of the macro-F1 the noise cost the cleaning won back (1.0 = all of it)."""
    lost = test_f1["clean"] - test_f1["noisy"]
    if lost <= 0:
        return None
    return round((test_f1[cleaned] - test_f1["noisy"]) / lost, 4)


def time_detectors(
    train: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    items: int,
    seed: int,
    *,
    texts: Sequence[str] | None = None,
    language: str = "en",
) -> float:
    """Seconds to gather the evidence and run every detector on `items` rows (train rows repeated).

    With `texts`, the bag-of-words view is timed too, its TF-IDF included.
    """
    rng = np.random.default_rng(seed)
    rows = np.resize(np.arange(len(train)), items)
    features = train[rows] + rng.normal(scale=0.01, size=(items, train.shape[1])).astype(np.float32)
    started = time.perf_counter()
    words = None if texts is None else word_features([texts[row] for row in rows], language=language)
    settings = NoiseSettings(random_state=seed)
    evidence = gather_evidence(features, labels[rows], n_classes, words=words, settings=settings)
    detect_label_noise(evidence, settings=settings)
    return time.perf_counter() - started


def noise_benchmark(args: argparse.Namespace) -> dict:
    """Every seed's run and their mean, as a JSON-ready dict."""
    from mlcore.bench import _machine, embedded_dataset, read_jsonl_split

    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {args.seeds}")
    if not 0.0 < args.noise < 1.0:
        raise ValueError(f"--noise must lie in (0, 1); got {args.noise}")
    quiet = getattr(args, "quiet", False)
    machine = _machine()
    dataset = embedded_dataset(args)
    classes = dataset.classes
    index = {name: number for number, name in enumerate(classes)}
    train = dataset.train
    labels = np.array([index[name] for name in dataset.train_gold])
    texts = None if args.no_words else read_jsonl_split(args.dataset, "train")[0]
    words = None if texts is None else word_features(texts, language=args.language)
    model_view = getattr(args, "model_view", "embeddings") if texts is not None else "embeddings"
    hybrid = None
    if model_view == "hybrid" or getattr(args, "head", "lr") == "default":
        hybrid = hybrid_train(args, dataset, texts or read_jsonl_split(args.dataset, "train")[0])
    # The evidence's model view as the app's noise job fits it: the hybrid fast head, or an LR on the embeddings.
    view = {"hybrid": hybrid[0], "featurizer": hybrid[1]} if model_view == "hybrid" else {}
    data = (train, labels, words, scoring_head(args, dataset, hybrid), view)
    seeds = [args.random_state + offset for offset in range(args.seeds)]
    runs = []
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads cost more than they gain
        for seed in seeds:
            runs.append(noise_seed_run(data, args, seed, len(classes)))
            if not quiet:
                ensemble = runs[-1]["detectors"]["ensemble"]
                print(f"noise seed {seed}: ensemble flag F1 {ensemble['f1']:.3f}", file=sys.stderr, flush=True)
        timed = None
        if args.timing_items:
            timed = time_detectors(
                train, labels, len(classes), args.timing_items, seeds[0], texts=texts, language=args.language
            )
    keys = (
        "held_out",
        "held_out_flipped",
        "detectors",
        "balanced_ensemble",
        "cleanlab_filter_by",
        "test_f1",
        "calibration",
    )
    mean = _mean_scores([{key: run[key] for key in keys} for run in runs])
    policies = [name for name in mean["test_f1"] if name not in ("clean", "noisy", *EARLIER_NAMES)]
    return {
        "dataset": str(args.dataset),
        "n_train": len(dataset.train_gold),
        "n_test": len(dataset.test_gold),
        "n_classes": len(classes),
        "encoder": dataset.encoder_version,
        "embeddings_from_cache": dataset.from_cache,
        "noise": args.noise,
        "kind": args.kind,
        "filter_by": args.filter_by,
        "trust": args.trust,
        "head": getattr(args, "head", "lr"),
        "model_view": model_view,
        "views": ["model", "neighbours"] + ([] if words is None else ["words", "word_neighbours"]),
        "seeds": seeds,
        **mean,
        "recovered_share": {name: recovered_share(mean["test_f1"], name) for name in policies},
        "recovered_share_spread": {name: _spread([run["recovered"][name] for run in runs]) for name in policies},
        "chosen_policies": [run["chosen_policy"] for run in runs],
        "timing_items": args.timing_items,
        "timing_seconds": round(timed, 2) if timed is not None else None,
        "blas_threads": 1,
        "runs": runs,
        **machine,
    }


def run_noise(args: argparse.Namespace) -> int:
    result = noise_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"noise {args.dataset.name} {args.kind} {args.noise:.0%}: test F1 {result['test_f1']}")
    for name, scores in {
        **result["detectors"],
        **{f"cleanlab:{k}": v for k, v in result["cleanlab_filter_by"].items()},
    }.items():
        print(
            f"  {name:32s} flagged={scores['flagged']:7.1f} precision={scores['precision']:.3f} "
            f"recall={scores['recall']:.3f} f1={scores['f1']:.3f}"
        )
    print(f"  calibration: {result['calibration']}")
    timing = f"; {result['timing_seconds']}s for {args.timing_items} items" if args.timing_items else ""
    print(f"  chosen per seed: {', '.join(result['chosen_policies'])}{timing}")
    for name, share in result["recovered_share"].items():
        print(f"  {name:28s} test F1 {result['test_f1'][name]:.4f} recovered {share}")
    return 0
