"""ONNX export: ONNX Runtime and torch give the same probabilities on varied texts."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from mlcore.models import FastHead, TextCNN
from mlcore.onnx_export import OnnxRunner, export_onnx, supports_onnx
from tests.mlcore.exported_models import PROBE_TEXTS, tiny_static_head, tiny_text_cnn, training_texts

ATOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=["wordpiece", "char", "multi_label"])
def cnn(request) -> TextCNN:
    if request.param == "multi_label":
        return tiny_text_cnn("wordpiece", multi_label=True)
    return tiny_text_cnn(request.param)


def test_onnx_runtime_matches_torch_on_varied_texts(cnn, tmp_path):
    path = export_onnx(cnn, tmp_path / "model.onnx")
    texts = PROBE_TEXTS + training_texts(chinese=True)[0][:20]
    expected = cnn.predict_proba(texts)
    actual = OnnxRunner(cnn, path).predict_proba(texts)
    assert actual.shape == expected.shape == (len(texts), len(cnn.classes_))
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=0)
    # The probe texts hit unknown tokens and the max_len cut, and the model is not trivially constant.
    assert np.ptp(expected[:, 0]) > 1e-3


def test_a_text_predicts_the_same_alone_and_in_a_batch_of_long_texts(cnn, tmp_path):
    runner = OnnxRunner(cnn, export_onnx(cnn, tmp_path / "model.onnx"))
    together = runner.predict_proba(PROBE_TEXTS)
    alone = np.concatenate([runner.predict_proba([text]) for text in PROBE_TEXTS])
    np.testing.assert_allclose(together, alone, atol=ATOL, rtol=0)


def test_more_texts_than_one_batch(tmp_path):
    model = tiny_text_cnn("char")
    texts = [f"{i} 足球 vote" * (i % 7) for i in range(600)]
    actual = OnnxRunner(model, export_onnx(model, tmp_path / "model.onnx")).predict_proba(texts)
    np.testing.assert_allclose(actual, model.predict_proba(texts), atol=ATOL, rtol=0)


def test_the_graph_is_valid_onnx_with_named_inputs_and_outputs(tmp_path):
    model = tiny_text_cnn("char")
    graph = onnx.load(str(export_onnx(model, tmp_path / "model.onnx")))
    onnx.checker.check_model(graph)
    assert [value.name for value in graph.graph.input] == ["ids", "lengths"]
    assert [value.name for value in graph.graph.output] == ["logits", "probabilities"]
    assert not list(tmp_path.glob(".*tmp")), "the temp file is renamed, not left behind"


def test_the_runner_follows_the_torch_thread_count(tmp_path):
    model = tiny_text_cnn("char")
    runner = OnnxRunner(model, export_onnx(model, tmp_path / "model.onnx"))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        runner.predict_proba(["goal"])
    finally:
        torch.set_num_threads(before)
    assert {1, 2} <= set(runner._sessions)


def test_kinds_without_an_export_are_refused(tmp_path):
    assert supports_onnx("text_cnn") and supports_onnx("static_head")
    assert not supports_onnx("fast_head") and not supports_onnx("teacher")
    head = FastHead().fit(np.eye(4), ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="this model is 'fast_head'"):
        export_onnx(head, tmp_path / "model.onnx")
    with pytest.raises(ValueError, match="not fitted"):
        export_onnx(TextCNN(), tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())


def test_a_broken_onnx_file_is_refused(tmp_path):
    model = tiny_text_cnn("char")
    (tmp_path / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="not a loadable ONNX graph"):
        OnnxRunner(model, tmp_path / "model.onnx")


@pytest.fixture(scope="module", params=[{}, {"use_bow": False}, {"use_static": False}], ids=["both", "static", "bow"])
def static_head(request, tiny_backbone, tmp_path_factory):
    return tiny_static_head(tiny_backbone, tmp_path_factory.getbasetemp() / "static-tables", **request.param)


def test_a_static_head_runs_the_same_in_onnx_runtime(static_head, tmp_path):
    path = export_onnx(static_head, tmp_path / "model.onnx")
    texts = PROBE_TEXTS + training_texts(chinese=True)[0][-20:]
    expected = static_head.predict_proba(texts)
    runner = OnnxRunner(static_head, path)
    np.testing.assert_allclose(runner.predict_proba(texts), expected, atol=ATOL, rtol=0)
    alone = np.concatenate([runner.predict_proba([text]) for text in texts])
    np.testing.assert_allclose(alone, expected, atol=ATOL, rtol=0)
    assert np.ptp(expected[:, 0]) > 1e-3
