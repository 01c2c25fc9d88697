"""The active-learning page: how the fast head grows with labels, what each class still needs, whether
the predictions have settled (when to stop), and the rescoring job; admins can rescore now."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.models import JobStatus, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.active_learning import (
    active_learning_overview,
    al_learning_curve_svg,
    class_estimates_svg,
)
from annotator.selectors.jobs import job_for_role
from annotator.selectors.project_settings import benchmark_source, strategy_choices
from annotator.services.active_learning import rescore_request

POLL_INTERVAL = "2s"


@project_page(Capability.VIEW)
@require_GET
def active_learning_page(request: HttpRequest, project: Project) -> HttpResponse:
    overview = active_learning_overview(project=project)
    context = {
        "project": project,
        "al": overview,
        "curve": al_learning_curve_svg(overview.points),
        "class_curves": class_estimates_svg(overview.classes, overview.target_f1),
        "latest_pct": f"{overview.stopping.latest * 100:.1f}" if overview.stopping.latest is not None else "",
        "threshold_pct": f"{overview.stopping.threshold * 100:.0f}",
        "latest_point": overview.points[-1] if overview.points else None,
        # Each job with what this role may see of it (annotators: no error text or server paths).
        "rescore_jobs": [(job, job_for_role(job=job, role=request.project_role)) for job in overview.jobs],
        "can_rescore": role_can(request.project_role, Capability.RUN_JOBS),
        # The strategy chooser: every role sees the strategies and their measured areas; admins choose.
        "strategies": strategy_choices(),
        "area_source": benchmark_source(),
        "can_change_settings": role_can(request.project_role, Capability.CHANGE_SETTINGS),
        "poll_interval": POLL_INTERVAL,
    }
    if request.headers.get("HX-Request"):
        return render(request, "annotator/partials/al_status.html", context)
    return render(request, "annotator/active_learning.html", context)


@project_page(Capability.RUN_JOBS)
@require_POST
def active_learning_rescore(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        job, created = rescore_request(project=project, by=request.user, reason="manual")
    except ValidationError as error:  # too many unfinished jobs
        messages.error(request, " ".join(error.messages))
        return redirect("active-learning", project_id=project.pk)
    if created:
        messages.success(request, _("Rescoring job #{number} queued.").format(number=job.pk))
    elif job.status == JobStatus.RUNNING:
        messages.info(
            request,
            _("Rescoring job #{number} is running; one more run with the newest labels follows it.").format(
                number=job.pk
            ),
        )
    else:
        messages.info(
            request,
            _("Rescoring job #{number} is already waiting; it will use the newest labels.").format(number=job.pk),
        )
    return redirect("active-learning", project_id=project.pk)
