"""Finding 11: malformed ids, query parameters and import fields are clear 4xx errors, never 500s.

Run on SQLite and on PostgreSQL (DATABASE_URL): the length and NUL checks matter most there, where
the database itself refuses what SQLite stores silently.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.importing import parsers
from annotator.models import Item, Label, Role
from annotator.services import taxonomy

pytestmark = pytest.mark.django_db

HUGE_ID = "99999999999999999999"  # 20 digits: past a 64-bit integer


@pytest.fixture
def project(project_with_roles):
    return project_with_roles[0]


@pytest.fixture
def users(project_with_roles):
    return project_with_roles[1]


@pytest.fixture
def api(users) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(users[Role.ADMIN])
    return client


@pytest.fixture
def browser(users) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(users[Role.ADMIN])
    return client


@pytest.fixture
def label(project, users) -> Label:
    return taxonomy.label_create(project=project, name="Sport", by=users[Role.ADMIN])


def test_malformed_query_ids_are_400_in_the_api(api, project):
    """Finding 11: `queue/previous/?before=abc` and a 20-digit `before` are refused with a message."""
    url = reverse("api-queue-previous", args=[project.pk])
    for value in ("abc", HUGE_ID, "-1", "1.5"):
        response = api.get(url, {"before": value})
        assert response.status_code in (400, 404), (value, response.status_code)
    response = api.get(url, {"before": "abc"})
    assert response.status_code == 400
    assert "before" in response.json()["detail"]


def test_twenty_digit_ids_in_api_paths_are_404(api, project, label):
    """Finding 11: a label id of 20 digits in an API path is not found, not a 500."""
    base = f"/api/projects/{project.pk}"
    for path in (
        f"{base}/labels/{HUGE_ID}/",
        f"{base}/rules/{HUGE_ID}/",
        f"{base}/jobs/{HUGE_ID}/",
        f"{base}/models/{HUGE_ID}/",
        f"/api/projects/{HUGE_ID}/",
        f"/api/projects/{HUGE_ID}/labels/",
    ):
        assert api.get(path).status_code == 404, path
    assert api.patch(f"{base}/labels/{HUGE_ID}/", {"name": "x"}, format="json").status_code == 404
    assert api.post(f"{base}/queue/items/{HUGE_ID}/submit/", {"labels": []}, format="json").status_code == 404


def test_twenty_digit_ids_in_pages_are_404(browser, project, label):
    """Finding 11: the same in page URLs and page query parameters."""
    base = f"/projects/{project.pk}"
    for path in (
        f"{base}/labels/{HUGE_ID}/edit/",
        f"{base}/models/{HUGE_ID}/",
        f"{base}/jobs/{HUGE_ID}/",
        f"{base}/queue/binary/{HUGE_ID}/",
        f"/projects/{HUGE_ID}/",
    ):
        assert browser.get(path).status_code == 404, path
    assert browser.get(f"{base}/queue/", {"item": HUGE_ID}).status_code in (400, 404)
    assert browser.get(f"{base}/queue/undo/", {"before": HUGE_ID}).status_code in (200, 400, 404)
    assert browser.get(f"{base}/adjudication/", {"item": HUGE_ID}).status_code in (200, 400, 404)


def test_model_compare_with_malformed_ids_is_400(browser, project):
    """Finding 11: `models/compare/?a=abc` names the bad parameter instead of failing."""
    url = f"/projects/{project.pk}/models/compare/"
    response = browser.get(url, {"a": "abc", "b": "1"})
    assert response.status_code == 400
    assert browser.get(url, {"a": HUGE_ID, "b": HUGE_ID}).status_code in (400, 404)


def test_huge_suggestion_label_filter(browser, api, project):
    """Finding 11: a huge `suggestions/?label=` is refused (page) or rejected as a bad parameter (API)."""
    assert browser.get(f"/projects/{project.pk}/suggestions/", {"label": "9" * 5000}).status_code in (200, 400)
    response = api.get(reverse("api-candidate-list", args=[project.pk]), {"label": "9" * 5000})
    assert response.status_code in (200, 400)  # the API lists all suggestions and has no label filter


# --- imports ---------------------------------------------------------------------------------------------------


def _import(api, project, name: str, content: str):
    upload = SimpleUploadedFile(name, content.encode())
    return api.post(reverse("api-import", args=[project.pk]), {"file": upload}, format="multipart")


def test_deeply_nested_jsonl_line_is_a_line_numbered_error(api, project):
    """Finding 11: 100,000 nested brackets on a JSONL line (a RecursionError) become a line-numbered 400."""
    nested = "[" * 100_000 + "]" * 100_000
    content = '{"text": "fine"}\n' + '{"text": "deep", "meta": ' + nested + "}\n"
    response = _import(api, project, "deep.jsonl", content)
    assert response.status_code == 400
    assert response.json()["line"] == 2
    assert "nest" in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_json_depth_is_bounded_below_the_recursion_limit(api, project):
    """Finding 11: meta nested deeper than the bound is refused even when Python could parse it."""
    nested = "[" * (parsers.MAX_JSON_DEPTH + 1) + "]" * (parsers.MAX_JSON_DEPTH + 1)
    response = _import(api, project, "deep.jsonl", '{"text": "deep", "extra": ' + nested + "}\n")
    assert response.status_code == 400
    assert response.json()["line"] == 1


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("long-label.jsonl", '{"text": "a"}\n{"text": "b", "label": "' + "L" * 5000 + '"}\n', 2),
        ("long-label-part.jsonl", '{"text": "b", "label": "Sport > ' + "L" * 201 + '"}\n', 1),
        ("long-label.csv", "text,label\na,x\nb," + "L" * 5000 + "\n", 3),
        ("nul-meta-value.jsonl", '{"text": "a", "source": "x\\u0000y"}\n', 1),
        ("nul-meta-key.jsonl", '{"text": "a", "so\\u0000urce": "x"}\n', 1),
        ("nul-nested-meta.jsonl", '{"text": "a", "extra": {"k": ["ok", "x\\u0000"]}}\n', 1),
        ("nul-label.jsonl", '{"text": "a", "label": "Sp\\u0000ort"}\n', 1),
        ("long-meta-key.jsonl", '{"text": "a", "' + "k" * 300 + '": 1}\n', 1),
        ("long-text.jsonl", '{"text": "' + "t" * (parsers.MAX_TEXT_CHARS + 1) + '"}\n', 1),
    ],
)
def test_imported_fields_are_checked_with_line_numbers(api, project, name, content, line):
    """Finding 11: label names/paths, meta keys and values and the text are checked for length and NUL
    characters with the line named, on every database (SQLite stored a 5,000-character label)."""
    response = _import(api, project, name, content)
    assert response.status_code == 400, response.content
    assert response.json()["line"] == line
    assert not Item.objects.filter(project=project).exists()
    assert not Label.objects.filter(project=project).exists()


def test_label_create_and_rename_check_length_and_nul(api, browser, project, label):
    """Finding 11: the same limits for labels created or renamed through the API and the pages."""
    url = reverse("api-label-list", args=[project.pk])
    assert api.post(url, {"name": "L" * 201}, format="json").status_code == 400
    assert api.post(url, {"name": "a\x00b"}, format="json").status_code == 400
    detail = reverse("api-label-detail", args=[project.pk, label.pk])
    assert api.patch(detail, {"name": "L" * 5000}, format="json").status_code == 400
    assert api.patch(detail, {"name": "x\x00"}, format="json").status_code == 400
    response = browser.post(f"/projects/{project.pk}/labels/new/", {"name": "L" * 5000})
    assert response.status_code in (200, 302, 400)  # the form again, or back to the tree with the error
    response = browser.post(f"/projects/{project.pk}/labels/{label.pk}/edit/", {"name": "x\x00y"})
    assert response.status_code in (200, 302, 400)  # the form again, or back to the tree with the error
    assert set(Label.objects.filter(project=project).values_list("name", flat=True)) == {"Sport"}


def test_label_service_refuses_overlong_names(project, users):
    """Finding 11: the service itself refuses, so every caller (import, split, API, page) is covered."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        taxonomy.label_create(project=project, name="L" * 201, by=users[Role.ADMIN])
    with pytest.raises(ValidationError):
        taxonomy.label_create(project=project, name="a\x00", by=users[Role.ADMIN])


