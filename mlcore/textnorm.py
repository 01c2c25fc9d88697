"""Text normalisation shared by duplicate detection and, later, by featurisers."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Fold the differences a human would not call a different text.

    NFKC (full-width forms, ligatures), case-folding and collapsed whitespace. Punctuation is kept:
    "Great!" and "Great?" are different items.
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    """SHA-256 hex digest of the normalised text: equal for texts that are duplicates."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def checked_texts(texts: Sequence[str], name: str = "texts") -> list[str]:
    """`texts` as a list, or a ValueError: a lone string (a classic slip: it would be read character by
    character) or an item that is not a string, named by its index (`name`: what the caller calls them)."""
    if isinstance(texts, str):
        raise ValueError(f"{name} must be a sequence of strings, not a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{name}[{i}] is {type(text).__name__}, expected str")
    return texts
