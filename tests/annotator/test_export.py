"""Export through the API and the page, in every format, and back in again."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.exporting.formats import EXPORT_FORMATS
from annotator.importing.parsers import ImportOptions
from annotator.services.imports import ImportRequest, import_file
from annotator.services.projects import project_create
from annotator.services.queue import annotation_submit
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db

SOURCE = (
    'text,label,source\n"Multi-line\ntext, with ""quotes""",Sport > Football,a\nA tech story,Tech,b\nUnlabeled one,,c\n'
)


@pytest.fixture
def project(project_with_roles):
    project = project_with_roles[0]
    request = ImportRequest(filename="s.csv", options=ImportOptions())
    import_file(project=project, stream=io.BytesIO(SOURCE.encode()), request=request)
    return project


@pytest.fixture
def api(project_with_roles):
    client = APIClient()
    client.force_authenticate(project_with_roles[1]["expert"])
    return client


def download(api, project, fmt: str) -> str:
    response = api.get(reverse("api-export", args=[project.pk]), {"format": fmt})
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    return b"".join(response.streaming_content).decode()


def test_csv_export_has_label_paths(api, project):
    rows = list(csv.DictReader(io.StringIO(download(api, project, "csv"))))
    assert [(r["text"], r["label"]) for r in rows] == [
        ('Multi-line\ntext, with "quotes"', "Sport > Football"),
        ("A tech story", "Tech"),
        ("Unlabeled one", ""),
    ]
    assert json.loads(rows[0]["meta"]) == {"source": "a"}


def test_jsonl_export(api, project):
    rows = [json.loads(line) for line in download(api, project, "jsonl").splitlines()]
    assert [r["labels"] for r in rows] == [["Sport > Football"], ["Tech"], []]
    assert rows[1]["label"] == "Tech"


def test_label_studio_export_is_a_task_list(api, project):
    tasks = json.loads(download(api, project, "label-studio"))
    assert tasks[1]["data"]["text"] == "A tech story"
    assert tasks[1]["annotations"][0]["result"][0]["value"] == {"choices": ["Tech"]}
    assert tasks[2]["annotations"] == []


def test_doccano_export(api, project):
    rows = [json.loads(line) for line in download(api, project, "doccano").splitlines()]
    assert [(r["text"], r["label"]) for r in rows][1:] == [("A tech story", ["Tech"]), ("Unlabeled one", [])]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "label-studio"])
def test_an_export_imports_back_into_a_new_project(api, project, project_with_roles, fmt):
    """Issue 20, item 1: a Label Studio export (read from a .json file) comes back like CSV and JSON Lines."""
    exported = download(api, project, fmt)
    copy = project_create(name="Copy", created_by=project_with_roles[1]["admin"])
    client = APIClient()
    client.force_authenticate(project_with_roles[1]["admin"])
    payload = {"file": SimpleUploadedFile(f"export.{EXPORT_FORMATS[fmt].file_extension}", exported.encode())}
    if fmt == "csv":
        payload["meta_columns"] = ""
    response = client.post(reverse("api-import", args=[copy.pk]), payload, format="multipart")
    assert response.status_code == 201, response.json()

    def texts_and_labels(p):
        return sorted(
            (item.text, tuple(label.name for a in item.annotations.all() for label in a.labels.all()))
            for item in p.items.all()
        )

    assert texts_and_labels(copy) == texts_and_labels(project)


def test_unknown_export_format_is_a_clear_400(api, project):
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "xml"})
    assert response.status_code == 400
    assert "choose one of csv, jsonl, label-studio, doccano" in response.json()["detail"]


def test_export_page_download(client, project, project_with_roles):
    client.force_login(project_with_roles[1]["admin"])
    response = client.get(reverse("item-export-download", args=[project.pk]), {"format": "doccano"})
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).splitlines()) == 3


# --- filters (issue 20, item 2) ------------------------------------------------------------------------------------


def filtered(api, project, **params) -> list[tuple[str, list[str]]]:
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "jsonl", **params})
    assert response.status_code == 200, response.content
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    return [(row["text"], row["labels"]) for row in rows]


def test_export_filters_labeled_only_and_split(api, project):
    """Issue 20, bug 9 (export has no filters): labeled only, and one split."""
    assert [text for text, _ in filtered(api, project, labeled_only="true")] == [
        'Multi-line\ntext, with "quotes"',
        "A tech story",
    ]
    assert filtered(api, project, split="pool") == [("Unlabeled one", [])]


def test_export_filter_by_label_includes_its_descendants(api, project):
    """Issue 20, bug 9: filtering on "Sport" keeps items labeled "Sport > Football"."""
    sport = project.labels.get(name="Sport")
    assert filtered(api, project, label=sport.pk) == [('Multi-line\ntext, with "quotes"', ["Sport > Football"])]
    tech = project.labels.get(name="Tech")
    assert filtered(api, project, label=tech.pk) == [("A tech story", ["Tech"])]


