from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Label, Project


class TaxonomyAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Edited"
    MOVE = "move", "Moved"
    REORDER = "reorder", "Reordered"
    MERGE = "merge", "Merged"
    SPLIT = "split", "Split"
    ARCHIVE = "archive", "Archived"
    RESTORE = "restore", "Restored"
    DELETE = "delete", "Deleted"
    PROMOTE_CLUSTER = "promote", "Promoted a cluster"


class TaxonomyEvent(models.Model):
    """Audit record of one label-tree edit: who, when, what, how many annotations it touched."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="taxonomy_events")
    action = models.CharField(max_length=10, choices=TaxonomyAction.choices)
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    annotations_touched = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.summary


class RuleKind(models.TextChoices):
    SEED = "seed", "Seed: suggest candidates"
    BLACKLIST = "blacklist", "Blacklist: exclude from training"


class Rule(models.Model):
    """A keyword or regex labeling function."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=RuleKind.choices, default=RuleKind.SEED)
    pattern = models.TextField()
    is_regex = models.BooleanField(default=False)
    case_sensitive = models.BooleanField(default=False)
    whole_word = models.BooleanField(default=True)
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.PROTECT, related_name="rules")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Measured precision of a seed rule (issue 21): among the human-labeled non-test items it matches, the
    # share labeled with its label. None when it matches too few of them to tell (see `precision_matches`).
    precision = models.FloatField(null=True, blank=True)
    precision_matches = models.PositiveIntegerField(default=0)  # human-labeled non-test items it matched
    precision_measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_rule_name")]

    def __str__(self) -> str:
        return self.name


class ClusterRun(models.Model):
    """The result of one clustering job over a project's unlabeled items."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cluster_runs")
    job = models.OneToOneField("Job", null=True, on_delete=models.SET_NULL, related_name="cluster_run")
    encoder = models.CharField(max_length=200)
    k = models.PositiveSmallIntegerField()
    k_chosen_automatically = models.BooleanField(default=True)
    silhouette_scores = models.JSONField(default=dict)  # {k: score}
    n_items = models.PositiveIntegerField()
    map_svg = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"clustering of {self.n_items} items into {self.k}"


class Cluster(models.Model):
    run = models.ForeignKey(ClusterRun, on_delete=models.CASCADE, related_name="clusters")
    index = models.PositiveSmallIntegerField()
    size = models.PositiveIntegerField()
    keywords = models.JSONField(default=list)  # [[word, score], ...]
    item_ids = models.JSONField(default=list)  # members, most central first
    central_item_ids = models.JSONField(default=list)
    borderline_item_ids = models.JSONField(default=list)
    promoted_to = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["run", "-size", "index"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return " · ".join(word for word, _score in self.keywords[:3]) or f"cluster {self.index}"
