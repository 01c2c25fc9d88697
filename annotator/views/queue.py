"""The annotation page: one item at a time, driven from the keyboard (static/labelloop/queue.js).

Every action answers with the next item's panel, which htmx swaps in; without JavaScript the forms
still work and the page reloads. Nothing here runs a model: suggestions and the order were stored
by workers beforehand.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.models import Item, Label, Project, TaskType
from annotator.params import parse_id, query_id
from annotator.permissions import Capability
from annotator.selectors.queue import (
    QueueItem,
    keyword_spans,
    label_keys,
    labels_since,
    latest_score_run,
    queue_item,
)
from annotator.services.binary_queue import binary_accept, binary_next_item, binary_reject
from annotator.services.queue import (
    QueueConflict,
    previous_submission,
    queue_answer_check,
    queue_next_item,
    queue_skip,
)
from annotator.services.queue import queue_submit as queue_submit_service

# Longer texts start collapsed (E expands them).
COLLAPSE_AFTER_CHARS = 1500
BINARY_DECISIONS = ("accept", "reject", "skip")
NOT_YOURS = gettext_lazy("This item is not one of yours: the queue opens only items it gave you or that you answered.")


def _panel_context(project: Project, entry: QueueItem | None, *, notice: str = "", error: str = "") -> dict:
    context = {"project": project, "entry": entry, "notice": notice, "error": error, "collapse": False}
    if entry is not None:
        context["spans"] = keyword_spans(project=project, text=entry.item.text)
        context["collapse"] = len(entry.item.text) > COLLAPSE_AFTER_CHARS
        context["labels_by_id"] = {label.pk: label for label in project.labels.all()}
    return context


def _render_panel(
    request: HttpRequest, project: Project, entry: QueueItem | None, *, status: int = 200, **extra
) -> HttpResponse:
    context = _panel_context(project, entry, **extra)
    context["keys"] = label_keys(project=project)
    context["multi"] = project.task_type == TaskType.MULTI_LABEL
    # An htmx answer carries the header line too (out of band): its label count follows every submit.
    template = "annotator/partials/queue_panel_htmx.html" if request.htmx else "annotator/queue.html"
    run = latest_score_run(project=project)
    context.update(score_run=run, labels_since=labels_since(project=project, run=run))
    return render(request, template, context, status=status)


def _refused_status(request: HttpRequest) -> int:
    """409 for a plain request; htmx swaps only 2xx answers, so it gets 200 and the error in the panel."""
    return 200 if request.htmx else 409


def _may_open(item: Item, request: HttpRequest) -> bool:
    """Whether the page may show `item` to the person: one the queue gave them or that they answered."""
    try:
        queue_answer_check(item=item, user=request.user, needs_slot=False)
    except (PermissionDenied, QueueConflict):
        return False
    return True


def _next_entry(project: Project, request: HttpRequest) -> QueueItem | None:
    item = queue_next_item(project=project, user=request.user)
    return queue_item(item=item, user=request.user, fresh=True) if item else None


@project_page(Capability.ANNOTATE)
@require_GET
def queue_page(request: HttpRequest, project: Project) -> HttpResponse:
    """The next item; `?item=ID` opens one the person annotated before, to change their answer."""
    item_id = query_id(request.GET, "item")
    if item_id is not None:
        item = get_project_object(Item, project, pk=item_id)
        if not _may_open(item, request):
            raise Http404(NOT_YOURS)
        return _render_panel(request, project, queue_item(item=item, user=request.user), notice=_("Editing an item."))
    return _render_panel(request, project, _next_entry(project, request))


def _chosen_labels(request: HttpRequest, project: Project) -> list[Label]:
    ids = [pk for pk in map(parse_id, request.POST.getlist("labels")) if pk is not None]
    return list(Label.objects.filter(project=project, pk__in=ids))


@project_page(Capability.ANNOTATE)
@require_POST
def queue_submit(request: HttpRequest, project: Project, item_id: int) -> HttpResponse:
    item = get_project_object(Item, project, pk=item_id)
    try:
        queue_submit_service(item=item, annotator=request.user, labels=_chosen_labels(request, project))
    except ValidationError as error:
        entry = queue_item(item=item, user=request.user)
        return _render_panel(request, project, entry, error=" ".join(error.messages))
    except QueueConflict as conflict:
        return _render_panel(
            request, project, _next_entry(project, request), error=_(conflict.message), status=_refused_status(request)
        )
    if not request.htmx:
        return redirect("queue", project_id=project.pk)
    return _render_panel(request, project, _next_entry(project, request), notice=_("Saved."))


@project_page(Capability.ANNOTATE)
@require_POST
def queue_skip_view(request: HttpRequest, project: Project, item_id: int) -> HttpResponse:
    """S skips; F flags the item as unclear (with an optional comment) and moves on."""
    item = get_project_object(Item, project, pk=item_id)
    unclear = request.POST.get("unclear") == "1"
    try:
        queue_skip(item=item, user=request.user, unclear=unclear, comment=request.POST.get("comment", ""))
    except QueueConflict as conflict:
        return _render_panel(
            request, project, _next_entry(project, request), error=_(conflict.message), status=_refused_status(request)
        )
    if not request.htmx:
        return redirect("queue", project_id=project.pk)
    notice = _("Flagged as unclear for the experts.") if unclear else _("Skipped.")
    return _render_panel(request, project, _next_entry(project, request), notice=notice)


@project_page(Capability.ANNOTATE)
@require_GET
def queue_undo(request: HttpRequest, project: Project) -> HttpResponse:
    """U: back to the person's previous submission (before the item shown), with their labels selected."""
    before_id = query_id(request.GET, "before")
    before = Item.objects.filter(project=project, pk=before_id).first() if before_id else None
    annotation = previous_submission(project=project, user=request.user, before=before)
    if annotation is None:
        mine = before is not None and _may_open(before, request)
        current = queue_item(item=before, user=request.user) if mine else _next_entry(project, request)
        return _render_panel(request, project, current, notice=_("Nothing earlier to undo."))
    entry = queue_item(item=annotation.item, user=request.user)
    return _render_panel(request, project, entry, notice=_("Your earlier answer: change it and press Enter."))


