"""Usage: python docs/bench/merge_al_strategies.py OUT.json A.json B.json ... (issue 23)

Join `al` JSONs of the same dataset, head, loop and seeds that measured different strategies (the runs
are deterministic per strategy and seed, so one process per group of strategies gives the numbers one
process for all would) into one result; refuses files whose setups differ."""

import json
import sys
from pathlib import Path

SAME = ("dataset", "head", "init", "batch", "budget", "seeds", "full_f1", "encoder", "features")

out, paths = sys.argv[1], sys.argv[2:]
results = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
base = dict(results[0])
for path, result in zip(paths[1:], results[1:], strict=True):
    differs = [key for key in SAME if result.get(key) != base.get(key)]
    if differs:
        sys.exit(f"{path}: not the same setup as {paths[0]}: {', '.join(differs)}")
base["strategies"] = {name: summary for result in results for name, summary in result["strategies"].items()}
base["merged_from"] = {"note": "one process per group of strategies, same setup and seeds", "files": paths}
Path(out).write_text(json.dumps(base, indent=2) + "\n", encoding="utf-8")
