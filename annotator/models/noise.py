from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Label, Project


class NoiseRun(models.Model):
    """One noise-detection job's outcome: what it judged, with which detectors, and what it found."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="noise_runs")
    job = models.OneToOneField("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="noise_run")
    encoder = models.CharField(max_length=300)  # the embedding encoder's version
    detectors = models.JSONField(default=list)  # the names asked for (mlcore.noise.DETECTORS)
    params = models.JSONField(default=dict)  # mlcore.noise.NoiseSettings as used: filter_by, folds, ...
    n_items = models.PositiveIntegerField(default=0, help_text="Labeled training items judged.")
    n_flagged = models.PositiveIntegerField(default=0)
    n_held_out = models.PositiveIntegerField(
        default=0, help_text="Doubtful items, not flagged, left out of training until an expert decides."
    )
    detector_counts = models.JSONField(default=dict)  # {detector: items it flagged}
    # The cleaning policy training follows while the run's flags are open (mlcore.noise.CleaningPolicy
    # name: "relabel", "remove_hold_out@0.15", "balanced_relabel", ...; "" on runs before issue 23:
    # flagged items trained with their given label, doubtful ones held out).
    policy = models.CharField(max_length=60, blank=True, default="")
    # How it was chosen: {"chosen_by": "evidence"|"expert", "scores": {policy: out-of-fold macro-F1},
    # "folds": K, "trusted": items scored}; scores are empty when an expert set the policy.
    policy_choice = models.JSONField(default=dict, blank=True)
    # The locked test split judged read-only by models of the training items (None: not audited).
    test_items = models.PositiveIntegerField(null=True, blank=True)
    test_flagged = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"noise run {self.pk}: {self.n_flagged} of {self.n_items} flagged"

    @property
    def audited_test(self) -> bool:
        return self.test_items is not None

    @property
    def test_share_flagged(self) -> float | None:
        if not self.test_items:
            return None
        return (self.test_flagged or 0) / self.test_items


class NoiseSplit(models.TextChoices):
    TRAIN = "train", "Training items"
    # A read-only audit of the locked test split: never excluded, never changed by the job.
    TEST = "test", "Test split audit"


class NoiseStatus(models.TextChoices):
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    RELABELED = "relabeled", "Relabeled"
    EXCLUDED = "excluded", "Excluded from training"


class NoiseFlag(models.Model):
    """An item whose given label the noise detectors doubt, and the expert's decision on it.

    Open flags belong to the latest run (a new run replaces them); decided flags stay as history.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="noise_flags")
    run = models.ForeignKey(NoiseRun, on_delete=models.CASCADE, related_name="flags")
    item = models.ForeignKey("Item", on_delete=models.CASCADE, related_name="noise_flags")
    split = models.CharField(max_length=8, choices=NoiseSplit.choices, default=NoiseSplit.TRAIN)
    # SET_NULL: a flag must not keep the taxonomy services from deleting a label nobody uses any more.
    given_label = models.ForeignKey(Label, null=True, on_delete=models.SET_NULL, related_name="+")
    suggested_label = models.ForeignKey(Label, null=True, on_delete=models.SET_NULL, related_name="+")
    score = models.FloatField(
        help_text="The ensemble's combined score: 1 - p(given label) / p(best label), the views averaged."
    )
    wrong_probability = models.FloatField(
        null=True,
        blank=True,
        help_text="P(the given label is wrong): the score calibrated so that the probabilities add up to "
        "confident learning's count of wrong labels. Empty on flags from before 2026-12-03.",
    )
    votes = models.PositiveSmallIntegerField(default=0)
    detectors = models.JSONField(default=list)  # the detectors that flag the item
    # Not flagged but doubtful (mlcore.noise: scoring over the doubt score): while the flag is open the
    # item stays out of training. Keeping it puts it back; the review queue marks it.
    held_out = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=NoiseStatus.choices, default=NoiseStatus.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # What a decision did, so that it can be shown and (for an exclusion) undone exactly.
    relabeled_to = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    exclusion = models.ForeignKey(
        "Exclusion", null=True, blank=True, on_delete=models.SET_NULL, related_name="noise_flags"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="one_noise_flag_per_run_item")]
        indexes = [models.Index(fields=["project", "split", "status"])]

    def __str__(self) -> str:
        return f"item {self.item_id} flagged ({self.status}, score {self.score:.2f})"
