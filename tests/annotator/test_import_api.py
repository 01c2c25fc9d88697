"""Importing through the API: formats, duplicates, labels, and bad input that changes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.importing.parsers import ImportOptions
from annotator.models import Annotation, AnnotationLabel, AnnotationSource, Item, Job, Label, Split, TaskType
from annotator.services import imports
from annotator.services.imports import ImportRequest, import_run_job, import_start
from mlcore.textnorm import content_hash

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_with_roles):
    return project_with_roles[0]


@pytest.fixture
def api(project_with_roles):
    client = APIClient()
    client.force_authenticate(project_with_roles[1]["admin"])
    return client


def upload(api, project, name: str, content: bytes | str, **fields):
    data = content.encode() if isinstance(content, str) else content
    payload = {"file": SimpleUploadedFile(name, data), **fields}
    return api.post(reverse("api-import", args=[project.pk]), payload, format="multipart")


def snapshot(project) -> tuple:
    """Everything an import may touch, to prove a failed one changed nothing."""
    return (
        list(Item.objects.filter(project=project).values_list("id", "text", "split", "meta").order_by("id")),
        list(Annotation.objects.filter(item__project=project).values_list("id", "item_id").order_by("id")),
        list(Label.objects.filter(project=project).values_list("id", "name", "parent_id").order_by("id")),
        list(AnnotationLabel.objects.filter(label__project=project).values_list("id").order_by("id")),
        Job.objects.filter(project=project).count(),
    )


def test_csv_with_labels_and_meta(api, project):
    response = upload(
        api, project, "news.csv", 'text,label,source\n"Goal, then another",Sport,bbc\nChips rise,Tech,ft\n'
    )
    assert response.status_code == 201, response.json()
    report = response.json()
    assert (report["created"], report["annotations"], report["format"]) == (2, 2, "csv")
    item = project.items.get(text="Goal, then another")
    assert item.meta == {"source": "bbc"}
    assert item.split == Split.TRAIN
    annotation = item.annotations.get()
    assert annotation.source == AnnotationSource.IMPORT
    assert [label.name for label in annotation.labels.all()] == ["Sport"]


def test_tsv_with_chosen_columns(api, project):
    content = "id\tbody\ttopic\tignored\n1\tfirst text\tA\tx\n2\tsecond text\t\ty\n"
    response = upload(api, project, "data.tsv", content, text_column="body", label_column="topic", meta_columns="id")
    assert response.status_code == 201, response.json()
    assert project.items.get(text="first text").meta == {"id": "1"}
    assert project.items.get(text="second text").split == Split.POOL


def test_jsonl_with_label_labels_and_meta(api, project, project_with_roles):
    project.task_type = TaskType.MULTI_LABEL
    project.save()
    lines = [{"text": "one", "label": "A", "lang": "en"}, {"text": "two", "labels": ["A", "B"]}, {"text": "three"}]
    response = upload(api, project, "x.jsonl", "\n".join(json.dumps(line) for line in lines))
    assert response.status_code == 201, response.json()
    assert project.items.get(text="one").meta == {"lang": "en"}
    two = project.items.get(text="two").annotations.get()
    assert sorted(label.name for label in two.labels.all()) == ["A", "B"]


def test_txt_one_item_per_line(api, project):
    response = upload(api, project, "lines.txt", "first\n\nsecond\nthird\n")
    assert response.status_code == 201
    assert response.json()["created"] == 3
    assert set(project.items.values_list("split", flat=True)) == {Split.POOL}


def test_nested_label_paths_create_the_tree(api, project):
    response = upload(api, project, "n.csv", "text,label\nmessi scores,Sport > Football\nnadal wins,Sport > Tennis\n")
    assert response.status_code == 201
    sport = Label.objects.get(project=project, name="Sport", parent=None)
    assert sorted(sport.children.values_list("name", flat=True)) == ["Football", "Tennis"]
    assert response.json()["labels_created"] == ["Sport", "Sport > Football", "Sport > Tennis"]


def test_duplicates_are_reported_not_inserted(api, project):
    assert upload(api, project, "a.txt", "Hello world\n").status_code == 201
    response = upload(api, project, "b.txt", "hello   WORLD\nnew one\nNew one\n")
    report = response.json()
    assert (report["created"], report["duplicates_in_project"], report["duplicates_in_file"]) == (1, 1, 1)
    assert {d["line"] for d in report["duplicate_examples"]} == {1, 3}
    assert project.items.count() == 2


def test_test_split_is_chosen_explicitly(api, project):
    response = upload(api, project, "t.csv", "text,label\ngold one,A\n", split="test")
    assert response.status_code == 201
    assert project.items.get().split == Split.TEST


def test_background_import_returns_the_job(api, project):
    response = upload(api, project, "a.txt", "one\ntwo\n", background="true")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.status, job.params["filename"]) == ("import", "queued", "a.txt")


def _jsonl_with_bad_line(bad_line: int, total: int) -> str:
    lines = [json.dumps({"text": f"row {n}"}) for n in range(1, total + 1)]
    lines[bad_line - 1] = '{"text": "row", oops}'
    return "\n".join(lines)


BAD_INPUTS = {
    "missing text column": ("a.csv", "body,label\nhello,A\n", {}, 1, "text"),
    "invalid JSON on line 812": ("a.jsonl", _jsonl_with_bad_line(812, 1000), {}, 812, "invalid JSON"),
    "undecodable bytes": ("a.csv", b"text\nfine\nalso fine\nbad \xff\xfe byte\n", {}, 4, "UTF-8"),
    "empty text": ("a.csv", "text,label\nok,A\n   ,B\n", {}, 3, "empty text"),
    "ragged csv row": ("a.csv", "text,label\nok,A\nx,B,extra\n", {}, 3, ""),
    "json line not an object": ("a.jsonl", '{"text": "ok"}\n["a list"]\n', {}, 2, ""),
    "text not a string": ("a.jsonl", '{"text": "ok"}\n{"text": 42}\n', {}, 2, "text"),
    "two labels in a single-label project": (
        "a.jsonl",
        '{"text": "ok", "labels": ["A", "B"]}\n',
        {},
        1,
        "single-label",
    ),
    "empty label path part": ("a.csv", "text,label\nok,Sport > \n", {}, 2, "empty part"),
    "no items": ("a.csv", "text,label\n", {}, None, "no items"),
    "unknown extension": ("a.xlsx", "whatever", {}, None, "csv"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_and_changes_nothing(api, project, case):
    assert upload(api, project, "seed.csv", "text,label\nalready here,Old\n").status_code == 201
    before = snapshot(project)
    name, content, fields, line, words = BAD_INPUTS[case]
    response = upload(api, project, name, content, **fields)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body.get("line") == line
    if line is not None:
        assert body["detail"].startswith(f"Line {line}: ")
    assert words in body["detail"]
    assert snapshot(project) == before


def test_file_over_the_size_limit_is_refused(api, project, settings):
    settings.IMPORT_MAX_BYTES = 1000
    before = snapshot(project)
    response = upload(api, project, "big.txt", "x" * 2000)
    assert response.status_code == 400
    assert "limit" in response.json()["detail"]
    assert snapshot(project) == before


def test_an_error_on_the_last_line_writes_nothing_not_even_labels(api, project):
    rows = "".join(f"text {n},Label{n % 7}\n" for n in range(2000))
    response = upload(api, project, "late.csv", "text,label\n" + rows + "   ,X\n")
    assert response.status_code == 400
    assert response.json()["line"] == 2002
    assert project.items.count() == 0
    assert project.labels.count() == 0


def test_a_database_failure_mid_write_rolls_everything_back(api, project, monkeypatch):
    before = snapshot(project)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # Items are written first; failing the annotation write proves they are rolled back with it.
    monkeypatch.setattr(Annotation.objects, "bulk_create", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        upload(api, project, "x.csv", "text,label\none,A\ntwo,B\n")
    assert snapshot(project) == before


def test_a_failed_import_job_deletes_its_stored_upload(project_with_roles, settings):
    project, users = project_with_roles
    upload = SimpleUploadedFile("bad.csv", b"body\nx\n")
    request = ImportRequest(filename="bad.csv", options=ImportOptions())
    job = import_start(project=project, upload=upload, request=request, by=users["admin"], background=True).job
    stored = Path(job.params["path"])
    assert stored.exists()
    with pytest.raises(ValidationError, match="text column"):
        import_run_job(job=job, progress=lambda percent, message: None)
    assert not stored.parent.exists()


def test_a_concurrent_import_of_the_same_text_is_a_clear_error(project_with_roles, monkeypatch):
    project, _ = project_with_roles
    # Another import commits the same text between our duplicate check and our write.
    monkeypatch.setattr(imports, "_drop_existing", lambda project, records, report: records)
    project.items.create(text="racing text", content_hash=content_hash("racing text"))
    request = ImportRequest(filename="a.txt", options=ImportOptions())
    with pytest.raises(ValidationError, match="Another import added"):
        imports.import_file(project=project, stream=io.BytesIO(b"racing text\nnew text\n"), request=request)
    assert list(project.items.values_list("text", flat=True)) == ["racing text"]


# --- encodings (issue 22) ---------------------------------------------------------------------------------------

GBK_CSV = "text,label\n这个价格太贵了,负面\n物流很快，推荐,正面\n".encode("gbk")


@pytest.mark.parametrize("fields", [{}, {"encoding": "auto"}, {"encoding": "gb18030"}, {"encoding": "gbk"}])
def test_a_gbk_csv_imports(api, project, fields):
    response = upload(api, project, "评论.csv", GBK_CSV, **fields)
    assert response.status_code == 201, response.json()
    assert (response.json()["created"], response.json()["encoding"]) == (2, "gb18030")
    assert sorted(project.items.values_list("text", flat=True)) == ["物流很快，推荐", "这个价格太贵了"]
    assert sorted(Label.objects.filter(project=project).values_list("name", flat=True)) == ["正面", "负面"]


def test_a_gbk_csv_imports_in_a_background_job(project_with_roles):
    project, users = project_with_roles
    request = ImportRequest(filename="a.csv", options=ImportOptions(encoding="auto"))
    upload_file = SimpleUploadedFile("a.csv", GBK_CSV)
    job = import_start(project=project, upload=upload_file, request=request, by=users["admin"], background=True).job
    assert job.params["options"]["encoding"] == "auto"
    report = import_run_job(job=job, progress=lambda percent, message: None)
    assert (report["created"], report["encoding"]) == (2, "gb18030")


ENCODING_FAILURES = {
    "neither": (b"text\nfine\nbad \xff\xfe byte\n", {}, 3, "neither UTF-8 nor GB18030"),
    "latin-1 accents": ("text\nUne idée naïve\n".encode("latin-1"), {}, 2, "not plausibly Chinese"),
    "utf-8 chosen for gbk": (GBK_CSV, {"encoding": "utf-8"}, 2, "choose that encoding"),
    "gb18030 chosen for utf-8": ("text\n中文\n".encode(), {"encoding": "gb18030"}, None, "the file is UTF-8 text"),
}


@pytest.mark.parametrize("case", ENCODING_FAILURES, ids=list(ENCODING_FAILURES))
def test_an_undecodable_file_is_a_clear_error_and_writes_nothing(api, project, case):
    assert upload(api, project, "seed.csv", "text,label\nalready here,Old\n").status_code == 201
    before = snapshot(project)
    content, fields, line, words = ENCODING_FAILURES[case]
    response = upload(api, project, "a.csv", content, **fields)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body.get("line") == line
    assert words in body["detail"]
    assert snapshot(project) == before


def test_an_unknown_encoding_is_refused(api, project):
    response = upload(api, project, "a.csv", "text\nx\n", encoding="klingon")
    assert response.status_code == 400
    assert "encoding" in response.json()
    assert project.items.count() == 0
