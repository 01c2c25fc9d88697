"""Metrics against values computed by hand and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from mlcore.evaluation import classification_metrics


def test_single_label_by_hand():
    # true: a a a b b c ; pred: a a b b c c
    # a: tp 2 fp 0 fn 1 -> P 1, R 2/3, F1 0.8
    # b: tp 1 fp 1 fn 1 -> P 1/2, R 1/2, F1 1/2
    # c: tp 1 fp 1 fn 0 -> P 1/2, R 1, F1 2/3
    # micro: tp 4, fp 2, fn 2 -> 2/3 each; accuracy 4/6
    metrics = classification_metrics(list("aaabbc"), list("aabbcc"), ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert [row["f1"] for row in metrics["per_class"]] == pytest.approx([0.8, 0.5, 2 / 3])
    assert metrics["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics["micro_f1"] == pytest.approx(2 / 3)
    assert [row["support"] for row in metrics["per_class"]] == [3, 2, 1]
    assert metrics["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_multi_label_by_hand():
    # item 1: {x, y} predicted {x}; item 2: {y} predicted {y, z}
    # x: tp 1; y: tp 1, fn 1; z: fp 1 -> F1 x 1, y 2/3, z 0; exact match 0 of 2
    metrics = classification_metrics([["x", "y"], ["y"]], [["x"], ["y", "z"]], ["x", "y", "z"], multi_label=True)
    assert [row["f1"] for row in metrics["per_class"]] == pytest.approx([1.0, 2 / 3, 0.0])
    assert metrics["accuracy"] == 0.0
    assert "confusion" not in metrics


def test_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 200).tolist(), rng.integers(0, 4, 200).tolist()
    metrics = classification_metrics(truth, predicted, [0, 1, 2, 3])
    for average in ("macro", "micro"):
        assert metrics[f"{average}_f1"] == pytest.approx(f1_score(truth, predicted, average=average))
        assert metrics[f"{average}_precision"] == pytest.approx(precision_score(truth, predicted, average=average))
        assert metrics[f"{average}_recall"] == pytest.approx(recall_score(truth, predicted, average=average))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        classification_metrics(["a", "b"], ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no items"):
        classification_metrics([], [], ["a"])


def test_measured_classes_set_the_macro_averages_and_the_rest_is_named():
    """Issue 20, bug 4: a class the test split cannot judge is left out of the macro averages, by name."""
    truth, predicted = ["a", "a", "b", "b", "c"], ["a", "a", "b", "a", "a"]
    every = classification_metrics(truth, predicted, ["a", "b", "c"])
    some = classification_metrics(truth, predicted, ["a", "b", "c"], measured=["a", "b"])
    f1 = {row["label"]: row["f1"] for row in every["per_class"]}
    assert some["macro_f1"] == pytest.approx((f1["a"] + f1["b"]) / 2)
    assert every["macro_f1"] == pytest.approx((f1["a"] + f1["b"] + f1["c"]) / 3)
    assert some["left_out"] == ["c"] and "left_out" not in every
    assert some["accuracy"] == every["accuracy"] and len(some["per_class"]) == 3


def test_predicted_classes_counts_what_the_model_said():
    """Issue 20, bug 4: a model that says one label to every item is told apart."""
    assert classification_metrics(["a", "b", "c"], ["a", "a", "a"], ["a", "b", "c"])["predicted_classes"] == 1
    assert classification_metrics(["a", "b"], ["a", "b"], ["a", "b"])["predicted_classes"] == 2
