"""Distillation: the static embedding table, the static_head student, mlcore.distill and its benchmark."""

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore import bench
from mlcore.distill import SCHEMES, DistillConfig, distill_student, soften
from mlcore.models import MODEL_KINDS, load_model
from mlcore.static_embeddings import StaticEmbeddings, load_or_distill
from mlcore.students import StaticHead
from mlcore.targets import SoftTargets
from tests.mlcore.test_bench import TOPICS

TEXTS = [text for texts in TOPICS.values() for text in texts]
LABELS = [label for label, texts in TOPICS.items() for _ in texts]
CLASSES = sorted(TOPICS)


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("static"))


@pytest.fixture(scope="module")
def table(tiny_backbone, static_dir) -> StaticEmbeddings:
    return load_or_distill(tiny_backbone, cache_dir=static_dir, dims=16)


def student(tiny_backbone, static_dir, **params) -> StaticHead:
    return StaticHead(backbone=tiny_backbone, dims=16, static_cache_dir=static_dir, max_iter=30, **params)


def test_static_table_is_cached_and_its_ids_are_the_fast_tokenizers(tiny_backbone, static_dir, table):
    from transformers import AutoTokenizer

    assert table.vectors.shape == (30522, 16)
    assert [path for path in Path(static_dir).iterdir() if not path.name.startswith(".")]
    again = load_or_distill(tiny_backbone, cache_dir=static_dir, dims=16)
    np.testing.assert_array_equal(again.vectors, table.vectors)  # from the cache, not distilled anew
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    texts = ["Hello, World! The striker's goal—unbelievable.", "  ", "café naïve 中文 tokens", *TEXTS[:5]]
    for text, ids in zip(texts, table.token_ids(texts), strict=True):
        assert ids.tolist() == tokenizer(text, add_special_tokens=False)["input_ids"]
    embedded = table.embed(texts)
    assert embedded.shape == (len(texts), 16)
    assert np.allclose(np.linalg.norm(embedded[[0, 2]], axis=1), 1.0) and not embedded[1].any()


def test_static_table_truncates_at_max_tokens(table, tmp_path):
    loaded = StaticEmbeddings.load(table.save(tmp_path / "t"), max_tokens=3)
    assert [len(ids) for ids in loaded.token_ids(["one two three four five", "one"])] == [3, 1]


def test_static_head_fits_saves_and_loads(tiny_backbone, static_dir, tmp_path):
    model = student(tiny_backbone, static_dir).fit(TEXTS, LABELS, unlabeled=["an extra unlabeled text"])
    assert MODEL_KINDS["static_head"] is StaticHead and model.input_type == "texts"
    assert (model.predict(TEXTS) == np.asarray(LABELS)).mean() > 0.9  # it can fit its training data
    restored = load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(restored.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_static_head_learns_soft_targets_and_continues(tiny_backbone, static_dir):
    teacher = np.full((len(TEXTS), 3), 0.1)
    teacher[np.arange(len(TEXTS)), [CLASSES.index("finance")] * len(TEXTS)] = 0.8  # a teacher that says finance
    model = student(tiny_backbone, static_dir).fit(TEXTS, SoftTargets(CLASSES, teacher, temperature=1.0))
    assert (model.predict(TEXTS) == "finance").all()
    assert model.classes_.tolist() == CLASSES
    model.continue_fit(TEXTS, LABELS, epochs=50)
    assert (model.predict(TEXTS) == np.asarray(LABELS)).mean() > 0.9
    with pytest.raises(ValueError, match="not among"):
        model.continue_fit(TEXTS[:2], ["sport", "weather"])


@pytest.mark.parametrize("loss", ["cross_entropy", "focal", "logit_adjusted"])
def test_static_head_trains_through_the_shared_loop_with_the_loss_registry(tiny_backbone, static_dir, loss, tmp_path):
    """solver="adam": the same layer, mini-batches through training_loop.Trainer, any registry loss,
    re-sampling and EMA; soft targets and continue_fit as with L-BFGS."""
    model = student(
        tiny_backbone, static_dir, solver="adam", loss=loss, epochs=30, batch_size=8, sampling_q=0.5, ema_decay=0.5
    ).fit(TEXTS, LABELS)
    assert (model.predict(TEXTS) == np.asarray(LABELS)).mean() > 0.9
    assert model.n_iter_ == 30  # epochs of the shared loop, not L-BFGS evaluations
    restored = load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(restored.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)

    teacher = np.full((len(TEXTS), 3), 0.1)
    teacher[:, CLASSES.index("finance")] = 0.8
    soft = student(tiny_backbone, static_dir, solver="adam", loss=loss, epochs=30, batch_size=8)
    assert (soft.fit(TEXTS, SoftTargets(CLASSES, teacher)).predict(TEXTS) == "finance").all()
    soft.continue_fit(TEXTS, LABELS, epochs=60)
    assert (soft.predict(TEXTS) == np.asarray(LABELS)).mean() > 0.9


def test_static_head_refuses_loss_options_without_the_shared_loop(tiny_backbone, static_dir):
    with pytest.raises(ValueError, match="solver='adam'"):
        student(tiny_backbone, static_dir, loss="focal").fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="solver must be one of"):
        student(tiny_backbone, static_dir, solver="sgd").fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="loss must be one of"):
        student(tiny_backbone, static_dir, solver="adam", loss="nope").fit(TEXTS, LABELS)


