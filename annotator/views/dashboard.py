"""The project's progress dashboard: what is labeled, who works when, how well annotators agree."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotator.access import project_page
from annotator.models import Project
from annotator.permissions import Capability
from annotator.selectors.agreement import project_agreement
from annotator.selectors.dashboard import annotator_activity, label_counts, pool, queue_order


@project_page(Capability.VIEW)
@require_GET
def dashboard_page(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "label_counts": label_counts(project=project),
        "activity": annotator_activity(project=project),
        "agreement": project_agreement(project=project),
        "pool": pool(project=project),
        "queue": queue_order(project=project),
    }
    return render(request, "annotator/dashboard.html", context)
