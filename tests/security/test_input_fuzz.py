"""Fuzzing the API from its own OpenAPI schema (schemathesis): no request may end in a 500.

The schema is the document `/api/schema/` serves (drf-spectacular's generator, read in-process so the
test does not depend on who may download it). Every operation is called as an annotator and as an
admin of a small project with labels, items in every split, rules, suggestions and a job, through the
WSGI app inside the test's transaction. Path ids point at the project, and half of the time at one of
its real objects, so the fuzzer reaches the views' logic rather than only their 404s.

Bounded: FUZZ_EXAMPLES examples per operation and role (`FUZZ_EXAMPLES=50` for a deeper local run).
Excluded: deleting the project and removing members (the fixture would be gone for the rest of the
operation's examples; both are covered by the role matrix). Jobs that operations start are never
sent: the test's transaction does not commit, so no worker runs them.
"""

from __future__ import annotations

import io
import json
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token

from annotator.models import Job, NoiseFlag, NoiseRun, Role
from annotator.services import rules, taxonomy
from annotator.services.imports import ImportRequest, import_file
from annotator.services.jobs import job_start
from annotator.services.projects import member_set_role, project_create

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))


def _app_schema() -> dict:
    """The OpenAPI document of `/api/schema/`, as JSON (what a client downloads)."""
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


schema = (
    schemathesis.openapi.from_dict(_app_schema())
    .exclude(method="DELETE", path="/api/projects/{project_id}/")
    .exclude(method="DELETE", path="/api/projects/{project_id}/members/{user_id}/")
)
schema.app = WSGIHandler()

SEED_ITEMS = "\n".join(
    json.dumps(row)
    for row in [
        {"text": "The striker scored a late goal", "label": "Sport > Football"},
        {"text": "Shares fell as the market opened", "label": "Business"},
        {"text": "A quiet day in parliament", "label": "News"},
        {"text": "The final whistle blew at last"},
        {"text": "Markets rallied on earnings"},
        {"text": "The minister resigned", "meta": {"gold_label": "News"}},
    ]
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request's end must not close the test transaction's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_project(django_user_model):
    """A small project and a token for each role; real object ids per path parameter."""
    admin = django_user_model.objects.create_user(username="fuzz_admin", password="pw-fuzz-admin-long")
    annotator = django_user_model.objects.create_user(username="fuzz_annotator", password="pw-fuzz-annotator-long")
    project = project_create(name="Fuzz", created_by=admin)
    member_set_role(project=project, user=annotator, role=Role.ANNOTATOR)
    import_file(project=project, stream=io.BytesIO(SEED_ITEMS.encode()), request=ImportRequest(filename="a.jsonl"))
    test_rows = '{"text": "Tennis semi-final tonight", "label": "Sport"}\n'
    import_file(
        project=project, stream=io.BytesIO(test_rows.encode()), request=ImportRequest(filename="t.jsonl", split="test")
    )
    sport = project.labels.get(name="Sport")
    taxonomy.label_create(project=project, name="Tennis", parent=sport, by=admin)
    rule = rules.rule_create(project=project, name="goal", pattern="goal, whistle", label=sport, by=admin)
    rules.rule_apply(rule=rule, by=admin)
    job = job_start(kind="selfcheck", project=project, params={"seconds": 1}, created_by=admin)
    flag = _noise_flag(project)
    ids = {
        "project_id": [project.pk],
        "label_id": list(project.labels.values_list("pk", flat=True)),
        "item_id": list(project.items.values_list("pk", flat=True)),
        "rule_id": [rule.pk],
        "job_id": [job.pk],
        "flag_id": [flag.pk],
        "user_id": [admin.pk, annotator.pk],
        "annotation_id": list(project.items.values_list("annotations__pk", flat=True).exclude(annotations=None)),
    }
    tokens = {
        "admin": Token.objects.create(user=admin).key,
        "annotator": Token.objects.create(user=annotator).key,
    }
    return project, tokens, ids


def _noise_flag(project) -> NoiseFlag:
    """An open noise flag on a labeled item, so that the noise review operations reach their logic."""
    item = project.items.get(text="Shares fell as the market opened")
    run = NoiseRun.objects.create(project=project, encoder="fuzz", n_items=3, n_flagged=1)
    return NoiseFlag.objects.create(
        project=project,
        run=run,
        item=item,
        given_label=project.labels.get(name="Business"),
        suggested_label=project.labels.get(name="News"),
        score=0.8,
        votes=2,
        detectors=["kfold"],
    )


def _point_at_real_objects(case, ids: dict[str, list[int]]) -> None:
    """The project's own id always; for other ids, one of the project's objects half of the time."""
    for name, value in list((case.path_parameters or {}).items()):
        if name == "project_id":
            case.path_parameters[name] = ids["project_id"][0]
        elif ids.get(name) and isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = ids[name][value // 2 % len(ids[name])]


def _call_as(case, role: str, fuzz_project) -> None:
    project, tokens, ids = fuzz_project
    _point_at_real_objects(case, ids)
    response = case.call(headers={"Authorization": f"Token {tokens[role]}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} as {role} -> {response.status_code}\n"
        f"query={case.query!r} body={case.body!r}\n{response.text[:2000]}"
    )
    assert Job.objects.filter(project=project).exists()  # the fixture is still there


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_fuzz_as_annotator(case, fuzz_project):
    """Fuzz (issue 19): no operation answers an annotator with a 500."""
    _call_as(case, "annotator", fuzz_project)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_fuzz_as_admin(case, fuzz_project):
    """Fuzz (issue 19): no operation answers the project's admin with a 500."""
    _call_as(case, "admin", fuzz_project)
