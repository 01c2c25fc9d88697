import time

import numpy as np
import pytest

from mlcore.rules import (
    BUDGET_EXCEEDED,
    EMPTY_PATTERN,
    MATCHES_EMPTY_STRING,
    RuleError,
    RuleSpec,
    compile_rule,
    match_texts,
    parse_keywords,
    pattern_warnings,
    rule_stats,
    select_seed_candidates,
    texts_are_mostly_cjk,
)


def keywords(pattern, **options):
    return compile_rule(RuleSpec(pattern, **options))


def regex_rule(pattern, **options):
    return compile_rule(RuleSpec(pattern, is_regex=True, **options))


# A pattern that really backtracks exponentially in the `regex` module ((a+)+$ and (x+x+)+y are
# optimised there and fail fast): 40 a's then a mismatch take far longer than a second without a timeout.
CATASTROPHIC = r"(a|aa)+$"
CATASTROPHIC_TEXT = "a" * 40 + "b"


# --- keywords -------------------------------------------------------------------------------------------


def test_keywords_are_split_on_commas_and_newlines_and_cleaned():
    parsed = parse_keywords("refund, money back\n  cancel  order \n\n,refund,")
    assert parsed == ("refund", "money back", "cancel order")
    assert parse_keywords("股市\uff0c基金、债券") == ("股市", "基金", "债券")  # full-width and ideographic commas


@pytest.mark.parametrize("pattern", ["refund, money back", "refund\nmoney back", "money back,\n refund"])
def test_any_keyword_of_a_list_matches(pattern):
    rule = keywords(pattern)
    assert rule.search("I want a refund now")
    assert rule.search("Money  back, please")  # any whitespace run between a keyword's words
    assert not rule.search("I want my money")


def test_whole_word_keywords_do_not_match_inside_longer_words():
    assert not keywords("cat").search("a category of items")
    assert keywords("cat").search("the cat sat.")
    assert keywords("cat").search("Cat!")
    assert keywords("cat", whole_word=False).search("a category of items")


def test_whole_word_ignores_boundaries_at_keyword_ends_that_are_not_word_characters():
    assert keywords("C++").search("I write C++ daily")
    assert not keywords("C++").search("I write AC++ daily")


def test_case_options():
    assert keywords("Refund").search("REFUND please")
    assert not keywords("Refund", case_sensitive=True).search("REFUND please")
    assert keywords("Refund", case_sensitive=True).search("Refund please")


def test_chinese_keywords_match_as_substrings_even_with_whole_word():
    rule = keywords("股市")
    assert rule.spec.whole_word
    assert rule.search("今天股市大涨")
    assert not rule.search("今天天气很好")
    assert rule.spans("今天股市大涨 股市万岁") == [(2, 4), (7, 9)]


def test_latin_keyword_matches_next_to_chinese_characters_but_not_inside_latin_words():
    rule = keywords("iPhone")
    assert rule.search("我买了iPhone手机")
    assert not rule.search("我买了iPhones")


def test_spans_prefer_the_longest_keyword_and_respect_the_limit():
    rule = keywords("money, money back")
    text = "money back or money"
    assert rule.spans(text) == [(0, 10), (14, 19)]
    assert rule.spans(text, limit=1) == [(0, 10)]
    assert rule.spans(text, limit=0) == []
    assert rule.spans("nothing here") == []


def test_keywords_with_regex_metacharacters_are_literal():
    rule = keywords("a.b, (x)", whole_word=False)
    assert rule.search("see (x) here")
    assert rule.search("a.b")
    assert not rule.search("axb")


def test_empty_keyword_patterns_are_refused():
    for pattern in ["", "   ", " , ,\n"]:
        with pytest.raises(RuleError, match=EMPTY_PATTERN):
            keywords(pattern)


def test_too_long_a_pattern_is_refused():
    with pytest.raises(RuleError, match="limit is 2,000"):
        keywords("x" * 2_001)


def test_keyword_rule_is_fast_on_20k_texts():
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"word{i}" for i in range(500)] + ["refund", "broken", "late", "money", "back"])
    texts = [" ".join(words) for words in rng.choice(vocabulary, size=(20_000, 30))]
    rule = keywords("refund, money back, cancel, broken, late delivery")
    started = time.perf_counter()
    mask = match_texts(rule, texts)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert mask.shape == (20_000,) and mask.dtype == bool
    assert 0 < mask.sum() < 20_000


# --- regexes --------------------------------------------------------------------------------------------


def test_regex_with_groups_matches_and_spans_the_whole_match():
    rule = regex_rule(r"(refund|return)(ed|ing)?\s+(\d+)")
    assert rule.search("We refunded 30 dollars")
    assert not rule.search("We refunded nothing")
    assert rule.spans("Returned 2, refund 5") == [(0, 10), (12, 20)]