def test_soften_flattens_and_keeps_the_order():
    rows = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(soften(rows, 1.0), rows)
    soft = soften(rows, 4.0)
    assert soft[0, 0] < 0.7 and soft.argmax() == 0 and np.isclose(soft.sum(), 1.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"temperature": 0}, "temperature"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"scheme": "magic"}, "scheme"),
        ({"student_kind": "nope"}, "student_kind"),
        ({"student_kind": "fast_head"}, "student_kind"),  # not a student on texts
        ({"confidence": 2}, "confidence"),
    ],
)
def test_config_check_names_the_bad_field(change, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        DistillConfig(**change).check()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_distill_student_every_scheme(tiny_backbone, static_dir, scheme):
    labeled = list(range(0, len(TEXTS), 2))
    pool = [i for i in range(len(TEXTS)) if i not in labeled]
    one_hot = np.eye(3)[[CLASSES.index(label) for label in LABELS]] * 0.9 + 0.1 / 3
    unsure = one_hot.copy()
    unsure[pool[0]] = 1 / 3  # a pool row no teacher is sure of: the confidence filter drops it
    config = DistillConfig(
        student_params={"backbone": tiny_backbone, "dims": 16, "static_cache_dir": static_dir, "max_iter": 20},
        scheme=scheme,
        confidence=0.5,
    )
    model, report = distill_student(
        config,
        texts=[TEXTS[i] for i in labeled],
        labels=[LABELS[i] for i in labeled],
        pool_texts=[TEXTS[i] for i in pool],
        teacher_probabilities=[one_hot[labeled], one_hot[labeled]],
        pool_teacher_probabilities=[unsure[pool], one_hot[pool]],
        classes=CLASSES,
    )
    assert report["n_labeled"] == len(labeled)
    # Two teachers averaged: the unsure row's average top probability is (1/3 + 0.93) / 2 > 0.5, kept.
    assert report["n_pool_used"] == (len(pool) if scheme in ("data", "both") else 0)
    assert model.classes_.tolist() == CLASSES


def test_distill_benchmark_end_to_end(tiny_backbone, static_dir, tmp_path):
    dataset = tmp_path / "tiny.jsonl"
    with dataset.open("w", encoding="utf-8") as file:
        for label, texts in TOPICS.items():
            for i, text in enumerate(texts):
                file.write(json.dumps({"text": text, "label": label, "split": "test" if i < 3 else "train"}) + "\n")
    out = tmp_path / "r.json"
    params = "static_head=" + json.dumps({"dims": 16, "static_cache_dir": static_dir, "max_iter": 10})
    status = bench.main(
        [
            "--quiet",
            "distill",
            "--dataset", str(dataset),
            "--labels", "15",
            "--teacher", "head",
            "--student", "static_head",
            "--params", params,
            "--schemes", "labels,both",
            "--seeds", "2",
            "--speed-seconds", "0.2",
            "--backbone", tiny_backbone,
            "--cache-dir", str(tmp_path / "cache"),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    result = json.loads(out.read_text())
    assert set(result["students"]) == {"static_head/labels", "static_head/both", "static_head/both+ft"}
    for entry in [result["teacher"], *result["students"].values()]:
        for key in ("macro_f1", "ms_per_text", "texts_per_second"):
            assert (
                isinstance(entry[key], float)
                and len(entry[f"{key}_per_seed"]) == (2 if key == "macro_f1" else 1)
                and f"{key}_std" in entry
            )
    assert result["best_student"] in result["students"] or result["best_student"] is None
    assert result["students"]["static_head/both"]["n_pool_used_per_seed"] == [15, 15]


def test_distill_benchmark_rejects_a_bad_student(tmp_path, capsys):
    status = bench.main(
        ["distill", "--dataset", "x.jsonl", "--labels", "5", "--student", "nope", "--out", str(tmp_path / "r.json")]
    )
    assert status == 2 and "student_kind" in capsys.readouterr().err
