"""Query strategies: one shared contract every strategy passes, then each strategy's own behaviour."""

import numpy as np
import pytest

from mlcore import active_learning as al
from mlcore.active_learning import QueryPool, make_strategy

N_CLASSES, DIM = 4, 16


def blobs(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, DIM) unit vectors around N_CLASSES centres, and each row's class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, DIM))
    labels = rng.integers(N_CLASSES, size=n)
    points = centres[labels] + rng.normal(scale=0.6, size=(n, DIM))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), labels


def softmax_probabilities(embeddings: np.ndarray, *, seed: int = 1) -> np.ndarray:
    logits = embeddings @ np.random.default_rng(seed).normal(size=(DIM, N_CLASSES)) * 3
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def make_pool(n: int, *, seed: int = 0, **fields) -> QueryPool:
    embeddings, _ = blobs(n, seed=seed)
    labeled, _ = blobs(30, seed=seed + 100)
    defaults = {
        "probabilities": softmax_probabilities(embeddings),
        "labeled_embeddings": labeled,
        "classes": ["a", "b", "c", "d"],
        "class_f1": {"a": 0.9, "b": 0.2, "c": 0.6, "d": 0.5},
        "class_f1_previous": {"a": 0.9, "b": 0.1, "c": 0.6, "d": 0.3},
    }
    return QueryPool(embeddings=embeddings, **{**defaults, **fields})


# --- the contract every strategy shares ---------------------------------------------------------


@pytest.fixture(params=sorted(al.STRATEGIES))
def name(request):
    return request.param


def test_empty_pool_gives_an_empty_batch(name):
    pool = QueryPool(embeddings=np.empty((0, DIM), np.float32), probabilities=np.empty((0, N_CLASSES)))
    assert make_strategy(name).query(pool, 10).shape == (0,)
    assert make_strategy(name).priorities(pool, 10).shape == (0,)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_pool_smaller_than_the_batch_returns_every_row_once(name, n):
    batch = make_strategy(name).query(make_pool(n), 10)
    assert sorted(batch.tolist()) == list(range(n))


@pytest.mark.parametrize("with_model", [True, False])
def test_batch_is_distinct_in_range_and_of_the_asked_size(name, with_model):
    pool = make_pool(300) if with_model else make_pool(300, probabilities=None, class_f1=None)
    batch = make_strategy(name, random_state=3).query(pool, 25)
    assert batch.dtype == np.int64 and len(batch) == 25 == len(set(batch.tolist()))
    assert batch.min() >= 0 and batch.max() < len(pool)  # pool-relative: never a labeled row


@pytest.mark.parametrize("with_model", [True, False])
def test_deterministic_under_a_seed(name, with_model):
    pool = make_pool(300) if with_model else make_pool(300, probabilities=None)
    first = make_strategy(name, random_state=7).query(pool, 20)
    np.testing.assert_array_equal(first, make_strategy(name, random_state=7).query(pool, 20))
    np.testing.assert_array_equal(
        make_strategy(name, random_state=7).priorities(pool, 20),
        make_strategy(name, random_state=7).priorities(pool, 20),
    )


def test_priorities_put_the_batch_first_in_its_order(name):
    pool = make_pool(200)
    strategy = make_strategy(name, random_state=1)
    priority = strategy.priorities(pool, 15)
    batch = strategy.query(pool, 15)
    assert priority.shape == (200,)
    np.testing.assert_array_equal(np.argsort(-priority, kind="stable")[:15], batch)


def test_exploration_share_and_its_validation(name):
    pool = make_pool(400)
    greedy = make_strategy(name, exploration=0.0, random_state=0).query(pool, 20)
    explored = make_strategy(name, exploration=0.5, random_state=0).query(pool, 20)
    assert len(greedy) == len(explored) == 20
    np.testing.assert_array_equal(
        explored[:10], make_strategy(name, exploration=0.5, random_state=0).query(pool, 20)[:10]
    )
    with pytest.raises(ValueError, match="exploration"):
        make_strategy(name, exploration=1.5)