def test_regex_case_options():
    assert regex_rule(r"\bREFUND\b").search("a refund")
    assert not regex_rule(r"\bREFUND\b", case_sensitive=True).search("a refund")


def test_invalid_regex_message_names_the_problem_and_position():
    with pytest.raises(RuleError, match=r"^Invalid regular expression: missing \) at position 4\.$"):
        regex_rule("(abc")
    with pytest.raises(RuleError, match="nothing to repeat at position 0"):
        regex_rule("*a")


@pytest.mark.parametrize("pattern", ["a*", "x|", "^$", r"\b", "(?:ab)?", "(?=x)"])
def test_patterns_that_can_match_the_empty_string_are_refused(pattern):
    with pytest.raises(RuleError, match=MATCHES_EMPTY_STRING):
        regex_rule(pattern)


@pytest.mark.parametrize("pattern", ["x{99999999}", "(?:x{1000}){1000}", "(?:(?:ab){100}){1000}", "a{100001,}"])
def test_repeat_counts_that_would_exhaust_memory_are_refused_before_compiling(pattern):
    started = time.perf_counter()
    with pytest.raises(RuleError, match="repeat counts are too large"):
        regex_rule(pattern)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("pattern", [r"\d{3}-\d{4}", r"x{1,50}", r"[{}]x", r"\p{Han}{2}", r"[[:alpha:]]{2,}"])
def test_ordinary_counted_repeats_compile(pattern):
    regex_rule(pattern)


def test_deeply_nested_groups_give_a_clear_error():
    with pytest.raises(RuleError, match="nests its groups too deeply"):
        regex_rule("(" * 990 + "a" + ")" * 990)


def test_catastrophic_pattern_raises_within_a_second_and_names_the_item():
    rule = regex_rule(CATASTROPHIC)
    texts = ["aaa", "hello", CATASTROPHIC_TEXT, "aa"]
    started = time.perf_counter()
    with pytest.raises(RuleError, match=r"too long on item #2 \(catastrophic backtracking\?\)") as caught:
        match_texts(rule, texts)
    assert time.perf_counter() - started < 1.0
    assert caught.value.item_index == 2


def test_single_text_search_and_spans_are_bounded_too():
    rule = regex_rule(CATASTROPHIC)
    for call in (rule.search, rule.spans):
        started = time.perf_counter()
        with pytest.raises(RuleError, match="takes too long on this text"):
            call(CATASTROPHIC_TEXT)
        assert time.perf_counter() - started < 1.0


def test_regex_mask_on_benign_texts():
    rule = regex_rule(CATASTROPHIC)
    assert match_texts(rule, ["aaa", "aab", "", "xa"]).tolist() == [True, False, False, True]


def test_overall_budget_exceeded_raises():
    rule = keywords("refund")
    with pytest.raises(RuleError, match=r"longer than the 0\.0001 s budget"):
        match_texts(rule, ["no match here"] * 200_000, budget_seconds=0.0001)


def test_budget_cuts_a_slow_regex_short_and_says_so():
    rule = regex_rule(CATASTROPHIC)
    started = time.perf_counter()
    with pytest.raises(RuleError, match="budget"):
        match_texts(rule, [CATASTROPHIC_TEXT] * 3, per_text_timeout=5.0, budget_seconds=0.1)
    assert time.perf_counter() - started < 1.0


def test_budget_message_is_a_template():
    assert "budget" in BUDGET_EXCEEDED.format(budget=2.0, done=1, total=2)


def test_match_texts_validates_its_inputs():
    rule = keywords("refund")
    assert match_texts(rule, []).shape == (0,)
    with pytest.raises(ValueError, match="per_text_timeout"):
        match_texts(rule, ["x"], per_text_timeout=0)
    with pytest.raises(TypeError, match="item #1"):
        match_texts(rule, ["x", None])
    assert match_texts(rule, ["refund"] * 3, budget_seconds=None).all()


# --- stats ----------------------------------------------------------------------------------------------

MASK = np.array([True, True, True, False, False, True])
OTHERS = {
    "same label": ("refund", np.array([True, False, False, False, True, True])),
    "other label": ("shipping", np.array([False, True, True, True, False, False])),
}


def test_stats_coverage_overlap_and_conflicts():
    stats = rule_stats("mine", "refund", MASK, OTHERS, [None] * 6)
    assert stats.matched == 4
    assert stats.coverage == pytest.approx(4 / 6)
    assert stats.overlap == {"same label": 2, "other label": 2}
    assert stats.conflicts == {"other label": 2}


