"""The model plug-ins `mlm` and `backtranslate` with tiny random models built here (no download): they
load from a directory, change texts, are reproducible per seed, and a broken directory is refused."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from mlcore import augment_models  # noqa: E402
from mlcore.augment import AugmentError, augment_texts, check_request  # noqa: E402

WORDS = [
    "the",
    "a",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "stock",
    "market",
    "rose",
    "fell",
    "shares",
    "today",
    "good",
    "bad",
    "film",
]
TEXTS = ["the quick brown fox jumps over the lazy dog", "stock market rose today", "a good film"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine threads contend badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tokenizer(directory):
    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8")
    return transformers.BertTokenizer(str(vocab))


def _config(tokenizer, **decoder):
    return transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        **decoder,
    )


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mlm")
    tokenizer = _tokenizer(directory)
    torch.manual_seed(0)
    transformers.BertForMaskedLM(_config(tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def _seq2seq(directory, seed):
    """An EncoderDecoderModel of two tiny BERTs, saved without generation settings (the loader copes)."""
    tokenizer = _tokenizer(directory)
    torch.manual_seed(seed)
    model = transformers.EncoderDecoderModel(
        encoder=transformers.BertModel(_config(tokenizer)),
        decoder=transformers.BertLMHeadModel(_config(tokenizer, is_decoder=True, add_cross_attention=True)),
    )
    model.config.decoder_start_token_id = tokenizer.cls_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def backtranslate_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq")
    return f"{_seq2seq(root / 'forward', 1)}|{_seq2seq(root / 'backward', 2)}"


def test_mlm_replaces_words_by_the_models_tokens(mlm_dir):
    check_request(["mlm"], 2, "en", {"mlm": mlm_dir})
    copies = augment_texts(TEXTS, ["mlm"], copies=2, strength=0.3, model_dirs={"mlm": mlm_dir}, random_state=0)
    assert copies
    for copy in copies:
        assert copy.text != TEXTS[copy.source_index]
        assert len(copy.text.split()) == len(TEXTS[copy.source_index].split())  # replaced, not added
        new_words = {word for start, end in copy.changed for word in copy.text[start:end].split()}
        assert new_words and all(word in WORDS for word in new_words)
    again = augment_texts(TEXTS, ["mlm"], copies=2, strength=0.3, model_dirs={"mlm": mlm_dir}, random_state=0)
    assert again == copies


def test_backtranslate_paraphrases_reproducibly_without_touching_torchs_seed(backtranslate_dirs):
    dirs = {"backtranslate": backtranslate_dirs}
    check_request(["backtranslate"], 3, "en", dirs)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    copies = augment_texts(TEXTS, ["backtranslate"], copies=3, model_dirs=dirs, random_state=0)
    assert torch.rand(1) == before  # sampling ran in a forked generator
    assert copies and all(copy.op == "backtranslate" and copy.text for copy in copies)
    assert augment_texts(TEXTS, ["backtranslate"], copies=3, model_dirs=dirs, random_state=0) == copies
    assert augment_texts(TEXTS, ["backtranslate"], copies=3, model_dirs=dirs, random_state=1) != copies


def test_mixed_plugins_and_text_ops_in_one_call(mlm_dir, backtranslate_dirs):
    dirs = {"mlm": mlm_dir, "backtranslate": backtranslate_dirs}
    copies = augment_texts(TEXTS, ["swap", "mlm", "backtranslate"], copies=6, model_dirs=dirs, random_state=0)
    assert {copy.op for copy in copies} == {"swap", "mlm", "backtranslate"}


def test_a_directory_that_does_not_load_is_refused(tmp_path, mlm_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}', encoding="utf-8")
    with pytest.raises(AugmentError, match="did not load as a AutoModelForMaskedLM"):
        check_request(["mlm"], 2, "en", {"mlm": str(broken)})
    # A masked LM is not a seq2seq model: backtranslate refuses it.
    with pytest.raises(AugmentError, match="AutoModelForSeq2SeqLM"):
        check_request(["backtranslate"], 2, "en", {"backtranslate": f"{mlm_dir}|{mlm_dir}"})


def test_models_load_once_per_directory(mlm_dir):
    assert augment_models.load_masked_lm(mlm_dir) is augment_models.load_masked_lm(mlm_dir)
