"""Label spreading over a nearest-neighbour graph: what the unlabeled pool says about its own labels.

`neighbour_graph` links every item to its k most similar items (cosine similarity on embeddings);
`spread_labels` lets the known labels flow along those links (Zhou et al., 2004, "Learning with
local and global consistency"): F <- alpha S F + (1 - alpha) Y, with S the symmetrically normalised
graph and Y the one-hot labels of the labeled rows. Items in a dense region of one class end up
with that class even when no labeled item is among their own neighbours, which is what a linear
head on a few labels misses. The fast head uses the result to pick the pool items it is sure of
(`mlcore.models.FastHead`, self-training).

The graph depends on the embeddings only, not on which items are labeled, so a caller running
several rounds over one pool builds it once and re-orders it (`reorder_graph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

DEFAULT_GRAPH_NEIGHBOURS = 10
DEFAULT_SPREAD_ALPHA = 0.9  # share of each step that comes from the neighbours (the rest: the item's own label)
SPREAD_ITERATIONS = 40  # 0.9^40 = 1.5%: what the starting point still weighs
GRAPH_BLOCK_ROWS = 2048  # rows of the similarity matrix held at once: 2,048 x 22,000 floats is 180 MB


@dataclass(frozen=True)
class NeighbourGraph:
    """Row i's k nearest other rows (`indices`, (n, k)) and their cosine similarities (`similarities`)."""

    indices: np.ndarray
    similarities: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def neighbour_graph(embeddings: np.ndarray, neighbours: int = DEFAULT_GRAPH_NEIGHBOURS) -> NeighbourGraph:
    """The k nearest other rows of every row by cosine similarity, computed block by block."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (n, dim) array; got shape {vectors.shape}")
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = min(neighbours, len(vectors) - 1)
    if k < 1:
        raise ValueError(f"a neighbour graph needs at least 2 items; got {len(vectors)}")
    # torch's topk: numpy's argpartition took 2 s per 2,048 x 11,000 block here, topk a few ms.
    reference = torch.from_numpy(vectors)
    indices, similarities = [], []
    with torch.inference_mode():
        for start in range(0, len(vectors), GRAPH_BLOCK_ROWS):
            block = reference[start : start + GRAPH_BLOCK_ROWS] @ reference.T
            rows = torch.arange(len(block))
            block[rows, start + rows] = -torch.inf  # never its own neighbour
            top = torch.topk(block, k, dim=1)
            indices.append(top.indices.numpy())
            similarities.append(top.values.numpy())
    return NeighbourGraph(np.concatenate(indices).astype(np.int64), np.concatenate(similarities))


def reorder_graph(graph: NeighbourGraph, rows: np.ndarray) -> NeighbourGraph:
    """The graph laid out as `rows`: row i of the result is graph row rows[i], and a link to graph
    row j points at the first result row holding j. `rows` must hold every graph row at least once
    (a permutation, or one with repeats: an item both labeled and still in the pool).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) < len(graph) or not np.array_equal(np.unique(rows), np.arange(len(graph))):
        raise ValueError(f"rows must hold each of the graph's {len(graph)} rows at least once")
    first_position = np.empty(len(graph), dtype=np.int64)
    first_position[rows[::-1]] = np.arange(len(rows))[::-1]  # the last write wins: the first position
    return NeighbourGraph(first_position[graph.indices[rows]], graph.similarities[rows])


def _normalised_adjacency(graph: NeighbourGraph) -> sparse.csr_matrix:
    """S = D^-1/2 W D^-1/2 of the symmetrised graph (an edge either way counts), weights floored at 0."""
    n, k = graph.indices.shape
    weights = np.maximum(graph.similarities, 0.0).ravel() + 1e-6
    adjacency = sparse.csr_matrix((weights, (np.repeat(np.arange(n), k), graph.indices.ravel())), shape=(n, n))
    adjacency = adjacency.maximum(adjacency.T)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = sparse.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    return (scale @ adjacency @ scale).tocsr()


def spread_labels(
    graph: NeighbourGraph,
    labeled_targets: np.ndarray,
    n_classes: int,
    *,
    alpha: float = DEFAULT_SPREAD_ALPHA,
    iterations: int = SPREAD_ITERATIONS,
) -> np.ndarray:
    """(n, K) label distribution of every graph row; rows 0..m-1 are the labeled ones, with class
    indices `labeled_targets` (m,). A row the labels never reach gets the uniform distribution.
    """
    targets = np.asarray(labeled_targets, dtype=np.int64)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    if len(targets) > len(graph) or (len(targets) and not 0 <= targets.min() <= targets.max() < n_classes):
        raise ValueError(f"labeled_targets must be at most {len(graph)} class indices in [0, {n_classes})")
    seeds = np.zeros((len(graph), n_classes))
    seeds[np.arange(len(targets)), targets] = 1.0
    step = _normalised_adjacency(graph)
    spread = seeds.copy()
    for _ in range(iterations):
        spread = alpha * (step @ spread) + (1.0 - alpha) * seeds
    totals = spread.sum(axis=1, keepdims=True)
    return np.where(totals > 0, spread / np.maximum(totals, 1e-300), 1.0 / n_classes)