def test_meta_is_json_after_import(api, project):
    """Finding 11 (control): ordinary nested meta still imports."""
    content = json.dumps({"text": "a", "extra": {"k": [1, 2, {"z": "ok"}]}}) + "\n"
    assert _import(api, project, "ok.jsonl", content).status_code in (200, 201)


# --- API bodies --------------------------------------------------------------------------------------------------


def test_deeply_nested_json_body_is_a_400(api, project):
    """Finding 11: a request body of 100,000 nested brackets is a parse error, not a RecursionError."""
    body = "[" * 100_000 + "]" * 100_000
    for url in (reverse("api-label-list", args=[project.pk]), reverse("api-job-list", args=[project.pk])):
        response = api.generic("POST", url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)


def test_job_params_with_nul_or_deep_nesting_are_400(api, project):
    """Finding 11 (found by the fuzz run on PostgreSQL): NUL characters in free-form job parameters
    reached jsonb and failed there; they and over-deep objects are refused up front."""
    url = reverse("api-job-list", args=[project.pk])
    assert api.post(url, {"kind": "selfcheck", "params": {"a\x00": 1}}, format="json").status_code == 400
    assert api.post(url, {"kind": "selfcheck", "params": {"a": ["x\x00"]}}, format="json").status_code == 400
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["k"] = {}
        cursor = cursor["k"]
    assert api.post(url, {"kind": "selfcheck", "params": deep}, format="json").status_code == 400


