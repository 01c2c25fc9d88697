"""Soft targets, sample weights and continue_fit for every model kind (issue 21: distillation).

A student learns from a teacher's probabilities (`SoftTargets`), from the human labels of the rows that
have one, or both; `sample_weight` weighs rows; `continue_fit` trains a fitted model further.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcore.losses import DistillationLoss, make_loss
from mlcore.models import FastHead, SoftTargets, TextCNN, TrainingCancelled, load_model
from mlcore.teacher import Teacher
from tests.mlcore.test_models import blobs, label_blobs, multi_label_texts, single_label_texts
from tests.mlcore.test_teacher import FAST, single

CLASSES = ["blue", "green", "red"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_hot_ish(labels, classes, sure: float = 0.9) -> np.ndarray:
    """Rows giving `sure` to each item's label and the rest evenly to the other classes."""
    rest = (1.0 - sure) / (len(classes) - 1)
    probabilities = np.full((len(labels), len(classes)), rest)
    probabilities[np.arange(len(labels)), [list(classes).index(label) for label in labels]] = sure
    return probabilities


def text_cnn(tokenization: str, **params) -> TextCNN:
    defaults = {"tokenization": tokenization, "min_count": 1, "epochs": 2, "batch_size": 16, "learning_rate": 3e-3}
    return TextCNN(**{**defaults, "device": "cpu", **params})


def fast_head(head: str, **params) -> FastHead:
    defaults = {"head": head, "self_training": None, "epochs": 5, "batch_size": 16, "device": "cpu"}
    return FastHead(**{**defaults, **params})


def text_data(tokenization: str, n: int, seed: int):
    return single_label_texts(n, seed, chinese=tokenization == "char")


# Each kind and variant: how to build it, and tiny data (inputs, labels over two or three classes).
KINDS = {
    "text_cnn-wordpiece": (lambda **p: text_cnn("wordpiece", **p), lambda n, s: text_data("wordpiece", n, s)),
    "text_cnn-char": (lambda **p: text_cnn("char", **p), lambda n, s: text_data("char", n, s)),
    "fast_head-lr": (lambda **p: fast_head("lr", **p), blobs),
    "fast_head-mlp": (lambda **p: fast_head("mlp", **p), blobs),
}


# --- SoftTargets itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probabilities": np.full((3, 2), 0.5)}, r"shape \(n, 3\)"),
        ({"probabilities": np.full(3, 1 / 3)}, r"shape \(n, 3\)"),
        ({"probabilities": np.array([[1.5, -0.5, 0.0]])}, r"in \[0, 1\]"),
        ({"probabilities": np.array([[np.nan, 0.5, 0.5]])}, "finite"),
        ({"temperature": 0}, "temperature must be a number > 0"),
        ({"temperature": -1.0}, "temperature must be a number > 0"),
        ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
        ({"alpha": -0.1}, r"alpha must be a number in \[0, 1\]"),
        ({"hard": ["blue", "purple"]}, r"hard\[1\]: label 'purple' is not among the classes"),
        ({"hard": ["blue"]}, "hard has 1 rows but probabilities have 2"),
        ({"classes": ["red", "blue", "green"]}, "sorted and unique"),
        ({"classes": ["blue", "blue", "red"]}, "sorted and unique"),
        ({"classes": "abc"}, "sequence of labels"),
    ],
)
def test_bad_soft_targets_are_refused_with_a_clear_message(kwargs, message):
    arguments = {"classes": CLASSES, "probabilities": np.full((2, 3), 1 / 3), **kwargs}
    with pytest.raises(ValueError, match=message):
        SoftTargets(**arguments)


