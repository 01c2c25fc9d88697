"""The label-tree editor and the taxonomy history.

Every edit is a plain form POST that redirects back to the editor with a flash (success, or the
service's refusal), so the page works without JavaScript. htmx adds two things on top: the inline
rename form swaps into its row, and the merge dialog loads its preview fragment.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.access import get_project_object, project_page
from annotator.i18n import translated_choices
from annotator.models import Label, LabelKind, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.label_pages import (
    DOWN,
    UP,
    archived_label_rows,
    label_editor_rows,
    label_reorder_position,
    suggested_label_color,
)
from annotator.selectors.labels import label_path, merge_preview, taxonomy_history
from annotator.services.taxonomy import (
    label_archive,
    label_create,
    label_delete,
    label_merge,
    label_move,
    label_reorder,
    label_restore,
    label_split,
    label_update,
)

HISTORY_LIMIT = 500
COLOR_RE = r"^#[0-9a-fA-F]{6}$"


class _ProjectLabelForm(forms.Form):
    """A form whose label fields accept only labels of `project`."""

    label_fields: tuple[str, ...] = ()

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.label_fields:
            self.fields[name].queryset = Label.objects.filter(project=project)


class LabelCreateForm(_ProjectLabelForm):
    label_fields = ("parent",)

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    parent = forms.ModelChoiceField(label=gettext_lazy("Parent"), queryset=Label.objects.none(), required=False)
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=translated_choices(LabelKind.choices), initial=LabelKind.NORMAL
    )
    color = forms.RegexField(label=gettext_lazy("Color"), regex=COLOR_RE, required=False)
    shortcut = forms.CharField(label=gettext_lazy("Shortcut key"), max_length=1, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False)


class LabelEditForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    color = forms.RegexField(label=gettext_lazy("Color"), regex=COLOR_RE)
    shortcut = forms.CharField(label=gettext_lazy("Shortcut key"), max_length=1, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False)


class LabelMoveForm(_ProjectLabelForm):
    label_fields = ("parent",)

    parent = forms.ModelChoiceField(
        label=gettext_lazy("Parent"),
        queryset=Label.objects.none(),
        required=False,
        help_text=gettext_lazy("Empty: the top level."),
    )


class LabelReorderForm(forms.Form):
    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"), choices=[(UP, gettext_lazy("Up")), (DOWN, gettext_lazy("Down"))]
    )


class LabelMergeForm(_ProjectLabelForm):
    label_fields = ("target",)

    target = forms.ModelChoiceField(label=gettext_lazy("Target"), queryset=Label.objects.none())


class LabelSplitForm(forms.Form):
    children = forms.CharField(
        label=gettext_lazy("Children"), widget=forms.Textarea, help_text=gettext_lazy("One new child label per line.")
    )

    def names(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["children"].splitlines() if line.strip()]


# --- reads ------------------------------------------------------------------------------------------------------


@project_page(Capability.VIEW)
@require_GET
def label_tree_page(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "rows": label_editor_rows(project=project),
        "archived": archived_label_rows(project=project),
        "can_edit": role_can(request.project_role, Capability.EDIT_TAXONOMY),
        "kinds": LabelKind.choices,
        "suggested_color": suggested_label_color(project=project),
    }
    return render(request, "annotator/labels.html", context)


@project_page(Capability.VIEW)
@require_GET
def label_history(request: HttpRequest, project: Project) -> HttpResponse:
    events = taxonomy_history(project=project)[:HISTORY_LIMIT]
    return render(request, "annotator/label_history.html", {"project": project, "events": events})


@project_page(Capability.EDIT_TAXONOMY)
@require_GET
def label_merge_preview(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    """The merge dialog's preview (a fragment for htmx, a confirmation page without JavaScript)."""
    source = get_project_object(Label, project, pk=label_id)
    form = LabelMergeForm(request.GET, project=project)
    context = {"project": project, "source": source, "source_path": label_path(source)}
    if form.is_valid():
        target = form.cleaned_data["target"]
        context |= {
            "target": target,
            "target_path": label_path(target),
            "preview": merge_preview(source=source, target=target),
        }
    else:
        context["error"] = _form_errors(form)
    template = "annotator/partials/merge_preview.html" if request.htmx else "annotator/label_merge.html"
    # htmx swaps only 2xx responses, so the fragment carries its error with a 200.
    status = 400 if "error" in context and not request.htmx else 200
    return render(request, template, context, status=status)


# --- edits ------------------------------------------------------------------------------------------------------


def _form_errors(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[field].label or field.capitalize()}: {' '.join(errors)}"
        if field != "__all__"
        else " ".join(errors)
        for field, errors in form.errors.items()
    )


