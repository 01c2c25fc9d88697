"""Streaming parsers for import files: CSV, TSV, JSON Lines, Label Studio JSON and plain text.

Import files can be hundreds of megabytes, so the binary stream is read in chunks and records are yielded one at a
time. Errors are raised lazily, when iteration reaches the bad line, and carry that line's number so the user can fix
the file; the caller validates the whole file before writing anything.

No Django here: the module works on any binary file object and is tested without a database.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
import typing
from collections.abc import Callable, Iterable, Iterator

from annotator.exporting.formats import unescape_formula
from annotator.importing import encodings

SUPPORTED_FORMATS = ("csv", "tsv", "jsonl", "label-studio", "txt")

_FORMAT_BY_EXTENSION = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",  # a file that opens with "[" is read as Label Studio tasks (see _parse_jsonl)
    ".txt": "txt",
}
_DEFAULT_LABEL_COLUMNS = ("label", "labels")
_JSONL_LABEL_KEYS = ("label", "labels")

# 1 MiB reads keep memory flat on 200 MB files; progress is reported at the same granularity.
_CHUNK_SIZE = 1 << 20
_PROGRESS_STEP = 1 << 20

# Limits on what one record may hold, checked here so every error names its line (PostgreSQL would refuse a
# NUL character in text or JSON, and a label name longer than the column, with a 500; SQLite stored them).
MAX_TEXT_CHARS = 131_072  # the csv module's own field limit, so CSV and JSON Lines agree
MAX_META_KEY_CHARS = 200
MAX_JSON_DEPTH = 32  # nesting of a JSON Lines record; far deeper input would exhaust Python's recursion

TEXT_TOO_LONG = "the text is {length:,} characters long; the limit is {limit:,}"
META_KEY_TOO_LONG = "a meta key is {length:,} characters long; the limit is {limit:,}"
META_VALUE_TOO_LONG = 'the meta value "{key}" is {length:,} characters long; the limit is {limit:,}'
NUL_IN_FIELD = "the {field} contains a NUL character"
JSON_TOO_DEEP = "the JSON on this line is nested more than {limit} levels deep"
# Label Studio: one task is decoded at a time, so a single task may not grow past this while it is read.
MAX_TASK_CHARS = 4 * MAX_TEXT_CHARS
LS_NOT_AN_ARRAY = "a Label Studio export is a JSON array of tasks ([{{...}}, ...]); this file starts with {found!r}"
LS_TASK_TOO_LARGE = "task {task} is longer than {limit:,} characters"
LS_BAD_JSON = "task {task}: invalid JSON: {detail}"
LS_UNFINISHED = "the JSON array is not closed (missing ])"
LS_AFTER_ARRAY = "there is more after the end of the JSON array"
LS_TASK_NOT_OBJECT = "task {task} is {found}, not an object"
LS_NO_DATA = (
    'task {task} has no "data" object; a JSON array is read as Label Studio tasks ({{"data": {{"text": ...}}}}), '
    "and a JSON Lines file has one object per line, not an array"
)
LS_NO_TEXT = 'task {task}: "data" has no "{key}" field; the fields found are: {found}'
LS_TEXT_NOT_STRING = 'task {task}: "data.{key}" must be a string, found {found}'
LS_BAD_ANNOTATIONS = 'task {task}: "{field}" must be {expected}, found {found}'
# Our export adds the item's split to `data`; the import's own split option decides where items go.
LS_DATA_KEYS_DROPPED = ("split",)
LS_DISAGREEMENT_META_KEY = "label_studio_labels"
_JSON_SPACE = re.compile(r"[ \t\r\n]*")

ProgressCallback = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    """How to read an import file; the defaults suit files with a "text" column and an optional "label" column."""

    format: str = "auto"
    text_column: str = "text"
    # None: use a column named "label" or "labels" if there is one. "" : the file has no labels.
    label_column: str | None = None
    # None: every column other than text and label is kept as meta. []: no meta.
    meta_columns: list[str] | None = None
    label_delimiter: str = "|"
    # "auto" detects UTF-8 or GB18030 (GBK); see annotator.importing.encodings.ENCODINGS for the choices.
    encoding: str = encodings.AUTO


@dataclasses.dataclass(frozen=True)
class Record:
    """One item read from the file, with the line it starts on (the header is line 1 in CSV/TSV)."""

    line: int
    text: str
    labels: tuple[str, ...]
    meta: dict


class ImportFileError(ValueError):
    """A problem with the file, with the line it is on (None when it concerns the whole file)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        # Both go to args so the exception survives pickling (e.g. when a worker reports it back).
        super().__init__(message, line)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        sentence = self.message if self.message.endswith((".", "!", "?")) else f"{self.message}."
        return f"Line {self.line}: {sentence}"


