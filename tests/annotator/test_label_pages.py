"""The label-tree editor page: plain form posts with flashes, the htmx rename row and merge preview, counts."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from annotator.models import Annotation, AnnotationLabel, Label, LabelKind, RequeuedItem, Role, TaxonomyAction
from annotator.selectors.labels import annotation_link_count
from annotator.services import taxonomy

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(project_with_roles):
    return project_with_roles[0]


@pytest.fixture
def expert(project_with_roles):
    return project_with_roles[1][Role.EXPERT]


@pytest.fixture
def expert_client(client, expert):
    client.force_login(expert)
    return client


@pytest.fixture
def tree(project, expert) -> dict[str, Label]:
    """Sport > (Football, Tennis, Other sport) and News; three items on Football, two on Tennis, one on News."""
    make = taxonomy.label_create
    sport = make(project=project, name="Sport", by=expert)
    labels = {
        "sport": sport,
        "football": make(project=project, name="Football", parent=sport, by=expert, shortcut="g"),
        "tennis": make(project=project, name="Tennis", parent=sport, by=expert),
        "other": make(project=project, name="Other sport", parent=sport, kind=LabelKind.OTHER, by=expert),
        "news": make(project=project, name="News", by=expert),
    }
    for name, n in (("football", 3), ("tennis", 2), ("news", 1)):
        for _ in range(n):
            annotate(project, labels[name])
    return labels


def annotate(project, *labels) -> Annotation:
    n = project.items.count()
    item = project.items.create(text=f"item {n}", content_hash=f"hash-{n}")
    annotation = Annotation.objects.create(item=item)
    for label in labels:
        AnnotationLabel.objects.create(annotation=annotation, label=label)
    return annotation


def url(name: str, project, label: Label | None = None) -> str:
    kwargs = {"project_id": project.pk} | ({"label_id": label.pk} if label else {})
    return reverse(name, kwargs=kwargs)


def counts(html: str) -> dict[str, tuple[int, int]]:
    """{label name: (items, items in the subtree)} as the tree table shows them."""
    rows = re.findall(
        r'<tr id="label-row-\d+" class="label-row" data-label="([^"]+)">.*?data-count="items">(\d+)<.*?'
        r'data-count="subtree">(\d+)<',
        html,
        flags=re.S,
    )
    return {name: (int(items), int(subtree)) for name, items, subtree in rows}


def flashes(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def post(client, name: str, project, label: Label | None = None, data: dict | None = None):
    """POST a form, check it redirects to the editor, and return the editor page it lands on."""
    response = client.post(url(name, project, label), data or {})
    assert response.status_code == 302
    assert response["Location"] == url("label-tree", project)
    return client.get(response["Location"])


def test_the_tree_shows_indented_labels_with_counts(expert_client, project, tree):
    response = expert_client.get(url("label-tree", project))
    html = response.content.decode()
    assert response.status_code == 200
    assert counts(html) == {
        "Sport": (0, 5), "Football": (3, 3), "Tennis": (2, 2), "Other sport": (0, 0), "News": (1, 1),
    }  # fmt: skip
    assert "Other bucket</span>" in html
    assert '<kbd title="Keyboard shortcut">g</kbd>' in html
    assert 'style="--depth: 1"' in html
    assert "Add a label" in html and 'action="' + url("label-new", project) + '"' in html


def test_annotators_see_the_tree_read_only(client, project_with_roles, tree):
    project, users = project_with_roles
    client.force_login(users[Role.ANNOTATOR])
    html = client.get(url("label-tree", project)).content.decode()
    assert counts(html)["Football"] == (3, 3)
    # No edit forms in the page body (the header has Log out, the footer the language switch).
    assert "<form" not in html.split("<main>")[1].split("</main>")[0]
    assert client.post(url("label-new", project), {"name": "Nope", "kind": "normal"}).status_code == 403


def test_create_labels_from_the_form(expert_client, project, tree):
    data = {"name": "Doubles", "parent": tree["tennis"].pk, "kind": "normal", "color": "#123456", "shortcut": "d"}
    page = post(expert_client, "label-new", project, data=data)
    assert flashes(page) == [("success", "Created “Sport > Tennis > Doubles”.")]
    doubles = Label.objects.get(name="Doubles")
    assert (doubles.parent, doubles.color, doubles.shortcut) == (tree["tennis"], "#123456", "d")
    assert counts(page.content.decode())["Doubles"] == (0, 0)
    refused = post(
        expert_client, "label-new", project, data={"name": "Misc", "parent": tree["sport"].pk, "kind": "other"}
    )
    assert flashes(refused) == [("error", "“Sport” already has an Other bucket (“Other sport”).")]
    invalid = post(expert_client, "label-new", project, data={"name": "", "kind": "normal"})
    assert flashes(invalid)[0][0] == "error" and "Name" in flashes(invalid)[0][1]


def test_rename_without_javascript(expert_client, project, tree):
    form = expert_client.get(url("label-edit", project, tree["tennis"]))
    assert form.status_code == 200 and 'value="Tennis"' in form.content.decode()
    data = {"name": "Racket sports", "color": "#00ff00", "shortcut": "", "description": "Tennis, squash"}
    page = post(expert_client, "label-edit", project, tree["tennis"], data)
    assert flashes(page) == [("success", "Renamed “Tennis” to “Racket sports”.")]
    assert counts(page.content.decode())["Racket sports"] == (2, 2)
    clash = post(expert_client, "label-edit", project, tree["tennis"], {**data, "name": "Football"})
    assert flashes(clash)[0][0] == "error" and "already a label “Football”" in flashes(clash)[0][1]


def test_rename_inline_with_htmx(expert_client, project, tree):
    label = tree["football"]
    fragment = expert_client.get(url("label-edit", project, label), **HTMX).content.decode()
    assert fragment.startswith(f'<tr id="label-row-{label.pk}" class="label-row editing"')
    assert f'hx-post="{url("label-edit", project, label)}"' in fragment
    assert "<html" not in fragment

    data = {"name": "Soccer", "color": label.color, "shortcut": "g", "description": ""}
    saved = expert_client.post(url("label-edit", project, label), data, **HTMX)
    html = saved.content.decode()
    assert saved.status_code == 200
    assert f'<tr id="label-row-{label.pk}" class="label-row" data-label="Soccer">' in html
    assert counts(html) == {"Soccer": (3, 3)}
    assert '<div id="flashes" hx-swap-oob="true"><p class="flash success" role="status">Renamed' in html
    # The flash was shown by the fragment, so the next page load does not repeat it.
    assert "Renamed" not in expert_client.get(url("label-tree", project)).content.decode()

    error = expert_client.post(url("label-edit", project, label), {**data, "name": "Tennis"}, **HTMX)
    assert error.status_code == 200  # htmx swaps 2xx only: the form comes back with its error
    assert "already a label “Tennis”" in error.content.decode()
    assert 'class="label-row editing"' in error.content.decode()
    assert Label.objects.get(pk=label.pk).name == "Soccer"


def test_move_a_subtree_and_reorder_siblings(expert_client, project, tree):
    page = post(expert_client, "label-move", project, tree["sport"], {"parent": tree["news"].pk})
    assert flashes(page) == [("success", "Moved “Sport” to “News > Sport”.")]
    assert counts(page.content.decode())["News"] == (1, 6)
    page = post(expert_client, "label-move", project, tree["sport"], {"parent": ""})
    assert Label.objects.get(pk=tree["sport"].pk).parent is None
    assert counts(page.content.decode())["News"] == (1, 1)
    refused = post(expert_client, "label-move", project, tree["sport"], {"parent": tree["football"].pk})
    assert flashes(refused) == [("error", taxonomy.MOVE_INTO_SUBTREE_ERROR)]

    def order() -> list[str]:
        return list(Label.objects.filter(parent=tree["sport"]).values_list("name", flat=True))

    assert order() == ["Football", "Tennis", "Other sport"]
    post(expert_client, "label-reorder", project, tree["tennis"], {"direction": "up"})
    assert order() == ["Tennis", "Football", "Other sport"]
    post(expert_client, "label-reorder", project, tree["tennis"], {"direction": "down"})
    assert order() == ["Football", "Tennis", "Other sport"]
    # Archived siblings are stepped over: ↓ from Football lands after Tennis, not just after the archived one.
    taxonomy.label_reorder(label=tree["other"], position=1, by=None)
    taxonomy.label_archive(label=tree["other"], by=None)
    post(expert_client, "label-reorder", project, tree["football"], {"direction": "down"})
    assert order() == ["Tennis", "Football", "Other sport"]  # archived labels wait at the end
    last = post(expert_client, "label-reorder", project, tree["football"], {"direction": "down"})
    assert flashes(last) == [("error", "“Football” is already the last here.")]


def test_the_tree_offers_only_valid_move_parents_and_merge_targets(expert_client, project, tree):
    html = expert_client.get(url("label-tree", project)).content.decode()
    sport_row = html.split(f'id="label-row-{tree["sport"].pk}"')[1].split("</tr>")[0]
    move_options = re.findall(r'<option value="(\d*)">', sport_row.split('name="parent"')[1].split("</select>")[0])
    assert move_options == [str(tree["news"].pk)]  # not the top level it is on, nor itself or its subtree
    football_row = html.split(f'id="label-row-{tree["football"].pk}"')[1].split("</tr>")[0]
    move_select = football_row.split('name="parent"')[1].split("</select>")[0]
    assert '<option value="">Top level</option>' in move_select
    assert f'value="{tree["other"].pk}"' not in move_select  # an Other bucket takes no children
    merge_select = sport_row.split('name="target"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\d+)">', merge_select) == [str(tree["news"].pk)]


def test_merge_preview_fragment_then_confirm(expert_client, project, tree):
    annotate(project, tree["tennis"], tree["football"])  # one annotation already has both
    links_before = annotation_link_count(project=project)
    preview_url = url("label-merge-preview", project, tree["tennis"])
    fragment = expert_client.get(preview_url, {"target": tree["football"].pk}, **HTMX).content.decode()
    assert "<html" not in fragment
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    assert (
        "3 annotations on 3 items will move to “Sport > Football”; 1 already has both; "
        "0 child labels and 0 rules move too."
    ) in text
    assert f'action="{url("label-merge", project, tree["tennis"])}"' in fragment
    assert f'name="target" value="{tree["football"].pk}"' in fragment
    # Without JavaScript the same preview is a page with the confirm button.
    page = expert_client.get(preview_url, {"target": tree["football"].pk})
    assert page.status_code == 200 and "<html" in page.content.decode() and "Confirm merge" in page.content.decode()
    bad = expert_client.get(preview_url, {"target": "nope"}, **HTMX)
    assert bad.status_code == 200 and 'class="error"' in bad.content.decode()

    page = post(expert_client, "label-merge", project, tree["tennis"], {"target": tree["football"].pk})
    assert flashes(page) == [
        ("success", "Merged “Sport > Tennis” into “Sport > Football”. 3 annotation(s) now carry “Football”.")
    ]
    shown = counts(page.content.decode())
    assert "Tennis" not in shown
    assert shown["Football"] == (6, 6)  # 3 + 2 + the one that had both, counted once
    assert shown["Sport"] == (0, 6)
    assert annotation_link_count(project=project) == links_before - 1
    assert "merged into “Football”" in page.content.decode()  # in the archived section, without Restore


def test_split_archive_restore_and_history(expert_client, project, tree):
    page = post(expert_client, "label-split", project, tree["news"], {"children": "Local\n\nWorld\n"})
    assert flashes(page) == [
        ("success", "Split “News” into “Local”, “World”; its annotated items are back in the queue.")
    ]
    assert counts(page.content.decode())["Local"] == (0, 0)
    assert counts(page.content.decode())["News"] == (1, 1)
    assert RequeuedItem.objects.filter(label=tree["news"]).count() == 1
    too_few = post(expert_client, "label-split", project, tree["tennis"], {"children": "Only one"})
    assert flashes(too_few) == [("error", taxonomy.SPLIT_NEEDS_CHILDREN_ERROR)]

    page = post(expert_client, "label-archive", project, tree["news"])
    assert flashes(page)[0][0] == "success"
    html = page.content.decode()
    assert "News" not in counts(html) and "Local" not in counts(html)
    assert "Archived labels (3)" in html
    assert f'action="{url("label-restore", project, tree["news"])}"' in html
    refused = post(expert_client, "label-restore", project, Label.objects.get(name="Local"))
    assert flashes(refused) == [("error", "Restore its parent “News” first.")]
    page = post(expert_client, "label-restore", project, tree["news"])
    assert flashes(page) == [("success", "Restored “News”.")]
    assert {"News", "Local", "World"} <= set(counts(page.content.decode()))

    history = expert_client.get(url("label-history", project)).content.decode()
    for summary in ("Split “News” into Local, World; 1 item(s) returned to the queue.", "Archived “News” and 2 child"):
        assert summary in history
    assert history.index("Restored “News”") < history.index("Archived “News”")  # newest first
    assert "expert_user" in history


def test_delete_is_refused_while_in_use_and_works_when_unused(expert_client, project, tree):
    refused = post(expert_client, "label-delete", project, tree["sport"])
    (level, message), *_ = flashes(refused)
    assert level == "error"
    assert message.startswith("“Sport” cannot be deleted: 5 annotation(s) and 0 rule(s)")
    assert 'class="flash error"' in refused.content.decode()
    assert Label.objects.filter(pk=tree["sport"].pk).exists()
    page = post(expert_client, "label-delete", project, tree["other"])
    assert flashes(page) == [("success", "Deleted “Sport > Other sport”.")]
    assert not Label.objects.filter(pk=tree["other"].pk).exists()
    assert project.taxonomy_events.filter(action=TaxonomyAction.DELETE).count() == 1


def test_a_label_of_another_project_is_404_on_every_page(expert_client, project, tree, make_user):
    from annotator.services.projects import project_create

    other_admin = make_user("other_admin")
    foreign = taxonomy.label_create(project=project_create(name="Other", created_by=other_admin), name="X", by=None)
    for name in ("label-edit", "label-merge-preview"):
        assert expert_client.get(url(name, project, foreign), {"target": tree["news"].pk}).status_code == 404
    for name in ("label-edit", "label-move", "label-reorder", "label-merge", "label-split", "label-archive",
                 "label-restore", "label-delete"):  # fmt: skip
        assert expert_client.post(url(name, project, foreign), {"target": tree["news"].pk}).status_code == 404
    assert Label.objects.get(pk=foreign.pk).active
    # ...and a form naming a foreign label as parent or target is refused.
    page = post(expert_client, "label-move", project, tree["news"], {"parent": foreign.pk})
    assert flashes(page)[0][0] == "error"
    assert Label.objects.get(pk=tree["news"].pk).parent is None


def test_nav_and_project_page_link_to_the_editor(expert_client, client, project_with_roles, tree):
    project, users = project_with_roles
    html = expert_client.get(url("project-detail", project)).content.decode()
    assert f'<a href="{url("label-tree", project)}">Labels</a>' in html
    assert "Edit the label tree" in html
    client.force_login(users[Role.ANNOTATOR])
    assert "Edit the label tree" not in client.get(url("project-detail", project)).content.decode()
