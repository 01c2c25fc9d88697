from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.models import Annotation, Project
from annotator.params import parse_id, query_id
from annotator.permissions import Capability
from annotator.selectors.candidates import pending_candidate_counts, pending_candidates
from annotator.services.candidates import BULK_MAX, candidate_confirm, candidate_reject, candidates_decide
from annotator.services.queue import QueueConflict

CANDIDATES_PER_PAGE = 50


@project_page(Capability.ANNOTATE)
@require_GET
def candidate_list(request: HttpRequest, project: Project) -> HttpResponse:
    label_id = query_id(request.GET, "label")
    candidates = pending_candidates(project=project, label_id=label_id)
    page = Paginator(candidates, CANDIDATES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "page": page,
        "candidates": page.object_list,
        "total": page.paginator.count,
        "per_label": _per_label(project),
        "label_id": label_id,
        "back": request.GET.urlencode(),
    }
    return render(request, "annotator/candidates.html", context)


@project_page(Capability.ANNOTATE)
@require_POST
def candidate_bulk(request: HttpRequest, project: Project) -> HttpResponse:
    """Accept or reject the selected suggestions (or every one shown), then back to the same page."""
    decision = request.POST.get("decision", "accept")
    field = "shown" if request.POST.get("scope") == "shown" else "selected"
    ids = [parse_id(value) for value in request.POST.getlist(field)]
    back = request.POST.get("back", "")
    target = reverse("candidate-list", args=[project.pk]) + (f"?{QueryDict(back).urlencode()}" if back else "")
    if decision not in ("accept", "reject") or None in ids:
        messages.error(request, _("Choose accept or reject, and suggestions by their ids."))
        return redirect(target)
    if field == "shown" and len(ids) <= BULK_MAX:  # those decided one by one since the page loaded are not news
        ids = list(pending_candidates(project=project).filter(pk__in=ids).values_list("pk", flat=True)) or ids
    try:
        outcome = candidates_decide(project=project, candidate_ids=ids, by=request.user, decision=decision)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(target)
    done = len(outcome.done)
    if decision == "accept":
        messages.success(request, _("Accepted {n} suggestion(s).").format(n=done))
    else:
        messages.success(request, _("Rejected {n} suggestion(s).").format(n=done))
    for pk, reason in outcome.refused.items():
        messages.error(request, _("Suggestion {number}: {reason}").format(number=pk, reason=reason))
    return redirect(target)


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
        return HttpResponse(
            format_html('<p class="muted">{}</p>', _("Accepted.") if decision == "accept" else _("Rejected."))
        )
    return redirect("candidate-list", project_id=project.pk)