# --- binary mode ---------------------------------------------------------------------------------------------


def _render_binary(
    request: HttpRequest, project: Project, label: Label, item: Item | None, notice: str = "", status: int = 200
):
    context = {"project": project, "label": label, "item": item, "notice": notice}
    if item is not None:
        context["entry"] = queue_item(item=item, user=request.user)
        context["spans"] = keyword_spans(project=project, text=item.text)
        context["collapse"] = len(item.text) > COLLAPSE_AFTER_CHARS
    template = "annotator/partials/binary_panel.html" if request.htmx else "annotator/binary.html"
    return render(request, template, context, status=status)


@project_page(Capability.ANNOTATE)
@require_GET
def binary_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_object_or_404(Label, project=project, pk=label_id, active=True)
    item = binary_next_item(project=project, user=request.user, label=label)
    return _render_binary(request, project, label, item)


@project_page(Capability.ANNOTATE)
@require_POST
def binary_decide(request: HttpRequest, project: Project, label_id: int, item_id: int, decision: str) -> HttpResponse:
    """A: the label applies; X: it does not; space: skip."""
    label = get_object_or_404(Label, project=project, pk=label_id, active=True)
    item = get_project_object(Item, project, pk=item_id)
    if decision not in BINARY_DECISIONS:
        return HttpResponse(status=404)
    notice = {"accept": _("Accepted."), "reject": _("Rejected."), "skip": _("Skipped.")}[decision]
    try:
        if decision == "accept":
            binary_accept(item=item, user=request.user, label=label)
        elif decision == "reject":
            binary_reject(item=item, user=request.user, label=label)
        else:
            queue_skip(item=item, user=request.user)
    except ValidationError as error:
        notice = " ".join(error.messages)
    except QueueConflict as conflict:
        next_item = binary_next_item(project=project, user=request.user, label=label)
        return _render_binary(request, project, label, next_item, conflict.message, status=_refused_status(request))
    if not request.htmx:
        return redirect("queue-binary", project_id=project.pk, label_id=label.pk)
    return _render_binary(
        request, project, label, binary_next_item(project=project, user=request.user, label=label), notice
    )
