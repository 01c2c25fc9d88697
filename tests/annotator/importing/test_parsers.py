"""Tests for the streaming import parsers (pure Python, no database)."""

from __future__ import annotations

import io
import json
import pickle

import pytest

from annotator.importing.parsers import (
    SUPPORTED_FORMATS,
    ImportFileError,
    ImportOptions,
    Record,
    detect_format,
    iter_records,
)


def parse(data: bytes | str, fmt: str, **options) -> list[Record]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return list(iter_records(io.BytesIO(raw), ImportOptions(**options), fmt=fmt))


def parse_error(data: bytes | str, fmt: str, **options) -> ImportFileError:
    with pytest.raises(ImportFileError) as excinfo:
        parse(data, fmt, **options)
    return excinfo.value


class ChunkyStream(io.RawIOBase):
    """A binary stream that returns at most `step` bytes per read, like a socket or an upload does."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, self._step) if size > 0 else self._step)


# --- ImportFileError --------------------------------------------------------------------------------------------


def test_error_message_names_the_line():
    err = ImportFileError("invalid JSON: Expecting ',' delimiter (column 14)", line=812)
    assert str(err) == "Line 812: invalid JSON: Expecting ',' delimiter (column 14)."
    assert (err.line, err.message) == (812, "invalid JSON: Expecting ',' delimiter (column 14)")


def test_error_without_line_is_just_the_message():
    err = ImportFileError("the file contains no items")
    assert str(err) == "the file contains no items"
    assert err.line is None


def test_error_survives_pickling():
    err = pickle.loads(pickle.dumps(ImportFileError("empty text", line=3)))
    assert (err.message, err.line, str(err)) == ("empty text", 3, "Line 3: empty text.")


# --- detect_format ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("data.csv", "csv"),
        ("DATA.CSV", "csv"),
        ("data.tsv", "tsv"),
        ("data.tab", "tsv"),
        ("data.jsonl", "jsonl"),
        ("data.ndjson", "jsonl"),
        ("data.json", "jsonl"),
        ("notes.txt", "txt"),
        ("some/dir/archive.2024.csv", "csv"),
    ],
)
def test_detect_format_by_extension(filename, expected):
    assert detect_format(filename) == expected


def test_detect_format_unknown_extension_lists_supported_ones():
    with pytest.raises(ImportFileError) as excinfo:
        detect_format("data.xlsx")
    message = str(excinfo.value)
    assert excinfo.value.line is None
    assert all(fmt in message for fmt in SUPPORTED_FORMATS)
    assert ".ndjson" in message


def test_detect_format_explicit_request_wins_over_extension():
    assert detect_format("data.txt", "csv") == "csv"
    assert detect_format("no-extension", "jsonl") == "jsonl"


def test_detect_format_rejects_unknown_requested_format():
    with pytest.raises(ImportFileError) as excinfo:
        detect_format("data.csv", "xml")
    assert "xml" in str(excinfo.value)
    assert all(fmt in str(excinfo.value) for fmt in SUPPORTED_FORMATS)


def test_iter_records_rejects_unconcrete_format_eagerly():
    with pytest.raises(ValueError, match="auto"):
        iter_records(io.BytesIO(b"x"), ImportOptions(), fmt="auto")


# --- CSV --------------------------------------------------------------------------------------------------------


def test_csv_happy_path_with_quoted_multiline_text():
    data = (
        "text,label,source\n"
        "plain text,Sport > Football,web\n"
        '"first line\nsecond, with comma\nthird ""quoted""",a|b| |a,mail\n'
        "after multiline,,\n"
    )
    records = parse(data, "csv")
    assert records == [
        Record(line=2, text="plain text", labels=("Sport > Football",), meta={"source": "web"}),
        Record(
            line=3, text='first line\nsecond, with comma\nthird "quoted"', labels=("a", "b"), meta={"source": "mail"}
        ),
        Record(line=6, text="after multiline", labels=(), meta={"source": ""}),
    ]


