from __future__ import annotations

from annotator.models import ClusterRun, Item, Project


def latest_cluster_run(*, project: Project) -> ClusterRun | None:
    return project.cluster_runs.prefetch_related("clusters__promoted_to").first()


def clusters_with_exemplars(*, run: ClusterRun) -> list[dict]:
    """The run's clusters, each with the texts of its central and borderline items."""
    clusters = list(run.clusters.all())
    ids = {pk for cluster in clusters for pk in cluster.central_item_ids + cluster.borderline_item_ids}
    texts = dict(Item.objects.filter(pk__in=ids).values_list("id", "text"))
    return [
        {
            "cluster": cluster,
            "central": [texts[pk] for pk in cluster.central_item_ids if pk in texts],
            "borderline": [texts[pk] for pk in cluster.borderline_item_ids if pk in texts],
        }
        for cluster in clusters
    ]
