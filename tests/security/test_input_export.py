"""Finding 8: CSV exports cannot carry spreadsheet formulas (OWASP's CSV injection advice)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.exporting.formats import FORMULA_PREFIX, ExportRow, export_chunks
from annotator.importing.parsers import ImportOptions, iter_records
from annotator.models import Role
from annotator.services.imports import ImportRequest, import_file

RISKY = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\tindented",
    "\rreturn",
]


def _csv_cells(rows: list[ExportRow]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(export_chunks(rows, "csv")), newline="")))


@pytest.mark.parametrize("text", RISKY)
def test_risky_text_and_label_cells_are_prefixed(text):
    """Finding 8: a text or label starting with =, +, -, @, tab or CR is written with a leading quote."""
    row = ExportRow(id=1, text=text, labels=(text,), split="train", meta={"k": text})
    header, cells = _csv_cells([row])
    assert header == ["id", "text", "label", "split", "meta"]
    assert cells[1] == FORMULA_PREFIX + text
    assert cells[2] == FORMULA_PREFIX + text
    assert cells[4].startswith("{")  # meta is JSON: it starts with a brace, never with a formula
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells)


def test_harmless_cells_are_unchanged():
    """Finding 8 (control): ordinary cells are written as they are."""
    row = ExportRow(id=1, text="a = b", labels=("Sport > Football",), split="pool", meta={})
    assert _csv_cells([row])[1] == ["1", "a = b", "Sport > Football", "pool", "{}"]


def test_json_formats_are_not_prefixed():
    """Finding 8: JSON formats carry the text exactly (no spreadsheet opens them as cells)."""
    row = ExportRow(id=1, text="=1+1", labels=("-x",), split="pool", meta={})
    for fmt in ("jsonl", "doccano"):
        line = json.loads("".join(export_chunks([row], fmt)))
        assert line["text"] == "=1+1"


@pytest.mark.parametrize("text", [t for t in RISKY if t.strip()])
def test_a_prefixed_export_imports_back_to_the_original(text):
    """Finding 8: the importer removes the quote the exporter added, so CSV still round-trips."""
    row = ExportRow(id=1, text=text + " tail", labels=("=Label",), split="train", meta={})
    data = "".join(export_chunks([row], "csv")).encode()
    records = list(iter_records(io.BytesIO(data), ImportOptions(label_column="label", meta_columns=[]), fmt="csv"))
    assert records[0].text == (text + " tail").strip()
    assert records[0].labels == ("=Label",)


@pytest.mark.django_db
def test_export_endpoint_prefixes_formulas(project_with_roles):
    """Finding 8: through the API, as an admin downloads it."""
    project, users = project_with_roles
    content = '{"text": "=HYPERLINK(\\"http://x\\")", "label": "@Sport"}\n{"text": "fine"}\n'
    import_file(project=project, stream=io.BytesIO(content.encode()), request=ImportRequest(filename="a.jsonl"))
    api = APIClient()
    api.force_authenticate(users[Role.ADMIN])
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    cells = {row[1]: row[2] for row in csv.reader(io.StringIO(body, newline=""))}
    assert cells['\'=HYPERLINK("http://x")'] == "'@Sport"