def test_csv_crlf_line_endings_and_surrounding_whitespace():
    records = parse('text,labels\r\n  padded  ,x\r\n"two\r\nlines",y\r\nlast,z', "csv")
    assert [(r.line, r.text, r.labels) for r in records] == [
        (2, "padded", ("x",)),
        (3, "two\r\nlines", ("y",)),
        (5, "last", ("z",)),
    ]


def test_csv_without_label_column_has_no_labels_and_keeps_other_columns_as_meta():
    records = parse("id,text,lang\n7,hello,en\n", "csv")
    assert records == [Record(line=2, text="hello", labels=(), meta={"id": "7", "lang": "en"})]


def test_csv_explicit_columns_and_delimiter():
    data = "body,tags,lang,author\nhello,x;y,en,bob\n"
    records = parse(data, "csv", text_column="body", label_column="tags", meta_columns=["author"], label_delimiter=";")
    assert records == [Record(line=2, text="hello", labels=("x", "y"), meta={"author": "bob"})]


def test_csv_empty_meta_columns_means_no_meta():
    assert parse("text,label,lang\nhi,a,en\n", "csv", meta_columns=[])[0].meta == {}


def test_csv_empty_label_column_option_means_no_labels():
    record = parse("text,label\nhi,a\n", "csv", label_column="")[0]
    assert record.labels == ()
    assert record.meta == {"label": "a"}


def test_csv_skips_blank_and_all_empty_rows():
    records = parse("text,label\n\nfirst,a\n,\n\nsecond,b\n\n", "csv")
    assert [(r.line, r.text) for r in records] == [(3, "first"), (6, "second")]


def test_csv_with_utf8_bom():
    records = parse("\ufefftext,label\nÜber café,ä\n".encode(), "csv")
    assert records == [Record(line=2, text="Über café", labels=("ä",), meta={})]


def test_csv_missing_text_column_lists_the_columns_found():
    err = parse_error("body,label\nhello,a\n", "csv")
    assert err.line == 1
    assert '"text"' in err.message
    assert '"body", "label"' in err.message


def test_csv_missing_explicit_label_column():
    err = parse_error("text,label\nhello,a\n", "csv", label_column="category")
    assert err.line == 1
    assert '"category"' in err.message and '"text", "label"' in err.message


def test_csv_missing_meta_column():
    err = parse_error("text,label\nhello,a\n", "csv", meta_columns=["lang"])
    assert err.line == 1
    assert '"lang"' in err.message and '"text", "label"' in err.message


def test_csv_ambiguous_default_label_column():
    err = parse_error("text,label,labels\nhello,a,b\n", "csv")
    assert err.line == 1
    assert '"label"' in err.message and '"labels"' in err.message


def test_csv_duplicate_column_names():
    assert parse_error("text,text\na,b\n", "csv").line == 1


def test_csv_row_with_too_many_fields():
    err = parse_error('text,label\nok,a\n"multi\nline",b\nnot quoted, oops,c\n', "csv")
    assert err.line == 5
    assert "3 fields" in err.message and "header has 2" in err.message


def test_csv_row_with_too_few_fields():
    err = parse_error("text,label,lang\nok,a,en\nshort,a\n", "csv")
    assert err.line == 3
    assert "2 fields" in err.message


def test_csv_empty_text():
    err = parse_error("text,label\nok,a\n   ,b\n", "csv")
    assert (err.line, err.message) == (3, "empty text")


def test_csv_unclosed_quote_names_the_line_it_starts_on():
    err = parse_error('text,label\nok,a\n"never closed,b\nmore,c\n', "csv")
    assert err.line == 3
    assert "never closed" in err.message


def test_csv_undecodable_bytes_name_their_line():
    data = b"text,label\n" + b"".join(b"row %d,a\n" % n for n in range(2, 50)) + b"caf\xe9,a\nfine,b\n"
    err = parse_error(data, "csv")
    assert err.line == 50
    assert "UTF-8" in str(err)


def test_csv_undecodable_bytes_inside_multiline_field():
    err = parse_error(b'text,label\n"one\ntwo \xff\nthree",a\n', "csv")
    assert err.line == 3


