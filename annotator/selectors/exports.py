"""Reads for export: a project's items with their final labels, streamed in any of the export formats.

Filters (issue 20): labeled only, one split, one label (with its descendants), one annotator (items
they gave a counted answer to). Every filter is checked before streaming starts, so a bad value is a
400 naming the filter, never a broken download.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping

from django.core.exceptions import BadRequest, ValidationError

from annotator.exporting.formats import EXPORT_FORMATS, ExportRow, export_chunks
from annotator.models import Annotation, AnnotationSource, Label, Project, Split
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.params import query_id
from annotator.selectors.items import final_label_ids
from annotator.selectors.labels import label_descendant_ids
from annotator.selectors.projects import label_paths

EXPORT_BATCH_SIZE = 2000
TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("", "0", "false", "no", "off")
LABELED_ONLY_ERROR = "The “labeled_only” filter must be true or false (1/0, yes/no), not {value!r}."
SPLIT_ERROR = "The “split” filter must be one of {choices}, not {value!r}."
LABEL_ERROR = "The “label” filter names no label of this project (id {value})."
BOM_ERROR = "The “bom” option must be true or false (1/0, yes/no), not {value!r}."
BOM_NOT_CSV_ERROR = "The “bom” option (a UTF-8 byte-order mark for Excel) applies to CSV only, not to {fmt}."
# Excel reads a CSV without it in the system's code page (GBK on Chinese Windows): mojibake for any non-ASCII text.
UTF8_BOM = "\ufeff"
ANNOTATOR_ERROR = "The “annotator” filter names nobody who is a member of this project or annotated in it (id {value})."


@dataclasses.dataclass(frozen=True)
class ExportFilters:
    labeled_only: bool = False
    split: str | None = None
    label_ids: frozenset[int] | None = None  # the chosen label and its descendants
    annotator_id: int | None = None


def export_filters(*, project: Project, params: Mapping[str, str]) -> ExportFilters:
    """The filters in a query string, checked against the project; ValidationError naming a bad one."""
    raw_labeled = (params.get("labeled_only") or "").strip().lower()
    if raw_labeled not in TRUE_VALUES + FALSE_VALUES:
        raise ValidationError(LABELED_ONLY_ERROR.format(value=raw_labeled[:40]))
    split = (params.get("split") or "").strip() or None
    if split is not None and split not in Split.values:
        raise ValidationError(SPLIT_ERROR.format(choices=", ".join(Split.values), value=split[:40]))
    return ExportFilters(
        labeled_only=raw_labeled in TRUE_VALUES,
        split=split,
        label_ids=_label_filter(project, params),
        annotator_id=_annotator_filter(project, params),
    )


def export_bom(*, params: Mapping[str, str], fmt: str) -> bool:
    """Whether the download starts with a UTF-8 byte-order mark (`bom=1`, CSV only; off by default)."""
    raw = (params.get("bom") or "").strip().lower()
    if raw not in TRUE_VALUES + FALSE_VALUES:
        raise ValidationError(BOM_ERROR.format(value=raw[:40]))
    wanted = raw in TRUE_VALUES
    if wanted and fmt in EXPORT_FORMATS and fmt != "csv":  # an unknown format gets its own error from export_stream
        raise ValidationError(BOM_NOT_CSV_ERROR.format(fmt=fmt))
    return wanted


def _filter_id(params: Mapping[str, str], name: str) -> int | None:
    try:
        return query_id(params, name)
    except BadRequest as error:
        raise ValidationError(str(error)) from None


def _label_filter(project: Project, params: Mapping[str, str]) -> frozenset[int] | None:
    label_id = _filter_id(params, "label")
    if label_id is None:
        return None
    label = Label.objects.filter(project=project, pk=label_id).first()
    if label is None:
        raise ValidationError(LABEL_ERROR.format(value=label_id))
    return frozenset(label_descendant_ids(label, include_self=True))


def _annotator_filter(project: Project, params: Mapping[str, str]) -> int | None:
    user_id = _filter_id(params, "annotator")
    if user_id is None:
        return None
    known = project.memberships.filter(user_id=user_id).exists() or _answers(project, user_id).exists()
    if not known:
        raise ValidationError(ANNOTATOR_ERROR.format(value=user_id))
    return user_id


def _answers(project: Project, user_id: int):
    return Annotation.objects.filter(
        item__project=project, annotator_id=user_id, source=AnnotationSource.HUMAN, candidate_status=""
    )


def export_filename(*, project: Project, fmt: str) -> str:
    return f"project-{project.pk}-{fmt}.{EXPORT_FORMATS[fmt].file_extension}"


def export_stream(
    *, project: Project, fmt: str, filters: ExportFilters | None = None, bom: bool = False
) -> Iterator[str]:
    """Text chunks of the export; raises ValueError for an unknown format before streaming starts.

    `bom`: start with a byte-order mark (U+FEFF, EF BB BF once encoded as UTF-8), the rest unchanged."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    chunks = export_chunks(_rows(project, filters or ExportFilters()), fmt)
    return itertools.chain([UTF8_BOM], chunks) if bom else chunks


def _rows(project: Project, filters: ExportFilters) -> Iterator[ExportRow]:
    paths = label_paths(project=project, separator=LABEL_PATH_SEPARATOR)
    final = final_label_ids(project=project)
    items = project.items.order_by("id")
    if filters.split is not None:
        items = items.filter(split=filters.split)
    if filters.annotator_id is not None:
        items = items.filter(pk__in=_answers(project, filters.annotator_id).values("item_id"))
    rows = items.values_list("id", "text", "split", "meta")
    for pk, text, split, meta in rows.iterator(chunk_size=EXPORT_BATCH_SIZE):
        label_ids = final.get(pk, ())
        if filters.labeled_only and not label_ids:
            continue
        if filters.label_ids is not None and filters.label_ids.isdisjoint(label_ids):
            continue
        labels = tuple(paths[label_id] for label_id in label_ids)
        yield ExportRow(id=pk, text=text, labels=labels, split=split, meta=meta)
