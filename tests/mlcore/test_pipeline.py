"""TextPredictor, the model card and archives, on tiny real models (a text_cnn and a fast head)."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore.encoders import TextEncoder
from mlcore.features import HybridInputs
from mlcore.pipeline import (
    CARD_FILE,
    TextPredictor,
    model_card,
    read_archive,
    validate_card,
    write_archive,
)
from mlcore.speed import measure_speed
from tests.mlcore.exported_models import (
    LABEL_NAMES,
    PROBE_TEXTS,
    saved_with_card,
    tiny_fast_head,
    tiny_hybrid_head,
    tiny_static_head,
    tiny_text_cnn,
    training_texts,
)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cnn():
    return tiny_text_cnn("wordpiece")


@pytest.fixture(scope="module")
def cnn_dir(cnn, tmp_path_factory) -> Path:
    return saved_with_card(cnn, tmp_path_factory.mktemp("cnn") / "model")


@pytest.fixture(scope="module")
def encoder(tiny_backbone) -> TextEncoder:
    return TextEncoder.load(tiny_backbone, device="cpu")


@pytest.fixture(scope="module")
def head(encoder):
    return tiny_fast_head(encoder)


@pytest.fixture(scope="module")
def head_dir(head, encoder, tiny_backbone, tmp_path_factory) -> Path:
    return saved_with_card(head, tmp_path_factory.mktemp("head") / "model", encoder=encoder, backbone=tiny_backbone)


def card_of(directory: Path) -> dict:
    return json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))


# --- the model card ---------------------------------------------------------------------------


def test_the_card_has_every_field(cnn_dir):
    card = card_of(cnn_dir)
    assert card["format"] == "labelloop.model_card" and card["format_version"] == 1
    assert card["model_format_version"] == 1
    assert card["kind"] == "text_cnn"
    assert card["params"]["tokenization"] == "wordpiece"
    assert card["classes"] == ["politics", "sport"]
    assert card["label_map"] == LABEL_NAMES
    assert card["metrics"] == {"macro_f1": 0.95}
    assert card["latency"] == {"ms_per_text": 1.5, "texts_per_second": 3000.0, "threads": 2}
    assert card["data"] == {"data_hash": "abc123", "n_train": 60, "n_test": 20}
    assert card["parents"] == [{"id": 7, "kind": "teacher"}]
    assert card["encoder"] is None
    assert card["created_at"].endswith("+00:00")


def test_a_card_from_a_model_object_and_an_encoder(head, encoder, tiny_backbone):
    named = {"backbone": tiny_backbone, "version": encoder.version}
    card = model_card(head, encoder=named, latency={"ms_per_text": 2, "texts_per_second": 9, "threads": 1})
    assert card["kind"] == "fast_head" and card["classes"] == ["politics", "sport"]
    assert card["encoder"] == named
    assert card["label_map"] == {} and card["data"] is None and card["parents"] == []


def test_a_measured_speed_is_a_valid_latency(cnn):
    speed = measure_speed(cnn.predict_proba, PROBE_TEXTS, max_seconds=0.5)
    assert model_card(cnn, latency=speed)["latency"]["threads"] == speed["threads"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format_version": 2}, "format_version"),
        ({"kind": "nope"}, "kind: unknown model kind"),
        ({"classes": []}, "classes"),
        ({"label_map": {"weather": "Weather"}}, "label_map names classes the model does not have"),
        ({"label_map": {"politics": "Same", "sport": "Same"}}, "label_map gives two classes the same name"),
        ({"metrics": {"macro_f1": float("nan")}}, r"metrics\.macro_f1"),
        ({"metrics": {"macro_f1": "high"}}, r"metrics\.macro_f1"),
        ({"latency": {"ms_per_text": 1.0, "texts_per_second": 0, "threads": 1}}, r"latency\.texts_per_second"),
        ({"latency": {"ms_per_text": 1.0, "texts_per_second": 5.0}}, r"latency\.threads"),
        ({"data": {"data_hash": "x", "n_train": -1, "n_test": 1}}, r"data\.n_train"),
        ({"data": {"n_train": 1, "n_test": 1}}, r"data\.data_hash"),
        ({"parents": "teacher"}, "parents"),
        ({"encoder": {"backbone": "x"}}, r"encoder\.version"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_a_bad_card_is_refused_naming_the_field(cnn_dir, change, field):
    with pytest.raises(ValueError, match=f"model card: {field}"):
        validate_card({**card_of(cnn_dir), **change})


def test_a_card_for_a_model_on_embeddings_needs_its_encoder(head):
    with pytest.raises(ValueError, match="encoder is required"):
        model_card(head)


# --- archives ---------------------------------------------------------------------------------


def test_an_archive_holds_the_model_card_onnx_and_tokenizer(cnn_dir, tmp_path):
    path = write_archive(cnn_dir, card_of(cnn_dir), tmp_path / "out" / "cnn.zip")
    names = set(zipfile.ZipFile(path).namelist())
    assert {"model.json", "weights.pt", "vocabulary.json", "model_card.json", "model.onnx"} <= names
    assert {"tokenizer/tokenizer.json", "tokenizer/config.json"} <= names
    card = json.loads(zipfile.ZipFile(path).read("model_card.json"))
    assert card["onnx"] == "model.onnx"
    assert set(card["files"]) == names - {"model_card.json"}
    assert [p.name for p in path.parent.iterdir()] == ["cnn.zip"], "no temp file left behind"


def test_an_archive_without_onnx_and_of_a_kind_without_export(cnn_dir, head_dir, tmp_path):
    no_onnx = write_archive(cnn_dir, card_of(cnn_dir), tmp_path / "cnn.zip", onnx=False)
    assert "model.onnx" not in zipfile.ZipFile(no_onnx).namelist()
    head = write_archive(head_dir, card_of(head_dir), tmp_path / "head.zip")
    names = zipfile.ZipFile(head).namelist()
    assert "model.onnx" not in names and "tokenizer/config.json" not in names
    assert json.loads(zipfile.ZipFile(head).read("model_card.json"))["onnx"] is None


def test_an_archive_replaces_the_old_one_whole(cnn_dir, tmp_path):
    target = tmp_path / "cnn.zip"
    target.write_bytes(b"old")
    write_archive(cnn_dir, card_of(cnn_dir), target)
    assert zipfile.is_zipfile(target)


def test_a_card_of_another_model_writes_nothing(cnn_dir, head_dir, tmp_path):
    with pytest.raises(ValueError, match="model card: kind is 'fast_head' but the model is 'text_cnn'"):
        write_archive(cnn_dir, card_of(head_dir), tmp_path / "cnn.zip")
    with pytest.raises(ValueError, match="model card: classes differ"):
        write_archive(cnn_dir, {**card_of(cnn_dir), "classes": ["a", "b"], "label_map": {}}, tmp_path / "cnn.zip")
    assert not list(tmp_path.iterdir())


def test_read_archive_round_trips(cnn_dir, tmp_path):
    archive = write_archive(cnn_dir, card_of(cnn_dir), tmp_path / "cnn.zip")
    extracted = read_archive(archive, tmp_path / "x")
    original = json.loads((cnn_dir / "model.json").read_text(encoding="utf-8"))
    archived = json.loads((extracted / "model.json").read_text(encoding="utf-8"))
    # The same model.json but for machine-local parameters (folders, devices), which the archive clears.
    assert archived == {**original, "params": {**original["params"], "device": None}}
    assert (extracted / "tokenizer" / "tokenizer.json").is_file()


def evil_zip(path: Path, entries: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", "{}")
        for name, content in entries.items():
            archive.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("entries", "symlink", "message"),
    [
        ({"../escape.txt": b"x"}, None, "leaves the archive's folder"),
        ({"inner/../../escape.txt": b"x"}, None, "leaves the archive's folder"),
        ({"/etc/cron.d/evil": b"x"}, None, "not a relative path"),
        ({"C:/evil": b"x"}, None, "not a relative path"),
        ({"dir\\..\\evil": b"x"}, None, "not a relative path"),
        ({}, "link", "not a plain file"),
    ],
)
def test_unsafe_archives_are_refused_and_write_nothing_outside(tmp_path, entries, symlink, message):
    archive = evil_zip(tmp_path / "evil.zip", entries, symlink=symlink)
    with pytest.raises(ValueError, match=message):
        read_archive(archive, tmp_path / "out" / "x")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "escape.txt").exists()
    assert not list((tmp_path / "out" / "x").iterdir())


def test_size_and_entry_limits_are_counted_while_unpacking(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.json", "{}")
        archive.writestr("weights.pt", b"\0" * 5_000_000)  # compresses to a few kB
    with pytest.raises(ValueError, match="unpacks to more than the limit of 1000000 bytes"):
        read_archive(bomb, tmp_path / "a", max_bytes=1_000_000)
    assert all(path.stat().st_size <= 1_000_000 for path in (tmp_path / "a").iterdir())
    with pytest.raises(ValueError, match="2 entries; at most 1"):
        read_archive(bomb, tmp_path / "b", max_entries=1)


def test_other_bad_archives_are_refused(tmp_path):
    (tmp_path / "plain.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip archive"):
        read_archive(tmp_path / "plain.zip", tmp_path / "a")
    with zipfile.ZipFile(tmp_path / "nomodel.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=r"no model\.json"):
        read_archive(tmp_path / "nomodel.zip", tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        read_archive(tmp_path / "nomodel.zip", tmp_path / "c")


# --- the predictor ----------------------------------------------------------------------------


def test_a_text_cnn_predicts_the_same_from_its_directory_and_its_archive(cnn, cnn_dir, tmp_path):
    archive = write_archive(cnn_dir, card_of(cnn_dir), tmp_path / "cnn.zip")
    expected = cnn.predict_proba(PROBE_TEXTS)
    for source in (cnn_dir, archive):
        predictor = TextPredictor.load(source)
        np.testing.assert_array_equal(predictor.predict_proba(PROBE_TEXTS), expected)
        assert predictor.classes == ["Politics", "Sport & games"]
    onnx = TextPredictor.load(archive, runtime="onnx")
    assert onnx.runtime == "onnx"
    np.testing.assert_allclose(onnx.predict_proba(PROBE_TEXTS), expected, atol=1e-5, rtol=0)


def test_predict_gives_label_names_and_probabilities(cnn, cnn_dir):
    answers = TextPredictor.load(cnn_dir).predict(["goal match striker", "vote minister"])
    probabilities = cnn.predict_proba(["goal match striker", "vote minister"])
    for answer, row in zip(answers, probabilities, strict=True):
        assert set(answer) == {"label", "probabilities"}
        assert list(answer["probabilities"]) == ["Politics", "Sport & games"]
        assert answer["probabilities"]["Politics"] == pytest.approx(row[0])
        assert answer["label"] == ["Politics", "Sport & games"][int(row.argmax())]


def test_without_a_card_the_classes_are_the_model_labels(cnn, tmp_path):
    predictor = TextPredictor.load(cnn.save(tmp_path / "bare"))
    assert predictor.card is None and predictor.classes == ["politics", "sport"]


def test_a_multi_label_model_lists_its_labels(tmp_path):
    model = tiny_text_cnn("char", multi_label=True)
    answers = TextPredictor.load(model.save(tmp_path / "m")).predict(["vote goal", "the"])
    probabilities = model.predict_proba(["vote goal", "the"])
    for answer, row in zip(answers, probabilities, strict=True):
        assert answer["labels"] == [str(c) for c, p in zip(model.classes_, row, strict=True) if p >= 0.5]


def test_an_archive_runs_without_the_backbone_it_was_tokenized_with(tiny_backbone, tmp_path):
    """The archived wordpiece tokenizer replaces the backbone, which a production machine may not have."""
    backbone = shutil.copytree(tiny_backbone, tmp_path / "short-lived-backbone")
    model = tiny_text_cnn("wordpiece", backbone=str(backbone))
    directory = saved_with_card(model, tmp_path / "model")
    expected = model.predict_proba(PROBE_TEXTS)
    archive = write_archive(directory, card_of(directory), tmp_path / "cnn.zip")
    shutil.rmtree(backbone)
    for runtime in ("torch", "onnx"):
        actual = TextPredictor.load(archive, runtime=runtime).predict_proba(PROBE_TEXTS)
        np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)
    # An extracted archive archives again, its tokenizer standing in for the backbone.
    extracted = read_archive(archive, tmp_path / "extracted")
    again = write_archive(extracted, card_of(extracted), tmp_path / "again.zip")
    np.testing.assert_allclose(TextPredictor.load(again).predict_proba(PROBE_TEXTS), expected, atol=1e-5, rtol=0)


def test_a_fast_head_embeds_texts_with_the_encoder_its_card_names(head, head_dir, encoder, tmp_path):
    expected = head.predict_proba(encoder.embed(PROBE_TEXTS))
    archive = write_archive(head_dir, card_of(head_dir), tmp_path / "head.zip")
    for source in (head_dir, archive):
        predictor = TextPredictor.load(source, device="cpu")
        assert predictor.encoder.version == encoder.version
        np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0)
    speed = measure_speed(predictor.predict_proba, PROBE_TEXTS, max_seconds=0.5)
    assert speed["ms_per_text"] > 0


def test_a_hybrid_head_reads_the_texts_and_their_embeddings(encoder, tiny_backbone, tmp_path):
    """Issue 22: the saved folder and the archive carry the featurizer; the card names it."""
    hybrid = tiny_hybrid_head(encoder)
    expected = hybrid.predict_proba(HybridInputs(PROBE_TEXTS, encoder.embed(PROBE_TEXTS)))
    directory = saved_with_card(hybrid, tmp_path / "model", encoder=encoder, backbone=tiny_backbone)
    card = card_of(directory)
    assert card["featurizer"]["fingerprint"] == hybrid.featurizer_.fingerprint
    assert card["featurizer"]["params"]["language"] == "multi"
    assert card["featurizer"]["n_features"] == hybrid.featurizer_.n_features
    assert model_card(hybrid, encoder=card["encoder"])["featurizer"] == card["featurizer"]
    archive = write_archive(directory, card, tmp_path / "hybrid.zip")
    assert any(name.startswith("featurizer/") for name in card_of(read_archive(archive, tmp_path / "x"))["files"])
    for source in (directory, archive):
        predictor = TextPredictor.load(source, device="cpu")
        assert predictor.model.is_hybrid
        np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0)
    assert [row["label"] for row in predictor.predict(["足球比赛进球", "parliament vote"])] == [
        "Sport & games",
        "Politics",
    ]


def test_a_card_without_a_featurizer_is_valid_and_a_bad_one_is_refused(head, head_dir):
    card = card_of(head_dir)
    assert card["featurizer"] is None
    del card["featurizer"]  # cards written before issue 22
    validate_card(card)
    with pytest.raises(ValueError, match=r"featurizer\.fingerprint"):
        validate_card({**card, "featurizer": {"params": {}, "n_features": 3}})


def test_a_fast_head_without_its_encoder_gets_a_clear_error(head, head_dir, tmp_path):
    bare = head.save(tmp_path / "bare")
    with pytest.raises(ValueError, match="nothing names its encoder"):
        TextPredictor.load(bare)
    moved = shutil.copytree(head_dir, tmp_path / "moved")
    card = card_of(moved)
    card["encoder"]["backbone"] = str(tmp_path / "gone")
    (moved / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"the encoder .*gone.* this model needs cannot be loaded"):
        TextPredictor.load(moved)


def test_a_fast_head_refuses_an_encoder_of_other_weights(head_dir, tmp_path):
    moved = shutil.copytree(head_dir, tmp_path / "moved")
    card = card_of(moved)
    backbone, rest = card["encoder"]["version"].split("@", 1)
    fingerprint, settings = rest.split(":", 1)
    assert fingerprint != "0123456789"
    card["encoder"]["version"] = f"{backbone}@0123456789:{settings}"
    (moved / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="predictions would be meaningless"):
        TextPredictor.load(moved)


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        ("missing", {}, "no such model directory or archive"),
        ("cnn", {"runtime": "tensorrt"}, "runtime must be one of torch, onnx"),
        ("cnn", {"runtime": "onnx"}, "has no model.onnx"),
        ("head", {"runtime": "onnx"}, "'fast_head' models have no ONNX export"),
    ],
)
def test_bad_loads_get_clear_errors(cnn_dir, head_dir, tmp_path, source, kwargs, message):
    path = {"missing": tmp_path / "missing", "cnn": cnn_dir, "head": head_dir}[source]
    with pytest.raises(ValueError, match=message):
        TextPredictor.load(path, **kwargs)


def test_non_text_inputs_are_refused(cnn_dir):
    predictor = TextPredictor.load(cnn_dir)
    with pytest.raises(ValueError, match=r"texts\[1\] is int"):
        predictor.predict_proba(["fine", 3])
    with pytest.raises(ValueError, match="not a single string"):
        predictor.predict("one text")
    assert predictor.predict_proba([]).shape == (0, 2)


def test_a_card_may_name_the_backbone_as_a_folder_in_the_model_dirs(head, head_dir, encoder, tiny_backbone, tmp_path):
    moved = shutil.copytree(head_dir, tmp_path / "moved")
    card = card_of(moved)
    card["encoder"]["backbone"] = Path(tiny_backbone).name  # as a project names a backbone under its model dirs
    (moved / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="cannot be loaded"):
        TextPredictor.load(moved)
    predictor = TextPredictor.load(moved, model_dirs=[Path(tiny_backbone).parent], device="cpu")
    expected = head.predict_proba(encoder.embed(PROBE_TEXTS))
    np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0)
    by_override = TextPredictor.load(moved, encoder=tiny_backbone, device="cpu")
    np.testing.assert_allclose(by_override.predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0)


def test_a_teacher_archive_holds_its_backbone_and_predicts_the_same(tiny_backbone, tmp_path):
    from mlcore.teacher import Teacher

    texts, labels = training_texts()
    teacher = Teacher(backbone=tiny_backbone, epochs=1, batch_size=16, max_len=32, device="cpu").fit(texts, labels)
    directory = saved_with_card(teacher, tmp_path / "teacher")
    archive = write_archive(directory, card_of(directory), tmp_path / "teacher.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "backbone/config.json" in names and "model.onnx" not in names
    predictor = TextPredictor.load(archive, device="cpu")
    np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), teacher.predict_proba(PROBE_TEXTS), atol=1e-6)


def test_device_places_the_model_modules(cnn_dir):
    predictor = TextPredictor.load(cnn_dir, device="meta")
    assert next(predictor.model.module_.parameters()).device.type == "meta"
    assert predictor.model.device == "meta"


def test_a_static_head_archive_runs_without_its_backbone_in_both_runtimes(tiny_backbone, tmp_path):
    backbone = shutil.copytree(tiny_backbone, tmp_path / "short-lived-backbone")
    model = tiny_static_head(str(backbone), tmp_path / "static-tables")
    directory = saved_with_card(model, tmp_path / "model")
    expected = model.predict_proba(PROBE_TEXTS)
    archive = write_archive(directory, card_of(directory), tmp_path / "static.zip")
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"model.onnx", "static/vectors.npy", "static/tokenizer.json", "weights.pt"} <= names
    # No folder of this machine in the archive: the static table cache is a server path (issue 21).
    archived_meta = json.loads(zipfile.ZipFile(archive).read("model.json"))
    assert model.static_cache_dir and archived_meta["params"]["static_cache_dir"] is None
    assert str(tmp_path / "static-tables") not in json.dumps(archived_meta)
    shutil.rmtree(backbone)
    for runtime in ("torch", "onnx"):
        predictor = TextPredictor.load(archive, runtime=runtime)
        assert predictor.classes == ["Politics", "Sport & games"]
        np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), expected, atol=1e-5, rtol=0)
