"""Noisy-label detectors: the shared contract, out-of-fold honesty, and detection on seeded blobs."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore import noise
from mlcore.noise import (
    DEFAULT_DETECTORS,
    DETECTORS,
    NoiseReport,
    NoiseSettings,
    audit_evidence,
    calibrated_probabilities,
    detect_label_noise,
    estimated_issue_count,
    gather_evidence,
    get_detector,
    neighbour_label_distribution,
    out_of_fold_probabilities,
    out_of_fold_word_probabilities,
    word_features,
    word_neighbour_distribution,
    wrong_label_probabilities,
)
from mlcore.noise_bench import (
    calibration_errors,
    cleaned_training,
    expected_calibration_error,
    flag_scores,
    flip_labels,
    recovered_share,
    reliability,
)

N_CLASSES = 5


def blobs(n_per_class: int = 80, dim: int = 16, spread: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs, one per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, dim)) * 3
    labels = np.repeat(np.arange(N_CLASSES), n_per_class)
    features = centres[labels] + rng.normal(scale=spread, size=(len(labels), dim))
    return features.astype(np.float32), labels


def class_texts(labels: np.ndarray, seed: int = 0, *, topical: int = 4) -> list[str]:
    """Texts of `topical` words of their class's own vocabulary among shared filler words."""
    rng = np.random.default_rng(seed)
    vocabulary = [[f"topic{label}word{number}" for number in range(12)] for label in range(N_CLASSES)]
    filler = [f"common{number}" for number in range(30)]
    return [" ".join([*rng.choice(vocabulary[label], size=topical), *rng.choice(filler, size=8)]) for label in labels]


@pytest.fixture(scope="module")
def noisy_blobs():
    features, labels = blobs()
    noisy, flipped = flip_labels(labels, 0.1, N_CLASSES, np.random.default_rng(0))
    rule_hits = np.zeros(len(labels), dtype=bool)
    rule_hits[:3] = True
    words = word_features(class_texts(labels))
    evidence = gather_evidence(features, noisy, N_CLASSES, words=words, rule_hits=rule_hits)
    return features, labels, noisy, flipped, evidence


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_keeps_the_contract(name, noisy_blobs):
    *_, noisy, _flipped, evidence = noisy_blobs
    result = get_detector(name)(evidence, NoiseSettings())
    n = len(noisy)
    assert result.name == name
    assert result.scores.shape == result.flags.shape == result.suggested.shape == (n,)
    assert result.flags.dtype == bool
    assert np.all((result.scores >= 0) & (result.scores <= 1))
    assert np.all((result.suggested >= 0) & (result.suggested < N_CLASSES))


def test_the_ensemble_finds_flipped_labels_and_suggests_the_true_ones(noisy_blobs):
    _features, labels, _noisy, flipped, evidence = noisy_blobs
    report = detect_label_noise(evidence)
    # Rows 0-2 are blacklist rule hits, flagged whether their labels are right or not.
    scores = flag_scores(report.flags[3:], flipped[3:])
    assert scores["precision"] > 0.9 and scores["recall"] > 0.9, scores
    caught = report.flags & flipped
    assert np.mean(report.suggested[caught] == labels[caught]) > 0.95
    # The combined score ranks the flipped items above the rest.
    assert report.scores[flipped].mean() > 0.7 > 0.2 > report.scores[~flipped].mean()


def test_the_ensemble_reports_votes_and_which_detectors_agree(noisy_blobs):
    *_, evidence = noisy_blobs
    report = detect_label_noise(evidence)
    assert set(report.detectors) == set(DEFAULT_DETECTORS)
    for row in range(len(report.votes)):
        agreeing = [name for name, result in report.detectors.items() if result.flags[row]]
        assert report.agreeing[row] == agreeing and report.votes[row] == len(agreeing)
    assert report.flags[:3].all()  # a blacklist rule hit is always worth a look
    assert "rules" in report.agreeing[0]


