"""ONNX export of the student kinds, and running the exported graph with ONNX Runtime.

Tokenization stays in Python (the model's own code turns texts into token ids); the graph takes the ids
and returns `logits` and `probabilities` (a softmax per row, or one sigmoid per label when multi_label),
so a runtime other than torch needs only the vocabulary and the tokenizer next to `model.onnx`.

Kinds and their graph inputs:

- `text_cnn`: `ids` (batch, width) int64, padded with 0, and `lengths` (batch,) int64 — the true
  number of tokens per row. The graph is the plain convolution path of `_KimCNN` (the no-grad lookup
  table path is a prediction-time speed-up of the same function and does not trace well).
- `static_head`: `ids` (batch, width) and `lengths` (batch,) int64, the static table's token ids
  padded with 0, and `bow_ids` (batch, bag) int64 and `bow_weights` (batch, bag) float32, each text's
  tf-idf bag of words (unigram ids and hashed bigram ids as the model numbers them) padded with weight
  0. The static table is inside the graph; a graph may leave out the inputs its model does not read
  (`use_static` / `use_bow` off).

The legacy TorchScript exporter is used (`dynamo=False`): the torch.export-based one needs `onnxscript`,
which is not a dependency.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlcore.models import PAD_ID, PREDICT_BATCH_SIZE, TextClassifier, TextCNN, _KimCNN

ONNX_FILE = "model.onnx"
OPSET_VERSION = 17
OUTPUT_NAMES = ("logits", "probabilities")

Feeds = dict[str, np.ndarray]


class _ProbabilityHead(nn.Module):
    """Logits -> (logits, probabilities), as `TextClassifier.predict_proba` computes them."""

    def __init__(self, multi_label: bool) -> None:
        super().__init__()
        self.multi_label = multi_label

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)
        return logits, probabilities


class _TextCnnGraph(nn.Module):
    """`_KimCNN.forward` along its convolution path, whatever the grad mode (dropout is off in eval)."""

    def __init__(self, network: _KimCNN, multi_label: bool) -> None:
        super().__init__()
        self.network = network
        self.head = _ProbabilityHead(multi_label)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        network = self.network
        embedded = network.embedding(ids).transpose(1, 2)
        pooled = [network._max_over_time(conv, embedded, lengths) for conv in network.convs]
        return self.head(network.output(torch.cat(pooled, dim=1)))


def _text_cnn_feeds(model: TextCNN, texts: Sequence[str]) -> Feeds:
    """Token ids padded to the longest text (at least the widest kernel, as in training) and lengths."""
    sequences = model._encode(list(texts), model.vocabulary_)
    width = max(max(model.filter_sizes), *(len(sequence) for sequence in sequences))
    ids = np.full((len(sequences), width), PAD_ID, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    return {"ids": ids, "lengths": np.array([len(sequence) for sequence in sequences], dtype=np.int64)}


def _text_cnn_graph(model: TextCNN) -> tuple[nn.Module, dict[str, dict[int, str]]]:
    network = copy.deepcopy(model.module_).cpu().eval()
    axes = {"ids": {0: "batch", 1: "width"}, "lengths": {0: "batch"}}
    return _TextCnnGraph(network, model.multi_label).eval(), axes


class _Exporter:
    """How one kind becomes a graph (`graph`) and how texts become that graph's inputs (`feeds`)."""

    def __init__(
        self,
        graph: Callable[[Any], tuple[nn.Module, dict[str, dict[int, str]]]],
        feeds: Callable[[Any, Sequence[str]], Feeds],
    ) -> None:
        self.graph = graph
        self.feeds = feeds


class _StaticHeadGraph(nn.Module):
    """`StaticHead._logits` after tokenization and tf-idf: the static table's mean over each text's tokens
    (L2-normalised, scaled) through the dense layer, plus the weighted sum of its bag-of-words rows.

    The bags come padded (batch, width) rather than as EmbeddingBag's flat ids and offsets: ONNX has no
    EmbeddingBag, and the exporter's scatter forms were slow (ScatterElements-add) or wrong (index_add).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        module = copy.deepcopy(model.module_).cpu().eval()
        self.sparse_weight = nn.Parameter(module.sparse.weight.detach().clone(), requires_grad=False)
        self.dense = module.dense
        self.vectors = nn.Parameter(torch.as_tensor(model._table().vectors).clone(), requires_grad=False)
        self.use_static, self.use_bow = bool(model.use_static), bool(model.use_bow)
        self.dense_scale = float(model.dense_scale)
        self.head = _ProbabilityHead(model.multi_label)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, bow_ids: torch.Tensor, bow_weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.use_static:
            mask = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
            # A (1 x width) @ (width x dims) product per text: ONNX Runtime's MatMul is several times
            # faster than a masked ReduceSum over the middle axis.
            summed = torch.bmm(mask.unsqueeze(1).to(self.vectors.dtype), self.vectors[ids]).squeeze(1)
            mean = summed / lengths.clamp(min=1).unsqueeze(1).to(summed.dtype)
            dense = mean / mean.norm(dim=1, keepdim=True).clamp(min=1e-12) * self.dense_scale
        else:
            dense = torch.zeros(lengths.shape[0], 1)
        logits = self.dense(dense)
        if self.use_bow:
            logits = logits + torch.bmm(bow_weights.unsqueeze(1), self.sparse_weight[bow_ids]).squeeze(1)
        return self.head(logits)


def _padded(rows: Sequence[np.ndarray], dtype: type, min_width: int = 1) -> np.ndarray:
    width = max(min_width, *(len(row) for row in rows))
    out = np.zeros((len(rows), width), dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _static_head_feeds(model: Any, texts: Sequence[str]) -> Feeds:
    """The model's own token ids (padded) and tf-idf bag of words (padded ids and weights, 0 = none)."""
    ids = model._token_ids(list(texts))
    if model.use_bow:
        sparse = model._sparse(ids)
        bounds = [*sparse.offsets.tolist(), len(sparse.features)]
        bags = [(sparse.features[a:b], sparse.weights[a:b]) for a, b in pairwise(bounds)]
    else:
        bags = [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in ids]
    return {
        "ids": _padded(ids, np.int64),
        "lengths": np.array([len(row) for row in ids], dtype=np.int64),
        "bow_ids": _padded([bag[0] for bag in bags], np.int64),
        "bow_weights": _padded([bag[1] for bag in bags], np.float32),
    }


