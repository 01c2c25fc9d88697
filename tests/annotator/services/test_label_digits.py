"""Stable label shortcuts: a label's digit never changes once given (issue 20, bug 1)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotator.importing.parsers import Record
from annotator.models import Role
from annotator.selectors.queue import label_keys
from annotator.services import taxonomy
from annotator.services.imports import ImportReport, import_parsed

pytestmark = pytest.mark.django_db


def keys(project) -> dict[str, str]:
    return {key.path: key.key for key in label_keys(project=project)}


@pytest.fixture
def desk(project_with_roles):
    project, users = project_with_roles
    expert = users[Role.EXPERT]
    for name in ("World", "Politics", "Business", "Sport"):
        taxonomy.label_create(project=project, name=name, by=expert)
    return project, expert


def test_an_imported_label_takes_the_next_free_digit(desk):
    """Issue 20, bug 1: Sport was 4, an import added Science, and 4 then selected Science."""
    project, _ = desk
    assert keys(project)["Sport"] == "4"
    records = [Record(line=1, text="A new telescope", labels=("Science",), meta={})]
    import_parsed(project=project, records=records, split="auto", report=ImportReport(format="test"))
    assert keys(project) == {"World": "1", "Politics": "2", "Business": "3", "Sport": "4", "Science": "5"}


def test_a_created_label_sorting_first_keeps_the_others_digits(desk):
    """Issue 20, bug 1: a new label never renumbers its siblings, whatever its name."""
    project, expert = desk
    taxonomy.label_create(project=project, name="Arts", by=expert)
    assert keys(project)["Sport"] == "4" and keys(project)["Arts"] == "5"


def test_archiving_frees_a_digit_without_shifting_the_others(desk):
    """Issue 20, bug 1: archiving Politics leaves Business on 3 and Sport on 4; a new label takes 2."""
    project, expert = desk
    politics = project.labels.get(name="Politics")
    taxonomy.label_archive(label=politics, by=expert)
    assert keys(project) == {"World": "1", "Business": "3", "Sport": "4"}
    taxonomy.label_create(project=project, name="Science", by=expert)
    assert keys(project)["Science"] == "2"
    taxonomy.label_restore(label=politics, by=expert)
    assert keys(project)["Politics"] == "5" and keys(project)["Science"] == "2"


def test_a_shortcut_cannot_take_a_digit_another_label_holds(desk):
    """Issue 20, bug 1: a digit shortcut would silently take Sport's digit away."""
    project, expert = desk
    world = project.labels.get(name="World")
    with pytest.raises(ValidationError, match="already selects “Sport”"):
        taxonomy.label_update(label=world, by=expert, shortcut="4")


def test_reorder_is_the_explicit_action_that_renumbers(desk):
    """Issue 20, bug 1: moving Sport to the top gives it 1; the siblings follow in their new order."""
    project, expert = desk
    taxonomy.label_reorder(label=project.labels.get(name="Sport"), position=0, by=expert)
    assert keys(project) == {"Sport": "1", "World": "2", "Politics": "3", "Business": "4"}


def test_children_have_their_own_digits(desk):
    """Issue 20, bug 1: digits count per level; a child's digit survives a new sibling."""
    project, expert = desk
    sport = project.labels.get(name="Sport")
    taxonomy.label_create(project=project, name="Tennis", parent=sport, by=expert)
    taxonomy.label_create(project=project, name="Football", parent=sport, by=expert)
    assert keys(project)["Sport > Tennis"] == "1" and keys(project)["Sport > Football"] == "2"


def test_a_label_with_its_own_key_takes_a_digit_when_the_key_is_removed(desk):
    """Issue 20, bug 1: a letter shortcut holds no digit; clearing it gives the next free one."""
    project, expert = desk
    tech = taxonomy.label_create(project=project, name="Tech", by=expert, shortcut="t")
    assert keys(project)["Tech"] == "t"
    taxonomy.label_update(label=tech, by=expert, shortcut="")
    assert keys(project)["Tech"] == "5" and keys(project)["Sport"] == "4"


def test_a_moved_label_keeps_its_digit_where_it_is_free(desk):
    """Issue 20, bug 1: moving Sport under World keeps its 4 (World has no children yet)."""
    project, expert = desk
    world, sport = project.labels.get(name="World"), project.labels.get(name="Sport")
    taxonomy.label_create(project=project, name="Europe", parent=world, by=expert)
    taxonomy.label_move(label=sport, new_parent=world, by=expert)
    assert keys(project)["World > Sport"] == "4" and keys(project)["World > Europe"] == "1"
    assert keys(project)["Business"] == "3"
