"""Experts' pages: reviewing counted annotations (with corrections) and the adjudication queue.

Both work as plain forms (GET filters, POST then redirect back with a flash); htmx swaps only the
corrected row, or the next item to adjudicate, without a full page load.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.i18n import translated_choices
from annotator.models import Annotation, AnnotationSource, Item, Label, Project, TaskType
from annotator.params import query_id
from annotator.permissions import Capability
from annotator.selectors.items import disagreement_item_ids
from annotator.selectors.review import (
    ReviewFilters,
    adjudicated_item_ids,
    adjudication_cases,
    flagged_items,
    label_chips,
    label_choices,
    next_disagreement,
    review_annotations,
    review_annotators,
    review_rows,
)
from annotator.services.review import annotation_correct, item_adjudicate

REVIEW_PER_PAGE = 50
ADJUDICATED_PER_PAGE = 20
UPCOMING_SHOWN = 50
CORRECTED = gettext_lazy("Corrected annotation {pk}.")
UNCHANGED = gettext_lazy("Annotation {pk} already has these labels: nothing changed.")
DECIDED = gettext_lazy("Decided item {pk}.")


class ReviewFilterForm(forms.Form):
    label = forms.TypedChoiceField(
        label=gettext_lazy("Label"), coerce=int, required=False, empty_value=None
    )  # with the labels below it
    annotator = forms.TypedChoiceField(label=gettext_lazy("Annotator"), coerce=int, required=False, empty_value=None)
    source = forms.ChoiceField(
        label=gettext_lazy("Source"),
        required=False,
        choices=[("", gettext_lazy("Any source")), *translated_choices(AnnotationSource.choices)],
    )
    flagged = forms.BooleanField(required=False, label=gettext_lazy("Flagged as unclear"))
    disagreement = forms.BooleanField(required=False, label=gettext_lazy("In disagreement"))
    created_from = forms.DateField(
        required=False, label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        required=False, label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        chips = label_chips(project=project).values()
        self.fields["label"].choices = [("", gettext_lazy("Any label")), *((chip.pk, chip.path) for chip in chips)]
        annotators = review_annotators(project=project).values_list("pk", "username")
        self.fields["annotator"].choices = [("", gettext_lazy("Anyone")), *annotators]

    def filters(self) -> ReviewFilters:
        """The valid filters: an invalid one is left out (and the form reports it)."""
        self.is_valid()
        data = self.cleaned_data
        return ReviewFilters(
            label_id=data.get("label"),
            annotator_id=data.get("annotator"),
            source=data.get("source") or None,
            flagged=bool(data.get("flagged")),
            disagreement=bool(data.get("disagreement")),
            created_from=data.get("created_from"),
            created_to=data.get("created_to"),
        )


class LabelPickForm(forms.Form):
    """The labels an expert chooses (active labels of the project) and an optional note."""

    labels = forms.ModelMultipleChoiceField(label=gettext_lazy("Labels"), queryset=Label.objects.none())
    note = forms.CharField(label=gettext_lazy("Note"), max_length=500, required=False)

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["labels"].queryset = Label.objects.filter(project=project, active=True)


def _errors(form: forms.Form) -> str:
    return " ".join(" ".join(errors) for errors in form.errors.values())


def _picker_context(project: Project) -> dict:
    return {"choices": label_choices(project=project), "multi": project.task_type == TaskType.MULTI_LABEL}


# --- review -----------------------------------------------------------------------------------------------------


@project_page(Capability.REVIEW)
@require_GET
def review_page(request: HttpRequest, project: Project) -> HttpResponse:
    form = ReviewFilterForm(request.GET, project=project)
    filters = form.filters()
    annotations = review_annotations(project=project, filters=filters)
    page = Paginator(annotations, REVIEW_PER_PAGE).get_page(request.GET.get("page"))
    flagged = flagged_items(project=project)
    context = {
        "project": project,
        "form": form,
        "page": page,
        "flagged_count": flagged.count(),
        # With the "flagged" filter the flagged items themselves come first: most have no annotation.
        "flagged_page": (
            Paginator(flagged, REVIEW_PER_PAGE).get_page(request.GET.get("flagged_page")) if filters.flagged else None
        ),
        "rows": review_rows(annotations=page, chips=label_chips(project=project)),
        "back": request.GET.urlencode(),  # a correction comes back to these filters and this page
        **_picker_context(project),
    }
    return render(request, "annotator/review.html", context)


@project_page(Capability.REVIEW)
@require_POST
def review_correct(request: HttpRequest, project: Project, annotation_id: int) -> HttpResponse:
    """Correct one annotation's labels; htmx swaps the row, a plain post goes back to the same filters."""
    annotation = get_object_or_404(Annotation, pk=annotation_id, item__project=project)
    form = LabelPickForm(request.POST, project=project)
    success, error = None, None
    if form.is_valid():
        try:
            revision = annotation_correct(
                annotation=annotation,
                by=request.user,
                labels=list(form.cleaned_data["labels"]),
                note=form.cleaned_data["note"],
            )
            success = (CORRECTED if revision else UNCHANGED).format(pk=annotation.pk)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = _errors(form)
    back = QueryDict(request.POST.get("back", "")).urlencode()  # re-encoded: only a query string goes back
    if request.htmx:
        rows = review_rows(
            annotations=review_annotations(project=project).filter(pk=annotation.pk),
            chips=label_chips(project=project),
        )
        context = {"project": project, "row": rows[0], "back": back, "success": success, "error": error}
        return render(request, "annotator/partials/review_row.html", context | _picker_context(project))
    if error:
        messages.error(request, _("Annotation {number}: {error}").format(number=annotation.pk, error=error))
    else:
        messages.success(request, success)
    url = reverse("review", kwargs={"project_id": project.pk})
    return redirect(f"{url}?{back}" if back else url)


