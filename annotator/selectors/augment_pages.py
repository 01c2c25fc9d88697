"""Reads for the augmentation page that `annotator.selectors.augment` leaves to the page: the job card."""

from __future__ import annotations

from annotator.models import Job, Project

AUGMENT_KIND = "augment"


def latest_augment_job(*, project: Project) -> Job | None:
    """The project's newest augmentation job (the page's job card), or None."""
    return Job.objects.filter(project=project, kind=AUGMENT_KIND).order_by("-id").first()
