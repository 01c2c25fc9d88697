from mlcore.textnorm import content_hash, normalize_text


def test_case_width_and_spacing_do_not_make_a_new_text():
    assert normalize_text("  Hello\t\nWORLD ") == "hello world"
    full_width_abc = "\uff21\uff22\uff23"
    assert content_hash(f"{full_width_abc}  def") == content_hash("abc def")


def test_punctuation_does():
    assert content_hash("Great!") != content_hash("Great?")


def test_chinese_text_is_kept():
    assert normalize_text("今天 天气 很好") == "今天 天气 很好"
