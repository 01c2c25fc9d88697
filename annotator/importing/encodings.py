"""Text encodings of import files: UTF-8 and the Chinese legacy encodings Excel and older tools still write.

Excel on Simplified-Chinese Windows saves "CSV" as GBK (code page 936); GB18030 is its superset (it covers every
Unicode character, and GBK and GB2312 are subsets), so one codec reads all three. Traditional-Chinese Windows writes
Big5 (code page 950). Latin-1 is offered on purpose neither as a choice nor in detection: every byte sequence is
valid Latin-1, so it can never report a wrong guess and would import any GBK file as silent mojibake.

Detection (`auto`) decides on the first stretch of lines with non-ASCII bytes (ASCII reads the same in every
encoding here, so the lines before it go out at once and a large file is still streamed): strict UTF-8 first (a
legacy file is almost never valid UTF-8 beyond a few characters), then strict GB18030, accepted only if the text it
gives is plausible Chinese. Lines are split on b"\\n" before decoding, which is safe for all three codecs: none uses
that byte inside a multi-byte character.

No Django here, as in the parsers.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator

AUTO = "auto"
UTF8 = "utf-8"
GB18030 = "gb18030"
BIG5 = "big5"
# value -> what a person reads; the import page and the API offer these.
ENCODINGS: dict[str, str] = {
    AUTO: "Detect (UTF-8, or GB18030/GBK for Chinese files)",
    UTF8: "UTF-8 (with or without BOM)",
    GB18030: "GB18030 / GBK / GB2312 (Simplified Chinese)",
    BIG5: "Big5 (Traditional Chinese)",
}
# Other names people and tools use for the same choices.
ENCODING_ALIASES: dict[str, str] = {
    "utf8": UTF8,
    "utf-8-sig": UTF8,  # the BOM is always accepted (and dropped) in UTF-8 mode
    "gbk": GB18030,
    "gb2312": GB18030,
    "cp936": GB18030,
    "cp950": BIG5,
}
_CODECS = {UTF8: "utf-8", GB18030: "gb18030", BIG5: "cp950"}  # cp950: Big5 as Windows writes it
_DETECTION_ORDER = (UTF8, GB18030)
_NAMES = {UTF8: "UTF-8", GB18030: "GB18030 (GBK)", BIG5: "Big5"}

# How much of the file's non-ASCII part decides the encoding: enough text to judge, small enough to hold in memory.
DETECTION_SAMPLE_BYTES = 64 * 1024
# A GB18030 reading is plausible when this share of its non-ASCII characters stand next to another one: Chinese is
# written in runs of characters, whereas Latin-1 accents read as GBK give lone ideographs ("naïve" -> "na" + 1 + "e").
MIN_RUN_SHARE = 0.6
# Control characters, private-use code points (GB18030's user-defined areas) and unassigned ones: never real text.
_IMPLAUSIBLE_CATEGORIES = frozenset({"Cc", "Co", "Cn", "Cs"})

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# Messages (ImportFileError text, shown to the user with the line number in front).
UNKNOWN_ENCODING = 'unknown encoding "{value}"; choose one of: {choices}'
UTF16_FILE = "the file is UTF-16 encoded; save it as UTF-8 and import it again"
BAD_BYTE = (
    "byte {column:,} of this line (0x{byte:02x}, byte {offset:,} of the file) is not valid {encoding}{detected}; {hint}"
)
DETECTED_SUFFIX = " (the encoding detected from the start of the file)"
HINT_SAVE_AS_UTF8 = "save the file as UTF-8, or choose its encoding, and import it again"
HINT_OTHER_ENCODING = "this line reads as {other}: choose that encoding (or Detect) and import it again"
NOT_DETECTED = (
    "the file is neither UTF-8 nor GB18030 (GBK) text: byte {column:,} of this line (0x{byte:02x}, byte {offset:,} "
    "of the file) is not valid UTF-8, and {gb18030_problem}; encodings tried: UTF-8, GB18030. Save the file as "
    "UTF-8, or choose its encoding, and import it again"
)
GB18030_FAILS_AT = "as GB18030 byte {column:,} of line {line:,} (0x{byte:02x}) is not valid either"
GB18030_IMPLAUSIBLE = "read as GB18030 it gives text that is not plausibly Chinese ({why})"
WHY_ODD_CHARACTERS = "control or private-use characters such as U+{code:04X}"
WHY_LONE_CHARACTERS = "mostly lone characters between Latin letters, as Latin-1 accents become"
CHOSEN_BUT_UTF8 = (
    "{encoding} was chosen, but the file is UTF-8 text (it decodes as UTF-8 without an error, which {encoding} "
    "text practically never does); choose UTF-8 or Detect and import it again"
)
CHOSEN_BUT_UTF8_BOM = (
    "{encoding} was chosen, but the file starts with a UTF-8 byte-order mark; choose UTF-8 or Detect and import it "
    "again"
)
NUL_BYTE = "the line contains a NUL byte; is this a binary file rather than text?"


class EncodingError(ValueError):
    """A byte sequence the chosen or detected encoding cannot read, with the line it is on (None: the choice)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, line)
        self.message = message
        self.line = line


