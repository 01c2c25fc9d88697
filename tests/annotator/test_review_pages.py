"""The review, adjudication and progress pages: filters, corrections, decisions, escaping."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from annotator.models import Annotation, AnnotationSource, RevisionReason, Role, TaskType
from annotator.services import taxonomy
from annotator.services.projects import project_create
from annotator.services.queue import ONE_LABEL_ERROR, annotation_submit, lease_item, queue_skip
from annotator.services.scoring import ItemScore, score_run_store

pytestmark = pytest.mark.django_db


def served(*, item, user) -> None:
    """The queue's lease on `item` for `user`: skips and flags need one."""
    lease_item(item=item, user=user, now=timezone.now())


SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def world(project_with_roles, make_user):
    """Two items the annotators disagree on (one of them hostile HTML), one they agree on."""
    project, users = project_with_roles
    admin = users[Role.ADMIN]
    labels = {name: taxonomy.label_create(project=project, name=name, by=admin) for name in ("Sport", "Politics")}
    ann, bob = make_user("ann"), make_user("bob")
    items = {
        text: project.items.create(text=text, content_hash=text, required_annotations=2)
        for text in (SCRIPT, "budget vote", "cup final")
    }
    for text, (ann_label, bob_label) in zip(
        items, [("Sport", "Politics"), ("Sport", "Politics"), ("Sport", "Sport")], strict=True
    ):
        annotation_submit(item=items[text], annotator=ann, labels=[labels[ann_label]])
        annotation_submit(item=items[text], annotator=bob, labels=[labels[bob_label]])
    return project, users, labels, items, ann, bob


@pytest.fixture
def expert(client, project_with_roles):
    client.force_login(project_with_roles[1][Role.EXPERT])
    return client


def url(name: str, project, **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.pk, **kwargs})


def page(client, name: str, project, query: dict | None = None, **kwargs) -> str:
    response = client.get(url(name, project, **kwargs), query or {})
    assert response.status_code == 200
    return response.content.decode()


# --- escaping ---------------------------------------------------------------------------------------------------


def test_item_text_is_escaped_on_the_review_and_adjudication_pages(expert, world):
    project, _users, _labels, items, _ann, _bob = world
    review = page(expert, "review", project)
    adjudication = page(expert, "adjudication", project, {"item": items[SCRIPT].pk})
    decided_list = page(expert, "adjudication", project, {"show": "done"})
    for html in (review, adjudication):
        assert ESCAPED in html
        assert SCRIPT not in html
    assert SCRIPT not in decided_list


def test_labels_and_comments_are_escaped_too(expert, world):
    project, users, _labels, items, _ann, _bob = world
    taxonomy.label_create(project=project, name="Rock & <roll", by=users[Role.ADMIN])  # ">" is refused in names
    served(item=items["cup final"], user=users[Role.ANNOTATOR])  # only an item the queue served can be skipped
    queue_skip(item=items["cup final"], user=users[Role.ANNOTATOR], unclear=True, comment="<img src=x onerror=1>")
    html = page(expert, "review", project, {"flagged": "on"})
    assert "&lt;img src=x onerror=1&gt;" in html and "<img src=x" not in html
    assert "Rock &amp; &lt;roll" in html and "<roll" not in html
    dashboard = page(expert, "dashboard", project)
    assert "Rock &amp; &lt;roll" in dashboard and "<roll" not in dashboard


# --- review -----------------------------------------------------------------------------------------------------


def test_review_filters_come_from_the_query_string(expert, world):
    project, _users, labels, _items, ann, _bob = world
    everything = page(expert, "review", project)
    assert "6 annotations" in everything
    only_ann_politics = page(expert, "review", project, {"annotator": ann.pk, "label": labels["Politics"].pk})
    assert "No annotations match." in only_ann_politics
    disagreements = page(expert, "review", project, {"disagreement": "on", "source": "human"})
    assert "4 annotations" in disagreements and "cup final" not in disagreements.split("<table")[1]


def test_a_bad_filter_is_reported_and_ignored(expert, world):
    project, *_ = world
    html = page(expert, "review", project, {"created_from": "not a date", "label": "999999"})
    assert "6 annotations" in html
    assert "Enter a valid date." in html and "Select a valid choice." in html


def test_review_is_paginated_and_the_pager_keeps_the_filters(expert, world, make_user):
    project, _users, labels, _items, _ann, _bob = world
    carol = make_user("carol")
    for n in range(51):
        item = project.items.create(text=f"bulk {n}", content_hash=f"bulk{n}")
        annotation_submit(item=item, annotator=carol, labels=[labels["Sport"]])
    first = page(expert, "review", project, {"annotator": carol.pk})
    assert "51 annotations" in first and "Page 1 of 2" in first
    assert first.count('<tr id="annotation-') == 50
    assert f'href="?annotator={carol.pk}&amp;page=2"' in first
    second = page(expert, "review", project, {"annotator": carol.pk, "page": 2})
    assert second.count('<tr id="annotation-') == 1 and "bulk 0" in second  # oldest last


