"""The review page's filters and rows, and the adjudication cases, over data made through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotator.models import Annotation, AnnotationLabel, AnnotationSource, CandidateStatus, RevisionReason
from annotator.selectors.review import (
    ReviewFilters,
    adjudicated_item_ids,
    adjudication_cases,
    label_chips,
    label_choices,
    next_disagreement,
    review_annotations,
    review_annotators,
    review_rows,
)
from annotator.services import taxonomy
from annotator.services.candidates import candidate_confirm
from annotator.services.projects import project_create
from annotator.services.queue import annotation_submit, lease_item, queue_skip
from annotator.services.review import annotation_correct, item_adjudicate

pytestmark = pytest.mark.django_db


def served(*, item, user) -> None:
    """The queue's lease on `item` for `user`: skips and flags need one."""
    lease_item(item=item, user=user, now=timezone.now())


@pytest.fixture
def world(project_with_roles, make_user):
    """goal: ann Football, bob Sport (agree: one path). vote: ann Politics, flagged by bob.
    mixed: ann Sport, bob Politics (disagree). old: imported Politics."""
    project, users = project_with_roles
    admin = users["admin"]
    sport = taxonomy.label_create(project=project, name="Sport", by=admin)
    football = taxonomy.label_create(project=project, name="Football", parent=sport, by=admin)
    politics = taxonomy.label_create(project=project, name="Politics", by=admin)
    ann, bob = make_user("ann"), make_user("bob")
    goal, vote, mixed, old = (
        project.items.create(text=text, content_hash=text, required_annotations=2)
        for text in ("goal", "vote", "mixed", "old")
    )
    annotation_submit(item=goal, annotator=ann, labels=[football])
    annotation_submit(item=goal, annotator=bob, labels=[sport])
    annotation_submit(item=vote, annotator=ann, labels=[politics])
    served(item=vote, user=bob)  # only an item the queue served can be skipped
    queue_skip(item=vote, user=bob, unclear=True, comment="sarcasm?")
    annotation_submit(item=mixed, annotator=ann, labels=[sport])
    annotation_submit(item=mixed, annotator=bob, labels=[politics])
    imported = Annotation.objects.create(item=old, source=AnnotationSource.IMPORT)
    AnnotationLabel.objects.create(annotation=imported, label=politics)
    candidate = Annotation.objects.create(
        item=vote, source=AnnotationSource.RULE, candidate_status=CandidateStatus.PENDING
    )
    AnnotationLabel.objects.create(annotation=candidate, label=sport)
    return {
        "project": project, "users": users, "ann": ann, "bob": bob,
        "sport": sport, "football": football, "politics": politics,
        "goal": goal, "vote": vote, "mixed": mixed, "old": old,
    }  # fmt: skip


def listed(world, **filters) -> list[tuple[str, str]]:
    """(item text, annotator or source) of the matching annotations, in page order."""
    annotations = review_annotations(project=world["project"], filters=ReviewFilters(**filters))
    return [(a.item.text, a.annotator.username if a.annotator else a.source) for a in annotations]


def test_without_filters_every_counted_annotation_newest_first(world):
    assert listed(world) == [
        ("old", "import"),
        ("mixed", "bob"),
        ("mixed", "ann"),
        ("vote", "ann"),  # the rule's pending suggestion on it does not count
        ("goal", "bob"),
        ("goal", "ann"),
    ]


def test_a_label_filter_takes_the_labels_below_it(world):
    assert listed(world, label_id=world["sport"].pk) == [("mixed", "ann"), ("goal", "bob"), ("goal", "ann")]
    assert listed(world, label_id=world["football"].pk) == [("goal", "ann")]


def test_annotator_source_and_combined_filters(world):
    assert listed(world, annotator_id=world["ann"].pk) == [("mixed", "ann"), ("vote", "ann"), ("goal", "ann")]
    assert listed(world, source=AnnotationSource.IMPORT) == [("old", "import")]
    assert listed(world, annotator_id=world["ann"].pk, label_id=world["sport"].pk) == [
        ("mixed", "ann"),
        ("goal", "ann"),
    ]
    assert [user.username for user in review_annotators(project=world["project"])] == ["ann", "bob"]


def test_rule_source_means_labels_a_person_confirmed_from_a_rule(world):
    assert listed(world, source=AnnotationSource.RULE) == []  # the rule's suggestion is still pending
    candidate = Annotation.objects.get(item=world["vote"], source=AnnotationSource.RULE)
    candidate_confirm(candidate=candidate, by=world["bob"])
    assert listed(world, source=AnnotationSource.RULE) == [("vote", "bob")]
    assert listed(world, source=AnnotationSource.CLUSTER) == []


def test_flagged_items_carry_the_comment(world):
    assert listed(world, flagged=True) == [("vote", "ann")]
    annotation = review_annotations(project=world["project"], filters=ReviewFilters(flagged=True)).get()
    assert [(flag.user.username, flag.comment) for flag in annotation.item.flags] == [("bob", "sarcasm?")]


