"""What a distillation job reads besides the training snapshot: the pool of unlabeled text the teachers
label for the student, and the teacher a form proposes."""

from __future__ import annotations

from dataclasses import dataclass

from annotator.models import Exclusion, Item, ModelVersion, Project, Split
from annotator.selectors.items import final_label_ids
from annotator.selectors.training import held_out_item_ids


@dataclass(frozen=True)
class Pool:
    item_ids: list[int]
    texts: list[str]


def distillation_pool(*, project: Project, limit: int) -> Pool:
    """Up to `limit` of the project's items with no final label, oldest first: never the locked test
    split (the student is judged there), never an item kept out of training (blacklist, noise)."""
    labeled = {pk for pk, labels in final_label_ids(project=project).items() if labels}
    kept_out = set(Exclusion.objects.filter(item__project=project).values_list("item_id", flat=True))
    kept_out |= held_out_item_ids(project=project)
    rows = Item.objects.filter(project=project).exclude(split=Split.TEST).order_by("id").values_list("id", "text")
    ids, texts = [], []
    for pk, text in rows.iterator():
        if pk in labeled or pk in kept_out:
            continue
        ids.append(pk)
        texts.append(text)
        if len(ids) >= limit:
            break
    return Pool(ids, texts)


def best_version(*, project: Project) -> ModelVersion | None:
    """The registered version with the highest test macro-F1 (the newest among equals): the default teacher."""
    scored = [v for v in ModelVersion.objects.filter(project=project) if v.metrics.get("macro_f1") is not None]
    return max(scored, key=lambda v: (float(v.metrics["macro_f1"]), v.number), default=None)
