"""Tiny trained models for the export tests (pipeline, ONNX, the predict CLI): seconds on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

from mlcore.encoders import TextEncoder
from mlcore.features import HybridInputs
from mlcore.models import FastHead, TextCNN
from mlcore.pipeline import model_card
from mlcore.students import StaticHead
from tests.mlcore.test_models import single_label_texts

# Texts that probe the tokenization: short, empty, long, unknown tokens, Chinese, mixed, punctuation.
PROBE_TEXTS = [
    "goal",
    "",
    "the striker scored after the referee said the vote in parliament was a big policy week " * 12,
    "qwzx blorft unseenword zzzz",
    "足球比赛进球 今天 政府选举",
    "政府",
    "The MINISTER, the coach & the senate!!! 123 :-)",
    "a",
    " ".join(["match"] * 300),
]

LABEL_NAMES = {"politics": "Politics", "sport": "Sport & games"}


def training_texts(chinese: bool = False) -> tuple[list[str], list[str]]:
    english, english_labels = single_label_texts(60, seed=0)
    if not chinese:
        return english, english_labels
    zh, zh_labels = single_label_texts(40, seed=1, chinese=True)
    return english + zh, english_labels + zh_labels


def tiny_text_cnn(tokenization: str, *, backbone: str | None = None, multi_label: bool = False) -> TextCNN:
    params = {"backbone": backbone} if backbone else {}
    model = TextCNN(
        tokenization=tokenization,
        multi_label=multi_label,
        min_count=1,
        embedding_dim=16,
        num_filters=8,
        filter_sizes=(2, 3),
        epochs=3,
        random_state=0,
        device="cpu",
        **params,
    )
    if multi_label:
        from tests.mlcore.test_models import multi_label_texts

        return model.fit(*multi_label_texts(80, seed=0))
    return model.fit(*training_texts(chinese=tokenization == "char"))


def tiny_fast_head(encoder: TextEncoder) -> FastHead:
    texts, labels = training_texts()
    return FastHead(head="lr", self_training=None).fit(encoder.embed(texts), labels)


def tiny_hybrid_head(encoder: TextEncoder) -> FastHead:
    """A hybrid fast head (embeddings and a bag of words, issue 22) on English and Chinese texts."""
    texts, labels = training_texts(chinese=True)
    return FastHead(head="lr", self_training=None, language="multi").fit(
        HybridInputs(texts, encoder.embed(texts)), labels
    )


def tiny_static_head(backbone: str, cache_dir: Path, **params) -> StaticHead:
    """A static_head on a table distilled from the tiny backbone (cached in `cache_dir` after the first)."""
    model = StaticHead(backbone=backbone, static_cache_dir=str(cache_dir), dims=16, min_df=1, **params)
    return model.fit(*training_texts(chinese=True))


def saved_with_card(model, directory: Path, *, encoder: TextEncoder | None = None, backbone: str = "") -> Path:
    """`model` saved in `directory` with a model card (label names, a metric, latency, data, parents)."""
    model.save(directory)
    card = model_card(
        directory,
        label_map={key: value for key, value in LABEL_NAMES.items() if key in set(model.classes_)},
        metrics={"macro_f1": 0.95},
        latency={"ms_per_text": 1.5, "texts_per_second": 3000.0, "threads": 2},
        data={"data_hash": "abc123", "n_train": 60, "n_test": 20},
        parents=[{"id": 7, "kind": "teacher"}],
        encoder={"backbone": backbone, "version": encoder.version} if encoder else None,
    )
    (directory / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return directory
