"""Label Studio JSON import (issue 20, item 1): tasks streamed one at a time, every error with its line and task."""

from __future__ import annotations

import io
import json

import pytest

from annotator.exporting.formats import ExportRow, write_label_studio
from annotator.importing.parsers import (
    JSON_TOO_DEEP,
    LS_DISAGREEMENT_META_KEY,
    MAX_TASK_CHARS,
    ImportFileError,
    ImportOptions,
    iter_records,
)


def parse(data: str, fmt: str = "label-studio", step: int | None = None):
    raw = data.encode()
    stream = io.BufferedReader(_Chunky(raw, step), buffer_size=step) if step else io.BytesIO(raw)
    return list(iter_records(stream, ImportOptions(), fmt=fmt))


class _Chunky(io.RawIOBase):
    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step = io.BytesIO(data), step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), self._step))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def error(data: str) -> ImportFileError:
    with pytest.raises(ImportFileError) as excinfo:
        parse(data)
    return excinfo.value


def task(text: str, *choices: list[str], **extra) -> dict:
    annotations = [
        {"result": [{"type": "choices", "from_name": "label", "to_name": "text", "value": {"choices": c}}]}
        for c in choices
    ]
    return {"id": 1, "data": {"text": text, **extra}, "annotations": annotations}


def test_our_export_reads_back_with_paths_meta_and_no_split():
    """Issue 20, item 1: "Parent > Child" choices, as our exporter writes them, stay label paths."""
    rows = [
        ExportRow(1, "Goal!", ("Sport > Football",), "train", {"source": "a"}),
        ExportRow(2, "Chips", ("Tech", "Business"), "train", {}),
        ExportRow(3, "Nothing yet", (), "pool", {"n": 3}),
    ]
    records = parse("".join(write_label_studio(rows)))
    assert [(r.text, r.labels, r.meta) for r in records] == [
        ("Goal!", ("Sport > Football",), {"source": "a"}),
        ("Chips", ("Business", "Tech"), {}),
        ("Nothing yet", (), {"n": "3"}),
    ]


def test_label_studio_own_export_with_taxonomy_and_cancelled_annotations():
    """Issue 20, item 1: Label Studio's taxonomy tag writes paths as lists; cancelled annotations do not count."""
    tasks = [
        {
            "id": 7,
            "data": {"text": "Wimbledon final"},
            "annotations": [
                {"was_cancelled": True, "result": [{"type": "choices", "value": {"choices": ["Tech"]}}]},
                {"result": [{"type": "taxonomy", "value": {"taxonomy": [["Sport", "Tennis"]]}}]},
            ],
            "predictions": [{"result": [{"type": "choices", "value": {"choices": ["Business"]}}]}],
        },
        {"id": 8, "data": {"text": "A span only"}, "annotations": [{"result": [{"type": "labels", "value": {}}]}]},
    ]
    records = parse(json.dumps(tasks, indent=2))
    assert [(r.line, r.text, r.labels) for r in records] == [
        (2, "Wimbledon final", ("Sport > Tennis",)),
        (52, "A span only", ()),
    ]


def test_disagreeing_annotators_leave_the_item_unlabeled_with_their_answers_as_meta():
    """Issue 20, item 1: two annotators chose differently; nothing is guessed, nothing is lost."""
    [record] = parse(json.dumps([task("Close call", ["Sport"], ["Tech"])]))
    assert record.labels == ()
    assert record.meta == {LS_DISAGREEMENT_META_KEY: [["Sport"], ["Tech"]]}
    [agreed] = parse(json.dumps([task("Clear", ["Sport"], ["Sport"])]))
    assert agreed.labels == ("Sport",)


def test_a_json_file_that_opens_an_array_is_read_as_label_studio():
    """Issue 20, item 1: a .json upload detected as JSON Lines switches to Label Studio at the "["."""
    records = parse("\n  [" + json.dumps(task("One", ["A"])) + "]\n", fmt="jsonl")
    assert [(r.line, r.labels) for r in records] == [(2, ("A",))]


def test_tasks_across_small_reads():
    tasks = [task(f"text {n} " + "x" * 50, [f"L{n % 3}"]) for n in range(40)]
    records = parse(json.dumps(tasks), step=7)
    assert [r.labels for r in records] == [(f"L{n % 3}",) for n in range(40)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"data": {"text": "x"}}', "a Label Studio export is a JSON array of tasks"),
        ("[\n" + json.dumps(task("a")) + ',\n{"data": {"text": }}]', "Line 3: task 2: invalid JSON"),
        ("[" + json.dumps(task("a")), "the JSON array is not closed"),
        ("[" + json.dumps(task("a")) + "] []", "there is more after the end of the JSON array"),
        ("[1]", "task 1 is a number, not an object"),
        ('[{"text": "a"}]', 'task 1 has no "data" object'),
        ('[{"data": {"body": "a"}}]', '"data" has no "text" field; the fields found are: "body"'),
        ('[{"data": {"text": 5}}]', '"data.text" must be a string, found a number'),
        ('[{"data": {"text": "a"}, "annotations": {}}]', '"annotations" must be a list, found an object'),
        (json.dumps([task("a", [1])]), '"value.choices" must be a list of strings'),
        ('[{"data": {"text": "a\\u0000"}}]', "the text contains a NUL character"),
        ('[{"data": {"text": "a", "m": "\\u0000"}}]', 'the meta value "m" contains a NUL character'),
        ('[{"data": {"text": " "}}]', "empty text"),
        ("[]", "the file contains no items"),
    ],
)
def test_errors_name_the_line_and_the_task(data, expected):
    assert expected in str(error(data))


def test_nesting_and_size_are_bounded():
    """Issue 20, item 1: the limits of issue 19 hold for Label Studio files too."""
    deep = '[{"data": {"text": "a", "m": ' + "[" * 40 + "]" * 40 + "}}]"
    assert JSON_TOO_DEEP.format(limit=32) in str(error(deep))
    very_deep = '[{"data": {"text": "a", "m": ' + "[" * 100_000 + "]" * 100_000 + "}}]"
    assert JSON_TOO_DEEP.format(limit=32) in str(error(very_deep))
    assert "the limit is 131,072" in str(error(json.dumps([task("x" * 131_073)])))
    huge = '[{"data": {"text": "a", "m": "' + "y" * (MAX_TASK_CHARS + 10)
    assert f"task 1 is longer than {MAX_TASK_CHARS:,} characters" in str(error(huge))
