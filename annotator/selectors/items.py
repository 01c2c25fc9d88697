from __future__ import annotations

from django.db.models import QuerySet

from annotator.models import Annotation, AnnotationLabel, Project


def counted_annotations(*, project: Project) -> QuerySet[Annotation]:
    """Annotations that count as labels: everything but unconfirmed or rejected candidates."""
    return Annotation.objects.filter(item__project=project, candidate_status="")


def final_label_ids(*, project: Project) -> dict[int, list[int]]:
    """Item id -> label ids of the item's final annotation (for now: its latest counted annotation).

    Candidates from rules and clusters never count. The annotation workspace (agreement,
    adjudication) refines what "final" means.
    """
    latest: dict[int, int] = {}
    annotations = counted_annotations(project=project).order_by("id").values_list("id", "item_id")
    for annotation_id, item_id in annotations.iterator():
        latest[item_id] = annotation_id
    chosen = set(latest.values())
    labels: dict[int, list[int]] = {}
    links = AnnotationLabel.objects.filter(annotation__item__project=project)
    for annotation_id, item_id, label_id in links.values_list("annotation_id", "annotation__item_id", "label_id"):
        if annotation_id in chosen:
            labels.setdefault(item_id, []).append(label_id)
    return labels
