"""Classification metrics for a model version: accuracy, macro/micro P/R/F1, per class, confusion.

Pure numpy over label ids, so single-label (one label per item) and multi-label (a set per item)
use the same code: each item becomes a 0/1 row over the classes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def _native(value: Hashable) -> Hashable:
    """A numpy scalar as the Python value, so the metrics serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _indicator(labels: Sequence, classes: Sequence[Hashable], multi_label: bool) -> np.ndarray:
    index = {label: i for i, label in enumerate(classes)}
    rows = np.zeros((len(labels), len(classes)), dtype=bool)
    for row, value in enumerate(labels):
        for label in value if multi_label else [value]:
            if label in index:
                rows[row, index[label]] = True
    return rows


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per entry; 0 where undefined (as scikit-learn's zero_division=0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


def classification_metrics(
    y_true: Sequence,
    y_pred: Sequence,
    classes: Sequence[Hashable],
    *,
    multi_label: bool = False,
    measured: Sequence[Hashable] | None = None,
) -> dict:
    """Metrics as a JSON-ready dict. `classes` fixes the order of the per-class rows and the matrix.

    Accuracy is exact-match (the whole label set, in multi-label projects). The confusion matrix
    (rows: true class, columns: predicted) exists for single-label only. `predicted_classes` counts
    the distinct labels predicted: 1 among several classes is a model that says one thing to all.
    `measured`: the classes the macro averages are taken over (the others, say with too few test
    items to judge, are listed in `left_out` and keep their per-class rows); default all.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not len(y_true):
        raise ValueError("no items to evaluate on")
    truth, predicted = _indicator(y_true, classes, multi_label), _indicator(y_pred, classes, multi_label)
    tp = (truth & predicted).sum(axis=0).astype(float)
    fp = (~truth & predicted).sum(axis=0).astype(float)
    fn = (truth & ~predicted).sum(axis=0).astype(float)
    precision, recall, f1 = _prf(tp, fp, fn)
    averaged = np.ones(len(classes), dtype=bool)
    if measured is not None:
        kept = set(measured)
        averaged = np.array([label in kept for label in classes], dtype=bool)
        if not averaged.any():
            raise ValueError("measured names none of the classes")
    micro_p, micro_r, micro_f1 = (float(v) for v in _prf(tp.sum(), fp.sum(), fn.sum()))
    metrics = {
        "n": len(y_true),
        "accuracy": float((truth == predicted).all(axis=1).mean()),
        "macro_precision": float(precision[averaged].mean()),
        "macro_recall": float(recall[averaged].mean()),
        "macro_f1": float(f1[averaged].mean()),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f1,
        "per_class": [
            {
                "label": _native(label),
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(truth[:, i].sum()),
            }
            for i, label in enumerate(classes)
        ],
        "predicted_classes": int(predicted.any(axis=0).sum()),
    }
    if measured is not None:
        metrics["left_out"] = [_native(label) for label, kept in zip(classes, averaged, strict=True) if not kept]
    if not multi_label:
        index = {label: i for i, label in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=int)
        for true, pred in zip(y_true, y_pred, strict=True):
            if true in index and pred in index:
                matrix[index[true], index[pred]] += 1
        metrics["confusion"] = matrix.tolist()
    return metrics
