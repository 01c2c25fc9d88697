"""Augmentation ops: the shared contract on English and Chinese texts, each op's own promise, the
label-preservation filter and every refused request. The model plug-ins: test_augment_models.py."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore import augment
from mlcore.augment import (
    MAX_COPIES,
    OPS,
    UNK_TOKEN,
    Augmented,
    AugmentError,
    augment_texts,
    available_ops,
    changed_spans,
    check_request,
    cilin_synonyms,
    label_preserving_mask,
    sentences,
)

ENGLISH_TEXTS = [
    "The quick brown fox jumps over the lazy dog. It was a sunny day! Cars drove past the old house.",
    "Stock markets rose sharply on Monday as investors bought shares in car makers.",
    "The government announced new rules for schools. Teachers welcomed the change. Parents were happy.",
]
CHINESE_TEXTS = [
    "今天天气很好，我们去公园散步。公园里有很多人在跑步！孩子们在草地上玩耍。",
    "股市周一大幅上涨，投资者纷纷买入股票。分析人士认为经济正在复苏。",
    "学校宣布了新的规定。老师们很高兴，家长们也表示支持。",
]
TEXT_OPS = {
    "en": [op.name for op in available_ops("en") if not op.needs_model],
    "zh": [op.name for op in available_ops("zh") if not op.needs_model],
}
CASES = [(language, name) for language, names in TEXT_OPS.items() for name in names]


def _texts(language):
    return ENGLISH_TEXTS if language == "en" else CHINESE_TEXTS


# --- the contract every op keeps ----------------------------------------------------------------


@pytest.mark.parametrize(("language", "name"), CASES)
def test_every_op_changes_texts_and_marks_what_changed(language, name):
    texts = _texts(language)
    copies = augment_texts(texts, [name], copies=3, language=language, strength=0.2, random_state=0)
    assert copies, f"{name} made no copy"
    for copy in copies:
        assert copy.op == name
        assert copy.text != texts[copy.source_index]
        assert copy.changed == changed_spans(texts[copy.source_index], copy.text, language)
        for start, end in copy.changed:
            assert 0 <= start < end <= len(copy.text)
    # Ops that put something new in point at it; delete/nsample/char_delete only take away.
    if name not in ("delete", "nsample", "char_delete"):
        assert all(copy.changed for copy in copies)


@pytest.mark.parametrize(("language", "name"), CASES)
def test_every_op_is_deterministic_per_seed(language, name):
    texts = _texts(language)
    run = lambda seed: augment_texts(texts, [name], copies=3, language=language, strength=0.2, random_state=seed)  # noqa: E731
    assert run(1) == run(1)
    assert [copy.text for copy in run(1)] != [copy.text for copy in run(2)]


def test_a_texts_copies_do_not_depend_on_the_other_texts():
    # The generator of a text is seeded by (random_state, its index): other texts may change freely.
    changed_neighbour = ["Something else entirely, said briefly.", *ENGLISH_TEXTS[1:]]
    first = augment_texts(ENGLISH_TEXTS, ["swap"], copies=2, random_state=5)
    second = augment_texts(changed_neighbour, ["swap"], copies=2, random_state=5)
    assert [copy for copy in first if copy.source_index > 0] == [copy for copy in second if copy.source_index > 0]


def test_several_ops_each_copy_draws_one_and_duplicates_are_dropped():
    copies = augment_texts(ENGLISH_TEXTS, ["synonym", "swap", "delete"], copies=6, random_state=0)
    assert {copy.op for copy in copies} == {"synonym", "swap", "delete"}
    per_source = {}
    for copy in copies:
        per_source.setdefault(copy.source_index, []).append(copy.text)
    assert all(len(set(found)) == len(found) <= 6 for found in per_source.values())
    # One word: nothing to swap, so every copy equals its source and none comes back.
    assert augment_texts(["Hello"], ["swap"], copies=3) == []


def test_spans_can_be_skipped_and_nothing_else_changes():
    with_spans = augment_texts(CHINESE_TEXTS, ["synonym", "delete"], copies=2, language="zh")
    without = augment_texts(CHINESE_TEXTS, ["synonym", "delete"], copies=2, language="zh", spans=False)
    assert [(copy.source_index, copy.op, copy.text) for copy in with_spans] == [
        (copy.source_index, copy.op, copy.text) for copy in without
    ]
    assert all(copy.changed == () for copy in without)


def test_progress_is_reported_per_text():
    seen = []
    augment_texts(ENGLISH_TEXTS, ["unk"], copies=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


# --- each op's own promise ----------------------------------------------------------------------


def test_synonym_uses_wordnet_synonyms_and_keeps_the_rest():
    source = "I parked the car outside."
    copies = augment_texts([source], ["synonym"], copies=5, strength=0.2, random_state=0)
    assert copies
    from mlcore.wordnet import synonyms

    car_words = set(synonyms("car")) | set(synonyms("parked")) | set(synonyms("outside"))
    for copy in copies:
        (start, end), *_ = copy.changed
        # "car" -> "railroad car": the diff marks "railroad", the part that is new.
        assert any(copy.text[start:end] in word for word in car_words)
        assert copy.text.startswith("I ") and copy.text.endswith(".")


def test_stop_words_are_never_replaced_by_synonyms():
    # "is", "a", "the" have WordNet entries (iodine, angstrom ...) but are stop words.
    assert augment_texts(["It is a the"], ["synonym"], copies=3) == []


def test_cilin_finds_chinese_synonyms_and_the_op_uses_them():
    assert "计算机" in cilin_synonyms()["电脑"]
    source = "我买了一台新电脑。"
    copies = augment_texts([source], ["synonym"], copies=3, language="zh", strength=0.5, random_state=0)
    assert copies
    allowed = set(cilin_synonyms()["电脑"]) | set(cilin_synonyms().get("一台", ())) | set(cilin_synonyms()["新"])
    for copy in copies:
        new_words = {copy.text[start:end] for start, end in copy.changed}
        assert all(any(word in synonym for synonym in allowed) for word in new_words)


def test_insert_adds_a_synonym_and_removes_nothing():
    source = ENGLISH_TEXTS[1]
    for copy in augment_texts([source], ["insert"], copies=3, random_state=0):
        assert len(copy.text) > len(source)
        assert sum(start_end[1] - start_end[0] for start_end in copy.changed) < len(copy.text) - len(source) + 2


def test_swap_keeps_the_same_words():
    source = ENGLISH_TEXTS[0]
    for copy in augment_texts([source], ["swap"], copies=3, random_state=0):
        assert sorted(copy.text.split()) != sorted(source.split()) or copy.text != source
        assert sorted(augment._ENGLISH_WORD.findall(copy.text)) == sorted(augment._ENGLISH_WORD.findall(source))


def test_delete_drops_words_without_leaving_double_spaces():
    for copy in augment_texts(ENGLISH_TEXTS, ["delete"], copies=3, strength=0.3, random_state=0):
        assert "  " not in copy.text and " ." not in copy.text
        assert len(copy.text.split()) < len(ENGLISH_TEXTS[copy.source_index].split())


def test_unk_spans_point_at_the_unknown_tokens():
    for copy in augment_texts(ENGLISH_TEXTS + CHINESE_TEXTS, ["unk"], copies=2, strength=0.2):
        spans = [copy.text[start:end] for start, end in copy.changed]
        assert spans and all(set(span.replace(UNK_TOKEN, "").strip()) == set() for span in spans)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_nsample_keeps_sentences_in_order_and_skips_one_sentence_texts(language):
    texts = _texts(language)
    copies = augment_texts(texts, ["nsample"], copies=3, language=language, strength=0.4, random_state=0)
    assert copies
    for copy in copies:
        source = sentences(texts[copy.source_index], language)
        kept = [part.strip() for part in sentences(copy.text, language)]
        assert 0 < len(kept) < len(source)
        positions = [[part.strip() for part in source].index(part) for part in kept]
        assert positions == sorted(positions)
    one_sentence = "Only one sentence here." if language == "en" else "只有一句话。"
    assert augment_texts([one_sentence], ["nsample"], copies=3, language=language) == []


def test_sentences_split_on_each_languages_punctuation():
    assert sentences("One. Two! Three?\nFour") == ["One. ", "Two! ", "Three?\n", "Four"]
    assert sentences("一。二！三？四；五", "zh") == ["一。", "二！", "三？", "四；", "五"]


def test_pos_replace_takes_words_of_the_same_tag_from_the_texts():
    vocabulary = augment.pos_vocabulary(CHINESE_TEXTS)
    known = {word for words in vocabulary.values() for word in words}
    copies = augment_texts(CHINESE_TEXTS, ["pos_replace"], copies=3, language="zh", strength=0.2)
    assert copies
    for copy in copies:
        for start, end in copy.changed:
            assert any(word in copy.text[start:end] or copy.text[start:end] in word for word in known)


def test_character_ops_change_only_chinese_characters():
    source = "今天天气很好，ABC我们去公园。"
    for copy in augment_texts([source], ["char_swap", "char_delete"], copies=4, language="zh", strength=0.2):
        assert "ABC" in copy.text and "，" in copy.text
        if copy.op == "char_swap":
            assert sorted(copy.text) == sorted(source)
        else:
            assert len(copy.text) < len(source)


def test_changed_spans_of_a_replacement_and_an_insertion():
    assert changed_spans("the cat sat", "the dog sat") == ((4, 7),)
    assert changed_spans("the cat sat", "the big cat sat") == ((4, 7),)
    assert changed_spans("the cat sat", "the sat") == ()
    assert changed_spans("今天天气好", "今天天色好", "zh") == ((3, 4),)


# --- registry and refused requests --------------------------------------------------------------


def test_available_ops_per_language():
    english = {op.name for op in available_ops("en")}
    chinese = {op.name for op in available_ops("zh-CN")}
    assert {"synonym", "insert", "swap", "delete", "unk", "nsample", "backtranslate", "mlm"} == english
    assert english | {"pos_replace", "char_swap", "char_delete"} == chinese
    assert "synonym" not in {op.name for op in available_ops("multi")}
    assert OPS["mlm"].needs_model and not OPS["swap"].needs_model


@pytest.mark.parametrize(
    ("ops", "copies", "language", "model_dirs", "message"),
    [
        (["shuffle"], 2, "en", None, "unknown augmentation op 'shuffle'; choose among synonym, insert"),
        (["char_swap"], 2, "en", None, "no implementation for English"),
        ([], 2, "en", None, "choose at least one op"),
        ("swap", 2, "en", None, "must be a list of op names"),
        (["swap"], 0, "en", None, "from 1 to 20"),
        (["swap"], MAX_COPIES + 1, "en", None, "from 1 to 20"),
        (["swap"], 2.5, "en", None, "whole number"),
        (["swap"], True, "en", None, "whole number"),
        (["swap"], "3", "en", None, "whole number"),
        (["mlm"], 2, "en", None, "needs a local model"),
        (["backtranslate"], 2, "en", {"backtranslate": "/only/one"}, "two seq2seq model directories"),
        (["mlm"], 2, "en", {"mlm": "/no/such/dir"}, "does not exist"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_error(ops, copies, language, model_dirs, message):
    with pytest.raises(AugmentError, match=message.replace("(", r"\(")):
        check_request(ops, copies, language, model_dirs)
    with pytest.raises(AugmentError, match=message.replace("(", r"\(")):
        augment_texts(ENGLISH_TEXTS, ops, copies=copies, language=language, model_dirs=model_dirs)


def test_a_directory_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(AugmentError, match="not a model directory"):
        check_request(["mlm"], 2, "en", {"mlm": str(tmp_path)})


def test_bad_texts_and_strength_are_refused():
    with pytest.raises(AugmentError, match="not a single string"):
        augment_texts("one text", ["swap"], copies=1)
    with pytest.raises(AugmentError, match=r"texts\[1\] is int"):
        augment_texts(["ok", 3], ["swap"], copies=1)
    for strength in (0, 1.5, "0.1"):
        with pytest.raises(AugmentError, match="strength"):
            augment_texts(ENGLISH_TEXTS, ["swap"], copies=1, strength=strength)


def test_good_requests_pass():
    check_request(["synonym", "swap"], 4, "en")
    check_request(["pos_replace", "char_swap"], MAX_COPIES, "zh")


# --- the label-preservation filter --------------------------------------------------------------


def _sentiment(texts):
    """A 'trusted model': positive (column 1) when the text says good, else negative."""
    positive = np.array([0.9 if "good" in text else 0.2 for text in texts])
    return np.column_stack([1 - positive, positive])


def test_filter_keeps_copies_the_model_still_gives_the_source_label():
    copies = [
        Augmented(0, "swap", "good film very", ()),
        Augmented(0, "delete", "film very", ()),  # lost the word that carried the label
        Augmented(1, "swap", "bad film", ()),
        Augmented(1, "unk", "good film", ()),  # flipped
    ]
    keep = label_preserving_mask(copies, [1, 0], _sentiment)
    assert keep.tolist() == [True, False, True, False]
    strict = label_preserving_mask(copies, [1, 0], _sentiment, min_confidence=0.85)
    assert strict.tolist() == [True, False, False, False]
    assert label_preserving_mask([], [1, 0], _sentiment).shape == (0,)


def test_filter_refuses_inconsistent_inputs():
    copies = [Augmented(2, "swap", "good", ())]
    with pytest.raises(AugmentError, match="source_index is outside"):
        label_preserving_mask(copies, [1, 0], _sentiment)
    with pytest.raises(AugmentError, match="column indices"):
        label_preserving_mask([Augmented(0, "swap", "good", ())], [5], _sentiment)
    with pytest.raises(AugmentError, match="min_confidence"):
        label_preserving_mask(copies, [1, 0, 1], _sentiment, min_confidence=2)
    with pytest.raises(AugmentError, match="shape"):
        label_preserving_mask([Augmented(0, "swap", "good", ())], [1], lambda texts: np.ones(3))
