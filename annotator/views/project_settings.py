"""The project settings page (admins) and the active-learning page's strategy chooser: both change the
project through `services.project_settings`, as `PATCH /api/projects/<id>/settings/` does."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from annotator.access import project_page
from annotator.i18n import translated_choices
from annotator.models import Project, TaskType
from annotator.models.projects import LANGUAGE_CHOICES
from annotator.permissions import Capability
from annotator.selectors.project_settings import backbone_choices, benchmark_source, strategy_choices, task_type_lock
from annotator.services.project_settings import (
    AL_EVERY_LABELS_RANGE,
    AL_TARGET_F1_RANGE,
    BACKBONE_CHANGE_NOTE,
    DESCRIPTION_MAX_LENGTH,
    LANGUAGE_CHANGE_NOTE,
    LEASE_MINUTES_RANGE,
    NAME_MAX_LENGTH,
    OVERLAP_ANNOTATORS_RANGE,
    SETTINGS_FIELDS,
    TASK_TYPE_LOCKED_ERROR,
    SettingChange,
    change_note,
    project_settings_errors,
    project_settings_update,
)

NOTHING_CHANGED = gettext_lazy("Nothing changed.")
SAVED = gettext_lazy("Saved: {changes}.")


class ProjectSettingsForm(forms.Form):
    """Types and the help text people read; ranges and choices are the service's (one set of messages)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=NAME_MAX_LENGTH, strip=False)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Shown on the project page: what the texts are and what the labels are for."),
    )
    task_type = forms.ChoiceField(
        label=gettext_lazy("Task type"),
        choices=translated_choices(TaskType.choices),
        help_text=gettext_lazy(
            "Single-label: one label per text. Multi-label: any number. Fixed once labels or models exist."
        ),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=translated_choices(LANGUAGE_CHOICES),
        help_text=gettext_lazy(LANGUAGE_CHANGE_NOTE),  # msgid listed in annotator/i18n_names.py
    )
    backbone = forms.ChoiceField(
        label=gettext_lazy("Backbone"),
        choices=(),
        help_text=gettext_lazy(BACKBONE_CHANGE_NOTE),
    )
    al_strategy = forms.CharField(label=gettext_lazy("Active-learning strategy"))
    al_every_labels = forms.IntegerField(
        label=gettext_lazy("Rescore every"),
        help_text=format_lazy(
            gettext_lazy(
                "New labels between two rescorings of the pool ({low} to {high}): fewer is fresher, "
                "more is less work for the worker."
            ),
            low=AL_EVERY_LABELS_RANGE[0],
            high=f"{AL_EVERY_LABELS_RANGE[1]:,}",
        ),
    )
    al_target_f1 = forms.FloatField(
        label=gettext_lazy("Target F1"),
        help_text=format_lazy(
            gettext_lazy("The per-class F1 the active-learning page estimates the labels for ({low} to {high})."),
            low=AL_TARGET_F1_RANGE[0],
            high=AL_TARGET_F1_RANGE[1],
        ),
    )
    preselect_suggestion = forms.BooleanField(
        required=False,
        label=gettext_lazy("Correct mode"),
        help_text=gettext_lazy(
            "The model's suggestion comes pre-selected, so annotators only fix its mistakes "
            "(faster, but it can anchor their answer)."
        ),
    )
    overlap_fraction = forms.FloatField(
        label=gettext_lazy("Overlap share"),
        help_text=gettext_lazy(
            "Share of items (0 to 1; 0.1 = 10%) that several people annotate, to measure agreement. "
            "A change applies to items nobody has answered yet."
        ),
    )
    overlap_annotators = forms.IntegerField(
        label=gettext_lazy("People per overlap item"),
        help_text=format_lazy(
            gettext_lazy("{low} to {high}."), low=OVERLAP_ANNOTATORS_RANGE[0], high=OVERLAP_ANNOTATORS_RANGE[1]
        ),
    )
    lease_minutes = forms.IntegerField(
        label=gettext_lazy("Reservation (minutes)"),
        help_text=format_lazy(
            gettext_lazy(
                "How long a served item stays reserved for its annotator ({low} to {high}); after that the "
                "queue may give it to someone else."
            ),
            low=LEASE_MINUTES_RANGE[0],
            high=LEASE_MINUTES_RANGE[1],
        ),
    )
    hidden_meta_fields = forms.CharField(
        required=False,
        label=gettext_lazy("Hidden meta fields"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One item meta key per line that annotators never see (answer keys, source labels); experts and admins do."
        ),
    )

    promotion_max_f1_drop = forms.FloatField(
        label=gettext_lazy("Promotion gate (macro-F1 drop)"),
        help_text=gettext_lazy(
            "A version whose macro-F1 is more than this below the active one's (0.01 = 1 point) becomes "
            "active only with a written reason."
        ),
    )
    rules_bypass = forms.BooleanField(
        required=False,
        label=gettext_lazy("Rules bypass"),
        help_text=gettext_lazy(
            "In /predict, a high-precision seed rule decides where the model is unsure; the model "
            "overrides the rule where it is confident."
        ),
    )
    rules_bypass_min_precision = forms.FloatField(
        label=gettext_lazy("Rule precision at least"),
        help_text=gettext_lazy("Measured on the human-labeled items a rule matches (shown on the Rules page)."),
    )
    rules_bypass_below_confidence = forms.FloatField(
        label=gettext_lazy("Model unsure below"),
        help_text=gettext_lazy("A rule decides only where the model's top probability is below this."),
    )

    def __init__(self, *args, task_type_locked: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["backbone"].choices = [(name, name) for name in backbone_choices()]
        self.fields["task_type"].disabled = task_type_locked

    def clean_hidden_meta_fields(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["hidden_meta_fields"].splitlines() if line.strip()]


def _initial(project: Project) -> dict:
    initial = {field: getattr(project, field) for field in SETTINGS_FIELDS}
    initial["hidden_meta_fields"] = "\n".join(project.hidden_meta_fields or [])
    return initial


def _with_current_backbone(form: ProjectSettingsForm, project: Project) -> None:
    """A backbone that left the allowed list stays selectable as what it is, so saving other fields keeps it."""
    choices = form.fields["backbone"].choices
    if project.backbone not in {name for name, _ in choices}:
        form.fields["backbone"].choices = [
            (project.backbone, gettext("{name} (no longer offered)").format(name=project.backbone)),
            *choices,
        ]


def _changes(form: ProjectSettingsForm, project: Project) -> dict:
    """The form's values; an encoder left as it was is no choice (the page always sends it), so that a
    new language may bring its default encoder (`project_settings_update`)."""
    changes = dict(form.cleaned_data)
    if changes.get("backbone") == project.backbone:
        del changes["backbone"]
    return changes


def _changes_message(made: list[SettingChange]) -> str:
    if not made:
        return str(NOTHING_CHANGED)
    notes = [gettext(change_note(change.field)) for change in made if change_note(change.field)]
    return " ".join([SAVED.format(changes="; ".join(str(change) for change in made)), *notes])


def _render(request: HttpRequest, project: Project, form: ProjectSettingsForm, lock: str, status: int = 200):
    context = {
        "project": project,
        "form": form,
        "task_type_lock": lock,
        "strategies": strategy_choices(),
        "chosen_strategy": form["al_strategy"].value(),
        "area_source": benchmark_source(),
    }
    return render(request, "annotator/project_settings.html", context, status=status)


@project_page(Capability.CHANGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def project_settings_page(request: HttpRequest, project: Project) -> HttpResponse:
    annotations, versions = task_type_lock(project=project)
    lock = (
        gettext(TASK_TYPE_LOCKED_ERROR).format(annotations=annotations, versions=versions)
        if annotations or versions
        else ""
    )
    data = request.POST if request.method == "POST" else None
    form = ProjectSettingsForm(data, initial=_initial(project), task_type_locked=bool(lock))
    _with_current_backbone(form, project)
    if request.method == "GET":
        return _render(request, project, form, lock)
    if form.is_valid():
        try:
            made = project_settings_update(project=project, changes=_changes(form, project), by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _changes_message(made))
            return redirect("project-settings", project_id=project.pk)
    else:  # the fields with a valid type may still be out of range: say so now, not after the next try
        typed = {field: value for field, value in form.cleaned_data.items() if field not in form.errors}
        for field, errors in project_settings_errors(project=project, changes=typed).items():
            form.add_error(field, errors)
    return _render(request, project, form, lock, status=400)


@project_page(Capability.CHANGE_SETTINGS)
@require_POST
def active_learning_strategy(request: HttpRequest, project: Project) -> HttpResponse:
    """The active-learning page's chooser: only the strategy changes."""
    try:
        made = project_settings_update(
            project=project, changes={"al_strategy": request.POST.get("al_strategy", "")}, by=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _changes_message(made))
    return redirect("active-learning", project_id=project.pk)
