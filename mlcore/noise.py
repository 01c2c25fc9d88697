"""Noisy-label detectors: which given labels are probably wrong, and what they should be.

Every detector is a pure function over arrays with one signature and a registry by name:

    detector(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult

    >>> evidence = gather_evidence(embeddings, labels, n_classes=20, random_state=0)
    >>> report = detect_label_noise(evidence)  # every detector that has its input, then the ensemble
    >>> report.flags.nonzero()[0], report.suggested, report.detectors["deep_knn"].flags

`labels` are class indices 0..K-1 (single-label). The evidence is out-of-fold only: an item's
predicted probabilities come from a model that never trained on it, and its neighbours' labels
never include its own. `audit_evidence` judges a second, read-only set (a locked test split) with
models trained on the first: those never saw the audited items either.

Detectors:
- `kfold`: the out-of-fold prediction disagrees with the given label.
- `confident_learning`: cleanlab's `find_label_issues` on the out-of-fold probabilities
  (`filter_by` is a setting).
- `deep_knn`: the given label disagrees with the labels of the item's nearest neighbours in the
  representation the features come from (encoder embeddings or a model's penultimate layer).
- `kfold_words`: the out-of-fold prediction of a bag-of-words model (TF-IDF, `word_features`)
  disagrees with the given label (only when `words` is given).
- `knn_words`: deep kNN in the bag of words: the items sharing the most words carry another label
  (only when `words` is given).
- `rules`: the item is hit by a blacklist rule (only when `rule_hits` is given).

The out-of-fold model is a logistic regression on the features, or, given `hybrid` inputs (texts and
embeddings, `mlcore.features.HybridInputs`) and their `featurizer`, the hybrid fast head: the model that
orders the queue and suggests labels judges the labels too (issue 22). Deep kNN stays on the features.

The `ensemble` combines them: a vote count, a combined score (1 - p(given) / p(best label) under the
average of the views' distributions: the model's and the neighbours', and the bag of words' model's
and neighbours' when there are words), and flags: as many items as confident learning on that
average counts as wrong, those with the highest score (see `ensemble`). The score ranks;
`calibrated_probabilities` turns it into P(label wrong), anchored on that same count
(docs/benchmarks.md). `wrong_label_probabilities` (Bayes' rule through the noise matrix) is the
benchmark's comparison.

What training does with a report is a `CleaningPolicy` (issue 23): relabel, remove or soft-relabel
(train with both labels, weighted by P(label wrong)) the flagged items, hold out the doubtful ones or
not, on the report of the plain or of the `prior_corrected` evidence (`NoiseSettings.class_balance`).
`choose_cleaning_policy` compares the candidates out of fold on the labeled items themselves and
returns the best with every score: no fixed policy held up on both balanced and long-tail data
(docs/benchmarks.md, "Issue 23: cleaning policy").

    >>> policies = candidate_policies()
    >>> reports = policy_reports(evidence, policies)
    >>> choice = choose_cleaning_policy(embeddings, labels, reports, policies=policies)
    >>> rows, train_labels, weights = choice.policy.training_rows(labels, reports[choice.policy.balanced])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse
from scipy.optimize import brentq
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold

from mlcore.features import HybridInputs, TextFeaturizer, word_tokens
from mlcore.languages import is_chinese

FILTER_BY_CHOICES = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")
DEFAULT_FOLDS = 5
DEFAULT_NEIGHBOURS = 10
SURE_SCORE = 0.95  # the given label is under 5% as likely as the best one
DOUBT_SCORE = 0.15  # the views give another label at least 1.18 times the given one's chance, averaged
GAMMA_BOUNDS = (0.05, 50.0)  # calibrated_probabilities' exponent: score ** 50 is 0 below 0.9, ** 0.05 near 1
KNN_BLOCK_ROWS = 2048  # rows of the similarity matrix held at once: 2,048 x 20,000 floats is 160 MB
KNN_BLOCK_CELLS = 40_000_000  # and at most this many cells, so that 100,000 items still take 160 MB a block

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class NoiseSettings:
    """The knobs of the detectors and the ensemble; defaults are what the benchmark measured."""

    folds: int = DEFAULT_FOLDS
    neighbours: int = DEFAULT_NEIGHBOURS
    filter_by: str = "both"
    C: float = 1.0  # stronger regularisation than the fast head's 10: it memorises fewer wrong labels
    word_alpha: float = 1e-4  # the bag-of-words model's L2 penalty (docs/benchmarks.md: 1e-5..1e-4)
    # Unflagged items scoring above it are held out of training until an expert looks (`doubtful`).
    doubt_score: float = DOUBT_SCORE
    # Judge with every view divided by the given labels' class prior (`prior_corrected`): see there.
    class_balance: bool = False
    random_state: int = 0

    def __post_init__(self) -> None:
        if self.filter_by not in FILTER_BY_CHOICES:
            raise ValueError(f"Unknown filter_by {self.filter_by!r}: choose one of {', '.join(FILTER_BY_CHOICES)}.")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2; got {self.folds}")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be at least 1; got {self.neighbours}")
        if not self.C > 0:
            raise ValueError(f"C must be > 0; got {self.C!r}")
        if not self.word_alpha > 0:
            raise ValueError(f"word_alpha must be > 0; got {self.word_alpha!r}")
        if not 0.0 <= self.doubt_score <= 1.0:
            raise ValueError(f"doubt_score must lie in [0, 1]; got {self.doubt_score!r}")


@dataclass(frozen=True)
class NoiseEvidence:
    """What the detectors judge from, for n items and K classes.

    labels: (n,) int given labels. model_probabilities: (n, K) out-of-fold (or held-out) predicted
    probabilities. neighbour_probabilities: (n, K) similarity-weighted label distribution of each
    item's nearest neighbours (never itself). rule_hits: (n,) bool or None when there are no rules.
    word_probabilities: (n, K) out-of-fold probabilities of the bag-of-words model, or None.
    word_neighbour_probabilities: (n, K) label distribution of the nearest items in the bag of words
    (never itself), or None.
    """

    labels: np.ndarray
    model_probabilities: np.ndarray
    neighbour_probabilities: np.ndarray
    rule_hits: np.ndarray | None = None
    word_probabilities: np.ndarray | None = None
    word_neighbour_probabilities: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return self.model_probabilities.shape[1]

    @property
    def views(self) -> list[np.ndarray]:
        """The (n, K) label distributions of the independent views the ensemble averages."""
        views = [self.model_probabilities, self.neighbour_probabilities]
        words = [self.word_probabilities, self.word_neighbour_probabilities]
        return views + [view for view in words if view is not None]


@dataclass(frozen=True)
class DetectorResult:
    """scores: (n,) in [0, 1], higher = more likely mislabeled. flags: (n,) bool. suggested: (n,) int."""

    name: str
    scores: np.ndarray
    flags: np.ndarray
    suggested: np.ndarray


@dataclass(frozen=True)
class NoiseReport:
    """Every detector's result, and the ensemble's: its flags, votes, combined score and suggestion."""

    detectors: dict[str, DetectorResult]
    scores: np.ndarray
    flags: np.ndarray
    votes: np.ndarray
    suggested: np.ndarray
    agreeing: list[list[str]] = field(default_factory=list)  # per item: the detectors that flag it
    wrong_probabilities: np.ndarray | None = None  # per item: P(given label is wrong), calibrated_probabilities
    doubtful: np.ndarray | None = None  # per item: not flagged, but scoring over `NoiseSettings.doubt_score`


def cleaned_training(labels: np.ndarray, report: NoiseReport) -> tuple[np.ndarray, np.ndarray]:
    """(labels, keep): what training learned from before issue 23 (`CleaningPolicy("relabel",
    doubt_score)` with the report's own `doubtful`); the benchmark still reports it as `cleaned`.

    Each flagged item takes the ensemble's suggestion (what an expert does with one key in the
    review queue) and the doubtful items are held out (`keep` False). The flags alone leave the
    flips the views only half doubt, the boundary items where one wrong label moves a linear head
    most: on 20 Newsgroups relabeling the flags won back 83-89% of the macro-F1 lost to the noise,
    and holding out the 5-6% of items scoring over 0.15 besides, 91-104% (docs/benchmarks.md).
    """
    cleaned, keep = CleaningPolicy("relabel").apply(labels, report)
    return cleaned, keep if report.doubtful is None else keep & ~report.doubtful


# --- evidence -----------------------------------------------------------------------------------


def _check_features_labels(features: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-d array (n, dim); got shape {features.shape}")
    return features, _check_labels(labels, features.shape[0], n_classes, rows_of="features")


def _check_labels(labels: np.ndarray, n_rows: int, n_classes: int, *, rows_of: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"labels must have one entry per row of {rows_of} ({n_rows}); got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be integer class indices")
    if n_classes < 2:
        raise ValueError(f"noise detection needs at least 2 classes; got {n_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return labels.astype(np.int64)


def _linear_model(settings: NoiseSettings) -> LogisticRegression:
    return LogisticRegression(C=settings.C, max_iter=1000, random_state=settings.random_state)


def _word_model(settings: NoiseSettings) -> SGDClassifier:
    # SGD, not lbfgs: on 11,000 x 42,000 TF-IDF rows it fits 5 folds in 19 s against 36 s, as accurately.
    return SGDClassifier(
        loss="log_loss", alpha=settings.word_alpha, max_iter=30, tol=None, random_state=settings.random_state
    )


class _HybridHead:
    """The hybrid fast head as an out-of-fold model (`fit(X, y)`, `predict_proba`, `classes_`): an LR on
    the embeddings beside the bag of words of one `featurizer` fit on every text (it never sees a label,
    so the folds stay out-of-fold), regularised like the embedding-only model (`NoiseSettings.C`)."""

    def __init__(self, featurizer: TextFeaturizer, settings: NoiseSettings) -> None:
        self.featurizer = featurizer
        self.settings = settings

    def fit(self, X: HybridInputs, y: np.ndarray) -> _HybridHead:
        from mlcore.models import FastHead  # models imports torch: only noise jobs on texts pay for it

        # No logit adjustment: the out-of-fold view must be the plain LR the embedding-only view is
        # (`_linear_model`); how the evidence treats class priors is the ensemble's business.
        head = FastHead(
            head="lr",
            C=self.settings.C,
            self_training=None,
            random_state=self.settings.random_state,
            language=self.featurizer.language,
            logit_adjustment=0.0,
        )
        self.head_ = head.fit(X, y.tolist(), featurizer=self.featurizer)
        self.classes_ = np.asarray(self.head_.classes_, dtype=np.int64)
        return self

    def predict_proba(self, X: HybridInputs) -> np.ndarray:
        return self.head_.predict_proba(X)


def _check_hybrid(
    hybrid: HybridInputs | None, featurizer: TextFeaturizer | None, n: int, name: str = "hybrid"
) -> HybridInputs | None:
    if hybrid is None:
        return None
    if not isinstance(hybrid, HybridInputs) or featurizer is None:
        raise ValueError(f"{name} must be HybridInputs, given with the featurizer that reads their texts")
    if len(hybrid) != n:
        raise ValueError(f"{name} must have one row per item ({n}); got {len(hybrid)}")
    if hybrid.words is None:
        hybrid = hybrid.with_words(featurizer.transform(hybrid.texts))  # once, not once per fold
    return hybrid


def _model_for(settings: NoiseSettings, featurizer: TextFeaturizer | None):
    return _linear_model(settings) if featurizer is None else _HybridHead(featurizer, settings)


def _take_rows(inputs, rows: np.ndarray):
    return inputs.take(rows) if isinstance(inputs, HybridInputs) else inputs[rows]


def _n_rows(inputs) -> int:
    return len(inputs) if isinstance(inputs, HybridInputs) else inputs.shape[0]


def _fit_probabilities(
    train, train_labels: np.ndarray, rows, n_classes: int, model, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """(rows, K) probabilities of `model` fit on train (rows weighted by `sample_weight` when given);
    classes it never saw get 0."""
    present = np.unique(train_labels)
    probabilities = np.zeros((_n_rows(rows), n_classes), dtype=np.float64)
    if len(present) == 1:
        probabilities[:, present[0]] = 1.0
        return probabilities
    if sample_weight is None:
        model.fit(train, train_labels)
    else:
        model.fit(train, train_labels, sample_weight=sample_weight)
    probabilities[:, model.classes_] = model.predict_proba(rows)
    return probabilities


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    settings: NoiseSettings = NoiseSettings(),
    progress: Progress | None = None,
    hybrid: HybridInputs | None = None,
    featurizer: TextFeaturizer | None = None,
) -> np.ndarray:
    """(n, K) predicted probabilities, each row from a model trained on the other folds only: an LR on
    `features`, or the hybrid fast head on `hybrid` (the same items' texts and embeddings) with
    `featurizer`."""
    features, labels = _check_features_labels(features, labels, n_classes)
    hybrid = _check_hybrid(hybrid, featurizer, len(labels))
    inputs = features if hybrid is None else hybrid
    return _out_of_fold(inputs, labels, n_classes, lambda: _model_for(settings, featurizer), settings, progress)


def out_of_fold_word_probabilities(
    words: sparse.spmatrix,
    labels: np.ndarray,
    n_classes: int,
    *,
    settings: NoiseSettings = NoiseSettings(),
    progress: Progress | None = None,
) -> np.ndarray:
    """(n, K) out-of-fold probabilities of a bag-of-words model over `word_features` rows.

    The same folds as `out_of_fold_probabilities` for the same labels and settings.
    """
    words = _check_words(words)
    labels = _check_labels(labels, words.shape[0], n_classes, rows_of="words")
    return _out_of_fold(words, labels, n_classes, lambda: _word_model(settings), settings, progress)


def _out_of_fold(features, labels: np.ndarray, n_classes: int, make_model, settings: NoiseSettings, progress):
    folds = min(settings.folds, int(np.bincount(labels, minlength=n_classes).max()))
    if folds < 2:
        raise ValueError("out-of-fold predictions need at least 2 items of some class")
    # Classes rarer than the fold count still work: StratifiedKFold only warns about them.
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.random_state)
    probabilities = np.zeros((len(labels), n_classes), dtype=np.float64)
    order = np.zeros(len(labels))
    for number, (train, held_out) in enumerate(_quiet_split(splitter, order, labels)):
        if progress is not None:
            progress(100 * number / folds, f"Out-of-fold model {number + 1} of {folds}")
        probabilities[held_out] = _fit_probabilities(
            _take_rows(features, train), labels[train], _take_rows(features, held_out), n_classes, make_model()
        )
    return probabilities


def _chinese_word_tokens(text: str) -> list[str]:
    return word_tokens(text, "zh")


def word_features(texts: Sequence[str], *, language: str = "en") -> sparse.csr_matrix | None:
    """(n, V) TF-IDF rows of the texts' words, the bag-of-words view; None when no word survives.

    A second representation that fails differently from the encoder's: on 20 Newsgroups with 10-20%
    of the labels flipped, an out-of-fold model over it still agrees with the true label on 87-89% of
    the training items, against 82-84% over the frozen embeddings, and the ensemble finds more flips
    with it (docs/benchmarks.md). Chinese text is cut into words by jieba, all of them, as the hybrid head's
    featurizer does (`features.word_tokens`; the topic stop list of cluster keywords would drop 不 没有 有点, which
    carry labels; max_df drops what every text says). Fit on every text given, labels unseen: out-of-fold stays
    out-of-fold.
    """
    chinese = is_chinese(language)
    vectorizer = TfidfVectorizer(
        tokenizer=_chinese_word_tokens if chinese else None,
        token_pattern=None if chinese else r"(?u)\b\w\w+\b",
        lowercase=not chinese,
        sublinear_tf=True,
        min_df=2 if len(texts) >= 100 else 1,  # words seen once cannot teach another fold anything
        max_df=0.5,
        dtype=np.float32,
    )
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # empty vocabulary: no text has a word that passes the filters
        return None


def _check_words(words: sparse.spmatrix, n: int | None = None) -> sparse.csr_matrix:
    if not sparse.issparse(words) or words.ndim != 2:
        raise ValueError("words must be a 2-d sparse matrix (n, vocabulary), as word_features returns")
    if n is not None and words.shape[0] != n:
        raise ValueError(f"words must have one row per item ({n}); got {words.shape[0]}")
    return sparse.csr_matrix(words)


def _quiet_split(splitter: StratifiedKFold, order: np.ndarray, labels: np.ndarray):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(splitter.split(order, labels))


def neighbour_label_distribution(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """(m, K) label distribution of each query's k nearest labeled items by cosine similarity.

    Without `queries` the queries are the labeled items themselves and each one's own row is left
    out: its own label never votes for itself. Votes are weighted by similarity (floored at 0).
    """
    features, labels = _check_features_labels(features, labels, n_classes)
    reference = _unit_rows(features)
    leave_self_out = queries is None
    queries = reference if queries is None else _unit_rows(np.asarray(queries, dtype=np.float32))
    return _neighbour_votes(
        lambda rows: queries[rows] @ reference.T, len(queries), labels, n_classes, neighbours, leave_self_out
    )


def word_neighbour_distribution(
    words: sparse.spmatrix,
    labels: np.ndarray,
    n_classes: int,
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
    queries: sparse.spmatrix | None = None,
) -> np.ndarray:
    """(m, K) the same as `neighbour_label_distribution`, over `word_features` rows: the items that
    share the most (rare) words. A query with no word in the vocabulary gets the labels' prior."""
    from sklearn.preprocessing import normalize

    reference = normalize(_check_words(words))
    labels = _check_labels(labels, reference.shape[0], n_classes, rows_of="words")
    leave_self_out = queries is None
    queries = reference if queries is None else normalize(_check_words(queries))
    distribution = _neighbour_votes(
        lambda rows: (queries[rows] @ reference.T).toarray(),
        queries.shape[0],
        labels,
        n_classes,
        neighbours,
        leave_self_out,
    )
    wordless = np.asarray(queries.getnnz(axis=1) == 0)
    distribution[wordless] = np.bincount(labels, minlength=n_classes) / len(labels)
    return distribution


def _neighbour_votes(
    similarity: Callable[[slice], np.ndarray],
    n_queries: int,
    labels: np.ndarray,
    n_classes: int,
    neighbours: int,
    leave_self_out: bool,
) -> np.ndarray:
    k = min(neighbours, len(labels) - (1 if leave_self_out else 0))
    if k < 1:
        raise ValueError("deep kNN needs at least 2 labeled items")
    distribution = np.zeros((n_queries, n_classes), dtype=np.float64)
    # numpy, not semi_supervised's torch topk: a forked child whose parent already ran torch ops hangs in
    # torch's thread pool (test_detectors_run_inside_a_daemonic_process_like_a_celery_worker_child).
    block_rows = max(16, min(KNN_BLOCK_ROWS, KNN_BLOCK_CELLS // len(labels)))
    for start in range(0, n_queries, block_rows):
        block = np.asarray(similarity(slice(start, start + block_rows)), dtype=np.float32)
        rows = np.arange(block.shape[0])
        if leave_self_out:
            block[rows, start + rows] = -np.inf
        nearest = np.argpartition(-block, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(block, nearest, axis=1), 0.0) + 1e-6
        votes = labels[nearest]
        for column in range(k):
            np.add.at(distribution[start : start + len(block)], (rows, votes[:, column]), weights[:, column])
    return distribution / distribution.sum(axis=1, keepdims=True)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def gather_evidence(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    words: sparse.spmatrix | None = None,
    rule_hits: np.ndarray | None = None,
    settings: NoiseSettings = NoiseSettings(),
    progress: Progress | None = None,
    hybrid: HybridInputs | None = None,
    featurizer: TextFeaturizer | None = None,
) -> NoiseEvidence:
    """Out-of-fold evidence on the labeled items themselves (the training split).

    `words`: the items' `word_features` rows, for the bag-of-words view; None leaves it out.
    `hybrid` and `featurizer`: the items' texts and embeddings and the featurizer of their texts (fit
    without labels), so that the out-of-fold model is the hybrid fast head; None: an LR on `features`.
    """
    features, labels = _check_features_labels(features, labels, n_classes)
    words = None if words is None else _check_words(words, len(labels))
    share = 60 if words is not None else 95
    model = out_of_fold_probabilities(
        features,
        labels,
        n_classes,
        settings=settings,
        progress=_scaled(progress, 0, share),
        hybrid=hybrid,
        featurizer=featurizer,
    )
    word_probabilities = word_knn = None
    if words is not None:
        word_probabilities = out_of_fold_word_probabilities(
            words, labels, n_classes, settings=settings, progress=_words_progress(progress, share)
        )
    if progress is not None:
        progress(95, "Nearest neighbours")
    knn = neighbour_label_distribution(features, labels, n_classes, neighbours=settings.neighbours)
    if words is not None:
        word_knn = word_neighbour_distribution(words, labels, n_classes, neighbours=settings.neighbours)
    rule_hits = _check_rule_hits(rule_hits, len(labels))
    return NoiseEvidence(labels, model, knn, rule_hits, word_probabilities, word_knn)


def _scaled(progress: Progress | None, start: float, span: float) -> Progress | None:
    if progress is None:
        return None
    return lambda percent, message: progress(start + span * percent / 100, message)


def _words_progress(progress: Progress | None, start: float) -> Progress | None:
    scaled = _scaled(progress, start, 95 - start)
    if scaled is None:
        return None
    return lambda percent, message: scaled(percent, f"{message} (bag of words)")


def audit_evidence(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    train_words: sparse.spmatrix | None = None,
    words: sparse.spmatrix | None = None,
    rule_hits: np.ndarray | None = None,
    settings: NoiseSettings = NoiseSettings(),
    train_hybrid: HybridInputs | None = None,
    hybrid: HybridInputs | None = None,
    featurizer: TextFeaturizer | None = None,
) -> NoiseEvidence:
    """Evidence on held-out items (a locked test split) from models and neighbours of the train items.

    The bag-of-words view joins when both `train_words` and `words` are given (rows of one
    `word_features` call, so that they share a vocabulary). The model is the hybrid fast head when
    `train_hybrid`, `hybrid` and their `featurizer` are given, else an LR on the features.
    """
    train_features, train_labels = _check_features_labels(train_features, train_labels, n_classes)
    features, labels = _check_features_labels(features, labels, n_classes)
    train_hybrid = _check_hybrid(train_hybrid, featurizer, len(train_labels), "train_hybrid")
    hybrid = _check_hybrid(hybrid, featurizer, len(labels))
    if (train_hybrid is None) != (hybrid is None):
        raise ValueError("give both train_hybrid and hybrid (with their featurizer), or neither")
    model = _fit_probabilities(
        train_features if train_hybrid is None else train_hybrid,
        train_labels,
        features if hybrid is None else hybrid,
        n_classes,
        _model_for(settings, featurizer),
    )
    knn = neighbour_label_distribution(
        train_features, train_labels, n_classes, neighbours=settings.neighbours, queries=features
    )
    word_probabilities = word_knn = None
    if train_words is not None and words is not None:
        train_words, words = _check_words(train_words, len(train_labels)), _check_words(words, len(labels))
        word_probabilities = _fit_probabilities(train_words, train_labels, words, n_classes, _word_model(settings))
        word_knn = word_neighbour_distribution(
            train_words, train_labels, n_classes, neighbours=settings.neighbours, queries=words
        )
    rule_hits = _check_rule_hits(rule_hits, len(labels))
    return NoiseEvidence(labels, model, knn, rule_hits, word_probabilities, word_knn)


def _check_rule_hits(rule_hits: np.ndarray | None, n: int) -> np.ndarray | None:
    if rule_hits is None:
        return None
    rule_hits = np.asarray(rule_hits, dtype=bool)
    if rule_hits.shape != (n,):
        raise ValueError(f"rule_hits must have one entry per item ({n}); got shape {rule_hits.shape}")
    return rule_hits


# --- detectors ----------------------------------------------------------------------------------


def _given_probability(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return probabilities[np.arange(len(labels)), labels]


def kfold_disagreement(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """Flag items whose out-of-fold prediction is another class; score = 1 - p(given label)."""
    return _prediction_disagrees("kfold", evidence.model_probabilities, evidence.labels)


def _prediction_disagrees(name: str, probabilities: np.ndarray, labels: np.ndarray) -> DetectorResult:
    predicted = probabilities.argmax(axis=1)
    scores = 1.0 - _given_probability(probabilities, labels)
    return DetectorResult(name, scores, predicted != labels, predicted)


def confident_learning(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """cleanlab's `find_label_issues` on the out-of-fold probabilities, `filter_by` from settings."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probabilities = _cleanlab_probabilities(evidence.model_probabilities)
    # n_jobs=1: cleanlab otherwise starts a multiprocessing pool, which a Celery prefork worker's
    # daemonic child may not do; the result does not depend on n_jobs.
    flags = find_label_issues(evidence.labels, probabilities, filter_by=settings.filter_by, n_jobs=1)
    scores = 1.0 - get_label_quality_scores(evidence.labels, probabilities)
    return DetectorResult("confident_learning", scores, np.asarray(flags, dtype=bool), probabilities.argmax(axis=1))


def _cleanlab_probabilities(probabilities: np.ndarray) -> np.ndarray:
    # cleanlab rejects rows that do not sum to 1 and classes with no probability mass at all.
    smoothed = probabilities + 1e-9
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def deep_knn(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """Flag items whose neighbours mostly carry another label; score = 1 - neighbours' share of the given one."""
    return _neighbours_disagree("deep_knn", evidence.neighbour_probabilities, evidence.labels)


def _neighbours_disagree(name: str, distribution: np.ndarray, labels: np.ndarray) -> DetectorResult:
    predicted = distribution.argmax(axis=1)
    given = _given_probability(distribution, labels)
    return DetectorResult(name, 1.0 - given, (predicted != labels) & (given < 0.5), predicted)


def kfold_words(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """`kfold` over the bag of words: its out-of-fold prediction is another class."""
    return _prediction_disagrees(
        "kfold_words", _words_view(evidence.word_probabilities, "kfold_words"), evidence.labels
    )


def knn_words(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """`deep_knn` in the bag of words: the items sharing the most words mostly carry another label."""
    distribution = _words_view(evidence.word_neighbour_probabilities, "knn_words")
    return _neighbours_disagree("knn_words", distribution, evidence.labels)


def _words_view(view: np.ndarray | None, detector: str) -> np.ndarray:
    if view is None:
        raise ValueError(f"{detector} needs the bag-of-words view: gather the evidence with words=")
    return view


def blacklist_rules(evidence: NoiseEvidence, settings: NoiseSettings) -> DetectorResult:
    """Flag items hit by a blacklist rule; the suggestion is the model's best other label."""
    hits = evidence.rule_hits if evidence.rule_hits is not None else np.zeros(len(evidence.labels), dtype=bool)
    return DetectorResult("rules", hits.astype(np.float64), hits.copy(), _best_other(evidence))


def _best_other(evidence: NoiseEvidence) -> np.ndarray:
    combined = combined_probabilities(evidence).copy()
    combined[np.arange(len(evidence.labels)), evidence.labels] = -1.0
    return combined.argmax(axis=1)


Detector = Callable[[NoiseEvidence, NoiseSettings], DetectorResult]

DETECTORS: dict[str, Detector] = {
    "kfold": kfold_disagreement,
    "confident_learning": confident_learning,
    "deep_knn": deep_knn,
    "kfold_words": kfold_words,
    "knn_words": knn_words,
    "rules": blacklist_rules,
}
DEFAULT_DETECTORS = ("kfold", "confident_learning", "deep_knn", "kfold_words", "knn_words", "rules")


def get_detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise ValueError(f"Unknown detector {name!r}: choose one of {', '.join(DETECTORS)}.") from None


def available_detectors(evidence: NoiseEvidence, names: Sequence[str] = DEFAULT_DETECTORS) -> list[str]:
    """The named detectors that have their input: `rules` only runs when there are rule hits to judge,
    `kfold_words` and `knn_words` only when the evidence has the bag-of-words view."""
    for name in names:
        get_detector(name)
    missing = {
        "rules": evidence.rule_hits is None,
        "kfold_words": evidence.word_probabilities is None,
        "knn_words": evidence.word_neighbour_probabilities is None,
    }
    return [name for name in names if not missing.get(name, False)]


# --- ensemble -----------------------------------------------------------------------------------


# The view of the evidence each detector reads (`rules` reads none): the ensemble averages the views
# of the chosen detectors only, so choosing fewer detectors changes what it flags.
DETECTOR_VIEWS: dict[str, str | None] = {
    "kfold": "model_probabilities",
    "confident_learning": "model_probabilities",
    "deep_knn": "neighbour_probabilities",
    "kfold_words": "word_probabilities",
    "knn_words": "word_neighbour_probabilities",
    "rules": None,
}


def detector_views(evidence: NoiseEvidence, names: Sequence[str]) -> list[np.ndarray]:
    """The distinct views the named detectors read, in the evidence's order (empty for `rules` alone)."""
    wanted = {DETECTOR_VIEWS[name] for name in names} - {None}
    order = ("model_probabilities", "neighbour_probabilities", "word_probabilities", "word_neighbour_probabilities")
    return [getattr(evidence, view) for view in order if view in wanted and getattr(evidence, view) is not None]


def combined_probabilities(evidence: NoiseEvidence, views: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """(n, K) the average of the views' label distributions: by default the out-of-fold model's, the
    neighbours', and the bag-of-words model's and neighbours' when the evidence has them."""
    return np.mean(evidence.views if views is None else list(views), axis=0)


def combined_scores(evidence: NoiseEvidence, views: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """(n,) 1 - p(given) / p(best label) under the combined distribution: 0 when the given label is
    the most likely one, towards 1 the less likely it is than the best.

    A ratio to the best label rather than p(given) alone: with 20 classes an item the evidence
    splits between two close labels has p(given) near 0.4 and is fine; one whose given label gets
    0.4 while another gets 0.6 is not. On 20 Newsgroups with confusable noise, ranking by the ratio
    found 0.73 F1 of flips against 0.67 for ranking by p(given).
    """
    combined = combined_probabilities(evidence, views)
    given = _given_probability(combined, evidence.labels)
    return 1.0 - given / np.maximum(combined.max(axis=1), 1e-12)


def calibrated_probabilities(scores: np.ndarray, expected_wrong: float) -> np.ndarray:
    """(n,) P(given label is wrong) = score ** gamma, gamma chosen so that they sum to `expected_wrong`.

    The score ranks well but means different things on different data: on 20 Newsgroups items
    scoring 0.5-0.7 were 9% flipped under symmetric 10% noise and 72% under confusable 20%. Confident
    learning's count of wrong labels is reliable (within 12% of the flips on every benchmark), so
    the one free exponent is set by it: the probabilities then add up to the number of labels the
    ensemble believes wrong. Measured (docs/benchmarks.md): expected calibration error among the
    items scoring > 0.1 fell from 0.07-0.15 to 0.03-0.06 on 20 Newsgroups. An item whose given
    label is the most likely one (score 0) gets 0.
    """
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    positive = scores > 0
    if expected_wrong <= 0 or not positive.any():
        return np.zeros_like(scores)
    # The sum falls as gamma grows; the bounds keep the map sane when the count is extreme.
    logs = np.log(scores[positive])

    def excess(gamma: float) -> float:
        return float(np.exp(gamma * logs).sum()) - expected_wrong

    if excess(GAMMA_BOUNDS[0]) <= 0:
        gamma = GAMMA_BOUNDS[0]
    elif excess(GAMMA_BOUNDS[1]) >= 0:
        gamma = GAMMA_BOUNDS[1]
    else:
        gamma = brentq(excess, *GAMMA_BOUNDS, xtol=1e-4)
    probabilities = np.zeros_like(scores)
    probabilities[positive] = np.exp(gamma * logs)
    return probabilities


def estimated_issue_count(
    evidence: NoiseEvidence, settings: NoiseSettings, views: Sequence[np.ndarray] | None = None
) -> int:
    """How many labels are wrong, by cleanlab's confident learning on the combined distribution."""
    from cleanlab.filter import find_label_issues

    probabilities = _cleanlab_probabilities(combined_probabilities(evidence, views))
    return int(np.sum(find_label_issues(evidence.labels, probabilities, filter_by=settings.filter_by, n_jobs=1)))


def wrong_label_probabilities(evidence: NoiseEvidence) -> np.ndarray:
    """(n,) the probability that each given label is wrong, by Bayes' rule through estimated noise rates.

    Confident learning on the combined distribution estimates the noise matrix T[i, j] = P(given i |
    true j). The combined distribution predicts the *given* label, noise included, so the true-label
    distribution is recovered by undoing T (p_true = R T^-T, clipped), and then
    P(true = given | x, given) = T[given, given] p_true[given] / sum_j T[given, j] p_true[j].
    Measured (docs/benchmarks.md): expected calibration error 0.01-0.08 on BBC News and 20 Newsgroups
    at 10% and 20% symmetric and confusable noise, but no better than the ranking score's overall and
    under-confident among the suspicious items (it says 0.2 where half are wrong). Reported by the
    benchmark only, against `calibrated_probabilities`, which the ensemble uses.
    """
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities

    combined = _cleanlab_probabilities(combined_probabilities(evidence))
    _prior, noise_matrix, _inverse, _joint = estimate_py_and_noise_matrices_from_probabilities(
        evidence.labels, combined
    )
    true = np.clip(combined @ np.linalg.pinv(noise_matrix.T), 0.0, None) + 1e-12
    true /= true.sum(axis=1, keepdims=True)
    likelihood = true * noise_matrix[evidence.labels]  # [n, j] = P(given label | true j) p_true[j]
    rows = np.arange(len(evidence.labels))
    return np.clip(1.0 - likelihood[rows, evidence.labels] / likelihood.sum(axis=1), 0.0, 1.0)


def ensemble(evidence: NoiseEvidence, results: dict[str, DetectorResult], settings: NoiseSettings) -> NoiseReport:
    """Votes, a combined score, and flags: the `estimated_issue_count` items with the highest score.

    Views that fail differently are averaged: a linear model over the whole representation (out of
    fold), the item's nearest neighbours (never itself) and, when there are words, the same two over
    the bag of words. Confident learning on that average says how many labels to flag, and the
    combined score says which: on the benchmark this beat cleanlab alone on every dataset, noise
    kind and rate (docs/benchmarks.md). Blacklist rule hits are always flagged: an expert wrote the
    rule, so the item is worth a look. `wrong_probabilities` are the scores calibrated against the
    same count.

    Only the views of the chosen detectors (`results`; `DETECTOR_VIEWS`) are averaged, so choosing
    fewer detectors flags what those detectors' evidence doubts. With `rules` alone nothing but the
    rule hits is flagged or held out; the score and suggestion then still come from every view, to
    show the reviewer what the evidence says.
    """
    views = detector_views(evidence, list(results))
    scores = combined_scores(evidence, views or None)
    count = estimated_issue_count(evidence, settings, views or None)
    flags = np.zeros(len(scores), dtype=bool)
    if views:
        flags[np.argsort(-scores, kind="stable")[:count]] = True
        flags &= scores > 0  # an item whose given label is the most likely one is never flagged by the count
        # Confident learning counts from per-class averages, which undercount on a few dozen items; an
        # item every view rejects outright is flagged whatever the count says.
        rejected_by_all = np.logical_and.reduce([view.argmax(axis=1) != evidence.labels for view in views])
        flags |= (scores > SURE_SCORE) & rejected_by_all
    if "rules" in results:
        flags |= results["rules"].flags
    combined = combined_probabilities(evidence, views or None)
    suggested = combined.argmax(axis=1)
    probabilities = calibrated_probabilities(scores, count)
    doubtful = ~flags & (scores > settings.doubt_score) if views else np.zeros(len(scores), dtype=bool)
    flagged_by = np.stack([result.flags for result in results.values()]) if results else np.zeros((0, len(scores)))
    votes = flagged_by.sum(axis=0).astype(np.int64)
    names = list(results)
    agreeing = [[names[row] for row in np.flatnonzero(column)] for column in flagged_by.T]
    return NoiseReport(results, scores, flags, votes, suggested, agreeing, probabilities, doubtful)


def prior_corrected(evidence: NoiseEvidence) -> NoiseEvidence:
    """The evidence with each view's (n, K) distribution divided by the given labels' class prior, renormalised.

    Out-of-fold models and neighbours under-predict rare classes: on a long-tail set their items look
    wrong, get flagged and relabeled to a big class, and the rare class shrinks further. Dividing by
    the prior asks "which class is this item most like, classes counted equally" (logit adjustment
    of the views). On balanced data the prior is flat and nothing changes.
    """
    prior = np.bincount(evidence.labels, minlength=evidence.n_classes).astype(np.float64)
    prior = np.maximum(prior / max(prior.sum(), 1.0), 1e-12)

    def corrected(view: np.ndarray | None) -> np.ndarray | None:
        if view is None:
            return None
        adjusted = view / prior
        return adjusted / np.maximum(adjusted.sum(axis=1, keepdims=True), 1e-12)

    return NoiseEvidence(
        evidence.labels,
        corrected(evidence.model_probabilities),
        corrected(evidence.neighbour_probabilities),
        evidence.rule_hits,
        corrected(evidence.word_probabilities),
        corrected(evidence.word_neighbour_probabilities),
    )


def detect_label_noise(
    evidence: NoiseEvidence,
    *,
    detectors: Sequence[str] = DEFAULT_DETECTORS,
    settings: NoiseSettings = NoiseSettings(),
) -> NoiseReport:
    """Run the named detectors that have their input, then the ensemble over them (on the
    `prior_corrected` evidence when `settings.class_balance`)."""
    if settings.class_balance:
        evidence = prior_corrected(evidence)
    results = {name: get_detector(name)(evidence, settings) for name in available_detectors(evidence, detectors)}
    return ensemble(evidence, results, settings)


# --- cleaning policies --------------------------------------------------------------------------

# "soft_relabel" hedges: a flagged item trains with its given label and the suggestion, each weighted
# by how likely it is right (`hedged_rows`). On the 20NG long tail it recovers more of the lost F1 than
# a hard relabel or removal in 3 of 4 noise settings (docs/benchmarks.md, "Soft relabeling as a
# policy"); the chooser decides where it pays.
FLAGGED_ACTIONS = ("relabel", "remove", "soft_relabel")
DEFAULT_POLICY_DOUBT_SCORES = (DOUBT_SCORE,)
BALANCED_PREFIX = "balanced_"
DEFAULT_POLICY_FOLDS = 4
# How the chooser trusts a held-out item's given label (`trust_weights`): "weighted" counts every
# unflagged item by 1 - P(label wrong); "threshold" counts the unflagged items scoring at most
# TRUSTED_SCORE and no others.
TRUST_CHOICES = ("weighted", "threshold")
TRUSTED_SCORE = DOUBT_SCORE


@dataclass(frozen=True)
class CleaningPolicy:
    """What training learns from once a report is acted on: `apply(labels, report) -> (labels, keep)`.

    flagged: "relabel" gives each flagged item the ensemble's suggestion (what an expert does with one
    key in the review queue); "remove" leaves it out of training; "soft_relabel" trains it twice, with
    its given label weighted 1 - p and the suggestion weighted p, p its calibrated P(label wrong)
    (`training_rows`; `apply` then leaves its label as given). doubt_score: unflagged items scoring
    above it are held out too (`keep` False); None holds nothing out. balanced: the policy acts on the
    report of the prior-corrected evidence (`NoiseSettings.class_balance`, `prior_corrected`); the
    caller gives `apply` that report.
    """

    flagged: str = "relabel"
    doubt_score: float | None = None
    balanced: bool = False  # act on the report judged on prior-corrected evidence (`class_balance`)

    def __post_init__(self) -> None:
        if self.flagged not in FLAGGED_ACTIONS:
            raise ValueError(f"Unknown flagged action {self.flagged!r}: choose one of {', '.join(FLAGGED_ACTIONS)}.")
        if self.doubt_score is not None and not 0.0 <= self.doubt_score <= 1.0:
            raise ValueError(f"doubt_score must lie in [0, 1] or be None; got {self.doubt_score!r}")

    @property
    def name(self) -> str:
        """What `cleaning_policy` reads back: "relabel", "remove_hold_out@0.15", "balanced_relabel", ..."""
        name = self.flagged if self.doubt_score is None else f"{self.flagged}_hold_out@{self.doubt_score:g}"
        return f"{BALANCED_PREFIX}{name}" if self.balanced else name

    def __str__(self) -> str:
        return self.name

    def settings(self, settings: NoiseSettings) -> NoiseSettings:
        """`settings` as the report this policy acts on is judged with (prior-corrected or not)."""
        return replace(settings, class_balance=self.balanced)

    def doubtful(self, report: NoiseReport) -> np.ndarray:
        """(n,) bool: the unflagged items this policy holds out."""
        if self.doubt_score is None:
            return np.zeros(len(report.flags), dtype=bool)
        return ~report.flags & (report.scores > self.doubt_score)

    def apply(self, labels: np.ndarray, report: NoiseReport) -> tuple[np.ndarray, np.ndarray]:
        """(labels, keep), both (n,): the labels to train on and which items training keeps."""
        cleaned = np.asarray(labels).copy()
        keep = ~self.doubtful(report)
        if self.flagged == "relabel":
            cleaned[report.flags] = report.suggested[report.flags]
        elif self.flagged == "remove":
            keep &= ~report.flags
        return cleaned, keep

    def training_rows(
        self, labels: np.ndarray, report: NoiseReport
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(rows, labels, weights): training fits on `features[rows]` with these labels, row i weighted by
        weights[i] (None: every row 1). A hard policy's rows are the items it keeps, once each; a soft
        one's add a second row for each flagged item (`soft_relabel_rows`)."""
        cleaned, keep = self.apply(labels, report)
        if self.flagged != "soft_relabel":
            rows = np.flatnonzero(keep)
            return rows, cleaned[rows], None
        rows, soft_labels, weights = soft_relabel_rows(labels, report)
        kept = keep[rows]
        return rows[kept], soft_labels[kept], weights[kept]


def hedged_rows(
    labels: Sequence, hedged: Sequence[int], suggestions: Sequence, wrong: Sequence[float]
) -> tuple[np.ndarray, list, np.ndarray]:
    """(rows, labels, weights): every item once with its label, and the `hedged` ones (row positions) a
    second time with their suggestion.

    A hedged item's given label weighs 1 - p and its suggestion p, p = `wrong` (its P(label wrong),
    clipped to [0, 1]): the expected label instead of a hard choice, so a clean item doubted wrongly
    keeps most of its weight and a sure flip moves nearly whole. Every other row weighs 1. `rows` index
    the items (the hedged ones twice): training takes `features[rows]`. Labels may be of any kind
    (class indices, label ids); they come back as a list.
    """
    labels = list(labels)
    hedged = np.asarray(hedged, dtype=np.int64).reshape(-1)
    wrong = np.clip(np.asarray(wrong, dtype=np.float64).reshape(-1), 0.0, 1.0)
    if not len(hedged) == len(wrong) == len(suggestions):
        raise ValueError(
            f"one suggestion and one P(label wrong) per hedged row: {len(hedged)} rows, "
            f"{len(suggestions)} suggestions, {len(wrong)} probabilities"
        )
    if len(hedged) and (hedged.min() < 0 or hedged.max() >= len(labels) or len(set(hedged.tolist())) < len(hedged)):
        raise ValueError(f"hedged rows must be distinct positions in 0..{len(labels) - 1}")
    weights = np.ones(len(labels))
    weights[hedged] = 1.0 - wrong
    rows = np.concatenate([np.arange(len(labels)), hedged])
    return rows, labels + list(suggestions), np.concatenate([weights, wrong])


def soft_relabel_rows(
    labels: np.ndarray, report: NoiseReport, *, every_item: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels, weights) of a report's soft relabeling (`hedged_rows`): its flagged items whose
    suggestion differs from their label are hedged between the two, by the report's calibrated
    P(label wrong) (`wrong_probabilities`). `every_item` hedges every item whose suggestion differs
    (p > 0), not the flagged ones alone: the noise benchmark's `soft_relabel_all`, no policy."""
    if report.wrong_probabilities is None:
        raise ValueError("soft relabeling needs the report's wrong_probabilities (the ensemble's calibration)")
    labels = np.asarray(labels)
    wrong = np.clip(np.asarray(report.wrong_probabilities, dtype=np.float64), 0.0, 1.0)
    moved = report.suggested != labels
    hedged = np.flatnonzero(moved & (wrong > 0) if every_item else moved & report.flags)
    rows, soft_labels, weights = hedged_rows(labels, hedged, report.suggested[hedged], wrong[hedged])
    return rows, np.asarray(soft_labels, dtype=labels.dtype), weights


def cleaning_policy(name: str) -> CleaningPolicy:
    """The policy a `CleaningPolicy.name` names: "relabel", "remove_hold_out@0.15", "balanced_relabel", ...

    A ValueError names the forms it accepts.
    """
    balanced = name.startswith(BALANCED_PREFIX)
    action, _, threshold = name.removeprefix(BALANCED_PREFIX).partition("_hold_out@")
    try:
        return CleaningPolicy(action, float(threshold) if threshold else None, balanced)
    except ValueError:
        known = ", ".join(policy.name for policy in candidate_policies())
        raise ValueError(f"Unknown cleaning policy {name!r}: choose one like {known}.") from None


def candidate_policies(
    doubt_scores: Sequence[float] = DEFAULT_POLICY_DOUBT_SCORES, *, balanced: Sequence[bool] = (False, True)
) -> list[CleaningPolicy]:
    """Each flagged action alone and with the doubtful items held out at each threshold, on the plain
    and on the prior-corrected report."""
    return [
        CleaningPolicy(action, doubt_score, balance)
        for balance in balanced
        for action in FLAGGED_ACTIONS
        for doubt_score in (None, *sorted(set(doubt_scores)))
    ]


@dataclass(frozen=True)
class PolicyChoice:
    """The chooser's answer: the best policy and the out-of-fold macro-F1 of every candidate.

    scores: {policy name: mean over folds}; fold_scores: {name: [per fold]}; trusted: the held-out
    items scored (over all folds: those with a trust weight above 0).
    """

    policy: CleaningPolicy
    scores: dict[str, float]
    fold_scores: dict[str, list[float]]
    trusted: int
    folds: int

    def as_dict(self) -> dict:
        return {
            "policy": self.policy.name,
            "scores": self.scores,
            "fold_scores": self.fold_scores,
            "trusted": self.trusted,
            "folds": self.folds,
        }


def trust_weights(report: NoiseReport, trust: str = "weighted") -> np.ndarray:
    """(n,) how much the chooser counts each item's given label, 0..1; flagged items count 0.

    "weighted": 1 - the calibrated P(label wrong) (1 - score without it), so the doubtful band still
    counts, a little: were it left out, a policy that holds it out would never be seen to lose by
    it. "threshold": 1 for the items scoring at most `TRUSTED_SCORE`, else 0.
    """
    if trust not in TRUST_CHOICES:
        raise ValueError(f"Unknown trust {trust!r}: choose one of {', '.join(TRUST_CHOICES)}.")
    if trust == "threshold":
        weights = (report.scores <= TRUSTED_SCORE).astype(np.float64)
    else:
        wrong = report.scores if report.wrong_probabilities is None else report.wrong_probabilities
        weights = 1.0 - np.clip(np.asarray(wrong, dtype=np.float64), 0.0, 1.0)
    weights[report.flags] = 0.0
    return weights


def policy_reports(
    evidence: NoiseEvidence,
    policies: Sequence[CleaningPolicy],
    *,
    detectors: Sequence[str] = DEFAULT_DETECTORS,
    settings: NoiseSettings = NoiseSettings(),
) -> dict[bool, NoiseReport]:
    """The report each policy acts on, by `CleaningPolicy.balanced`: plain and prior-corrected, as needed."""
    needed = {policy.balanced for policy in policies}
    return {
        balanced: detect_label_noise(evidence, detectors=detectors, settings=replace(settings, class_balance=balanced))
        for balanced in sorted(needed)
    }


def choose_cleaning_policy(
    features: np.ndarray,
    labels: np.ndarray,
    reports: Mapping[bool, NoiseReport],
    *,
    policies: Sequence[CleaningPolicy] | None = None,
    folds: int = DEFAULT_POLICY_FOLDS,
    make_model: Callable[[], object] | None = None,
    trust: str = "weighted",
    random_state: int = 0,
) -> PolicyChoice:
    """The cleaning policy that trains the best model on this data, judged out of fold.

    features: (n, dim); labels: (n,) the given class indices 0..K-1; reports: the detectors' reports
    on them, by `CleaningPolicy.balanced` (`policy_reports`). The items are split into `folds`
    stratified folds; per fold, each policy cleans the other folds (flags and suggestions of its
    report), a model (`make_model()`, default the fast head's logistic regression, C=10) trains on
    what the policy keeps (`CleaningPolicy.training_rows`: weighted rows for a soft policy), and it is
    scored by macro-F1 on the held-out fold with the given labels, each item counted by how much the
    evidence trusts its label (`trust_weights`, of the
    prior-corrected report when there is one: the plain one distrusts rare classes). Every class
    counts the same, so a policy that starves a rare class loses. The best mean wins; ties go to the
    earlier candidate.
    """
    from sklearn.metrics import f1_score

    policies = candidate_policies() if policies is None else list(policies)
    if not policies:
        raise ValueError("choose_cleaning_policy needs at least one policy")
    features = np.asarray(features, dtype=np.float32)
    missing = {policy.balanced for policy in policies} - set(reports)
    if missing:
        raise ValueError(f"no report for the policies with balanced={sorted(missing)}: see policy_reports")
    for report in reports.values():
        if len(report.flags) != features.shape[0]:
            raise ValueError(f"a report must judge the {features.shape[0]} items given; it judged {len(report.flags)}")
    n_classes = (
        max(int(np.max(labels, initial=0)), *(int(report.suggested.max(initial=0)) for report in reports.values())) + 1
    )
    labels = _check_labels(labels, features.shape[0], max(n_classes, 2), rows_of="features")
    make_model = make_model or (lambda: LogisticRegression(C=10.0, max_iter=1000, random_state=random_state))
    weights = trust_weights(reports.get(True, reports.get(False)), trust)
    folds = min(folds, int(np.bincount(labels, minlength=n_classes).max()))
    if folds < 2:
        raise ValueError("choosing a cleaning policy needs at least 2 items of some class")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    cleaned = {policy.name: policy.training_rows(labels, reports[policy.balanced]) for policy in policies}
    fold_scores: dict[str, list[float]] = {policy.name: [] for policy in policies}
    scored = 0
    for train, held_out in _quiet_split(splitter, np.zeros(len(labels)), labels):
        judged = held_out[weights[held_out] > 0]
        if not len(judged):
            continue
        scored += len(judged)
        in_train = np.zeros(len(labels), dtype=bool)
        in_train[train] = True
        for policy in policies:
            rows, policy_labels, row_weights = cleaned[policy.name]
            fold = in_train[rows]
            probabilities = _fit_probabilities(
                features[rows[fold]],
                policy_labels[fold],
                features[judged],
                n_classes,
                make_model(),
                None if row_weights is None else row_weights[fold],
            )
            predicted = probabilities.argmax(axis=1)
            score = f1_score(
                labels[judged],
                predicted,
                labels=np.unique(labels[judged]),
                average="macro",
                sample_weight=weights[judged],
                zero_division=0,
            )
            fold_scores[policy.name].append(float(score))
    if not scored:
        raise ValueError("no item is trusted enough to score the cleaning policies on")
    scores = {name: round(float(np.mean(values)), 4) for name, values in fold_scores.items()}
    best = max(policies, key=lambda policy: (scores[policy.name], -policies.index(policy)))
    return PolicyChoice(best, scores, fold_scores, scored, folds)