def test_stats_ignore_the_rule_itself_among_others():
    stats = rule_stats("mine", "refund", MASK, {**OTHERS, "mine": ("refund", MASK)}, [None] * 6)
    assert "mine" not in stats.overlap


def test_precision_against_single_labels():
    labels = ["refund", "shipping", None, "refund", None, "refund"]
    stats = rule_stats("mine", "refund", MASK, {}, labels)
    assert stats.labeled_matches == 3
    assert stats.precision == pytest.approx(2 / 3)


def test_precision_against_label_sets():
    labels = [frozenset({"refund", "angry"}), frozenset({"shipping"}), frozenset(), None, None, None]
    stats = rule_stats("mine", "refund", MASK, {}, labels)
    assert stats.labeled_matches == 3  # an empty set is a human saying that no label applies
    assert stats.precision == pytest.approx(1 / 3)


def test_precision_is_none_without_labeled_matches():
    labels = [None, None, None, "refund", "refund", None]
    stats = rule_stats("mine", "refund", MASK, {}, labels)
    assert stats.precision is None
    assert stats.labeled_matches == 0


def test_stats_on_no_items():
    stats = rule_stats("mine", "refund", np.zeros(0, dtype=bool), {}, [])
    assert (stats.coverage, stats.matched, stats.precision) == (0.0, 0, None)


def test_stats_validate_shapes():
    with pytest.raises(ValueError, match="human_labels has 2 entries"):
        rule_stats("mine", "refund", MASK, {}, [None, None])
    with pytest.raises(ValueError, match="boolean"):
        rule_stats("mine", "refund", np.array([1, 0]), {}, [None, None])
    with pytest.raises(ValueError, match="mask of rule 'short'"):
        rule_stats("mine", "refund", MASK, {"short": ("x", np.array([True]))}, [None] * 6)


# --- seed candidates ------------------------------------------------------------------------------------


def test_seed_candidates_are_reproducible_sorted_matched_and_limited():
    mask = np.zeros(1_000, dtype=bool)
    mask[::3] = True
    first = select_seed_candidates(mask, limit=50, random_state=7)
    assert len(first) == 50
    assert np.all(np.diff(first) > 0)
    assert mask[first].all()
    assert np.array_equal(first, select_seed_candidates(mask, limit=50, random_state=7))
    assert not np.array_equal(first, select_seed_candidates(mask, limit=50, random_state=8))


def test_seed_candidates_accept_a_generator_and_leave_global_random_alone():
    mask = np.ones(100, dtype=bool)
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    picks = select_seed_candidates(mask, limit=10, random_state=np.random.default_rng(3))
    assert np.array_equal(picks, select_seed_candidates(mask, limit=10, random_state=np.random.default_rng(3)))
    assert np.array_equal(before, np.random.get_state()[1])


def test_seed_candidates_return_all_when_fewer_than_limit_and_respect_exclude():
    mask = np.array([True, False, True, True, False, True])
    assert select_seed_candidates(mask, limit=10, random_state=0).tolist() == [0, 2, 3, 5]
    exclude_mask = np.array([False, False, True, False, False, True])
    assert select_seed_candidates(mask, limit=10, random_state=0, exclude=exclude_mask).tolist() == [0, 3]
    assert select_seed_candidates(mask, limit=10, random_state=0, exclude=np.array([0, 5])).tolist() == [2, 3]
    assert select_seed_candidates(mask, limit=0, random_state=0).tolist() == []


def test_seed_candidates_validate_inputs():
    mask = np.array([True, False])
    with pytest.raises(ValueError, match="limit"):
        select_seed_candidates(mask, limit=-1, random_state=0)
    with pytest.raises(ValueError, match="exclude has 3 entries"):
        select_seed_candidates(mask, limit=1, random_state=0, exclude=np.array([True, True, True]))
    with pytest.raises(ValueError, match="outside"):
        select_seed_candidates(mask, limit=1, random_state=0, exclude=np.array([2]))


# --- warnings for patterns that fail on CJK text (issue 22) ----------------------------------------------------

SENTENCE = "这个价格太贵了，质量也一般"


def regex_warnings(pattern: str, language: str = "zh", **options) -> list[str]:
    return pattern_warnings(pattern, is_regex=True, language=language, **options)


def test_word_boundary_fails_inside_chinese_and_is_warned_about():
    assert not compile_rule(RuleSpec(r"\b价格\b", is_regex=True)).search(SENTENCE)  # the trap itself
    (warning,) = regex_warnings(r"\b价格\b")
    assert "\\b" in warning and "Leave \\b out" in warning
    assert compile_rule(RuleSpec("价格", is_regex=True)).search(SENTENCE)  # what it says to write instead