def test_the_rules_and_words_detectors_only_run_when_they_have_their_input():
    features, labels = blobs()
    report = detect_label_noise(gather_evidence(features, labels, N_CLASSES))
    assert set(report.detectors) == {"kfold", "confident_learning", "deep_knn"}


def test_the_bag_of_words_view_finds_flips_the_embeddings_cannot_see():
    # Embeddings that say nothing (one blob for all classes) and texts that say everything: the
    # words view alone carries the evidence, and the ensemble follows it.
    labels = np.repeat(np.arange(N_CLASSES), 60)
    features = np.random.default_rng(4).normal(size=(len(labels), 8)).astype(np.float32)
    noisy, flipped = flip_labels(labels, 0.1, N_CLASSES, np.random.default_rng(4))
    words = word_features(class_texts(labels, seed=4))
    without = detect_label_noise(gather_evidence(features, noisy, N_CLASSES))
    report = detect_label_noise(gather_evidence(features, noisy, N_CLASSES, words=words))
    assert flag_scores(report.flags, flipped)["f1"] > 0.8 > 0.4 > flag_scores(without.flags, flipped)["f1"]
    assert flag_scores(report.detectors["kfold_words"].flags, flipped)["recall"] > 0.9
    assert flag_scores(report.detectors["knn_words"].flags, flipped)["recall"] > 0.9
    caught = report.flags & flipped
    assert np.mean(report.suggested[caught] == labels[caught]) > 0.9


def test_word_features_out_of_fold_and_in_chinese():
    # Out of fold: words unique to one item (its id) cannot vouch for its own label.
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=120)
    texts = [f"item{row} shared filler text" for row in range(120)]
    words = word_features(texts + texts)  # each id twice, so that min_df keeps it
    probabilities = out_of_fold_word_probabilities(words[:120], labels, 2)
    assert 0.3 < np.mean(probabilities.argmax(axis=1) == labels) < 0.7
    chinese = word_features(["今天股市大涨投资者很高兴", "球队赢得了冠军比赛", "股市下跌投资者担心"], language="zh")
    assert chinese is not None and chinese.shape[0] == 3 and chinese.shape[1] >= 4
    # 不 有点 很 贵 are kept (they carry sentiment; the topic stop list drops them): 11 words, not 6.
    sentiment = word_features(["质量不好，有点贵", "质量很好，不贵", "有点失望，不推荐", "物流很快"], language="zh")
    assert sentiment is not None and sentiment.shape[1] == 11
    assert word_features(["", "  "]) is None  # no word at all: no view, not an error


def test_word_neighbours_never_include_the_item_and_wordless_items_get_the_prior():
    words = word_features(["alpha beta", "alpha beta", "gamma delta", "gamma delta", ""])
    labels = np.array([0, 1, 1, 1, 0])
    distribution = word_neighbour_distribution(words, labels, 2, neighbours=1)
    assert distribution[0].argmax() == 1 and distribution[1].argmax() == 0  # each other's twin, never itself
    assert np.allclose(distribution[4], [0.4, 0.6])  # no word to compare: the labels' prior, no opinion
    assert np.allclose(distribution.sum(axis=1), 1.0)
    audit = word_neighbour_distribution(words[:4], labels[:4], 2, neighbours=2, queries=words[2:3])
    assert audit[0].argmax() == 1  # a query may match itself: it is not among the labeled items


def test_out_of_fold_means_no_item_is_judged_by_a_model_that_saw_it():
    # Pure noise with more dimensions than items: a model that trained on an item memorises its
    # label, so in-sample predictions would be ~100% right. Out of fold they are at chance.
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 400)).astype(np.float32)
    labels = rng.integers(0, 2, size=200)
    probabilities = out_of_fold_probabilities(features, labels, 2, settings=NoiseSettings(C=1e4))
    accuracy = np.mean(probabilities.argmax(axis=1) == labels)
    assert 0.35 < accuracy < 0.65


