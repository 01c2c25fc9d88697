"""Keyword and regex labeling functions: rules that domain experts write to seed candidate labels and
to blacklist items.

Users type arbitrary patterns and the preview runs inside a web request, so every rule is compiled
with the third-party `regex` module, whose matching can be stopped by a timeout: a pattern that
backtracks catastrophically becomes a `RuleError` with a message for humans instead of a hung worker.
Patterns whose counted repeats would make the compiled program huge (`x{99999999}` exhausts memory
inside `regex.compile` itself, before any timeout can help) are refused before compiling.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

import numpy as np
import regex

from mlcore.languages import CHINESE, MULTILINGUAL, normalize_language

MAX_PATTERN_LENGTH = 2_000
# Elements the compiled program may hold after counted repeats are expanded; ~100k keeps compiling
# under ~0.1 s and ~30 MB, far above any pattern a person writes to find phrases.
MAX_EXPANDED_PATTERN_SIZE = 100_000
DEFAULT_PER_TEXT_TIMEOUT = 0.05
DEFAULT_BUDGET_SECONDS = 2.0
DEFAULT_SPAN_LIMIT = 20

# Messages shown to the person who wrote the rule (RuleError).
EMPTY_PATTERN = "The pattern is empty: enter at least one keyword or a regular expression."
PATTERN_TOO_LONG = "The pattern is {length:,} characters long; the limit is {limit:,}."
INVALID_REGEX = "Invalid regular expression: {message} at position {position}."
INVALID_REGEX_WITHOUT_POSITION = "Invalid regular expression: {message}."
PATTERN_TOO_DEEPLY_NESTED = "The regular expression nests its groups too deeply; simplify it."
REPEATS_TOO_LARGE = (
    "The pattern's repeat counts are too large (about {size:,} elements once expanded; the limit is {limit:,}); "
    "use smaller counts, or + and *."
)
MATCHES_EMPTY_STRING = (
    "The pattern can match an empty string, so it would match every item; make it require at least one character."
)
TOO_SLOW_ON_ITEM = "The pattern takes too long on item #{index} (catastrophic backtracking?); simplify it."
TOO_SLOW_ON_TEXT = "The pattern takes too long on this text (catastrophic backtracking?); simplify it."
BUDGET_EXCEEDED = (
    "Matching took longer than the {budget:g} s budget (stopped after {done:,} of {total:,} items); "
    "simplify the pattern or match fewer items."
)

# Messages for programming errors (ValueError / TypeError): the caller passed the wrong thing.
NOT_A_POSITIVE_NUMBER = "{name} must be a positive number of seconds, got {value!r}"
NOT_A_NON_NEGATIVE_INT = "{name} must be a non-negative integer, got {value!r}"
NOT_A_MASK = "{name} must be a 1-D boolean array, got dtype {dtype} with shape {shape}"
LENGTH_MISMATCH = "{name} has {actual} entries but there are {expected} items"
EXCLUDE_NOT_MASK_OR_INDICES = "exclude must be a boolean mask or an array of item indices, got dtype {dtype}"
EXCLUDE_INDEX_OUT_OF_RANGE = "exclude holds indices outside 0..{last}"
PATTERN_NOT_A_STRING = "RuleSpec.pattern must be a str, got {type_name}"
TEXT_NOT_A_STRING = "item #{index} is a {type_name}, not a str"


class RuleError(ValueError):
    """A rule that cannot be compiled or run; the message is meant for the person who wrote it.

    `item_index` names the item (position in the texts) on which matching timed out, when that is the cause.
    """

    def __init__(self, message: str, *, item_index: int | None = None) -> None:
        super().__init__(message)
        self.item_index = item_index


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """What the user typed.

    `pattern`: keywords, one per line or comma-separated ("refund, money back"), or a regular expression.
    `whole_word` applies to keywords only; for regexes write `\\b` yourself.
    """

    pattern: str
    is_regex: bool = False
    case_sensitive: bool = False
    whole_word: bool = True


# --- keywords -------------------------------------------------------------------------------------------

# Full-width comma and the enumeration comma too: that is how Chinese and Japanese users type lists.
_KEYWORD_SEPARATORS = regex.compile("[,\n\r\uff0c\u3001]")
# Scripts written without spaces between words (Korean attaches particles to nouns: 서울에서): there a
# "whole word" is unknowable without a segmenter, so a keyword end made of these characters matches as
# a substring.
_UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}"
# A word character of a spaced script (Latin, Cyrillic, digits...): the kind of neighbour that would make
# a match part of a longer word ("cat" in "category"). A CJK neighbour does not: "我买了iPhone手机".
_SPACED_WORD_CHAR_CLASS = rf"[^\W{_UNSPACED_SCRIPTS}]"
_SPACED_WORD_CHAR = regex.compile(_SPACED_WORD_CHAR_CLASS)
_NO_SPACED_WORD_BEFORE = rf"(?<!{_SPACED_WORD_CHAR_CLASS})"
_NO_SPACED_WORD_AFTER = rf"(?!{_SPACED_WORD_CHAR_CLASS})"


def parse_keywords(pattern: str) -> tuple[str, ...]:
    """The keywords of a keyword pattern, in the order typed: split on commas and newlines, whitespace
    inside a keyword collapsed to one space, blanks and duplicates dropped."""
    keywords = (" ".join(part.split()) for part in _KEYWORD_SEPARATORS.split(pattern))
    return tuple(dict.fromkeys(keyword for keyword in keywords if keyword))


def _keyword_regex_source(keywords: Sequence[str], *, whole_word: bool) -> str:
    # Longest first: the leftmost alternative wins, and "money back" must beat "money" for highlighting.
    by_length = sorted(keywords, key=len, reverse=True)
    return "(?:" + "|".join(_keyword_alternative(keyword, whole_word=whole_word) for keyword in by_length) + ")"


def _keyword_alternative(keyword: str, *, whole_word: bool) -> str:
    # Any run of whitespace between the words: texts wrap lines and double their spaces.
    body = r"\s+".join(regex.escape(word) for word in keyword.split(" "))
    if not whole_word:
        return body
    # A boundary only where the keyword itself ends in a spaced-script word character: "C++" must still
    # match before a space, and "股市" must match inside "今天股市大涨".
    before = _NO_SPACED_WORD_BEFORE if _SPACED_WORD_CHAR.fullmatch(keyword[0]) else ""
    after = _NO_SPACED_WORD_AFTER if _SPACED_WORD_CHAR.fullmatch(keyword[-1]) else ""
    return before + body + after


# --- regex safety ---------------------------------------------------------------------------------------

_COUNTED_REPEAT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
_ESCAPES_WITH_BRACES = frozenset("pPN")  # \p{Han}, \N{EM DASH}: their braces are not repeat counts
# Probe texts on which a pattern that can match "nothing" shows it with a zero-length match.
_EMPTY_MATCH_PROBES = ("", " ", "x", "0", ".", "a b")
_PROBE_TIMEOUT = 0.05


def _estimated_expanded_size(pattern: str) -> int:
    """An upper-bound estimate of how many elements `regex.compile` creates once counted repeats are
    expanded: `(?:x{1000}){1000}` is a million. Deliberately rough and conservative: it overcounts
    group syntax and alternations, and may misread a rare construct as a repeat, never the other way."""
    totals = [0]  # expanded size of the sequence being read, one entry per open group
    last_atom = 0
    position = 0
    while position < len(pattern):
        char = pattern[position]
        repeat = _COUNTED_REPEAT.match(pattern, position) if char == "{" else None
        if repeat:
            count = max(_largest_count(repeat), 1)
            totals[-1] += last_atom * (count - 1)
            last_atom *= count
            position = repeat.end()
        elif char == "(":
            totals.append(0)
            last_atom = 0
            position += 1
        elif char == ")" and len(totals) > 1:
            last_atom = max(totals.pop(), 1)
            totals[-1] += last_atom
            position += 1
        else:
            last_atom = 1
            totals[-1] += 1
            position = _atom_end(pattern, position)
    return sum(totals)  # unclosed groups (an invalid pattern) still count


def _largest_count(repeat: regex.Match) -> int:
    return max((int(number) for number in repeat.groups() if number), default=0)


def _atom_end(pattern: str, start: int) -> int:
    if pattern[start] == "[":
        return _character_class_end(pattern, start)
    if pattern[start] != "\\":
        return start + 1
    escaped = pattern[start + 1 : start + 2]
    if escaped in _ESCAPES_WITH_BRACES and pattern[start + 2 : start + 3] == "{":
        closing = pattern.find("}", start + 3)
        return len(pattern) if closing < 0 else closing + 1
    return start + 2


def _character_class_end(pattern: str, start: int) -> int:
    # Stops at the first unescaped "]" even for nested sets ("[[:alpha:]]"): the rest is then read as
    # atoms, which can only overestimate the size, whereas tracking nesting could swallow a real repeat.
    position = start + 1
    if pattern[position : position + 1] == "^":
        position += 1
    if pattern[position : position + 1] == "]":  # a "]" first in the class is a literal
        position += 1
    while position < len(pattern):
        if pattern[position] == "\\":
            position += 2
        elif pattern[position] == "]":
            return position + 1
        else:
            position += 1
    return len(pattern)


def _describe_regex_error(error: regex.error) -> str:
    if error.pos is None:
        return INVALID_REGEX_WITHOUT_POSITION.format(message=error.msg)
    return INVALID_REGEX.format(message=error.msg, position=error.pos)


def _compile_user_regex(pattern: str, flags: int) -> regex.Pattern:
    size = _estimated_expanded_size(pattern)
    if size > MAX_EXPANDED_PATTERN_SIZE:
        raise RuleError(REPEATS_TOO_LARGE.format(size=size, limit=MAX_EXPANDED_PATTERN_SIZE))
    try:
        return regex.compile(pattern, flags)
    except regex.error as error:
        raise RuleError(_describe_regex_error(error)) from None
    except RecursionError:  # the module's parser recurses once per nested group
        raise RuleError(PATTERN_TOO_DEEPLY_NESTED) from None


def _can_match_empty_string(compiled: regex.Pattern) -> bool:
    for probe in _EMPTY_MATCH_PROBES:
        try:
            if any(match.start() == match.end() for match in compiled.finditer(probe, timeout=_PROBE_TIMEOUT)):
                return True
        except TimeoutError:
            continue  # slow even on a tiny probe: match_texts will report it with its own message
    return False


# --- warnings: patterns that run but do not do what was meant on CJK text ------------------------------

# Shown after saving (and in the preview); the rule is still saved. One per trap, with what to write instead.
WARN_WORD_BOUNDARY = (
    "{escape} will not find Chinese words: Chinese characters are all word characters and Chinese is written "
    "without spaces, so \\b only sits where a run of Chinese characters starts or ends (next to punctuation, a "
    "space or a Latin letter); \\b价格\\b never matches inside 这个价格太贵了. Leave \\b out (价格 matches anywhere), "
    "or use a keyword rule, which matches Chinese keywords inside sentences. Around a Latin word it fails next to "
    "Chinese characters too (\\biPhone\\b misses 我买了iPhone手机): write (?<![A-Za-z0-9])iPhone(?![A-Za-z0-9])."
)
WARN_NOT_WORD_BOUNDARY = (
    "\\B does nothing useful on Chinese text: between two Chinese characters it always holds, and it fails at the "
    "start or end of a run of them (\\B价格 misses 价格很贵). Leave it out."
)
WARN_WORD_RUN = (
    "{construct} spans a whole clause of Chinese text, not one word: Chinese has no spaces, so \\w+ in 价格\\w+ "
    "runs on to the next punctuation mark. Bound it, e.g. \\p{{Han}}{{1,4}} or .{{0,10}}, or name the words."
)
WARN_LATIN_ONLY_CLASS = (
    "The character class {found} matches Latin letters only, never a Chinese character. For Chinese characters "
    "write \\p{{Han}} (or [\\u4e00-\\u9fff]); for any character, a bounded .{{0,10}}."
)
WARN_SPACE_BETWEEN_CHINESE = (
    "“{found}” expects whitespace between Chinese words, which Chinese text does not have, so it rarely "
    "matches. Write the words next to each other, or allow a few characters between them: {suggestion}."
)
WARN_SPACES_AROUND_BAR = (
    "The spaces around | belong to the alternatives: “{found}” looks for a space before or after the words, "
    "and Chinese text has none. Write the alternatives without spaces: {suggestion}."
)
WARN_FULL_WIDTH_OPERATOR = (
    "The pattern contains the full-width “{char}” (typed by a Chinese input method), which a regular expression "
    "reads as an ordinary character, not as {meaning}. Write the half-width “{ascii}” if you meant the operator."
)
WARN_SPACE_SEPARATED_KEYWORDS = (
    "The keyword “{keyword}” contains spaces, so it only matches these words with whitespace between them, which "
    "Chinese text does not have. To match any one of them, separate keywords with commas (， and 、 work too) or new "
    "lines: {suggestion}."
)
WARN_NOT_A_KEYWORD_SEPARATOR = (
    "“{char}” does not separate keywords, so “{keyword}” is one keyword. Separate keywords with commas (， and 、 "
    "work too) or new lines: {suggestion}."
)

_CJK_CHAR = regex.compile(rf"[{_UNSPACED_SCRIPTS}]")
_LETTER = regex.compile(r"\p{L}")
# Texts count as CJK when at least this share of their letters are Han, kana or Hangul.
CJK_TEXT_SHARE = 0.3
_FULL_WIDTH_OPERATORS = {"｜": ("|", "“or” (|)"), "＼": ("\\", "an escape (\\)")}
_NOT_KEYWORD_SEPARATORS = ("；", ";", "｜", "|")
_OPEN_ENDED = regex.compile(r"[+*]|\{\d*,\}")
_LATIN_RANGE = regex.compile(r"[a-zA-Z]-[a-zA-Z]")


def texts_are_mostly_cjk(texts: Sequence[str]) -> bool:
    """Whether at least CJK_TEXT_SHARE of the letters in `texts` are Han, kana or Hangul (False without letters)."""
    letters = sum(len(_LETTER.findall(text)) for text in texts)
    cjk = sum(len(_CJK_CHAR.findall(text)) for text in texts)
    return letters > 0 and cjk >= CJK_TEXT_SHARE * letters


def _cjk_applies(language: str, sample_texts: Sequence[str]) -> bool:
    """Chinese projects always; others when their texts are mostly CJK, or multilingual with no texts yet."""
    choice = normalize_language(language)
    if choice == CHINESE:
        return True
    if sample_texts:
        return texts_are_mostly_cjk(sample_texts)
    return choice == MULTILINGUAL


def pattern_warnings(pattern: str, *, is_regex: bool, language: str, sample_texts: Sequence[str] = ()) -> list[str]:
    """What will go wrong with `pattern` on CJK text, and what to write instead: a list of messages for the person
    who wrote it, empty when nothing is suspect. Never raises for a bad pattern (compile_rule reports that).

    The CJK traps (\\b, \\B, \\w+, Latin-only classes, spaces between Chinese words) are reported for Chinese
    projects, for multilingual ones without texts, and for any project whose `sample_texts` are mostly CJK;
    full-width operators and non-separators in keyword lists in every project.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        return []
    cjk = _cjk_applies(language, sample_texts)
    if is_regex:
        return _regex_warnings(pattern, cjk=cjk)
    return _keyword_warnings(pattern, cjk=cjk)