def test_word_boundary_around_a_latin_word_fails_next_to_chinese_too():
    assert not compile_rule(RuleSpec(r"\biPhone\b", is_regex=True)).search("我买了iPhone手机")
    suggested = compile_rule(RuleSpec("(?<![A-Za-z0-9])iPhone(?![A-Za-z0-9])", is_regex=True))
    assert suggested.search("我买了iPhone手机") and not suggested.search("我买了iPhones")
    assert "(?<![A-Za-z0-9])iPhone(?![A-Za-z0-9])" in regex_warnings(r"\biPhone\b")[0]


def test_non_word_boundary():
    assert not compile_rule(RuleSpec(r"\B价格", is_regex=True)).search("价格很贵")
    assert any("\\B" in warning for warning in regex_warnings(r"\B价格"))


@pytest.mark.parametrize("pattern", [r"价格\w+", r"\w*贵", r"\S+贵", r"\w{2,}"])
def test_open_ended_word_runs(pattern):
    assert any("whole clause" in warning for warning in regex_warnings(pattern))


def test_bounded_runs_are_fine():
    assert regex_warnings(r"价格\w{1,3}") == []
    assert regex_warnings(r"价格.{0,5}贵") == []
    assert regex_warnings(r"\p{Han}+") == []


@pytest.mark.parametrize("pattern", [r"[a-z]+价格", r"[A-Za-z0-9]{2,}"])
def test_latin_only_classes(pattern):
    assert any("Latin letters only" in warning for warning in regex_warnings(pattern))


@pytest.mark.parametrize("pattern", [r"[^a-z]+价", r"[a-z\u4e00-\u9fff]", r"[\w]"])
def test_classes_that_reach_chinese_are_fine(pattern):
    assert not any("Latin letters only" in warning for warning in regex_warnings(pattern))


@pytest.mark.parametrize(
    ("pattern", "suggestion"), [("价格 太贵", "价格太贵 or 价格.{0,5}太贵"), (r"价格\s+太贵", "价格太贵")]
)
def test_whitespace_between_chinese_words(pattern, suggestion):
    (warning,) = regex_warnings(pattern)
    assert "whitespace between Chinese words" in warning and suggestion in warning


def test_spaces_around_a_bar():
    (warning,) = regex_warnings("价格 | 质量")
    assert "价格|质量" in warning


def test_full_width_operators_are_warned_about_in_any_project():
    (warning,) = regex_warnings("价格｜质量", language="en")
    assert "full-width “｜”" in warning and "“|”" in warning
    assert compile_rule(RuleSpec("价格｜质量", is_regex=True)).search("价格｜质量")  # literal, as the warning says


def test_cjk_warnings_follow_the_language_or_the_texts():
    assert regex_warnings(r"\b价格\b", language="en") == []
    assert regex_warnings(r"\b价格\b", language="en", sample_texts=[SENTENCE] * 3)  # mostly CJK texts
    assert regex_warnings(r"\b价格\b", language="zh-CN")
    assert regex_warnings(r"\b价格\b", language="Chinese")
    assert regex_warnings(r"\bcat\b", language="multi")  # multilingual, texts unknown: warn
    assert regex_warnings(r"\bcat\b", language="multi", sample_texts=["the cat sat"]) == []
    assert regex_warnings(r"\bcat\b", language="en") == []


def test_texts_are_mostly_cjk():
    assert texts_are_mostly_cjk([SENTENCE, "我买了iPhone手机"])
    assert not texts_are_mostly_cjk(["Markets fall", "A goal, 价格"])
    assert not texts_are_mostly_cjk(["1234", ""])


def test_keyword_lists_on_chinese():
    (warning,) = pattern_warnings("价格 质量 服务", is_regex=False, language="zh")
    assert "价格，质量，服务" in warning
    assert pattern_warnings("价格，质量、服务", is_regex=False, language="zh") == []
    assert pattern_warnings("money back, refund", is_regex=False, language="zh") == []  # a Latin phrase
    (separator,) = pattern_warnings("价格；质量", is_regex=False, language="en")
    assert "“；” does not separate keywords" in separator


def test_warnings_never_raise_for_a_bad_or_empty_pattern():
    assert isinstance(regex_warnings("(价格"), list)
    assert pattern_warnings("", is_regex=True, language="zh") == []


def test_chinese_keywords_match_inside_unsegmented_text():
    """Keyword rules are substring matches on Chinese (no jieba): whole_word only guards Latin ends."""
    rule = keywords("价格，质量")  # full-width comma splits the list
    assert rule.keywords == ("价格", "质量")
    assert rule.search(SENTENCE) and rule.search("质量差")
    assert keywords("价").search("价格")  # no segmentation: a one-character keyword matches inside a word
    assert keywords("iPhone").search("我买了iPhone手机") and not keywords("iPhone").search("iPhones")
