"""Usage: python docs/bench/noise_ceilings_table.py [--columns NAME,NAME,...] [--decimals N] NOISE.json ... (issue 23)

Print the markdown table of docs/benchmarks.md, "Where the cleaning loses": per `mlcore.bench noise`
JSON, the recovered share of the default and of the three ceilings (`oracle_remove`, `oracle_review`,
`oracle_precision`), each the share of the seeds' mean test macro-F1 with the lowest and highest seed, and
the prior-corrected report's flags (mean count over the seeds and their precision against the flips):
what the expert of `oracle_review` reads. `--columns` names other entries of `recovered_share` to show
instead (e.g. `default,balanced_relabel,soft_relabel,soft_relabel_all,oracle_remove,oracle_review`);
`hindsight` among them is no entry but the limit of the chooser: on each seed the candidate policy with
the best test macro-F1 (what a chooser that knew the test labels would pick), as a share of the
seeds' mean like the others; `without_hold_out` is the chooser's pick had the candidates that hold
doubtful items out not been among them (from its stored out-of-fold scores). `--decimals 1` prints the
means to a tenth of a percent (89.8% is not 90%). Runs scored with the project's head (`--head default`)
say so after the set's name."""

import json
import sys
from pathlib import Path

COLUMNS = ("default", "oracle_remove", "oracle_review", "oracle_precision")


HINDSIGHT = "hindsight"
WITHOUT_HOLD_OUT = "without_hold_out"


def _share(f1: float, clean: float, noisy: float) -> float | None:
    return None if clean == noisy else (f1 - noisy) / (clean - noisy)


def _seed_shares(result: dict, picked: list[float]) -> tuple[float | None, dict | None]:
    """The share of the seeds' mean of `picked` (one test F1 per seed), and the lowest and highest seed's share."""
    runs = result["runs"]
    mean = {key: sum(run["test_f1"][key] for run in runs) / len(runs) for key in ("clean", "noisy")}
    pairs = zip(picked, runs, strict=True)
    seeds = [_share(f1, run["test_f1"]["clean"], run["test_f1"]["noisy"]) for f1, run in pairs]
    seeds = [share for share in seeds if share is not None]
    spread = {"min": min(seeds), "max": max(seeds)} if seeds else None
    return _share(sum(picked) / len(picked), mean["clean"], mean["noisy"]), spread


def hindsight(result: dict) -> tuple[float | None, dict | None]:
    """The best candidate's test F1 on each seed, as `_seed_shares`."""
    return _seed_shares(result, [max(run["test_f1"][name] for name in run["policy_scores"]) for run in result["runs"]])


def without_hold_out(result: dict) -> tuple[float | None, dict | None]:
    """What the chooser would have picked among the candidates that hold nothing out (its stored out-of-fold
    scores; ties to the earlier candidate, as the chooser breaks them), as `_seed_shares`."""
    picked = []
    for run in result["runs"]:
        names = [name for name in run["policy_scores"] if "_hold_out@" not in name]
        best = max(names, key=lambda name: (run["policy_scores"][name], -names.index(name)))
        picked.append(run["test_f1"][best])
    return _seed_shares(result, picked)


DERIVED = {HINDSIGHT: hindsight, WITHOUT_HOLD_OUT: without_hold_out}


def cell(result: dict, name: str, decimals: int = 0) -> str:
    if name in DERIVED:
        share, spread = DERIVED[name](result)
    else:
        share, spread = result["recovered_share"][name], result["recovered_share_spread"][name]
    if share is None:
        return "n/a"
    text = f"{share:.{decimals}%}"
    return text if spread is None else f"{text} ({spread['min']:.0%}–{spread['max']:.0%})"


paths, decimals = sys.argv[1:], 0
while paths[:1] in (["--columns"], ["--decimals"]):
    if paths[0] == "--columns":
        COLUMNS = tuple(paths[1].split(","))
    else:
        decimals = int(paths[1])
    paths = paths[2:]
print("| set | noise | test F1 clean / noisy | " + " | ".join(COLUMNS) + " | flags (precision) |")
print("|---" * (len(COLUMNS) + 4) + "|")
for path in paths:
    result = json.loads(Path(path).read_text(encoding="utf-8"))
    f1 = result["test_f1"]
    noise = f"{result['kind']} {result['noise']:.0%}"
    cells = " | ".join(cell(result, name, decimals) for name in COLUMNS)
    flags = result["balanced_ensemble"]
    flagged = f"{flags['flagged']:.0f} of {result['n_train']} ({flags['precision']:.2f})"
    name = Path(result["dataset"]).stem + (" (project's head)" if result.get("head") == "default" else "")
    print(f"| {name} | {noise} | {f1['clean']:.3f} / {f1['noisy']:.3f} | {cells} | {flagged} |")
