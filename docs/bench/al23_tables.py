"""Usage: python docs/bench/al23_tables.py BALANCED.json LONG_TAIL.json [more pairs] (issue 23)

Print the markdown table of docs/benchmarks.md, "Issue 23: query strategy": per strategy, the area (mean
of the seeds' areas) +- their standard deviation on each set of a pair, balanced beside long-tail, best
first by the worse of the two gaps to each set's best area."""

import json
import sys
from pathlib import Path

import numpy as np

paths = sys.argv[1:]
results = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
names = list(results[0]["strategies"])
best = [max(r["strategies"][n]["area"] for n in r["strategies"]) for r in results]


def worst_gap(name: str) -> float:
    return max(b - r["strategies"][name]["area"] for r, b in zip(results, best, strict=True))


header = "| strategy | " + " | ".join(f"{Path(r['dataset']).stem} (full {r['full_f1']:.3f})" for r in results) + " |"
print(header)
print("|---" * (len(results) + 1) + "|")
for name in sorted(names, key=worst_gap):
    cells = []
    for r, b in zip(results, best, strict=True):
        summary = r["strategies"][name]
        spread = float(np.std(summary["area_per_seed"]))
        cell = f"{summary['area']:.4f} ± {spread:.4f}"
        cells.append(f"**{cell}**" if summary["area"] >= b - 0.003 else cell)
    print(f"| `{name}` | " + " | ".join(cells) + " |")
