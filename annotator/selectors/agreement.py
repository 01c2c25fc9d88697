"""Inter-annotator agreement of a project, over the items that two or more people annotated.

Only counted human annotations take part: imported labels, experts' adjudications and rule or
cluster suggestions are no annotator's independent judgement. Each annotator's value for an item is
the whole set of label ids they chose (a frozenset), so a multi-label annotation agrees only when
the sets are equal; `per_label_alpha` looks at one label at a time instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from annotator.models import AnnotationLabel, AnnotationSource, Project
from annotator.selectors.items import disagreement_item_ids
from annotator.selectors.review import LabelChip, label_chips
from mlcore.agreement import krippendorff_alpha_nominal, pairwise_kappa, per_label_alpha

# item id -> annotator id -> the label ids that annotator chose
Ratings = dict[int, dict[int, frozenset[int]]]


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa of two annotators over the `items` items both annotated."""

    annotator_a: str
    annotator_b: str
    kappa: float | None
    items: int


@dataclass(frozen=True)
class LabelAgreement:
    label: LabelChip
    alpha: float | None


@dataclass(frozen=True)
class ProjectAgreement:
    overlap_items: int  # items with counted human annotations from two or more annotators
    pairs: list[PairAgreement]
    alpha: float | None  # Krippendorff's alpha (nominal) over label sets; None without overlap items
    per_label: list[LabelAgreement]  # labels someone chose on an overlap item, in display order
    open_disagreements: int  # items waiting for adjudication


def overlap_ratings(*, project: Project) -> Ratings:
    """The counted human annotations of the items two or more annotators labelled."""
    links = AnnotationLabel.objects.filter(
        annotation__item__project=project,
        annotation__source=AnnotationSource.HUMAN,
        annotation__candidate_status="",
        annotation__annotator__isnull=False,
    ).values_list("annotation__item_id", "annotation__annotator_id", "annotation_id", "label_id")
    # One annotation per person and item is the rule (a resubmit revises it); should a person still
    # have two, the newest one stands for them.
    newest: dict[tuple[int, int], int] = {}
    labels: dict[int, set[int]] = defaultdict(set)
    for item_id, annotator_id, annotation_id, label_id in links:
        key = (item_id, annotator_id)
        newest[key] = max(newest.get(key, annotation_id), annotation_id)
        labels[annotation_id].add(label_id)
    ratings: Ratings = defaultdict(dict)
    for (item_id, annotator_id), annotation_id in newest.items():
        ratings[item_id][annotator_id] = frozenset(labels[annotation_id])
    return {item_id: by_annotator for item_id, by_annotator in ratings.items() if len(by_annotator) >= 2}


def project_agreement(*, project: Project) -> ProjectAgreement:
    ratings = overlap_ratings(project=project)
    usernames = dict(
        get_user_model()
        .objects.filter(pk__in={pk for by_annotator in ratings.values() for pk in by_annotator})
        .values_list("pk", "username")
    )
    pairs = [
        PairAgreement(usernames[pair.rater_a], usernames[pair.rater_b], pair.kappa, pair.items)
        for pair in pairwise_kappa(ratings)
    ]
    used = {pk for by_annotator in ratings.values() for chosen in by_annotator.values() for pk in chosen}
    alphas = per_label_alpha(ratings, used)
    per_label = [LabelAgreement(chip, alphas[pk]) for pk, chip in label_chips(project=project).items() if pk in used]
    return ProjectAgreement(
        overlap_items=len(ratings),
        pairs=pairs,
        alpha=krippendorff_alpha_nominal([list(by_annotator.values()) for by_annotator in ratings.values()]),
        per_label=per_label,
        open_disagreements=len(disagreement_item_ids(project=project)),
    )