def test_correcting_an_annotation_keeps_its_history(expert, world):
    project, users, labels, items, ann, _bob = world
    annotation = Annotation.objects.get(item=items["budget vote"], annotator=ann)
    response = expert.post(
        url("review-correct", project, annotation_id=annotation.pk),
        {"labels": [labels["Politics"].pk], "note": "it is about the budget", "back": f"annotator={ann.pk}"},
    )
    assert response.status_code == 302
    assert response["Location"] == url("review", project) + f"?annotator={ann.pk}"
    assert list(annotation.labels.values_list("name", flat=True)) == ["Politics"]
    revision = annotation.revisions.get()
    assert (revision.reason, revision.changed_by, revision.note) == (
        RevisionReason.CORRECTION,
        users[Role.EXPERT],
        "it is about the budget",
    )
    html = page(expert, "review", project, {"annotator": ann.pk})
    assert f"Corrected annotation {annotation.pk}." in html
    assert "History (1)" in html and "“it is about the budget”" in html and "Corrected in review" in html


def test_an_htmx_correction_answers_with_the_row(expert, world):
    project, _users, labels, items, _ann, bob = world
    annotation = Annotation.objects.get(item=items["cup final"], annotator=bob)
    response = expert.post(
        url("review-correct", project, annotation_id=annotation.pk),
        {"labels": [labels["Politics"].pk]},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert html.startswith(f'<tr id="annotation-{annotation.pk}">')
    assert "Corrected annotation" in html and "History (1)" in html
    assert "<html" not in html


def test_a_refused_correction_changes_nothing(expert, world):
    project, users, labels, items, ann, _bob = world
    annotation = Annotation.objects.get(item=items["cup final"], annotator=ann)
    old = taxonomy.label_create(project=project, name="Old", by=users[Role.ADMIN])
    taxonomy.label_archive(label=old, by=users[Role.ADMIN])
    target = url("review-correct", project, annotation_id=annotation.pk)
    refusals = [
        ({"labels": [old.pk]}, "Select a valid choice."),  # archived
        ({"labels": [labels["Sport"].pk, labels["Politics"].pk]}, str(ONE_LABEL_ERROR)),
        ({}, "This field is required."),
    ]
    for data, message in refusals:
        html = expert.post(target, data, headers={"HX-Request": "true"}).content.decode()
        assert 'class="flash error"' in html and message in html
    response = expert.post(target, {"labels": [old.pk], "back": "source=human"}, follow=True)
    assert response.redirect_chain == [(url("review", project) + "?source=human", 302)]
    assert f"Annotation {annotation.pk}: Select a valid choice." in response.content.decode()
    assert list(annotation.labels.values_list("name", flat=True)) == ["Sport"]
    assert not annotation.revisions.exists()


def test_objects_of_another_project_are_not_found(expert, world, make_user):
    project, _users, labels, _items, _ann, _bob = world
    other = project_create(name="Other", created_by=make_user("other_admin"))
    foreign_item = other.items.create(text="elsewhere", content_hash="x")
    foreign = Annotation.objects.create(item=foreign_item, source=AnnotationSource.IMPORT)
    data = {"labels": [labels["Sport"].pk]}
    assert expert.post(url("review-correct", project, annotation_id=foreign.pk), data).status_code == 404
    assert expert.post(url("adjudicate", project, item_id=foreign_item.pk), data).status_code == 404
    assert expert.get(url("adjudication", project), {"item": foreign_item.pk}).status_code == 404
    assert not Annotation.objects.filter(item=foreign_item, source=AnnotationSource.ADJUDICATED).exists()


# --- adjudication -----------------------------------------------------------------------------------------------


def test_adjudication_shows_everyones_labels_and_moves_to_the_next(expert, world):
    project, _users, labels, items, _ann, _bob = world
    first, second = items[SCRIPT], items["budget vote"]
    html = page(expert, "adjudication", project)
    assert "2 disagreements waiting" in html and f"Item #{first.pk}" in html
    votes = html.split("<tbody>")[1].split("</tbody>")[0]
    assert "ann" in votes and "bob" in votes and "Sport" in votes and "Politics" in votes
    # One button per label in a single-label project: the click decides.
    assert f'name="labels" value="{labels["Politics"].pk}"' in html

    response = expert.post(url("adjudicate", project, item_id=first.pk), {"labels": [labels["Politics"].pk]})
    assert response["Location"] == url("adjudication", project) + f"?item={second.pk}"
    decision = Annotation.objects.get(item=first, source=AnnotationSource.ADJUDICATED)
    assert list(decision.labels.values_list("name", flat=True)) == ["Politics"]

    response = expert.post(
        url("adjudicate", project, item_id=second.pk), {"labels": [labels["Sport"].pk]}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.startswith('<div id="adjudication-panel">')
    assert f"Decided item {second.pk}." in html and "No disagreement waits for a decision." in html

    done = page(expert, "adjudication", project, {"show": "done"})
    assert "2 decided items" in done and "budget vote" in done and ESCAPED in done
    assert f"?item={first.pk}" in done  # a decision can be revised


def test_revising_a_decision_keeps_the_note(expert, world):
    project, _users, labels, items, _ann, _bob = world
    item = items["budget vote"]
    target = url("adjudicate", project, item_id=item.pk)
    expert.post(target, {"labels": [labels["Sport"].pk]})
    expert.post(target, {"labels": [labels["Politics"].pk], "note": "a budget is politics"})
    decision = Annotation.objects.get(item=item, source=AnnotationSource.ADJUDICATED)
    assert list(decision.labels.values_list("name", flat=True)) == ["Politics"]
    html = page(expert, "adjudication", project, {"item": item.pk})
    assert "Current decision" in html and "“a budget is politics”" in html


def test_a_refused_decision_stays_on_the_item(expert, world):
    project, _users, labels, items, _ann, _bob = world
    item = items["budget vote"]
    response = expert.post(
        url("adjudicate", project, item_id=item.pk), {"labels": [labels["Sport"].pk, labels["Politics"].pk]}
    )
    assert response["Location"] == url("adjudication", project) + f"?item={item.pk}"
    assert not Annotation.objects.filter(item=item, source=AnnotationSource.ADJUDICATED).exists()
    html = expert.get(response["Location"]).content.decode()
    assert str(ONE_LABEL_ERROR) in html and f"Item #{item.pk}" in html


def test_multi_label_projects_get_checkboxes(expert, world):
    project, *_ = world
    project.task_type = TaskType.MULTI_LABEL
    project.save()
    html = page(expert, "adjudication", project)
    assert 'type="checkbox" name="labels"' in html and "Save decision" in html


# --- progress ---------------------------------------------------------------------------------------------------


def test_the_dashboard_for_an_annotator(client, world):
    project, users, labels, items, _ann, _bob = world
    client.force_login(users[Role.ANNOTATOR])
    html = page(client, "dashboard", project)
    assert "Queue in random order: no model has scored the pool yet." in html
    assert "3 items labeled by two or more annotators" in html
    assert "ann · bob" in html
    assert "2</span><span>disagreements" in html

    score_run_store(
        project=project,
        model_name="fast head v3",
        strategy="margin",
        scores=[ItemScore(items["cup final"].pk, 1.0)],
        labels_used=6,
    )
    annotation_submit(
        item=project.items.create(text="late", content_hash="late"),
        annotator=users[Role.ANNOTATOR],
        labels=[labels["Sport"]],
    )
    html = page(client, "dashboard", project)
    assert "Queue ordered by <strong>fast head v3</strong>" in html and "1 label since then" in html


def test_review_pages_are_for_experts(client, world):
    project, users, *_ = world
    client.force_login(users[Role.ANNOTATOR])
    assert client.get(url("review", project)).status_code == 403
    assert client.get(url("adjudication", project)).status_code == 403


# --- flagged as unclear (issue 20, bug 2) --------------------------------------------------------------------------


def test_an_item_flagged_as_unclear_reaches_the_experts_with_its_comment(expert, project_with_roles):
    """Issue 20, bug 2: the flagged item had no annotation, so the review filter showed 0 and the comment no page."""
    project, users = project_with_roles
    taxonomy.label_create(project=project, name="Sport", by=users[Role.ADMIN])
    item = project.items.create(text="Is curling a sport or a pastime?", content_hash="curling")
    served(item=item, user=users[Role.ANNOTATOR])
    queue_skip(item=item, user=users[Role.ANNOTATOR], unclear=True, comment="No label fits a hobby")
    everything = page(expert, "review", project)
    assert "1 item flagged as unclear" in everything
    flagged = page(expert, "review", project, {"flagged": "on"})
    assert "Is curling a sport or a pastime?" in flagged
    assert "No label fits a hobby" in flagged and users[Role.ANNOTATOR].username in flagged
    assert f"{url('adjudication', project)}?item={item.pk}" in flagged  # where an expert decides it

    response = expert.get(reverse("api-flagged-items", args=[project.pk]))
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == item.pk and row["text"] == item.text
    assert [(f["user"], f["comment"]) for f in row["flags"]] == [
        (users[Role.ANNOTATOR].username, "No label fits a hobby")
    ]


def test_a_plain_skip_is_not_a_flag(expert, project_with_roles):
    """Issue 20, bug 2: skipping without "unclear" is nobody's business."""
    project, users = project_with_roles
    item = project.items.create(text="Skipped for lunch", content_hash="lunch")
    served(item=item, user=users[Role.ANNOTATOR])
    queue_skip(item=item, user=users[Role.ANNOTATOR])
    flagged = page(expert, "review", project, {"flagged": "on"})
    assert "Skipped for lunch" not in flagged and "0 items flagged as unclear" in flagged