def test_an_items_own_label_never_votes_for_itself_in_deep_knn():
    features = np.array([[0.0, 1.0], [0.0, 1.01], [1.0, 0.0], [1.0, 0.01]], dtype=np.float32)
    labels = np.array([0, 1, 1, 1])
    distribution = neighbour_label_distribution(features, labels, 2, neighbours=1)
    # Row 0's only neighbour is row 1 (label 1); row 1's is row 0 (label 0).
    assert distribution[0].argmax() == 1 and distribution[1].argmax() == 0
    assert np.allclose(distribution.sum(axis=1), 1.0)


def test_an_audit_judges_held_out_items_with_models_of_the_training_items():
    features, labels = blobs(seed=2)
    test_features, test_labels = blobs(n_per_class=20, seed=2)  # same centres: the same classes
    wrong = test_labels.copy()
    wrong[:10] = (wrong[:10] + 1) % N_CLASSES
    evidence = audit_evidence(features, labels, test_features, wrong, N_CLASSES)
    report = detect_label_noise(evidence)
    assert report.flags[:10].all() and report.flags[10:].mean() < 0.05
    assert np.all(report.suggested[:10] == test_labels[:10])
    words = word_features(class_texts(np.concatenate([labels, test_labels]), seed=2))
    with_words = audit_evidence(
        features, labels, test_features, wrong, N_CLASSES, train_words=words[: len(labels)], words=words[len(labels) :]
    )
    assert (
        with_words.word_probabilities.shape == with_words.word_neighbour_probabilities.shape == (len(wrong), N_CLASSES)
    )
    assert detect_label_noise(with_words).flags[:10].all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f, y: gather_evidence(f, y[:-1], N_CLASSES), "one entry per row"),
        (lambda f, y: gather_evidence(f, y.astype(float), N_CLASSES), "integer class indices"),
        (lambda f, y: gather_evidence(f, y + 10, N_CLASSES), "must lie in 0..4"),
        (lambda f, y: gather_evidence(f[0], y, N_CLASSES), "2-d array"),
        (lambda f, y: gather_evidence(f, y, N_CLASSES, rule_hits=np.ones(3)), "rule_hits must have one entry"),
        (lambda f, y: gather_evidence(f, y, N_CLASSES, words=np.ones((len(y), 3))), "2-d sparse matrix"),
        (lambda f, y: gather_evidence(f, y, N_CLASSES, words=word_features(["a bc", "bc de"])), "one row per item"),
        (lambda f, y: NoiseSettings(word_alpha=0), "word_alpha must be > 0"),
        (lambda f, y: DETECTORS["kfold_words"](gather_evidence(f, y, N_CLASSES), NoiseSettings()), "kfold_words needs"),
        (lambda f, y: DETECTORS["knn_words"](gather_evidence(f, y, N_CLASSES), NoiseSettings()), "knn_words needs"),
        (lambda f, y: NoiseSettings(filter_by="best"), "Unknown filter_by 'best'"),
        (lambda f, y: NoiseSettings(folds=1), "folds must be at least 2"),
        (lambda f, y: get_detector("magic"), "Unknown detector 'magic': choose one of"),
    ],
)
def test_bad_inputs_get_clear_errors(call, message):
    features, labels = blobs(n_per_class=10)
    with pytest.raises(ValueError, match=message):
        call(features, labels)


def test_symmetric_flips_change_exactly_the_share_asked_for():
    labels = np.repeat(np.arange(4), 50)
    noisy, flipped = flip_labels(labels, 0.2, 4, np.random.default_rng(3))
    assert (
        flipped.sum() == 40
        and np.all(noisy[flipped] != labels[flipped])
        and np.all(noisy[~flipped] == labels[~flipped])
    )
    assert len(set(noisy[flipped] - labels[flipped])) > 1  # not one fixed permutation


def test_confusable_flips_go_to_the_most_confused_other_class():
    labels = np.array([0, 1, 2, 0])
    confusion = np.array([[0.9, 0.02, 0.08], [0.1, 0.5, 0.4], [0.3, 0.6, 0.1], [0.5, 0.45, 0.05]])
    noisy, flipped = flip_labels(labels, 0.99, 3, np.random.default_rng(0), confusion=confusion)
    assert flipped.all() and list(noisy) == [2, 2, 1, 1]


