"""Label-tree edits. Each runs in one transaction and leaves a TaxonomyEvent.

No edit drops an annotation or rewrites one silently: a merge repoints annotation labels while
keeping the label the annotator chose (`AnnotationLabel.original_label`) and an
`AnnotationRevision` per annotation it touched; a split sends items back to the queue and keeps
their annotations as the parent; a label in use cannot be deleted.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy

from annotator.models import (
    AnnotationLabel,
    AnnotationRevision,
    Label,
    LabelKind,
    Project,
    RequeuedItem,
    RevisionReason,
    Rule,
    TaxonomyAction,
    TaxonomyEvent,
)
from annotator.models.projects import LABEL_NAME_MAX_LENGTH, LABEL_PATH_SEPARATOR
from annotator.selectors.labels import (
    DIGIT_KEYS,
    label_descendant_ids,
    label_digits_in_use,
    label_free_digit,
    label_path,
    merge_preview,
)
from annotator.services.imports import LABEL_PALETTE

NAME_TAKEN_ERROR = gettext_lazy("There is already a label “{name}” here; choose another name or merge the two.")
EMPTY_NAME_ERROR = gettext_lazy("A label needs a name.")
NAME_TOO_LONG_ERROR = gettext_lazy("A label name is at most {limit} characters; this one has {length:,}.")
NUL_IN_NAME_ERROR = gettext_lazy("A label name cannot contain a NUL character.")
SEPARATOR_IN_NAME_ERROR = f"A label name cannot contain “{LABEL_PATH_SEPARATOR.strip()}”: it separates levels in paths."
OTHER_EXISTS_ERROR = gettext_lazy("“{parent}” already has an Other bucket (“{name}”).")
OTHER_AS_PARENT_ERROR = gettext_lazy("An Other bucket cannot have children: split it into new labels instead.")
MOVE_INTO_SUBTREE_ERROR = gettext_lazy("A label cannot move under itself or one of its own children.")
MERGE_SELF_ERROR = gettext_lazy("A label cannot be merged into itself.")
MERGE_INTO_DESCENDANT_ERROR = gettext_lazy(
    "A label cannot be merged into one of its own children; move the child up first."
)
ARCHIVED_ERROR = gettext_lazy("“{name}” is archived; restore it first.")
OTHER_PROJECT_ERROR = gettext_lazy("That label belongs to another project.")
DELETE_IN_USE_ERROR = gettext_lazy(
    "“{name}” cannot be deleted: {annotations} annotation(s) and {rules} rule(s) use it or its children. "
    "Merge it into another label, or archive it to hide it and keep its history."
)
SHORTCUT_TAKEN_ERROR = gettext_lazy("The shortcut “{key}” is already used by “{name}”.")
DIGIT_TAKEN_ERROR = gettext_lazy("The key “{key}” already selects “{name}” at this level; choose another shortcut.")
# Keys the annotation page keeps for itself: skip, undo, flag, expand, accept and reject.
RESERVED_SHORTCUTS = frozenset("sufeax?")
SHORTCUT_RESERVED_ERROR = gettext_lazy(
    "“{key}” is an annotation-page key (S skip, U undo, F flag, E expand, A accept, X reject, ? help); choose another."
)
SPLIT_NEEDS_CHILDREN_ERROR = gettext_lazy("Give at least two names to split a label into.")
RESTORE_UNDER_ARCHIVED_ERROR = gettext_lazy("Restore its parent “{name}” first.")


def _record(
    *,
    project: Project,
    action: str,
    by: AbstractBaseUser | None,
    summary: str,
    label: Label | None = None,
    target: Label | None = None,
    details: dict | None = None,
    touched: int = 0,
) -> TaxonomyEvent:
    return TaxonomyEvent.objects.create(
        project=project,
        action=action,
        actor=by,
        summary=summary[:500],
        label=label,
        target=target,
        details=details or {},
        annotations_touched=touched,
    )


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError(EMPTY_NAME_ERROR)
    if "\x00" in name:
        raise ValidationError(NUL_IN_NAME_ERROR)
    if len(name) > LABEL_NAME_MAX_LENGTH:
        raise ValidationError(NAME_TOO_LONG_ERROR.format(limit=LABEL_NAME_MAX_LENGTH, length=len(name)))
    if LABEL_PATH_SEPARATOR.strip() in name:
        raise ValidationError(SEPARATOR_IN_NAME_ERROR)
    return name


def _check_name_free(project: Project, parent: Label | None, name: str, exclude: Label | None = None) -> None:
    siblings = Label.objects.filter(project=project, parent=parent, name__iexact=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    if siblings.exists():
        raise ValidationError(NAME_TAKEN_ERROR.format(name=name))


def _check_parent(project: Project, parent: Label | None) -> None:
    if parent is None:
        return
    if parent.project_id != project.pk:
        raise ValidationError(OTHER_PROJECT_ERROR)
    if not parent.active:
        raise ValidationError(ARCHIVED_ERROR.format(name=parent.name))
    if parent.kind == LabelKind.OTHER:
        raise ValidationError(OTHER_AS_PARENT_ERROR)


def _check_shortcut_free(project: Project, key: str, exclude: Label | None = None, parent: Label | None = None) -> None:
    if not key:
        return
    if key.lower() in RESERVED_SHORTCUTS:
        raise ValidationError(SHORTCUT_RESERVED_ERROR.format(key=key))
    holders = Label.objects.filter(project=project, active=True, shortcut__iexact=key)
    if exclude is not None:
        holders = holders.exclude(pk=exclude.pk)
    holder = holders.first()
    if holder is not None:
        raise ValidationError(SHORTCUT_TAKEN_ERROR.format(key=key, name=holder.name))
    if key in DIGIT_KEYS:
        # A digit shortcut must not take a sibling's digit away: digits never change behind people's backs.
        siblings = Label.objects.filter(project=project, parent=parent, active=True, digit=key)
        holder = siblings.exclude(pk=exclude.pk if exclude else None).first()
        if holder is not None:
            raise ValidationError(DIGIT_TAKEN_ERROR.format(key=key, name=holder.name))


def _keep_digit_or_take_free(label: Label) -> None:
    """After a label joins other siblings (move, merge, restore): keep its digit if still free there."""
    used = label_digits_in_use(project=label.project, parent=label.parent, exclude_id=label.pk)
    if label.shortcut or (label.digit and label.digit not in used):
        return
    label.digit = label_free_digit(project=label.project, parent=label.parent, exclude_id=label.pk)
    Label.objects.filter(pk=label.pk).update(digit=label.digit)


def _next_order(project: Project, parent: Label | None) -> int:
    last = Label.objects.filter(project=project, parent=parent).order_by("-order").values_list("order", flat=True)
    return (last.first() or 0) + 1


@transaction.atomic
def label_create(
    *,
    project: Project,
    name: str,
    by: AbstractBaseUser | None,
    parent: Label | None = None,
    kind: str = LabelKind.NORMAL,
    description: str = "",
    color: str = "",
    shortcut: str = "",
) -> Label:
    """Add a label under `parent` (None: top level). An Other bucket is unique per parent."""
    name = _clean_name(name)
    _check_parent(project, parent)
    _check_name_free(project, parent, name)
    _check_shortcut_free(project, shortcut, parent=parent)
    if kind == LabelKind.OTHER:
        existing = Label.objects.filter(project=project, parent=parent, kind=LabelKind.OTHER, active=True).first()
        if existing is not None:
            parent_name = parent.name if parent else "The top level"
            raise ValidationError(OTHER_EXISTS_ERROR.format(parent=parent_name, name=existing.name))
    label = Label.objects.create(
        project=project,
        parent=parent,
        name=name,
        kind=kind,
        description=description,
        color=color or LABEL_PALETTE[project.labels.count() % len(LABEL_PALETTE)],
        shortcut=shortcut,
        digit="" if shortcut else label_free_digit(project=project, parent=parent),
        order=_next_order(project, parent),
    )
    kind_text = "Other bucket" if kind == LabelKind.OTHER else "label"
    _record(
        project=project,
        action=TaxonomyAction.CREATE,
        by=by,
        label=label,
        summary=f"Created {kind_text} “{label_path(label)}”.",
    )
    return label


EDITABLE_FIELDS = ("name", "description", "color", "shortcut")


@transaction.atomic
def label_update(*, label: Label, by: AbstractBaseUser | None, **changes: str) -> Label:
    """Rename, recolor, edit the description or shortcut. Annotations follow the label, untouched."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Cannot edit {', '.join(sorted(unknown))} here; editable: {', '.join(EDITABLE_FIELDS)}.")
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
        _check_name_free(label.project, label.parent, changes["name"], exclude=label)
    if "shortcut" in changes:
        _check_shortcut_free(label.project, changes["shortcut"], exclude=label, parent=label.parent)
    before = {field: getattr(label, field) for field in changes}
    diff = {field: [before[field], value] for field, value in changes.items() if before[field] != value}
    if not diff:
        return label
    for field, (_old, new) in diff.items():
        setattr(label, field, new)
    label.save(update_fields=list(diff))
    if "shortcut" in diff and not label.shortcut:
        _keep_digit_or_take_free(label)
    summary = (
        f"Renamed “{diff['name'][0]}” to “{diff['name'][1]}”."
        if list(diff) == ["name"]
        else f"Edited {', '.join(diff)} of “{label_path(label)}”."
    )
    _record(project=label.project, action=TaxonomyAction.UPDATE, by=by, label=label, summary=summary, details=diff)
    return label


