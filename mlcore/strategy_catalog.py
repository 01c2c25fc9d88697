"""What each active-learning strategy does, in one line, and how it measured: the strategy chooser's text.

The areas are copied from docs/benchmarks.md, "Active learning: `python -m mlcore.bench al`", the two
tables for **the project's own head** (`--head default`: the fast head with self-training, what a
project's rescoring job trains): "20 Newsgroups, the project's own head" (init 100, batch 50, budget
2,000, 3 seeds) and "BBC News, the project's own head" (init 20, batch 20, budget 500, 3 seeds).
Area = mean macro-F1 over the labeling curve on the test split: higher is better, and it rewards
strategies that get good early. Update them here when the benchmark is rerun; this is the only copy in
code. `tree_uncertainty` and `multi_label` are not in those tables: on a flat single-label dataset they
are margin (and margin + k-means) by construction. `adaptive_diversity` (the default since issue 23) is
not in them either: it was measured with the peers' LR head and with the project's head on all four
sets (docs/benchmarks.md, "Issue 23: query strategy", where full 20 Newsgroups with the project's head
has every strategy again: 0.7965, the best); on balanced classes it is `uncertainty_diversity` from the
second round on (20 Newsgroups: its density trust is 1 from then).

`tests/mlcore/test_strategy_catalog.py` checks that every registered strategy has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES

BENCHMARK_SOURCE = "docs/benchmarks.md, active learning with the project's own head (3 seeds)"


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    description: str
    area_20ng: float | None  # 20 Newsgroups, 20 classes, 2,000 labels
    area_bbc: float | None  # BBC News, 5 classes, 500 labels


_CATALOG: tuple[StrategyInfo, ...] = (
    StrategyInfo(
        "adaptive_diversity",
        "As uncertainty_diversity on even classes; on skewed ones, more of a batch where class F1 lags, spread out.",
        None,
        None,
    ),
    StrategyInfo(
        "uncertainty_diversity",
        "Uncertain, typical and new items, spread over the pool by k-means: the best area on both benchmarks.",
        0.739,
        0.971,
    ),
    StrategyInfo(
        "kmeans_diversity",
        "The most uncertain items (margin), one per k-means cluster, so a batch holds no near-duplicates.",
        0.734,
        0.972,
    ),
    StrategyInfo(
        "class_priority",
        "More of each batch for the classes whose F1 is lowest or still rising; margin within each class.",
        0.730,
        0.970,
    ),
    StrategyInfo("margin", "Breaking ties: the smallest gap between the two most probable labels first.", 0.729, 0.971),
    StrategyInfo("least_confidence", "Items whose top label has the lowest probability first.", 0.723, 0.970),
    StrategyInfo(
        "entropy_representativeness",
        "Entropy weighted by how typical the item is of the pool (information density).",
        0.721,
        0.965,
    ),
    StrategyInfo("entropy", "The highest entropy of the predicted label distribution first.", 0.718, 0.967),
    StrategyInfo("random", "Uniformly random items: the baseline every other strategy must beat.", 0.718, 0.964),
    StrategyInfo(
        "coreset",
        "Greedy k-center: each pick is the item farthest from everything labeled; ignores the model.",
        0.706,
        0.962,
    ),
    StrategyInfo(
        "representativeness",
        "Typical items of the pool's dense regions, outliers last; ignores the model (cold start only).",
        0.656,
        0.941,
    ),
    StrategyInfo(
        "tree_uncertainty",
        "For label trees: margin uncertainty at every depth, the worst one counts; flat projects get margin.",
        None,
        None,
    ),
    StrategyInfo(
        "multi_label",
        "For multi-label projects: items near several yes/no label boundaries, k-means-diversified.",
        None,
        None,
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
