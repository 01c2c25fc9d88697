"""Export writers: labelled items as CSV, JSON Lines, Label Studio tasks or doccano classification data.

Each writer turns an iterable of ExportRow into text chunks, so a Django StreamingHttpResponse can send a large
export without building it in memory. CSV and JSON Lines exports read back through annotator.importing.parsers with
the same texts and labels.

No Django here: rows come from whatever query the caller runs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import typing
from collections.abc import Callable, Iterable, Iterator

# Chunks are gathered up to about this size: one chunk per row would make streaming slow for big exports.
_CHUNK_TARGET_CHARS = 64 * 1024

CSV_LABEL_DELIMITER = "|"
# CSV injection (OWASP): a spreadsheet runs a cell that starts with one of these as a formula
# (`=HYPERLINK(...)`, `@SUM(...)`, DDE via `+cmd|...`). Such cells are written after a single quote,
# which spreadsheets show as text; the CSV importer removes it again, so an export still round-trips.
# JSON formats are not affected: nothing evaluates their strings.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PREFIX = "'"


def escape_formula(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text: a single quote before a formula trigger."""
    return FORMULA_PREFIX + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def unescape_formula(cell: str) -> str:
    """Undo `escape_formula`: a single quote followed by a formula trigger is dropped."""
    if cell.startswith(FORMULA_PREFIX) and cell[1:].startswith(FORMULA_TRIGGERS):
        return cell[1:]
    return cell


@dataclasses.dataclass(frozen=True)
class ExportRow:
    """One item as exported: its final label paths (empty when unlabeled) and which split it belongs to."""

    id: int
    text: str
    labels: tuple[str, ...]
    split: str  # "pool" | "train" | "test"
    meta: dict


Writer = Callable[[Iterable[ExportRow]], Iterator[str]]


class ExportFormat(typing.NamedTuple):
    """A tuple, so `content_type, file_extension, writer = EXPORT_FORMATS[name]` works; the extension has no dot."""

    content_type: str
    file_extension: str
    writer: Writer


def export_chunks(rows: Iterable[ExportRow], fmt: str) -> Iterator[str]:
    """Return the export of `rows` in format `fmt` as an iterator of text chunks.

    Not a generator itself: an unknown format raises ValueError here, before a response has started streaming.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f'unknown export format "{fmt}"; expected one of: {", ".join(EXPORT_FORMATS)}')
    return EXPORT_FORMATS[fmt].writer(rows)


# --- writers ----------------------------------------------------------------------------------------------------


def write_csv(rows: Iterable[ExportRow]) -> Iterator[str]:
    """Header `id,text,label,split,meta`; labels joined with "|", meta as compact JSON; csv quoting throughout.

    Text and label cells that a spreadsheet would run as a formula get a leading quote (`escape_formula`);
    the id and split cells cannot start with one, and meta is JSON, so it starts with a brace."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "label", "split", "meta"])
    for row in rows:
        labels = CSV_LABEL_DELIMITER.join(row.labels)
        writer.writerow([row.id, escape_formula(row.text), escape_formula(labels), row.split, _compact_json(row.meta)])
        if buffer.tell() >= _CHUNK_TARGET_CHARS:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def write_jsonl(rows: Iterable[ExportRow]) -> Iterator[str]:
    """One object per line; "label" only when there is exactly one label, "labels" always."""
    return _gather(_json_line(_jsonl_object(row)) for row in rows)


def write_label_studio(rows: Iterable[ExportRow]) -> Iterator[str]:
    """A JSON array of Label Studio tasks, streamed item by item."""
    yield "["
    yield from _gather(_label_studio_items(rows))
    yield "]\n"


def write_doccano(rows: Iterable[ExportRow]) -> Iterator[str]:
    """doccano's text-classification JSONL: {"text", "label": [...]}, plus "id" and the meta keys that fit."""
    return _gather(_json_line(_doccano_object(row)) for row in rows)


# --- per-row objects --------------------------------------------------------------------------------------------


def _jsonl_object(row: ExportRow) -> dict:
    item: dict[str, typing.Any] = {"id": row.id, "text": row.text}
    if len(row.labels) == 1:
        item["label"] = row.labels[0]
    item["labels"] = list(row.labels)
    item["split"] = row.split
    item["meta"] = row.meta
    return item


def _label_studio_task(row: ExportRow) -> dict:
    # Label Studio shows data fields as text, so meta values are strings; meta must not replace the item's own text.
    data: dict[str, str] = {"text": row.text}
    data.update((key, _as_string(value)) for key, value in row.meta.items() if key != "text")
    data["split"] = row.split
    return {"id": row.id, "data": data, "annotations": _label_studio_annotations(row.labels)}


def _label_studio_annotations(labels: tuple[str, ...]) -> list[dict]:
    if not labels:
        return []
    choice = {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": list(labels)}}
    return [{"result": [choice]}]


def _doccano_object(row: ExportRow) -> dict:
    item: dict[str, typing.Any] = {"id": row.id, "text": row.text, "label": list(row.labels)}
    # doccano keeps unknown keys as the example's metadata; ours go there unless they would replace a field above.
    item.update((key, value) for key, value in row.meta.items() if key not in item)
    return item


# --- helpers ----------------------------------------------------------------------------------------------------


def _label_studio_items(rows: Iterable[ExportRow]) -> Iterator[str]:
    # The separator goes before every item but the first, so the array stays valid JSON (also when empty).
    separator = ""
    for row in rows:
        yield separator + _json_text(_label_studio_task(row))
        separator = ",\n"


def _gather(pieces: Iterable[str]) -> Iterator[str]:
    """Join small pieces into chunks of about _CHUNK_TARGET_CHARS."""
    pending: list[str] = []
    size = 0
    for piece in pieces:
        pending.append(piece)
        size += len(piece)
        if size >= _CHUNK_TARGET_CHARS:
            yield "".join(pending)
            pending, size = [], 0
    if pending:
        yield "".join(pending)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _json_line(item: dict) -> str:
    return _json_text(item) + "\n"


def _json_text(item: object) -> str:
    # default=str: meta comes from JSON fields, but a stray date or Decimal should not abort a long export midway.
    return json.dumps(item, ensure_ascii=False, default=str)


def _compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _as_string(value: object) -> str:
    return value if isinstance(value, str) else _compact_json(value)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("text/csv; charset=utf-8", "csv", write_csv),
    "jsonl": ExportFormat("application/x-ndjson; charset=utf-8", "jsonl", write_jsonl),
    "label-studio": ExportFormat("application/json; charset=utf-8", "json", write_label_studio),
    "doccano": ExportFormat("application/x-ndjson; charset=utf-8", "jsonl", write_doccano),
}