# --- format detection -------------------------------------------------------------------------------------------


def detect_format(filename: str, requested: str = "auto") -> str:
    """Return the concrete format to parse `filename` with: `requested` when given, else one chosen by extension."""
    requested = (requested or "auto").strip().lower()
    if requested != "auto":
        if requested not in SUPPORTED_FORMATS:
            raise ImportFileError(f'unknown format "{requested}"; choose one of: {", ".join(SUPPORTED_FORMATS)}')
        return requested
    extension = os.path.splitext(filename or "")[1].lower()
    if extension not in _FORMAT_BY_EXTENSION:
        raise ImportFileError(
            f'cannot tell the format of "{os.path.basename(filename or "")}" from its extension; supported formats are '
            f"{', '.join(SUPPORTED_FORMATS)} (extensions {', '.join(_FORMAT_BY_EXTENSION)}), "
            "or choose the format explicitly"
        )
    return _FORMAT_BY_EXTENSION[extension]


# --- entry point ------------------------------------------------------------------------------------------------


def iter_records(
    stream: typing.BinaryIO,
    options: ImportOptions,
    *,
    fmt: str,
    on_progress: ProgressCallback | None = None,
    on_encoding: Callable[[str], None] | None = None,
) -> Iterator[Record]:
    """Yield the records of a file in format `fmt`, raising ImportFileError when iteration reaches a bad line.

    The file is read in `options.encoding` ("auto": UTF-8 or GB18030, detected); `on_encoding(name)` is told the
    encoding once it is settled. `on_progress(bytes_consumed)` is called about every MiB and once at the end, so a
    caller can draw a progress bar.
    """
    # Checked eagerly (this is not a generator function): a wrong `fmt` is a programming error, not a file problem.
    if fmt not in _PARSERS:
        raise ValueError(f'unsupported format "{fmt}"; expected one of: {", ".join(SUPPORTED_FORMATS)}')
    try:
        encoding = encodings.check_encoding(options.encoding)
    except encodings.EncodingError as err:
        raise ImportFileError(err.message) from None
    lines = _iter_decoded_lines(stream, on_progress, encoding, on_encoding)
    return _require_items(_PARSERS[fmt](lines, options))


def _require_items(records: Iterable[Record]) -> Iterator[Record]:
    found_any = False
    for record in records:
        found_any = True
        yield record
    if not found_any:
        raise ImportFileError("the file contains no items")


# --- reading lines ----------------------------------------------------------------------------------------------


def _iter_decoded_lines(
    stream: typing.BinaryIO,
    on_progress: ProgressCallback | None,
    encoding: str = encodings.AUTO,
    on_encoding: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, str]]:
    """Yield (line_number, text) for every line of the stream, line ending included.

    Lines are decoded one at a time rather than through io.TextIOWrapper because that is what lets an encoding error
    name its line (see `encodings`, which also detects the encoding).
    """
    try:
        yield from encodings.decode_lines(_iter_numbered_raw_lines(stream, on_progress), encoding, on_encoding)
    except encodings.EncodingError as err:
        raise ImportFileError(err.message, err.line) from None


def _iter_numbered_raw_lines(
    stream: typing.BinaryIO, on_progress: ProgressCallback | None
) -> Iterator[encodings.RawLine]:
    """(line number, byte offset, bytes) of each line; progress is reported in bytes read."""
    consumed = 0
    reported = 0
    for line_number, raw_line in enumerate(_iter_raw_lines(stream), start=1):
        yield line_number, consumed, raw_line
        consumed += len(raw_line)
        if on_progress is not None and consumed - reported >= _PROGRESS_STEP:
            on_progress(consumed)
            reported = consumed
    if on_progress is not None and consumed > reported:
        on_progress(consumed)


