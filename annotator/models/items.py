from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Label, Project


class Split(models.TextChoices):
    POOL = "pool", "Pool"
    TRAIN = "train", "Train"
    # Locked away from training and active learning: evaluation only.
    TEST = "test", "Test (locked)"


class Item(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    text = models.TextField()
    meta = models.JSONField(default=dict, blank=True)
    # SHA-256 of the normalised text (mlcore.textnorm): finds duplicates within a project.
    content_hash = models.CharField(max_length=64)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.POOL)
    import_job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="unique_item_text")]
        indexes = [models.Index(fields=["project", "split"])]

    def __str__(self) -> str:
        return self.text[:60]


class AnnotationSource(models.TextChoices):
    HUMAN = "human", "Human"
    IMPORT = "import", "Import"
    RULE = "rule", "Rule"
    CLUSTER = "cluster", "Cluster"
    PSEUDO = "pseudo", "Pseudo-label"


class Annotation(models.Model):
    """One annotator's (or one source's) labels for one item. Never silently rewritten."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    labels = models.ManyToManyField(Label, related_name="annotations")
    source = models.CharField(max_length=10, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["item", "source"])]

    def __str__(self) -> str:
        return f"annotation {self.pk} of item {self.item_id} ({self.source})"
