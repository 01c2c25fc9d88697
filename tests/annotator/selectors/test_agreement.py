"""Project agreement: small annotation sets built through the real services, checked against hand-computed values."""

from __future__ import annotations

import pytest

from annotator.models import Annotation, AnnotationLabel, AnnotationSource, CandidateStatus, TaskType
from annotator.selectors.agreement import PairAgreement, overlap_ratings, project_agreement
from annotator.services import taxonomy
from annotator.services.queue import annotation_submit
from annotator.services.review import item_adjudicate

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(project_with_roles, make_user):
    project, users = project_with_roles
    a, b = (taxonomy.label_create(project=project, name=name, by=users["admin"]) for name in ("A", "B"))
    people = {name: make_user(name) for name in ("ann", "bob", "cid")}
    items = [project.items.create(text=f"text {n}", content_hash=f"h{n}", required_annotations=3) for n in range(6)]
    return project, users, people, items, a, b


def submit(item, person, *labels):
    return annotation_submit(item=item, annotator=person, labels=list(labels))


def imported(item, label) -> Annotation:
    annotation = Annotation.objects.create(item=item, source=AnnotationSource.IMPORT)
    AnnotationLabel.objects.create(annotation=annotation, label=label)
    return annotation


def pending_candidate(item, label) -> Annotation:
    candidate = Annotation.objects.create(
        item=item, source=AnnotationSource.RULE, candidate_status=CandidateStatus.PENDING
    )
    AnnotationLabel.objects.create(annotation=candidate, label=label)
    return candidate


def test_two_annotators(world):
    project, users, people, items, a, b = world
    ann, bob = people["ann"], people["bob"]
    # item:   0  1  2  3
    # ann:    A  A  B  B
    # bob:    A  B  B  B      (bob first said A on item 1, then changed it to B: the revision counts)
    for item, ann_label, bob_label in zip(items[:4], [a, a, b, b], [a, b, b, b], strict=True):
        submit(item, ann, ann_label)
        submit(item, bob, bob_label)
    submit(items[1], bob, a)
    submit(items[1], bob, b)
    # Left out of agreement: one annotator only (4), an import against a human (5, but it is a
    # disagreement), a pending rule suggestion (0) and an expert's adjudication (5).
    submit(items[4], ann, a)
    imported(items[5], a)
    submit(items[5], ann, b)
    pending_candidate(items[0], b)

    agreement = project_agreement(project=project)

    assert agreement.overlap_items == 4
    # Cohen: p_o = 3/4; ann A2 B2, bob A1 B3 -> p_e = (2*1 + 2*3)/16 = 1/2; kappa = (3/4 - 1/2)/(1/2) = 1/2.
    assert agreement.pairs == [PairAgreement("ann", "bob", pytest.approx(0.5), 4)]
    # Krippendorff: coincidences o[A,A] = 2 (item 0), o[A,B] = o[B,A] = 1 (item 1), o[B,B] = 4 (items 2, 3);
    # n = 8, n_A = 3, n_B = 5; D_o = 2/8; D_e = (64 - 9 - 25)/(8*7) = 30/56; alpha = 1 - (1/4)/(30/56) = 8/15.
    assert agreement.alpha == pytest.approx(8 / 15)
    # Single-label: "A chosen or not" has the same table as A vs B, and so does B.
    assert [(row.label.path, row.alpha) for row in agreement.per_label] == [
        ("A", pytest.approx(8 / 15)),
        ("B", pytest.approx(8 / 15)),
    ]
    # Items 1 (ann A, bob B) and 5 (import A, ann B).
    assert agreement.open_disagreements == 2

    item_adjudicate(item=items[5], by=users["expert"], labels=[a])
    after = project_agreement(project=project)
    assert after.open_disagreements == 1
    assert (after.overlap_items, after.alpha, after.pairs) == (4, agreement.alpha, agreement.pairs)


