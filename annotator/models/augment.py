"""Augmented copies of labeled training items (issue 24): texts an augmentation job wrote from a
source item with one op of `mlcore.augment`, waiting for an expert's accept or reject.

Their source is "augment": they are not Items. They are never in the queue, the pool, the locked
test split, the exports of human labels or the label counts; a training request with augmentation on
adds the accepted ones to its training data only. A copy has no label of its own: its class is always
its source item's current final label, so relabeling the source follows through, a source that lost
its label contributes nothing, and deleting the source deletes its copies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Project

AUGMENT_SOURCE = "augment"  # what these rows are, beside the annotation sources human/rule/pseudo


class AugmentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class AugmentedText(models.Model):
    """One augmented copy of a labeled training item, written by one op."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="augmented_texts")
    source_item = models.ForeignKey("Item", on_delete=models.CASCADE, related_name="augmented_copies")
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    op = models.CharField(max_length=40)  # a name in mlcore.augment.OPS
    text = models.TextField()
    # [[start, end], ...]: character spans of `text` the op changed (the page highlights them).
    changed_spans = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=AugmentStatus.choices, default=AugmentStatus.PENDING)
    # The label-preservation filter: a trusted model did not give the copy its source's label with
    # enough confidence, so the job stored it rejected. `filter_confidence`: that model's probability
    # of the source's label (None: the filter was off).
    filtered_out = models.BooleanField(default=False)
    filter_confidence = models.FloatField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "status"]), models.Index(fields=["project", "op"])]

    def __str__(self) -> str:
        return f"{self.op} copy of item {self.source_item_id} ({self.status})"