def _iter_raw_lines(stream: typing.BinaryIO) -> Iterator[bytes]:
    # Pieces of an unfinished line are kept in a list so that one enormous line costs one join, not one per chunk.
    pending: list[bytes] = []
    while chunk := stream.read(_CHUNK_SIZE):
        if isinstance(chunk, str):
            raise TypeError("iter_records needs a binary stream (open the file in 'rb' mode)")
        pending.append(chunk)
        if b"\n" not in chunk:
            continue
        *complete_lines, unfinished = b"".join(pending).split(b"\n")
        pending = [unfinished] if unfinished else []
        for line in complete_lines:
            yield line + b"\n"
    if pending:
        yield b"".join(pending)


# --- shared record checks ---------------------------------------------------------------------------------------


def _clean_text(value: str, line: int) -> str:
    text = value.strip()
    if not text:
        raise ImportFileError("empty text", line)
    # A raw NUL byte is caught while decoding; this catches one written as an escape, e.g. "\u0000" in JSON.
    _reject_nul(text, "text", line)
    if len(text) > MAX_TEXT_CHARS:
        raise ImportFileError(TEXT_TOO_LONG.format(length=len(text), limit=MAX_TEXT_CHARS), line)
    return text


def _reject_nul(value: str, field: str, line: int) -> None:
    if "\x00" in value:
        raise ImportFileError(NUL_IN_FIELD.format(field=field), line)


def _normalize_labels(labels: Iterable[str], line: int) -> tuple[str, ...]:
    """Strip labels, drop empty ones and repeats (keeping first-seen order): a label is either on an item or not.

    Label path lengths are the import service's to check: it knows the label model's column."""
    cleaned = [label.strip() for label in labels]
    for label in cleaned:
        _reject_nul(label, "label", line)
    return tuple(dict.fromkeys(label for label in cleaned if label))


def _checked_meta(meta: dict, line: int) -> dict:
    """Meta keys and string values (at any depth) without NUL characters and within the length limits.

    Walks the value with an explicit stack: the depth was bounded when the line was parsed, but the walk
    need not rely on that."""
    pending: list[tuple[str, object]] = [(key, value) for key, value in meta.items()]
    for key in meta:
        _check_meta_key(key, line)
    while pending:
        key, value = pending.pop()
        if isinstance(value, str):
            _reject_nul(value, f'meta value "{key[:40]}"', line)
            if len(value) > MAX_TEXT_CHARS:
                message = META_VALUE_TOO_LONG.format(key=key[:40], length=len(value), limit=MAX_TEXT_CHARS)
                raise ImportFileError(message, line)
        elif isinstance(value, dict):
            for inner_key, inner in value.items():
                _check_meta_key(inner_key, line)
                pending.append((key, inner))
        elif isinstance(value, list):
            pending.extend((key, inner) for inner in value)
    return meta


def _check_meta_key(key: str, line: int) -> None:
    _reject_nul(key, "meta key", line)
    if len(key) > MAX_META_KEY_CHARS:
        raise ImportFileError(META_KEY_TOO_LONG.format(length=len(key), limit=MAX_META_KEY_CHARS), line)


def _quoted_list(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names) or "(none)"


# --- CSV / TSV --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ColumnLayout:
    """Where each part of a record sits in a CSV/TSV row, resolved once from the header."""

    width: int
    text_index: int
    label_index: int | None
    meta_indexes: tuple[tuple[str, int], ...]
    label_delimiter: str

    def record_from_row(self, row: list[str], line: int) -> Record:
        if len(row) != self.width:
            raise ImportFileError(_describe_ragged_row(len(row), self.width), line)
        # Our CSV export quotes cells that spreadsheets would run as formulas; reading it back undoes that.
        text = _clean_text(unescape_formula(row[self.text_index]), line)
        labels = () if self.label_index is None else self._split_labels(unescape_formula(row[self.label_index]), line)
        meta = _checked_meta({name: row[index] for name, index in self.meta_indexes}, line)
        return Record(line=line, text=text, labels=labels, meta=meta)

    def _split_labels(self, cell: str, line: int) -> tuple[str, ...]:
        # Only the delimiter splits: a label path such as "Sport > Football" is one label.
        parts = cell.split(self.label_delimiter) if self.label_delimiter else [cell]
        return _normalize_labels(parts, line)