@transaction.atomic
def label_reorder(*, label: Label, position: int, by: AbstractBaseUser | None) -> Label:
    """Put `label` at `position` (0-based, clamped) among its siblings."""
    # Positions count the siblings annotators see; archived ones keep their place at the end.
    siblings = Label.objects.filter(project=label.project, parent=label.parent)
    visible = list(siblings.filter(active=True).exclude(pk=label.pk))
    position = max(0, min(position, len(visible)))
    ordered = [*visible[:position], label, *visible[position:], *siblings.filter(active=False).exclude(pk=label.pk)]
    moved = [(sibling, order) for order, sibling in enumerate(ordered, start=1) if sibling.order != order]
    if not moved:
        return label
    for sibling, order in moved:
        Label.objects.filter(pk=sibling.pk).update(order=order)
    _renumber_digits([sibling for sibling in ordered if sibling.active])
    label.refresh_from_db()
    _record(
        project=label.project,
        action=TaxonomyAction.REORDER,
        by=by,
        label=label,
        summary=f"Moved “{label_path(label)}” to position {position + 1} among its siblings.",
    )
    return label


def _renumber_digits(siblings: list[Label]) -> None:
    """A reorder is the one edit that renumbers: the siblings' digits follow their new order."""
    numbered = [sibling for sibling in siblings if sibling.digit]
    digits = sorted((sibling.digit for sibling in numbered), key=DIGIT_KEYS.index)
    for sibling, digit in zip(numbered, digits, strict=True):
        if sibling.digit != digit:
            Label.objects.filter(pk=sibling.pk).update(digit=digit)


