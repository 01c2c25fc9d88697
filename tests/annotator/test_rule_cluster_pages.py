"""Rules, clusters and suggestions through the pages and the API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import Annotation, AnnotationLabel, CandidateStatus, Cluster, ClusterRun, Exclusion, Job, Rule
from annotator.services import taxonomy
from annotator.services.rules import rule_create

pytestmark = pytest.mark.django_db

TEXTS = ["Late goal wins the derby", "Markets fall on rate fears", "A goal-line clearance", "Rate cut lifts markets"]


@pytest.fixture
def project(project_with_roles):
    project, users = project_with_roles
    for n, text in enumerate(TEXTS):
        project.items.create(text=text, content_hash=f"h{n}")
    taxonomy.label_create(project=project, name="Sport", by=users["expert"])
    return project


@pytest.fixture
def expert_client(client, project_with_roles):
    client.force_login(project_with_roles[1]["expert"])
    return client


@pytest.fixture
def api(project_with_roles):
    client = APIClient()
    client.force_authenticate(project_with_roles[1]["expert"])
    return client


def sport(project):
    return project.labels.get(name="Sport")


def test_rule_preview_fragment_highlights_matches(expert_client, project):
    url = reverse("rule-preview", args=[project.pk])
    response = expert_client.post(url, {"name": "x", "kind": "seed", "label": sport(project).pk, "pattern": "goal"})
    page = response.content.decode()
    assert "<strong>2</strong> of 4 items match" in page
    assert "<mark>goal</mark>" in page


def test_rule_preview_shows_a_bad_regex_as_an_error(expert_client, project):
    url = reverse("rule-preview", args=[project.pk])
    response = expert_client.post(url, {"name": "x", "kind": "seed", "pattern": "(goal", "is_regex": "on"})
    assert response.status_code == 200
    assert "Invalid regular expression" in response.content.decode()


def test_save_apply_and_check_suggestions_in_the_pages(expert_client, project):
    response = expert_client.post(
        reverse("rule-new", args=[project.pk]),
        {"name": "goals", "kind": "seed", "label": sport(project).pk, "pattern": "goal", "whole_word": "on"},
    )
    assert response.status_code == 302
    rule = Rule.objects.get(name="goals")
    expert_client.post(reverse("rule-action", args=[project.pk, rule.pk, "apply"]))
    listing = expert_client.get(reverse("candidate-list", args=[project.pk])).content.decode()
    assert "Late goal wins the derby" in listing and "A goal-line clearance" in listing
    candidate = Annotation.objects.filter(candidate_status=CandidateStatus.PENDING).first()
    url = reverse("candidate-decide", args=[project.pk, candidate.pk, "accept"])
    assert "Accepted" in expert_client.post(url, headers={"HX-Request": "true"}).content.decode()
    candidate.refresh_from_db()
    assert candidate.candidate_status == CandidateStatus.CONFIRMED


def test_saving_a_bad_regex_shows_the_form_again_with_the_error(expert_client, project):
    response = expert_client.post(
        reverse("rule-new", args=[project.pk]), {"name": "bad", "kind": "blacklist", "pattern": "[a-", "is_regex": "on"}
    )
    assert response.status_code == 400
    assert "Invalid regular expression" in response.content.decode()
    assert not Rule.objects.exists()


def test_rules_api_create_preview_apply_blacklist(api, project):
    base = reverse("api-rule-list", args=[project.pk])
    preview = api.post(reverse("api-rule-preview", args=[project.pk]), {"pattern": "markets", "kind": "blacklist"})
    assert (preview.status_code, preview.json()["matched"]) == (200, 2)
    created = api.post(base, {"name": "no markets", "pattern": "markets", "kind": "blacklist"}, format="json")
    assert created.status_code == 201
    rule_id = created.json()["id"]
    applied = api.post(reverse("api-rule-apply", args=[project.pk, rule_id]))
    assert applied.json()["excluded"] == 2
    assert Exclusion.objects.count() == 2
    api.patch(reverse("api-rule-detail", args=[project.pk, rule_id]), {"active": False}, format="json")
    assert Exclusion.objects.count() == 0
    bad = api.post(base, {"name": "bad", "pattern": "(x", "is_regex": True, "kind": "blacklist"}, format="json")
    assert bad.status_code == 400 and "position" in bad.json()["detail"]


def test_cluster_page_and_promotion(expert_client, api, project, project_with_roles):
    assert "No clustering has run yet" in expert_client.get(reverse("cluster-page", args=[project.pk])).content.decode()
    admin_client = Client()
    admin_client.force_login(project_with_roles[1]["admin"])
    start = admin_client.post(reverse("cluster-start", args=[project.pk]), {"k_min": 2, "k_max": 5})
    job = Job.objects.get(kind="cluster")
    assert start["Location"] == reverse("job-detail", args=[project.pk, job.pk])
    assert job.queue == "cpu" and job.params == {"k": None, "k_min": 2, "k_max": 5}
    ids = list(project.items.values_list("id", flat=True))
    run = ClusterRun.objects.create(project=project, job=job, encoder="e", k=2, n_items=4, map_svg="<svg></svg>")
    cluster = Cluster.objects.create(
        run=run, index=0, size=2, keywords=[["goal", 1.0]], item_ids=ids[::2], central_item_ids=ids[::2]
    )
    page = expert_client.get(reverse("cluster-page", args=[project.pk])).content.decode()
    assert "Late goal wins the derby" in page and "<svg></svg>" in page
    response = api.post(reverse("api-cluster-promote", args=[project.pk, cluster.pk]), {"new_label_name": "Football"})
    assert response.status_code == 201 and response.json()["candidates_created"] == 2
    assert set(AnnotationLabel.objects.values_list("label__name", flat=True)) == {"Football"}
    assert api.get(reverse("api-clusters", args=[project.pk])).json()["clusters"][0]["promoted_to"] is not None


def test_annotators_see_rules_but_cannot_edit_them(client, project, project_with_roles):
    client.force_login(project_with_roles[1]["annotator"])
    page = client.get(reverse("rule-list", args=[project.pk])).content.decode()
    assert "New rule" not in page
    response = client.post(reverse("rule-new", args=[project.pk]), {"name": "x", "kind": "blacklist", "pattern": "a"})
    assert response.status_code == 403


def test_the_tree_editor_counts_rule_matches_per_label(expert_client, project, project_with_roles):
    expert = project_with_roles[1]["expert"]
    rule_create(project=project, name="goals", pattern="goal", label=sport(project), by=expert)
    rule_create(project=project, name="derby", pattern="derby", label=sport(project), by=expert)
    page = expert_client.get(reverse("label-tree", args=[project.pk])).content.decode()
    assert '<td class="num" data-count="rules">2</td>' in page  # two items, one matched by both rules


def test_only_admins_start_clustering_and_experts_see_no_run_button(expert_client, api, project, project_with_roles):
    """Issue 20, bug 5: an expert could run clustering, which replaced the admin's result."""
    page = expert_client.get(reverse("cluster-page", args=[project.pk])).content.decode()
    assert "Run clustering" not in page
    assert expert_client.post(reverse("cluster-start", args=[project.pk]), {"k_min": 2, "k_max": 5}).status_code == 403
    assert api.post(reverse("api-clusters", args=[project.pk]), {"k": 3}, format="json").status_code == 403
    assert not Job.objects.filter(kind="cluster").exists()
    admin_client = Client()
    admin_client.force_login(project_with_roles[1]["admin"])
    assert "Run clustering" in admin_client.get(reverse("cluster-page", args=[project.pk])).content.decode()


