"""HTTP responses for file downloads, shared by pages and the API."""

from __future__ import annotations

from django.http import FileResponse, StreamingHttpResponse

from annotator.exporting.formats import EXPORT_FORMATS
from annotator.models import ModelVersion, Project
from annotator.selectors.exports import ExportFilters, export_filename, export_stream
from annotator.services.model_export import model_archive_name, model_version_archive


def export_download(
    *, project: Project, fmt: str, filters: ExportFilters | None = None, bom: bool = False
) -> StreamingHttpResponse:
    """The project's export as a streamed attachment; ValueError for an unknown format."""
    chunks = export_stream(project=project, fmt=fmt, filters=filters, bom=bom)
    response = StreamingHttpResponse(chunks, content_type=EXPORT_FORMATS[fmt].content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(project=project, fmt=fmt)}"'
    return response


def model_archive_download(*, version: ModelVersion) -> FileResponse:
    """A model version's archive (weights, vocabulary, model card, ONNX where supported) as an attachment."""
    return FileResponse(
        model_version_archive(version=version),
        as_attachment=True,
        filename=model_archive_name(version),
        content_type="application/zip",
    )
