"""Clustering on synthetic blobs (no encoder), keywords on tiny corpora, the cluster map."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.base import clone

from mlcore.clustering import (
    CHINESE_STOP_WORDS,
    CHINESE_STOP_WORDS_FILE,
    TextClusterer,
    central_and_borderline,
    chinese_tokens,
    choose_k_by_silhouette,
    cluster_keywords,
    cluster_map_svg,
    place_names,
    project_2d,
)

SVG = "{http://www.w3.org/2000/svg}"


def make_blobs(n_clusters: int = 4, per_cluster: int = 40, dim: int = 16, seed: int = 0):
    """Tight Gaussian blobs around random directions: (n, dim) points and their true labels."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n_clusters, dim))
    labels = np.repeat(np.arange(n_clusters), per_cluster)
    points = directions[labels] + rng.normal(scale=0.1, size=(len(labels), dim))
    return points, labels


def test_silhouette_finds_the_true_number_of_blobs():
    points, _ = make_blobs(n_clusters=4)
    k, scores = choose_k_by_silhouette(points, (2, 8), random_state=0)
    assert k == 4
    assert sorted(scores) == list(range(2, 9))


def test_clusterer_recovers_blobs_and_is_deterministic():
    points, truth = make_blobs(n_clusters=5, seed=3)
    first = TextClusterer(k_range=(2, 10), random_state=7).fit(points)
    second = TextClusterer(k_range=(2, 10), random_state=7).fit(points)
    assert first.n_clusters_ == 5
    assert first.labels_.shape == (len(points),)
    assert first.centers_.shape == (5, points.shape[1])
    np.testing.assert_allclose(np.linalg.norm(first.centers_, axis=1), 1.0)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    assert first.silhouette_scores_ == second.silhouette_scores_
    # Every true blob maps to exactly one cluster.
    assert all(len(set(first.labels_[truth == t])) == 1 for t in range(5))


def test_given_k_skips_the_silhouette_sweep():
    points, _ = make_blobs(n_clusters=3)
    clusterer = TextClusterer(n_clusters=6).fit(points)
    assert clusterer.n_clusters_ == 6
    assert clusterer.silhouette_scores_ == {}


def test_clusterer_follows_the_estimator_contract():
    points, _ = make_blobs(n_clusters=3)
    clusterer = TextClusterer(n_clusters=3, random_state=1)
    assert clone(clusterer).get_params() == clusterer.get_params()
    assert not hasattr(clusterer, "labels_")
    np.testing.assert_array_equal(clusterer.fit_predict(points), clusterer.labels_)


def test_bad_inputs_are_refused():
    points, _ = make_blobs()
    with pytest.raises(ValueError, match="k_range"):
        choose_k_by_silhouette(points, (1, 5), random_state=0)
    with pytest.raises(ValueError, match="2-D"):
        TextClusterer().fit(points[0])
    with pytest.raises(ValueError, match="at least"):
        TextClusterer(k_range=(2, 5)).fit(points[:2])


SPORTS = [
    "The football team won the match after a late goal.",
    "The striker scored twice and the football fans celebrated.",
    "Tennis champion wins the final in straight sets.",
    "The coach praised the team after the football league match.",
]
FINANCE = [
    "Shares fell on the stock market as investors sold bank stocks.",
    "The central bank raised interest rates to fight inflation.",
    "Stock prices rose after strong quarterly earnings.",
    "Investors bought government bonds as the market slowed.",
]


def test_english_keywords_describe_their_cluster():
    keywords = cluster_keywords(SPORTS + FINANCE, [0] * 4 + [1] * 4, top_n=5)
    sports_terms = [term for term, _ in keywords[0]]
    finance_terms = [term for term, _ in keywords[1]]
    assert {"football", "match", "team"} & set(sports_terms)
    assert {"stock", "bank", "market", "investors"} & set(finance_terms)
    assert "the" not in sports_terms
    scores = [score for _, score in keywords[0]]
    assert scores == sorted(scores, reverse=True)
    assert keywords == cluster_keywords(SPORTS + FINANCE, [0] * 4 + [1] * 4, top_n=5)


