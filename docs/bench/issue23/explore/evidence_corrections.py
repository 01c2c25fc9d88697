"""Exploration (issue 23, stop of 2026-12-07, fourth): how should the evidence be corrected for the
class prior before the ensemble judges it? The balanced policies divide every view by the given labels'
class prior (`prior_corrected`), which on the 20NG long tail flags clean big-class items toward rare
classes; the plain views flag clean rare-class items toward big ones. Variants:

- plain: the views as they are;
- prior: divided by the prior (the app's balanced report);
- prior_half: divided by the square root of the prior;
- threshold: divided by each class's mean self-confidence in that view (the mean probability the view
  gives class j over the items labeled j: confident learning's per-class threshold), so a class is
  boosted by how much the view actually under-predicts it, not by its size.

Per seed the app's evidence (hybrid model view, the four views) on the benchmark's flips; per variant the
ensemble's report, its flags against the flips, and three actions (relabel, remove, soft relabel), each
scored by test macro-F1 with the peers' LR head and the project's head. Then the app's chooser (LR,
C=10) over the 12 candidates with each variant as the balanced report. The last lines print the
recovered share of the seeds' mean F1.

    PYTHONPATH=. python docs/bench/issue23/explore/evidence_corrections.py SET symmetric|confusable 0.1|0.2 \
        [--heads lr,default] [--out RESULT.json]      # SET: /work/data/SET.jsonl
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from explore_setup import flipped, load, parser
from threadpoolctl import threadpool_limits

from mlcore.noise import (
    CleaningPolicy,
    NoiseEvidence,
    NoiseSettings,
    candidate_policies,
    choose_cleaning_policy,
    detect_label_noise,
    gather_evidence,
    prior_corrected,
)
from mlcore.noise_bench import flag_scores, scoring_head

ACTIONS = ("relabel", "remove", "soft_relabel")


VIEWS = ("model_probabilities", "neighbour_probabilities", "word_probabilities", "word_neighbour_probabilities")


def divided(evidence: NoiseEvidence, divisor_of) -> NoiseEvidence:
    """The evidence with each view divided column-wise by `divisor_of(view)` (a (K,) array), renormalised."""
    changes = {}
    for name in VIEWS:
        view = getattr(evidence, name)
        if view is not None:
            adjusted = view / np.maximum(divisor_of(view), 1e-12)
            changes[name] = adjusted / np.maximum(adjusted.sum(axis=1, keepdims=True), 1e-12)
    return replace(evidence, **changes)


def prior_of(labels: np.ndarray, n_classes: int) -> np.ndarray:
    prior = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return prior / prior.sum()


def self_confidence(labels: np.ndarray, n_classes: int):
    """(view -> (K,)) each class's mean probability in that view over the items labeled with it."""

    def thresholds(view: np.ndarray) -> np.ndarray:
        sums = np.zeros(n_classes)
        np.add.at(sums, labels, view[np.arange(len(labels)), labels])
        counts = np.maximum(np.bincount(labels, minlength=n_classes), 1)
        return sums / counts

    return thresholds


def variants(evidence: NoiseEvidence, n_classes: int) -> dict[str, NoiseEvidence]:
    prior = prior_of(evidence.labels, n_classes)
    return {
        "plain": evidence,
        "prior": prior_corrected(evidence),
        "prior_half": divided(evidence, lambda view: np.sqrt(prior)),
        "threshold": divided(evidence, self_confidence(evidence.labels, n_classes)),
    }


def share(f1: dict, name: str) -> float:
    return round(100 * (f1[name] - f1["noisy"]) / (f1["clean"] - f1["noisy"]), 1)


def seed_run(data, scorers: dict, heads: list[str], kind: str, rate: float, seed: int) -> dict:
    """One seed: flips, the app's evidence, each variant's report and flags, each action's and each chooser's
    test F1 under every head."""
    hybrid, featurizer = data.hybrid
    every = np.arange(len(data.labels))
    noisy, flips, settings = flipped(data, kind, rate, seed)
    evidence = gather_evidence(
        data.train, noisy, data.n_classes, words=data.words, settings=settings, hybrid=hybrid, featurizer=featurizer
    )
    reports = {
        name: detect_label_noise(view, settings=NoiseSettings(random_state=seed))
        for name, view in variants(evidence, data.n_classes).items()
    }
    cache: dict = {}

    def f1(head: str, variant: str, policy: CleaningPolicy) -> float:
        key = (head, variant, policy.name)
        if key not in cache:
            rows, policy_labels, weights = policy.training_rows(noisy, reports[variant])
            cache[key] = scorers[head].f1(rows, policy_labels, seed, weights)
        return cache[key]

    test_f1 = {}
    for head in heads:
        scores = {"clean": scorers[head].f1(every, data.labels, seed), "noisy": scorers[head].f1(every, noisy, seed)}
        for variant in reports:
            for action in ACTIONS:
                scores[f"{variant}:{action}"] = f1(head, variant, CleaningPolicy(action))
        test_f1[head] = scores
    chosen = {}
    for variant in ("prior", "prior_half", "threshold"):
        pair = {False: reports["plain"], True: reports[variant]}
        choice = choose_cleaning_policy(data.train, noisy, pair, policies=candidate_policies(), random_state=seed)
        chosen[variant] = choice.policy.name
        source = variant if choice.policy.balanced else "plain"
        for head in heads:
            test_f1[head][f"chooser_{variant}"] = f1(head, source, choice.policy)
    flags = {name: flag_scores(report.flags, flips) for name, report in reports.items()}
    return {"seed": seed, "flags": flags, "chosen": chosen, "test_f1": test_f1}


def shares(test_f1: dict) -> dict:
    return {key: share(test_f1, key) for key in test_f1 if key not in ("clean", "noisy")}


def summarise(runs: list[dict], heads: list[str]) -> tuple[dict, dict]:
    """(per head: the recovered share of the seeds' mean F1 and each seed's, the variants' mean flag scores)."""
    summary = {}
    for head in heads:
        keys = runs[0]["test_f1"][head]
        mean = {key: float(np.mean([run["test_f1"][head][key] for run in runs])) for key in keys}
        summary[head] = shares(mean)
        summary[head]["seeds"] = {key: [share(run["test_f1"][head], key) for run in runs] for key in shares(mean)}
    measures = ("flagged", "precision", "recall", "f1")
    flags = {
        name: {measure: round(float(np.mean([run["flags"][name][measure] for run in runs])), 3) for measure in measures}
        for name in runs[0]["flags"]
    }
    return summary, flags


def main() -> None:
    ap = parser()
    ap.add_argument("--heads", default="lr,default")
    a = ap.parse_args()
    heads = a.heads.split(",")
    data = load(a.set, head="default")
    scorers = {
        "lr": scoring_head(argparse.Namespace(**{**vars(data.args), "head": "lr"}), data.dataset),
        "default": scoring_head(data.args, data.dataset, data.hybrid),
    }
    runs = []
    with threadpool_limits(limits=1, user_api="blas"):
        for seed in range(a.seeds):
            runs.append(seed_run(data, scorers, heads, a.kind, a.rate, seed))
            print(f"seed {seed}:", {head: shares(runs[-1]["test_f1"][head]) for head in heads}, flush=True)
    summary, flags = summarise(runs, heads)
    for head in heads:
        print(head, {key: value for key, value in summary[head].items() if key != "seeds"})
    print("flags", flags)
    if a.out:
        result = {"set": a.set, "kind": a.kind, "rate": a.rate, "summary": summary, "flags": flags, "runs": runs}
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
