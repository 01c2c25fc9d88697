"""Distil one or more teachers into a fast student on raw texts.

Schemes (`SCHEMES`):

- "labels": the student on the human labels alone (the baseline every scheme is compared with);
- "model": model distillation on the human-labeled texts: alpha * CE(human label) + (1 - alpha) * T^2 *
  KL(teacher_T || student_T);
- "data": data distillation: the teachers label the unlabeled pool (soft labels, rows whose top
  probability is below `confidence` left out); the student learns the human labels (hard) and the pool
  rows (the teachers' probabilities at T);
- "both": model + data: the human-labeled rows get both terms, the pool rows the distillation term.

With `finetune`, the distilled student then continues on the human labels alone (`continue_fit`).
Several teachers: their probabilities are softened at T one by one, then averaged. Everything is seeded
by `random_state`.

    >>> student, report = distill_student(DistillConfig(), texts=texts, labels=labels, pool_texts=pool,
    ...     teacher_probabilities=[p_labeled], pool_teacher_probabilities=[p_pool], classes=classes)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlcore.models import MODEL_KINDS, TextClassifier
from mlcore.targets import SoftTargets
from mlcore.training_loop import CancelCheck, ProgressCallback

SCHEMES = ("labels", "model", "data", "both")
# Share of the progress bar for the distillation fit when a fine-tuning run follows.
DISTILL_SHARE = 0.8


@dataclass(frozen=True)
class DistillConfig:
    """What to distil into: the student kind and its parameters, the scheme and its knobs."""

    student_kind: str = "static_head"
    student_params: dict = field(default_factory=dict)
    scheme: str = "data"  # the best measured (docs/benchmarks.md, "Distillation")
    temperature: float = 2.0
    alpha: float = 0.5
    confidence: float = 0.0
    use_pool: bool = True
    finetune: bool = False
    random_state: int = 0

    def check(self) -> DistillConfig:
        """Raise ValueError naming the first bad field; returns self."""
        student_kinds = sorted(kind for kind, cls in MODEL_KINDS.items() if cls.input_type == "texts")
        if self.student_kind not in student_kinds:
            raise ValueError(
                f"student_kind: {self.student_kind!r} is not a student kind on texts; valid: {', '.join(student_kinds)}"
            )
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme: {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if not _is_number(self.temperature) or not self.temperature > 0:
            raise ValueError(f"temperature: must be a number > 0; got {self.temperature!r}")
        if not _is_number(self.alpha) or not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha: must be a number in [0, 1]; got {self.alpha!r}")
        if not _is_number(self.confidence) or not 0 <= self.confidence <= 1:
            raise ValueError(f"confidence: must be a number in [0, 1]; got {self.confidence!r}")
        if not isinstance(self.student_params, dict):
            raise ValueError(f"student_params: must be a dict; got {type(self.student_params).__name__}")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int) or self.random_state < 0:
            raise ValueError(f"random_state: must be an integer >= 0; got {self.random_state!r}")
        return self

    def student(self) -> TextClassifier:
        """A fresh, unfitted student of `student_kind` with `student_params` and this seed."""
        cls = MODEL_KINDS[self.student_kind]
        params = dict(self.student_params)
        if "random_state" in cls().get_params():
            params.setdefault("random_state", self.random_state)
        try:
            return cls(**params)
        except TypeError as error:
            raise ValueError(f"student_params: {error}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def soften(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Rows p -> softmax(log p / T): T > 1 flattens them (dark knowledge), T = 1 leaves them as they are."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def average_teachers(
    probabilities: Sequence[np.ndarray], temperature: float, n_rows: int, n_classes: int
) -> np.ndarray:
    """Each teacher's rows softened at T, then averaged; shapes checked."""
    if not probabilities:
        raise ValueError("at least one teacher's probabilities are needed")
    for i, rows in enumerate(probabilities):
        if np.shape(rows) != (n_rows, n_classes):
            raise ValueError(f"teacher {i}: probabilities of shape {np.shape(rows)}; expected ({n_rows}, {n_classes})")
    return np.mean([soften(rows, temperature) for rows in probabilities], axis=0)


