from __future__ import annotations

from annotator.models import Annotation, Project


def final_label_ids(*, project: Project) -> dict[int, list[int]]:
    """Item id -> label ids of the item's final annotation (for now: its latest annotation).

    The annotation workspace (agreement, adjudication) refines what "final" means.
    """
    latest: dict[int, int] = {}
    annotations = Annotation.objects.filter(item__project=project).order_by("id").values_list("id", "item_id")
    for annotation_id, item_id in annotations.iterator():
        latest[item_id] = annotation_id
    chosen = set(latest.values())
    labels: dict[int, list[int]] = {}
    links = Annotation.labels.through.objects.filter(annotation__item__project=project)
    for annotation_id, item_id, label_id in links.values_list("annotation_id", "annotation__item_id", "label_id"):
        if annotation_id in chosen:
            labels.setdefault(item_id, []).append(label_id)
    return labels
