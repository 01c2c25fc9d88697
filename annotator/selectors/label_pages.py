"""Reads for the label-tree editor: per-row choices (move, merge), sibling positions, archived labels."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from annotator.models import Label, LabelKind, Project
from annotator.selectors.labels import TreeNode, flatten_tree, label_tree
from annotator.selectors.rules import rule_match_counts
from annotator.services.imports import LABEL_PALETTE

UP, DOWN = "up", "down"


@dataclasses.dataclass
class EditorRow:
    """One active label of the editor with what its controls may offer."""

    node: TreeNode
    move_parents: list[tuple[int, str]]  # (label id, path) of labels it may move under; the top level is extra
    can_move_to_top: bool
    merge_targets: list[tuple[int, str]]  # (label id, path) of labels it may merge into
    can_move_up: bool
    can_move_down: bool

    @property
    def label(self) -> Label:
        return self.node.label


def _subtree_ids(children: dict[int | None, list[int]], pk: int) -> set[int]:
    found, stack = {pk}, list(children[pk])
    while stack:
        child = stack.pop()
        found.add(child)
        stack.extend(children[child])
    return found


def label_editor_rows(*, project: Project) -> list[EditorRow]:
    """The active labels depth-first with counts, and for each the parents and targets its forms list."""
    nodes = flatten_tree(label_tree(project=project, rule_matches=rule_match_counts(project=project)))
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent in Label.objects.filter(project=project).values_list("id", "parent_id"):
        children[parent].append(pk)
    # Siblings in display order, active ones only: ↑/↓ step over archived labels.
    siblings: dict[int | None, list[int]] = defaultdict(list)
    for node in nodes:
        siblings[node.label.parent_id].append(node.label.pk)
    rows = []
    for node in nodes:
        label = node.label
        subtree = _subtree_ids(children, label.pk)
        has_children = len(subtree) > 1
        parents = [
            (other.label.pk, other.path)
            for other in nodes
            if other.label.kind == LabelKind.NORMAL
            and other.label.pk not in subtree
            and other.label.pk != label.parent_id
        ]
        # Merging moves the children along, and an Other bucket cannot have children.
        targets = [
            (other.label.pk, other.path)
            for other in nodes
            if other.label.pk not in subtree and not (has_children and other.label.kind == LabelKind.OTHER)
        ]
        row_siblings = siblings[label.parent_id]
        index = row_siblings.index(label.pk)
        rows.append(
            EditorRow(
                node=node,
                move_parents=parents,
                can_move_to_top=label.parent_id is not None,
                merge_targets=targets,
                can_move_up=index > 0,
                can_move_down=index < len(row_siblings) - 1,
            )
        )
    return rows


def archived_label_rows(*, project: Project) -> list[TreeNode]:
    """Archived labels (merged ones included, with `merged_into`), with their paths and counts."""
    return [node for node in flatten_tree(label_tree(project=project, include_archived=True)) if not node.label.active]


def label_reorder_position(*, label: Label, direction: str) -> int | None:
    """The `label_reorder` position that swaps `label` with its previous (UP) or next (DOWN) active sibling.

    Positions count every sibling, archived ones too, so the step skips archived labels in between.
    None when there is no active sibling that way.
    """
    # The same siblings in the same order (the model's) as label_reorder sees them.
    everyone = list(Label.objects.filter(project_id=label.project_id, parent_id=label.parent_id))
    index = next(i for i, sibling in enumerate(everyone) if sibling.pk == label.pk)
    others = everyone[:index] + everyone[index + 1 :]
    if direction == UP:
        before = [i for i, sibling in enumerate(others[:index]) if sibling.active]
        return before[-1] if before else None
    if direction == DOWN:
        after = [i for i, sibling in enumerate(others) if i >= index and sibling.active]
        return after[0] + 1 if after else None
    raise ValueError(f"Unknown direction {direction!r}; use {UP!r} or {DOWN!r}.")


def suggested_label_color(*, project: Project) -> str:
    """The palette color `label_create` would pick for the next label (the add form's initial color)."""
    return LABEL_PALETTE[project.labels.count() % len(LABEL_PALETTE)]