def test_multi_label_and_tree_pools_are_accepted(name):
    embeddings, _ = blobs(120)
    sigmoid = np.random.default_rng(0).random((120, N_CLASSES))
    multi = QueryPool(embeddings=embeddings, probabilities=sigmoid, multi_label=True, classes=list("abcd"))
    assert len(set(make_strategy(name).query(multi, 12).tolist())) == 12
    levels = [softmax_probabilities(embeddings, seed=2)[:, :2] / 1.0, softmax_probabilities(embeddings)]
    tree = QueryPool(embeddings=embeddings, probabilities=levels[-1], level_probabilities=levels)
    assert len(set(make_strategy(name).query(tree, 12).tolist())) == 12


# --- registry -----------------------------------------------------------------------------------


def test_registry_and_default():
    assert {
        "random", "least_confidence", "margin", "entropy", "representativeness", "entropy_representativeness",
        "kmeans_diversity", "coreset", "class_priority", "tree_uncertainty", "multi_label",
    } <= set(al.STRATEGIES)  # fmt: skip
    assert al.DEFAULT_STRATEGY in al.STRATEGIES
    assert type(make_strategy("default")) is al.STRATEGIES[al.DEFAULT_STRATEGY]
    assert all(cls.name == name for name, cls in al.STRATEGIES.items())
    with pytest.raises(ValueError, match=r"Unknown query strategy 'nope'.*margin"):
        make_strategy("nope")
    assert "random_state=4" in str(make_strategy("margin", random_state=4))


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        make_strategy("random").query(make_pool(10), 0)


# --- scoring functions --------------------------------------------------------------------------


def test_uncertainty_kinds():
    p = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(al.uncertainty(p, "least_confidence"), [0.5, 0.1, 2 / 3])
    np.testing.assert_allclose(al.uncertainty(p, "margin"), [1.0, 0.15, 1.0])
    entropy = al.uncertainty(p, "entropy")
    assert entropy[2] == pytest.approx(1.0) and entropy[1] < entropy[0] < entropy[2]
    multi = al.uncertainty(np.array([[0.5, 0.99], [0.9, 0.9]]), "margin", multi_label=True)
    np.testing.assert_allclose(multi, [1.0, 0.2])
    with pytest.raises(ValueError, match="unknown uncertainty"):
        al.uncertainty(p, "vibes")


def test_margin_breaks_ties_where_entropy_does_not():
    # Row 0: two classes tied, the rest near zero; row 1: spread thin over all. Margin asks row 0 first.
    p = np.array([[0.49, 0.49, 0.01, 0.01], [0.4, 0.2, 0.2, 0.2]])
    pool = QueryPool(embeddings=np.eye(2, DIM, dtype=np.float32), probabilities=p)
    assert make_strategy("margin", exploration=0).query(pool, 1).tolist() == [0]
    assert make_strategy("entropy", exploration=0).query(pool, 1).tolist() == [1]


def test_representativeness_penalises_outliers():
    embeddings, _ = blobs(400)
    outlier = np.zeros((1, DIM), np.float32)
    outlier[0, 0] = 1.0
    embeddings = np.vstack([embeddings, -embeddings.mean(axis=0, keepdims=True) / 1e-3, outlier])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    density = al.representativeness(embeddings)
    assert density.shape == (402,) and density.min() >= 0 and density.max() <= 1
    assert density[400] == 0.0  # the anti-centroid point is the worst outlier
    assert np.median(density[:400]) > 0.5
    np.testing.assert_array_equal(density[[3, 7]], al.representativeness(embeddings, rows=np.array([3, 7])))


def test_entropy_representativeness_weight():
    pool = make_pool(300)
    entropy = al.uncertainty(pool.probabilities, "entropy")
    np.testing.assert_allclose(make_strategy("entropy_representativeness", beta=0).scores(pool), entropy)
    weighted = make_strategy("entropy_representativeness", beta=2).scores(pool)
    assert np.all(weighted <= entropy + 1e-12)
    with pytest.raises(ValueError, match="beta"):
        make_strategy("entropy_representativeness", beta=-1)


