"""Import files in GBK / GB18030 / Big5 / UTF-8 with or without BOM: detected or chosen (no database)."""

from __future__ import annotations

import io
import random

import pytest

from annotator.importing import encodings
from annotator.importing.encodings import DETECTION_SAMPLE_BYTES, check_encoding, implausibility
from annotator.importing.parsers import ImportFileError, ImportOptions, iter_records

CHINESE_CSV = (
    "text,label\n这个价格太贵了，质量也一般。,负面\n"
    "物流很快，包装完好，推荐购买！,正面\n“双引号”和《书名号》、顿号,中性\n"
)
ROWS = [
    ("这个价格太贵了，质量也一般。", ("负面",)),
    ("物流很快，包装完好，推荐购买！", ("正面",)),
    ("“双引号”和《书名号》、顿号", ("中性",)),
]
# Characters GBK lacks and GB18030 encodes in four bytes: CJK extension A and B, and an emoji.
GB18030_ONLY = "㐀㒵 and 𠀀𠮷 and 😀 比较好"


def read(data: bytes, fmt: str = "csv", encoding: str = "auto") -> tuple[list, list[str]]:
    seen: list[str] = []
    records = list(iter_records(io.BytesIO(data), ImportOptions(encoding=encoding), fmt=fmt, on_encoding=seen.append))
    return records, seen


def error(data: bytes, fmt: str = "csv", encoding: str = "auto") -> ImportFileError:
    with pytest.raises(ImportFileError) as excinfo:
        read(data, fmt, encoding)
    return excinfo.value


@pytest.mark.parametrize("encoding", ["auto", "gb18030", "gbk"])
def test_a_gbk_csv_imports_detected_or_chosen(encoding):
    records, seen = read(CHINESE_CSV.encode("gbk"), encoding=encoding)
    assert [(r.text, r.labels) for r in records] == ROWS
    assert seen == ["gb18030"]


def test_gb18030_only_characters():
    with pytest.raises(UnicodeEncodeError):
        GB18030_ONLY.encode("gbk")
    data = f"text\n{GB18030_ONLY}\n第二行\n".encode("gb18030")
    for encoding in ("auto", "gb18030"):
        records, seen = read(data, encoding=encoding)
        assert [r.text for r in records] == [GB18030_ONLY, "第二行"]
        assert seen == ["gb18030"]


def test_a_gb18030_byte_order_mark_is_dropped():
    records, _ = read("\ufefftext\n中文内容\n".encode("gb18030"), encoding="gb18030")
    assert [r.text for r in records] == ["中文内容"]


@pytest.mark.parametrize("encoding", ["auto", "utf-8", "utf-8-sig"])
def test_utf8_with_a_bom(encoding):
    records, seen = read(CHINESE_CSV.encode("utf-8-sig"), encoding=encoding)
    assert [(r.text, r.labels) for r in records] == ROWS
    assert seen == ["utf-8"]


def test_utf8_without_a_bom_is_detected():
    records, seen = read(CHINESE_CSV.encode())
    assert [(r.text, r.labels) for r in records] == ROWS
    assert seen == ["utf-8"]


def test_an_ascii_file_is_read_as_utf8():
    records, seen = read(b"text\nhello\n")
    assert [r.text for r in records] == ["hello"]
    assert seen == ["utf-8"]


def test_gbk_after_many_ascii_lines_is_still_detected():
    """Detection waits for the first non-ASCII line: a file whose Chinese rows come late is not taken for UTF-8."""
    head = "".join(f"row {n}\n" for n in range(5000))
    records, seen = read(("text\n" + head + "最后一行是中文\n").encode("gbk"), fmt="txt")
    assert records[-1].text == "最后一行是中文" and len(records) == 5002
    assert seen == ["gb18030"]


def test_a_large_gbk_file_streams_past_the_detection_sample():
    lines = [f"第{n}条评论：价格便宜，质量不错" for n in range(20_000)]
    data = ("\n".join(["text", *lines]) + "\n").encode("gbk")
    assert len(data) > 10 * DETECTION_SAMPLE_BYTES
    records, seen = read(data)
    assert [r.text for r in records] == lines
    assert seen == ["gb18030"]


