"""Labelloop's data: projects and members, labels, items and annotations, jobs, noise flags, augmented copies."""

from annotator.models.accounts import AccountProfile
from annotator.models.augment import AUGMENT_SOURCE, AugmentedText, AugmentStatus
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
    RevisionReason,
    ScoreRun,
    SkippedItem,
    Split,
)
from annotator.models.jobs import Job, JobStatus
from annotator.models.noise import NoiseFlag, NoiseRun, NoiseSplit, NoiseStatus
from annotator.models.projects import Invitation, Label, LabelKind, Membership, Project, Role, TaskType
from annotator.models.taxonomy import Cluster, ClusterRun, Rule, RuleKind, TaxonomyAction, TaxonomyEvent
from annotator.models.training import ModelVersion, Promotion

__all__ = [
    "AUGMENT_SOURCE",
    "AccountProfile",
    "Annotation",
    "AnnotationLabel",
    "AnnotationRevision",
    "AnnotationSource",
    "AugmentStatus",
    "AugmentedText",
    "CandidateStatus",
    "Cluster",
    "ClusterRun",
    "Exclusion",
    "Invitation",
    "Item",
    "Job",
    "JobStatus",
    "Label",
    "LabelKind",
    "Lease",
    "Membership",
    "ModelVersion",
    "NoiseFlag",
    "NoiseRun",
    "NoiseSplit",
    "NoiseStatus",
    "Project",
    "Promotion",
    "RequeuedItem",
    "RevisionReason",
    "Role",
    "Rule",
    "RuleKind",
    "ScoreRun",
    "SkippedItem",
    "Split",
    "TaskType",
    "TaxonomyAction",
    "TaxonomyEvent",
]