def _edit(request: HttpRequest, project: Project, form: forms.Form, edit: Callable[[], str]) -> HttpResponse:
    """Validate `form`, run `edit` (returns the success message) and go back to the editor with a flash."""
    if not form.is_valid():
        messages.error(request, _form_errors(form))
    else:
        try:
            messages.success(request, edit())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    return redirect("label-tree", project_id=project.pk)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_new(request: HttpRequest, project: Project) -> HttpResponse:
    form = LabelCreateForm(request.POST, project=project)

    def edit() -> str:
        label = label_create(project=project, by=request.user, **form.cleaned_data)
        return _("Created “{path}”.").format(path=label_path(label))

    return _edit(request, project, form, edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_http_methods(["GET", "POST"])
def label_edit(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    """Rename (and recolor…) a label. htmx swaps the form into the row and the saved row back."""
    label = get_project_object(Label, project, pk=label_id)
    if request.method == "GET":
        form = LabelEditForm(
            initial={
                "name": label.name,
                "color": label.color,
                "shortcut": label.shortcut,
                "description": label.description,
            }
        )
        template = "annotator/partials/label_edit_row.html" if request.htmx else "annotator/label_edit.html"
        return render(request, template, {"project": project, "label": label, "form": form})
    form = LabelEditForm(request.POST)
    if not request.htmx:
        return _edit(request, project, form, lambda: _update(label, form, request))
    error = None
    if form.is_valid():
        try:
            messages.success(request, _update(label, form, request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = _form_errors(form)
    if error:
        context = {"project": project, "label": label, "form": form, "error": error}
        return render(request, "annotator/partials/label_edit_row.html", context)
    row = next(row for row in label_editor_rows(project=project) if row.label.pk == label.pk)
    context = {"project": project, "row": row, "can_edit": True, "oob_flashes": True}
    return render(request, "annotator/partials/label_row.html", context)


def _update(label: Label, form: LabelEditForm, request: HttpRequest) -> str:
    old_name = label.name
    label = label_update(label=label, by=request.user, **form.cleaned_data)
    if label.name != old_name:
        return _("Renamed “{old}” to “{new}”.").format(old=old_name, new=label.name)
    return _("Saved “{path}”.").format(path=label_path(label))


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_move_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)
    form = LabelMoveForm(request.POST, project=project)

    def edit() -> str:
        moved = label_move(label=label, new_parent=form.cleaned_data["parent"], by=request.user)
        return _("Moved “{name}” to “{path}”.").format(name=label.name, path=label_path(moved))

    return _edit(request, project, form, edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_reorder_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)
    form = LabelReorderForm(request.POST)

    def edit() -> str:
        direction = form.cleaned_data["direction"]
        position = label_reorder_position(label=label, direction=direction)
        if position is None:
            already = (
                _("“{name}” is already the first here.") if direction == UP else _("“{name}” is already the last here.")
            )
            raise ValidationError(already.format(name=label.name))
        label_reorder(label=label, position=position, by=request.user)
        moved = _("Moved “{name}” up.") if direction == UP else _("Moved “{name}” down.")
        return moved.format(name=label.name)

    return _edit(request, project, form, edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_merge_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    source = get_project_object(Label, project, pk=label_id)
    form = LabelMergeForm(request.POST, project=project)

    def edit() -> str:
        target = form.cleaned_data["target"]
        event = label_merge(source=source, target=target, by=request.user)
        return _("{summary} {n} annotation(s) now carry “{name}”.").format(
            summary=event.summary, n=event.annotations_touched, name=target.name
        )

    return _edit(request, project, form, edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_split_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)
    form = LabelSplitForm(request.POST)

    def edit() -> str:
        children = label_split(label=label, children=form.names(), by=request.user)
        names = ", ".join(f"“{child.name}”" for child in children)
        return _("Split “{name}” into {names}; its annotated items are back in the queue.").format(
            name=label.name, names=names
        )

    return _edit(request, project, form, edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_archive_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)

    def edit() -> str:
        label_archive(label=label, by=request.user)
        return _("Archived “{path}”; restore it from the archived labels below.").format(path=label_path(label))

    return _edit(request, project, forms.Form(request.POST), edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_restore_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)

    def edit() -> str:
        label_restore(label=label, by=request.user)
        return _("Restored “{path}”.").format(path=label_path(label))

    return _edit(request, project, forms.Form(request.POST), edit)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def label_delete_page(request: HttpRequest, project: Project, label_id: int) -> HttpResponse:
    label = get_project_object(Label, project, pk=label_id)

    def edit() -> str:
        path = label_path(label)
        label_delete(label=label, by=request.user)
        return _("Deleted “{path}”.").format(path=path)

    return _edit(request, project, forms.Form(request.POST), edit)