def test_flag_scores_and_recovered_share():
    flags = np.array([True, True, False, False])
    flipped = np.array([True, False, True, False])
    assert flag_scores(flags, flipped) == {"flagged": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert recovered_share({"clean": 0.8, "noisy": 0.7, "cleaned": 0.79}) == 0.9
    assert recovered_share({"clean": 0.8, "noisy": 0.8, "cleaned": 0.79}) is None


def _detect_in_a_daemon(queue) -> None:
    features, labels = blobs(n_per_class=30)
    report = detect_label_noise(gather_evidence(features, labels, N_CLASSES))
    queue.put(int(report.flags.sum()))


def test_detectors_run_inside_a_daemonic_process_like_a_celery_worker_child():
    # A prefork worker's child is daemonic and may not start a multiprocessing pool of its own,
    # which cleanlab does unless told n_jobs=1.
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_detect_in_a_daemon, args=(queue,), daemon=True)
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 0
    assert queue.get(timeout=5) >= 0


def test_cleaning_relabels_the_flagged_items_to_the_suggestion(noisy_blobs):
    _features, labels, noisy, flipped, evidence = noisy_blobs
    report = detect_label_noise(evidence)
    cleaned, keep = cleaned_training(noisy, report)
    assert np.all(cleaned[~report.flags] == noisy[~report.flags])
    assert np.mean(cleaned[flipped] == labels[flipped]) > 0.9
    assert np.all(keep == ~report.doubtful)


def test_doubtful_items_are_the_unflagged_ones_over_the_doubt_score(noisy_blobs):
    *_, evidence = noisy_blobs
    report = detect_label_noise(evidence, settings=NoiseSettings(doubt_score=0.05))
    assert np.all(report.doubtful == (~report.flags & (report.scores > 0.05)))
    assert not np.any(report.doubtful & report.flags)
    everything = detect_label_noise(evidence, settings=NoiseSettings(doubt_score=0.0))
    assert everything.doubtful.sum() >= report.doubtful.sum()
    nothing = detect_label_noise(evidence, settings=NoiseSettings(doubt_score=1.0))
    assert not nothing.doubtful.any()


def test_held_out_doubtful_items_are_left_out_of_the_cleaned_training_set():
    labels = np.array([0, 1, 1, 0])
    report = NoiseReport(
        detectors={},
        scores=np.array([0.9, 0.3, 0.05, 0.0]),
        flags=np.array([True, False, False, False]),
        votes=np.zeros(4, dtype=np.int64),
        suggested=np.array([1, 0, 1, 0]),
        doubtful=np.array([False, True, False, False]),
    )
    cleaned, keep = cleaned_training(labels, report)
    assert cleaned.tolist() == [1, 1, 1, 0] and keep.tolist() == [True, False, True, True]
    without = NoiseReport(**{**report.__dict__, "doubtful": None})
    assert cleaned_training(labels, without)[1].all()


def test_the_doubt_score_must_lie_between_0_and_1():
    with pytest.raises(ValueError, match="doubt_score"):
        NoiseSettings(doubt_score=1.5)


def test_reliability_bins_count_every_item_once():
    scores = np.array([0.0, 0.3, 0.85, 0.97, 1.0, 1.0])
    flipped = np.array([False, False, True, False, True, True])
    bins = reliability(scores, flipped)
    assert sum(row["items"] for row in bins) == len(scores)
    assert bins[-1] == {"bin": "[0.9, 1.0]", "items": 3, "mean_score": 0.99, "flipped_share": 0.6667}
    assert bins[-2] == {"bin": "[0.8, 0.9)", "items": 1, "mean_score": 0.85, "flipped_share": 1.0}
    assert expected_calibration_error(np.array([0.0, 1.0]), np.array([False, True])) == 0.0
    assert expected_calibration_error(np.array([0.95, 0.95]), np.array([False, False])) == pytest.approx(0.95)