def test_csv_nul_byte():
    assert parse_error(b"text\nok\nbad\x00text\n", "csv").line == 3


def test_csv_header_only_has_no_items():
    err = parse_error("text,label\n", "csv")
    assert (str(err), err.line) == ("the file contains no items", None)


def test_empty_file_has_no_items():
    for fmt in SUPPORTED_FORMATS:
        err = parse_error(b"", fmt)
        assert (err.message, err.line) == ("the file contains no items", None)


def test_utf16_file_is_rejected_with_a_hint():
    err = parse_error("text\nhello\n".encode("utf-16"), "csv")
    assert "UTF-16" in err.message


# --- TSV --------------------------------------------------------------------------------------------------------


def test_tsv_happy_path():
    data = 'text\tlabel\tlang\nsay "hi", friend\tgreeting\ten\n"tab\tinside"\ta|b\tde\n'
    assert parse(data, "tsv") == [
        Record(line=2, text='say "hi", friend', labels=("greeting",), meta={"lang": "en"}),
        Record(line=3, text="tab\tinside", labels=("a", "b"), meta={"lang": "de"}),
    ]


def test_tsv_ragged_row():
    assert parse_error("text\tlabel\nok\ta\nextra\ta\tz\n", "tsv").line == 3


# --- JSON Lines -------------------------------------------------------------------------------------------------


def test_jsonl_happy_path_with_label_labels_and_meta():
    lines = [
        {"text": "  single  ", "label": "Sport > Football", "source": "web"},
        {"text": "multi", "labels": ["a", "b", "a", " "], "score": 0.5, "tags": {"x": 1}},
        {"text": "one as string", "labels": "c"},
        {"text": "unlabeled", "label": None},
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines[:2]) + "\n\n   \n"
    data += "\n".join(json.dumps(line) for line in lines[2:])
    assert parse(data, "jsonl") == [
        Record(line=1, text="single", labels=("Sport > Football",), meta={"source": "web"}),
        Record(line=2, text="multi", labels=("a", "b"), meta={"score": 0.5, "tags": {"x": 1}}),
        Record(line=5, text="one as string", labels=("c",), meta={}),
        Record(line=6, text="unlabeled", labels=(), meta={}),
    ]


def test_jsonl_label_and_labels_together_are_merged():
    record = parse('{"text": "t", "label": "a", "labels": ["a", "b"]}', "jsonl")[0]
    assert record.labels == ("a", "b")


def test_jsonl_custom_text_key_and_bom():
    record = parse('\ufeff{"body": "hi", "text": "kept as meta"}\n'.encode(), "jsonl", text_column="body")[0]
    assert (record.line, record.text, record.meta) == (1, "hi", {"text": "kept as meta"})


def test_jsonl_invalid_json_on_line_812_of_1000():
    lines = [json.dumps({"text": f"item {n}"}) for n in range(1, 1001)]
    lines[811] = '{"text": "x" "label": "a"}'
    err = parse_error("\n".join(lines) + "\n", "jsonl")
    assert err.line == 812
    assert str(err) == "Line 812: invalid JSON: Expecting ',' delimiter (column 14)."


def test_jsonl_records_before_the_error_are_yielded_first():
    stream = io.BytesIO(b'{"text": "good"}\n{bad\n')
    records = iter_records(stream, ImportOptions(), fmt="jsonl")
    assert next(records).text == "good"
    with pytest.raises(ImportFileError):
        next(records)


def test_jsonl_array_instead_of_lines_gets_a_hint():
    err = parse_error('[{"text": "a"}, {"text": "b"}]\n', "jsonl")
    assert err.line == 1
    assert "array" in err.message and "one object per line" in err.message