def test_export_filter_by_annotator(api, project, project_with_roles):
    """Issue 20, bug 9: only the items one person annotated (with their final labels)."""
    annotator = project_with_roles[1]["annotator"]
    item = project.items.get(text="Unlabeled one")
    annotation_submit(item=item, annotator=annotator, labels=[project.labels.get(name="Tech")])
    assert filtered(api, project, annotator=annotator.pk) == [("Unlabeled one", ["Tech"])]
    assert filtered(api, project, annotator=annotator.pk, split="train") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"labeled_only": "perhaps"}, "labeled_only"),
        ({"split": "holdout"}, "split"),
        ({"label": "abc"}, "label"),
        ({"label": "999999"}, "label"),
        ({"annotator": "999999"}, "annotator"),
        ({"annotator": "x"}, "annotator"),
    ],
)
def test_bad_export_filters_are_a_400_naming_the_filter(api, client, project, project_with_roles, params, message):
    """Issue 20, bug 9: a bad filter value is a 400 that names the filter, on the API and the page."""
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "csv", **params})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    client.force_login(project_with_roles[1]["expert"])
    page = client.get(reverse("item-export-download", args=[project.pk]), {"format": "csv", **params})
    assert page.status_code == 400 and message in page.content.decode()


def test_label_of_another_project_is_refused(api, project, project_with_roles):
    other = project_create(name="Other", created_by=project_with_roles[1]["admin"])
    label = label_create(project=other, name="Elsewhere", by=project_with_roles[1]["admin"])
    response = api.get(reverse("api-export", args=[project.pk]), {"label": label.pk})
    assert response.status_code == 400 and "label" in response.json()["detail"]


def test_filtered_csv_keeps_the_formula_quote(api, project_with_roles):
    """Issue 20, item 2: filters keep issue 19's CSV formula-injection protection."""
    project = project_with_roles[0]
    source = 'text,label\n"=HYPERLINK(""http://x"")",Tech\nplain,Sport\n'
    request = ImportRequest(filename="s.csv", options=ImportOptions())
    import_file(project=project, stream=io.BytesIO(source.encode()), request=request)
    tech = project.labels.get(name="Tech")
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "csv", "label": tech.pk})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["text"] for row in rows] == ['\'=HYPERLINK("http://x")']


def test_export_page_offers_the_filters(client, project, project_with_roles):
    client.force_login(project_with_roles[1]["expert"])
    html = client.get(reverse("item-export", args=[project.pk])).content.decode()
    for name in ("labeled_only", "split", "label", "annotator", "format"):
        assert f'name="{name}"' in html
    assert "Sport &gt; Football" in html


# --- a byte-order mark for Excel (issue 22) ------------------------------------------------------------------------


def raw_download(api, project, **params) -> bytes:
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "csv", **params})
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def test_csv_bom_only_when_asked(api, project):
    plain = raw_download(api, project)
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert raw_download(api, project, bom="0") == plain
    with_bom = raw_download(api, project, bom="1")
    assert with_bom == b"\xef\xbb\xbf" + plain  # and the rest unchanged
    assert with_bom.decode("utf-8-sig") == plain.decode()


def test_csv_bom_with_chinese_text_reads_back_in_excel_encoding(api, project_with_roles):
    project = project_with_roles[0]
    request = ImportRequest(filename="s.csv", options=ImportOptions())
    import_file(project=project, stream=io.BytesIO("text,label\n价格太贵,负面\n".encode()), request=request)
    data = raw_download(api, project, bom="true")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(row["text"], row["label"]) for row in rows] == [("价格太贵", "负面")]


def test_export_page_bom_checkbox(client, project, project_with_roles):
    client.force_login(project_with_roles[1]["expert"])
    assert 'name="bom"' in client.get(reverse("item-export", args=[project.pk])).content.decode()
    url = reverse("item-export-download", args=[project.pk])
    response = client.get(url, {"format": "csv", "bom": "1"})
    assert b"".join(response.streaming_content).startswith(b"\xef\xbb\xbfid,text,label")


@pytest.mark.parametrize(
    ("params", "message"), [({"bom": "maybe"}, "must be true or false"), ({"bom": "1", "format": "jsonl"}, "CSV only")]
)
def test_bad_bom_is_a_clear_400(api, client, project, project_with_roles, params, message):
    response = api.get(reverse("api-export", args=[project.pk]), {"format": "csv", **params})
    assert response.status_code == 400 and message in response.json()["detail"]
    client.force_login(project_with_roles[1]["expert"])
    page = client.get(reverse("item-export-download", args=[project.pk]), {"format": "csv", **params})
    assert page.status_code == 400 and message in page.content.decode()
