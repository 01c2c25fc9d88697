"""Label-tree edits: each one keeps every annotation, and the counts before and after reconcile."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationRevision,
    AnnotationSource,
    CandidateStatus,
    LabelKind,
    RequeuedItem,
    Rule,
    TaskType,
    TaxonomyAction,
    TaxonomyEvent,
)
from annotator.selectors.labels import (
    annotation_link_count,
    counted_item_counts,
    flatten_tree,
    label_path,
    label_tree,
    label_with_ancestor_ids,
    merge_preview,
)
from annotator.services import taxonomy

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert(project_with_roles):
    return project_with_roles[1]["expert"]


@pytest.fixture
def project(project_with_roles):
    project = project_with_roles[0]
    project.task_type = TaskType.MULTI_LABEL
    project.save()
    return project


@pytest.fixture
def tree(project, expert):
    """Sport > (Football, Tennis, Other) and Business, Tech at the top level."""
    make = taxonomy.label_create
    sport = make(project=project, name="Sport", by=expert)
    return {
        "sport": sport,
        "football": make(project=project, name="Football", parent=sport, by=expert),
        "tennis": make(project=project, name="Tennis", parent=sport, by=expert),
        "other": make(project=project, name="Other sport", parent=sport, kind=LabelKind.OTHER, by=expert),
        "business": make(project=project, name="Business", by=expert),
        "tech": make(project=project, name="Tech", by=expert),
    }


def annotate(project, labels, *, source=AnnotationSource.HUMAN, text=None, **fields):
    item = project.items.create(text=text or f"item {project.items.count()}", content_hash=f"h{project.items.count()}")
    annotation = Annotation.objects.create(item=item, source=source, **fields)
    for label in labels:
        AnnotationLabel.objects.create(annotation=annotation, label=label)
    return annotation


def labels_of(annotation) -> set[str]:
    return {link.label.name for link in AnnotationLabel.objects.filter(annotation=annotation)}


def test_a_three_level_tree_with_other_buckets_and_paths(project, expert, tree):
    striker = taxonomy.label_create(project=project, name="Strikers", parent=tree["football"], by=expert)
    assert label_path(striker) == "Sport > Football > Strikers"
    nodes = flatten_tree(label_tree(project=project))
    assert [(n.depth, n.label.name) for n in nodes] == [
        (0, "Sport"), (1, "Football"), (2, "Strikers"), (1, "Tennis"), (1, "Other sport"), (0, "Business"), (0, "Tech"),
    ]  # fmt: skip
    # Choosing a leaf implies its ancestors.
    implied = label_with_ancestor_ids(project=project, label_ids={striker.pk})
    assert implied == {striker.pk, tree["football"].pk, tree["sport"].pk}
    assert TaxonomyEvent.objects.filter(project=project, action=TaxonomyAction.CREATE).count() == 7


def test_one_other_bucket_per_parent_and_no_children_under_it(project, expert, tree):
    with pytest.raises(ValidationError, match="already has an Other bucket"):
        taxonomy.label_create(project=project, name="Misc", parent=tree["sport"], kind=LabelKind.OTHER, by=expert)
    with pytest.raises(ValidationError, match="Other bucket cannot have children"):
        taxonomy.label_create(project=project, name="Cricket", parent=tree["other"], by=expert)
    top_other = taxonomy.label_create(project=project, name="Other", kind=LabelKind.OTHER, by=expert)
    assert top_other.parent is None


def test_names_are_unique_among_siblings_only(project, expert, tree):
    with pytest.raises(ValidationError, match="already a label “tennis”"):
        taxonomy.label_create(project=project, name="tennis", parent=tree["sport"], by=expert)
    assert taxonomy.label_create(project=project, name="Tennis", parent=tree["tech"], by=expert)
    with pytest.raises(ValidationError, match="cannot contain"):
        taxonomy.label_create(project=project, name="A > B", by=expert)


def test_rename_recolor_describe_keep_annotations(project, expert, tree):
    annotation = annotate(project, [tree["football"]])
    links = annotation_link_count(project=project)
    taxonomy.label_update(label=tree["football"], by=expert, name="Soccer", color="#123456", description="Ball, feet")
    assert labels_of(annotation) == {"Soccer"}
    assert annotation_link_count(project=project) == links
    event = TaxonomyEvent.objects.filter(action=TaxonomyAction.UPDATE).get()
    assert event.details["name"] == ["Football", "Soccer"]
    assert event.actor == expert


def test_shortcuts_are_unique(project, expert, tree):
    taxonomy.label_update(label=tree["tech"], by=expert, shortcut="t")
    with pytest.raises(ValidationError, match="already used by “Tech”"):
        taxonomy.label_update(label=tree["tennis"], by=expert, shortcut="T")


@pytest.mark.parametrize("key", ["s", "U", "f", "e", "a", "X", "?"])
def test_the_annotation_page_keys_are_not_label_shortcuts(project, expert, tree, key):
    with pytest.raises(ValidationError, match="annotation-page key"):
        taxonomy.label_update(label=tree["tech"], by=expert, shortcut=key)


def test_reorder_siblings(project, expert, tree):
    taxonomy.label_reorder(label=tree["other"], position=0, by=expert)
    children = [n.label.name for n in label_tree(project=project)[0].children]
    assert children == ["Other sport", "Football", "Tennis"]


def test_move_a_subtree_keeps_annotations_and_counts(project, expert, tree):
    ball = taxonomy.label_create(project=project, name="Ball sports", by=expert)
    annotated = [annotate(project, [tree["football"]]), annotate(project, [tree["sport"]])]
    counts_before = counted_item_counts(project=project)
    links = annotation_link_count(project=project)
    taxonomy.label_move(label=tree["football"], new_parent=ball, by=expert)
    assert label_path(tree["football"]) == "Ball sports > Football"
    assert counted_item_counts(project=project) == counts_before
    assert annotation_link_count(project=project) == links
    assert [labels_of(a) for a in annotated] == [{"Football"}, {"Sport"}]
    event = TaxonomyEvent.objects.get(action=TaxonomyAction.MOVE)
    assert event.annotations_touched == 1
    sport_node = next(n for n in label_tree(project=project) if n.label.name == "Sport")
    assert sport_node.subtree_items == 1


def test_move_under_own_subtree_is_refused(project, expert, tree):
    with pytest.raises(ValidationError, match="under itself"):
        taxonomy.label_move(label=tree["sport"], new_parent=tree["football"], by=expert)
    with pytest.raises(ValidationError, match="under itself"):
        taxonomy.label_move(label=tree["sport"], new_parent=tree["sport"], by=expert)


def test_merge_moves_every_annotation_and_records_the_original(project, expert, tree):
    only_tennis = [annotate(project, [tree["tennis"]]) for _ in range(3)]
    both = annotate(project, [tree["tennis"], tree["football"]])
    only_football = annotate(project, [tree["football"]])
    annotations_before = set(Annotation.objects.values_list("id", flat=True))
    with_either = {a.pk for a in [*only_tennis, both, only_football]}
    preview = merge_preview(source=tree["tennis"], target=tree["football"])
    assert (preview["annotations"], preview["annotations_with_both"]) == (4, 1)

    event = taxonomy.label_merge(source=tree["tennis"], target=tree["football"], by=expert)

    assert set(Annotation.objects.values_list("id", flat=True)) == annotations_before  # nothing dropped
    now_football = set(AnnotationLabel.objects.filter(label=tree["football"]).values_list("annotation_id", flat=True))
    assert now_football == with_either
    assert not AnnotationLabel.objects.filter(label=tree["tennis"]).exists()
    assert {AnnotationLabel.objects.get(annotation=a, label=tree["football"]).original_label for a in only_tennis} == {
        tree["tennis"]
    }
    tree["tennis"].refresh_from_db()
    assert (tree["tennis"].active, tree["tennis"].merged_into) == (False, tree["football"])
    assert event.annotations_touched == 4
    revision = AnnotationRevision.objects.get(annotation=both)
    assert set(revision.labels_before) == {tree["tennis"].pk, tree["football"].pk}
    assert revision.labels_after == [tree["football"].pk]
    assert counted_item_counts(project=project)[tree["football"].pk] == 5


def test_merge_carries_children_and_rules(project, expert, tree):
    clay = taxonomy.label_create(project=project, name="Clay court", parent=tree["tennis"], by=expert)
    rule = Rule.objects.create(project=project, name="r", pattern="serve", label=tree["tennis"])
    taxonomy.label_merge(source=tree["tennis"], target=tree["football"], by=expert)
    clay.refresh_from_db()
    rule.refresh_from_db()
    assert clay.parent == tree["football"]
    assert rule.label == tree["football"]


def test_merge_refusals(project, expert, tree):
    with pytest.raises(ValidationError, match="into itself"):
        taxonomy.label_merge(source=tree["tech"], target=tree["tech"], by=expert)
    with pytest.raises(ValidationError, match="own children"):
        taxonomy.label_merge(source=tree["sport"], target=tree["football"], by=expert)
    taxonomy.label_archive(label=tree["business"], by=expert)
    with pytest.raises(ValidationError, match="archived"):
        taxonomy.label_merge(source=tree["tech"], target=tree["business"], by=expert)


def test_split_requeues_items_and_keeps_their_annotations(project, expert, tree):
    annotated = [annotate(project, [tree["business"]]) for _ in range(4)]
    candidate = annotate(
        project, [tree["business"]], source=AnnotationSource.RULE, candidate_status=CandidateStatus.PENDING
    )
    links = annotation_link_count(project=project)
    children = taxonomy.label_split(label=tree["business"], children=["Markets", "Companies", " "], by=expert)
    assert [c.name for c in children] == ["Markets", "Companies"]
    assert all(c.parent == tree["business"] for c in children)
    assert annotation_link_count(project=project) == links
    assert all(labels_of(a) == {"Business"} for a in annotated)
    requeued = set(RequeuedItem.objects.values_list("item_id", flat=True))
    assert requeued == {a.item_id for a in annotated}  # the unconfirmed candidate is not requeued
    assert candidate.item_id not in requeued
    assert "4 item(s) returned to the queue" in TaxonomyEvent.objects.get(action=TaxonomyAction.SPLIT).summary


def test_split_needs_two_names(project, expert, tree):
    with pytest.raises(ValidationError, match="at least two"):
        taxonomy.label_split(label=tree["tech"], children=["Only one"], by=expert)


def test_archive_and_restore_a_subtree(project, expert, tree):
    annotation = annotate(project, [tree["football"]])
    taxonomy.label_archive(label=tree["sport"], by=expert)
    assert [n.label.name for n in label_tree(project=project)] == ["Business", "Tech"]
    assert labels_of(annotation) == {"Football"}
    with pytest.raises(ValidationError, match="Restore its parent"):
        taxonomy.label_restore(label=tree["football"], by=expert)
    taxonomy.label_restore(label=tree["sport"], by=expert)
    assert len(flatten_tree(label_tree(project=project))) == 6


def test_deleting_a_label_in_use_is_refused_and_an_unused_one_goes(project, expert, tree):
    annotate(project, [tree["football"]])
    with pytest.raises(ValidationError, match="1 annotation\\(s\\) and 0 rule\\(s\\)"):
        taxonomy.label_delete(label=tree["sport"], by=expert)
    taxonomy.label_delete(label=tree["tech"], by=expert)
    assert not project.labels.filter(name="Tech").exists()
    assert TaxonomyEvent.objects.filter(action=TaxonomyAction.DELETE, summary="Deleted “Tech”.").exists()


def test_a_merged_label_cannot_be_deleted_while_its_history_points_at_it(project, expert, tree):
    annotate(project, [tree["tennis"]])
    taxonomy.label_merge(source=tree["tennis"], target=tree["football"], by=expert)
    with pytest.raises(ValidationError, match="cannot be deleted"):
        taxonomy.label_delete(label=tree["tennis"], by=expert)


def test_an_item_with_two_child_labels_counts_once_in_the_parent(project, expert, tree):
    annotate(project, [tree["football"], tree["tennis"]])
    sport = next(n for n in label_tree(project=project) if n.label.name == "Sport")
    assert [c.items for c in sport.children[:2]] == [1, 1]
    assert sport.subtree_items == 1


def test_no_op_edits_leave_no_history(project, expert, tree):
    events = TaxonomyEvent.objects.count()
    taxonomy.label_move(label=tree["football"], new_parent=tree["sport"], by=expert)
    taxonomy.label_reorder(label=tree["football"], position=0, by=expert)
    taxonomy.label_archive(label=tree["tech"], by=expert)
    taxonomy.label_archive(label=tree["tech"], by=expert)
    assert TaxonomyEvent.objects.count() == events + 1  # only the first archive


def test_a_parent_cannot_be_merged_into_an_other_bucket(project, expert, tree):
    with pytest.raises(ValidationError, match="Other bucket cannot have children"):
        taxonomy.label_merge(
            source=tree["sport"],
            target=taxonomy.label_create(project=project, name="Other", kind=LabelKind.OTHER, by=expert),
            by=expert,
        )


def test_restoring_a_label_whose_shortcut_was_taken_meanwhile_is_refused(project, expert, tree):
    taxonomy.label_update(label=tree["tech"], by=expert, shortcut="t")
    taxonomy.label_archive(label=tree["tech"], by=expert)
    taxonomy.label_update(label=tree["tennis"], by=expert, shortcut="t")
    with pytest.raises(ValidationError, match="already used by “Tennis”"):
        taxonomy.label_restore(label=tree["tech"], by=expert)