@pytest.mark.parametrize(
    ("line", "expected_in_message"),
    [
        ('"just a string"', "JSON object"),
        ('{"body": "no text key"}', '"text" key is missing'),
        ('{"text": 42}', '"text" must be a string'),
        ('{"text": null}', '"text" must be a string'),
        ('{"text": "t", "label": 3}', '"label" must be a string or a list of strings'),
        ('{"text": "t", "labels": ["a", 1]}', '"labels" must be a string or a list of strings'),
        ('{"text": "t", "labels": {"a": 1}}', '"labels" must be a string or a list of strings'),
        ('{"text": "   "}', "empty text"),
        ('{"text": "nul \\u0000 escaped"}', "NUL"),
    ],
)
def test_jsonl_bad_lines_name_their_line(line, expected_in_message):
    err = parse_error('{"text": "ok"}\n\n' + line + "\n", "jsonl")
    assert err.line == 3
    assert expected_in_message in err.message


def test_jsonl_missing_text_key_lists_the_keys_found():
    err = parse_error('{"body": "x", "label": "a"}\n', "jsonl")
    assert '"body", "label"' in err.message


def test_jsonl_undecodable_bytes_name_their_line():
    data = b"".join(b'{"text": "item %d"}\n' % n for n in range(1, 300))
    data += b'{"text": "bad \xc3\x28 sequence"}\n{"text": "fine"}\n'
    err = parse_error(data, "jsonl")
    assert err.line == 300
    assert "UTF-8" in err.message


def test_jsonl_only_blank_lines_has_no_items():
    assert parse_error("\n  \n\n", "jsonl").message == "the file contains no items"


# --- plain text -------------------------------------------------------------------------------------------------


def test_txt_one_item_per_non_blank_line():
    records = parse("\ufefffirst\n\n  second  \r\n\t\nthird", "txt")
    assert records == [
        Record(line=1, text="first", labels=(), meta={}),
        Record(line=3, text="second", labels=(), meta={}),
        Record(line=5, text="third", labels=(), meta={}),
    ]


def test_txt_undecodable_bytes_and_nul():
    assert parse_error(b"ok\nok\n\x80bad\n", "txt").line == 3
    assert parse_error(b"ok\nbad\x00\n", "txt").line == 2


def test_txt_blank_file_has_no_items():
    assert parse_error("\n\n", "txt").message == "the file contains no items"


# --- streaming --------------------------------------------------------------------------------------------------


def test_progress_is_reported_with_increasing_byte_counts_on_a_multi_megabyte_file():
    line = json.dumps({"text": "x" * 90, "label": "a"}).encode() + b"\n"
    data = line * (3 * 1024 * 1024 // len(line) + 1)  # a little over 3 MiB
    progress: list[int] = []
    stream = io.BytesIO(data)
    count = sum(1 for _ in iter_records(stream, ImportOptions(), fmt="jsonl", on_progress=progress.append))
    assert count == data.count(b"\n")
    assert len(progress) >= 3
    assert progress == sorted(set(progress))  # strictly increasing
    assert progress[-1] == len(data)


def test_progress_is_reported_while_iterating_not_only_at_the_end():
    line = b"some line of text\n"
    data = line * (2 * 1024 * 1024 // len(line))
    progress: list[int] = []
    records = iter_records(io.BytesIO(data), ImportOptions(), fmt="txt", on_progress=progress.append)
    for index, _ in enumerate(records):
        if index == len(data) // len(line) - 10:
            assert progress and progress[-1] < len(data)


def test_reads_in_chunks_never_the_whole_file():
    reads: list[int] = []

    class RecordingStream(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    data = b"text\n" + b"hello world\n" * 200_000
    assert sum(1 for _ in iter_records(RecordingStream(data), ImportOptions(), fmt="csv")) == 200_000
    assert reads and all(0 < size <= 1 << 20 for size in reads)


def test_lines_split_across_small_reads_and_multibyte_characters():
    text = "".join(f'{{"text": "é{n} 日本語", "labels": ["ü"]}}\n' for n in range(50))
    records = list(iter_records(ChunkyStream(text.encode(), step=7), ImportOptions(), fmt="jsonl"))
    assert [r.text for r in records] == [f"é{n} 日本語" for n in range(50)]
    assert records[-1].line == 50


def test_bom_split_across_reads():
    records = list(iter_records(ChunkyStream("\ufefftext\nhi\n".encode(), step=1), ImportOptions(), fmt="csv"))
    assert records == [Record(line=2, text="hi", labels=(), meta={})]
