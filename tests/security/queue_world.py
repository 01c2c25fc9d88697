"""A small project for the queue's security tests: pool items (one in overlap), a labeled test split."""

from __future__ import annotations

import dataclasses

import pytest

from annotator.importing.parsers import Record
from annotator.models import Item, Label, Project, Role, Split
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import member_set_role
from annotator.services.taxonomy import label_create

POOL_TEXTS = ["The striker scored twice", "Parliament met today", "Rain all week in the north"]
TEST_TEXT = "The cup final went to penalties"


@dataclasses.dataclass
class World:
    project: Project
    users: dict[str, object]
    sport: Label
    politics: Label

    def pool(self, text: str = POOL_TEXTS[0]) -> Item:
        return self.project.items.get(text=text)

    def test_item(self) -> Item:
        return self.project.items.get(split=Split.TEST)


@pytest.fixture(name="world")
def world_fixture(project_with_roles, make_user) -> World:
    """Every pool item wants one annotation; the test item holds its gold label from the import;
    pool items keep a `gold_label` in meta like the demo's."""
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    admin = users[Role.ADMIN]
    sport = label_create(project=project, name="Sport", by=admin)
    politics = label_create(project=project, name="Politics", by=admin)
    users["colleague"] = make_user("colleague")
    member_set_role(project=project, user=users["colleague"], role=Role.ANNOTATOR)
    meta = {"gold_label": "Sport", "source": "wire"}
    pool = [Record(line=n, text=text, labels=(), meta=meta) for n, text in enumerate(POOL_TEXTS, 1)]
    import_parsed(project=project, records=pool, split=Split.POOL, report=ImportReport(format="test"))
    test = [Record(line=1, text=TEST_TEXT, labels=("Sport",), meta={"gold_label": "Sport"})]
    import_parsed(project=project, records=test, split=Split.TEST, report=ImportReport(format="test"))
    return World(project=project, users=users, sport=sport, politics=politics)