def test_ids_in_request_bodies_are_bounded(api, project, label):
    """Finding 11 (found by the fuzz run): a 20-digit label id in a body overflowed in the database driver."""
    item = Item.objects.create(project=project, text="x", content_hash="x")
    url = reverse("api-queue-submit", args=[project.pk, item.pk])
    assert api.post(url, {"labels": [int(HUGE_ID)]}, format="json").status_code == 400
    rules_url = reverse("api-rule-list", args=[project.pk])
    assert api.post(rules_url, {"name": "r", "pattern": "x", "label": int(HUGE_ID)}, format="json").status_code == 400


JUNK_QUERY = {
    "item": "abc",
    "before": "1.5",
    "a": "1e9",
    "b": HUGE_ID,
    "label": "-1",
    "page": "9" * 5000,
    "split": "nonsense",
    "q": "%" * 300,
    "search": "\\" * 300,
    "show": "done",
    "status": "x",
    "format": "x",
}
NUL_QUERY = {"q": "a\x00b", "search": "a\x00b", "before": "\x00"}


def test_every_page_and_list_endpoint_survives_junk_query_parameters(browser, api, project, label):
    """Finding 11: malformed and huge query parameters on every project page without an id in its path
    and on the API's list endpoints: 4xx or a page, never a 500; a NUL character in a query string is a
    400 everywhere (PostgreSQL refused it in the item search with a 500)."""
    from annotator.urls import project_urls

    for pattern in project_urls:
        if pattern.pattern.converters:  # an id in the path: covered by the 20-digit tests above
            continue
        url = f"/projects/{project.pk}/{pattern.pattern}"
        response = browser.get(url, JUNK_QUERY)
        assert response.status_code < 500, (url, response.status_code)
        assert browser.get(url, NUL_QUERY).status_code == 400, url
    api_names = [
        "api-item-list", "api-export", "api-rule-list", "api-label-list", "api-label-history", "api-job-list",
        "api-candidate-list", "api-queue-previous", "api-model-list", "api-clusters", "api-member-list",
    ]  # fmt: skip
    for name in api_names:
        url = reverse(name, args=[project.pk])
        response = api.get(url, JUNK_QUERY)
        assert response.status_code < 500, (url, response.status_code)
        response = api.get(url, NUL_QUERY)
        assert response.status_code == 400, url
        assert "NUL" in response.json()["detail"]