def test_kmeans_diversity_avoids_near_duplicates():
    # 40 copies of one maximally uncertain item and 60 spread items a little less uncertain.
    rng = np.random.default_rng(0)
    spread, _ = blobs(60)
    duplicates = np.repeat(spread[:1], 40, axis=0) + rng.normal(scale=1e-4, size=(40, DIM)).astype(np.float32)
    embeddings = np.vstack([duplicates, spread])
    probabilities = np.vstack([np.tile([0.5, 0.5], (40, 1)), np.tile([0.6, 0.4], (60, 1))])
    pool = QueryPool(embeddings=embeddings, probabilities=probabilities)
    margin = make_strategy("margin", exploration=0).query(pool, 10)
    diverse = make_strategy("kmeans_diversity", exploration=0, candidates=10).query(pool, 10)
    assert np.all(margin < 40)  # plain margin takes ten copies
    assert np.sum(diverse < 40) <= 2


def test_coreset_picks_far_from_the_labeled_items():
    labeled = np.tile(np.eye(1, DIM, dtype=np.float32), (5, 1))
    embeddings = np.vstack([np.eye(1, DIM, dtype=np.float32), np.eye(DIM, dtype=np.float32)[1:4]])
    pool = QueryPool(embeddings=embeddings, labeled_embeddings=labeled)
    batch = make_strategy("coreset", exploration=0).query(pool, 3)
    assert 0 not in batch.tolist()  # row 0 duplicates the labeled items


def test_class_priority_spends_the_batch_on_weak_classes():
    pool = make_pool(1000)
    strategy = make_strategy("class_priority", exploration=0, random_state=0)
    predicted = pool.probabilities.argmax(axis=1)[strategy.query(pool, 40)]
    counts = np.bincount(predicted, minlength=4)
    assert counts[1] > counts[0]  # class b: F1 0.2 and rising; class a: F1 0.9, flat
    no_f1 = QueryPool(embeddings=pool.embeddings, probabilities=pool.probabilities)
    np.testing.assert_array_equal(
        make_strategy("class_priority", exploration=0).query(no_f1, 10),
        make_strategy("margin", exploration=0).query(no_f1, 10),
    )


def test_class_needs_and_allocate():
    need = al.class_needs(["a", "b"], {"a": 0.9, "b": 0.5}, {"a": 0.9, "b": 0.3})
    assert need.sum() == pytest.approx(1.0) and need[1] > need[0]
    assert al.class_needs([1, 2], {"1": 0.5, "2": 0.5}).tolist() == [0.5, 0.5]  # str keys for int classes
    counts = al.allocate(np.array([0.7, 0.2, 0.1]), np.array([3, 100, 100]), 20)
    assert counts.sum() == 20 and counts[0] == 3 and counts[1] > counts[2]
    assert al.allocate(np.array([0.5, 0.5]), np.array([1, 2]), 10).tolist() == [1, 2]


def test_tree_uncertainty_uses_every_level():
    embeddings = np.eye(3, DIM, dtype=np.float32)
    top = np.array([[0.99, 0.01], [0.5, 0.5], [0.99, 0.01]])
    leaves = np.array([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0], [0.98, 0.01, 0.01]])
    pool = QueryPool(embeddings=embeddings, probabilities=leaves, level_probabilities=[top, leaves])
    scores = make_strategy("tree_uncertainty").scores(pool)
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(1.0) and scores[2] < 0.1
    assert make_strategy("tree_uncertainty", aggregate="mean").scores(pool)[0] < 1.0
    with pytest.raises(ValueError, match="aggregate"):
        make_strategy("tree_uncertainty", aggregate="min")


def test_multi_label_strategy_counts_unsure_labels():
    embeddings = np.eye(3, DIM, dtype=np.float32)
    p = np.array([[0.5, 0.5, 0.5], [0.5, 0.99, 0.01], [0.9, 0.1, 0.9]])
    pool = QueryPool(embeddings=embeddings, probabilities=p, multi_label=True)
    assert make_strategy("multi_label", exploration=0).query(pool, 3).tolist() == [0, 1, 2]


def test_cold_start_covers_the_groups():
    embeddings, labels = blobs(500)
    batch = make_strategy("default", random_state=0, exploration=0).query(QueryPool(embeddings=embeddings), 8)
    assert len(set(labels[batch].tolist())) == N_CLASSES
    np.testing.assert_array_equal(batch, al.cold_start(embeddings, 8, random_state=0))


