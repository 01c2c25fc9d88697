"""Clustering of text embeddings for label design: k, clusters, keywords, exemplars and a map.

Embeddings are compared by cosine similarity throughout: they are L2-normalised before KMeans, so
Euclidean KMeans on them is spherical KMeans up to the centroid norm.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import jieba
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score

from mlcore.languages import is_chinese

DEFAULT_K_RANGE = (2, 20)

# --- k and KMeans -------------------------------------------------------------------------------


def _as_2d_float_array(embeddings, name: str = "embeddings") -> np.ndarray:
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, dim); got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (n, dim) -> (n, dim); all-zero rows stay zero."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def _validate_k_range(k_range: tuple[int, int], n_items: int) -> range:
    """Inclusive k range, capped at n_items - 1 (silhouette needs at least one cluster with 2 items)."""
    k_min, k_max = k_range
    if not 2 <= k_min <= k_max:
        raise ValueError(f"k_range must be (k_min, k_max) with 2 <= k_min <= k_max; got {k_range}")
    if n_items < k_min + 1:
        raise ValueError(f"need at least {k_min + 1} items to try k={k_min}; got {n_items}")
    return range(k_min, min(k_max, n_items - 1) + 1)


def _kmeans(normalized: np.ndarray, k: int, *, random_state: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(normalized)


def _silhouette_sweep(
    normalized: np.ndarray, ks: range, *, random_state: int, sample_size: int, n_init: int
) -> tuple[dict[int, float], dict[int, KMeans]]:
    """KMeans for every k in `ks` and its cosine silhouette on one seeded subsample (the same for all k)."""
    scores: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    sample = min(sample_size, len(normalized))
    for k in ks:
        model = _kmeans(normalized, k, random_state=random_state, n_init=n_init)
        score = silhouette_score(
            normalized, model.labels_, metric="cosine", sample_size=sample, random_state=random_state
        )
        scores[k] = float(score)
        models[k] = model
    return scores, models


def _best_k(scores: dict[int, float]) -> int:
    # Ties go to the smaller k: fewer clusters are easier for a human to review.
    return max(scores, key=lambda k: (scores[k], -k))


def choose_k_by_silhouette(
    embeddings: np.ndarray,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    *,
    random_state: int,
    sample_size: int = 2000,
    n_init: int = 10,
) -> tuple[int, dict[int, float]]:
    """The k in the inclusive `k_range` whose KMeans clustering has the highest cosine silhouette.

    embeddings: (n, dim). The silhouette is computed on a seeded subsample of `sample_size` items (all
    of them when n <= sample_size). Returns (best k, {k: silhouette}).
    """
    normalized = l2_normalize(_as_2d_float_array(embeddings))
    ks = _validate_k_range(k_range, len(normalized))
    scores, _ = _silhouette_sweep(normalized, ks, random_state=random_state, sample_size=sample_size, n_init=n_init)
    return _best_k(scores), scores


class TextClusterer(ClusterMixin, BaseEstimator):
    """KMeans on L2-normalised embeddings, with k chosen by cosine silhouette when not given.

    After `fit`: `labels_` (n,), `centers_` (k, dim, unit length), `n_clusters_`, and
    `silhouette_scores_` ({k: score}; empty when `n_clusters` was given).
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        k_range: tuple[int, int] = DEFAULT_K_RANGE,
        random_state: int = 0,
        n_init: int = 10,
        sample_size: int = 2000,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.random_state = random_state
        self.n_init = n_init
        self.sample_size = sample_size

    def fit(self, embeddings: np.ndarray, y=None) -> TextClusterer:
        """embeddings: (n, dim); `y` is ignored (there for the scikit-learn API)."""
        normalized = l2_normalize(_as_2d_float_array(embeddings))
        if self.n_init < 1:
            raise ValueError(f"n_init must be >= 1; got {self.n_init}")
        if self.n_clusters is None:
            model, self.silhouette_scores_ = self._fit_choosing_k(normalized)
        else:
            if not 1 <= self.n_clusters <= len(normalized):
                raise ValueError(f"n_clusters must be between 1 and n_items={len(normalized)}; got {self.n_clusters}")
            model = _kmeans(normalized, self.n_clusters, random_state=self.random_state, n_init=self.n_init)
            self.silhouette_scores_ = {}
        self.labels_ = model.labels_.astype(np.int64)
        # KMeans centroids of unit vectors are shorter than 1; unit length makes them comparable by cosine.
        self.centers_ = l2_normalize(model.cluster_centers_)
        self.n_clusters_ = int(model.n_clusters)
        return self

    def _fit_choosing_k(self, normalized: np.ndarray) -> tuple[KMeans, dict[int, float]]:
        ks = _validate_k_range(self.k_range, len(normalized))
        scores, models = _silhouette_sweep(
            normalized, ks, random_state=self.random_state, sample_size=self.sample_size, n_init=self.n_init
        )
        return models[_best_k(scores)], scores