def test_three_annotators_give_one_kappa_per_pair(world):
    project, _users, people, items, a, b = world
    ann, bob, cid = people["ann"], people["bob"], people["cid"]
    # item:   0  1  2  3
    # ann:    A  A  B  B
    # bob:    A  B  B  B
    # cid:    A  A  -  -
    for item, labels in zip(items[:4], [(a, a, a), (a, b, a), (b, b, None), (b, b, None)], strict=True):
        for person, label in zip((ann, bob, cid), labels, strict=True):
            if label is not None:
                submit(item, person, label)

    agreement = project_agreement(project=project)

    assert agreement.overlap_items == 4
    assert agreement.pairs == [
        PairAgreement("ann", "bob", pytest.approx(0.5), 4),  # as in the test above
        # Both said A twice: p_e = 1, which the library reads as full agreement.
        PairAgreement("ann", "cid", 1.0, 2),
        # p_o = 1/2; bob A1 B1, cid A2 -> p_e = (1*2 + 1*0)/4 = 1/2; kappa = 0.
        PairAgreement("bob", "cid", pytest.approx(0.0), 2),
    ]
    # Item 0 (A,A,A): 3 pairable values, o[A,A] += 6/2 = 3. Item 1 (A,B,A): o[A,A] += 2/2, o[A,B] += 2/2,
    # o[B,A] += 2/2. Items 2, 3: o[B,B] += 2 each. So o = [[4, 1], [1, 4]], n = 10, n_A = n_B = 5;
    # D_o = 2/10; D_e = (100 - 25 - 25)/(10*9) = 5/9; alpha = 1 - (1/5)/(5/9) = 1 - 9/25 = 0.64.
    assert agreement.alpha == pytest.approx(0.64)


def test_multi_label_sets_and_per_label_alpha(world):
    project, _users, people, items, a, b = world
    project.task_type = TaskType.MULTI_LABEL
    project.save()
    ann, bob = people["ann"], people["bob"]
    # item:   0      1   2
    # ann:    {A,B}  {A} {B}
    # bob:    {A}    {A} {B}
    submit(items[0], ann, a, b)
    submit(items[0], bob, a)
    submit(items[1], ann, a)
    submit(items[1], bob, a)
    submit(items[2], ann, b)
    submit(items[2], bob, b)

    agreement = project_agreement(project=project)

    # Sets as values: kappa over [AB, A, B] vs [A, A, B]: p_o = 2/3; p_e = (AB 1*0 + A 1*2 + B 1*1)/9 = 1/3;
    # kappa = (2/3 - 1/3)/(2/3) = 1/2.
    assert agreement.pairs == [PairAgreement("ann", "bob", pytest.approx(0.5), 3)]
    # o[AB,A] = o[A,AB] = 1, o[A,A] = 2, o[B,B] = 2; n = 6, n_AB = 1, n_A = 3, n_B = 2;
    # D_o = 2/6; D_e = (36 - 1 - 9 - 4)/30 = 22/30; alpha = 1 - (1/3)/(22/30) = 6/11.
    assert agreement.alpha == pytest.approx(6 / 11)
    # A: present for both on items 0 and 1, absent for both on 2 -> no disagreement, alpha = 1.
    # B: (yes, no), (no, no), (yes, yes): o[Y,N] = o[N,Y] = 1, o[N,N] = o[Y,Y] = 2; n = 6, n_Y = n_N = 3;
    # D_o = 2/6; D_e = (36 - 9 - 9)/30 = 3/5; alpha = 1 - (1/3)/(3/5) = 4/9.
    assert [(row.label.path, row.alpha) for row in agreement.per_label] == [
        ("A", pytest.approx(1.0)),
        ("B", pytest.approx(4 / 9)),
    ]
    assert agreement.open_disagreements == 1  # item 0: the sets differ


def test_no_overlap_yet(world):
    project, _users, people, items, a, _b = world
    submit(items[0], people["ann"], a)
    agreement = project_agreement(project=project)
    assert (agreement.overlap_items, agreement.pairs, agreement.alpha, agreement.per_label) == (0, [], None, [])
    assert overlap_ratings(project=project) == {}