# --- adjudication -----------------------------------------------------------------------------------------------


def _adjudication_panel(project: Project, item_id: int | None, waiting: list[int]) -> dict:
    """What the panel shows: one item to decide (the first waiting one by default) and what comes next."""
    item_id = item_id if item_id is not None else next_disagreement(waiting)
    case = None
    if item_id is not None:
        cases = adjudication_cases(project=project, item_ids=[item_id], chips=label_chips(project=project))
        if not cases:
            raise Http404(_("No such item in this project."))
        case = cases[0]
    upcoming_ids = [pk for pk in waiting if pk != item_id][:UPCOMING_SHOWN]
    upcoming = Item.objects.filter(pk__in=upcoming_ids).in_bulk()
    return {
        "project": project,
        "case": case,
        "waiting": len(waiting),
        "skip_to": next_disagreement([pk for pk in waiting if pk != item_id], after=item_id),
        "upcoming": [upcoming[pk] for pk in upcoming_ids if pk in upcoming],
        **_picker_context(project),
    }


@project_page(Capability.REVIEW)
@require_GET
def adjudication_page(request: HttpRequest, project: Project) -> HttpResponse:
    """The disagreements one after another (`?item=` picks one); `?show=done` lists the decided items."""
    if request.GET.get("show") == "done":
        page = Paginator(adjudicated_item_ids(project=project), ADJUDICATED_PER_PAGE).get_page(request.GET.get("page"))
        cases = adjudication_cases(project=project, item_ids=list(page), chips=label_chips(project=project))
        context = {"project": project, "page": page, "cases": cases, "show_done": True}
        return render(request, "annotator/adjudication.html", context)
    waiting = disagreement_item_ids(project=project)
    context = _adjudication_panel(project, query_id(request.GET, "item"), waiting)
    return render(request, "annotator/adjudication.html", context)


@project_page(Capability.REVIEW)
@require_POST
def adjudicate(request: HttpRequest, project: Project, item_id: int) -> HttpResponse:
    """Record the expert's final label(s) for an item, then show the next disagreement."""
    item = get_object_or_404(Item, pk=item_id, project=project)
    form = LabelPickForm(request.POST, project=project)
    error = None
    if form.is_valid():
        try:
            item_adjudicate(
                item=item, by=request.user, labels=list(form.cleaned_data["labels"]), note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = _errors(form)
    waiting = disagreement_item_ids(project=project)
    following = item.pk if error else next_disagreement(waiting, after=item.pk)
    if request.htmx:
        context = _adjudication_panel(project, following, waiting)
        context |= {"error": error} if error else {"success": DECIDED.format(pk=item.pk)}
        return render(request, "annotator/partials/adjudication_panel.html", context)
    if error:
        messages.error(request, _("Item {number}: {error}").format(number=item.pk, error=error))
    else:
        messages.success(request, DECIDED.format(pk=item.pk))
    url = reverse("adjudication", kwargs={"project_id": project.pk})
    return redirect(f"{url}?item={following}" if following is not None else url)