# --- keywords (class-based TF-IDF) --------------------------------------------------------------

_ENGLISH_WORD = re.compile(r"\b\w+\b")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
# Function words, pronouns, particles, degree adverbs, verbs of saying and feeling, numerals, measure words and
# punctuation: a few hundred entries that say nothing about a topic (where the list comes from: its header).
CHINESE_STOP_WORDS_FILE = Path(__file__).with_name("data") / "stopwords_zh.txt"


def load_stop_words(path: Path) -> frozenset[str]:
    """The words of a stop-word file: whitespace-separated entries, "#" to the end of a line is a comment."""
    words: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        words.update(line.split("#", 1)[0].split())
    return frozenset(words)


CHINESE_STOP_WORDS = load_stop_words(CHINESE_STOP_WORDS_FILE)  # read once, at import


# Reporting verbs and titles that news and forum text repeat in every topic ("said" topped every BBC
# cluster's keywords); they say nothing about a cluster.
_ENGLISH_FILLER_WORDS = frozenset({"said", "says", "told", "mr", "mrs", "ms", "just", "like", "don", "didn"})
_ENGLISH_IGNORED = ENGLISH_STOP_WORDS | _ENGLISH_FILLER_WORDS


def english_tokens(text: str) -> list[str]:
    """Lowercase word tokens of >= 3 characters, not pure digits, without stop and filler words."""
    return [
        token
        for token in _ENGLISH_WORD.findall(text.lower())
        if len(token) >= 3 and not token.isdigit() and token not in _ENGLISH_IGNORED
    ]


def chinese_tokens(text: str) -> list[str]:
    """Keyword tokens: jieba words of >= 2 characters containing a CJK character or a latin letter, minus the
    Chinese stop list and English stop and filler words."""
    tokens = (token.strip().lower() for token in jieba.lcut(text))
    return [
        token
        for token in tokens
        if len(token) >= 2
        and (_CJK.search(token) or _LATIN_LETTER.search(token))
        and token not in CHINESE_STOP_WORDS
        and token not in _ENGLISH_IGNORED
    ]


def _tokenizer_for(language: str):
    return chinese_tokens if is_chinese(language) else english_tokens


def cluster_keywords(
    texts: Sequence[str], labels: Sequence[int], *, language: str = "en", top_n: int = 10
) -> dict[int, list[tuple[str, float]]]:
    """Top `top_n` (term, c-TF-IDF score) per cluster, best first; ties broken alphabetically.

    c-TF-IDF (BERTopic): each cluster's documents form one document; the term frequency per cluster is
    L1-normalised and weighted by log(1 + average words per cluster / frequency of the term in all clusters).
    """
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length: {len(texts)} != {len(labels)}")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1; got {top_n}")
    clusters = sorted(int(c) for c in np.unique(labels))
    class_documents = [[texts[i] for i in np.flatnonzero(labels == c)] for c in clusters]
    counts = _class_term_counts(class_documents, _tokenizer_for(language))
    if counts is None:
        return {c: [] for c in clusters}
    matrix, vocabulary = counts
    scores = _c_tf_idf(matrix)
    return {c: _top_terms(scores[row], matrix[row], vocabulary, top_n) for row, c in enumerate(clusters)}


