"""What each active-learning strategy does, in one line, and how it measured: the strategy chooser's text.

The areas are copied from docs/benchmarks.md, issue 23's tables for **the project's own head**
(`--head default`: the fast head with self-training and logit adjustment, what a project's rescoring
job trains), every registered strategy in one setup, 3 seeds:

- `area_20ng`: "Stop of 2026-12-07: the project's head on full 20 Newsgroups" (init 100, batch 50,
  budget 2,000);
- `area_bbc`, `area_bbc_lt`, `area_20ng_lt`: "Stop of 2026-12-06 (night)", the project's head on BBC
  News and on the long-tail variants of BBC News (imbalance 20) and 20 Newsgroups (imbalance 50).

Area = mean macro-F1 over the labeling curve on the test split: higher is better, and it rewards
strategies that get good early. Update them here when the benchmark is rerun; this is the only copy in
code. `tree_uncertainty` and `multi_label` are not in those tables: on a flat single-label dataset they
are margin (and margin + k-means) by construction.

`tests/mlcore/test_strategy_catalog.py` checks that every registered strategy has an entry and that
the areas are the tables' to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES

BENCHMARK_SOURCE = "docs/benchmarks.md, issue 23, active learning with the project's own head (3 seeds)"


@dataclass(frozen=True)
class StrategyInfo:
    """A strategy's line, and its areas in the chooser's column order (None: not in the tables)."""

    name: str
    description: str
    area_20ng: float | None = None  # 20 Newsgroups, 20 classes, 2,000 labels
    area_20ng_lt: float | None = None  # 20 Newsgroups long tail (463 down to 9 a class), 2,000 labels
    area_bbc: float | None = None  # BBC News, 5 classes, 500 labels
    area_bbc_lt: float | None = None  # BBC News long tail (333 down to 17 a class), 500 labels


_CATALOG: tuple[StrategyInfo, ...] = (
    StrategyInfo(
        "adaptive_diversity",
        "As uncertainty_diversity on even classes; on skewed ones, more of a batch where class F1 lags, spread out.",
        0.7965,
        0.6907,
        0.9813,
        0.9549,
    ),
    StrategyInfo(
        "uncertainty_diversity",
        "Uncertain, typical and new items, spread over the pool by k-means: strong on even classes, weak on skewed.",
        0.7962,
        0.6765,
        0.9823,
        0.9134,
    ),
    StrategyInfo(
        "kmeans_diversity",
        "The most uncertain items (margin), one per k-means cluster, so a batch holds no near-duplicates.",
        0.7944,
        0.6884,
        0.9812,
        0.9515,
    ),
    StrategyInfo(
        "class_priority",
        "More of each batch for the classes whose F1 is lowest or still rising; margin within each class.",
        0.7953,
        0.6900,
        0.9820,
        0.9499,
    ),
    StrategyInfo(
        "margin",
        "Breaking ties: the smallest gap between the two most probable labels first.",
        0.7950,
        0.6843,
        0.9816,
        0.9506,
    ),
    StrategyInfo(
        "least_confidence",
        "Items whose top label has the lowest probability first.",
        0.7796,
        0.6851,
        0.9804,
        0.9505,
    ),
    StrategyInfo(
        "entropy_representativeness",
        "Entropy weighted by how typical the item is of the pool (information density).",
        0.7751,
        0.6325,
        0.9788,
        0.8780,
    ),
    StrategyInfo(
        "entropy",
        "The highest entropy of the predicted label distribution first.",
        0.7730,
        0.6816,
        0.9803,
        0.9485,
    ),
    StrategyInfo(
        "random",
        "Uniformly random items: the baseline every other strategy must beat.",
        0.7710,
        0.6410,
        0.9783,
        0.8942,
    ),
    StrategyInfo(
        "coreset",
        "Greedy k-center: each pick is the item farthest from everything labeled; ignores the model.",
        0.7645,
        0.6722,
        0.9785,
        0.9542,
    ),
    StrategyInfo(
        "representativeness",
        "Typical items of the pool's dense regions, outliers last; ignores the model (cold start only).",
        0.7248,
        0.5494,
        0.9686,
        0.7719,
    ),
    StrategyInfo(
        "tree_uncertainty",
        "For label trees: margin uncertainty at every depth, the worst one counts; flat projects get margin.",
    ),
    StrategyInfo(
        "multi_label",
        "For multi-label projects: items near several yes/no label boundaries, k-means-diversified.",
    ),
)
STRATEGY_INFO: dict[str, StrategyInfo] = {info.name: info for info in _CATALOG}
NOT_MEASURED = "not measured: on flat single-label data it is margin by construction"


def strategy_catalog() -> list[StrategyInfo]:
    """Every registered strategy's entry: the default first, then best measured area first (unmeasured last).

    Raises KeyError naming a registered strategy without an entry (the test catches it first)."""
    missing = sorted(set(STRATEGIES) - set(STRATEGY_INFO))
    if missing:
        raise KeyError(f"strategies without a catalog entry: {', '.join(missing)}")
    entries = [STRATEGY_INFO[name] for name in STRATEGIES]
    return sorted(
        entries,
        key=lambda info: (info.name != DEFAULT_STRATEGY, info.area_20ng is None, -(info.area_20ng or 0.0), info.name),
    )


def default_strategy_info() -> StrategyInfo:
    """The entry of the strategy that the name "default" stands for."""
    return STRATEGY_INFO[DEFAULT_STRATEGY]
