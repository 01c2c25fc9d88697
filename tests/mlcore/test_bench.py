"""`python -m mlcore.bench cluster` end to end on a tiny real-text dataset (real encoder)."""

import json

import numpy as np
import pytest

from mlcore import bench

TOPICS = {
    "sport": [
        "The football team won the league match with a late goal.",
        "The striker scored twice in the cup final.",
        "The tennis player won the championship in five sets.",
        "The goalkeeper saved a penalty in the last minute of the game.",
        "The coach picked a new squad for the World Cup qualifiers.",
        "The basketball team lost their home game by ten points.",
        "The marathon runner broke the course record this morning.",
        "Fans cheered as the club lifted the trophy at the stadium.",
        "The cricket captain scored a century against Australia.",
        "The boxer won the heavyweight title fight on points.",
        "The cyclist took the yellow jersey in the mountain stage.",
        "The rugby team beat Wales in the final minutes of the match.",
        "The midfielder signed a three-year contract with the club.",
    ],
    "finance": [
        "Shares fell sharply on the stock market after weak earnings.",
        "The central bank raised interest rates by a quarter point.",
        "Inflation rose to its highest level in ten years.",
        "Investors sold government bonds as yields climbed.",
        "The bank reported record quarterly profits.",
        "Oil prices pushed the stock index lower on Monday.",
        "The company's shares jumped after a takeover bid.",
        "Mortgage lending slowed as borrowing costs increased.",
        "The currency weakened against the dollar after the rate cut.",
        "Pension funds moved their money into safer assets.",
        "The firm's revenue beat analysts' forecasts this quarter.",
        "Unemployment figures worried investors on Wall Street.",
        "The budget deficit widened as tax receipts fell.",
    ],
    "cooking": [
        "Chop the onions and fry them in butter until golden.",
        "Bake the bread at two hundred degrees for forty minutes.",
        "Whisk the eggs with sugar before folding in the flour.",
        "Season the soup with salt, pepper and fresh herbs.",
        "Simmer the tomato sauce with garlic for an hour.",
        "Roast the chicken with lemon and rosemary.",
        "Knead the pizza dough and let it rise overnight.",
        "Grill the vegetables and drizzle them with olive oil.",
        "Stir the risotto slowly while adding warm stock.",
        "Melt the chocolate and pour it over the cake.",
        "Marinate the beef in soy sauce and ginger.",
        "Peel the potatoes and boil them until soft for the mash.",
        "Add cinnamon and apples to the pie filling.",
    ],
}


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "tiny.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for label, texts in TOPICS.items():
            for i, text in enumerate(texts):
                split = "test" if i == 0 else "train"
                file.write(json.dumps({"text": text, "label": label, "split": split}) + "\n")
    return path


def run_cluster(dataset, out, cache_dir, *extra: str) -> dict:
    status = bench.main(
        ["--quiet", "cluster", "--dataset", str(dataset), "--out", str(out), "--cache-dir", str(cache_dir), *extra]
    )
    assert status == 0
    return json.loads(out.read_text())


def test_cluster_benchmark_end_to_end_and_cached_second_run(dataset, tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    first = run_cluster(dataset, tmp_path / "first.json", cache_dir, "--k-max", "6")
    assert first["n_items"] == 36
    assert first["k"] == 3
    assert first["ari"] > 0.8
    assert {"nmi", "silhouette_scores", "embed_seconds", "cluster_seconds", "keywords", "encoder"} <= set(first)
    assert all(len(terms) <= 8 for terms in first["keywords"].values())
    assert len(list(cache_dir.glob("*.npy"))) == 1
    assert "ari=" in capsys.readouterr().out

    second = run_cluster(dataset, tmp_path / "second.json", cache_dir, "--k-max", "6")
    assert second["embeddings_from_cache"] and not first["embeddings_from_cache"]
    assert second["ari"] == first["ari"]


def test_given_k_and_limit(dataset, tmp_path):
    result = run_cluster(dataset, tmp_path / "out.json", tmp_path / "cache", "--k", "2", "--limit", "20")
    assert result["k"] == 2
    assert result["n_items"] == 20
    assert result["silhouette_scores"] == {}


def test_cache_key_depends_on_texts_order_and_encoder_version():
    key = bench.embedding_cache_key(["ab", "c"], "v1")
    assert key == bench.embedding_cache_key(["ab", "c"], "v1")
    assert key != bench.embedding_cache_key(["a", "bc"], "v1")
    assert key != bench.embedding_cache_key(["c", "ab"], "v1")
    assert key != bench.embedding_cache_key(["ab", "c"], "v2")


def test_missing_split_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "only_test.jsonl"
    path.write_text(json.dumps({"text": "x", "label": "a", "split": "test"}) + "\n")
    status = bench.main(["cluster", "--dataset", str(path), "--out", str(tmp_path / "o.json")])
    assert status == 2
    assert "no rows with split='train'" in capsys.readouterr().err


def test_subcommands_are_registered():
    assert "cluster" in bench.SUBCOMMANDS
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args([])
    np.testing.assert_equal(bench.build_parser().parse_args(["cluster", "--dataset", "d", "--out", "o"]).k, None)
