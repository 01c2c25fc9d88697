"""Labelloop's data: projects and members, labels, items and annotations, jobs."""

from annotator.models.items import Annotation, AnnotationSource, Item, Split
from annotator.models.jobs import Job, JobStatus
from annotator.models.projects import Label, LabelKind, Membership, Project, Role, TaskType

__all__ = [
    "Annotation",
    "AnnotationSource",
    "Item",
    "Job",
    "JobStatus",
    "Label",
    "LabelKind",
    "Membership",
    "Project",
    "Role",
    "Split",
    "TaskType",
]