def test_disagreement_filter_follows_adjudication(world):
    # "goal" is Football vs Sport: one path of the tree, so it agrees.
    assert listed(world, disagreement=True) == [("mixed", "bob"), ("mixed", "ann")]
    item_adjudicate(item=world["mixed"], by=world["users"]["expert"], labels=[world["politics"]])
    assert listed(world, disagreement=True) == []
    assert listed(world, source=AnnotationSource.ADJUDICATED) == [("mixed", "expert_user")]


def test_date_range_is_inclusive_by_day(world):
    ann_vote = Annotation.objects.get(item=world["vote"], annotator=world["ann"])
    Annotation.objects.filter(pk=ann_vote.pk).update(created_at=dt.datetime(2024, 1, 10, 23, 30, tzinfo=dt.UTC))
    january = {"created_from": dt.date(2024, 1, 1), "created_to": dt.date(2024, 1, 31)}
    assert listed(world, **january) == [("vote", "ann")]
    assert listed(world, created_from=dt.date(2024, 1, 10), created_to=dt.date(2024, 1, 10)) == [("vote", "ann")]
    assert listed(world, created_to=dt.date(2024, 1, 9)) == []
    assert len(listed(world, created_from=timezone.localdate())) == 5


def test_rows_show_label_paths_and_the_history(world):
    annotation = Annotation.objects.get(item=world["goal"], annotator=world["bob"])
    expert = world["users"]["expert"]
    annotation_correct(annotation=annotation, by=expert, labels=[world["football"]], note="the derby")
    chips = label_chips(project=world["project"])
    [row] = review_rows(annotations=review_annotations(project=world["project"]).filter(pk=annotation.pk), chips=chips)
    assert [chip.path for chip in row.labels] == ["Sport > Football"]
    [step] = row.history
    assert (step.revision.reason, step.revision.changed_by, step.revision.note) == (
        RevisionReason.CORRECTION,
        expert,
        "the derby",
    )
    assert ([c.path for c in step.before], [c.path for c in step.after]) == (["Sport"], ["Sport > Football"])


def test_label_chips_are_in_tree_order_and_choices_skip_archived(world):
    project, admin = world["project"], world["users"]["admin"]
    taxonomy.label_archive(label=taxonomy.label_create(project=project, name="Old", by=admin), by=admin)
    paths = [chip.path for chip in label_chips(project=project).values()]
    assert paths == ["Sport", "Sport > Football", "Politics", "Old"]
    assert [chip.path for chip in label_choices(project=project)] == ["Sport", "Sport > Football", "Politics"]


def test_adjudication_cases_show_everyones_labels_and_the_decision(world):
    project, expert = world["project"], world["users"]["expert"]
    chips = label_chips(project=project)
    [case] = adjudication_cases(project=project, item_ids=[world["mixed"].pk], chips=chips)
    assert [(vote.who, [c.path for c in vote.labels]) for vote in case.votes] == [
        ("ann", ["Sport"]),
        ("bob", ["Politics"]),
    ]
    assert (case.decision, case.decision_labels, case.history) == (None, [], [])

    item_adjudicate(item=world["mixed"], by=expert, labels=[world["sport"]])
    [case] = adjudication_cases(project=project, item_ids=[world["mixed"].pk], chips=chips)
    assert (case.decided_by, case.decided_at) == ("expert_user", case.history[-1].revision.created_at)
    admin = world["users"]["admin"]
    item_adjudicate(item=world["mixed"], by=admin, labels=[world["politics"]], note="it is about a vote")
    [case] = adjudication_cases(project=project, item_ids=[world["mixed"].pk], chips=chips)
    assert (case.decided_by, case.decided_at) == ("admin_user", case.history[-1].revision.created_at)
    assert len(case.votes) == 2  # the decision is not one of the votes
    assert case.decision_label_ids == [world["politics"].pk]
    assert [(step.revision.note, [c.path for c in step.after]) for step in case.history] == [
        ("", ["Sport"]),  # the first decision is in the history too
        ("it is about a vote", ["Politics"]),
    ]
    assert list(adjudicated_item_ids(project=project)) == [world["mixed"].pk]
    [imported] = adjudication_cases(project=project, item_ids=[world["old"].pk], chips=chips)
    assert [(vote.who, vote.source) for vote in imported.votes] == [("import", "import")]


def test_cases_of_another_project_are_left_out(world, make_user):
    other = project_create(name="Other", created_by=make_user("other_admin"))
    item = other.items.create(text="elsewhere", content_hash="x")
    assert adjudication_cases(project=world["project"], item_ids=[item.pk], chips={}) == []


def test_next_disagreement_wraps_round():
    assert next_disagreement([]) is None
    assert next_disagreement([3, 5, 9]) == 3
    assert next_disagreement([3, 5, 9], after=5) == 9
    assert next_disagreement([3, 5, 9], after=9) == 3
    assert next_disagreement([3, 5, 9], after=4) == 5
