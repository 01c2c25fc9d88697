"""Cold start: cluster the unlabeled items, and promote a cluster to a label.

The clustering job embeds the project's unlabeled items (cached per encoder version), clusters
them (k by silhouette, or the expert's k), and stores per cluster its size, c-TF-IDF keywords, the
items nearest its centroid, a few borderline items, and a 2-D map of all clusters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    CandidateStatus,
    Cluster,
    ClusterRun,
    Job,
    Label,
    Project,
    Split,
    TaxonomyAction,
    TaxonomyEvent,
)
from annotator.services.embeddings import item_embeddings, load_encoder
from annotator.services.jobs import job_start
from annotator.services.taxonomy import label_create
from mlcore.clustering import TextClusterer, central_and_borderline, cluster_keywords, cluster_map_svg, project_2d

Progress = Callable[[float, str], None]

MAX_ITEMS_CLUSTERED = 20_000  # a seeded sample beyond this: clusters are for orientation
MIN_ITEMS_CLUSTERED = 10
DEFAULT_K_RANGE = (2, 20)
CLUSTER_RANDOM_STATE = 0
KEYWORDS_KEPT = 10
CANDIDATES_PER_PROMOTION = 20
TOO_FEW_ITEMS_ERROR = gettext_lazy("Clustering needs at least {n} unlabeled items; this project has {found}.")


def cluster_job_start(
    *, project: Project, by: AbstractBaseUser, k: int | None = None, k_range: tuple[int, int] = DEFAULT_K_RANGE
) -> Job:
    """Queue a clustering job (`cpu` queue); k None means choose it by silhouette within `k_range`."""
    if k is not None and k < 2:
        raise ValidationError("k must be at least 2.")
    if not 2 <= k_range[0] <= k_range[1]:
        raise ValidationError("The k range must satisfy 2 <= min <= max.")
    params = {"k": k, "k_min": k_range[0], "k_max": k_range[1]}
    return job_start(kind="cluster", project=project, params=params, created_by=by)


def _unlabeled_item_ids(project: Project) -> list[int]:
    """Pool items without any annotation, candidates included (they are being looked at already)."""
    items = project.items.filter(split=Split.POOL, annotations__isnull=True).order_by("id")
    ids = list(items.values_list("id", flat=True))
    if len(ids) > MAX_ITEMS_CLUSTERED:
        rng = np.random.default_rng(CLUSTER_RANDOM_STATE)
        ids = sorted(rng.choice(ids, size=MAX_ITEMS_CLUSTERED, replace=False).tolist())
    return ids


def cluster_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of a clustering job. Nothing is stored unless it finishes."""
    project = job.project
    ids = _unlabeled_item_ids(project)
    if len(ids) < MIN_ITEMS_CLUSTERED:
        raise ValidationError(TOO_FEW_ITEMS_ERROR.format(n=MIN_ITEMS_CLUSTERED, found=len(ids)))
    progress(1, f"Loading the encoder {project.backbone}")
    encoder = load_encoder(project.backbone)
    vectors = item_embeddings(
        project=project,
        item_ids=ids,
        encoder=encoder,
        progress=lambda done, total: progress(2 + 78 * done / total, f"Embedding {done:,} of {total:,} new items"),
    )
    k_range = (
        job.params.get("k_min", DEFAULT_K_RANGE[0]),
        min(job.params.get("k_max", DEFAULT_K_RANGE[1]), len(ids) - 1),
    )
    progress(82, "Clustering" + ("" if job.params.get("k") else f", choosing k in {k_range[0]}-{k_range[1]}"))
    clusterer = TextClusterer(n_clusters=job.params.get("k"), k_range=k_range, random_state=CLUSTER_RANDOM_STATE)
    clusterer.fit(vectors)
    progress(92, "Finding keywords and representative items")
    texts = dict(project.items.filter(pk__in=ids).values_list("id", "text"))
    keywords = cluster_keywords(
        [texts[pk] for pk in ids], clusterer.labels_, language=project.language, top_n=KEYWORDS_KEPT
    )
    exemplars = central_and_borderline(vectors, clusterer.labels_, clusterer.centers_)
    names = {c: " · ".join(word for word, _ in keywords.get(c, [])[:3]) for c in range(clusterer.n_clusters_)}
    svg = cluster_map_svg(project_2d(vectors, random_state=CLUSTER_RANDOM_STATE), clusterer.labels_, names=names)
    run = _store_run(job, encoder.version, np.asarray(ids), vectors, clusterer, keywords, exemplars, svg)
    return {"cluster_run": run.pk, "k": run.k, "n_items": run.n_items}


@transaction.atomic
def _store_run(job, encoder_version, ids, vectors, clusterer, keywords, exemplars, svg) -> ClusterRun:
    run = ClusterRun.objects.create(
        project=job.project,
        job=job,
        encoder=encoder_version,
        k=clusterer.n_clusters_,
        k_chosen_automatically=not job.params.get("k"),
        silhouette_scores={str(k): round(s, 4) for k, s in clusterer.silhouette_scores_.items()},
        n_items=len(ids),
        map_svg=svg,
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    clusters = []
    for index in range(clusterer.n_clusters_):
        members = np.flatnonzero(clusterer.labels_ == index)
        center = clusterer.centers_[index] / np.linalg.norm(clusterer.centers_[index])
        by_centrality = members[np.argsort(-(unit[members] @ center), kind="stable")]
        chosen = exemplars.get(index, {"central": [], "borderline": []})
        clusters.append(
            Cluster(
                run=run,
                index=index,
                size=len(members),
                keywords=[[word, round(float(score), 4)] for word, score in keywords.get(index, [])],
                item_ids=ids[by_centrality].tolist(),
                central_item_ids=ids[chosen["central"]].tolist(),
                borderline_item_ids=ids[chosen["borderline"]].tolist(),
            )
        )
    Cluster.objects.bulk_create(clusters)
    return run


@transaction.atomic
def cluster_promote(
    *,
    cluster: Cluster,
    by: AbstractBaseUser,
    label: Label | None = None,
    new_label_name: str = "",
    parent: Label | None = None,
    candidates: int = CANDIDATES_PER_PROMOTION,
) -> tuple[Label, int]:
    """Make a cluster a label (an existing one, or a new one): its most central unlabeled items
    become candidate annotations (source `cluster`) for a human to confirm. Returns (label, candidates)."""
    project = cluster.run.project
    if label is None:
        label = label_create(project=project, name=new_label_name, parent=parent, by=by)
    elif label.project_id != project.pk:
        raise ValidationError("That label belongs to another project.")
    annotated = set(Annotation.objects.filter(item_id__in=cluster.item_ids).values_list("item_id", flat=True))
    chosen = [pk for pk in cluster.item_ids if pk not in annotated][:candidates]
    created = Annotation.objects.bulk_create(
        Annotation(
            item_id=pk, source=AnnotationSource.CLUSTER, candidate_status=CandidateStatus.PENDING, cluster=cluster
        )
        for pk in chosen
    )
    AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=a, label=label) for a in created)
    cluster.promoted_to = label
    cluster.save(update_fields=["promoted_to"])
    TaxonomyEvent.objects.create(
        project=project,
        action=TaxonomyAction.PROMOTE_CLUSTER,
        actor=by,
        label=label,
        summary=f"Promoted cluster “{cluster.name}” ({cluster.size} items) to “{label.name}”: "
        f"{len(created)} candidate(s) to check.",
        details={"cluster": cluster.pk, "candidates": len(created)},
    )
    return label, len(created)