def _split_progress(on_progress: ProgressCallback | None, finetune: bool) -> tuple[Any, Any]:
    if on_progress is None:
        return None, None
    if not finetune:
        return on_progress, None
    return (lambda f: on_progress(DISTILL_SHARE * f)), (lambda f: on_progress(DISTILL_SHARE + (1 - DISTILL_SHARE) * f))


def distill_student(
    config: DistillConfig,
    *,
    texts: Sequence[str],
    labels: Sequence,
    pool_texts: Sequence[str],
    teacher_probabilities: list[np.ndarray],
    pool_teacher_probabilities: list[np.ndarray],
    classes: Sequence,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> tuple[TextClassifier, dict]:
    """Train a student of `config` (see the module docstring); (fitted student, report).

    `texts`/`labels`: the human-labeled items; `pool_texts`: unlabeled ones. `teacher_probabilities`:
    one (len(texts), len(classes)) array per teacher, `pool_teacher_probabilities` one
    (len(pool_texts), len(classes)) array per teacher, columns over the sorted `classes`.
    """
    config.check()
    texts, labels, pool_texts = list(texts), list(labels), list(pool_texts) if config.use_pool else []
    classes = sorted(classes)
    if len(texts) != len(labels) or not texts:
        raise ValueError(f"texts and labels must be non-empty and as long; got {len(texts)} and {len(labels)}")
    unknown = sorted({str(label) for label in labels if label not in set(classes)})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes")
    uses_teacher = config.scheme != "labels"
    uses_pool = config.scheme in ("data", "both") and bool(pool_texts)
    n_classes = len(classes)
    report: dict = {
        "scheme": config.scheme,
        "student_kind": config.student_kind,
        "n_labeled": len(texts),
        "n_pool": len(pool_texts),
        "n_pool_used": 0,
        "n_teachers": len(teacher_probabilities) if uses_teacher else 0,
        "config": asdict(config),
    }
    student = config.student()
    fit_progress, finetune_progress = _split_progress(on_progress, config.finetune and uses_teacher)
    extra = {"unlabeled": pool_texts} if _takes_unlabeled(student) else {}
    if not uses_teacher:
        student.fit(texts, labels, on_progress=fit_progress, should_cancel=should_cancel, **extra)
        report["finetuned"] = False
        return student, report

    temperature = config.temperature
    labeled_soft = average_teachers(teacher_probabilities, temperature, len(texts), n_classes)
    rows_texts, rows_soft, rows_hard = list(texts), [labeled_soft], list(labels)
    alpha = config.alpha
    if config.scheme == "data":
        # The human labels stay hard: their rows carry the label as a one-hot "teacher" row and the
        # distillation term alone trains (alpha 0); T^2 KL against a one-hot row is T^2 * CE at T.
        rows_soft = [np.eye(n_classes)[[classes.index(label) for label in labels]]]
        rows_hard, alpha = [None] * len(texts), 0.0
    if uses_pool:
        pool_soft = average_teachers(pool_teacher_probabilities, temperature, len(pool_texts), n_classes)
        # The confidence filter reads the teachers' own (unsoftened) average: a threshold means the same
        # whatever T is.
        sure = average_teachers(pool_teacher_probabilities, 1.0, len(pool_texts), n_classes).max(axis=1)
        keep = np.flatnonzero(sure >= config.confidence)
        rows_texts += [pool_texts[i] for i in keep]
        rows_soft.append(pool_soft[keep])
        rows_hard += [None] * len(keep)
        report["n_pool_used"] = len(keep)
    targets = SoftTargets(
        classes=classes,
        probabilities=np.concatenate(rows_soft),
        hard=rows_hard,
        temperature=temperature,
        alpha=alpha,
    )
    student.fit(rows_texts, targets, on_progress=fit_progress, should_cancel=should_cancel, **extra)
    report["finetuned"] = bool(config.finetune)
    if config.finetune:
        student.continue_fit(texts, labels, on_progress=finetune_progress, should_cancel=should_cancel)
    return student, report


def _takes_unlabeled(student: TextClassifier) -> bool:
    import inspect

    return "unlabeled" in inspect.signature(student.fit).parameters
