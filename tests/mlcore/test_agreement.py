import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from mlcore.agreement import (
    LENGTH_MISMATCH,
    PairKappa,
    cohen_kappa,
    coincidence_matrix,
    krippendorff_alpha_nominal,
    pairwise_kappa,
    per_label_alpha,
)

# --- Cohen's kappa --------------------------------------------------------------------------------------


def test_kappa_of_the_classic_two_by_two_table():
    # 50 items:        B yes  B no
    #          A yes     20     5     (A: 25 yes, 25 no)
    #          A no      10    15     (B: 30 yes, 20 no)
    # p_o = (20 + 15) / 50 = 0.7
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    labels_a, labels_b = zip(*pairs, strict=True)
    assert cohen_kappa(labels_a, labels_b) == pytest.approx(0.4)


def test_kappa_with_three_categories():
    # item:  1 2 3 4 5 6 7 8 9 10
    # A:     x x x x y y y z z z     A: x 4, y 3, z 3
    # B:     x x x y y y z z z x     B: x 4, y 3, z 3
    # agree: items 1-3, 5-6, 8-9 -> p_o = 7/10
    # p_e = (4*4 + 3*3 + 3*3) / 100 = 34/100
    # kappa = (0.70 - 0.34) / (1 - 0.34) = 0.36 / 0.66 = 6/11 = 0.5454...
    assert cohen_kappa(list("xxxxyyyzzz"), list("xxxyyyzzzx")) == pytest.approx(6 / 11)


def test_kappa_of_perfect_agreement_is_one():
    assert cohen_kappa([1, 2, 3, 1], [1, 2, 3, 1]) == 1.0


def test_kappa_when_both_raters_used_one_single_category_is_one():
    # p_o = 1 and p_e = 1: kappa is 0/0 and documented as 1.0 (scikit-learn gives NaN).
    assert cohen_kappa(["spam"] * 5, ["spam"] * 5) == 1.0


def test_kappa_when_only_one_rater_varies_is_zero():
    # A always says a, so p_e = P_B(a) = 2/4 = p_o: agreement exactly at chance.
    assert cohen_kappa(["a"] * 4, ["a", "a", "b", "c"]) == pytest.approx(0.0)


def test_kappa_refuses_different_lengths():
    with pytest.raises(ValueError, match="got 2 and 3 labels") as error:
        cohen_kappa([1, 2], [1, 2, 3])
    assert str(error.value) == LENGTH_MISMATCH.format(len_a=2, len_b=3)


def test_kappa_of_no_items_is_none():
    assert cohen_kappa([], []) is None


def test_kappa_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(7)
    labels_a = rng.integers(0, 4, size=300)
    # B copies A 60% of the time, otherwise guesses: kappa well inside (0, 1).
    labels_b = np.where(rng.random(300) < 0.6, labels_a, rng.integers(0, 4, size=300))
    expected = cohen_kappa_score(labels_a, labels_b)
    assert 0.3 < expected < 0.9
    assert cohen_kappa(labels_a.tolist(), labels_b.tolist()) == pytest.approx(expected)


# --- Krippendorff's alpha -------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 coders x 12 units example
# with missing values (None here). Unit 12 has a single value (B: 3) and is not pairable.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
KRIPPENDORFF_2011_UNITS = [
    [value for value in unit if value is not None] for unit in zip(*KRIPPENDORFF_2011.values(), strict=True)
]


def test_alpha_of_krippendorffs_worked_example():
    # Coincidence totals from the paper: n = 40 pairable values, n_1..n_5 = 9, 13, 10, 5, 3, and
    # sum o_cc = 7 + 10 + 8 + 4 + 3 = 32.
    # alpha = ((n - 1) * sum o_cc - sum n_c (n_c - 1)) / (n (n - 1) - sum n_c (n_c - 1))
    #       = (39 * 32 - (72 + 156 + 90 + 20 + 6)) / (40 * 39 - 344) = 904 / 1216 = 0.7434...
    alpha = krippendorff_alpha_nominal(KRIPPENDORFF_2011_UNITS)
    assert round(alpha, 3) == 0.743
    assert alpha == pytest.approx(904 / 1216)


def test_coincidence_matrix_of_krippendorffs_worked_example():
    # The matrix printed in the paper; values 1..5 first appear in this order, so rows are 1..5.
    third = 1 / 3
    expected = [
        [7, 4 * third, third, third, 0],
        [4 * third, 10, 4 * third, third, 0],
        [third, 4 * third, 8, third, 0],
        [third, third, third, 4, 0],
        [0, 0, 0, 0, 3],
    ]
    matrix = coincidence_matrix(KRIPPENDORFF_2011_UNITS)
    np.testing.assert_allclose(matrix, expected)
    np.testing.assert_allclose(matrix.sum(axis=1), [9, 13, 10, 5, 3])