def _parse_csv(lines: Iterator[tuple[int, str]], options: ImportOptions) -> Iterator[Record]:
    return _parse_delimited(lines, options, delimiter=",")


def _parse_tsv(lines: Iterator[tuple[int, str]], options: ImportOptions) -> Iterator[Record]:
    return _parse_delimited(lines, options, delimiter="\t")


def _parse_delimited(lines: Iterator[tuple[int, str]], options: ImportOptions, delimiter: str) -> Iterator[Record]:
    # The line reader yields every physical line, so csv.reader's line_num is the file's line number.
    # strict=True turns a quote that is never closed into an error instead of silently swallowing the rest of the file.
    reader = csv.reader((text for _, text in lines), delimiter=delimiter, strict=True)
    rows = _iter_rows_with_start_line(reader)
    header = next(rows, None)
    if header is None:
        return
    header_line, header_row = header
    layout = _resolve_columns(header_row, header_line, options)
    for line, row in rows:
        yield layout.record_from_row(row, line)


def _iter_rows_with_start_line(reader: typing.Any) -> Iterator[tuple[int, list[str]]]:
    """Yield (line the row starts on, row), skipping rows with nothing in them.

    line_num after a read is the row's last line (a quoted field may span several), so the start is one past the
    previous row's end. Empty rows (blank lines, or ",,," left by spreadsheets) are skipped rather than rejected.
    """
    end_of_previous_row = 0
    while True:
        start_line = end_of_previous_row + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise ImportFileError(_describe_csv_error(err), start_line) from None
        end_of_previous_row = reader.line_num
        if any(field.strip() for field in row):
            yield start_line, row


def _describe_csv_error(err: csv.Error) -> str:
    detail = str(err)
    if "unexpected end of data" in detail:
        return 'a quoted field starting on this row is never closed (missing closing ")'
    if "expected after" in detail:
        return f'malformed quoting ({detail}); a quote inside a field must be doubled ("") and the field quoted'
    if "field larger than field limit" in detail:
        return f"a field is longer than the {csv.field_size_limit()} characters allowed"
    return f"malformed row: {detail}"


def _describe_ragged_row(found: int, expected: int) -> str:
    if found > expected:
        return (
            f"the row has {found} fields but the header has {expected}; "
            "a field that contains the delimiter must be quoted"
        )
    return f"the row has {found} fields but the header has {expected}"


def _resolve_columns(header: list[str], header_line: int, options: ImportOptions) -> _ColumnLayout:
    names = [name.strip() for name in header]
    _reject_duplicate_columns(names, header_line)
    text_index = _require_column(names, options.text_column, "text", header_line)
    label_index = _resolve_label_column(names, options, header_line)
    if label_index == text_index:
        raise ImportFileError(f'the label column cannot also be the text column ("{names[text_index]}")', header_line)
    meta_indexes = _resolve_meta_columns(names, options, {text_index, label_index}, header_line)
    return _ColumnLayout(
        width=len(names),
        text_index=text_index,
        label_index=label_index,
        meta_indexes=meta_indexes,
        label_delimiter=options.label_delimiter,
    )


def _reject_duplicate_columns(names: list[str], header_line: int) -> None:
    # Blank names (trailing delimiters in spreadsheet exports) are never looked up, so repeats of them are harmless.
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ImportFileError(f'the column "{name}" appears more than once in the header', header_line)
        seen.add(name)


def _require_column(names: list[str], wanted: str, role: str, header_line: int) -> int:
    if wanted not in names:
        raise ImportFileError(
            f'the {role} column "{wanted}" is missing; the columns found are: {_quoted_list(names)}', header_line
        )
    return names.index(wanted)


def _resolve_label_column(names: list[str], options: ImportOptions, header_line: int) -> int | None:
    if options.label_column == "":
        return None
    if options.label_column is not None:
        return _require_column(names, options.label_column, "label", header_line)
    candidates = [name for name in _DEFAULT_LABEL_COLUMNS if name in names]
    if len(candidates) > 1:
        # Guessing here could silently import the wrong labels; make the user say which.
        raise ImportFileError(
            f"both {_quoted_list(candidates)} columns are present; choose which one holds the labels", header_line
        )
    return names.index(candidates[0]) if candidates else None


