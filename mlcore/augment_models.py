"""The model plug-ins of `mlcore.augment`: back-translation and masked-LM replacement with local models.

No such model ships offline: an admin points the app at directories saved by `save_pretrained`
(config.json, weights, tokenizer files). They load with transformers' Auto classes, from local files
only, once per directory and device (`functools.lru_cache`):

    >>> translator = load_backtranslator("models/opus-mt-en-de", "models/opus-mt-de-en")
    >>> translator.paraphrase("The market rose.", 2, seed=7)        # sampled, reproducible per seed
    ['The market went up.', 'The market has risen.']
    >>> mlm = load_masked_lm("models/bert-base-uncased")
    >>> mlm.replace_words(["The", " ", "market", " ", "rose"], [2], random.Random(0))
    'The stock rose'

Sampling draws from torch's generator inside `torch.random.fork_rng`, seeded per call, so the
process-wide torch seed is neither used nor changed. `replace_words` samples with the caller's
`random.Random`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Candidates of the masked LM: its top-k tokens for the masked word (CBERT samples among the likeliest).
MLM_TOP_K = 10
MAX_INPUT_TOKENS = 512
# A translation may be longer than its source (German runs ~20% longer than English): room for that.
MAX_OUTPUT_RATIO = 1.5
MIN_OUTPUT_TOKENS = 16
# Subword markers of WordPiece ("##ing"), SentencePiece ("▁the") and byte-level BPE ("Ġthe").
_CONTINUATION = "##"
_WORD_START_MARKERS = "▁Ġ"


class ModelDirectoryError(ValueError):
    """A model directory that does not exist, is not a model or does not load; the message says which."""


def _checked_directory(directory: str) -> Path:
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ModelDirectoryError(f"model directory {directory!r} does not exist")
    if not (path / "config.json").is_file():
        raise ModelDirectoryError(
            f"{directory!r} is not a model directory (no config.json; save one with save_pretrained)"
        )
    return path


def _load(directory: str, model_class_name: str, device: str):
    """(tokenizer, model in eval mode on `device`) from a local directory, or ModelDirectoryError."""
    import transformers

    path = _checked_directory(directory)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = getattr(transformers, model_class_name).from_pretrained(path, local_files_only=True)
    except Exception as error:  # a user-supplied directory can fail in any of transformers' ways: report it
        raise ModelDirectoryError(f"{directory!r} did not load as a {model_class_name} model: {error}") from error
    return tokenizer, model.to(device).eval()


@dataclass(frozen=True, eq=False)
class Backtranslator:
    """Two seq2seq models: `forward` translates into a pivot language, `backward` back."""

    forward_tokenizer: object
    forward: object
    backward_tokenizer: object
    backward: object

    def paraphrase(self, text: str, count: int, *, seed: int) -> list[str]:
        """`count` back-translations of `text`, sampled there and back (equal ones may repeat)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pivots = _generate(self.forward_tokenizer, self.forward, [text], count)
            return _generate(self.backward_tokenizer, self.backward, pivots, 1)


def _generate(tokenizer, model, texts: list[str], per_text: int) -> list[str]:
    import torch

    inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_INPUT_TOKENS)
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    longest = int(inputs["input_ids"].shape[1])
    options = {
        "do_sample": True,
        "num_return_sequences": per_text,
        "max_new_tokens": max(MIN_OUTPUT_TOKENS, min(MAX_INPUT_TOKENS, int(longest * MAX_OUTPUT_RATIO))),
    }
    # A model saved without generation settings (an EncoderDecoderModel of two BERTs) starts from [CLS].
    if getattr(model.generation_config, "decoder_start_token_id", None) is None:
        start = getattr(model.config, "decoder_start_token_id", None)
        options["decoder_start_token_id"] = (
            start if start is not None else (tokenizer.bos_token_id or tokenizer.cls_token_id)
        )
    if getattr(model.generation_config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        options["pad_token_id"] = tokenizer.pad_token_id
    with torch.no_grad():
        output = model.generate(**inputs, **options)
    return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]


@dataclass(frozen=True, eq=False)
class MaskedLM:
    """A masked language model that fills one masked word at a time (CBERT-style replacement)."""

    tokenizer: object
    model: object
    top_k: int = MLM_TOP_K

    def replace_words(self, pieces: Sequence[str], positions: Sequence[int], rng: random.Random) -> str:
        """`"".join(pieces)` with the pieces at `positions` replaced, one after the other (each sees the
        replacements before it), by a token sampled from the model's top-k for the masked word, never
        the word itself. A word whose mask falls past the model's input length stays."""
        pieces = list(pieces)
        for position in positions:
            original = pieces[position]
            pieces[position] = self.tokenizer.mask_token
            choice = self._sampled_fill("".join(pieces), original, rng)
            pieces[position] = choice if choice is not None else original
        return "".join(pieces)

    def _sampled_fill(self, masked_text: str, original: str, rng: random.Random) -> str | None:
        import torch

        inputs = self.tokenizer(masked_text, return_tensors="pt", truncation=True, max_length=MAX_INPUT_TOKENS)
        where = (inputs["input_ids"][0] == self.tokenizer.mask_token_id).nonzero()
        if not len(where):
            return None
        inputs = {key: value.to(self.model.device) for key, value in inputs.items()}
        with torch.no_grad():
            logits = self.model(**inputs).logits[0, int(where[0])]
        candidates = self._candidates(logits, original)
        if not candidates:
            return None
        words, scores = zip(*candidates, strict=True)
        weights = torch.softmax(torch.tensor(scores), dim=0).tolist()
        return rng.choices(words, weights=weights)[0]

    def _candidates(self, logits, original: str) -> list[tuple[str, float]]:
        """The top-k whole-word tokens (no specials, no subword continuations, not `original`)."""
        special = set(self.tokenizer.all_special_ids)
        found: list[tuple[str, float]] = []
        values, ids = logits.float().sort(descending=True)
        for value, token_id in zip(values.tolist(), ids.tolist(), strict=True):
            if len(found) == self.top_k:
                break
            token = self.tokenizer.convert_ids_to_tokens(token_id)
            if token_id in special or token.startswith(_CONTINUATION):
                continue
            word = token.lstrip(_WORD_START_MARKERS)
            if word and word.lower() != original.lower() and any(character.isalnum() for character in word):
                found.append((word, value))
        return found


@functools.lru_cache(maxsize=4)
def load_masked_lm(directory: str, device: str = "cpu") -> MaskedLM:
    """The masked LM in `directory` (AutoTokenizer + AutoModelForMaskedLM), or ModelDirectoryError."""
    tokenizer, model = _load(directory, "AutoModelForMaskedLM", device)
    if tokenizer.mask_token is None:
        raise ModelDirectoryError(f"{directory!r}: its tokenizer has no mask token; a masked language model is needed")
    return MaskedLM(tokenizer=tokenizer, model=model)


@functools.lru_cache(maxsize=2)
def load_backtranslator(forward_directory: str, backward_directory: str, device: str = "cpu") -> Backtranslator:
    """The seq2seq pair (AutoTokenizer + AutoModelForSeq2SeqLM each), or ModelDirectoryError."""
    forward_tokenizer, forward = _load(forward_directory, "AutoModelForSeq2SeqLM", device)
    backward_tokenizer, backward = _load(backward_directory, "AutoModelForSeq2SeqLM", device)
    return Backtranslator(forward_tokenizer, forward, backward_tokenizer, backward)
