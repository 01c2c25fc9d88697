"""Labelloop's data: projects and members, labels, items and annotations, jobs."""

from annotator.models.items import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    AnnotationSource,
    CandidateStatus,
    Exclusion,
    Item,
    Lease,
    RequeuedItem,
    Split,
)
from annotator.models.jobs import Job, JobStatus
from annotator.models.projects import Label, LabelKind, Membership, Project, Role, TaskType
from annotator.models.taxonomy import Cluster, ClusterRun, Rule, RuleKind, TaxonomyAction, TaxonomyEvent

__all__ = [
    "Annotation",
    "AnnotationLabel",
    "AnnotationRevision",
    "AnnotationSource",
    "CandidateStatus",
    "Cluster",
    "ClusterRun",
    "Exclusion",
    "Item",
    "Job",
    "JobStatus",
    "Label",
    "LabelKind",
    "Lease",
    "Membership",
    "Project",
    "RequeuedItem",
    "Role",
    "Rule",
    "RuleKind",
    "Split",
    "TaskType",
    "TaxonomyAction",
    "TaxonomyEvent",
]