def _resolve_meta_columns(
    names: list[str], options: ImportOptions, used_indexes: set[int | None], header_line: int
) -> tuple[tuple[str, int], ...]:
    if options.meta_columns is None:
        return tuple((name, index) for index, name in enumerate(names) if name and index not in used_indexes)
    wanted = dict.fromkeys(options.meta_columns)  # ordered and without repeats
    return tuple((name, _require_column(names, name, "meta", header_line)) for name in wanted)


# --- JSON Lines -------------------------------------------------------------------------------------------------


def _parse_jsonl(lines: Iterator[tuple[int, str]], options: ImportOptions) -> Iterator[Record]:
    for line, text in lines:
        if not text.strip():
            continue
        if text.lstrip().startswith("["):
            # A .json file holding one array: Label Studio's export (a JSON Lines line is never an array).
            yield from _parse_label_studio(itertools.chain([(line, text)], lines), options)
            return
        item = _load_json_object(text, line)
        yield _record_from_object(item, line, options.text_column)


def _load_json_object(text: str, line: int) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImportFileError(f"invalid JSON: {err.msg} (column {err.colno}){_json_array_hint(text)}", line) from None
    except RecursionError:  # the decoder recurses once per level: thousands of "[" exhaust the stack
        raise ImportFileError(JSON_TOO_DEEP.format(limit=MAX_JSON_DEPTH), line) from None
    if _json_depth(value) > MAX_JSON_DEPTH:
        raise ImportFileError(JSON_TOO_DEEP.format(limit=MAX_JSON_DEPTH), line)
    if not isinstance(value, dict):
        hint = _json_array_hint(text) if isinstance(value, list) else ""
        raise ImportFileError(f"expected a JSON object on each line, found {_describe_json_type(value)}{hint}", line)
    return value


def _json_depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:  # deeper than the limit is all the caller needs to know
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _json_array_hint(text: str) -> str:
    # The usual mistake: a .json file holding one big array instead of one object per line.
    if text.lstrip().startswith("["):
        return "; a JSON Lines file has one object per line, not an array"
    return ""


def _record_from_object(item: dict, line: int, text_key: str) -> Record:
    if text_key not in item:
        raise ImportFileError(f'the "{text_key}" key is missing; the keys found are: {_quoted_list(item)}', line)
    value = item[text_key]
    if not isinstance(value, str):
        raise ImportFileError(f'"{text_key}" must be a string, found {_describe_json_type(value)}', line)
    text = _clean_text(value, line)
    labels = _labels_from_object(item, line)
    meta = {key: value for key, value in item.items() if key != text_key and key not in _JSONL_LABEL_KEYS}
    _checked_meta(meta, line)
    return Record(line=line, text=text, labels=labels, meta=meta)


def _labels_from_object(item: dict, line: int) -> tuple[str, ...]:
    """Labels from "label" and "labels", each a string or a list of strings (null means none).

    Both keys may appear together (our own JSONL export writes both); their labels are merged.
    A list under "label" is accepted because doccano writes its classification labels that way.
    """
    labels: list[str] = []
    for key in _JSONL_LABEL_KEYS:
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            labels.append(value)
        elif isinstance(value, list) and all(isinstance(label, str) for label in value):
            labels.extend(value)
        else:
            raise ImportFileError(
                f'"{key}" must be a string or a list of strings, found {_describe_label(value)}', line
            )
    return _normalize_labels(labels, line)


def _describe_label(value: object) -> str:
    if isinstance(value, list):
        wrong = next(element for element in value if not isinstance(element, str))
        return f"a list containing {_describe_json_type(wrong)}"
    return _describe_json_type(value)


def _describe_json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a string"


# --- Label Studio JSON ----------------------------------------------------------------------------------------


def _parse_label_studio(lines: Iterator[tuple[int, str]], options: ImportOptions) -> Iterator[Record]:
    """Tasks of a Label Studio JSON export: `data[text_column]` is the text, other `data` fields are meta, and the
    labels are the `choices` (or `taxonomy` paths) of the task's annotations that were not cancelled."""
    for task_number, (line, task) in enumerate(_iter_json_array(lines), start=1):
        yield _record_from_task(task, line, task_number, options.text_column)


