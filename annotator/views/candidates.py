from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.models import Annotation, Project
from annotator.params import query_id
from annotator.permissions import Capability
from annotator.selectors.candidates import pending_candidate_counts, pending_candidates
from annotator.services.candidates import candidate_confirm, candidate_reject
from annotator.services.queue import QueueConflict

CANDIDATES_SHOWN = 50


@project_page(Capability.ANNOTATE)
@require_GET
def candidate_list(request: HttpRequest, project: Project) -> HttpResponse:
    label_id = query_id(request.GET, "label")
    candidates = pending_candidates(project=project, label_id=label_id)
    context = {
        "project": project,
        "candidates": candidates[:CANDIDATES_SHOWN],
        "total": candidates.count(),
        "per_label": _per_label(project),
        "label_id": label_id,
    }
    return render(request, "annotator/candidates.html", context)


def _per_label(project: Project) -> list[tuple[object, int]]:
    counts = pending_candidate_counts(project=project)
    labels = project.labels.filter(pk__in=counts).order_by("name")
    return [(label, counts[label.pk]) for label in labels]


@project_page(Capability.ANNOTATE)
@require_POST
def candidate_decide(request: HttpRequest, project: Project, annotation_id: int, decision: str) -> HttpResponse:
    """Accept or reject one suggestion; htmx swaps the row out, a plain post redirects back."""
    candidate = Annotation.objects.filter(pk=annotation_id, item__project=project).first()
    if candidate is None or decision not in ("accept", "reject"):
        return HttpResponse(status=404)
    try:
        if decision == "accept":
            candidate_confirm(candidate=candidate, by=request.user)
        else:
            candidate_reject(candidate=candidate, by=request.user)
    except ValidationError as error:
        if request.htmx:
            return HttpResponse(format_html('<p class="error">{}</p>', " ".join(error.messages)))
        messages.error(request, " ".join(error.messages))
    except QueueConflict as conflict:
        if request.htmx:
            return HttpResponse(format_html('<p class="error">{}</p>', conflict.message))
        messages.error(request, conflict.message)
    if request.htmx:
        return HttpResponse(f'<p class="muted">{"Accepted" if decision == "accept" else "Rejected"}.</p>')
    return redirect("candidate-list", project_id=project.pk)
