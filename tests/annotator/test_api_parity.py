"""Issue 20, API parity: every page action has an API operation, listed in the OpenAPI schema.

The page URLs are found by walking the URL resolver (everything outside `api/` and `admin/`); which
methods a page accepts is asked of the page itself: a PUT, which no page accepts, is answered with 405
and an `Allow` header (Django's `require_http_methods`). A page that accepts POST is an *action* and
must be in PAGE_ACTIONS; a page that only accepts GET must be in PAGE_READS (or FORM_PAGES, when it
only shows a form whose submit is the action). Each mapped API operation must exist in the schema
that `/api/schema/` serves, with that method.

Pages with an action in the URL (`rules/<id>/<str:action>/`) are mapped per action, as
`name[action]`, and ACTION_VARIANTS names the actions each such page knows.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from annotator.views import noise as noise_views
from annotator.views import queue as queue_views
from annotator.views import rules as rule_views

pytestmark = pytest.mark.django_db

ApiOp = tuple[str, str]  # (API URL name, HTTP method)

# Page action (URL name, or `name[action]`) -> the API operation(s) that do the same.
PAGE_ACTIONS: dict[str, tuple[ApiOp, ...]] = {
    "login": (("api-token", "POST"),),
    "project-new": (("api-project-list", "POST"),),
    "project-delete": (("api-project-detail", "DELETE"),),
    "invitation-accept": (("api-invitation-accept", "POST"),),
    "invitation-decline": (("api-invitation-decline", "POST"),),
    "member-save": (("api-member-list", "POST"), ("api-member-detail", "PUT")),
    "member-remove": (("api-member-detail", "DELETE"),),
    "member-create": (("api-account-create", "POST"),),
    "password-change": (("api-password-change", "POST"),),
    "project-settings": (("api-project-settings", "PATCH"),),
    "active-learning-strategy": (("api-project-settings", "PATCH"),),  # {"al_strategy": ...}
    "invitation-revoke": (("api-invitation-detail", "DELETE"),),
    "item-import": (("api-import", "POST"),),
    "label-new": (("api-label-list", "POST"),),
    "label-edit": (("api-label-detail", "PATCH"),),
    "label-move": (("api-label-move", "POST"),),
    "label-reorder": (("api-label-move", "POST"),),  # `position` under the same parent
    "label-merge": (("api-label-merge", "POST"),),
    "label-split": (("api-label-split", "POST"),),
    "label-archive": (("api-label-archive", "POST"),),
    "label-restore": (("api-label-restore", "POST"),),
    "label-delete": (("api-label-detail", "DELETE"),),
    "rule-new": (("api-rule-list", "POST"),),
    "rule-preview": (("api-rule-preview", "POST"),),
    "rule-action[apply]": (("api-rule-apply", "POST"),),
    "rule-action[activate]": (("api-rule-detail", "PATCH"),),  # {"active": true}
    "rule-action[deactivate]": (("api-rule-detail", "PATCH"),),
    "rule-action[delete]": (("api-rule-detail", "DELETE"),),
    "cluster-start": (("api-clusters", "POST"),),
    "cluster-promote": (("api-cluster-promote", "POST"),),
    "candidate-decide[accept]": (("api-candidate-accept", "POST"),),
    "candidate-decide[reject]": (("api-candidate-reject", "POST"),),
    "candidate-bulk": (("api-candidate-bulk", "POST"),),
    "queue-submit": (("api-queue-submit", "POST"),),
    "queue-skip": (("api-queue-skip", "POST"),),
    "queue-binary-decide[accept]": (("api-binary-accept", "POST"),),
    "queue-binary-decide[reject]": (("api-binary-reject", "POST"),),
    "queue-binary-decide[skip]": (("api-binary-skip", "POST"),),
    "review-correct": (("api-review-correct", "POST"),),
    "adjudicate": (("api-adjudication-case", "POST"),),
    "noise-start": (("api-noise-start", "POST"),),
    "noise-decide[keep]": (("api-noise-flag-keep", "POST"),),
    "noise-decide[relabel]": (("api-noise-flag-relabel", "POST"),),
    "noise-decide[exclude]": (("api-noise-flag-exclude", "POST"),),
    "noise-decide[reopen]": (("api-noise-flag-reopen", "POST"),),
    "augment-start": (("api-augment", "POST"),),
    "augment-decide": (("api-augment-decide", "POST"),),  # {"ids", "status"}
    "augment-cancel": (("api-augment-cancel", "POST"),),
    "model-train": (("api-model-list", "POST"),),
    "model-activate": (("api-model-activate", "POST"),),  # with the promotion gate's `reason`
    "predict-page": (("api-predict-slash", "POST"),),
    "predict-file": (("api-predict-batch-file", "POST"),),
    "predict-pool": (("api-predict-batch-pool", "POST"),),
    "model-distill": (("api-model-distill", "POST"),),
    "model-speed": (("api-model-speed", "POST"),),
    "active-learning-rescore": (("api-rescore", "POST"),),
    "job-selfcheck": (("api-job-list", "POST"),),
    "job-cancel": (("api-job-cancel", "POST"),),
}

# Page that only reads -> the API operation(s) that return the same data.
PAGE_READS: dict[str, tuple[ApiOp, ...]] = {
    "project-list": (("api-project-list", "GET"), ("api-my-invitations", "GET")),
    "project-detail": (("api-project-detail", "GET"), ("api-label-list", "GET"), ("api-job-list", "GET")),
    "project-settings": (("api-project-settings", "GET"),),
    "member-list": (("api-member-list", "GET"), ("api-invitation-list", "GET")),
    "item-list": (("api-item-list", "GET"),),
    "item-export-download": (("api-export", "GET"),),
    "label-tree": (("api-label-list", "GET"),),
    "label-history": (("api-label-history", "GET"),),
    "label-merge-preview": (("api-label-merge-preview", "GET"),),
    "rule-list": (("api-rule-list", "GET"),),
    "cluster-page": (("api-clusters", "GET"),),
    "candidate-list": (("api-candidate-list", "GET"),),
    "queue": (("api-queue-next", "POST"),),  # the page leases the next item, as the API call does
    "queue-undo": (("api-queue-previous", "GET"),),
    "queue-binary": (("api-binary-next", "POST"),),
    "review": (("api-review-list", "GET"), ("api-flagged-items", "GET")),
    "adjudication": (("api-adjudication-list", "GET"), ("api-adjudication-case", "GET")),
    "noise-page": (("api-noise-status", "GET"), ("api-noise-flag-list", "GET"), ("api-noise-corrections", "GET")),
    "augment-page": (("api-augment", "GET"), ("api-augment-samples", "GET")),
    "augment-job": (("api-job-detail", "GET"),),  # the augmentation page's job card
    "dashboard": (("api-progress", "GET"), ("api-agreement", "GET")),
    "model-list": (("api-model-list", "GET"), ("api-model-promotions", "GET")),
    "model-detail": (("api-model-detail", "GET"), ("api-model-promotions", "GET")),
    "model-export": (("api-model-export", "GET"),),
    "predict-page": (("api-job-list", "GET"),),  # the batch predictions' progress
    "predict-download": (("api-predict-batch-result", "GET"),),
    "model-compare": (("api-model-detail", "GET"),),  # two versions side by side
    "active-learning": (("api-active-learning", "GET"),),
    "job-list": (("api-job-list", "GET"),),
    "job-detail": (("api-job-detail", "GET"),),
}

# Pages that only show a form; what the form submits is the action (mapped above, or elsewhere).
FORM_PAGES = {"item-import", "item-export", "label-edit", "login", "member-remove", "password-change"}

# Pages outside the app's own data: nothing to map.
NOT_APP_PAGES = {
    "logout": "API clients authenticate with a token per request; there is no session to end.",
    "set-language": "The interface language of the pages (a cookie); the API answers in the Accept-Language asked.",
}


# Pages with the action in the URL, and the actions each knows.
ACTION_VARIANTS: dict[str, tuple[str, ...]] = {
    "rule-action": tuple(rule_views.RULE_ACTIONS),
    "candidate-decide": ("accept", "reject"),
    "queue-binary-decide": tuple(queue_views.BINARY_DECISIONS),
    "noise-decide": tuple(noise_views.DONE),
}

CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _page_patterns() -> dict[str, URLPattern]:
    """URL name -> (route, pattern) of every page (not under api/ or admin/)."""
    routes: dict[str, tuple[str, URLPattern]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route not in ("api/", "admin/"):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                routes[pattern.name] = (route, pattern)

    walk(get_resolver().url_patterns, "")
    return routes


def _api_patterns() -> dict[str, str]:
    """API URL name -> its path as the OpenAPI schema writes it (`/api/projects/{project_id}/`)."""
    routes: dict[str, str] = {}
    api = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/")
    for pattern in api.url_patterns:
        routes[pattern.name] = "/api/" + CONVERTER.sub(r"{\g<name>}", str(pattern.pattern))
    return routes


def _filled(route: str, project_id: int) -> str:
    """The route with ids filled in (the project's real id; 1 for others) and `x` for words."""

    def value(match: re.Match) -> str:
        if match["name"] == "project_id":
            return str(project_id)
        return "x" if match["converter"] == "str" else "1"

    return "/" + CONVERTER.sub(value, route)


def _allowed_methods(client: Client, url: str, pattern: URLPattern) -> set[str]:
    """What a page accepts: a class-based view says so; a function view's 405 to a PUT names them."""
    view_class = getattr(pattern.callback, "view_class", None)
    if view_class is not None:  # Django's login form
        return {method.upper() for method in view_class.http_method_names if hasattr(view_class, method)}
    response = client.put(url)
    assert response.status_code == 405, f"{url}: PUT answered {response.status_code}; declare the page's methods"
    return {method.strip() for method in response["Allow"].split(",")}


@pytest.fixture(scope="module")
def schema_operations(django_db_blocker) -> dict[tuple[str, str], str]:
    """(path, method) -> operationId of every operation in the served schema."""
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper()): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