def test_soft_targets_are_normalised_and_read_only():
    targets = SoftTargets(np.array(CLASSES), [[0.2, 0.3, 0.5]], hard=[np.str_("red")], temperature=2, alpha=1)
    assert targets.classes == ("blue", "green", "red")
    assert targets.probabilities.dtype == np.float64 and not targets.probabilities.flags.writeable
    assert (targets.temperature, targets.alpha, len(targets)) == (2.0, 1.0, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fit_refuses_rows_that_do_not_sum_to_one_and_a_length_mismatch(kind):
    make, data = KINDS[kind]
    inputs, labels = data(12, 0)
    classes = sorted(set(labels))
    bad = np.full((12, len(classes)), 0.4)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        make().fit(inputs, SoftTargets(classes, bad))
    with pytest.raises(ValueError, match="X has 12 items but y has 11"):
        make().fit(inputs, SoftTargets(classes, one_hot_ish(labels[:11], classes)))


def test_single_label_soft_targets_need_two_classes_and_single_hard_labels():
    points, _ = blobs(6, seed=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fast_head("lr").fit(points, SoftTargets(["blue"], np.ones((6, 1))))
    soft = SoftTargets(CLASSES, np.full((6, 3), 1 / 3), hard=[["blue", "red"]] + [None] * 5)
    with pytest.raises(ValueError, match="one label"):
        fast_head("lr").fit(points, soft)


# --- every kind: soft targets, weights, continue_fit ---------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_fits_soft_targets_over_their_classes_and_continues(kind, tmp_path):
    make, data = KINDS[kind]
    inputs, labels = data(36, 0)
    # A third class nobody is labelled with and the teacher rarely picks still becomes a column.
    classes = sorted({*labels, "zzz"})
    probabilities = one_hot_ish(labels, classes, sure=0.8)
    hard = [label if i % 3 == 0 else None for i, label in enumerate(labels)]
    model = make().fit(inputs, SoftTargets(classes, probabilities, hard=hard, temperature=2.0, alpha=0.5))
    assert list(model.classes_) == classes
    assert model.predict_proba(inputs).shape == (36, len(classes))

    before = model.predict_proba(inputs)
    progress = []
    returned = model.continue_fit(inputs[:12], labels[:12], epochs=1, on_progress=progress.append)
    assert returned is model and list(model.classes_) == classes
    assert progress[-1] == 1.0
    after = model.predict_proba(inputs)
    assert after.shape == before.shape and not np.allclose(after, before)
    loaded = load_model(model.save(tmp_path / kind))
    np.testing.assert_allclose(loaded.predict_proba(inputs), after, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_alpha_one_with_every_hard_label_is_hard_label_training(kind):
    make, data = KINDS[kind]
    inputs, labels = data(30, 0)
    classes = sorted(set(labels))
    # Probabilities that disagree with the labels: alpha=1 must ignore them.
    probabilities = one_hot_ish(labels, classes, sure=0.1 if len(classes) == 2 else 0.2)
    soft = make().fit(inputs, SoftTargets(classes, probabilities, hard=labels, alpha=1.0, temperature=3.0))
    hard = make().fit(inputs, labels)
    np.testing.assert_allclose(soft.predict_proba(inputs), hard.predict_proba(inputs), atol=1e-6)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rows_of_weight_zero_change_nothing(kind):
    make, data = KINDS[kind]
    inputs, labels = data(30, 0)
    junk_inputs, junk_labels = data(10, 5)
    junk_labels = [sorted(set(labels))[0]] * 10  # all one class: they would shift the model
    if isinstance(inputs, np.ndarray):
        inputs_all = np.concatenate([inputs, junk_inputs + 3.0])
    else:
        inputs_all = [*inputs, *(text + " zebra" for text in junk_inputs)]
    weights = np.r_[np.ones(30), np.zeros(10)]
    weighted = make().fit(inputs_all, [*labels, *junk_labels], sample_weight=weights)
    plain = make().fit(inputs, labels)
    np.testing.assert_allclose(weighted.predict_proba(inputs), plain.predict_proba(inputs), atol=1e-6)
    if isinstance(weighted, TextCNN):
        assert weighted.vocabulary_ == plain.vocabulary_  # the zero-weight texts add no token


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_weights_matter_and_bad_weights_are_refused(kind):
    make, data = KINDS[kind]
    inputs, labels = data(30, 0)
    weights = np.where(np.asarray(labels) == labels[0], 5.0, 1.0)
    plain = make().fit(inputs, labels).predict_proba(inputs)
    weighted = make().fit(inputs, labels, sample_weight=weights).predict_proba(inputs)
    assert not np.allclose(plain, weighted, atol=1e-4)
    for bad, message in [
        (np.ones(29), r"shape \(30,\)"),
        (-np.ones(30), ">= 0"),
        (np.zeros(30), "all zero"),
        (np.full(30, np.inf), "finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            make().fit(inputs, labels, sample_weight=bad)


def test_logistic_weight_two_equals_a_duplicated_row():
    points, labels = blobs(30, seed=0)
    weights = np.ones(30)
    weights[:5] = 2.0
    weighted = fast_head("lr").fit(points, labels, sample_weight=weights)
    duplicated = fast_head("lr").fit(np.concatenate([points, points[:5]]), [*labels, *labels[:5]])
    np.testing.assert_allclose(weighted.predict_proba(points), duplicated.predict_proba(points), atol=1e-3)


def test_continue_fit_keeps_classes_and_refuses_unknown_labels():
    points, labels = blobs(30, seed=0)
    model = fast_head("mlp").fit(points, labels)
    with pytest.raises(ValueError, match="label 'purple' is not among the classes"):
        model.continue_fit(points[:2], ["blue", "purple"])
    with pytest.raises(ValueError, match="differ from the model's classes"):
        model.continue_fit(points[:2], SoftTargets(["blue", "green"], [[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        model.continue_fit(points, labels, epochs=0)
    # Labels of one class only are fine: the classes stay those of the fit.
    model.continue_fit(points[:3], ["red"] * 3, epochs=1)
    assert list(model.classes_) == CLASSES
    lr = fast_head("lr").fit(points, labels).continue_fit(points[:10], labels[:10])
    assert list(lr.classes_) == CLASSES and lr.predict_proba(points).shape == (30, 3)


def test_continue_fit_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fast_head("mlp").continue_fit(*blobs(6, seed=0))


def test_a_cancelled_continue_fit_keeps_the_weights():
    texts, labels = single_label_texts(30, seed=0)
    model = text_cnn("wordpiece").fit(texts, labels)
    before = model.predict_proba(texts)
    checks = iter([False] * 3 + [True] * 1000)
    with pytest.raises(TrainingCancelled):
        model.continue_fit(texts, labels, epochs=3, should_cancel=lambda: next(checks))
    np.testing.assert_array_equal(model.predict_proba(texts), before)


def test_continue_fit_on_text_cnn_keeps_the_vocabulary():
    texts, labels = single_label_texts(30, seed=0)
    model = text_cnn("wordpiece").fit(texts, labels)
    vocabulary = list(model.vocabulary_)
    model.continue_fit(["zebra xylophone goal"] * 4, ["sport"] * 4, epochs=1)
    assert model.vocabulary_ == vocabulary


def test_fast_head_self_training_is_off_with_soft_targets():
    points, labels = blobs(30, seed=0)
    pool, _ = blobs(60, seed=1)
    soft = SoftTargets(CLASSES, one_hot_ish(labels, CLASSES))
    model = FastHead(head="lr").fit(points, soft, unlabeled=pool)
    assert model.n_pseudo_labeled_ == 0 and model.labels_only_ is model


# --- the student learns the teacher -------------------------------------------------------------


def teacher_task(n: int, seed: int, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Points and a fixed linear teacher's probabilities over CLASSES (overlapping classes)."""
    weights = np.random.default_rng(7).normal(size=(dim, 3))
    points = np.random.default_rng(seed).normal(size=(n, dim))
    logits = points @ weights
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    return points, probabilities / probabilities.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("head", ["lr", "mlp"])
def test_a_student_on_soft_labels_matches_the_teacher_better_than_on_few_labels(head):
    labeled, labeled_p = teacher_task(12, seed=0)
    pool, pool_p = teacher_task(400, seed=1)
    test, test_p = teacher_task(500, seed=2)
    labels = [CLASSES[i] for i in labeled_p.argmax(axis=1)]
    params = {"epochs": 30} if head == "mlp" else {}
    few = fast_head(head, **params).fit(labeled, labels)
    soft = SoftTargets(CLASSES, np.concatenate([labeled_p, pool_p]), hard=[*labels, *[None] * 400], alpha=0.5)
    student = fast_head(head, **params).fit(np.concatenate([labeled, pool]), soft)
    truth = np.asarray(CLASSES)[test_p.argmax(axis=1)]
    agree_few = float(np.mean(few.predict(test) == truth))
    agree_soft = float(np.mean(student.predict(test) == truth))
    assert agree_soft >= 0.9 and agree_soft > agree_few + 0.05, (agree_few, agree_soft)


def test_a_text_cnn_learns_from_soft_labels_alone():
    texts, labels = single_label_texts(60, seed=0)
    classes = ["politics", "sport"]
    model = text_cnn("wordpiece", epochs=8).fit(texts, SoftTargets(classes, one_hot_ish(labels, classes, 0.8)))
    test, truth = single_label_texts(40, seed=1)
    assert np.mean(model.predict(test) == np.asarray(truth)) >= 0.9


# --- multi-label --------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["lr", "mlp"])
def test_multi_label_soft_targets_train_against_each_label_probability(head):
    points, label_lists = label_blobs(120, seed=0)
    probabilities = np.array([[0.9 if c in row else 0.1 for c in CLASSES] for row in label_lists])
    hard = [row if i % 4 == 0 else None for i, row in enumerate(label_lists)]
    soft = SoftTargets(CLASSES, probabilities, hard=hard, alpha=0.3)
    model = fast_head(head, multi_label=True, epochs=40).fit(points, soft)
    test, truth = label_blobs(40, seed=1)
    predicted = model.predict(test)
    assert np.mean([sorted(p) == sorted(t) for p, t in zip(predicted, truth, strict=True)]) >= 0.8
    model.continue_fit(points[:10], label_lists[:10], epochs=1)
    assert list(model.classes_) == CLASSES


def test_multi_label_soft_targets_train_a_text_cnn_and_the_teacher(tiny_backbone):
    texts, label_lists = multi_label_texts(60, seed=0)
    classes = ["politics", "sport"]
    probabilities = np.array([[0.9 if c in row else 0.1 for c in classes] for row in label_lists])
    soft = SoftTargets(classes, probabilities, hard=[*label_lists[:20], *[None] * 40], alpha=0.5)
    cnn = text_cnn("wordpiece", multi_label=True, epochs=1).fit(texts, soft)
    teacher = Teacher(backbone=tiny_backbone, multi_label=True, **{**FAST, "epochs": 1}).fit(texts, soft)
    for model in (cnn, teacher):
        assert list(model.classes_) == classes
        assert all(isinstance(row, list) for row in model.predict(texts[:4]))
        model.continue_fit(texts[:8], label_lists[:8], epochs=1)


# --- the loss registry on the CNN and the MLP ----------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"loss": "focal", "loss_params": {"gamma": 2.0}},
        {"loss": "logit_adjusted"},
        {"loss": "class_weighted"},
        {"sampling_q": 0.0},
        {"ema_decay": 0.9},
    ],
)
def test_text_cnn_trains_with_the_registry_losses_and_tricks(params):
    texts, labels = single_label_texts(30, seed=0)
    labels = ["sport" if i % 3 == 0 else label for i, label in enumerate(labels)]  # imbalanced
    baseline = text_cnn("char").fit(texts, labels).predict_proba(texts)
    model = text_cnn("char", **params).fit(texts, labels)
    probabilities = model.predict_proba(texts)
    assert np.all(np.isfinite(probabilities)) and not np.allclose(probabilities, baseline, atol=1e-5)
    soft = SoftTargets(["politics", "sport"], one_hot_ish(labels, ["politics", "sport"]), hard=labels, alpha=0.5)
    text_cnn("char", **params).fit(texts, soft)  # with soft targets too


def test_mlp_trains_with_a_registry_loss():
    points, labels = blobs(30, seed=0)
    plain = fast_head("mlp").fit(points, labels).predict_proba(points)
    focal = fast_head("mlp", loss="focal").fit(points, labels).predict_proba(points)
    assert not np.allclose(plain, focal)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        text_cnn("char", loss="hinge").fit(*single_label_texts(6, seed=0))


# --- the teacher ----------------------------------------------------------------------------------


def test_the_teacher_accepts_soft_targets_weights_and_continue_fit(tiny_backbone):
    texts, labels = single(24, seed=0)
    classes = ["politics", "sport"]
    soft = SoftTargets(classes, one_hot_ish(labels, classes, 0.8), hard=[*labels[:8], *[None] * 16], alpha=0.5)
    model = Teacher(backbone=tiny_backbone, **{**FAST, "epochs": 1}).fit(
        texts, soft, sample_weight=np.r_[np.ones(20), np.zeros(4)]
    )
    assert list(model.classes_) == classes and model.n_epochs_ == 1
    before = model.predict_proba(texts)
    model.continue_fit(texts[:8], labels[:8], epochs=1)
    assert model.n_epochs_ == 2 and len(model.history_) == 2
    assert not np.allclose(model.predict_proba(texts), before)


def test_the_teacher_with_alpha_one_is_hard_label_training(tiny_backbone):
    texts, labels = single(16, seed=0)
    classes = ["politics", "sport"]
    params = {**FAST, "epochs": 1, "dev_fraction": 0.25, "head_init": "linear_probe"}
    soft = SoftTargets(classes, one_hot_ish(labels, classes, 0.3), hard=labels, alpha=1.0)
    from_soft = Teacher(backbone=tiny_backbone, **params).fit(texts, soft).predict_proba(texts)
    from_labels = Teacher(backbone=tiny_backbone, **params).fit(texts, labels).predict_proba(texts)
    np.testing.assert_allclose(from_soft, from_labels, atol=1e-6)


# --- DistillationLoss -----------------------------------------------------------------------------


def _logits_and_targets(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 3, generator=generator)
    soft = torch.softmax(torch.randn(6, 3, generator=generator), dim=1)
    hard = torch.tensor([0, 1, 2, 0, 1, 2])
    return logits, soft, hard


def test_distillation_alpha_one_is_the_base_loss_and_alpha_zero_the_scaled_kl():
    logits, soft, hard = _logits_and_targets()
    base = make_loss("focal", multi_label=False)
    assert torch.equal(DistillationLoss(base, alpha=1.0, temperature=4.0)(logits, soft, hard), base(logits, hard))
    kd = DistillationLoss(base, alpha=0.0, temperature=2.0)(logits, soft, hard)
    log_q = torch.log_softmax(logits / 2.0, dim=1)
    expected = 4.0 * (soft * (soft.log() - log_q)).sum(dim=1).mean()
    torch.testing.assert_close(kd, expected)


def test_distillation_rows_without_hard_labels_add_only_the_kd_part():
    logits, soft, hard = _logits_and_targets()
    has_hard = torch.tensor([True, True, False, False, False, False])
    loss = DistillationLoss(alpha=0.25, temperature=1.0)(logits, soft, hard, has_hard)
    ce = torch.nn.functional.cross_entropy(logits[:2], hard[:2]) * 2 / 6
    kl = (soft * (soft.log() - torch.log_softmax(logits, dim=1))).sum(dim=1).mean()
    torch.testing.assert_close(loss, 0.25 * ce + 0.75 * kl)


def test_distillation_is_zero_when_the_student_matches_the_teacher_and_weights_scale_rows():
    soft = torch.softmax(torch.randn(4, 3), dim=1)
    logits = soft.log() * 2.0  # softmax(logits / 2) == soft
    assert float(DistillationLoss(temperature=2.0)(logits, soft)) == pytest.approx(0.0, abs=1e-6)
    logits, soft, hard = _logits_and_targets()
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    weighted = DistillationLoss(alpha=0.5)(logits, soft, hard, sample_weight=weights)
    first_half = DistillationLoss(alpha=0.5)(logits[:3], soft[:3], hard[:3])
    torch.testing.assert_close(weighted, first_half / 2)


def test_multi_label_distillation_is_bce_against_soft_targets_minus_their_entropy():
    logits = torch.randn(5, 3)
    soft = torch.rand(5, 3)
    loss = DistillationLoss(multi_label=True, temperature=1.0)(logits, soft)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, soft)
    entropy = -(soft * soft.log() + (1 - soft) * (1 - soft).log()).mean()
    torch.testing.assert_close(loss, bce - entropy)


def test_distillation_refuses_bad_settings():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DistillationLoss(temperature=0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        DistillationLoss(alpha=2)
    with pytest.raises(ValueError, match="soft targets must have the logits' shape"):
        DistillationLoss()(torch.zeros(2, 3), torch.zeros(2, 2))