def test_uncertainty_diversity_prefers_items_far_from_the_labeled_ones():
    embeddings = np.eye(3, DIM, dtype=np.float32)
    probabilities = np.tile([0.5, 0.5], (3, 1))
    labeled = embeddings[:2]  # rows 0 and 1 duplicate labeled items
    pool = QueryPool(embeddings=embeddings, probabilities=probabilities, labeled_embeddings=labeled)
    assert make_strategy("uncertainty_diversity", exploration=0, beta=0).query(pool, 1).tolist() == [2]
    assert make_strategy("uncertainty_diversity", exploration=0, beta=0, novelty=0).query(pool, 1).tolist() == [0]


def test_tree_level_probabilities_sum_the_leaves_under_each_node():
    """Issue 20, item 4: the app's tree_uncertainty gets real per-level probabilities."""
    from mlcore.active_learning import tree_level_probabilities

    leaves = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    paths = [["sport", "football"], ["sport", "tennis"], ["politics"]]
    top, bottom = tree_level_probabilities(leaves, paths)
    np.testing.assert_allclose(top, [[0.8, 0.2], [0.2, 0.8]])
    np.testing.assert_allclose(bottom, leaves)
    [flat] = tree_level_probabilities(leaves, [["a"], ["b"], ["c"]])
    np.testing.assert_allclose(flat, leaves)
    # Sure of the branch, unsure between its leaves: margin alone rates it like a sure item's
    # runner-up; the tree sees the doubt at the bottom and the certainty at the top.
    sure_branch = np.array([[0.45, 0.45, 0.10], [0.70, 0.05, 0.25]])
    pool = QueryPool(
        embeddings=np.eye(2, dtype=np.float32),
        probabilities=sure_branch,
        level_probabilities=tree_level_probabilities(sure_branch, paths),
    )
    mean = make_strategy("tree_uncertainty", aggregate="mean").scores(pool)
    assert mean[0] != pytest.approx(make_strategy("margin").scores(pool)[0])
    with pytest.raises(ValueError, match="probabilities must be"):
        tree_level_probabilities(leaves, paths[:2])


# --- issue 23: a default that adapts to skewed classes ------------------------------------------


def test_class_balance_runs_from_one_class_to_even_classes():
    assert al.class_balance(np.tile([0.25, 0.25, 0.25, 0.25], (10, 1))) == pytest.approx(1.0)
    assert al.class_balance(np.tile([1.0, 0.0, 0.0], (10, 1))) == pytest.approx(0.0, abs=1e-9)
    shares = 20.0 ** (-np.arange(5) / 4)  # geometric sizes, the largest 20 times the smallest
    assert al.class_balance((shares / shares.sum())[None, :]) == pytest.approx(0.578, abs=0.001)
    assert al.class_balance(np.ones((3, 1))) == 1.0


def even_pool(n_groups: int, *, seed: int = 0) -> QueryPool:
    """A pool whose mean predicted distribution is exactly even: each group of 4 rows holds one
    distribution in all four rotations of its classes."""
    embeddings, _ = blobs(4 * n_groups, seed=seed)
    base = softmax_probabilities(embeddings[:n_groups])
    probabilities = np.concatenate([np.roll(base, shift, axis=1) for shift in range(4)])
    return QueryPool(embeddings=embeddings, probabilities=probabilities, labeled_embeddings=blobs(30, seed=5)[0])


def test_adaptive_diversity_is_uncertainty_diversity_on_even_classes():
    pool = even_pool(100)
    adaptive = make_strategy("adaptive_diversity", candidate_share=1.0, random_state=3)
    assert adaptive.density_trust(pool) == pytest.approx(1.0)
    np.testing.assert_array_equal(
        adaptive.query(pool, 10), make_strategy("uncertainty_diversity", random_state=3).query(pool, 10)
    )


def skewed_pool() -> QueryPool:
    """300 rows of a big class, mostly sure, and 8 rows of a small class far away, all of them unsure."""
    rng = np.random.default_rng(0)
    big = np.eye(1, DIM) + rng.normal(scale=0.3, size=(300, DIM))
    small = np.eye(1, DIM, 1) + rng.normal(scale=0.5, size=(8, DIM))
    embeddings = np.vstack([big, small])
    embeddings = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype(np.float32)
    sure = rng.uniform(0.6, 0.99, size=300)
    probabilities = np.vstack([np.column_stack([sure, 1 - sure]), np.tile([0.55, 0.45], (8, 1))])
    return QueryPool(embeddings=embeddings, probabilities=probabilities, labeled_embeddings=embeddings[:5])


