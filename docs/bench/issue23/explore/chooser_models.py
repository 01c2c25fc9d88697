"""Exploration (issue 23, stop of 2026-12-07, third; not adopted): which model should the cleaning
chooser judge the candidates with? Per seed, the app's evidence (hybrid model view) on flipped labels,
then three choosers: the app's (LogisticRegression C=10 on the embeddings), the same LR with the
project head's logit adjustment (tau 1), and with `--head-chooser` the project's hybrid head itself.
Each pick is scored by test macro-F1 with the peers' LR head and with the project's head; the last
lines print the recovered share of the seeds' mean F1.

    PYTHONPATH=. python docs/bench/issue23/explore/chooser_models.py SET symmetric|confusable 0.1|0.2 \
        [--head-chooser] [--out RESULT.json]      # SET: /work/data/SET.jsonl
"""

import argparse
import json
from pathlib import Path

import numpy as np
from explore_setup import flipped, load, parser
from threadpoolctl import threadpool_limits

from mlcore.models import FastHead
from mlcore.noise import candidate_policies, choose_cleaning_policy, gather_evidence, policy_reports
from mlcore.noise_bench import scoring_head

ap = parser()
ap.add_argument("--head-chooser", action="store_true")
a = ap.parse_args()
data = load(a.set, head="default")
train, labels, K, words = data.train, data.labels, data.n_classes, data.words
hy, feat = data.hybrid
scorer = scoring_head(data.args, data.dataset, data.hybrid)
lr_scorer = scoring_head(argparse.Namespace(**{**vars(data.args), "head": "lr"}), data.dataset)
every = np.arange(len(labels))


class RowsOfHybrid:
    """The project's head as the chooser's model: the chooser hands it row numbers as its one feature
    (see `head_chooser`) and it fits and predicts on those rows of the hybrid inputs."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, X, y, sample_weight=None):
        self.head_ = FastHead(random_state=self.seed, language="en")
        self.head_.fit(hy.take(X[:, 0].astype(np.int64)), y, sample_weight=sample_weight, featurizer=feat)
        self.classes_ = np.asarray(self.head_.classes_, dtype=np.int64)
        return self

    def predict_proba(self, X):
        return self.head_.predict_proba(hy.take(X[:, 0].astype(np.int64)))


def head_chooser(noisy, reports, policies, seed):
    """The library's chooser (same folds, trust weights and scoring) with the project's head as its model:
    its features are the row numbers, which `RowsOfHybrid` turns into hybrid inputs."""
    rows = np.arange(len(noisy), dtype=np.float32)[:, None]
    choice = choose_cleaning_policy(
        rows, noisy, reports, policies=policies, random_state=seed, make_model=lambda: RowsOfHybrid(seed)
    )
    return choice.policy


out = []
with threadpool_limits(limits=1, user_api="blas"):
    for seed in range(a.seeds):
        noisy, _flips, settings = flipped(data, a.kind, a.rate, seed)
        ev = gather_evidence(train, noisy, K, words=words, settings=settings, hybrid=hy, featurizer=feat)
        pols = candidate_policies()
        reports = policy_reports(ev, pols, settings=settings)
        lr_choice = choose_cleaning_policy(train, noisy, reports, policies=pols, random_state=seed)

        def make_la(seed=seed):  # the chooser's LR with the project head's logit adjustment (tau 1)
            return FastHead(head="lr", C=10.0, self_training=None, features="embeddings", random_state=seed)

        la_choice = choose_cleaning_policy(train, noisy, reports, policies=pols, random_state=seed, make_model=make_la)
        picks = {"lr_chooser": lr_choice.policy, "la_chooser": la_choice.policy}
        if a.head_chooser:
            picks["head_chooser"] = head_chooser(noisy, reports, pols, seed)
        res = {"lr_choice": lr_choice.policy.name, "la_choice": la_choice.policy.name, "la_scores": la_choice.scores}
        res["picks"] = {tag: policy.name for tag, policy in picks.items()}
        for sname, sc in (("lr", lr_scorer), ("project", scorer)):
            clean, noisy_f1 = sc.f1(every, labels, seed), sc.f1(every, noisy, seed)
            res[sname] = {"clean": clean, "noisy": noisy_f1}
            for tag, p in picks.items():
                rows, lab, w = p.training_rows(noisy, reports[p.balanced])
                res[sname][tag] = sc.f1(rows, lab, seed, w)
        print(
            a.set,
            a.kind,
            a.rate,
            seed,
            res["picks"],
            {k: res[k] for k in ("lr", "project")},
            flush=True,
        )
        out.append(res)
if a.out:
    Path(a.out).write_text(json.dumps(out, indent=1))
for sname in ("lr", "project"):
    tags = ("clean", "noisy", *out[0]["picks"])
    m = {k: np.mean([r[sname][k] for r in out]) for k in tags}
    print(
        sname,
        "clean {:.4f} noisy {:.4f}".format(m["clean"], m["noisy"]),
        " ".join(f"{t} {(m[t] - m['noisy']) / (m['clean'] - m['noisy']) * 100:.0f}%" for t in out[0]["picks"]),
    )