def test_wrong_label_probabilities_are_high_for_flips_and_low_for_the_rest(noisy_blobs):
    *_, flipped, evidence = noisy_blobs
    probabilities = wrong_label_probabilities(evidence)
    assert probabilities.shape == flipped.shape and np.all((probabilities >= 0) & (probabilities <= 1))
    assert probabilities[flipped].mean() > 0.8 and probabilities[~flipped].mean() < 0.05
    # Calibrated in the large: the expected number of wrong labels is about the number flipped.
    assert abs(probabilities.sum() - flipped.sum()) < 0.25 * flipped.sum()


def test_calibrated_probabilities_add_up_to_the_count_and_keep_the_order():
    scores = np.array([0.0, 0.05, 0.3, 0.6, 0.9, 0.99])
    probabilities = calibrated_probabilities(scores, 2.0)
    assert probabilities.sum() == pytest.approx(2.0, abs=1e-3)
    assert probabilities[0] == 0.0 and np.all(np.diff(probabilities) > 0)  # score 0: the given label is best
    # Fewer wrong labels expected: the same scores mean less.
    assert np.all(calibrated_probabilities(scores, 1.0)[1:] < probabilities[1:])
    assert np.all(calibrated_probabilities(scores, 0) == 0) and np.all(calibrated_probabilities(np.zeros(3), 5) == 0)
    # A count beyond what the scores can carry saturates instead of failing.
    assert np.all(calibrated_probabilities(scores, 10.0)[1:] > 0.8)
    tiny = calibrated_probabilities(scores, 1e-9)  # the exponent stops at its bound: lower, never above the score
    assert tiny.sum() < 1.0 and np.all(tiny <= scores) and np.all(np.isfinite(tiny))


def test_the_ensemble_calibrates_its_score_on_the_number_it_believes_wrong(noisy_blobs):
    *_, flipped, evidence = noisy_blobs
    report = detect_label_noise(evidence)
    probabilities = report.wrong_probabilities
    assert probabilities.shape == flipped.shape and np.all((probabilities >= 0) & (probabilities <= 1))
    assert probabilities.sum() == pytest.approx(estimated_issue_count(evidence, NoiseSettings()), abs=0.01)
    assert probabilities[flipped].mean() > 0.7 and probabilities[~flipped].mean() < 0.05
    order = np.argsort(report.scores)
    assert np.all(np.diff(probabilities[order]) >= 0)  # the same ranking as the score
    calibration = calibration_errors(
        {"calibrated": probabilities, "score": report.scores}, flipped, suspicious=report.scores > 0.1
    )
    assert set(calibration) == {"calibrated_ece", "calibrated_ece_suspicious", "score_ece", "score_ece_suspicious"}
    assert calibration["calibrated_ece"] < 0.05


def test_neighbours_do_not_depend_on_the_block_size(monkeypatch):
    # Large projects are cut into smaller blocks (KNN_BLOCK_CELLS); the answer must not change.
    features, labels = blobs(n_per_class=40)
    words = word_features(class_texts(labels))
    whole = neighbour_label_distribution(features, labels, N_CLASSES), word_neighbour_distribution(words, labels, 5)
    monkeypatch.setattr(noise, "KNN_BLOCK_CELLS", 7 * len(labels))  # 16 rows a block, the floor
    pieces = neighbour_label_distribution(features, labels, N_CLASSES), word_neighbour_distribution(words, labels, 5)
    assert all(np.allclose(a, b) for a, b in zip(whole, pieces, strict=True))


def _two_views_that_doubt_different_items() -> noise.NoiseEvidence:
    """60 items of 2 classes: the model rejects items 0-4, the neighbours reject items 10-14."""
    labels = np.repeat([0, 1], 30)
    right = np.where(labels[:, None] == np.arange(2), 0.9, 0.1)
    model, neighbours = right.copy(), right.copy()
    model[0:5] = [0.02, 0.98]
    neighbours[10:15] = [0.02, 0.98]
    rule_hits = np.zeros(60, dtype=bool)
    rule_hits[40] = True
    return noise.NoiseEvidence(labels, model, neighbours, rule_hits)