def _keyword_warnings(pattern: str, *, cjk: bool) -> list[str]:
    found: list[str] = []
    keywords = parse_keywords(pattern)
    for char in _NOT_KEYWORD_SEPARATORS:
        keyword = next((keyword for keyword in keywords if char in keyword), None)
        if keyword is not None:
            suggestion = "，".join(part.strip() for part in keyword.split(char) if part.strip())
            found.append(WARN_NOT_A_KEYWORD_SEPARATOR.format(char=char, keyword=keyword, suggestion=suggestion))
            break
    if cjk:
        spaced = next(
            (k for k in keywords if any(_spaced_between_cjk(k, i) for i, c in enumerate(k) if c == " ")), None
        )
        if spaced is not None:
            suggestion = "，".join(spaced.split(" "))
            found.append(WARN_SPACE_SEPARATED_KEYWORDS.format(keyword=spaced, suggestion=suggestion))
    return found


def _spaced_between_cjk(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    after = text[position:].lstrip()
    return bool(before and after and _CJK_CHAR.match(before[-1]) and _CJK_CHAR.match(after[0]))


def _regex_warnings(pattern: str, *, cjk: bool) -> list[str]:
    found: list[str] = []
    for char, (ascii_char, meaning) in _FULL_WIDTH_OPERATORS.items():
        if char in pattern:
            found.append(WARN_FULL_WIDTH_OPERATOR.format(char=char, meaning=meaning, ascii=ascii_char))
    if not cjk:
        return found
    atoms = _regex_atoms(pattern)
    escapes = {atom for atom, _ in atoms if atom.startswith("\\")}
    if "\\b" in escapes:
        found.append(WARN_WORD_BOUNDARY.format(escape="\\b"))
    if "\\B" in escapes:
        found.append(WARN_NOT_WORD_BOUNDARY)
    run = next(
        (atom + repeat for atom, repeat in atoms if atom in ("\\w", "\\S") and _OPEN_ENDED.fullmatch(repeat)), None
    )
    if run is not None:
        found.append(WARN_WORD_RUN.format(construct=run))
    latin = next((atom for atom, _ in atoms if _is_latin_only_class(atom)), None)
    if latin is not None:
        found.append(WARN_LATIN_ONLY_CLASS.format(found=latin))
    found.extend(_space_warnings(pattern, atoms))
    return found


def _regex_atoms(pattern: str) -> list[tuple[str, str]]:
    """(atom, the repeat written after it) for each atom outside character classes: "\\w", "[a-z]", "价", "|"...

    A rough reading (groups are atoms of their own characters), enough to spot the constructs warned about."""
    atoms: list[tuple[str, str]] = []
    position = 0
    while position < len(pattern):
        end = _atom_end(pattern, position)
        atom = pattern[position:end]
        repeat = _OPEN_ENDED.match(pattern, end) or _COUNTED_REPEAT.match(pattern, end)
        if repeat and atom not in ("(", "|"):
            atoms.append((atom, repeat.group()))
            position = repeat.end()
        else:
            atoms.append((atom, ""))
            position = end
    return atoms


def _is_latin_only_class(atom: str) -> bool:
    if not atom.startswith("[") or atom.startswith("[^"):
        return False
    body = atom[1:-1]
    return bool(_LATIN_RANGE.search(body)) and body.isascii() and "\\" not in body and "[:" not in body


def _space_warnings(pattern: str, atoms: list[tuple[str, str]]) -> list[str]:
    """Whitespace (a space or \\s) between two Chinese characters, or spaces around | next to Chinese words."""
    found: list[str] = []
    for index in range(1, len(atoms) - 1):
        if atoms[index][0] in (" ", "\\s") and _is_cjk_atom(atoms[index - 1]) and _is_cjk_atom(atoms[index + 1]):
            before, middle, after = _stretch_around(atoms, index)
            suggestion = f"{before}{after} or {before}.{{0,5}}{after}"
            found.append(WARN_SPACE_BETWEEN_CHINESE.format(found=before + middle + after, suggestion=suggestion))
            break
    for index, (atom, _) in enumerate(atoms):
        if atom != "|":
            continue
        spaced_before = index > 1 and atoms[index - 1] == (" ", "") and _is_cjk_atom(atoms[index - 2])
        spaced_after = index + 2 < len(atoms) and atoms[index + 1] == (" ", "") and _is_cjk_atom(atoms[index + 2])
        if spaced_before or spaced_after:
            suggestion = regex.sub(r" *\| *", "|", pattern)
            found.append(WARN_SPACES_AROUND_BAR.format(found=pattern, suggestion=suggestion))
            break
    return found


def _is_cjk_atom(atom: tuple[str, str]) -> bool:
    return bool(_CJK_CHAR.fullmatch(atom[0]))


def _stretch_around(atoms: list[tuple[str, str]], index: int) -> tuple[str, str, str]:
    """The Chinese characters before atom `index`, the atom as written, and those after: ("价格", " ", "太贵")."""
    start = index
    while start > 0 and _is_cjk_atom(atoms[start - 1]):
        start -= 1
    end = index + 1
    while end < len(atoms) and _is_cjk_atom(atoms[end]):
        end += 1

    def written(part: list[tuple[str, str]]) -> str:
        return "".join(atom + repeat for atom, repeat in part)

    return written(atoms[start:index]), written(atoms[index : index + 1]), written(atoms[index + 1 : end])


# --- compiled rules -------------------------------------------------------------------------------------


class CompiledRule:
    """A rule ready to run. Never changed after compiling and safe to share across threads, requests
    and jobs (compiled `regex` patterns are thread-safe)."""

    __slots__ = ("_compiled", "keywords", "spec")

    def __init__(self, spec: RuleSpec, compiled: regex.Pattern, keywords: tuple[str, ...]) -> None:
        self.spec = spec
        self.keywords = keywords  # the parsed keywords; empty for a regex rule
        self._compiled = compiled

    @property
    def is_regex(self) -> bool:
        return self.spec.is_regex

    @property
    def regex_source(self) -> str:
        """The pattern actually run (for a keyword rule, the combined alternation)."""
        return self._compiled.pattern

    def search(self, text: str, *, timeout: float = DEFAULT_PER_TEXT_TIMEOUT) -> bool:
        """Whether the rule matches `text`; RuleError if a regex takes longer than `timeout` seconds."""
        _require_positive_seconds("timeout", timeout)
        try:
            return self._search(text, timeout) is not None
        except TimeoutError:
            raise RuleError(TOO_SLOW_ON_TEXT) from None

    def spans(
        self, text: str, limit: int = DEFAULT_SPAN_LIMIT, *, timeout: float = DEFAULT_PER_TEXT_TIMEOUT
    ) -> list[tuple[int, int]]:
        """(start, end) character offsets of up to `limit` non-overlapping matches, for highlighting.

        Zero-length matches (a lookahead-only regex) are skipped: there is nothing to highlight.
        """
        _require_non_negative_int("limit", limit)
        _require_positive_seconds("timeout", timeout)
        spans: list[tuple[int, int]] = []
        try:
            for match in self._finditer(text, timeout):
                if len(spans) >= limit:
                    break
                if match.end() > match.start():
                    spans.append(match.span())
        except TimeoutError:
            raise RuleError(TOO_SLOW_ON_TEXT) from None
        return spans

    def _search(self, text: str, timeout: float) -> regex.Match | None:
        # A keyword alternation of escaped literals runs in linear time and cannot backtrack
        # catastrophically; the timeout bookkeeping would double its cost, so it gets none.
        if self.spec.is_regex:
            return self._compiled.search(text, timeout=timeout)
        return self._compiled.search(text)

    def _finditer(self, text: str, timeout: float) -> Iterator[regex.Match]:
        if self.spec.is_regex:
            return self._compiled.finditer(text, timeout=timeout)
        return self._compiled.finditer(text)

    def __repr__(self) -> str:
        return f"CompiledRule({self.spec!r})"


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """Compile what the user typed; RuleError with a message for them when it cannot be used.

    Refused: an empty pattern (or one with only separators), a pattern longer than MAX_PATTERN_LENGTH,
    an invalid regex (with the `regex` module's message and position), a regex whose counted repeats
    are too large to compile safely, and a regex that can match the empty string (it would match
    every item).
    """
    if not isinstance(spec.pattern, str):
        raise TypeError(PATTERN_NOT_A_STRING.format(type_name=type(spec.pattern).__name__))
    if not spec.pattern.strip():
        raise RuleError(EMPTY_PATTERN)
    if len(spec.pattern) > MAX_PATTERN_LENGTH:
        raise RuleError(PATTERN_TOO_LONG.format(length=len(spec.pattern), limit=MAX_PATTERN_LENGTH))
    flags = 0 if spec.case_sensitive else regex.IGNORECASE
    if spec.is_regex:
        return _compile_regex_rule(spec, flags)
    return _compile_keyword_rule(spec, flags)


def _compile_regex_rule(spec: RuleSpec, flags: int) -> CompiledRule:
    compiled = _compile_user_regex(spec.pattern, flags)
    if _can_match_empty_string(compiled):
        raise RuleError(MATCHES_EMPTY_STRING)
    return CompiledRule(spec, compiled, keywords=())


def _compile_keyword_rule(spec: RuleSpec, flags: int) -> CompiledRule:
    keywords = parse_keywords(spec.pattern)
    if not keywords:
        raise RuleError(EMPTY_PATTERN)
    compiled = regex.compile(_keyword_regex_source(keywords, whole_word=spec.whole_word), flags)
    return CompiledRule(spec, compiled, keywords=keywords)


# --- matching many texts --------------------------------------------------------------------------------


def match_texts(
    rule: CompiledRule,
    texts: Sequence[str],
    *,
    per_text_timeout: float = DEFAULT_PER_TEXT_TIMEOUT,
    budget_seconds: float | None = DEFAULT_BUDGET_SECONDS,
) -> np.ndarray:
    """Boolean mask, shape (len(texts),): which texts the rule matches.

    RuleError when a regex takes longer than `per_text_timeout` on one text (`item_index` says which)
    or when all texts together take longer than `budget_seconds`; `budget_seconds=None` lifts the
    overall budget (background jobs over many items), the per-text timeout still applies.
    """
    _require_positive_seconds("per_text_timeout", per_text_timeout)
    if budget_seconds is not None:
        _require_positive_seconds("budget_seconds", budget_seconds)
    deadline = None if budget_seconds is None else time.perf_counter() + budget_seconds
    mask = np.zeros(len(texts), dtype=bool)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(TEXT_NOT_A_STRING.format(index=index, type_name=type(text).__name__))
        timeout = per_text_timeout
        if deadline is not None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise _budget_error(budget_seconds, done=index, total=len(texts))
            timeout = min(per_text_timeout, remaining)
        try:
            mask[index] = rule._search(text, timeout) is not None
        except TimeoutError:
            if timeout < per_text_timeout:  # cut short by the budget, not slow on this text alone
                raise _budget_error(budget_seconds, done=index, total=len(texts)) from None
            raise RuleError(TOO_SLOW_ON_ITEM.format(index=index), item_index=index) from None
    return mask


def _budget_error(budget_seconds: float | None, *, done: int, total: int) -> RuleError:
    return RuleError(BUDGET_EXCEEDED.format(budget=budget_seconds, done=done, total=total))


RuleKey = TypeVar("RuleKey", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class RuleSetMatch(Generic[RuleKey]):
    """What `match_rule_set` found: a mask per rule that finished, the error of each rule that did not."""

    masks: dict[RuleKey, np.ndarray]
    errors: dict[RuleKey, RuleError]


def match_rule_set(
    rules: Mapping[RuleKey, CompiledRule],
    texts: Sequence[str],
    *,
    budget_seconds: float,
    per_text_timeout: float = DEFAULT_PER_TEXT_TIMEOUT,
) -> RuleSetMatch[RuleKey]:
    """Match many rules against the same texts within one time budget shared by all of them.

    A page that shows every rule's match count must not take a budget per rule (14 slow rules made it
    take 14 budgets). Keyword rules run first: they cannot backtrack, so they always get counted. Each
    regex then gets a fair share of what is left (remaining time / regexes left), so one slow rule
    fails alone, with its error in `errors`, and the time it did not use goes to the others.
    """
    _require_positive_seconds("budget_seconds", budget_seconds)
    deadline = time.perf_counter() + budget_seconds
    masks: dict[RuleKey, np.ndarray] = {}
    errors: dict[RuleKey, RuleError] = {}
    ordered = sorted(rules.items(), key=lambda entry: entry[1].is_regex)  # stable: keywords first
    for position, (key, rule) in enumerate(ordered):
        share = (deadline - time.perf_counter()) / (len(ordered) - position)
        if share <= 0:
            errors[key] = _budget_error(budget_seconds, done=0, total=len(texts))
            continue
        try:
            masks[key] = match_texts(rule, texts, per_text_timeout=per_text_timeout, budget_seconds=share)
        except RuleError as error:
            errors[key] = error
    return RuleSetMatch(masks=masks, errors=errors)


# --- statistics -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RuleStats:
    """How a rule behaves on a project's items.

    `overlap`: other rule name -> items both rules match. `conflicts`: the same, for the other rules
    whose target label differs. `precision`: among matched items with a human label, the share whose
    label agrees with the rule's target; None when no matched item has a human label.
    """

    coverage: float
    matched: int
    overlap: dict[str, int]
    conflicts: dict[str, int]
    precision: float | None
    labeled_matches: int


def rule_stats(
    name: str,
    target: str,
    mask: np.ndarray,
    others: Mapping[str, tuple[str, np.ndarray]],
    human_labels: Sequence[str | None] | Sequence[frozenset[str] | None],
) -> RuleStats:
    """Coverage, overlap and conflicts with the other rules, and precision against human labels.

    `others`: other rule name -> (its target label, its mask); an entry named `name` is ignored, so the
    whole rule set can be passed. `human_labels`: per item a label, or a set of labels (multi-label
    projects: the rule is right when its target is in the set; an empty set is a label saying that
    nothing applies, so the rule is wrong there), or None when unlabeled.
    """
    mask = _as_mask(mask, "mask")
    _require_length("human_labels", len(human_labels), len(mask))
    overlap: dict[str, int] = {}
    conflicts: dict[str, int] = {}
    for other_name, (other_target, other_mask) in others.items():
        if other_name == name:
            continue  # a rule overlapping itself says nothing
        other_mask = _as_mask(other_mask, f"mask of rule {other_name!r}")
        _require_length(f"mask of rule {other_name!r}", len(other_mask), len(mask))
        both = int(np.count_nonzero(mask & other_mask))
        overlap[other_name] = both
        if other_target != target:
            conflicts[other_name] = both
    labeled_matches, agreeing = _count_labeled_and_agreeing(target, mask, human_labels)
    matched = int(np.count_nonzero(mask))
    return RuleStats(
        coverage=matched / len(mask) if len(mask) else 0.0,
        matched=matched,
        overlap=overlap,
        conflicts=conflicts,
        precision=agreeing / labeled_matches if labeled_matches else None,
        labeled_matches=labeled_matches,
    )


def _count_labeled_and_agreeing(
    target: str, mask: np.ndarray, human_labels: Sequence[str | None] | Sequence[frozenset[str] | None]
) -> tuple[int, int]:
    labeled = agreeing = 0
    for index in np.flatnonzero(mask):
        label = human_labels[index]
        if label is None:
            continue
        labeled += 1
        agreeing += label == target if isinstance(label, str) else target in label
    return labeled, agreeing


# --- seeding --------------------------------------------------------------------------------------------


def select_seed_candidates(
    mask: np.ndarray,
    *,
    limit: int,
    random_state: int | np.random.Generator | None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Sorted indices of up to `limit` matched items, drawn uniformly at random and reproducibly.

    `exclude`: a boolean mask of the same length, or an array of item indices, to leave out (items
    already labeled, say). A Generator passed as `random_state` is advanced; the global np.random is
    never used.
    """
    mask = _as_mask(mask, "mask")
    _require_non_negative_int("limit", limit)
    eligible = mask if exclude is None else mask & ~_exclusion_mask(exclude, len(mask))
    candidates = np.flatnonzero(eligible)
    if len(candidates) <= limit:
        return candidates
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(candidates, size=limit, replace=False))


def _exclusion_mask(exclude: np.ndarray, length: int) -> np.ndarray:
    exclude = np.asarray(exclude)
    if exclude.dtype == bool:
        exclude = _as_mask(exclude, "exclude")
        _require_length("exclude", len(exclude), length)
        return exclude
    if exclude.size and not np.issubdtype(exclude.dtype, np.integer):
        raise ValueError(EXCLUDE_NOT_MASK_OR_INDICES.format(dtype=exclude.dtype))
    indices = exclude.astype(np.intp).ravel()
    if indices.size and (indices.min() < 0 or indices.max() >= length):
        raise ValueError(EXCLUDE_INDEX_OUT_OF_RANGE.format(last=length - 1))
    excluded = np.zeros(length, dtype=bool)
    excluded[indices] = True
    return excluded


# --- validation helpers ---------------------------------------------------------------------------------


def _as_mask(value: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype != bool:
        raise ValueError(NOT_A_MASK.format(name=name, dtype=array.dtype, shape=array.shape))
    return array


def _require_length(name: str, actual: int, expected: int) -> None:
    if actual != expected:
        raise ValueError(LENGTH_MISMATCH.format(name=name, actual=actual, expected=expected))


def _require_positive_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(NOT_A_POSITIVE_NUMBER.format(name=name, value=value))


def _require_non_negative_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(NOT_A_NON_NEGATIVE_INT.format(name=name, value=value))
