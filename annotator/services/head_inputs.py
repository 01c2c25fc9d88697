"""What a model on embeddings reads (issue 22): the hybrid fast head learns from the items' texts and
embeddings together (`mlcore.features.HybridInputs`); a head saved before it, or one on embeddings alone
(the MLP, `features="embeddings"`), from the embeddings. One place decides, for every job and /predict.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from scipy import sparse

from annotator.models import Item, Project
from annotator.services.embeddings import content_fingerprint
from mlcore.features import HybridInputs, TextFeaturizer
from mlcore.models import TextClassifier

# Items per IN (...) query when reading texts: under SQLite's variable limit.
TEXT_CHUNK = 10_000
WORDS_FILE = "words.npz"
IDS_FILE = "item_ids.npy"


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


def item_set_featurizer(
    *, project: Project, language: str, item_ids: Sequence[int], texts: Sequence[str]
) -> tuple[TextFeaturizer, sparse.csr_matrix]:
    """A featurizer fit on the texts of `item_ids` (the training then pool items of a rescoring) and their
    rows (row i: item_ids[i]), kept on disk while the set of items, their texts and the language stay
    the same. Labeling moves items from the pool into training, which keeps the set, so later rescorings
    read the words instead of tokenising every text again (jieba and character n-grams: seconds per
    10,000 texts). Like the neighbour graph (`item_neighbour_graph`): one folder per project, replaced
    when the set changes. The featurizer never sees a label."""
    ids = np.asarray(item_ids, dtype=np.int64)
    distinct, first_row, row_item = np.unique(ids, return_index=True, return_inverse=True)
    params = TextFeaturizer(language=language).get_params()
    key = hashlib.sha256((json.dumps(params, sort_keys=True) + content_fingerprint(distinct)).encode()).hexdigest()[:32]
    root = Path(settings.ARTIFACT_ROOT) / "featurizers" / f"project-{project.pk}"
    cached = _cached_featurizer(root / key, distinct)
    if cached is None:
        featurizer = TextFeaturizer(language=language).fit([texts[row] for row in first_row])
        words = featurizer.transform([texts[row] for row in first_row])
        _store_featurizer(root, key, featurizer, words, distinct)
    else:
        featurizer, words = cached
    return featurizer, words[row_item]


def _cached_featurizer(folder: Path, distinct: np.ndarray) -> tuple[TextFeaturizer, sparse.csr_matrix] | None:
    try:
        if not np.array_equal(np.load(folder / IDS_FILE), distinct):
            return None
        return TextFeaturizer.load(folder), sparse.load_npz(folder / WORDS_FILE).tocsr()
    except (OSError, ValueError, KeyError):  # none yet, half gone, or written by another version of this code
        return None


def _store_featurizer(
    root: Path, key: str, featurizer: TextFeaturizer, words: sparse.csr_matrix, distinct: np.ndarray
) -> None:
    """Write into a fresh folder, rename it into place, then drop the folders of earlier item sets."""
    staging = root / f".staging-{uuid.uuid4().hex}"
    featurizer.save(staging)
    sparse.save_npz(staging / WORDS_FILE, words)
    np.save(staging / IDS_FILE, distinct)
    try:
        staging.rename(root / key)
    except OSError:  # another job stored the same set a moment ago: theirs serves
        shutil.rmtree(staging, ignore_errors=True)
    for folder in root.iterdir():
        if folder.name != key and not folder.name.startswith(".staging-"):
            shutil.rmtree(folder, ignore_errors=True)


def item_texts(item_ids: Sequence[int]) -> list[str]:
    """The texts of `item_ids`, in that order (an id may repeat)."""
    texts: dict[int, str] = {}
    distinct = list(dict.fromkeys(item_ids))
    for offset in range(0, len(distinct), TEXT_CHUNK):
        chunk = distinct[offset : offset + TEXT_CHUNK]
        texts.update(Item.objects.filter(pk__in=chunk).values_list("id", "text"))
    return [texts[pk] for pk in item_ids]