def _static_head_graph(model: Any) -> tuple[nn.Module, dict[str, dict[int, str]]]:
    axes = {
        "ids": {0: "batch", 1: "width"},
        "lengths": {0: "batch"},
        "bow_ids": {0: "batch", 1: "bag"},
        "bow_weights": {0: "batch", 1: "bag"},
    }
    return _StaticHeadGraph(model).eval(), axes


EXPORTERS: dict[str, _Exporter] = {
    TextCNN.kind: _Exporter(_text_cnn_graph, _text_cnn_feeds),
    "static_head": _Exporter(_static_head_graph, _static_head_feeds),
}

EXAMPLE_TEXTS = ("an example text to trace the graph with", "short", "")


def supports_onnx(kind: str) -> bool:
    """Whether models of `kind` can be exported to ONNX."""
    return kind in EXPORTERS


def _exporter(model: TextClassifier) -> _Exporter:
    if not supports_onnx(model.kind):
        raise ValueError(f"ONNX export supports the kinds {', '.join(sorted(EXPORTERS))}; this model is {model.kind!r}")
    if not hasattr(model, "classes_"):
        raise ValueError("the model is not fitted; fit or load it before exporting")
    return EXPORTERS[model.kind]


def export_onnx(model: TextClassifier, path: str | Path) -> Path:
    """Write `model` as an ONNX graph to `path` (a temp file renamed on success); returns the path.

    Raises ValueError for a kind that has no export (`supports_onnx`).
    """
    exporter, path = _exporter(model), Path(path)
    module, dynamic_axes = exporter.graph(model)
    feeds = exporter.feeds(model, list(EXAMPLE_TEXTS))
    inputs = tuple(torch.as_tensor(value) for value in feeds.values())
    axes = {**dynamic_axes, **{name: {0: "batch"} for name in OUTPUT_NAMES}}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
            torch.onnx.export(
                module,
                inputs,
                str(temporary),
                input_names=list(feeds),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=axes,
                opset_version=OPSET_VERSION,
                dynamo=False,
            )
        _check_graph(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _check_graph(path: Path) -> None:
    import onnx

    onnx.checker.check_model(str(path))


class OnnxRunner:
    """Runs a model's exported graph with ONNX Runtime; `model` supplies the tokenization and vocabulary.

    ONNX Runtime fixes its thread count when a session is made, so one session is kept per torch thread
    count: code that sets torch's threads (as `mlcore.speed.measure_speed` does) gets the same number here.
    """

    def __init__(self, model: TextClassifier, onnx_path: str | Path) -> None:
        self.model = model
        self.exporter = _exporter(model)
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ValueError(f"{self.onnx_path}: no such ONNX file")
        self._sessions: dict[int, Any] = {}
        self._session(torch.get_num_threads())  # fail now on a broken file, not at the first text

    def _session(self, threads: int):
        if threads not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            try:
                self._sessions[threads] = onnxruntime.InferenceSession(
                    str(self.onnx_path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as error:  # onnxruntime raises its own exception types
                raise ValueError(f"{self.onnx_path}: not a loadable ONNX graph ({error})") from None
        return self._sessions[threads]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(classes_)) float64 probabilities, in batches of PREDICT_BATCH_SIZE texts."""
        texts = list(texts)
        session = self._session(torch.get_num_threads())
        # The exporter drops inputs a graph does not read (a static_head without its bag of words).
        wanted = {value.name for value in session.get_inputs()}
        parts = []
        for start in range(0, len(texts), PREDICT_BATCH_SIZE):
            feeds = self.exporter.feeds(self.model, texts[start : start + PREDICT_BATCH_SIZE])
            parts.append(session.run(["probabilities"], {k: v for k, v in feeds.items() if k in wanted})[0])
        if not parts:
            return np.zeros((0, len(self.model.classes_)))
        return np.concatenate(parts).astype(np.float64)
