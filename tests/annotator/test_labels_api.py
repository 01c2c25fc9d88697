"""The label-tree API end to end: each operation's status, effect and refusal, and the history it leaves."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.api.labels import NO_SUCH_LABEL_ERROR
from annotator.models import (
    Annotation,
    AnnotationLabel,
    Label,
    LabelKind,
    RequeuedItem,
    Role,
    Rule,
    TaxonomyAction,
    TaxonomyEvent,
)
from annotator.selectors.labels import annotation_link_count, counted_item_counts
from annotator.services import taxonomy
from annotator.services.projects import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_with_roles):
    return project_with_roles[0]


@pytest.fixture
def expert(project_with_roles):
    return project_with_roles[1][Role.EXPERT]


@pytest.fixture
def api(expert) -> APIClient:
    client = APIClient()
    client.force_authenticate(expert)
    return client


@pytest.fixture
def tree(project, expert) -> dict[str, Label]:
    """Sport > (Football, Tennis), and News at the top level."""
    sport = taxonomy.label_create(project=project, name="Sport", by=expert)
    return {
        "sport": sport,
        "football": taxonomy.label_create(project=project, name="Football", parent=sport, by=expert),
        "tennis": taxonomy.label_create(project=project, name="Tennis", parent=sport, by=expert),
        "news": taxonomy.label_create(project=project, name="News", by=expert),
    }


def annotate(project, *labels) -> Annotation:
    n = project.items.count()
    item = project.items.create(text=f"item {n}", content_hash=f"hash-{n}")
    annotation = Annotation.objects.create(item=item)
    for label in labels:
        AnnotationLabel.objects.create(annotation=annotation, label=label)
    return annotation


def url(name: str, project, label: Label | int | None = None) -> str:
    kwargs = {"project_id": project.pk}
    if label is not None:
        kwargs["label_id"] = label if isinstance(label, int) else label.pk
    return reverse(name, kwargs=kwargs)


def test_list_shows_the_active_labels_with_their_paths(api, project, tree):
    taxonomy.label_archive(label=tree["news"], by=None)
    response = api.get(url("api-label-list", project))
    assert response.status_code == 200
    paths = {label["path"] for label in response.json()}
    assert paths == {"Sport", "Sport > Football", "Sport > Tennis"}


def test_create_a_nested_label_and_an_other_bucket(api, project, tree):
    response = api.post(
        url("api-label-list", project),
        {
            "name": "Strikers",
            "parent": tree["football"].pk,
            "color": "#112233",
            "shortcut": "k",
            "description": "Goals",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["path"], created["color"], created["shortcut"], created["kind"]) == (
        "Sport > Football > Strikers", "#112233", "k", LabelKind.NORMAL,
    )  # fmt: skip
    other = api.post(
        url("api-label-list", project),
        {"name": "Other sport", "parent": tree["sport"].pk, "kind": "other"},
        format="json",
    )
    assert other.status_code == 201
    assert Label.objects.get(pk=other.json()["id"]).kind == LabelKind.OTHER
    # A second Other bucket under the same parent is refused with the service's message.
    again = api.post(
        url("api-label-list", project), {"name": "Misc", "parent": tree["sport"].pk, "kind": "other"}, format="json"
    )
    assert again.status_code == 400
    assert "already has an Other bucket" in again.json()["detail"]
    top = api.post(url("api-label-list", project), {"name": "Weather"}, format="json")
    assert (top.status_code, top.json()["parent"]) == (201, None)
    assert top.json()["color"].startswith("#")  # from the palette


def test_create_refusals_are_400_with_a_detail(api, project, tree, make_user):
    taken = api.post(url("api-label-list", project), {"name": "football", "parent": tree["sport"].pk}, format="json")
    assert taken.status_code == 400
    assert "already a label “football”" in taken.json()["detail"]
    separator = api.post(url("api-label-list", project), {"name": "A > B"}, format="json")
    assert separator.status_code == 400 and "cannot contain" in separator.json()["detail"]
    foreign = project_create(name="Elsewhere", created_by=make_user("elsewhere")).labels.create(name="Alien")
    alien_parent = api.post(url("api-label-list", project), {"name": "X", "parent": foreign.pk}, format="json")
    assert alien_parent.status_code == 400
    assert alien_parent.json()["detail"] == NO_SUCH_LABEL_ERROR.format(pk=foreign.pk)
    bad_color = api.post(url("api-label-list", project), {"name": "X", "color": "red"}, format="json")
    assert bad_color.status_code == 400 and "color" in bad_color.json()
    assert not project.labels.filter(name="X").exists()


def test_patch_renames_and_keeps_the_annotations(api, project, tree):
    annotation = annotate(project, tree["football"])
    response = api.patch(
        url("api-label-detail", project, tree["football"]), {"name": "Soccer", "shortcut": "g"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["path"], response.json()["shortcut"]) == ("Sport > Soccer", "g")
    assert list(annotation.labels.values_list("name", flat=True)) == ["Soccer"]
    clash = api.patch(url("api-label-detail", project, tree["tennis"]), {"shortcut": "G"}, format="json")
    assert clash.status_code == 400
    assert clash.json()["detail"] == "The shortcut “G” is already used by “Soccer”."


def test_delete_an_unused_label_and_refuse_one_in_use(api, project, tree):
    annotate(project, tree["football"])
    refused = api.delete(url("api-label-detail", project, tree["sport"]))
    assert refused.status_code == 400
    assert "cannot be deleted: 1 annotation(s) and 0 rule(s)" in refused.json()["detail"]
    assert project.labels.filter(pk=tree["sport"].pk).exists()
    assert api.delete(url("api-label-detail", project, tree["news"])).status_code == 204
    assert not project.labels.filter(pk=tree["news"].pk).exists()


def test_move_a_subtree_with_and_without_a_position(api, project, tree, expert):
    taxonomy.label_create(project=project, name="Strikers", parent=tree["football"], by=expert)
    response = api.post(url("api-label-move", project, tree["football"]), {"parent": tree["news"].pk}, format="json")
    assert response.status_code == 200
    assert response.json()["path"] == "News > Football"
    assert Label.objects.get(name="Strikers").parent_id == tree["football"].pk  # the subtree came along
    # To the top level, first among the roots.
    top = api.post(url("api-label-move", project, tree["football"]), {"parent": None, "position": 0}, format="json")
    assert top.status_code == 200
    roots = list(project.labels.filter(parent=None).values_list("name", flat=True))
    assert roots == ["Football", "Sport", "News"]
    # Same parent with a position: a plain reorder, no move event.
    moves = TaxonomyEvent.objects.filter(action=TaxonomyAction.MOVE).count()
    again = api.post(url("api-label-move", project, tree["football"]), {"parent": None, "position": 2}, format="json")
    assert again.status_code == 200
    assert list(project.labels.filter(parent=None).values_list("name", flat=True)) == ["Sport", "News", "Football"]
    assert TaxonomyEvent.objects.filter(action=TaxonomyAction.MOVE).count() == moves


def test_move_refusals(api, project, tree):
    under_itself = api.post(
        url("api-label-move", project, tree["sport"]), {"parent": tree["football"].pk}, format="json"
    )
    assert under_itself.status_code == 400
    assert under_itself.json()["detail"] == taxonomy.MOVE_INTO_SUBTREE_ERROR
    missing = api.post(url("api-label-move", project, tree["news"]), {"parent": 987654}, format="json")
    assert missing.status_code == 400 and "no label with id 987654" in missing.json()["detail"]
    no_parent_given = api.post(url("api-label-move", project, tree["news"]), {}, format="json")
    assert no_parent_given.status_code == 400 and "parent" in no_parent_given.json()
    assert tree["sport"].children.count() == 2


def test_merge_preview_then_merge(api, project, tree, expert):
    both = annotate(project, tree["tennis"], tree["football"])
    only_tennis = [annotate(project, tree["tennis"]) for _ in range(2)]
    Rule.objects.create(project=project, name="racket", pattern="racket", label=tree["tennis"])
    taxonomy.label_create(project=project, name="Doubles", parent=tree["tennis"], by=expert)
    links_before = annotation_link_count(project=project)

    preview = api.get(url("api-label-merge-preview", project, tree["tennis"]), {"target": tree["football"].pk})
    assert preview.status_code == 200
    assert {key: value for key, value in preview.json().items() if key != "target"} == {
        "annotations": 3, "items": 3, "annotations_with_both": 1, "children_moved": 1, "rules_retargeted": 1,
    }  # fmt: skip
    assert preview.json()["target"]["path"] == "Sport > Football"
    assert TaxonomyEvent.objects.filter(action=TaxonomyAction.MERGE).count() == 0  # a preview writes nothing

    response = api.post(url("api-label-merge", project, tree["tennis"]), {"target": tree["football"].pk}, format="json")
    assert response.status_code == 200
    event = response.json()
    assert (event["action"], event["annotations_touched"], event["actor"]) == ("merge", 3, expert.username)
    tennis = Label.objects.get(pk=tree["tennis"].pk)
    assert (tennis.active, tennis.merged_into_id) == (False, tree["football"].pk)
    assert counted_item_counts(project=project)[tree["football"].pk] == 3
    # The annotation that had both keeps one link: exactly one link fewer overall.
    assert annotation_link_count(project=project) == links_before - 1
    assert set(both.labels.values_list("name", flat=True)) == {"Football"}
    assert all(set(a.labels.values_list("name", flat=True)) == {"Football"} for a in only_tennis)
    assert Rule.objects.get(name="racket").label_id == tree["football"].pk
    assert Label.objects.get(name="Doubles").parent_id == tree["football"].pk


def test_merge_refusals_and_preview_errors(api, project, tree):
    into_self = api.post(url("api-label-merge", project, tree["sport"]), {"target": tree["sport"].pk}, format="json")
    assert (into_self.status_code, into_self.json()["detail"]) == (400, taxonomy.MERGE_SELF_ERROR)
    into_child = api.post(url("api-label-merge", project, tree["sport"]), {"target": tree["tennis"].pk}, format="json")
    assert (into_child.status_code, into_child.json()["detail"]) == (400, taxonomy.MERGE_INTO_DESCENDANT_ERROR)
    no_target = api.get(url("api-label-merge-preview", project, tree["sport"]))
    assert no_target.status_code == 400 and "target" in no_target.json()
    unknown = api.get(url("api-label-merge-preview", project, tree["sport"]), {"target": 987654})
    assert unknown.status_code == 400 and "987654" in unknown.json()["detail"]
    assert Label.objects.filter(project=project, active=True).count() == 4


def test_split_creates_children_and_requeues_items(api, project, tree):
    annotate(project, tree["news"])
    response = api.post(
        url("api-label-split", project, tree["news"]), {"children": ["Local", "World", " "]}, format="json"
    )
    assert response.status_code == 201
    assert [child["path"] for child in response.json()] == ["News > Local", "News > World"]
    assert RequeuedItem.objects.filter(label=tree["news"]).count() == 1
    too_few = api.post(url("api-label-split", project, tree["tennis"]), {"children": ["Only"]}, format="json")
    assert (too_few.status_code, too_few.json()["detail"]) == (400, taxonomy.SPLIT_NEEDS_CHILDREN_ERROR)


def test_archive_and_restore(api, project, tree):
    response = api.post(url("api-label-archive", project, tree["sport"]))
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert not Label.objects.get(pk=tree["football"].pk).active  # the subtree went with it
    child_first = api.post(url("api-label-restore", project, tree["football"]))
    assert child_first.status_code == 400
    assert child_first.json()["detail"] == taxonomy.RESTORE_UNDER_ARCHIVED_ERROR.format(name="Sport")
    restored = api.post(url("api-label-restore", project, tree["sport"]))
    assert (restored.status_code, restored.json()["active"]) == (200, True)
    assert Label.objects.get(pk=tree["football"].pk).active


def test_history_lists_the_edits_newest_first(api, project, tree, expert):
    api.patch(url("api-label-detail", project, tree["news"]), {"name": "Headlines"}, format="json")
    annotate(project, tree["tennis"])
    api.post(url("api-label-merge", project, tree["tennis"]), {"target": tree["football"].pk}, format="json")
    response = api.get(url("api-label-history", project))
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 6  # four creations, a rename and a merge
    newest, renamed = data["results"][:2]
    assert (newest["action"], newest["actor"], newest["annotations_touched"]) == ("merge", expert.username, 1)
    assert newest["summary"] == "Merged “Sport > Tennis” into “Sport > Football”."
    assert newest["details"]["annotations"] == 1
    assert (renamed["action"], renamed["summary"]) == ("update", "Renamed “News” to “Headlines”.")
    assert renamed["details"] == {"name": ["News", "Headlines"]}
    assert {"created_at", "label", "target"} <= set(newest)


def test_annotators_read_but_cannot_edit(project_with_roles, tree):
    project, users = project_with_roles
    client = APIClient()
    client.force_authenticate(users[Role.ANNOTATOR])
    assert client.get(url("api-label-list", project)).status_code == 200
    assert client.get(url("api-label-history", project)).status_code == 200
    assert client.post(url("api-label-list", project), {"name": "Nope"}, format="json").status_code == 403
    assert client.post(url("api-label-archive", project, tree["news"])).status_code == 403
    assert not project.labels.filter(name="Nope").exists()


@pytest.mark.parametrize(
    ("name", "method", "body"),
    [
        ("api-label-detail", "patch", {"name": "Hijacked"}),
        ("api-label-detail", "delete", None),
        ("api-label-move", "post", {"parent": None}),
        ("api-label-merge-preview", "get", None),
        ("api-label-merge", "post", None),
        ("api-label-split", "post", {"children": ["A", "B"]}),
        ("api-label-archive", "post", None),
        ("api-label-restore", "post", None),
    ],
)
def test_a_label_of_another_project_is_404(api, project, tree, make_user, name, method, body):
    other_admin = make_user("other_admin")
    other = project_create(name="Other", created_by=other_admin)
    foreign = taxonomy.label_create(project=other, name="Foreign", by=other_admin)
    taxonomy.label_create(project=other, name="Foreign child", parent=foreign, by=other_admin)
    if name in ("api-label-merge", "api-label-merge-preview"):
        body = {"target": tree["news"].pk}
    before = list(Label.objects.order_by("id").values_list("id", "name", "parent_id", "active"))
    request = getattr(api, method)
    response = request(url(name, project, foreign), body, **({} if method == "get" else {"format": "json"}))
    assert response.status_code == 404
    assert list(Label.objects.order_by("id").values_list("id", "name", "parent_id", "active")) == before
    # ...and merging one of ours into theirs names no label of this project.
    into_foreign = api.post(url("api-label-merge", project, tree["news"]), {"target": foreign.pk}, format="json")
    assert into_foreign.status_code == 400