def test_alpha_of_two_coders_by_hand():
    # 5 units, 2 coders: (a,a) (a,b) (b,b) (b,b) (a,a).
    # Coincidences: o_aa = 2 + 2 = 4, o_bb = 2 + 2 = 4, o_ab = o_ba = 1; n = 10, n_a = n_b = 5.
    # D_o = (o_ab + o_ba) / n = 2/10;  D_e = (n^2 - n_a^2 - n_b^2) / (n (n - 1)) = 50/90 = 5/9.
    # alpha = 1 - (2/10) / (5/9) = 1 - 0.36 = 0.64.
    # Cross-check with Scott's pi: p_o = 4/5, p_e = 0.5^2 + 0.5^2 = 0.5, pi = 1 - 0.2/0.5 = 0.6, and
    # for two coders alpha = 1 - (1 - pi) (n - 1) / n = 1 - 0.4 * 9/10 = 0.64 (small-sample correction).
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"], ["a", "a"]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.64)


def test_alpha_of_two_coders_is_scotts_pi_with_the_small_sample_correction():
    rng = np.random.default_rng(3)
    first = rng.integers(0, 3, size=40)
    second = np.where(rng.random(40) < 0.7, first, rng.integers(0, 3, size=40))
    pooled = Counter([*first.tolist(), *second.tolist()])
    n = 2 * len(first)
    p_o = np.mean(first == second)
    p_e = sum((count / n) ** 2 for count in pooled.values())
    scotts_pi = (p_o - p_e) / (1 - p_e)
    alpha = krippendorff_alpha_nominal(list(zip(first.tolist(), second.tolist(), strict=True)))
    assert alpha == pytest.approx(1 - (1 - scotts_pi) * (n - 1) / n)


def test_alpha_ignores_units_with_a_single_value():
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"], ["a", "a"]]
    assert krippendorff_alpha_nominal([*units, ["a"], [], ["b"]]) == pytest.approx(0.64)


def test_alpha_without_variation_is_one():
    # D_e = 0: alpha is 0/0 and documented as 1.0. The lone "b" is not pairable, so it does not count.
    assert krippendorff_alpha_nominal([["a", "a", "a"], ["a", "a"], ["b"]]) == 1.0


def test_alpha_with_nothing_pairable_is_none():
    assert krippendorff_alpha_nominal([]) is None
    assert krippendorff_alpha_nominal([["a"], [], ["b"]]) is None


