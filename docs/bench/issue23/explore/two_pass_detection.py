"""Exploration (issue 23, stop of 2026-12-07, third; not adopted): judge the given labels again with
evidence from models trained on the previous pass's cleaned labels (the prior-corrected report's flags
relabeled to its suggestions). Per pass: the chooser's pick and three fixed policies, as recovered
shares of the LR head's test macro-F1 (per-seed shares, then their mean), and the prior-corrected
flags' precision and recall against the flips.

    PYTHONPATH=. python docs/bench/issue23/explore/two_pass_detection.py SET symmetric|confusable 0.1|0.2 \
        --passes 3 --hybrid [--out RESULT.json]      # SET: /work/data/SET.jsonl; --hybrid: the app's model view
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from explore_setup import flipped, load, parser
from threadpoolctl import threadpool_limits

from mlcore.noise import candidate_policies, choose_cleaning_policy, detect_label_noise, gather_evidence
from mlcore.noise_bench import flag_scores, scoring_head

ap = parser()
ap.add_argument("--passes", type=int, default=2)
ap.add_argument("--hybrid", action="store_true")
a = ap.parse_args()
data = load(a.set, head="lr")
train, labels, K, words = data.train, data.labels, data.n_classes, data.words
scorer = scoring_head(data.args, data.dataset)
hyb = {"hybrid": data.hybrid[0], "featurizer": data.hybrid[1]} if a.hybrid else {}
every = np.arange(len(labels))


def share(f, clean, noisy):
    return (f - noisy) / (clean - noisy)


results = []
with threadpool_limits(limits=1, user_api="blas"):
    for seed in range(a.seeds):
        noisy, flips, settings = flipped(data, a.kind, a.rate, seed)
        clean_f1, noisy_f1 = scorer.f1(every, labels, seed), scorer.f1(every, noisy, seed)
        target = noisy
        row = {"seed": seed, "clean": clean_f1, "noisy": noisy_f1}
        for p in range(1, a.passes + 1):
            ev = gather_evidence(train, target, K, words=words, settings=settings, **hyb)
            ev = replace(ev, labels=noisy)  # judge the given labels with models trained on `target`
            reports = {b: detect_label_noise(ev, settings=replace(settings, class_balance=b)) for b in (False, True)}
            pols = candidate_policies()
            choice = choose_cleaning_policy(train, noisy, reports, policies=pols, random_state=seed)
            out = {}
            for pol in [*pols, "default"]:
                pol_ = choice.policy if pol == "default" else pol
                rows, lab, w = pol_.training_rows(noisy, reports[pol_.balanced])
                out[pol if pol == "default" else pol.name] = share(scorer.f1(rows, lab, seed, w), clean_f1, noisy_f1)
            fs = flag_scores(reports[True].flags, flips)
            row[f"pass{p}"] = {"chosen": choice.policy.name, "shares": out, "flags_balanced": fs}
            print(
                a.set,
                a.kind,
                a.rate,
                seed,
                p,
                choice.policy.name,
                "default {:.3f}".format(out["default"]),
                "bsoft {:.3f} bremove {:.3f} brelabel {:.3f}".format(
                    out["balanced_soft_relabel"], out["balanced_remove"], out["balanced_relabel"]
                ),
                "prec {:.3f} rec {:.3f}".format(fs["precision"], fs["recall"]),
                flush=True,
            )
            # next pass trains on the balanced report's relabeled labels
            target = noisy.copy()
            r = reports[True]
            target[r.flags] = r.suggested[r.flags]
        results.append(row)
if a.out:
    Path(a.out).write_text(json.dumps(results, indent=1))
for p in range(1, a.passes + 1):
    for name in ("default", "balanced_soft_relabel", "balanced_remove", "balanced_relabel"):
        vals = [r[f"pass{p}"]["shares"][name] for r in results]
        print(f"pass{p} {name:24s} mean {np.mean(vals):.3f}  {[round(v, 3) for v in vals]}")
