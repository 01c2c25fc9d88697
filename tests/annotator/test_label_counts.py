"""Issue 20, bug 8: the counts people read while labeling follow their labels.

Before: the project page counted items by split, and queue answers leave an item in the pool (the split
says where an item may be used, not whether it is labeled), so it said "0 train" after 43 queue labels;
the queue page's header was drawn once, and htmx swapped only the item panel after each submit, so it
said "3 labels so far" through 40 submissions.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.importing.parsers import Record
from annotator.models import Role, Split
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.taxonomy import label_create

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def desk(project_with_roles, client):
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    admin = users[Role.ADMIN]
    labels = [label_create(project=project, name=name, by=admin) for name in ("Sport", "Politics")]
    pool = [Record(line=n, text=f"pool text number {n}", labels=(), meta={}) for n in range(1, 51)]
    import_parsed(project=project, records=pool, split=Split.POOL, report=ImportReport(format="test"))
    test = [Record(line=n, text=f"test text number {n}", labels=("Sport",), meta={}) for n in range(1, 6)]
    import_parsed(project=project, records=test, split=Split.TEST, report=ImportReport(format="test"))
    client.force_login(users[Role.ANNOTATOR])
    return project, users, labels, client


def label_through_the_queue(project, client, label, count: int) -> str:
    """`count` htmx submits as the logged-in annotator; the last response's HTML."""
    html = ""
    item = client.get(reverse("queue", args=[project.pk])).context["entry"].item
    for _ in range(count):
        response = client.post(reverse("queue-submit", args=[project.pk, item.pk]), {"labels": [label.pk]}, **HTMX)
        html = response.content.decode()
        entry = response.context["entry"]
        item = entry.item if entry else None
    return html


def stat(html: str, name: str) -> int:
    match = re.search(r'<span class="n">([\d,]+)</span><span>' + re.escape(name) + "</span>", html)
    assert match is not None, f"no {name!r} count on the page"
    return int(match.group(1).replace(",", ""))


def test_the_project_page_counts_queue_labels(desk):
    """Issue 20, bug 8: 43 queue labels show as 43 labeled items, not "0 train"."""
    project, _users, labels, client = desk
    label_through_the_queue(project, client, labels[0], 43)
    html = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert stat(html, "labeled") == 43
    assert stat(html, "unlabeled") == 7
    assert stat(html, "test (locked)") == 5


def test_the_project_api_counts_labeled_items(desk):
    """Issue 20, bug 8: the API says the same as the page."""
    project, users, labels, client = desk
    label_through_the_queue(project, client, labels[1], 4)
    api = APIClient()
    api.force_authenticate(users[Role.ADMIN])
    data = api.get(reverse("api-project-detail", args=[project.pk])).json()
    assert data["label_counts"] == {"labeled": 4, "unlabeled": 46, "test": 5}
    assert data["split_counts"] == {"pool": 50, "train": 0, "test": 5}  # where items may be used: unchanged


def test_the_queue_header_follows_each_submit(desk):
    """Issue 20, bug 8: every htmx answer also brings the header's count ("N labels so far")."""
    project, _users, labels, client = desk
    assert "(0 labels so far)" in client.get(reverse("queue", args=[project.pk])).content.decode()
    html = label_through_the_queue(project, client, labels[0], 3)
    assert html.startswith('<section id="queue-panel"')  # the panel first: htmx swaps it into the target
    status = html[html.index('id="loop-status"') - 3 :]
    assert 'hx-swap-oob="true"' in status[: status.index(">")]
    assert "(3 labels so far)" in status
    html = label_through_the_queue(project, client, labels[0], 37)
    assert "(40 labels so far)" in html
