"""Storing a model's scores of the pool: the queue then serves the highest priority first.

Scoring runs in workers (active learning); this only writes what they computed, so the annotator's
request never waits for a model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from annotator.models import Item, Project, ScoreRun

WRITE_BATCH_SIZE = 1000


@dataclass(frozen=True)
class ItemScore:
    item_id: int
    priority: float  # higher is served first
    suggested_label_id: int | None = None
    confidence: float | None = None


@transaction.atomic
def score_run_store(
    *, project: Project, model_name: str, strategy: str, scores: Iterable[ItemScore], labels_used: int
) -> ScoreRun:
    """Record a scoring of `project`'s items and reorder its queue by it, in one transaction."""
    scores = list(scores)
    known = set(project.items.filter(pk__in=[s.item_id for s in scores]).values_list("pk", flat=True))
    run = ScoreRun.objects.create(project=project, model_name=model_name, strategy=strategy, labels_used=labels_used)
    items = [
        Item(
            pk=score.item_id,
            priority=score.priority,
            suggested_label_id=score.suggested_label_id,
            suggestion_confidence=score.confidence,
            score_run=run,
        )
        for score in scores
        if score.item_id in known
    ]
    fields = ["priority", "suggested_label", "suggestion_confidence", "score_run"]
    Item.objects.bulk_update(items, fields, batch_size=WRITE_BATCH_SIZE)
    run.items_scored = len(items)
    run.save(update_fields=["items_scored"])
    return run