def check_encoding(value: str | None) -> str:
    """The encoding choice `value` stands for ("" and None mean auto; aliases such as gbk are accepted)."""
    name = (value or AUTO).strip().lower().replace("_", "-")
    name = ENCODING_ALIASES.get(name, name)
    if name not in ENCODINGS:
        choices = ", ".join([*ENCODINGS, *ENCODING_ALIASES])
        raise EncodingError(UNKNOWN_ENCODING.format(value=(value or "")[:40], choices=choices))
    return name


RawLine = tuple[int, int, bytes]  # (line number, byte offset of the line in the file, the line's bytes)


def decode_lines(
    raw_lines: Iterable[RawLine], encoding: str = AUTO, on_encoding: Callable[[str], None] | None = None
) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each raw line, in `encoding` or, for "auto", the one detected.

    Raises EncodingError naming the line and byte that cannot be read. `on_encoding(name)` is called once the
    encoding is settled (for an all-ASCII file in auto mode, "utf-8" at the end).
    """
    requested = check_encoding(encoding)
    decided = None if requested in (AUTO, GB18030, BIG5) else requested  # legacy choices are checked on a sample
    pending: list[RawLine] = []
    pending_bytes = 0
    for line, offset, raw in raw_lines:
        if line == 1:
            raw, decided = _first_line(raw, requested, decided)
        if decided is None and not pending and raw.isascii():
            yield line, _checked_text(raw.decode("ascii"), line)  # the same in every encoding: no need to wait
            continue
        if decided is None:
            pending.append((line, offset, raw))
            pending_bytes += len(raw)
            if pending_bytes < DETECTION_SAMPLE_BYTES:
                continue
            decided = _settle(pending, requested)
            yield from _decode_all(pending, decided, requested)
            pending = []
            continue
        yield line, _decode(raw, line, offset, decided, requested)
    if decided is None:
        decided = _settle(pending, requested) if pending else (UTF8 if requested == AUTO else requested)
        yield from _decode_all(pending, decided, requested)
    if on_encoding is not None:
        on_encoding(decided)


def _first_line(raw: bytes, requested: str, decided: str | None) -> tuple[bytes, str | None]:
    if raw.startswith(_UTF16_BOMS):
        raise EncodingError(UTF16_FILE, 1)
    if not raw.startswith(_UTF8_BOM):
        return raw, decided
    if requested in (GB18030, BIG5):
        raise EncodingError(CHOSEN_BUT_UTF8_BOM.format(encoding=_NAMES[requested]))
    return raw.removeprefix(_UTF8_BOM), UTF8


def _settle(sample: list[RawLine], requested: str) -> str:
    """The encoding of a file whose first non-ASCII lines are `sample`: the choice, checked, or the one detected."""
    utf8_failure = _first_failure(sample, UTF8)
    if requested != AUTO:
        if utf8_failure is None:  # a legacy choice that would turn UTF-8 text into mojibake without any error
            raise EncodingError(CHOSEN_BUT_UTF8.format(encoding=_NAMES[requested]))
        return requested
    if utf8_failure is None:
        return UTF8
    gb18030_problem = _gb18030_problem(sample)
    if gb18030_problem is None:
        return GB18030
    line, offset, raw, position = utf8_failure
    message = NOT_DETECTED.format(
        column=position + 1, byte=raw[position], offset=offset + position + 1, gb18030_problem=gb18030_problem
    )
    raise EncodingError(message, line)


def _first_failure(sample: list[RawLine], encoding: str) -> tuple[int, int, bytes, int] | None:
    """(line, offset, raw, position in the line) of the first byte `encoding` cannot read; None if all read."""
    for line, offset, raw in sample:
        try:
            raw.decode(_CODECS[encoding])
        except UnicodeDecodeError as err:
            return line, offset, raw, err.start
    return None


def _gb18030_problem(sample: list[RawLine]) -> str | None:
    """Why the sample is not GB18030 text, or None when it reads as plausible Chinese."""
    failure = _first_failure(sample, GB18030)
    if failure is not None:
        line, _, raw, position = failure
        return GB18030_FAILS_AT.format(column=position + 1, line=line, byte=raw[position])
    why = implausibility(b"".join(raw for _, _, raw in sample).decode(_CODECS[GB18030]))
    return None if why is None else GB18030_IMPLAUSIBLE.format(why=why)


def implausibility(text: str) -> str | None:
    """Why `text` (decoded from a legacy encoding) does not look like real Chinese text, or None if it does."""
    non_ascii = [position for position, char in enumerate(text) if ord(char) > 127]
    for position in non_ascii:
        if unicodedata.category(text[position]) in _IMPLAUSIBLE_CATEGORIES:
            return WHY_ODD_CHARACTERS.format(code=ord(text[position]))
    if not non_ascii:
        return None
    in_runs = sum(
        1
        for position in non_ascii
        if (position > 0 and ord(text[position - 1]) > 127)
        or (position + 1 < len(text) and ord(text[position + 1]) > 127)
    )
    return None if in_runs >= MIN_RUN_SHARE * len(non_ascii) else WHY_LONE_CHARACTERS


def _decode_all(sample: list[RawLine], encoding: str, requested: str) -> Iterator[tuple[int, str]]:
    for line, offset, raw in sample:
        yield line, _decode(raw, line, offset, encoding, requested)


def _decode(raw: bytes, line: int, offset: int, encoding: str, requested: str) -> str:
    try:
        text = raw.decode(_CODECS[encoding])
    except UnicodeDecodeError as err:
        raise EncodingError(_bad_byte_message(raw, err.start, offset, encoding, requested), line) from None
    if line == 1:
        text = text.removeprefix("\ufeff")  # GB18030 has a byte-order mark too (84 31 95 33)
    return _checked_text(text, line)


def _bad_byte_message(raw: bytes, position: int, offset: int, encoding: str, requested: str) -> str:
    other = next((name for name in (UTF8, GB18030) if name != encoding and _reads_as(raw, name)), None)
    hint = HINT_OTHER_ENCODING.format(other=_NAMES[other]) if other else HINT_SAVE_AS_UTF8
    return BAD_BYTE.format(
        column=position + 1,
        byte=raw[position],
        offset=offset + position + 1,
        encoding=_NAMES[encoding],
        detected=DETECTED_SUFFIX if requested == AUTO else "",
        hint=hint,
    )


def _reads_as(raw: bytes, encoding: str) -> bool:
    try:
        text = raw.decode(_CODECS[encoding])
    except UnicodeDecodeError:
        return False
    return encoding == UTF8 or implausibility(text) is None


def _checked_text(text: str, line: int) -> str:
    if "\x00" in text:
        raise EncodingError(NUL_BYTE, line)
    return text