def _class_term_counts(class_documents: list[list[str]], tokenize) -> tuple[np.ndarray, np.ndarray] | None:
    """(n_clusters, n_terms) term counts and the sorted vocabulary; None when no token survives."""
    vectorizer = CountVectorizer(analyzer=lambda docs: [t for doc in docs for t in tokenize(doc)])
    try:
        matrix = vectorizer.fit_transform(class_documents).toarray().astype(np.float64)
    except ValueError:  # empty vocabulary
        return None
    return matrix, vectorizer.get_feature_names_out()


def _c_tf_idf(counts: np.ndarray) -> np.ndarray:
    """(n_clusters, n_terms) counts -> c-TF-IDF scores of the same shape."""
    words_per_class = counts.sum(axis=1, keepdims=True)
    tf = counts / np.maximum(words_per_class, 1)
    average_words = counts.sum() / len(counts)
    idf = np.log(1 + average_words / counts.sum(axis=0))
    return tf * idf


def _top_terms(scores: np.ndarray, counts: np.ndarray, vocabulary: np.ndarray, top_n: int) -> list[tuple[str, float]]:
    present = np.flatnonzero(counts > 0)
    # lexsort's last key is primary: score descending, then the term for determinism.
    order = present[np.lexsort((vocabulary[present], -scores[present]))]
    return [(str(vocabulary[i]), float(scores[i])) for i in order[:top_n]]


# --- exemplars ----------------------------------------------------------------------------------


def central_and_borderline(
    embeddings: np.ndarray,
    labels: Sequence[int],
    centers: np.ndarray,
    *,
    n_central: int = 5,
    n_borderline: int = 3,
) -> dict[int, dict[str, list[int]]]:
    """Per cluster: {"central": [...], "borderline": [...]} item indices.

    embeddings: (n, dim); labels: (n,) in 0..k-1; centers: (k, dim). Central items are the most
    cosine-similar to their centroid; borderline ones have the smallest margin between the similarity to
    their own centroid and to the next-best one (with a single cluster: the least similar members).
    """
    normalized = l2_normalize(_as_2d_float_array(embeddings))
    unit_centers = l2_normalize(_as_2d_float_array(centers, "centers"))
    labels = np.asarray(labels, dtype=np.int64)
    _validate_exemplar_inputs(normalized, labels, unit_centers, n_central, n_borderline)
    similarity = normalized @ unit_centers.T
    margins = _margin_to_next_centroid(similarity, labels)
    own = similarity[np.arange(len(labels)), labels]
    result = {}
    for cluster in range(len(unit_centers)):
        members = np.flatnonzero(labels == cluster)
        if len(members) == 0:
            continue
        central = members[np.argsort(-own[members], kind="stable")][:n_central]
        borderline = members[np.argsort(margins[members], kind="stable")][:n_borderline]
        result[cluster] = {"central": central.tolist(), "borderline": borderline.tolist()}
    return result


