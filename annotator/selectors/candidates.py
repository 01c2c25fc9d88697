from __future__ import annotations

from django.db.models import Count, QuerySet

from annotator.models import Annotation, CandidateStatus, Project


def pending_candidates(*, project: Project, label_id: int | None = None) -> QuerySet[Annotation]:
    """Suggestions waiting for a human check, grouped by label then oldest first."""
    candidates = Annotation.objects.filter(item__project=project, candidate_status=CandidateStatus.PENDING)
    if label_id is not None:
        candidates = candidates.filter(labels=label_id)
    return candidates.select_related("item", "rule", "cluster").prefetch_related("labels").order_by("id")


def pending_candidate_counts(*, project: Project) -> dict[int, int]:
    """Label id -> pending suggestions for it."""
    rows = (
        Annotation.objects.filter(item__project=project, candidate_status=CandidateStatus.PENDING)
        .values("labels")
        .annotate(n=Count("id"))
    )
    return {row["labels"]: row["n"] for row in rows if row["labels"] is not None}