def test_adaptive_diversity_keeps_a_small_class_that_density_calls_outliers():
    """Issue 23: on a skewed pool the density weight and the outlier cut fade, so the most uncertain
    items, all of the small class, are asked about; `uncertainty_diversity` ranks them as outliers."""
    pool = skewed_pool()
    small = set(range(300, 308))
    adaptive = make_strategy("adaptive_diversity", exploration=0, random_state=0)
    assert adaptive.density_trust(pool) == 0.0
    assert len(small & set(adaptive.query(pool, 8).tolist())) >= 2
    assert not small & set(
        make_strategy("uncertainty_diversity", exploration=0, random_state=0).query(pool, 8).tolist()
    )


def test_adaptive_diversity_candidates_are_a_share_of_a_small_pool():
    pool = even_pool(50)  # 200 rows: 40 x batch 10 would be all of them
    strategy = make_strategy("adaptive_diversity", exploration=0, candidate_share=0.1, random_state=0)
    top = set(np.argsort(-strategy.scores(pool), kind="stable")[:20].tolist())
    assert set(strategy.query(pool, 10).tolist()) <= top
    for bad in ({"candidate_share": 0}, {"skewed_below": 0.95}, {"balanced_above": 1.5}):
        with pytest.raises(ValueError):
            make_strategy("adaptive_diversity", **bad)


def test_adaptive_diversity_reads_skew_from_the_labels_when_the_model_hides_it():
    """A head that corrects its priors (logit adjustment) predicts evenly on a skewed pool: the labels'
    class counts still say that the classes are skewed."""
    pool = even_pool(100)
    strategy = make_strategy("adaptive_diversity")
    even_labels = QueryPool(**{**vars(pool), "classes": list("abcd"), "class_counts": dict.fromkeys("abcd", 25)})
    skewed_labels = QueryPool(**{**vars(pool), "classes": list("abcd"), "class_counts": {"a": 200, "b": 8, "c": 4}})
    assert strategy.density_trust(even_labels) == pytest.approx(1.0)
    assert strategy.density_trust(skewed_labels) == 0.0
    assert al.evenness(np.array([200, 8, 4, 0])) < 0.2


def prior_shifted_pool(shares: np.ndarray, *, n: int = 2000, accuracy: float = 0.8, seed: int = 0) -> np.ndarray:
    """Probabilities of a head that assumes even classes, on a pool whose true class shares are `shares`:
    each row puts `accuracy` on its true class and spreads the rest evenly."""
    rng = np.random.default_rng(seed)
    k = len(shares)
    truth = rng.choice(k, size=n, p=shares / shares.sum())
    probabilities = np.full((n, k), (1.0 - accuracy) / (k - 1))
    probabilities[np.arange(n), truth] = accuracy
    return probabilities


def test_pool_class_shares_see_the_skew_a_logit_adjusted_head_hides():
    """Issue 23: the head's mean prediction understates a long tail; EM under prior shift (Saerens et
    al. 2002) from the head's assumed prior moves the estimate toward the pool's real shares, and leaves
    an even pool even."""
    skewed = 20.0 ** (-np.arange(5) / 4)  # evenness 0.578
    probabilities = prior_shifted_pool(skewed, accuracy=0.5)
    even_prior = np.full(5, 0.2)
    plain = al.class_balance(probabilities)
    estimated = al.evenness(al.pool_class_shares(probabilities, even_prior))
    assert estimated < plain - 0.1
    assert abs(estimated - 0.578) < abs(plain - 0.578)
    balanced = prior_shifted_pool(np.ones(5), accuracy=0.5)
    assert al.evenness(al.pool_class_shares(balanced, even_prior)) > 0.98
    # Relative to the prior the head assumes: a head already holding the pool's skew is left as it is.
    assert al.pool_class_shares(np.tile(skewed / skewed.sum(), (10, 1)), skewed) == pytest.approx(skewed / skewed.sum())


