"""The queue beyond assignment: order by scores, skip and flag, undo, requeued items, suggestions."""

from __future__ import annotations

import pytest

from annotator.importing.parsers import Record
from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Item,
    Lease,
    RequeuedItem,
    RevisionReason,
    Role,
    SkippedItem,
)
from annotator.selectors.items import final_label_ids
from annotator.selectors.queue import queue_item
from annotator.services import taxonomy
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_create
from annotator.services.queue import (
    annotation_submit,
    initial_priority,
    items_refresh_open,
    previous_submission,
    queue_next_item,
    queue_skip,
)
from annotator.services.scoring import ItemScore, score_run_store

pytestmark = pytest.mark.django_db


def _fill(project, n: int, labels=()) -> list[Item]:
    records = [Record(line=i, text=f"flow text {i}", labels=labels, meta={}) for i in range(1, n + 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    return list(project.items.order_by("id"))


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    a = taxonomy.label_create(project=project, name="A", by=users["admin"])
    b = taxonomy.label_create(project=project, name="B", by=users["admin"])
    return project, users, a, b


def _open_flags_are_right(project) -> None:
    stored = dict(project.items.values_list("id", "is_open"))
    items_refresh_open(list(stored))
    assert dict(project.items.values_list("id", "is_open")) == stored


def test_before_scoring_the_order_is_the_stable_pseudo_random_one(setup):
    project, users, *_ = setup
    items = _fill(project, 5)
    expected = max(items, key=lambda item: (initial_priority(item.content_hash), -item.pk))
    assert queue_next_item(project=project, user=users[Role.ANNOTATOR]) == expected


def test_stored_scores_order_the_queue_and_bring_their_suggestion(setup):
    project, users, a, _ = setup
    items = _fill(project, 5)
    scores = [
        ItemScore(item.pk, priority=n / 10, suggested_label_id=a.pk, confidence=0.9) for n, item in enumerate(items)
    ]
    run = score_run_store(project=project, model_name="fast head v1", strategy="entropy", scores=scores, labels_used=3)
    assert run.items_scored == 5
    annotator = users[Role.ANNOTATOR]
    served = queue_next_item(project=project, user=annotator)
    assert served == items[-1]
    entry = queue_item(item=served, user=annotator)
    assert [(s.source, s.label_ids, s.confidence, s.detail) for s in entry.suggestions] == [
        ("model", (a.pk,), 0.9, "fast head v1")
    ]
    assert entry.preselected == ()  # the project is not in "correct" mode
    project.preselect_suggestion = True
    project.save()
    served.refresh_from_db()
    assert queue_item(item=served, user=annotator).preselected == (a.pk,)


def test_scores_for_items_of_another_project_are_ignored(setup, make_user):
    project, *_ = setup
    _fill(project, 1)
    other = project_create(name="other", created_by=make_user("owner2"))
    records = [Record(line=1, text="elsewhere", labels=(), meta={})]
    import_parsed(project=other, records=records, split="pool", report=ImportReport(format="test"))
    foreign = other.items.get()
    run = score_run_store(
        project=project, model_name="m", strategy="s", scores=[ItemScore(foreign.pk, 5.0)], labels_used=0
    )
    assert run.items_scored == 0
    foreign.refresh_from_db()
    assert foreign.score_run is None


def test_submitting_closes_the_item_and_the_open_flag_stays_true_to_the_counts(setup):
    project, users, a, _ = setup
    project.overlap_fraction, project.overlap_annotators = 1.0, 2
    project.save()
    item = _fill(project, 1)[0]
    assert item.required_annotations == 2 and item.is_open
    annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[a])
    item.refresh_from_db()
    assert item.is_open
    annotation_submit(item=item, annotator=users[Role.EXPERT], labels=[a])
    item.refresh_from_db()
    assert not item.is_open
    _open_flags_are_right(project)


def test_imported_labels_fill_a_slot(setup):
    project, *_ = setup
    _fill(project, 3, labels=("A",))
    assert not project.items.filter(is_open=True).exists()
    _open_flags_are_right(project)


def test_a_skipped_item_is_not_served_to_that_person_again_but_to_others(setup):
    project, users, *_ = setup
    _fill(project, 2)
    annotator, expert = users[Role.ANNOTATOR], users[Role.EXPERT]
    first = queue_next_item(project=project, user=annotator)
    queue_skip(item=first, user=annotator)
    assert not Lease.objects.filter(user=annotator, item=first).exists()
    second = queue_next_item(project=project, user=annotator)
    assert second != first
    assert queue_next_item(project=project, user=expert) == first


def test_flagging_records_the_comment_for_the_experts(setup):
    project, users, *_ = setup
    _fill(project, 1)
    item = queue_next_item(project=project, user=users[Role.ANNOTATOR])  # only a served item can be flagged
    flag = queue_skip(item=item, user=users[Role.ANNOTATOR], unclear=True, comment="  sarcasm?  ")
    assert (flag.unclear, flag.comment) == (True, "sarcasm?")
    assert SkippedItem.objects.filter(item=item, unclear=True).count() == 1


def test_undo_goes_back_through_the_persons_submissions(setup):
    project, users, a, b = setup
    _fill(project, 3)
    annotator = users[Role.ANNOTATOR]
    first = queue_next_item(project=project, user=annotator)
    annotation_submit(item=first, annotator=annotator, labels=[a])
    second = queue_next_item(project=project, user=annotator)
    annotation_submit(item=second, annotator=annotator, labels=[b])
    third = queue_next_item(project=project, user=annotator)
    assert previous_submission(project=project, user=annotator, before=third).item == second
    assert previous_submission(project=project, user=annotator, before=second).item == first
    assert previous_submission(project=project, user=annotator, before=first) is None
    assert queue_item(item=second, user=annotator).preselected == (b.pk,)  # editable: own labels pre-selected
    annotation_submit(item=second, annotator=annotator, labels=[a])
    revision = Annotation.objects.get(item=second, annotator=annotator).revisions.get()
    assert (revision.reason, revision.changed_by, revision.labels_before) == (
        RevisionReason.RESUBMIT,
        annotator,
        [b.pk],
    )
    assert queue_next_item(project=project, user=annotator) == third  # the held item comes back


def test_items_returned_by_a_split_are_served_first_and_resolved_by_a_submit(setup):
    project, users, a, _ = setup
    items = _fill(project, 3)
    annotator, expert = users[Role.ANNOTATOR], users[Role.EXPERT]
    annotation_submit(item=items[0], annotator=annotator, labels=[a])
    child, _ = taxonomy.label_split(label=a, children=["A1", "A2"], by=users["admin"])
    assert RequeuedItem.objects.filter(item=items[0], resolved_at=None).exists()
    served = queue_next_item(project=project, user=expert)
    assert served == items[0]
    assert queue_next_item(project=project, user=annotator) != items[0]  # the expert holds it
    annotation_submit(item=served, annotator=expert, labels=[child])
    assert not RequeuedItem.objects.filter(resolved_at=None).exists()
    assert final_label_ids(project=project)[items[0].pk] == [child.pk]  # the parent and its child agree


def test_a_submit_settles_pending_suggestions(setup):
    project, users, a, b = setup
    item = _fill(project, 1)[0]
    suggestions = {}
    for label, source in ((a, AnnotationSource.RULE), (b, AnnotationSource.CLUSTER)):
        candidate = Annotation.objects.create(item=item, source=source, candidate_status=CandidateStatus.PENDING)
        AnnotationLabel.objects.create(annotation=candidate, label=label)
        suggestions[label.name] = candidate
    entry = queue_item(item=item, user=users[Role.ANNOTATOR])
    assert [s.source for s in entry.suggestions] == ["rule", "cluster"]
    assert entry.preselected == (a.pk,)  # single-label: the first suggestion
    annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[a])
    statuses = {name: Annotation.objects.get(pk=c.pk).candidate_status for name, c in suggestions.items()}
    assert statuses == {"A": CandidateStatus.CONFIRMED, "B": CandidateStatus.REJECTED}