def test_a_finished_clustering_job_links_to_its_result(expert_client, project, project_with_roles):
    """Issue 20, bug 5: the finished clustering job had no link to its result."""
    job = Job.objects.create(
        project=project, kind="cluster", status="succeeded", result={"cluster_run": 1, "k": 2, "n_items": 4}
    )
    for role in ("annotator", "expert", "admin"):
        client = Client()
        client.force_login(project_with_roles[1][role])
        page = client.get(reverse("job-detail", args=[project.pk, job.pk])).content.decode()
        assert f'id="job-cluster-link" href="{reverse("cluster-page", args=[project.pk])}"' in page, role
        assert "Open the 2 clusters" in page


# --- issue 20, bug 3 -----------------------------------------------------------------------------------------------


def test_rule_preview_answers_before_a_name_is_typed(expert_client, project):
    """Issue 20, bug 3: the preview stayed blank until Name was filled."""
    url = reverse("rule-preview", args=[project.pk])
    response = expert_client.post(url, {"name": "", "kind": "seed", "label": sport(project).pk, "pattern": "goal"})
    assert "<strong>2</strong> of 4 items match" in response.content.decode()


def test_rule_preview_without_a_label_asks_for_one_instead_of_showing_zero_precision(expert_client, project):
    """Issue 20, bug 3: with no label chosen the preview said precision 0%."""
    url = reverse("rule-preview", args=[project.pk])
    page = expert_client.post(url, {"kind": "seed", "label": "", "pattern": "goal"}).content.decode()
    assert "<strong>2</strong> of 4 items match" in page
    assert "0%" not in page.split("match")[1]
    assert "choose a label" in page


