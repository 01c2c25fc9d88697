"""The loop end to end, on a real worker: in the demo project, the 25th label queues a rescoring job
without making the annotator wait; the worker retrains the fast head and the queue serves by the
new scores."""

from __future__ import annotations

import time

import pytest

from annotator.models import Job, JobStatus, Membership, Role, ScoreRun, Split
from annotator.services.demo import demo_project_load
from annotator.services.embeddings import item_embeddings, load_encoder
from annotator.services.queue import annotation_submit, queue_next_item
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_labeling_25_demo_items_rescores_the_pool_on_the_worker(celery_worker, make_user, allowed_tiny_backbone):
    admin, annotator, other = make_user("demo_admin"), make_user("demo_annotator"), make_user("demo_other")
    project, _ = demo_project_load(admin=admin)
    project.backbone = allowed_tiny_backbone  # a 2-layer BERT: the same code path, seconds instead of minutes
    project.save(update_fields=["backbone"])
    for user in (annotator, other):
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    # As a clustering job would have left it: every item embedded in the project's cache.
    item_embeddings(
        project=project,
        item_ids=list(project.items.values_list("id", flat=True)),
        encoder=load_encoder(allowed_tiny_backbone),
    )
    assert project.al_every_labels == 25
    celery_worker()

    labels = {label.name: label for label in project.labels.all()}
    seconds = []
    for _ in range(25):
        item = queue_next_item(project=project, user=annotator)
        started = time.perf_counter()
        annotation_submit(item=item, annotator=annotator, labels=[labels[item.meta["gold_label"]]])
        seconds.append(time.perf_counter() - started)
        if _ < 24:
            assert not Job.objects.filter(project=project, kind="rescore").exists()
    job = Job.objects.get(project=project, kind="rescore")
    assert job.queue == "cpu" and max(seconds) < 2.0, seconds  # the 25th submit only queued it

    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=240, message="the rescoring job")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log)
    run = ScoreRun.objects.get(pk=job.result["score_run"])
    assert run.model_version.number == job.result["number"] == 1 and run.labels_used == 25
    assert run.model_version.metrics["evaluation"] == "test"  # the demo's locked test split: 89 per class
    open_pool = project.items.filter(split=Split.POOL, is_open=True)
    # Every open pool item (an overlap item labeled once is still open: it waits for its second person).
    assert run.items_scored == open_pool.count() >= project.items.filter(split=Split.POOL).count() - 25
    # The queue now serves by the new scores: the next item is the new run's best.
    best = open_pool.order_by("-priority", "id").first()
    assert best.score_run_id == run.pk and best.priority > 1.0  # priorities of the queried batch are in (1, 2]
    assert queue_next_item(project=project, user=other) == best
