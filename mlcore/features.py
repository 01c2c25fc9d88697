"""Sparse bag-of-words features beside the sentence embeddings, for the hybrid fast head (issue 22).

- `TextFeaturizer(language)`: TF-IDF of words (scikit-learn's word pattern for English, jieba words
  for Chinese and multilingual text) and of character n-grams, each block L2-normalised and weighted,
  the whole row L2-normalised again. Unsupervised: fit it on every text there is (labeled and pool),
  never on labels. `save`/`load` write plain JSON and .npy (no pickle); `fingerprint` names the
  vocabulary and parameters.
- `HybridInputs(texts, embeddings, words=None)`: what the hybrid `FastHead` reads; `words` are the
  rows of `featurizer.transform(texts)`, computed once by callers that refit every round.
- `language_family(language)`: "en", "zh" or "multi" for a project language ("zh-hans" -> "zh").

    >>> featurizer = TextFeaturizer(language="zh").fit(all_texts)
    >>> inputs = HybridInputs(texts, embeddings, featurizer.transform(texts))
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jieba
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from mlcore.languages import LANGUAGES as _LANGUAGE_NAMES
from mlcore.languages import MULTILINGUAL, normalize_language
from mlcore.textnorm import checked_texts

__all__ = [
    "LANGUAGES",
    "HybridInputs",
    "TextFeaturizer",
    "concatenate",
    "language_family",
    "word_tokens",
]

LANGUAGES = tuple(_LANGUAGE_NAMES)
# Spellings of "other / multilingual" (mlcore.languages maps every unknown value there; here a typo
# must not silently fall back to word splitting made for another script).
_MULTILINGUAL_NAMES = frozenset({MULTILINGUAL, "other", "multilingual"})
FEATURIZER_FILE = "featurizer.json"
_IDF_FILE = "idf_{block}.npy"
FORMAT_VERSION = 1
# Character n-grams when asked for (`char_ngrams="auto"`): English char_wb 2-5 (inside word boundaries),
# Chinese plain characters 1-3 (a Chinese word is one to three characters). Measured beside the words
# they added nothing on BBC News (English) nor on the Chinese news set, at several times the cost
# (docs/benchmarks.md, issue 22), so the default is words alone.
CHAR_NGRAMS = {"en": (2, 5), "zh": (1, 3), "multi": (1, 4)}
_CHAR_ANALYZER = {"en": "char_wb", "zh": "char", "multi": "char_wb"}
# Columns kept per block, most frequent first: bounds the head's weights (k x columns) and its memory.
DEFAULT_MAX_FEATURES = 100_000
_SKLEARN_WORD = re.compile(r"(?u)\b\w\w+\b")
_WHITESPACE = re.compile(r"\s+")
# Tokens jieba returns for punctuation and symbols: no word character in them.
_HAS_WORD_CHARACTER = re.compile(r"\w")
jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise


def language_family(language: str) -> str:
    """ "en", "zh" or "multi" for a project language: en / en-GB -> en, zh / zh-hans / zh_CN -> zh,
    multi / other -> multi; a ValueError names the choices otherwise."""
    if not isinstance(language, str) or not language.strip():
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}; got {language!r}")
    family = normalize_language(language)
    if family != MULTILINGUAL or language.strip().lower().split("-", 1)[0] in _MULTILINGUAL_NAMES:
        return family
    raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")


def word_tokens(text: str, language: str = "en") -> list[str]:
    """Lower-cased words: scikit-learn's pattern (2+ word characters) for English; jieba words with a
    word character (punctuation dropped, single characters kept: 好 and 差 carry sentiment) otherwise."""
    text = text.lower()
    if language_family(language) == "en":
        return _SKLEARN_WORD.findall(text)
    return [token for token in jieba.lcut(_WHITESPACE.sub(" ", text)) if _HAS_WORD_CHARACTER.search(token)]


def _ngrams(tokens: list[str], n_max: int) -> list[str]:
    grams = list(tokens)
    for n in range(2, n_max + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


class TextFeaturizer:
    """TF-IDF of words (1..`word_ngrams` grams) and of character n-grams (`char_ngrams`: (min, max),
    "auto" for the language's (`CHAR_NGRAMS`), None for none, the default).

    Each block: sublinear tf, smoothed idf, terms in at least `min_df` texts, the `max_features` most
    frequent; rows L2-normalised, then weighted (`char_weight` for the characters, 1 for words), and
    the whole row L2-normalised. An empty or all-punctuation text gives a zero row.
    """

    def __init__(
        self,
        language: str = "en",
        *,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, int] | str | None = None,
        char_weight: float = 1.0,
        min_df: int = 2,
        max_features: int | None = DEFAULT_MAX_FEATURES,
    ) -> None:
        self.language = language_family(language)
        if isinstance(word_ngrams, bool) or not isinstance(word_ngrams, int) or not 0 <= word_ngrams <= 3:
            raise ValueError(f"word_ngrams must be 0 (no words) to 3; got {word_ngrams!r}")
        if char_ngrams == "auto":
            char_ngrams = CHAR_NGRAMS[self.language]
        if char_ngrams is not None:
            char_ngrams = tuple(char_ngrams)
            if len(char_ngrams) != 2 or not all(isinstance(n, int) for n in char_ngrams):
                raise ValueError(f"char_ngrams must be None or (min, max); got {char_ngrams!r}")
            if not 1 <= char_ngrams[0] <= char_ngrams[1] <= 8:
                raise ValueError(f"char_ngrams must satisfy 1 <= min <= max <= 8; got {char_ngrams!r}")
        if word_ngrams == 0 and char_ngrams is None:
            raise ValueError("a featurizer needs words (word_ngrams >= 1) or characters (char_ngrams)")
        if not char_weight > 0:
            raise ValueError(f"char_weight must be > 0; got {char_weight!r}")
        if isinstance(min_df, bool) or not isinstance(min_df, int) or min_df < 1:
            raise ValueError(f"min_df must be an integer >= 1; got {min_df!r}")
        if max_features is not None and (not isinstance(max_features, int) or max_features < 1):
            raise ValueError(f"max_features must be None or an integer >= 1; got {max_features!r}")
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.char_weight = float(char_weight)
        self.min_df = min_df
        self.max_features = max_features
        # name -> fitted vectorizer, or None where no term survived (the block gives zero columns)
        self.blocks_: dict[str, TfidfVectorizer | None] | None = None

    # - parameters

    def get_params(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": None if self.char_ngrams is None else list(self.char_ngrams),
            "char_weight": self.char_weight,
            "min_df": self.min_df,
            "max_features": self.max_features,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"TextFeaturizer({params})"

    def _block_names(self) -> list[str]:
        return [name for name, on in (("words", self.word_ngrams > 0), ("chars", self.char_ngrams is not None)) if on]

    def _vectorizer(self, block: str, min_df: int, vocabulary: dict | None = None) -> TfidfVectorizer:
        options: dict[str, Any] = {"sublinear_tf": True, "dtype": np.float32, "norm": "l2", "vocabulary": vocabulary}
        if vocabulary is None:
            options |= {"min_df": min_df, "max_features": self.max_features}
        if block == "words":
            return TfidfVectorizer(analyzer=self._word_analyzer(), **options)
        return TfidfVectorizer(
            analyzer=_CHAR_ANALYZER[self.language], ngram_range=self.char_ngrams, lowercase=True, **options
        )

    def _word_analyzer(self) -> Callable[[str], list[str]]:
        language, n_max = self.language, self.word_ngrams
        return lambda text: _ngrams(word_tokens(text, language), n_max)

    # - fit and transform

    def fit(self, texts: Sequence[str]) -> TextFeaturizer:
        """Learn the vocabularies and idf weights from `texts` (every text there is; labels never)."""
        texts = checked_texts(texts)
        if not texts:
            raise ValueError("cannot fit a featurizer on zero texts")
        # A small collection (a first round of a few texts) keeps its rare terms: min_df 2 of 5 texts
        # would drop nearly everything.
        min_df = self.min_df if len(texts) >= 10 * self.min_df else 1
        blocks = {}
        for block in self._block_names():
            vectorizer = self._vectorizer(block, min_df)
            try:
                blocks[block] = vectorizer.fit(texts)
            except ValueError:  # no term survives (empty texts, punctuation only): an empty block
                blocks[block] = None
        self.blocks_ = blocks
        self.__dict__.pop("_fingerprint", None)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(n, n_features) float32 CSR: the weighted blocks side by side, each row L2-normalised."""
        blocks = self._fitted_blocks()
        texts = checked_texts(texts)
        parts = []
        for name, vectorizer in blocks.items():
            if vectorizer is None:
                parts.append(sp.csr_matrix((len(texts), 0), dtype=np.float32))
                continue
            matrix = vectorizer.transform(texts)
            parts.append(matrix * np.float32(self.char_weight) if name == "chars" else matrix)
        return _unit_rows(sp.hstack(parts, format="csr", dtype=np.float32))

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

    @property
    def n_features(self) -> int:
        return sum(len(_terms(vectorizer)) for vectorizer in self._fitted_blocks().values())

    @property
    def fingerprint(self) -> str:
        """16 hex digits over the parameters, the vocabularies (terms and columns) and the idf weights."""
        cached = self.__dict__.get("_fingerprint")
        if cached is not None:
            return cached
        digest = hashlib.sha256(json.dumps(self.get_params(), sort_keys=True).encode("utf-8"))
        for name, vectorizer in self._fitted_blocks().items():
            digest.update(name.encode("utf-8"))
            for term in _terms(vectorizer):
                encoded = term.encode("utf-8")
                digest.update(len(encoded).to_bytes(4, "little") + encoded)
            if vectorizer is not None:
                digest.update(np.ascontiguousarray(vectorizer.idf_, dtype=np.float64).tobytes())
        self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def _fitted_blocks(self) -> dict[str, TfidfVectorizer | None]:
        if self.blocks_ is None:
            raise ValueError("the featurizer is not fitted; call fit(texts) first")
        return self.blocks_

    # - storage

    def save(self, directory: str | Path) -> Path:
        """Write featurizer.json (parameters, vocabularies in column order) and one idf .npy per block."""
        blocks = self._fitted_blocks()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"format_version": FORMAT_VERSION, "params": self.get_params(), "blocks": {}}
        for name, vectorizer in blocks.items():
            idf = np.zeros(0) if vectorizer is None else np.asarray(vectorizer.idf_, dtype=np.float64)
            np.save(directory / _IDF_FILE.format(block=name), idf)
            meta["blocks"][name] = {"vocabulary": _terms(vectorizer), "idf": _IDF_FILE.format(block=name)}
        meta["fingerprint"] = self.fingerprint
        (directory / FEATURIZER_FILE).write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TextFeaturizer:
        """A featurizer written by `save`; a ValueError when the folder holds none or a broken one."""
        directory = Path(directory)
        path = directory / FEATURIZER_FILE
        if not path.is_file():
            raise ValueError(f"{directory}: no {FEATURIZER_FILE}; not a saved featurizer")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported featurizer format; expected format_version {FORMAT_VERSION}")
        params = dict(meta["params"])
        featurizer = cls(params.pop("language"), **params)
        blocks = {}
        for name in featurizer._block_names():
            stored = meta["blocks"].get(name)
            if stored is None:
                raise ValueError(f"{path}: the {name} block is missing")
            vocabulary = {term: column for column, term in enumerate(stored["vocabulary"])}
            idf = np.load(directory / stored["idf"], allow_pickle=False)
            if len(idf) != len(vocabulary):
                raise ValueError(f"{path}: the {name} block has {len(vocabulary)} terms but {len(idf)} idf weights")
            if not vocabulary:
                blocks[name] = None
                continue
            vectorizer = featurizer._vectorizer(name, 1, vocabulary=vocabulary)
            vectorizer.vocabulary_ = vocabulary
            vectorizer.idf_ = idf
            blocks[name] = vectorizer
        featurizer.blocks_ = blocks
        if meta.get("fingerprint") not in (None, featurizer.fingerprint):
            raise ValueError(f"{path}: the stored fingerprint does not match the vocabulary; the files were changed")
        return featurizer


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to L2 norm 1; zero rows stay zero (also with zero columns, which normalize() refuses)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    return sp.csr_matrix(sp.diags(scale) @ matrix, dtype=np.float32)