class _ArrayReader:
    """Decodes a JSON array element by element from numbered lines, keeping at most one element's text in memory.

    Never slices the rest of the buffer or recounts it: a whole export may be one long line."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines = lines
        self._buffer = ""
        self._position = 0
        self._counted = 0  # newlines are counted up to here ...
        self._counted_line = 1  # ... which is on this line
        self._exhausted = False

    def _more(self, at_least: int = 1) -> bool:
        """Append the next lines, about `at_least` characters of them (one line at least); False at the end."""
        pieces: list[str] = []
        size = 0
        first_line = None
        while not self._exhausted and size < at_least:
            nxt = next(self._lines, None)
            if nxt is None:
                self._exhausted = True
                break
            first_line = nxt[0] if first_line is None else first_line
            pieces.append(nxt[1])
            size += len(nxt[1])
        if not pieces:
            return False
        # Drop what is consumed, so the buffer holds only the element being read (one join per batch).
        kept = self._buffer[self._position :]
        self._buffer = kept + "".join(pieces)
        self._position = self._counted = 0
        self._counted_line = first_line - kept.count("\n")
        return True

    def _more_lines(self) -> bool:
        """Read on until the pending text about doubles: an indented task spans many lines, and decoding is
        tried again only after each batch."""
        return self._more(at_least=max(len(self._buffer) - self._position, 4096))

    def line_at(self, position: int) -> int:
        if position >= self._counted:
            self._counted_line += self._buffer.count("\n", self._counted, position)
            self._counted = position
            return self._counted_line
        return self._counted_line - self._buffer.count("\n", position, self._counted)

    def line(self) -> int:
        return self.line_at(self._position)

    def next_significant(self) -> str:
        """The next non-whitespace character (not consumed); "" at the end of the file."""
        while True:
            self._position = _JSON_SPACE.match(self._buffer, self._position).end()
            if self._position < len(self._buffer):
                return self._buffer[self._position]
            if not self._more():
                return ""

    def take(self) -> None:
        self._position += 1

    def decode(self, task: int) -> object:
        decoder = json.JSONDecoder()
        while True:
            try:
                value, end = decoder.raw_decode(self._buffer, self._position)
            except RecursionError:
                raise ImportFileError(JSON_TOO_DEEP.format(limit=MAX_JSON_DEPTH), self.line()) from None
            except json.JSONDecodeError as err:
                # Cut off by the end of what is read so far (not a real error yet), or wrong where it stands?
                incomplete = err.pos >= len(self._buffer.rstrip()) or err.msg.startswith("Unterminated string")
                if incomplete and len(self._buffer) - self._position > MAX_TASK_CHARS:
                    raise ImportFileError(
                        LS_TASK_TOO_LARGE.format(task=task, limit=MAX_TASK_CHARS), self.line()
                    ) from None
                if incomplete and self._more_lines():
                    continue
                raise ImportFileError(LS_BAD_JSON.format(task=task, detail=err.msg), self.line_at(err.pos)) from None
            if end == len(self._buffer) and self._buffer[self._position] not in '{["' and self._more():
                continue  # a bare number could go on in the next line: read on to be sure it is complete
            self._position = end
            return value


def _iter_json_array(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, object]]:
    reader = _ArrayReader(lines)
    first = reader.next_significant()
    if first == "":
        return  # an empty file: "contains no items", as in every format
    if first != "[":
        raise ImportFileError(LS_NOT_AN_ARRAY.format(found=first or "nothing"), reader.line())
    reader.take()
    task = 0
    while True:
        char = reader.next_significant()
        if char == "]":
            reader.take()
            break
        if char == "":
            raise ImportFileError(LS_UNFINISHED, reader.line())
        if task:
            if char != ",":
                raise ImportFileError(LS_BAD_JSON.format(task=task + 1, detail="expected , or ]"), reader.line())
            reader.take()
            reader.next_significant()
        task += 1
        line = reader.line()
        value = reader.decode(task)
        if _json_depth(value) > MAX_JSON_DEPTH:
            raise ImportFileError(JSON_TOO_DEEP.format(limit=MAX_JSON_DEPTH), line)
        yield line, value
    if reader.next_significant():
        raise ImportFileError(LS_AFTER_ARRAY, reader.line())


def _record_from_task(task: object, line: int, number: int, text_key: str) -> Record:
    if not isinstance(task, dict):
        raise ImportFileError(LS_TASK_NOT_OBJECT.format(task=number, found=_describe_json_type(task)), line)
    data = task.get("data")
    if not isinstance(data, dict):
        raise ImportFileError(LS_NO_DATA.format(task=number), line)
    if text_key not in data:
        raise ImportFileError(LS_NO_TEXT.format(task=number, key=text_key, found=_quoted_list(data)), line)
    value = data[text_key]
    if not isinstance(value, str):
        found = _describe_json_type(value)
        raise ImportFileError(LS_TEXT_NOT_STRING.format(task=number, key=text_key, found=found), line)
    text = _clean_text(value, line)
    meta = {key: item for key, item in data.items() if key != text_key and key not in LS_DATA_KEYS_DROPPED}
    label_sets = _task_label_sets(task, line, number)
    labels: tuple[str, ...] = ()
    if len(set(label_sets)) == 1:
        labels = label_sets[0]
    elif label_sets:
        # Annotators disagreed: the item comes in unlabeled (for the queue) and keeps their answers as meta.
        meta[LS_DISAGREEMENT_META_KEY] = [list(label_set) for label_set in label_sets]
    _checked_meta(meta, line)
    return Record(line=line, text=text, labels=labels, meta=meta)


def _task_label_sets(task: dict, line: int, number: int) -> list[tuple[str, ...]]:
    """One label set per annotation that was not cancelled and chose something, in the file's order."""
    annotations = _expect_list(task.get("annotations", []), "annotations", line, number)
    label_sets = []
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise ImportFileError(_bad_field(number, "annotations[]", "an object", annotation), line)
        if annotation.get("was_cancelled"):
            continue
        labels: list[str] = []
        for result in _expect_list(annotation.get("result", []), "result", line, number):
            labels.extend(_result_labels(result, line, number))
        if labels:
            label_sets.append(tuple(sorted(_normalize_labels(labels, line))))
    return label_sets


