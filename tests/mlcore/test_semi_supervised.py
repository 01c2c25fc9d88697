"""Label spreading over the neighbour graph: small cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.semi_supervised import NeighbourGraph, neighbour_graph, reorder_graph, spread_labels


def clusters(n_per: int, seed: int) -> np.ndarray:
    """Two tight clusters of points around opposite directions (rows 0..n-1 and n..2n-1)."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=8)
    return np.concatenate(
        [centre + rng.normal(scale=0.1, size=(n_per, 8)), -centre + rng.normal(scale=0.1, size=(n_per, 8))]
    )


def test_the_graph_holds_the_k_most_similar_other_rows():
    points = np.random.default_rng(0).normal(size=(50, 6))
    graph = neighbour_graph(points, neighbours=4)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.sort(np.argsort(-similarity, axis=1)[:, :4], axis=1)
    np.testing.assert_array_equal(np.sort(graph.indices, axis=1), expected)
    np.testing.assert_allclose(
        np.sort(graph.similarities, axis=1),
        np.sort(np.take_along_axis(similarity, graph.indices, axis=1), axis=1),
        rtol=1e-5,
    )
    assert not np.any(graph.indices == np.arange(50)[:, None])  # never itself


def test_a_graph_needs_two_items():
    with pytest.raises(ValueError, match="at least 2 items"):
        neighbour_graph(np.ones((1, 3)))


def test_reordering_keeps_who_neighbours_whom():
    points = np.random.default_rng(1).normal(size=(30, 5))
    graph = neighbour_graph(points, neighbours=3)
    order = np.random.default_rng(2).permutation(30)
    moved = reorder_graph(graph, order)
    # Row i of the moved graph is original row order[i]; its neighbours, mapped back, are the originals.
    np.testing.assert_array_equal(order[moved.indices], graph.indices[order])
    np.testing.assert_array_equal(moved.similarities, graph.similarities[order])


def test_a_repeated_row_links_to_the_first_copy():
    graph = NeighbourGraph(np.array([[1], [2], [0]]), np.ones((3, 1), dtype=np.float32))
    laid_out = reorder_graph(graph, np.array([2, 0, 1, 0]))  # graph row 0 twice: result rows 1 and 3
    np.testing.assert_array_equal(laid_out.indices[:, 0], [1, 2, 0, 2])  # links to graph row 0 go to row 1


def test_reordering_needs_every_row():
    graph = neighbour_graph(np.random.default_rng(1).normal(size=(5, 3)), neighbours=2)
    with pytest.raises(ValueError, match="at least once"):
        reorder_graph(graph, np.array([0, 0, 1, 2, 3]))


def test_one_label_per_cluster_reaches_its_whole_cluster():
    points = clusters(20, seed=0)
    order = np.r_[[0, 20], np.setdiff1d(np.arange(40), [0, 20])]  # the labeled rows come first
    graph = reorder_graph(neighbour_graph(points, neighbours=5), order)
    spread = spread_labels(graph, np.array([0, 1]), 2)
    truth = (order >= 20).astype(int)
    np.testing.assert_array_equal(spread.argmax(axis=1), truth)
    np.testing.assert_allclose(spread.sum(axis=1), 1.0)
    assert spread[0, 0] > 0.9 and spread[1, 1] > 0.9  # the labeled rows keep their labels


def test_rows_the_labels_never_reach_are_uniform():
    # Two separate components: the labels sit in the first, so the second learns nothing.
    graph = NeighbourGraph(np.array([[1], [0], [3], [2]]), np.ones((4, 1), dtype=np.float32))
    spread = spread_labels(graph, np.array([1]), 3)
    np.testing.assert_allclose(spread[2:], 1.0 / 3.0)
    assert spread[1].argmax() == 1


@pytest.mark.parametrize(
    ("targets", "alpha", "message"),
    [
        (np.array([0]), 1.0, "alpha must be in"),
        (np.array([5]), 0.5, "class indices"),
        (np.zeros(9, int), 0.5, "at most 4"),
    ],
)
def test_bad_spreading_inputs_are_refused(targets, alpha, message):
    graph = NeighbourGraph(np.array([[1], [0], [3], [2]]), np.ones((4, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=message):
        spread_labels(graph, targets, 2, alpha=alpha)