def test_english_keywords_drop_digits_and_short_tokens():
    keywords = cluster_keywords(["ok 2024 go goal goal", "at 99 market"], [0, 1])
    assert [term for term, _ in keywords[0]] == ["goal"]
    assert [term for term, _ in keywords[1]] == ["market"]


def test_chinese_keywords_use_jieba_words():
    texts = [
        "今天股市大涨。投资者买入银行股票。",
        "股市下跌。投资者担心通货膨胀。",
        "央行宣布降息。股市反应积极。",
        "足球比赛中。球队在最后时刻进球获胜。",
        "这场足球比赛非常精彩。球迷欢呼。",
        "篮球比赛结束。球队获得冠军。",
    ]
    keywords = cluster_keywords(texts, [0, 0, 0, 1, 1, 1], language="zh", top_n=5)
    assert "股市" in [term for term, _ in keywords[0]]
    assert "球队" in [term for term, _ in keywords[1]]
    assert all(len(term) >= 2 for terms in keywords.values() for term, _ in terms)


def test_keywords_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        cluster_keywords(["a text"], [0, 1])


def test_central_and_borderline_items_belong_to_their_cluster():
    points, _ = make_blobs(n_clusters=3)
    clusterer = TextClusterer(n_clusters=3, random_state=0).fit(points)
    exemplars = central_and_borderline(points, clusterer.labels_, clusterer.centers_, n_central=4, n_borderline=2)
    assert sorted(exemplars) == [0, 1, 2]
    for cluster, picks in exemplars.items():
        assert len(picks["central"]) == 4 and len(picks["borderline"]) == 2
        assert all(clusterer.labels_[i] == cluster for i in picks["central"] + picks["borderline"])


def test_central_is_nearest_the_centroid_and_borderline_sits_between_clusters():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.6, 0.4], [0.0, 1.0], [0.1, 0.9]])
    centers = np.array([[1.0, 0.0], [0.0, 1.0]])
    exemplars = central_and_borderline(embeddings, [0, 0, 0, 1, 1], centers, n_central=1, n_borderline=1)
    assert exemplars[0] == {"central": [0], "borderline": [2]}


def test_project_2d_shape_and_degenerate_inputs():
    points, _ = make_blobs()
    assert project_2d(points, random_state=0).shape == (len(points), 2)
    assert project_2d(points[:1], random_state=0).shape == (1, 2)
    assert project_2d(np.zeros((0, 5)), random_state=0).shape == (0, 2)


def test_cluster_map_is_valid_svg_with_names_and_a_dot_per_item():
    points, labels = make_blobs(n_clusters=3, per_cluster=20)
    svg = cluster_map_svg(project_2d(points, random_state=0), labels, names={0: "Sport & <games>", 1: "Money"})
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f".//{SVG}circle")) == 60
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert {"Sport & <games>", "Money", "Cluster 2", "Cluster map"} <= set(texts)


def test_cluster_map_subsamples_large_inputs():
    rng = np.random.default_rng(0)
    svg = cluster_map_svg(rng.normal(size=(5000, 2)), rng.integers(0, 12, 5000), max_points=3000)
    assert len(ET.fromstring(svg).findall(f".//{SVG}circle")) == 3000


