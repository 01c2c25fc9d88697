"""Reads over the label tree."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from django.db.models import QuerySet

from annotator.models import AnnotationLabel, Label, Project, TaxonomyEvent
from annotator.models.projects import LABEL_PATH_SEPARATOR

DIGIT_KEYS = "1234567890"


def label_digits_in_use(*, project: Project, parent: Label | None, exclude_id: int | None = None) -> set[str]:
    """Digits an active label under `parent` holds, plus digits any active label holds as its shortcut."""
    active = Label.objects.filter(project=project, active=True).exclude(pk=exclude_id)
    used = set(active.filter(parent=parent).exclude(digit="").values_list("digit", flat=True))
    used |= {key for key in active.exclude(shortcut="").values_list("shortcut", flat=True) if key in DIGIT_KEYS}
    return used


def label_free_digit(*, project: Project, parent: Label | None, exclude_id: int | None = None) -> str:
    """The first digit (1-9, then 0) no active sibling holds; "" when all ten are taken."""
    used = label_digits_in_use(project=project, parent=parent, exclude_id=exclude_id)
    return next((digit for digit in DIGIT_KEYS if digit not in used), "")


def label_path(label: Label) -> str:
    names = []
    node: Label | None = label
    while node is not None:
        names.append(node.name)
        node = node.parent
    return LABEL_PATH_SEPARATOR.join(reversed(names))


def _children_map(project_id: int) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent in Label.objects.filter(project_id=project_id).values_list("id", "parent_id"):
        children[parent].append(pk)
    return children


def label_descendant_ids(label: Label, *, include_self: bool = False) -> set[int]:
    children = _children_map(label.project_id)
    found, stack = set(), list(children[label.pk])
    while stack:
        pk = stack.pop()
        found.add(pk)
        stack.extend(children[pk])
    return found | {label.pk} if include_self else found


def label_with_ancestor_ids(*, project: Project, label_ids: set[int]) -> set[int]:
    """The labels plus all their ancestors: choosing a leaf implies its parents."""
    parents = dict(Label.objects.filter(project=project).values_list("id", "parent_id"))
    implied = set()
    for pk in label_ids:
        while pk is not None and pk not in implied:
            implied.add(pk)
            pk = parents.get(pk)
    return implied


def counted_item_ids(*, project: Project) -> dict[int, set[int]]:
    """Label id -> ids of the items whose counted (non-candidate) annotations carry that label directly."""
    items: dict[int, set[int]] = defaultdict(set)
    links = AnnotationLabel.objects.filter(label__project=project, annotation__candidate_status="")
    for label_id, item_id in links.values_list("label_id", "annotation__item_id"):
        items[label_id].add(item_id)
    return items


def counted_item_counts(*, project: Project) -> dict[int, int]:
    """Label id -> number of items whose counted annotations carry that label directly."""
    return {label_id: len(items) for label_id, items in counted_item_ids(project=project).items()}


def annotation_link_count(*, project: Project) -> int:
    """All annotation-label links of the project: taxonomy edits must never lower it silently."""
    return AnnotationLabel.objects.filter(annotation__item__project=project).count()


@dataclasses.dataclass
class TreeNode:
    label: Label
    depth: int
    path: str
    items: int  # items annotated with this label directly
    subtree_items: int  # distinct items annotated with it or any label below it
    children: list[TreeNode]
    rule_matches: int | None = None


def label_tree(
    *, project: Project, include_archived: bool = False, rule_matches: dict[int, int] | None = None
) -> list[TreeNode]:
    """The label tree, depth-first in display order, with annotation counts."""
    labels = list(Label.objects.filter(project=project).select_related("merged_into").order_by("order", "name", "id"))
    if not include_archived:
        labels = [label for label in labels if label.active]
    item_ids = counted_item_ids(project=project)
    by_parent: dict[int | None, list[Label]] = defaultdict(list)
    for label in labels:
        by_parent[label.parent_id].append(label)
    known = {label.pk for label in labels}

    def build(label: Label, depth: int, prefix: str) -> tuple[TreeNode, set[int]]:
        path = f"{prefix}{LABEL_PATH_SEPARATOR}{label.name}" if prefix else label.name
        built = [build(child, depth + 1, path) for child in by_parent[label.pk]]
        subtree = set(item_ids.get(label.pk, ())).union(*(items for _node, items in built))
        node = TreeNode(
            label,
            depth,
            path,
            len(item_ids.get(label.pk, ())),
            len(subtree),
            [child for child, _items in built],
            (rule_matches or {}).get(label.pk),
        )
        return node, subtree

    # Roots: top-level labels, and archived-parent orphans when archived labels are hidden.
    roots = [label for label in labels if label.parent_id is None or label.parent_id not in known]
    return [build(label, 0, label_path(label.parent) if label.parent_id else "")[0] for label in roots]


def flatten_tree(nodes: list[TreeNode]) -> list[TreeNode]:
    flat = []
    for node in nodes:
        flat.append(node)
        flat.extend(flatten_tree(node.children))
    return flat


def merge_preview(*, source: Label, target: Label) -> dict:
    """What merging `source` into `target` would change, for the confirmation dialog."""
    source_annotations = set(AnnotationLabel.objects.filter(label=source).values_list("annotation_id", flat=True))
    both = AnnotationLabel.objects.filter(label=target, annotation_id__in=source_annotations).count()
    return {
        "annotations": len(source_annotations),
        "annotations_with_both": both,
        "items": AnnotationLabel.objects.filter(label=source).values("annotation__item_id").distinct().count(),
        "children_moved": source.children.count(),
        "rules_retargeted": source.rules.count(),
    }


def taxonomy_history(*, project: Project) -> QuerySet[TaxonomyEvent]:
    return project.taxonomy_events.select_related("actor", "label", "target")
