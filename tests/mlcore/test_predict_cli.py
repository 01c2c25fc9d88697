"""`python -m mlcore.predict` on exported archives, in a fresh process, against in-process probabilities."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore.encoders import TextEncoder
from mlcore.features import HybridInputs
from mlcore.pipeline import CARD_FILE, RUNTIMES, write_archive
from mlcore.predict import RUNTIMES as CLI_RUNTIMES
from mlcore.predict import main
from tests.mlcore.exported_models import (
    PROBE_TEXTS,
    saved_with_card,
    tiny_fast_head,
    tiny_hybrid_head,
    tiny_static_head,
    tiny_text_cnn,
)

REPO = Path(__file__).resolve().parents[2]
NAMES = ["Politics", "Sport & games"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def archive_of(directory: Path, out: Path) -> Path:
    return write_archive(directory, json.loads((directory / CARD_FILE).read_text()), out)


@pytest.fixture(scope="module")
def cnn_archive(tmp_path_factory):
    model = tiny_text_cnn("wordpiece")
    base = tmp_path_factory.mktemp("cnn")
    return model, archive_of(saved_with_card(model, base / "model"), base / "cnn.zip")


@pytest.fixture(scope="module")
def head_archive(tiny_backbone, tmp_path_factory):
    encoder = TextEncoder.load(tiny_backbone, device="cpu")
    model = tiny_fast_head(encoder)
    base = tmp_path_factory.mktemp("head")
    directory = saved_with_card(model, base / "model", encoder=encoder, backbone=tiny_backbone)
    return model.predict_proba(encoder.embed(PROBE_TEXTS)), archive_of(directory, base / "head.zip")


def write_input(path: Path) -> Path:
    """The probe texts as JSONL: alternately bare strings and objects with an id, and a blank line."""
    lines = [json.dumps(text) if i % 2 else json.dumps({"id": i, "text": text}) for i, text in enumerate(PROBE_TEXTS)]
    path.write_text("\n".join([*lines[:3], "", *lines[3:]]) + "\n", encoding="utf-8")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mlcore.predict", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def probabilities_of(rows: list[dict]) -> np.ndarray:
    return np.array([[row["probabilities"][name] for name in NAMES] for row in rows])


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_a_text_cnn_archive_in_a_fresh_process(cnn_archive, tmp_path, runtime):
    model, archive = cnn_archive
    out = tmp_path / "out.jsonl"
    result = run_cli("--model", str(archive), "--input", str(write_input(tmp_path / "in.jsonl")), "--output", str(out),
                     "--runtime", runtime, "--batch-size", "4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_output(out)
    assert len(rows) == len(PROBE_TEXTS)
    assert [row.get("id") for row in rows] == [i if i % 2 == 0 else None for i in range(len(PROBE_TEXTS))]
    np.testing.assert_allclose(probabilities_of(rows), model.predict_proba(PROBE_TEXTS), atol=1e-5, rtol=0)
    assert [row["label"] for row in rows] == [NAMES[i] for i in model.predict_proba(PROBE_TEXTS).argmax(axis=1)]


@pytest.mark.slow
def test_a_fast_head_archive_in_a_fresh_process_to_stdout(head_archive, tmp_path):
    expected, archive = head_archive
    result = run_cli("--model", str(archive), "--input", str(write_input(tmp_path / "in.jsonl")), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(probabilities_of(rows), expected, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_hybrid_head_archive_in_a_fresh_process(tiny_backbone, tmp_path):
    """Issue 22: the CLI passes the texts to a head that reads words beside the embeddings."""
    encoder = TextEncoder.load(tiny_backbone, device="cpu")
    model = tiny_hybrid_head(encoder)
    directory = saved_with_card(model, tmp_path / "model", encoder=encoder, backbone=tiny_backbone)
    archive = archive_of(directory, tmp_path / "hybrid.zip")
    out = tmp_path / "out.jsonl"
    result = run_cli("--model", str(archive), "--input", str(write_input(tmp_path / "in.jsonl")), "--output", str(out))
    assert result.returncode == 0, result.stderr
    expected = model.predict_proba(HybridInputs(PROBE_TEXTS, encoder.embed(PROBE_TEXTS)))
    np.testing.assert_allclose(probabilities_of(read_output(out)), expected, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_static_head_archive_in_a_fresh_process_with_onnx_runtime(tiny_backbone, tmp_path):
    model = tiny_static_head(tiny_backbone, tmp_path / "static-tables")
    archive = archive_of(saved_with_card(model, tmp_path / "model"), tmp_path / "static.zip")
    out = tmp_path / "out.jsonl"
    result = run_cli("--model", str(archive), "--input", str(write_input(tmp_path / "in.jsonl")), "--output", str(out),
                     "--runtime", "onnx")  # fmt: skip
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(probabilities_of(read_output(out)), model.predict_proba(PROBE_TEXTS), atol=1e-5, rtol=0)


def test_a_missing_model_fails_in_a_fresh_process_with_exit_code_2(tmp_path):
    result = run_cli("--model", str(tmp_path / "nope.zip"), "--input", str(write_input(tmp_path / "in.jsonl")))
    assert result.returncode == 2
    assert "nope.zip: no such model directory or archive" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['"fine"', "{not json"], "line 2: not valid JSON"),
        (['"fine"', "", "42"], "line 3: the text is int, expected a string"),
        (['{"text": ["a", "b"]}'], "line 1: the text is list, expected a string"),
        (['{"id": 3, "body": "x"}'], 'line 1: an object needs a "text" field'),
        (["null"], "line 1: the text is NoneType"),
    ],
)
def test_bad_lines_are_named_and_write_nothing(cnn_archive, tmp_path, capsys, lines, message):
    _, archive = cnn_archive
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["--model", str(archive), "--input", str(source), "--output", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))


def test_other_errors_exit_with_2(cnn_archive, tmp_path, capsys):
    _, archive = cnn_archive
    source = write_input(tmp_path / "in.jsonl")
    assert main(["--model", str(archive), "--input", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    (tmp_path / "latin1.jsonl").write_bytes('"caf\xe9"'.encode("latin-1"))
    assert main(["--model", str(archive), "--input", str(tmp_path / "latin1.jsonl")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    (tmp_path / "broken.zip").write_bytes(b"PK broken")
    assert main(["--model", str(tmp_path / "broken.zip"), "--input", str(source)]) == 2
    assert "not a zip archive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(archive), "--input", str(source), "--batch-size", "0"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(archive), "--input", str(source), "--runtime", "tensorrt"])
    assert exit_info.value.code == 2


def test_an_empty_input_gives_an_empty_output(cnn_archive, tmp_path):
    _, archive = cnn_archive
    (tmp_path / "in.jsonl").write_text("\n\n", encoding="utf-8")
    assert main(["--model", str(archive), "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").read_text() == ""


def test_the_cli_offers_every_runtime():
    assert CLI_RUNTIMES == RUNTIMES


def test_stdin_in_and_stdout_out(cnn_archive, monkeypatch, capsys):
    model, archive = cnn_archive
    monkeypatch.setattr("sys.stdin", io.StringIO('"goal match"\n{"id": "b", "text": "vote minister"}\n'))
    assert main(["--model", str(archive), "--input", "-", "--runtime", "onnx"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row.get("id") for row in rows] == [None, "b"]
    expected = model.predict_proba(["goal match", "vote minister"])
    np.testing.assert_allclose(probabilities_of(rows), expected, atol=1e-5, rtol=0)
