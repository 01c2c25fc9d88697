"""HTTP responses for file downloads, shared by pages and the API."""

from __future__ import annotations

from django.http import StreamingHttpResponse

from annotator.exporting.formats import EXPORT_FORMATS
from annotator.models import Project
from annotator.selectors.exports import ExportFilters, export_filename, export_stream


def export_download(*, project: Project, fmt: str, filters: ExportFilters | None = None) -> StreamingHttpResponse:
    """The project's export as a streamed attachment; ValueError for an unknown format."""
    chunks = export_stream(project=project, fmt=fmt, filters=filters)
    response = StreamingHttpResponse(chunks, content_type=EXPORT_FORMATS[fmt].content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(project=project, fmt=fmt)}"'
    return response