@transaction.atomic
def label_move(*, label: Label, new_parent: Label | None, by: AbstractBaseUser | None) -> Label:
    """Move a label and its subtree under `new_parent` (None: top level). Its current parent: nothing happens."""
    if (new_parent.pk if new_parent else None) == label.parent_id:
        return label
    if new_parent is not None and new_parent.pk in label_descendant_ids(label, include_self=True):
        raise ValidationError(MOVE_INTO_SUBTREE_ERROR)
    _check_parent(label.project, new_parent)
    _check_name_free(label.project, new_parent, label.name, exclude=label)
    old_path = label_path(label)
    subtree = label_descendant_ids(label, include_self=True)
    touched = AnnotationLabel.objects.filter(label_id__in=subtree).values("annotation_id").distinct().count()
    label.parent = new_parent
    label.order = _next_order(label.project, new_parent)
    label.save(update_fields=["parent", "order"])
    _keep_digit_or_take_free(label)
    _record(
        project=label.project,
        action=TaxonomyAction.MOVE,
        by=by,
        label=label,
        target=new_parent,
        summary=f"Moved “{old_path}” to “{label_path(label)}” (with {len(subtree) - 1} child label(s)).",
        details={"from": old_path, "to": label_path(label)},
        touched=touched,
    )
    return label