@pytest.fixture
def page_methods(project_with_roles) -> dict[str, set[str]]:
    """URL name -> the methods each page accepts, asked as the project's admin."""
    project, users = project_with_roles
    client = Client()
    client.force_login(users["admin"])
    return {
        name: _allowed_methods(client, _filled(route, project.pk), pattern)
        for name, (route, pattern) in _page_patterns().items()
        if name not in NOT_APP_PAGES
    }


def _action_keys(name: str) -> list[str]:
    return [f"{name}[{action}]" for action in ACTION_VARIANTS[name]] if name in ACTION_VARIANTS else [name]


def test_every_page_action_has_an_api_operation(page_methods):
    """Issue 20: a page that accepts POST has its API operation(s) in PAGE_ACTIONS."""
    actions = {name for name, methods in page_methods.items() if methods - {"GET", "HEAD", "OPTIONS"}}
    assert len(actions) >= 35  # 36 page actions (41 with their variants) when this was written: the walk must find them
    missing = [key for name in sorted(actions) for key in _action_keys(name) if key not in PAGE_ACTIONS]
    assert missing == [], f"page actions without an API operation: {missing}"
    mapped_pages = {key.split("[")[0] for key in PAGE_ACTIONS}
    assert mapped_pages - actions == set(), "PAGE_ACTIONS names pages that are not actions (or do not exist)"


