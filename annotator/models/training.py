from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.projects import Project


class ModelVersion(models.Model):
    """A trained model, registered only after it was evaluated on the locked test split.

    Its files live in `artifact_dir` (relative to ARTIFACT_ROOT), written to a temporary directory
    and renamed into place before this row exists, so a registered version always has its files.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()  # v1, v2, ... per project
    kind = models.CharField(max_length=32)  # a name in mlcore.models.MODEL_KINDS
    params = models.JSONField(default=dict)
    # SHA-256 of the training snapshot (item ids, texts' hashes, final labels): same data, same hash.
    data_hash = models.CharField(max_length=64)
    n_train = models.PositiveIntegerField()
    n_test = models.PositiveIntegerField()
    label_ids = models.JSONField(default=list)  # the model's classes, in order
    metrics = models.JSONField(default=dict)
    encoder_version = models.CharField(max_length=300, blank=True)  # for models on cached embeddings
    # The backbone the version's inputs come from (its encoder for embedding models, its tokenizer for
    # others): serving and distillation use it, never the project's current one (issue 21).
    backbone = models.CharField(max_length=200, blank=True)
    artifact_dir = models.CharField(max_length=500)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    train_seconds = models.FloatField(default=0)
    # A distilled student's teachers (issue 21); empty for a version trained on labels alone.
    parents = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="students")
    # Inference speed (mlcore.speed.measure_speed on the project's texts, the encoder included for
    # embedding models): batch-1 latency and batch throughput, with the torch threads it ran on.
    ms_per_text = models.FloatField(null=True, blank=True)
    texts_per_second = models.FloatField(null=True, blank=True)
    speed_threads = models.PositiveIntegerField(null=True, blank=True)
    speed_measured_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="one_number_per_model_version")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.number}"

    @property
    def predicts_one_class(self) -> bool:
        """The model gave every evaluated item the same label though it knows several (issue 20):
        a warning on the model pages, since its macro-F1 alone can hide it."""
        return self.metrics.get("predicted_classes") == 1 and len(self.label_ids) > 1


class Promotion(models.Model):
    """One change of the version that answers the prediction API: who, when, why, and both macro-F1s.

    Written by `model_version_activate` in the same transaction as the change, so the history is whole."""

    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="promotions")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotions")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    f1 = models.FloatField(null=True, blank=True)  # the promoted version's macro-F1 (None: not evaluated)
    previous_f1 = models.FloatField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # Whether the gate asked for the reason (the drop was larger than the project allowed).
    reason_required = models.BooleanField(default=False)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"v{self.version.number} promoted"