@transaction.atomic
def label_merge(*, source: Label, target: Label, by: AbstractBaseUser | None) -> TaxonomyEvent:
    """Merge `source` into `target`: its annotations, children and rules move to `target`; it is archived."""
    _check_merge(source, target)
    preview = merge_preview(source=source, target=target)
    links = list(AnnotationLabel.objects.filter(label=source).select_related("annotation"))
    before = _labels_by_annotation({link.annotation_id for link in links})
    already_target = set(
        AnnotationLabel.objects.filter(label=target, annotation_id__in=before).values_list("annotation_id", flat=True)
    )
    event = _record(
        project=source.project,
        action=TaxonomyAction.MERGE,
        by=by,
        label=source,
        target=target,
        summary=f"Merged “{label_path(source)}” into “{label_path(target)}”.",
        details=preview,
        touched=len(before),
    )
    for link in links:
        if link.annotation_id in already_target:
            # The annotation has both labels: after the merge it simply has the target once.
            link.delete()
        else:
            link.original_label_id = link.original_label_id or source.pk
            link.label = target
            link.save(update_fields=["label", "original_label"])
    _write_revisions(event, before)
    for order, child in enumerate(source.children.all(), start=_next_order(source.project, target)):
        _check_name_free(source.project, target, child.name, exclude=child)
        Label.objects.filter(pk=child.pk).update(parent=target, order=order)
        child.parent = target
        _keep_digit_or_take_free(child)
    Rule.objects.filter(label=source).update(label=target)
    source.active = False
    source.merged_into = target
    source.save(update_fields=["active", "merged_into"])
    return event


def _check_merge(source: Label, target: Label) -> None:
    if source.pk == target.pk:
        raise ValidationError(MERGE_SELF_ERROR)
    if source.project_id != target.project_id:
        raise ValidationError(OTHER_PROJECT_ERROR)
    if target.pk in label_descendant_ids(source):
        raise ValidationError(MERGE_INTO_DESCENDANT_ERROR)
    if target.kind == LabelKind.OTHER and source.children.exists():
        raise ValidationError(OTHER_AS_PARENT_ERROR + " Move the children of “" + source.name + "” first.")
    for label in (source, target):
        if not label.active:
            raise ValidationError(ARCHIVED_ERROR.format(name=label.name))


def _labels_by_annotation(annotation_ids: set[int]) -> dict[int, list[int]]:
    labels: dict[int, list[int]] = defaultdict(list)
    rows = AnnotationLabel.objects.filter(annotation_id__in=annotation_ids).values_list("annotation_id", "label_id")
    for annotation_id, label_id in rows.order_by("label_id"):
        labels[annotation_id].append(label_id)
    return dict(labels)


def _write_revisions(event: TaxonomyEvent, before: dict[int, list[int]]) -> None:
    after = _labels_by_annotation(set(before))
    AnnotationRevision.objects.bulk_create(
        AnnotationRevision(
            annotation_id=pk,
            event=event,
            reason=RevisionReason.TAXONOMY,
            changed_by=event.actor,
            labels_before=labels,
            labels_after=after.get(pk, []),
        )
        for pk, labels in before.items()
    )


