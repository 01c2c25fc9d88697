"""Final labels (adjudicated > agreed > single), adjudication, corrections with history, binary mode."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotator.importing.parsers import Record
from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Item,
    RevisionReason,
    Role,
    TaskType,
)
from annotator.selectors.items import Resolution, Vote, disagreement_item_ids, final_label_ids, resolve_final
from annotator.services import taxonomy
from annotator.services.binary_queue import binary_accept, binary_next_item, binary_reject
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.queue import annotation_submit
from annotator.services.review import annotation_correct, item_adjudicate
from annotator.services.scoring import ItemScore, score_run_store

pytestmark = pytest.mark.django_db


def _fill(project, n: int) -> list[Item]:
    records = [Record(line=i, text=f"review text {i}", labels=(), meta={}) for i in range(1, n + 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))
    return list(project.items.order_by("id"))


@pytest.fixture
def setup(project_with_roles):
    project, users = project_with_roles
    project.overlap_fraction = 0
    project.save()
    labels = [taxonomy.label_create(project=project, name=name, by=users["admin"]) for name in ("A", "B")]
    return project, users, *labels


def _vote(pk: int, labels: set[int], source: str = AnnotationSource.HUMAN) -> Vote:
    return Vote(pk, source, pk, frozenset(labels))


PARENTS = {1: None, 2: 1, 3: 1, 4: None}  # 1 > {2, 3}; 4


@pytest.mark.parametrize(
    ("votes", "task_type", "expected"),
    [
        ([_vote(1, {4})], TaskType.SINGLE_LABEL, (Resolution.SINGLE, (4,))),
        ([_vote(1, {4}), _vote(2, {4})], TaskType.SINGLE_LABEL, (Resolution.AGREED, (4,))),
        ([_vote(1, {1}), _vote(2, {2})], TaskType.SINGLE_LABEL, (Resolution.AGREED, (2,))),  # parent + child
        ([_vote(1, {2}), _vote(2, {3})], TaskType.SINGLE_LABEL, (Resolution.DISAGREED, ())),  # siblings
        ([_vote(1, {1, 4}), _vote(2, {4, 1})], TaskType.MULTI_LABEL, (Resolution.AGREED, (1, 4))),
        ([_vote(1, {1}), _vote(2, {2})], TaskType.MULTI_LABEL, (Resolution.DISAGREED, ())),  # sets differ
        (
            [_vote(1, {2}), _vote(2, {3}), _vote(3, {3}, AnnotationSource.ADJUDICATED)],
            TaskType.SINGLE_LABEL,
            (Resolution.ADJUDICATED, (3,)),
        ),
    ],
)
def test_resolve_final(votes, task_type, expected):
    final = resolve_final(votes, parents=PARENTS, task_type=task_type)
    assert (final.resolution, final.label_ids) == expected


def test_disagreements_wait_for_an_expert_whose_decision_is_final(setup):
    project, users, a, b = setup
    item = _fill(project, 1)[0]
    annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[a])
    annotation_submit(item=item, annotator=users[Role.EXPERT], labels=[b])
    assert disagreement_item_ids(project=project) == [item.pk]
    assert item.pk not in final_label_ids(project=project)
    decision = item_adjudicate(item=item, by=users[Role.EXPERT], labels=[b])
    assert decision.source == AnnotationSource.ADJUDICATED
    assert disagreement_item_ids(project=project) == []
    assert final_label_ids(project=project)[item.pk] == [b.pk]
    again = item_adjudicate(item=item, by=users[Role.ADMIN], labels=[a], note="guideline 3")
    assert again.pk == decision.pk
    assert final_label_ids(project=project)[item.pk] == [a.pk]
    assert again.revisions.last().note == "guideline 3"


def test_an_adjudication_takes_no_annotator_slot(setup):
    project, users, a, _ = setup
    item = _fill(project, 1)[0]
    item_adjudicate(item=item, by=users[Role.EXPERT], labels=[a])
    item.refresh_from_db()
    assert item.is_open


def test_a_correction_changes_the_labels_and_keeps_who_and_what(setup):
    project, users, a, b = setup
    item = _fill(project, 1)[0]
    annotation = annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[a])
    revision = annotation_correct(annotation=annotation, by=users[Role.EXPERT], labels=[b], note=" wrong topic ")
    assert (revision.reason, revision.changed_by, revision.note) == (
        RevisionReason.CORRECTION,
        users[Role.EXPERT],
        "wrong topic",
    )
    assert (revision.labels_before, revision.labels_after) == ([a.pk], [b.pk])
    assert list(annotation.labels.all()) == [b]
    assert annotation.annotator == users[Role.ANNOTATOR]  # still the annotator's, corrected
    assert annotation_correct(annotation=annotation, by=users[Role.EXPERT], labels=[b]) is None  # no change


def test_a_correction_is_checked_like_a_submit(setup):
    project, users, a, b = setup
    item = _fill(project, 1)[0]
    annotation = annotation_submit(item=item, annotator=users[Role.ANNOTATOR], labels=[a])
    with pytest.raises(ValidationError, match="single-label"):
        annotation_correct(annotation=annotation, by=users[Role.EXPERT], labels=[a, b])
    candidate = Annotation.objects.create(item=item, source=AnnotationSource.RULE, candidate_status="pending")
    with pytest.raises(ValidationError, match="suggestions"):
        annotation_correct(annotation=candidate, by=users[Role.EXPERT], labels=[a])


def _candidate(item: Item, label, source=AnnotationSource.RULE) -> Annotation:
    candidate = Annotation.objects.create(item=item, source=source, candidate_status=CandidateStatus.PENDING)
    AnnotationLabel.objects.create(annotation=candidate, label=label)
    return candidate


def test_binary_mode_serves_suggestions_first_then_the_models_guesses(setup):
    project, users, a, b = setup
    items = _fill(project, 4)
    _candidate(items[2], a)
    _candidate(items[3], b)  # another label: not in A's binary queue
    scores = [ItemScore(items[0].pk, 0.1, a.pk, 0.6), ItemScore(items[1].pk, 0.2, a.pk, 0.95)]
    score_run_store(project=project, model_name="m", strategy="s", scores=scores, labels_used=0)
    annotator = users[Role.ANNOTATOR]
    served = []
    while (item := binary_next_item(project=project, user=annotator, label=a)) is not None:
        served.append(item)
        binary_reject(item=item, user=annotator, label=a)
    assert served == [items[2], items[1], items[0]]
    assert Annotation.objects.get(item=items[2], source=AnnotationSource.RULE).candidate_status == "rejected"
    rejected_guess = Annotation.objects.get(item=items[1], source=AnnotationSource.PSEUDO)
    assert (rejected_guess.candidate_status, rejected_guess.annotator) == ("rejected", annotator)
    assert not Annotation.objects.filter(item__project=project, candidate_status="").exists()


def test_binary_mode_orders_suggestions_by_the_models_confidence_for_that_label(setup):
    """Issue 20, bug 9: binary mode served rule suggestions in id order (or by a confidence for another label)."""
    project, users, a, b = setup
    items = _fill(project, 4)
    for item in items[:3]:
        _candidate(item, a)
    scores = [
        ItemScore(items[0].pk, 0.1, b.pk, 0.99),  # the model is sure of another label: no ranking for A
        ItemScore(items[1].pk, 0.2, a.pk, 0.5),
        ItemScore(items[2].pk, 0.3, a.pk, 0.9),
        ItemScore(items[3].pk, 0.4, a.pk, 0.7),  # the model's own guess, after every suggestion
    ]
    score_run_store(project=project, model_name="m", strategy="s", scores=scores, labels_used=0)
    annotator = users[Role.ANNOTATOR]
    served = []
    while (item := binary_next_item(project=project, user=annotator, label=a)) is not None:
        served.append(item)
        binary_reject(item=item, user=annotator, label=a)
    assert served == [items[2], items[1], items[0], items[3]]


def test_binary_accept_labels_the_item_and_confirms_the_suggestion(setup):
    project, users, a, _ = setup
    item = _fill(project, 1)[0]
    candidate = _candidate(item, a, AnnotationSource.CLUSTER)
    annotator = users[Role.ANNOTATOR]
    assert binary_next_item(project=project, user=annotator, label=a) == item
    annotation = binary_accept(item=item, user=annotator, label=a)
    assert list(annotation.labels.all()) == [a]
    candidate.refresh_from_db()
    assert candidate.candidate_status == CandidateStatus.CONFIRMED
    assert binary_next_item(project=project, user=annotator, label=a) is None


def test_binary_accept_in_a_multi_label_project_adds_to_the_persons_labels(setup):
    project, users, a, b = setup
    project.task_type = TaskType.MULTI_LABEL
    project.save()
    item = _fill(project, 1)[0]
    annotator = users[Role.ANNOTATOR]
    annotation_submit(item=item, annotator=annotator, labels=[b])
    annotation = binary_accept(item=Item.objects.get(pk=item.pk), user=annotator, label=a)
    assert sorted(annotation.labels.values_list("name", flat=True)) == ["A", "B"]
