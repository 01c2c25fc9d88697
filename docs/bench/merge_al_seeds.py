"""Usage: python docs/bench/merge_al_seeds.py OUT.json SEED0.json SEED1.json ... (issue 22)

Merge per-seed `al` JSONs (each --seeds 1, --random-state S) into one result like a --seeds 3 run."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from mlcore.bench import f1_at, summarize_curves

out, paths = sys.argv[1], sys.argv[2:]
results = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
base = dict(results[0])
base["seeds"] = [s for r in results for s in r["seeds"]]
base["merged_from"] = {
    "note": "one process per seed, run side by side; curves merged with bench.summarize_curves",
    "files": paths,
    "load_average_at_start": [r["load_average_at_start"] for r in results],
}
for name in base["strategies"]:
    runs = [
        {"labels": r["strategies"][name]["labels"], "f1": r["strategies"][name]["f1"], "query_seconds": []}
        for r in results
    ]
    summary = summarize_curves(runs, base["full_f1"])
    first = results[0]["strategies"][name]
    summary["query_seconds"] = round(sum(r["strategies"][name]["query_seconds"] for r in results) / len(results), 4)
    for key in ("round_seconds_at_pool", "graph_seconds_at_pool", "resolves_to"):
        if key in first:
            summary[key] = first[key]
    base["strategies"][name] = summary
    print(
        name,
        "area",
        summary["area"],
        "per seed",
        summary["area_per_seed"],
        "f1@300",
        f1_at(summary, 300),
        "f1@1000",
        f1_at(summary, 1000),
        "f1@2000",
        summary["f1"][-1],
    )
Path(out).write_text(json.dumps(base, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