def test_cluster_map_names_do_not_overlap_when_clusters_crowd_together():
    """Issue 20, bug 5: the cluster map's labels overlapped (names drawn at each cluster's mean)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(12), 30)
    points = rng.normal(scale=0.05, size=(len(labels), 2)) + labels[:, None] * 0.01  # twelve clusters in one spot
    points[:5] += 10  # an outlier stretches the scale, crowding the rest further
    names = {c: f"keyword{c} · another{c} · third{c}" for c in range(12)}
    root = ET.fromstring(cluster_map_svg(points, labels, names=names))
    boxes = []
    for element in root.iter(f"{SVG}text"):
        if element.get("font-size") != "13":
            continue  # the title
        x, y, width = float(element.get("x")), float(element.get("y")), len(element.text) * 0.62 * 13
        boxes.append((x - width / 2, y - 13, x + width / 2, y))
        assert x - width / 2 >= 0 and x + width / 2 <= 720 and y - 13 >= 28 and y <= 480, element.text
    assert len(boxes) == 12
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0
            assert not overlap, (a, b)


def test_place_names_keeps_a_lone_name_at_its_centre():
    anchors = place_names(np.array([[100.0, 100.0]]), [(40.0, 17.0)], bounds=(0, 0, 400, 300))
    assert anchors.tolist() == [[100.0, 100.0]]


# --- the Chinese stop list (issue 22) ---------------------------------------------------------------------------

# Three topics written the way reviews are: every text leans on the same generic words (比较 有点 感觉 觉得 真的...).
GENERIC_WORDS = ("比较", "有点", "感觉", "觉得", "真的", "表示", "认为", "进行", "非常", "一些")
TOPIC_TEXTS = {
    "phone": [
        "我觉得这款手机的屏幕比较清晰，感觉电池有点不耐用。",
        "手机系统比较流畅，感觉拍照效果真的不错，电池续航有点短。",
        "用了一周手机，觉得屏幕有点反光，感觉处理器比较快。",
        "朋友表示这款手机的电池比较耐用，我认为屏幕真的很好。",
        "感觉手机充电有点慢，觉得拍照比较清楚，屏幕非常亮。",
        "这部手机进行了系统升级，感觉电池比较省电，有点发热。",
    ],
    "food": [
        "这家餐厅的菜比较好吃，感觉服务员有点慢，味道真的很好。",
        "觉得餐厅的牛肉有点咸，感觉米饭比较香，菜的分量非常足。",
        "餐厅环境比较干净，觉得火锅味道有点辣，感觉服务真的热情。",
        "我认为这家餐厅的菜品比较新鲜，感觉价格有点高，味道一般。",
        "感觉餐厅的甜点有点甜，觉得牛肉比较嫩，服务员表示会改进。",
        "火锅的汤底比较浓，感觉菜品有点少，觉得味道真的很正。",
    ],
    "travel": [
        "这次旅游的酒店比较干净，感觉导游有点赶时间，风景真的很美。",
        "觉得酒店的房间有点小，感觉景点比较多，门票非常贵。",
        "旅游路线比较合理，觉得导游讲解有点快，感觉酒店早餐真的丰富。",
        "我认为这个景点的风景比较好，感觉门票有点贵，酒店位置方便。",
        "感觉旅游团的行程有点紧，觉得酒店服务比较好，导游表示会调整。",
        "景点人比较多，感觉排队有点久，觉得风景真的值得，进行了拍照。",
    ],
}


def test_generic_words_do_not_top_chinese_cluster_keywords():
    texts = [text for topic in TOPIC_TEXTS.values() for text in topic]
    labels = [index for index, topic in enumerate(TOPIC_TEXTS.values()) for _ in topic]
    keywords = cluster_keywords(texts, labels, language="zh", top_n=5)
    top = {name: [term for term, _ in keywords[index]] for index, name in enumerate(TOPIC_TEXTS)}
    for terms in top.values():
        assert not set(terms) & set(GENERIC_WORDS), top
    assert {"手机", "屏幕", "电池"} <= set(top["phone"])
    assert {"餐厅", "味道"} <= set(top["food"])
    assert {"酒店", "导游", "景点"} & set(top["travel"])


def test_the_chinese_stop_list_is_thorough_and_read_from_its_file():
    assert CHINESE_STOP_WORDS_FILE.is_file()
    assert len(CHINESE_STOP_WORDS) > 500
    for word in (*GENERIC_WORDS, "的", "了", "我们", "但是", "一个", "，", "。", "“", "！"):
        assert word in CHINESE_STOP_WORDS, word
    for topical in ("手机", "股市", "足球", "价格", "质量"):
        assert topical not in CHINESE_STOP_WORDS, topical
    assert not any("#" in word for word in CHINESE_STOP_WORDS)  # comments are not entries


def test_chinese_tokens_drop_english_fillers_too():
    assert chinese_tokens("他said这个iPhone真的比较好用") == ["iphone", "好用"]