@transaction.atomic
def label_split(*, label: Label, children: list[str], by: AbstractBaseUser | None) -> list[Label]:
    """Create children under `label` and send its annotated items back to the queue.

    Existing annotations stay as they are (labelled with the parent) until someone re-annotates
    the item into one of the children.
    """
    names = [_clean_name(name) for name in children if name.strip()]
    if len(names) < 2:
        raise ValidationError(SPLIT_NEEDS_CHILDREN_ERROR)
    if label.kind == LabelKind.OTHER:
        # An Other bucket splits into normal labels beside it, but it keeps no children itself.
        raise ValidationError(OTHER_AS_PARENT_ERROR + " Create the new labels beside it and merge or move items.")
    created = [label_create(project=label.project, parent=label, name=name, by=by) for name in names]
    item_ids = set(
        AnnotationLabel.objects.filter(label=label, annotation__candidate_status="").values_list(
            "annotation__item_id", flat=True
        )
    )
    event = _record(
        project=label.project,
        action=TaxonomyAction.SPLIT,
        by=by,
        label=label,
        summary=f"Split “{label_path(label)}” into {', '.join(names)}; {len(item_ids)} item(s) returned to the queue.",
        details={"children": names, "items_requeued": len(item_ids)},
    )
    RequeuedItem.objects.bulk_create(RequeuedItem(item_id=pk, label=label, event=event) for pk in sorted(item_ids))
    return created


@transaction.atomic
def label_archive(*, label: Label, by: AbstractBaseUser | None) -> Label:
    """Hide a label and its subtree from annotators. Its annotations stay; restore undoes it."""
    if not label.active:
        return label
    subtree = label_descendant_ids(label, include_self=True)
    Label.objects.filter(pk__in=subtree).update(active=False)
    _record(
        project=label.project,
        action=TaxonomyAction.ARCHIVE,
        by=by,
        label=label,
        summary=f"Archived “{label_path(label)}”"
        + (f" and {len(subtree) - 1} child label(s)." if len(subtree) > 1 else "."),
        details={"labels": sorted(subtree)},
    )
    label.refresh_from_db()
    return label


@transaction.atomic
def label_restore(*, label: Label, by: AbstractBaseUser | None) -> Label:
    """Bring back an archived label (and the children archived with it). A merged label stays merged."""
    if label.merged_into_id:
        raise ValidationError(
            f"“{label.name}” was merged into “{label.merged_into.name}”; its annotations live there now."
        )
    if label.parent is not None and not label.parent.active:
        raise ValidationError(RESTORE_UNDER_ARCHIVED_ERROR.format(name=label.parent.name))
    subtree = label_descendant_ids(label, include_self=True)
    returning = Label.objects.filter(pk__in=subtree, merged_into__isnull=True, active=False)
    for restored in returning.exclude(shortcut=""):
        _check_shortcut_free(label.project, restored.shortcut, exclude=restored)
    # One at a time, parents first, so each takes a free digit if another took its own meanwhile.
    for restored in sorted(returning, key=lambda node: (node.pk != label.pk, node.order, node.pk)):
        Label.objects.filter(pk=restored.pk).update(active=True)
        _keep_digit_or_take_free(restored)
    _record(
        project=label.project,
        action=TaxonomyAction.RESTORE,
        by=by,
        label=label,
        summary=f"Restored “{label_path(label)}”.",
    )
    label.refresh_from_db()
    return label


@transaction.atomic
def label_delete(*, label: Label, by: AbstractBaseUser | None) -> None:
    """Delete a label and its subtree, only when nothing uses them."""
    subtree = label_descendant_ids(label, include_self=True)
    annotations = (
        AnnotationLabel.objects.filter(Q(label_id__in=subtree) | Q(original_label_id__in=subtree))
        .values("annotation_id")
        .distinct()
        .count()
    )
    rules = Rule.objects.filter(label_id__in=subtree).count()
    merged_here = Label.objects.filter(merged_into_id__in=subtree).exists()
    if annotations or rules or merged_here:
        raise ValidationError(DELETE_IN_USE_ERROR.format(name=label.name, annotations=annotations, rules=rules))
    path = label_path(label)
    _record(
        project=label.project, action=TaxonomyAction.DELETE, by=by, summary=f"Deleted “{path}”.", details={"path": path}
    )
    Label.objects.filter(pk__in=subtree).delete()
