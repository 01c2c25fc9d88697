"""What a model on embeddings reads (issue 22): the hybrid fast head learns from the items' texts and
embeddings together (`mlcore.features.HybridInputs`); a head saved before it, or one on embeddings alone
(the MLP, `features="embeddings"`), from the embeddings. One place decides, for every job and /predict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from annotator.models import Item
from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.models import TextClassifier

# Items per IN (...) query when reading texts: under SQLite's variable limit.
TEXT_CHUNK = 10_000


def learns_from_texts(model: TextClassifier) -> bool:
    """Whether an unfitted `model` (a fast head) learns from texts and embeddings: the LR head with
    `features="hybrid"`, the default; the MLP and `features="embeddings"` read embeddings only."""
    return (
        model.input_type == "embeddings"
        and getattr(model, "features", "embeddings") == "hybrid"
        and getattr(model, "head", "lr") == "lr"
    )


def fit_inputs(
    model: TextClassifier, texts: Sequence[str], embeddings: np.ndarray, words=None
) -> HybridInputs | np.ndarray:
    """What `model.fit` takes for these items: HybridInputs (with `words`, the featurizer's rows, when
    computed already) for a head that learns from texts, else the embeddings."""
    if learns_from_texts(model):
        return HybridInputs(list(texts), embeddings, words)
    return embeddings


def predict_inputs(model: TextClassifier, texts: Sequence[str], embeddings: np.ndarray) -> HybridInputs | np.ndarray:
    """What a fitted `model` on embeddings predicts from: HybridInputs for a hybrid head (its own
    featurizer reads the texts: words computed by another featurizer are never passed), the embeddings
    for any other (every head saved before issue 22)."""
    if getattr(model, "is_hybrid", False):
        return HybridInputs(list(texts), embeddings)
    return embeddings


def fitted_featurizer(*, language: str, texts: Sequence[str]) -> TextFeaturizer:
    """A featurizer for `language` fit on `texts` (labeled and unlabeled alike: it never sees a label)."""
    return TextFeaturizer(language=language).fit(list(texts))


def item_texts(item_ids: Sequence[int]) -> list[str]:
    """The texts of `item_ids`, in that order (an id may repeat)."""
    texts: dict[int, str] = {}
    distinct = list(dict.fromkeys(item_ids))
    for offset in range(0, len(distinct), TEXT_CHUNK):
        chunk = distinct[offset : offset + TEXT_CHUNK]
        texts.update(Item.objects.filter(pk__in=chunk).values_list("id", "text"))
    return [texts[pk] for pk in item_ids]