def test_an_invalid_regex_is_reported_once_when_saving(expert_client, project):
    """Issue 20, bug 3: the error showed twice (above the form and again in its error list)."""
    data = {"name": "x", "kind": "seed", "label": sport(project).pk, "pattern": "(goal", "is_regex": "on"}
    response = expert_client.post(reverse("rule-new", args=[project.pk]), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count("missing ) at position 5") == 1, page


def test_deleting_a_rule_or_a_label_asks_for_confirmation(expert_client, project, project_with_roles):
    """Issue 20, bug 3: no confirmation on deleting a label or rule (CSP: no inline handler, a static script)."""
    rule_create(project=project, by=project_with_roles[1]["expert"], name="goals", pattern="goal", label=sport(project))
    rules = expert_client.get(reverse("rule-list", args=[project.pk])).content.decode()
    assert 'data-confirm="Delete the rule “goals”?' in rules
    labels = expert_client.get(reverse("label-tree", args=[project.pk])).content.decode()
    assert 'data-confirm="Delete the label “Sport”' in labels
    for page in (rules, labels):
        assert "labelloop/confirm.js" in page and "onclick" not in page and "onsubmit" not in page


# --- issue 20, bug 9: the suggestions page -------------------------------------------------------------------------


@pytest.fixture
def many_suggestions(project, project_with_roles):
    """60 items, each with a pending rule suggestion for Sport."""
    for n in range(60):
        project.items.create(text=f"match report {n}", content_hash=f"m{n}")
    rule = rule_create(
        project=project, by=project_with_roles[1]["expert"], name="all", pattern="match", label=sport(project)
    )
    from annotator.services.rules import rule_apply

    rule_apply(rule=rule, by=project_with_roles[1]["expert"])
    return list(Annotation.objects.filter(item__project=project, candidate_status="pending").order_by("id"))


def test_suggestions_page_pages_through_all_of_them(expert_client, project, many_suggestions):
    """Issue 20, bug 9: the page showed only the first 50."""
    url = reverse("candidate-list", args=[project.pk])
    first = expert_client.get(url).content.decode()
    assert "60 waiting; 1 to 50 shown" in first and "Page 1 of 2" in first
    second = expert_client.get(url, {"page": 2}).content.decode()
    assert f'id="candidate-{many_suggestions[-1].pk}"' in second and "51 to 60 shown" in second
    assert "labelloop/suggestions.js" in first


def test_accept_all_shown_and_selected(expert_client, project, many_suggestions):
    """Issue 20, bug 9: no bulk accept; each accept still goes through queue_answer_check."""
    url = reverse("candidate-bulk", args=[project.pk])
    shown = [c.pk for c in many_suggestions[:50]]
    response = expert_client.post(url, {"scope": "shown", "shown": shown, "selected": [], "back": "page=1"})
    assert response.status_code == 302 and response["Location"].endswith("?page=1")
    assert Annotation.objects.filter(pk__in=shown, candidate_status=CandidateStatus.CONFIRMED).count() == 50
    rest = [c.pk for c in many_suggestions[50:52]]
    expert_client.post(url, {"scope": "selected", "selected": rest, "decision": "reject"})
    assert set(Annotation.objects.filter(pk__in=rest).values_list("candidate_status", flat=True)) == {"rejected"}


def test_bulk_accept_api_reports_the_refused_ones(api, project, many_suggestions):
    """Issue 20, bug 9: a test-split item is refused by queue_answer_check; the others are accepted."""
    locked = many_suggestions[0]
    locked.item.split = "test"
    locked.item.save()
    ids = [c.pk for c in many_suggestions[:3]]
    response = api.post(reverse("api-candidate-bulk", args=[project.pk]), {"ids": ids}, format="json")
    assert response.status_code == 200
    assert response.json()["done"] == ids[1:]
    assert list(response.json()["refused"]) == [str(ids[0])]
    too_many = api.post(reverse("api-candidate-bulk", args=[project.pk]), {"ids": list(range(1, 300))}, format="json")
    assert too_many.status_code == 400


# --- warnings for patterns that fail on Chinese text (issue 22) --------------------------------------------------


@pytest.fixture
def chinese_project(project_with_roles):
    project, users = project_with_roles
    project.language = "zh"
    project.save(update_fields=["language"])
    for n, text in enumerate(["这个价格太贵了", "质量很好，物流也快", "价格便宜，推荐"]):
        project.items.create(text=text, content_hash=f"zh{n}")
    taxonomy.label_create(project=project, name="价格", by=users["expert"])
    return project


def test_saving_a_word_boundary_regex_on_chinese_warns_but_saves(expert_client, chinese_project):
    label = chinese_project.labels.get(name="价格")
    fields = {"name": "price", "kind": "seed", "label": label.pk, "pattern": r"\b价格\b", "is_regex": "on"}
    response = expert_client.post(reverse("rule-new", args=[chinese_project.pk]), fields, follow=True)
    page = response.content.decode()
    assert Rule.objects.filter(name="price").exists()
    assert "flash warning" in page and "Leave \\b out" in page


def test_preview_shows_the_warning_as_you_type(expert_client, chinese_project):
    url = reverse("rule-preview", args=[chinese_project.pk])
    response = expert_client.post(url, {"kind": "blacklist", "pattern": r"\b价格\b", "is_regex": "on"})
    page = response.content.decode()
    assert 'id="rule-warnings"' in page and "<strong>0</strong> of 3 items match" in page
    plain = expert_client.post(url, {"kind": "blacklist", "pattern": "价格"}).content.decode()
    assert "rule-warnings" not in plain and "<strong>2</strong> of 3 items match" in plain


def test_rules_api_returns_warnings(api, chinese_project):
    base = reverse("api-rule-list", args=[chinese_project.pk])
    created = api.post(base, {"name": "p", "pattern": r"价格\w+", "is_regex": True, "kind": "blacklist"}, format="json")
    assert created.status_code == 201
    assert len(created.json()["warnings"]) == 1 and "whole clause" in created.json()["warnings"][0]
    detail = reverse("api-rule-detail", args=[chinese_project.pk, created.json()["id"]])
    fixed = api.patch(detail, {"pattern": "价格"}, format="json")
    assert fixed.status_code == 200 and fixed.json()["warnings"] == []
    preview = api.post(reverse("api-rule-preview", args=[chinese_project.pk]), {"pattern": "价格 贵"}, format="json")
    assert preview.status_code == 200 and "价格，贵" in preview.json()["warnings"][0]


def test_an_english_project_gets_no_cjk_warnings(api, project):
    base = reverse("api-rule-list", args=[project.pk])
    created = api.post(
        base, {"name": "g", "pattern": r"\bgoal\b", "is_regex": True, "kind": "blacklist"}, format="json"
    )
    assert created.status_code == 201 and created.json()["warnings"] == []