def test_alpha_compares_whole_label_sets_as_values():
    # Units: ({1,2},{1,2}) ({1},{1,2}) ({2},{2}); frozenset({2, 1}) is the same value as frozenset({1, 2}).
    # Coincidences: o_12,12 = 2, o_1,12 = o_12,1 = 1, o_2,2 = 2; n = 6, n_12 = 3, n_1 = 1, n_2 = 2.
    # D_o = 2/6;  D_e = (36 - 9 - 1 - 4) / 30 = 22/30;  alpha = 1 - (1/3) / (22/30) = 1 - 10/22 = 6/11.
    both, one, two = frozenset({1, 2}), frozenset({1}), frozenset({2})
    units = [[both, frozenset({2, 1})], [one, both], [two, two]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(6 / 11)


# --- pairwise kappa -------------------------------------------------------------------------------------


def test_pairwise_kappa_covers_each_pair_on_its_shared_items():
    ratings = {
        "i1": {"carol": "y", "bob": "x", "alice": "x"},
        "i2": {"bob": "y", "alice": "y"},
        "i3": {"alice": "x", "bob": "y", "carol": "y"},
        "i4": {"bob": "x", "carol": "x"},
        "i5": {"dave": "x"},  # nobody else rated i5, so dave is in no pair
        "i6": {"bob": "y", "carol": "y"},
    }
    # alice-bob on i1 i2 i3: A x y x, B x y y. p_o = 2/3; A x2 y1, B x1 y2 -> p_e = (2 + 2)/9 = 4/9;
    #   kappa = (2/3 - 4/9) / (5/9) = 2/5.
    # alice-carol on i1 i3: A x x, C y y. p_o = 0, p_e = 0 -> kappa = 0.
    # bob-carol on i1 i3 i4 i6: B x y x y, C y y x y. p_o = 3/4; B x2 y2, C x1 y3 -> p_e = (2 + 6)/16 = 1/2;
    #   kappa = (3/4 - 1/2) / (1/2) = 1/2.
    assert pairwise_kappa(ratings) == [
        PairKappa("alice", "bob", kappa=pytest.approx(0.4), items=3),
        PairKappa("alice", "carol", kappa=pytest.approx(0.0), items=2),
        PairKappa("bob", "carol", kappa=pytest.approx(0.5), items=4),
    ]


def test_pairwise_kappa_keeps_first_appearance_order_for_raters_that_cannot_be_sorted():
    ratings = {"i1": {"z": "a", 1: "a"}, "i2": {1: "b", "z": "b"}}
    assert pairwise_kappa(ratings) == [PairKappa("z", 1, kappa=1.0, items=2)]


def test_pairwise_kappa_of_no_ratings_is_empty():
    assert pairwise_kappa({}) == []


# --- per-label alpha ------------------------------------------------------------------------------------


def test_per_label_alpha_by_hand():
    ratings = {
        "i1": {"u1": frozenset({"a"}), "u2": frozenset({"a"})},
        "i2": {"u1": frozenset({"a", "b"}), "u2": frozenset({"b"})},
        "i3": {"u1": frozenset({"b"}), "u2": frozenset({"b"}), "u3": frozenset()},
        "i4": {"u1": frozenset({"a"}), "u2": frozenset({"a", "b"})},
        "i5": {"u1": frozenset({"a"})},  # one rater: not pairable, ignored
    }
    # For binary values alpha = 1 - (n - 1) (o_TF + o_FT) / (2 n_T n_F).
    # label a, units i1..i4: [T,T] [T,F] [F,F,F] [T,T]
    #   o_TT = 2 + 2 = 4, o_TF = o_FT = 1, o_FF = 3*2/2 = 3; n = 9, n_T = 5, n_F = 4
    #   alpha = 1 - 8 * 2 / (2 * 5 * 4) = 1 - 16/40 = 0.6
    # label b, units i1..i4: [F,F] [T,T] [T,T,F] [F,T]
    #   i3 (m = 3, weight 1/2): o_TT += 2*1/2 = 1, o_TF += 2*1/2 = 1, o_FT += 1
    #   o_TT = 2 + 1 = 3, o_FF = 2, o_TF = o_FT = 1 + 1 = 2; n = 9, n_T = 5, n_F = 4
    #   alpha = 1 - 8 * 4 / (2 * 5 * 4) = 1 - 32/40 = 0.2
    # label c: nobody used it -> all False, no variation -> 1.0
    result = per_label_alpha(ratings, ["a", "b", "c"])
    assert result == {"a": pytest.approx(0.6), "b": pytest.approx(0.2), "c": 1.0}


def test_per_label_alpha_works_for_single_label_projects():
    # One-element sets: label "x" is present for both raters on i1 and i3, for one rater on i2.
    # Units for x: [T,T] [T,F] [T,T] [F,F]: o_TT = 4, o_TF = o_FT = 1, o_FF = 2; n = 8, n_T = 5, n_F = 3
    #   alpha = 1 - 7 * 2 / (2 * 5 * 3) = 1 - 14/30 = 8/15
    ratings = {
        "i1": {"u1": frozenset({"x"}), "u2": frozenset({"x"})},
        "i2": {"u1": frozenset({"x"}), "u2": frozenset({"y"})},
        "i3": {"u1": frozenset({"x"}), "u2": frozenset({"x"})},
        "i4": {"u1": frozenset({"y"}), "u2": frozenset({"y"})},
    }
    assert per_label_alpha(ratings, ["x"]) == {"x": pytest.approx(8 / 15)}


def test_per_label_alpha_with_no_pairable_item_is_none():
    assert per_label_alpha({"i1": {"u1": frozenset({"a"})}}, ["a"]) == {"a": None}


def test_per_label_alpha_refuses_a_bare_label_instead_of_a_set():
    # "ab" would otherwise be read as the set of its characters by `in`.
    with pytest.raises(TypeError, match="needs a set of labels"):
        per_label_alpha({"i1": {"u1": "ab", "u2": frozenset({"a"})}}, ["a"])


# --- purity ---------------------------------------------------------------------------------------------


def test_module_imports_neither_django_nor_celery():
    # A fresh interpreter: the test session itself has Django loaded by pytest-django.
    code = (
        "import sys, mlcore.agreement; print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery')))"
    )
    repo_root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    output = run.stdout
    assert output.strip() == "[]"
