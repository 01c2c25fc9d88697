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
    # How many people should annotate it (1, or the project's overlap for agreement items).
    required_annotations = models.PositiveSmallIntegerField(default=1)
    # Denormalised "fewer counted annotations than required", kept by the services that add
    # annotations: the queue then scans only open items instead of everything labeled so far.
    is_open = models.BooleanField(default=True)
    # Queue order, highest first: a stable pseudo-random number from the hash until a model scores
    # the item, then that scoring's priority (active learning).
    priority = models.FloatField(default=0.0)
    score_run = models.ForeignKey("ScoreRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suggested_label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suggestion_confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="unique_item_text")]
        indexes = [
            models.Index(fields=["project", "split"]),
            models.Index(
                fields=["project", "-priority", "id"], condition=models.Q(is_open=True), name="open_items_by_priority"
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class AnnotationSource(models.TextChoices):
    HUMAN = "human", "Human"
    IMPORT = "import", "Import"
    RULE = "rule", "Rule"
    CLUSTER = "cluster", "Cluster"
    PSEUDO = "pseudo", "Pseudo-label"
    # An expert's decision on an item the annotators disagreed on: it overrides them.
    ADJUDICATED = "adjudicated", "Adjudicated"


class CandidateStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a human check"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class Annotation(models.Model):
    """One annotator's (or one source's) labels for one item. Never silently rewritten."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    labels = models.ManyToManyField(
        Label, through="AnnotationLabel", through_fields=("annotation", "label"), related_name="annotations"
    )
    source = models.CharField(max_length=12, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN)
    # Set for suggestions from rules and clusters: they count only once a human confirms them.
    # Empty for annotations that count; a status for candidates.
    candidate_status = models.CharField(max_length=10, choices=CandidateStatus.choices, blank=True, default="")
    rule = models.ForeignKey("Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates")
    cluster = models.ForeignKey("Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["item", "source"])]
        constraints = [
            # A person's counted answer for an item is one row, revised in place. Partial: suggestions
            # (confirmed or rejected, with who checked them), rejected model guesses, adjudications and
            # imports share the table and may repeat.
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=models.Q(source="human", candidate_status=""),
                name="one_counted_answer_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} of item {self.item_id} ({self.source})"


class AnnotationLabel(models.Model):
    """One label of one annotation. A taxonomy edit may repoint `label`; `original_label` keeps
    what the annotator actually chose."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="label_links")
    # PROTECT: the database itself refuses to delete a label that annotations use.
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="annotation_links")
    original_label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["annotation", "label"], name="one_link_per_annotation_label")]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} → label {self.label_id}"


class RevisionReason(models.TextChoices):
    RESUBMIT = "resubmit", "Changed by the annotator"
    TAXONOMY = "taxonomy", "Label tree edit"
    CORRECTION = "correction", "Corrected in review"


class AnnotationRevision(models.Model):
    """The labels of an annotation before and after one change: its history."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    event = models.ForeignKey("TaxonomyEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=12, choices=RevisionReason.choices, default=RevisionReason.RESUBMIT)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    labels_before = models.JSONField(default=list)  # label ids
    labels_after = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"revision of annotation {self.annotation_id}: {self.labels_before} → {self.labels_after}"


class Exclusion(models.Model):
    """An item kept out of training (it stays visible). Removing the row reverses it."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="exclusions")
    rule = models.ForeignKey("Rule", null=True, blank=True, on_delete=models.CASCADE, related_name="exclusions")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "rule"], name="one_exclusion_per_item_rule")]

    def __str__(self) -> str:
        return f"item {self.item_id} excluded ({self.reason or self.rule_id})"


class Lease(models.Model):
    """An item reserved for one annotator until `expires_at`, so nobody else is served it meanwhile."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="leases")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="one_lease_per_item_user")]
        indexes = [models.Index(fields=["user", "expires_at"]), models.Index(fields=["item", "expires_at"])]

    def __str__(self) -> str:
        return f"item {self.item_id} reserved for user {self.user_id} until {self.expires_at:%H:%M}"


class RequeuedItem(models.Model):
    """An item sent back for re-annotation (after a split of one of its labels) until resolved."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="requeues")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="requeued_items")
    event = models.ForeignKey("TaxonomyEvent", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"item {self.item_id} back in the queue for label {self.label_id}"


class SkippedItem(models.Model):
    """An item one annotator passed on; flagged as unclear when `unclear` (with their comment)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    unclear = models.BooleanField(default=False)
    comment = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="one_skip_per_item_user")]
        indexes = [models.Index(fields=["item", "unclear"])]

    def __str__(self) -> str:
        what = "flagged as unclear" if self.unclear else "skipped"
        return f"item {self.item_id} {what} by user {self.user_id}"


class ScoreRun(models.Model):
    """One scoring of a project's pool by a model: it ordered the queue from `created_at` on."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="score_runs")
    # Which model scored, as people should read it ("fast head v3"); model versions arrive with training.
    model_name = models.CharField(max_length=200)
    strategy = models.CharField(max_length=100)
    items_scored = models.PositiveIntegerField(default=0)
    labels_used = models.PositiveIntegerField(default=0, help_text="Counted annotations the model trained on.")
    # The fast head that scored (active learning); empty for scores from elsewhere.
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="score_runs"
    )
    # E.g. {"agreement": 0.98, "kappa": 0.96, "previous_version": 3, "pool": 1780}: how far the pool
    # predictions agree with the previous scoring model's (the stopping signal).
    stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_name} ({self.strategy}) on project {self.project_id}"