def test_the_ensemble_uses_exactly_the_chosen_detectors():
    """Issue 20, item 3: the detector checkboxes used to change nothing but `rules` (every view was averaged)."""
    evidence = _two_views_that_doubt_different_items()
    by_model = detect_label_noise(evidence, detectors=("kfold",))
    by_neighbours = detect_label_noise(evidence, detectors=("deep_knn",))
    assert set(np.flatnonzero(by_model.flags)) == set(range(5))
    assert set(np.flatnonzero(by_neighbours.flags)) == set(range(10, 15))
    assert not by_model.doubtful[10:15].any()
    rules_only = detect_label_noise(evidence, detectors=("rules",))
    assert np.flatnonzero(rules_only.flags).tolist() == [40] and not rules_only.doubtful.any()
    assert detect_label_noise(evidence, detectors=("kfold", "deep_knn", "rules")).flags[40]


def _topic_texts(labels: np.ndarray, seed: int) -> list[str]:
    """Texts whose words carry the label (a topic word) among shared filler, one per label."""
    rng = np.random.default_rng(seed)
    topics = ["股市 投资 上涨", "球队 比赛 冠军", "天气 下雨 降温"]
    filler = ["今天", "记者", "报道", "消息", "表示", "发布"]
    return [f"{topics[label]} {' '.join(rng.choice(filler, 3))} 编号{row}" for row, label in enumerate(labels)]


def test_the_out_of_fold_model_is_the_hybrid_head_given_texts():
    """Issue 22: given the items' texts (HybridInputs and their featurizer) the out-of-fold model is the
    hybrid fast head: where the embeddings say nothing (noise) and the words say everything it finds the
    labels, out-of-fold still (an item's own id word cannot vouch for it); deep kNN stays on embeddings."""
    from mlcore.features import HybridInputs, TextFeaturizer

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 30)
    embeddings = rng.normal(size=(90, 16)).astype(np.float32)  # no signal at all
    texts = _topic_texts(labels, seed=3)
    featurizer = TextFeaturizer(language="zh").fit(texts)
    hybrid = HybridInputs(texts, embeddings)
    plain = out_of_fold_probabilities(embeddings, labels, 3)
    mixed = out_of_fold_probabilities(embeddings, labels, 3, hybrid=hybrid, featurizer=featurizer)
    assert np.mean(plain.argmax(axis=1) == labels) < 0.6
    assert np.mean(mixed.argmax(axis=1) == labels) > 0.85
    evidence = gather_evidence(embeddings, labels, 3, hybrid=hybrid, featurizer=featurizer)
    np.testing.assert_allclose(evidence.model_probabilities, mixed)
    np.testing.assert_allclose(
        evidence.neighbour_probabilities, gather_evidence(embeddings, labels, 3).neighbour_probabilities
    )
    # The audit of held-out items reads the same model; both hybrid inputs or neither.
    test_labels = np.array([0, 1, 2, 0])
    test_texts = _topic_texts(test_labels, seed=4)
    audit = audit_evidence(
        embeddings,
        labels,
        rng.normal(size=(4, 16)).astype(np.float32),
        test_labels,
        3,
        train_hybrid=hybrid,
        hybrid=HybridInputs(test_texts, rng.normal(size=(4, 16)).astype(np.float32)),
        featurizer=featurizer,
    )
    assert list(audit.model_probabilities.argmax(axis=1)) == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="give both train_hybrid and hybrid"):
        audit_evidence(embeddings, labels, embeddings[:4], test_labels, 3, train_hybrid=hybrid, featurizer=featurizer)
    with pytest.raises(ValueError, match="one row per item"):
        out_of_fold_probabilities(embeddings, labels, 3, hybrid=hybrid.take(np.arange(10)), featurizer=featurizer)
    with pytest.raises(ValueError, match="given with the featurizer"):
        out_of_fold_probabilities(embeddings, labels, 3, hybrid=hybrid)