def _validate_exemplar_inputs(normalized, labels, centers, n_central: int, n_borderline: int) -> None:
    if len(labels) != len(normalized):
        raise ValueError(f"labels has {len(labels)} entries for {len(normalized)} embeddings")
    if centers.shape[1] != normalized.shape[1]:
        raise ValueError(f"centers have dim {centers.shape[1]}, embeddings {normalized.shape[1]}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(centers)):
        raise ValueError(f"labels must lie in 0..{len(centers) - 1}")
    if n_central < 0 or n_borderline < 0:
        raise ValueError("n_central and n_borderline must be >= 0")


def _margin_to_next_centroid(similarity: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, k) similarities -> (n,) own-centroid similarity minus the best other one."""
    rows = np.arange(len(labels))
    own = similarity[rows, labels]
    if similarity.shape[1] == 1:
        return own  # no other centroid: the least similar members are the doubtful ones
    others = similarity.copy()
    others[rows, labels] = -np.inf
    return own - others.max(axis=1)


# --- map ----------------------------------------------------------------------------------------


def project_2d(embeddings: np.ndarray, *, random_state: int) -> np.ndarray:
    """PCA of embeddings (n, dim) onto its first two components -> (n, 2).

    With fewer than two usable components (one item, one dimension) the missing columns are zero.
    """
    array = _as_2d_float_array(embeddings)
    points = np.zeros((len(array), 2))
    n_components = min(2, len(array), array.shape[1])
    if len(array) >= 2 and n_components > 0:
        points[:, :n_components] = PCA(n_components=n_components, random_state=random_state).fit_transform(array)
    return points


# Tableau 10: distinct, colour-blind-friendlier hues; cycled when there are more clusters.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_MARGIN = 24
# Characters XML 1.0 forbids even when escaped; a cluster name from user text may contain them.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TITLE_HEIGHT = 28


def cluster_map_svg(
    points_2d: np.ndarray,
    labels: Sequence[int],
    *,
    names: dict[int, str] | None = None,
    width: int = 720,
    height: int = 480,
    title: str = "Cluster map",
    max_points: int = 3000,
    random_state: int = 0,
) -> str:
    """A self-contained SVG scatter plot: one dot per item coloured by cluster, each cluster's name at
    the mean position of its items, and a title.

    points_2d: (n, 2); labels: (n,). At most `max_points` dots are drawn (a seeded subsample); the name
    positions use all items.
    """
    points = _as_2d_float_array(points_2d, "points_2d")
    labels = np.asarray(labels)
    if points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points_2d must be (n, 2) with one label per row; got {points.shape} and {len(labels)}")
    if width < 4 * _MARGIN or height < 4 * _MARGIN + _TITLE_HEIGHT:
        raise ValueError(f"width and height are too small for a map: {width}x{height}")
    names = names or {}
    pixels = _to_pixels(points, width, height)
    shown = _subsample(len(points), max_points, random_state)
    clusters = [int(c) for c in np.unique(labels)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f"<title>{_xml_text(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{_xml_text(title)}</text>",
    ]
    for position, cluster in enumerate(clusters):
        parts.append(_dots_group(pixels[shown][labels[shown] == cluster], PALETTE[position % len(PALETTE)]))
    texts = [names.get(cluster, f"Cluster {cluster}") for cluster in clusters]
    centres = np.array([pixels[labels == cluster].mean(axis=0) for cluster in clusters]).reshape(-1, 2)
    sizes = [int(np.sum(labels == cluster)) for cluster in clusters]
    bounds = (_MARGIN / 2, _TITLE_HEIGHT + _MARGIN / 2, width - _MARGIN / 2, height - _MARGIN / 2)
    anchors = place_names(centres, [_name_size(text) for text in texts], bounds=bounds, priority=sizes)
    for position, (anchor, text) in enumerate(zip(anchors, texts, strict=True)):
        parts.append(_cluster_name(anchor, text, PALETTE[position % len(PALETTE)]))
    parts.append("</svg>")
    return "\n".join(parts)


_NAME_FONT_SIZE = 13
# Bold sans-serif averages about 0.62 em per character; the white outline adds a few pixels.
_NAME_CHAR_WIDTH = 0.62 * _NAME_FONT_SIZE
_NAME_PAD = 4


def _name_size(text: str) -> tuple[float, float]:
    return len(text) * _NAME_CHAR_WIDTH + 2 * _NAME_PAD, _NAME_FONT_SIZE + _NAME_PAD


def place_names(
    centres: np.ndarray,
    sizes: Sequence[tuple[float, float]],
    *,
    bounds: tuple[float, float, float, float],
    priority: Sequence[float] | None = None,
) -> np.ndarray:
    """Text anchors (centre of the baseline's box) near each centre, so that no two boxes overlap.

    centres: (n, 2) pixels; sizes: n (width, height) boxes; bounds: (left, top, right, bottom) that boxes
    stay in. Greedy: names with the highest `priority` (the biggest clusters) are placed first, each at
    the first free spot on rings of growing distance around its centre; a name with no free spot within
    reach takes the spot that overlaps least. Returns (n, 2) anchors for `text-anchor="middle"`, whose
    y is the box's vertical centre (the caller shifts by the baseline).
    """
    centres = np.asarray(centres, dtype=float).reshape(-1, 2)
    order = np.argsort(-np.asarray(priority if priority is not None else np.zeros(len(centres)), dtype=float))
    placed: list[tuple[float, float, float, float]] = []
    anchors = centres.copy()
    for index in order:
        width, height = sizes[index]
        best, best_overlap = None, np.inf
        for dx, dy in _spiral_offsets(height):
            box = _box_at(centres[index] + (dx, dy), width, height, bounds)
            overlap = sum(_overlap_area(box, other) for other in placed)
            if overlap < best_overlap:
                best, best_overlap = box, overlap
            if overlap == 0:
                break
        placed.append(best)
        anchors[index] = ((best[0] + best[2]) / 2, (best[1] + best[3]) / 2)
    return anchors


def _spiral_offsets(step: float, rings: int = 12):
    """(0, 0), then 8 directions on rings `step` apart: below and above first, then sideways."""
    yield 0.0, 0.0
    directions = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))
    for ring in range(1, rings + 1):
        for dx, dy in directions:
            yield dx * ring * step * 2.5, dy * ring * step


def _box_at(anchor: np.ndarray, width: float, height: float, bounds) -> tuple[float, float, float, float]:
    """The box centred on `anchor`, shifted inside `bounds`."""
    left, top, right, bottom = bounds
    x = float(np.clip(anchor[0], left + width / 2, max(left + width / 2, right - width / 2)))
    y = float(np.clip(anchor[1], top + height / 2, max(top + height / 2, bottom - height / 2)))
    return x - width / 2, y - height / 2, x + width / 2, y + height / 2


def _overlap_area(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _xml_text(text: str) -> str:
    return escape(_XML_FORBIDDEN.sub("", text))


def _to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale points into the plot area below the title; y grows upwards as in a chart."""
    if len(points) == 0:
        return points
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    unit = (points - low) / span
    left, top = _MARGIN, _MARGIN + _TITLE_HEIGHT
    x = left + unit[:, 0] * (width - 2 * _MARGIN)
    y = top + (1 - unit[:, 1]) * (height - top - _MARGIN)
    return np.column_stack([x, y])


def _subsample(n_items: int, max_points: int, random_state: int) -> np.ndarray:
    if n_items <= max_points:
        return np.arange(n_items)
    return np.sort(np.random.default_rng(random_state).choice(n_items, size=max_points, replace=False))


def _dots_group(pixels: np.ndarray, color: str) -> str:
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in pixels)
    return f'<g fill="{color}" fill-opacity="0.7">{dots}</g>'


def _cluster_name(centre: np.ndarray, name: str, color: str) -> str:
    # A white outline drawn under the text keeps the name readable on top of the dots; `centre` is the
    # middle of the name's box, and the baseline sits about a third of the font size below it.
    return (
        f'<text x="{centre[0]:.1f}" y="{centre[1] + _NAME_FONT_SIZE / 3:.1f}" text-anchor="middle" '
        f'font-size="{_NAME_FONT_SIZE}" font-weight="bold" '
        f'fill={quoteattr(color)} stroke="#ffffff" stroke-width="3" paint-order="stroke">{_xml_text(name)}</text>'
    )
