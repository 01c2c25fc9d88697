"""`python -m mlcore.bench augment` (issue 24) on a tiny synthetic JSONL: the JSON's shape, seeds, the filter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlcore.augment_bench import best_combinations, per_class_sample, per_class_values
from mlcore.bench import main

WORDS = {
    "sport": ["goal", "match", "striker", "referee", "league", "coach", "stadium", "keeper"],
    "politics": ["vote", "parliament", "minister", "election", "policy", "senate", "budget", "party"],
}
FILLER = ["the", "a", "today", "after", "new", "big", "report", "week", "said", "city", "people", "year"]
# A small TextCNN: the bench's logic is under test, not the model.
TINY = {"tokenization": "char", "min_count": 1, "epochs": 6, "batch_size": 16, "embedding_dim": 8, "num_filters": 8}
TINY |= {"filter_sizes": [2], "max_len": 64, "learning_rate": 0.01}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 60), ("test", 30)):
        for i in range(n):
            label = ["sport", "politics"][i % 2]
            words = [*rng.choice(FILLER, size=8), *rng.choice(WORDS[label], size=3, replace=False)]
            rows.append(
                {"text": " ".join(str(word) for word in rng.permutation(words)), "label": label, "split": split}
            )
    path = tmp_path_factory.mktemp("augment") / "tiny.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run(dataset, tmp_path, *extra: str) -> dict:
    out = tmp_path / "result.json"
    argv = ["augment", "--dataset", str(dataset), "--model", "text_cnn", "--out", str(out), "--quiet"]
    argv += ["--params", json.dumps(TINY), "--threads", "1", *extra]
    assert main(argv) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_json_has_baseline_runs_best_and_uda(dataset, tmp_path):
    """Issue 24: baseline, runs by op set (with and without the filter), best and uda; means over seeds."""
    result = run(
        dataset, tmp_path, "--per-class", "6", "--ops", "swap;delete;swap+delete", "--seeds", "2",
        "--copies", "2", "--filter", "both", "--uda", "--uda-pool", "12",
    )  # fmt: skip
    assert result["seeds"] == [0, 1] and result["copies"] == 2 and result["per_class"] == 6
    assert result["complete"] is True
    assert set(result["runs"]) == {
        "swap",
        "delete",
        "swap+delete",
        "swap|filter",
        "delete|filter",
        "swap+delete|filter",
    }
    for block in [result["baseline"], result["uda"], *result["runs"].values()]:
        assert len(block["per_seed"]) == 2
        assert block["macro_f1"] == pytest.approx(np.mean(block["per_seed"]))
        assert block["macro_f1_std"] == pytest.approx(np.std(block["per_seed"]))
    assert result["best"] in result["runs"]
    assert result["runs"][result["best"]]["macro_f1"] == max(run["macro_f1"] for run in result["runs"].values())
    assert result["by_per_class"]["6"]["baseline"] == result["baseline"]
    assert result["n_labeled_per_seed"] == [12, 12]
    assert result["uda"]["ops"] == "+".join(result["runs"][result["best"]]["ops"])
    assert 0 < result["uda"]["n_pairs"] <= 12


def test_the_filter_keeps_a_share_of_the_same_copies(dataset, tmp_path):
    """Issue 24: filtered runs keep a subset of the very copies the unfiltered run trains on."""
    result = run(dataset, tmp_path, "--per-class", "6", "--ops", "unk", "--seeds", "1", "--copies", "3")
    plain, filtered = result["runs"]["unk"], result["runs"]["unk|filter"]
    assert plain["filter"] is False and plain["kept_fraction"] == 1.0
    assert filtered["filter"] is True and 0.0 <= filtered["kept_fraction"] <= 1.0
    assert filtered["n_augmented"] == pytest.approx(plain["n_augmented"] * filtered["kept_fraction"])
    assert plain["n_augmented"] > 12  # up to 3 copies of each of the 12 labeled texts


def test_seeds_draw_different_labels_and_give_a_spread(dataset, tmp_path):
    result = run(
        dataset, tmp_path, "--per-class", "3,5", "--ops", "swap", "--seeds", "3", "--filter", "off",
        "--filter-model", "tfidf",
    )  # fmt: skip
    assert set(result["by_per_class"]) == {"3", "5"} and "baseline" not in result
    assert result["per_class"] == [3, 5]
    for block in result["by_per_class"].values():
        assert len(set(block["baseline"]["per_seed"])) > 1 or block["baseline"]["macro_f1_std"] == 0
        assert set(block["runs"]) == {"swap"}
    labels = ["a"] * 10 + ["b"] * 10
    draws = {tuple(per_class_sample(labels, 3, np.random.default_rng(seed))) for seed in range(3)}
    assert len(draws) == 3


def test_singles_plus_best_adds_combinations_of_the_top_singles():
    singles = {"swap": {"macro_f1": 0.7}, "delete": {"macro_f1": 0.8}, "unk": {"macro_f1": 0.75}, "x": {"macro_f1": 0}}
    assert best_combinations(singles) == [("delete", "unk"), ("delete", "unk", "swap")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ops", "teleport", "--per-class", "5"], "unknown op 'teleport'"),
        (["--ops", "swap", "--per-class", "0"], "--per-class takes positive integers"),
        (["--ops", "swap", "--per-class", "5", "--copies", "0"], "--copies must be from 1"),
        (["--ops", "swap", "--per-class", "5", "--params", "[1]"], "--params must be a JSON object"),
        (["--ops", "swap", "--per-class", "5", "--params", '{"epochs": 0}'], "epochs must be an integer"),
    ],
)
def test_bad_arguments_fail_with_a_message_and_write_nothing(dataset, tmp_path, capsys, extra, message):
    out = tmp_path / "result.json"
    argv = ["augment", "--dataset", str(dataset), "--model", "text_cnn", "--out", str(out), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_uda_needs_a_model_with_the_consistency_option(dataset, tmp_path, capsys):
    argv = ["augment", "--dataset", str(dataset), "--model", "head", "--out", str(tmp_path / "r.json")]
    assert main([*argv, "--ops", "swap", "--per-class", "5", "--uda"]) == 2
    assert "--uda needs --model text_cnn or teacher" in capsys.readouterr().err


def test_per_class_values_are_deduplicated_in_order():
    assert per_class_values("20,10,20") == [20, 10]
