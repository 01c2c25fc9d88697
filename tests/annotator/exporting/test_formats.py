"""Tests for the export writers (pure Python, no database)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from annotator.exporting.formats import EXPORT_FORMATS, ExportRow, export_chunks
from annotator.importing.parsers import ImportOptions, iter_records

ROWS = [
    ExportRow(id=1, text="Plain text", labels=("Sport > Football",), split="train", meta={"source": "web"}),
    ExportRow(
        id=2,
        text='Commas, "quotes"\nand a second line\r\nand a third',
        labels=("a", "b"),
        split="test",
        meta={"n": 3, "nested": {"x": [1, 2]}, "text": "must not override"},
    ),
    ExportRow(id=3, text="Unlabeled ünïcödé 日本語", labels=(), split="pool", meta={}),
    ExportRow(id=4, text="id and label in meta", labels=("c",), split="pool", meta={"id": "ext-9", "label": "old"}),
]


def export_text(fmt: str, rows=ROWS) -> str:
    return "".join(export_chunks(rows, fmt))


def reimport(text: str, fmt: str, **options):
    return list(iter_records(io.BytesIO(text.encode("utf-8")), ImportOptions(**options), fmt=fmt))


def test_export_formats_table():
    assert set(EXPORT_FORMATS) == {"csv", "jsonl", "label-studio", "doccano"}
    for content_type, file_extension, writer in EXPORT_FORMATS.values():
        assert "/" in content_type and "charset=utf-8" in content_type
        assert file_extension and not file_extension.startswith(".")
        assert callable(writer)


def test_unknown_format_raises_before_iteration_with_valid_names():
    with pytest.raises(ValueError) as excinfo:
        export_chunks(iter(ROWS), "xml")
    assert all(name in str(excinfo.value) for name in EXPORT_FORMATS)


def test_writers_consume_rows_lazily():
    consumed: list[int] = []

    def rows():
        for row in ROWS:
            consumed.append(row.id)
            yield row

    for fmt in EXPORT_FORMATS:
        consumed.clear()
        export_chunks(rows(), fmt)
        assert consumed == []


def test_big_exports_come_in_several_chunks():
    rows = [ExportRow(id=n, text=f"text number {n}" * 5, labels=("x",), split="pool", meta={}) for n in range(20_000)]
    for fmt in EXPORT_FORMATS:
        chunks = list(export_chunks(rows, fmt))
        assert len(chunks) > 10, fmt
        assert max(len(chunk) for chunk in chunks) < 200_000, fmt


# --- CSV --------------------------------------------------------------------------------------------------------


def test_csv_layout():
    parsed = list(csv.reader(io.StringIO(export_text("csv"), newline="")))
    assert parsed[0] == ["id", "text", "label", "split", "meta"]
    assert parsed[2] == ["2", ROWS[1].text, "a|b", "test", '{"n":3,"nested":{"x":[1,2]},"text":"must not override"}']
    assert parsed[3] == ["3", ROWS[2].text, "", "pool", "{}"]


def test_csv_round_trip_through_the_import_parser():
    records = reimport(export_text("csv"), "csv", label_column="label", meta_columns=[])
    assert [(r.text, r.labels) for r in records] == [(row.text, row.labels) for row in ROWS]


def test_csv_with_no_rows_is_just_the_header():
    assert export_text("csv", []) == "id,text,label,split,meta\r\n"


# --- JSON Lines -------------------------------------------------------------------------------------------------


def test_jsonl_objects():
    objects = [json.loads(line) for line in export_text("jsonl").splitlines()]
    assert objects[0] == {
        "id": 1,
        "text": "Plain text",
        "label": "Sport > Football",
        "labels": ["Sport > Football"],
        "split": "train",
        "meta": {"source": "web"},
    }
    assert "label" not in objects[1] and objects[1]["labels"] == ["a", "b"]
    assert "label" not in objects[2] and objects[2]["labels"] == []
    assert len(objects) == len(ROWS)


def test_jsonl_keeps_non_ascii_readable():
    assert "ünïcödé 日本語" in export_text("jsonl")


def test_jsonl_round_trip_through_the_import_parser():
    records = reimport(export_text("jsonl"), "jsonl")
    assert [(r.text, r.labels) for r in records] == [(row.text, row.labels) for row in ROWS]


def test_jsonl_with_no_rows_is_empty():
    assert export_text("jsonl", []) == ""


# --- Label Studio -----------------------------------------------------------------------------------------------


def test_label_studio_is_one_valid_json_array_of_tasks():
    tasks = json.loads(export_text("label-studio"))
    assert tasks[0] == {
        "id": 1,
        "data": {"text": "Plain text", "source": "web", "split": "train"},
        "annotations": [
            {
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Sport > Football"]},
                    }
                ]
            }
        ],
    }
    assert tasks[1]["data"] == {"text": ROWS[1].text, "n": "3", "nested": '{"x":[1,2]}', "split": "test"}
    assert tasks[1]["annotations"][0]["result"][0]["value"]["choices"] == ["a", "b"]
    assert tasks[2]["annotations"] == []
    assert [task["id"] for task in tasks] == [row.id for row in ROWS]


@pytest.mark.parametrize("count", [0, 1, 2])
def test_label_studio_is_valid_json_for_few_rows(count):
    assert len(json.loads(export_text("label-studio", ROWS[:count]))) == count


def test_label_studio_is_valid_json_across_chunk_boundaries():
    rows = [ExportRow(id=n, text="t" * 100, labels=(), split="pool", meta={}) for n in range(5_000)]
    assert len(json.loads(export_text("label-studio", rows))) == 5_000


# --- doccano ----------------------------------------------------------------------------------------------------


def test_doccano_classification_lines():
    objects = [json.loads(line) for line in export_text("doccano").splitlines()]
    assert objects[0] == {"id": 1, "text": "Plain text", "label": ["Sport > Football"], "source": "web"}
    assert objects[1] == {"id": 2, "text": ROWS[1].text, "label": ["a", "b"], "n": 3, "nested": {"x": [1, 2]}}
    assert objects[2] == {"id": 3, "text": ROWS[2].text, "label": []}
    assert objects[3] == {"id": 4, "text": ROWS[3].text, "label": ["c"]}  # colliding meta keys left out


def test_doccano_export_reads_back_through_the_import_parser():
    records = reimport(export_text("doccano"), "jsonl")
    assert [(r.text, r.labels) for r in records] == [(row.text, row.labels) for row in ROWS]
