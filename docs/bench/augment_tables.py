"""Usage: python docs/bench/augment_tables.py RESULT.json [...] (issue 24)

Print the markdown rows of docs/benchmarks.md, "Augmentation (issue 24)": per result and labels per
class, the labels-only baseline, every op set (filtered ones marked "|filter") and UDA, each as the mean
macro-F1 over seeds +- the standard deviation, its gain over the baseline in points, and the share of
augmented copies the filter kept. Results cut short (`complete` false) are marked."""

import json
import sys
from pathlib import Path

print("| dataset | model | N/class | run | macro-F1 (mean ± std) | gain (points) | kept | s/seed |")
print("|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    result = json.loads(Path(path).read_text(encoding="utf-8"))
    name = Path(result["dataset"]).stem + ("" if result.get("complete", True) else " (partial)")
    for n, block in result["by_per_class"].items():
        base = block["baseline"]["macro_f1"]
        rows = [("labels only", block["baseline"])]
        rows += sorted(block["runs"].items(), key=lambda item: -item[1]["macro_f1"])
        if "uda" in block:
            rows.append((f"UDA ({block['uda']['ops']}, pool {block['uda']['pool']})", block["uda"]))
        for run, summary in rows:
            gain = "" if run == "labels only" else f"{100 * (summary['macro_f1'] - base):+.1f}"
            kept = f"{summary['kept_fraction']:.2f}" if summary.get("filter") else ""
            seconds = f"{summary['seconds']:.0f}" if "seconds" in summary else ""
            best = " **best**" if run == block.get("best") else ""
            label = run.replace("|", "\\|")  # a filtered run's name would split the markdown cell
            print(
                f"| {name} | {result['model']} | {n} | {label}{best} | {summary['macro_f1']:.4f} ± "
                f"{summary['macro_f1_std']:.4f} | {gain} | {kept} | {seconds} |"
            )