def _terms(vectorizer: TfidfVectorizer | None) -> list[str]:
    """The vocabulary in column order (none for an empty block)."""
    if vectorizer is None:
        return []
    terms = [""] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        terms[column] = term
    return terms


# --- what the hybrid head reads -----------------------------------------------------------------


@dataclass(frozen=True)
class HybridInputs:
    """The texts, their (n, dim) embeddings and optionally their rows of `featurizer.transform(texts)`
    (computed once, so loops that refit every round do not tokenise again)."""

    texts: Sequence[str]
    embeddings: np.ndarray
    words: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        texts = checked_texts(self.texts)
        embeddings = np.asarray(self.embeddings, dtype=np.float32)
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be a 2-D (n, dim) array; got shape {embeddings.shape}")
        if len(embeddings) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
        words = self.words
        if words is not None:
            if not sp.issparse(words):
                raise ValueError(f"words must be a scipy sparse matrix or None; got {type(words).__name__}")
            words = sp.csr_matrix(words, dtype=np.float32)
            if words.shape[0] != len(texts):
                raise ValueError(f"{len(texts)} texts but {words.shape[0]} rows of words")
        # Frozen: set the normalised fields through object.__setattr__ once, here.
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "embeddings", embeddings)
        object.__setattr__(self, "words", words)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows: Any) -> HybridInputs:
        """The given rows (indices or a boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64)
        words = None if self.words is None else self.words[rows]
        return HybridInputs([self.texts[i] for i in rows], self.embeddings[rows], words)

    def with_words(self, words: sp.csr_matrix) -> HybridInputs:
        return HybridInputs(self.texts, self.embeddings, words)

    @staticmethod
    def concatenate(first: HybridInputs, second: HybridInputs) -> HybridInputs:
        return concatenate(first, second)


def concatenate(first: HybridInputs, second: HybridInputs) -> HybridInputs:
    """The rows of `first` then those of `second`; words only when both have them (of equal width)."""
    if first.embeddings.shape[1] != second.embeddings.shape[1]:
        raise ValueError(f"embeddings of {first.embeddings.shape[1]} and {second.embeddings.shape[1]} dimensions")
    words = None
    if first.words is not None and second.words is not None:
        if first.words.shape[1] != second.words.shape[1]:
            raise ValueError(f"words of {first.words.shape[1]} and {second.words.shape[1]} columns")
        words = sp.vstack([first.words, second.words], format="csr")
    return HybridInputs([*first.texts, *second.texts], np.concatenate([first.embeddings, second.embeddings]), words)