def _result_labels(result: object, line: int, number: int) -> list[str]:
    """`choices` as written (our export's "Parent > Child" paths included); Label Studio's `taxonomy` tag writes
    each choice as the list of its path's parts. Other result types (spans, ratings, text areas) carry no label."""
    if not isinstance(result, dict):
        raise ImportFileError(_bad_field(number, "result[]", "an object", result), line)
    value = result.get("value")
    if not isinstance(value, dict):
        return []
    labels = []
    choices = value.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not all(isinstance(choice, str) for choice in choices):
            raise ImportFileError(_bad_field(number, "value.choices", "a list of strings", choices), line)
        labels.extend(choices)
    paths = value.get("taxonomy")
    if paths is not None:
        if not isinstance(paths, list) or not all(
            isinstance(path, list) and all(isinstance(part, str) for part in path) for path in paths
        ):
            raise ImportFileError(_bad_field(number, "value.taxonomy", "a list of lists of strings", paths), line)
        labels.extend(" > ".join(part.strip() for part in path) for path in paths if path)
    return labels


def _expect_list(value: object, field: str, line: int, number: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportFileError(_bad_field(number, field, "a list", value), line)
    return value


def _bad_field(number: int, field: str, expected: str, value: object) -> str:
    return LS_BAD_ANNOTATIONS.format(task=number, field=field, expected=expected, found=_describe_json_type(value))


# --- plain text -------------------------------------------------------------------------------------------------


def _parse_txt(lines: Iterator[tuple[int, str]], options: ImportOptions) -> Iterator[Record]:
    for line, text in lines:
        if text.strip():  # blank lines separate nothing in a txt file; they are simply skipped
            yield Record(line=line, text=_clean_text(text, line), labels=(), meta={})


_PARSERS: dict[str, Callable[[Iterator[tuple[int, str]], ImportOptions], Iterator[Record]]] = {
    "csv": _parse_csv,
    "tsv": _parse_tsv,
    "jsonl": _parse_jsonl,
    "label-studio": _parse_label_studio,
    "txt": _parse_txt,
}