@pytest.mark.parametrize("fmt", ["tsv", "txt", "jsonl"])
def test_gbk_in_other_formats(fmt):
    body = {
        "tsv": "text\tlabel\n中文文本\t标签\n",
        "txt": "中文文本\n",
        "jsonl": '{"text": "中文文本", "label": "标签"}\n',
    }[fmt]
    records, seen = read(body.encode("gbk"), fmt=fmt)
    assert records[0].text == "中文文本"
    assert seen == ["gb18030"]


def test_big5_when_chosen():
    records, seen = read("text\n這個價格太貴了，臺灣\n".encode("big5"), encoding="big5")
    assert [r.text for r in records] == ["這個價格太貴了，臺灣"]
    assert seen == ["big5"]


# --- neither: an error naming the line and byte, and the encodings tried ----------------------------------------


def test_random_bytes_are_neither():
    rng = random.Random(0)
    data = b"text\nfine\n" + bytes(rng.randrange(128, 256) for _ in range(400)) + b"\n"
    err = error(data)
    assert err.line == 3
    assert "neither UTF-8 nor GB18030" in err.message
    assert "encodings tried: UTF-8, GB18030" in err.message
    assert "byte 1 of this line" in err.message and "byte 11 of the file" in err.message


def test_latin1_text_that_both_refuse():
    """ "café," : 0xE9 then a comma is invalid in UTF-8 and in GB18030 alike."""
    data = "text,label\nhello,a\ncafé,b\n".encode("latin-1")
    err = error(data)
    assert err.line == 3
    assert "0xe9" in err.message
    assert "as GB18030 byte 4 of line 3 (0xe9) is not valid either" in err.message


def test_latin1_text_that_gb18030_reads_is_judged_implausible():
    """Accents before letters are valid GBK pairs ("naïve" reads as "na" + an ideograph + "e"), but lone ideographs
    between Latin letters are not Chinese text."""
    data = "text\nUne idée naïve\nLa crème brûlée était très bonne\n".encode("latin-1")
    err = error(data)
    assert err.line == 2
    assert "not plausibly Chinese" in err.message


def test_implausibility():
    assert implausibility("我买了iPhone手机，感觉不错") is None
    assert implausibility("plain ascii") is None
    assert implausibility("na\u9862ve cr\u8c8ee") == encodings.WHY_LONE_CHARACTERS
    assert "U+E000" in implausibility("中文\ue000")


# --- a wrong choice ---------------------------------------------------------------------------------------------


def test_utf8_chosen_for_a_gbk_file():
    err = error(CHINESE_CSV.encode("gbk"), encoding="utf-8")
    assert err.line == 2
    assert "is not valid UTF-8" in err.message
    assert "reads as GB18030 (GBK): choose that encoding" in err.message


def test_gb18030_chosen_for_a_utf8_file():
    err = error(CHINESE_CSV.encode("utf-8"), encoding="gb18030")
    assert "GB18030 (GBK) was chosen, but the file is UTF-8 text" in err.message


def test_gb18030_chosen_for_a_utf8_file_with_a_bom():
    err = error(CHINESE_CSV.encode("utf-8-sig"), encoding="gb18030")
    assert "byte-order mark" in err.message


def test_big5_chosen_for_a_utf8_file():
    assert "Big5 was chosen" in error(CHINESE_CSV.encode(), encoding="big5").message


def test_unknown_encoding_is_refused_before_reading():
    with pytest.raises(ImportFileError, match='unknown encoding "klingon"'):
        iter_records(io.BytesIO(b"text\nx\n"), ImportOptions(encoding="klingon"), fmt="csv")


def test_a_bad_byte_late_in_a_detected_gbk_file_names_its_line():
    rows = 2 * DETECTION_SAMPLE_BYTES // 10  # past the sample that decided the encoding
    data = ("text\n" + "中文内容\n" * rows).encode("gbk") + b"ok\nbad \x80 byte\n"
    err = error(data, fmt="txt")
    assert err.line == rows + 3
    assert "not valid GB18030 (GBK) (the encoding detected from the start of the file)" in err.message


def test_check_encoding_aliases():
    assert [check_encoding(v) for v in ("", None, "GBK", "utf_8", "UTF-8-SIG", "cp950")] == [
        "auto",
        "auto",
        "gb18030",
        "utf-8",
        "utf-8",
        "big5",
    ]


def test_a_small_file_with_one_byte_gb18030_refuses_is_neither():
    err = error("text\n中文\n".encode("gbk") + b"ok\nbad \x80 byte\n")
    assert err.line == 2
    assert "as GB18030 byte 5 of line 4 (0x80) is not valid either" in err.message