def test_every_page_that_reads_has_an_api_operation(page_methods):
    """Issue 20: what a page shows, the API returns (the dashboard, agreement, the active-learning overview...)."""
    reads = {name for name, methods in page_methods.items() if "GET" in methods}
    assert len(reads) >= 25  # 28 when this was written
    missing = sorted(reads - set(PAGE_READS) - FORM_PAGES)
    assert missing == [], f"pages without an API operation that reads the same: {missing}"
    assert set(PAGE_READS) - reads == set(), "PAGE_READS names pages that do not answer GET (or do not exist)"


def test_action_pages_know_exactly_the_mapped_actions(page_methods):
    """A page with the action in its URL is mapped per action; a page gaining one must name it here."""
    routes = _page_patterns()
    with_word = {name for name, (route, _pattern) in routes.items() if "<str:" in route and name in page_methods}
    assert with_word == set(ACTION_VARIANTS), "pages with an action in the URL must be listed in ACTION_VARIANTS"


@pytest.mark.parametrize("mapping", ["PAGE_ACTIONS", "PAGE_READS"])
def test_every_mapped_api_operation_is_in_the_schema(mapping: str, schema_operations):
    """A mapping naming an API URL that does not exist, or a method its view does not document, fails."""
    api_paths = _api_patterns()
    table = PAGE_ACTIONS if mapping == "PAGE_ACTIONS" else PAGE_READS
    wrong = []
    for page, operations in table.items():
        for url_name, method in operations:
            path = api_paths.get(url_name)
            if path is None or (path, method) not in schema_operations:
                wrong.append(f"{page} -> {method} {url_name} ({path or 'no such API URL name'})")
    assert wrong == [], "mapped API operations missing from the schema:\n" + "\n".join(wrong)


def test_the_guard_catches_an_unmapped_action(page_methods, monkeypatch):
    """The guard itself: removing a mapping (here the review page's correction) makes the test fail."""
    monkeypatch.delitem(PAGE_ACTIONS, "review-correct")
    with pytest.raises(AssertionError, match="review-correct"):
        test_every_page_action_has_an_api_operation(page_methods)


def test_the_guard_catches_a_missing_api_operation(schema_operations, monkeypatch):
    monkeypatch.setitem(PAGE_ACTIONS, "review-correct", (("api-review-correct", "PUT"),))
    with pytest.raises(AssertionError, match="review-correct -> PUT api-review-correct"):
        test_every_mapped_api_operation_is_in_the_schema("PAGE_ACTIONS", schema_operations)