def test_adaptive_diversity_reads_skew_through_the_models_prior():
    skewed = 20.0 ** (-np.arange(4) / 3)
    probabilities = prior_shifted_pool(skewed, n=400, accuracy=0.6)
    embeddings, _ = blobs(400, seed=1)
    pool = QueryPool(embeddings=embeddings, probabilities=probabilities, labeled_embeddings=embeddings[:5])
    strategy = make_strategy("adaptive_diversity")
    with_prior = QueryPool(**{**vars(pool), "model_prior": np.full(4, 0.25)})
    assert strategy.density_trust(with_prior) < strategy.density_trust(pool)
    assert strategy.density_trust(with_prior) == 0.0


def test_a_fast_heads_assumed_prior_follows_its_logit_adjustment():
    from mlcore.models import FastHead

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    y = ["a"] * 90 + ["b"] * 30
    assert FastHead(logit_adjustment=0.0).fit(x, y).class_prior_ == pytest.approx([0.75, 0.25])
    assert FastHead(logit_adjustment=1.0).fit(x, y).class_prior_ == pytest.approx([0.5, 0.5])
    assert FastHead(multi_label=True).fit(x, [["a"], ["b"]] * 60).class_prior_ is None


def test_greedy_novel_does_not_ask_the_same_thing_twice():
    """Below full density trust adaptive_diversity spreads its batch greedily: after one of two
    near-copies is picked, the other has no novelty left, even though it scores higher than the rest."""
    embeddings = np.eye(4, 8, dtype=np.float32)
    embeddings = np.vstack([embeddings[0], embeddings[0], embeddings[1], embeddings[2], embeddings[3]])
    pool = QueryPool(embeddings=embeddings, labeled_embeddings=np.eye(1, 8, 7, dtype=np.float32))
    values = np.array([1.0, 0.99, 0.5, 0.4, 0.3])
    picked = al.greedy_novel(pool, np.arange(5), values, 3, novelty=1.0)
    assert picked.tolist() == [0, 2, 3]
    assert al.greedy_novel(pool, np.arange(2), values[:2], 3, novelty=1.0).tolist() == [0, 1]


def test_adaptive_diversity_spreads_a_skewed_batch_greedily():
    pool = QueryPool(**{**vars(skewed_pool()), "model_prior": np.array([0.5, 0.5])})
    strategy = make_strategy("adaptive_diversity", exploration=0, random_state=0)
    assert strategy.density_trust(pool) == 0.0
    scores = strategy.scores(pool)
    picked = strategy.query(pool, 4)
    assert set(picked.tolist()) <= set(np.argsort(-scores, kind="stable")[:12].tolist())  # 3 x batch candidates


def test_adaptive_diversity_shares_a_skewed_batch_by_class_need():
    """On a skewed pool the batch goes where the F1 is lowest (as `class_priority`), spread greedily
    within each class: the small class's F1 is 0.1, so most of the batch is rows predicted small, though
    the big class's rows are the more uncertain."""
    rng = np.random.default_rng(0)
    embeddings, _ = blobs(400, seed=2)
    big_sure = rng.uniform(0.55, 0.7, size=360)  # predicted big, unsure
    small_sure = rng.uniform(0.75, 0.95, size=40)  # predicted small, fairly sure
    big = np.column_stack([big_sure, 1 - big_sure])
    probabilities = np.vstack([big, np.column_stack([1 - small_sure, small_sure])])
    pool = QueryPool(
        embeddings=embeddings,
        probabilities=probabilities,
        labeled_embeddings=embeddings[:3],
        classes=["big", "small"],
        class_f1={"big": 0.95, "small": 0.1},
        class_counts={"big": 90, "small": 3},
        model_prior=np.array([0.5, 0.5]),
    )
    quota = make_strategy("adaptive_diversity", exploration=0, random_state=0)
    assert quota.density_trust(pool) == 0.0
    picked = quota.query(pool, 10)
    assert len(set(picked.tolist())) == 10
    assert (picked >= 360).sum() >= 8  # need 0.95 of 1.05: 9 of 10
    no_quota = make_strategy("adaptive_diversity", exploration=0, random_state=0, class_quota=False)
    assert (no_quota.query(pool, 10) >= 360).sum() == 0
    # Without per-class F1 (the app before its first evaluation) the quota has nothing to go by.
    unknown = QueryPool(**{**vars(pool), "class_f1": None})
    assert (quota.query(unknown, 10) >= 360).sum() == 0
