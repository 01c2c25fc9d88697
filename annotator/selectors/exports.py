"""Reads for export: a project's items with their final labels, streamed in any of the export formats."""

from __future__ import annotations

from collections.abc import Iterator

from annotator.exporting.formats import EXPORT_FORMATS, ExportRow, export_chunks
from annotator.models import Project
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.selectors.items import final_label_ids
from annotator.selectors.projects import label_paths

EXPORT_BATCH_SIZE = 2000


def export_filename(*, project: Project, fmt: str) -> str:
    return f"project-{project.pk}-{fmt}.{EXPORT_FORMATS[fmt].file_extension}"


def export_stream(*, project: Project, fmt: str) -> Iterator[str]:
    """Text chunks of the export; raises ValueError for an unknown format before streaming starts."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    return export_chunks(_rows(project), fmt)


def _rows(project: Project) -> Iterator[ExportRow]:
    paths = label_paths(project=project, separator=LABEL_PATH_SEPARATOR)
    final = final_label_ids(project=project)
    items = project.items.order_by("id").values_list("id", "text", "split", "meta")
    for pk, text, split, meta in items.iterator(chunk_size=EXPORT_BATCH_SIZE):
        labels = tuple(paths[label_id] for label_id in final.get(pk, ()))
        yield ExportRow(id=pk, text=text, labels=labels, split=split, meta=meta)
