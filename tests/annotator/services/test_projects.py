"""Deleting a whole project: its protected label links must not stop it."""

from __future__ import annotations

import pytest

from annotator.importing.parsers import Record
from annotator.models import Annotation, AnnotationLabel, Item, Label, Project, Rule
from annotator.services import taxonomy
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_delete
from annotator.services.queue import annotation_submit
from annotator.services.rules import rule_create
from annotator.services.scoring import ItemScore, score_run_store

pytestmark = pytest.mark.django_db


def test_a_project_with_annotations_rules_and_scores_is_deleted_whole(project_with_roles):
    project, users = project_with_roles
    other, _ = Project.objects.get_or_create(name="Kept", created_by=users["admin"])
    label = taxonomy.label_create(project=project, name="Sport", by=users["admin"])
    kept_label = taxonomy.label_create(project=other, name="Kept label", by=users["admin"])
    records = [Record(line=n, text=f"match report {n}", labels=(), meta={}) for n in (1, 2)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    import_parsed(project=other, records=records[:1], split="pool", report=ImportReport(format="test"))
    item = project.items.first()
    annotation_submit(item=item, annotator=users["annotator"], labels=[label])
    annotation_submit(item=other.items.get(), annotator=users["admin"], labels=[kept_label])
    rule_create(project=project, name="sport words", pattern="match", by=users["admin"], label=label)
    score_run_store(
        project=project, model_name="m", strategy="entropy", scores=[ItemScore(item.pk, 1.0)], labels_used=1
    )

    project_delete(project=project)

    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Item.objects.filter(project_id=project.pk).exists()
    assert not Label.objects.filter(project_id=project.pk).exists()
    assert not Rule.objects.filter(project_id=project.pk).exists()
    # The other project keeps everything.
    assert Annotation.objects.filter(item__project=other).count() == 1
    assert AnnotationLabel.objects.filter(label=kept_label).count() == 1
