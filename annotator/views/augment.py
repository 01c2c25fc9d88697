"""The augmentation page (issue 24): counts per class before and after, the job that writes augmented
copies of scarce classes' items (start, progress, cancel), and the sample browser where experts accept
or reject copies in bulk, with the keyboard or with buttons.

Everything works as plain forms (POST, then back to the same filters with a flash); with htmx a
decision swaps only the results part (counts and samples) and the job card polls its own partial.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.models import AugmentStatus, Job, ModelVersion, Project
from annotator.params import parse_id
from annotator.permissions import Capability
from annotator.selectors.augment import augment_overview, augment_samples
from annotator.selectors.augment_pages import latest_augment_job
from annotator.selectors.jobs import job_for_role
from annotator.services.augment import augment_decide, augment_start
from annotator.services.jobs import job_request_cancel
from annotator.views.augment_presenter import class_bars, sample_rows

SAMPLES_PER_PAGE = 50
MAX_OFFSET_DIGITS = 9  # a longer offset would overflow the database's integer
POLL_INTERVAL = "1s"
JOB_FINISHED_EVENT = "job-finished"  # as views.jobs sends it: the results part refreshes on it
DEFAULT_COPIES = 4
DEFAULT_OPS = 4  # the language's first ops start ticked (EDA's four for English)
DEFAULT_STRENGTH = 0.1
MAX_STRENGTH = 0.5  # more than half the words changed is a new text, not a copy that keeps the label
ANY = ""
ACTIONS = {"accept": AugmentStatus.ACCEPTED, "reject": AugmentStatus.REJECTED, "accept_shown": AugmentStatus.ACCEPTED}
# The ops as the page describes them, in the reader's language (mlcore's own descriptions are English;
# an op added there without an entry here shows mlcore's).
OP_DESCRIPTIONS = {
    "synonym": gettext_lazy("Replace words by synonyms (English: WordNet; Chinese: the Cilin thesaurus)."),
    "insert": gettext_lazy("Insert a synonym of a random word at a random position."),
    "swap": gettext_lazy("Swap two random words."),
    "delete": gettext_lazy("Delete each word with the probability set by the strength."),
    "unk": gettext_lazy("Replace words by the unknown token [UNK]."),
    "nsample": gettext_lazy("Keep some of the sentences, in order (long texts; one-sentence texts get no copy)."),
    "pos_replace": gettext_lazy("Replace a word by another word of the same part of speech (Chinese)."),
    "char_swap": gettext_lazy("Swap two characters (Chinese)."),
    "char_delete": gettext_lazy("Delete characters (Chinese)."),
    "backtranslate": gettext_lazy("Translate into another language and back with two local models."),
    "mlm": gettext_lazy("Replace words by a masked language model's guesses in context."),
}
NOTHING_SELECTED = gettext_lazy("Select copies first (X on a focused row, or the boxes), or accept all shown.")


class AugmentStartForm(forms.Form):
    """What the job reads: its choices are the project's classes, ops and model versions."""

    classes = forms.TypedMultipleChoiceField(
        coerce=int,
        label=gettext_lazy("Classes"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one class.")},
    )
    ops = forms.MultipleChoiceField(
        label=gettext_lazy("Operations"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one operation.")},
    )
    copies = forms.IntegerField(
        label=gettext_lazy("Copies per item"),
        min_value=1,
        initial=DEFAULT_COPIES,
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    strength = forms.FloatField(
        label=gettext_lazy("Strength"),
        required=False,
        min_value=0.01,
        max_value=MAX_STRENGTH,
        initial=DEFAULT_STRENGTH,
        help_text=gettext_lazy("The share of words each copy changes (at least one)."),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "max": str(MAX_STRENGTH)}),
    )
    use_filter = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("Keep only copies a model still gives the source's label"),
    )
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        label=gettext_lazy("Filter model"),
        empty_label=gettext_lazy("the active model, else the newest"),
    )

    def __init__(self, *args, project: Project, overview: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["classes"].choices = [
            (row["label_id"], format_html('{} <span class="muted">({})</span>', row["name"], row["labeled"]))
            for row in overview["classes"]
        ]
        # Every op of the language, plug-ins without a model included: the service says what is missing.
        self.fields["ops"].choices = [(op["name"], op["name"]) for op in overview["ops"]]
        copies = self.fields["copies"]
        copies.max_value = overview["max_copies"]
        copies.validators.append(MaxValueValidator(overview["max_copies"]))
        copies.widget.attrs["max"] = overview["max_copies"]
        self.fields["model_version"].queryset = ModelVersion.objects.filter(project=project).order_by("-number")
        if not self.is_bound:
            self.initial["classes"] = list(overview["default_class_ids"])
            # The filter needs a model: without one it starts off, so the first job can run before any training.
            self.initial["use_filter"] = overview["filter_version"] is not None
            self.initial["ops"] = [op["name"] for op in overview["ops"] if not op["needs_model"]][:DEFAULT_OPS]

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "classes": data["classes"],
            "ops": data["ops"],
            "copies": data["copies"],
            "strength": DEFAULT_STRENGTH if data["strength"] is None else data["strength"],
            "use_filter": data["use_filter"],
            "model_version": data["model_version"],
        }


class SampleFilterForm(forms.Form):
    """The sample browser's filters (a GET form; the decisions carry them back in `back`)."""

    label = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label=gettext_lazy("Class"))
    op = forms.ChoiceField(required=False, label=gettext_lazy("Operation"))
    status = forms.ChoiceField(required=False, label=gettext_lazy("Status"))

    def __init__(self, *args, overview: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [(ANY, _("Any class"))] + [
            (row["label_id"], row["name"]) for row in overview["classes"]
        ]
        self.fields["op"].choices = [(ANY, _("Any operation"))] + [(op["name"], op["name"]) for op in overview["ops"]]
        self.fields["status"].choices = [(ANY, _("Any status"))] + [
            (value, _(name)) for value, name in AugmentStatus.choices
        ]

    def filters(self) -> dict:
        """{label_id, op, status} for the selector; a malformed filter is ignored (shows everything)."""
        if not self.is_valid():
            return {"label_id": None, "op": None, "status": AugmentStatus.PENDING}
        data = self.cleaned_data
        return {"label_id": data["label"], "op": data["op"] or None, "status": data["status"] or None}


def _filters_from(params: QueryDict, overview: dict) -> tuple[SampleFilterForm, dict]:
    # The first visit shows what waits for review; "any status" is an explicit empty choice.
    data = params if "status" in params else QueryDict(f"status={AugmentStatus.PENDING}")
    form = SampleFilterForm(data, overview=overview)
    return form, form.filters()


def _offset(params: QueryDict) -> int:
    """Where the page of samples starts; anything but a small whole number is the first page."""
    raw = params.get("offset", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_OFFSET_DIGITS else 0


def _results_context(request: HttpRequest, project: Project, overview: dict, params: QueryDict) -> dict:
    """The counts per class and one page of samples under the filters in `params`."""
    filter_form, filters = _filters_from(params, overview)
    offset = _offset(params)
    # One more than a page tells whether there is a next page without counting the whole table.
    samples = augment_samples(project=project, **filters, limit=SAMPLES_PER_PAGE + 1, offset=offset)
    back = params.copy()
    back.pop("part", None)  # the refresh's marker, not a filter
    filters_only = back.copy()
    filters_only.pop("offset", None)
    return {
        "project": project,
        "bars": class_bars(overview),
        "filter_form": filter_form,
        "samples": sample_rows(samples[:SAMPLES_PER_PAGE]),
        "offset": offset,
        "previous_offset": max(offset - SAMPLES_PER_PAGE, 0) if offset else None,
        "next_offset": offset + SAMPLES_PER_PAGE if len(samples) > SAMPLES_PER_PAGE else None,
        "back": back.urlencode(),
        "filter_query": filters_only.urlencode(),
    }


def _job_context(request: HttpRequest, project: Project, job: Job | None) -> dict:
    return {
        "project": project,
        "job": job,
        "shown": job_for_role(job=job, role=request.project_role) if job else None,
        "poll_interval": POLL_INTERVAL,
    }


def _overview(project: Project) -> dict:
    """The selector's overview with each op described in the reader's language."""
    overview = augment_overview(project=project)
    overview["ops"] = [
        {**op, "description": OP_DESCRIPTIONS.get(op["name"], op["description"])} for op in overview["ops"]
    ]
    return overview


def _page(request: HttpRequest, project: Project, *, start_form: AugmentStartForm | None = None, status: int = 200):
    # The job first: a job seen running makes the card poll and the results reload when it ends; a job
    # seen finished had stored its copies before, so the counts and the samples read next both see them.
    # Read after them, a job that stored its copies between the two reads showed the rows with 0 waiting.
    job_context = _job_context(request, project, latest_augment_job(project=project))
    overview = _overview(project)
    context = {
        **_results_context(request, project, overview, request.GET),
        **job_context,
        "overview": overview,
        "start_form": start_form or AugmentStartForm(project=project, overview=overview),
    }
    return render(request, "annotator/augment.html", context, status=status)


@project_page(Capability.AUGMENT)
@require_GET
def augment_page(request: HttpRequest, project: Project) -> HttpResponse:
    if request.htmx and request.GET.get("part") == "results":  # the refresh after the job ends
        overview = augment_overview(project=project)
        return render(
            request,
            "annotator/partials/augment_results.html",
            _results_context(request, project, overview, request.GET),
        )
    return _page(request, project)


@project_page(Capability.AUGMENT)
@require_POST
def augment_start_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Queue an augmentation job; a bad field shows the form again with the error at that field (400)."""
    form = AugmentStartForm(request.POST, project=project, overview=_overview(project))
    if not form.is_valid():
        return _page(request, project, start_form=form, status=400)
    try:
        job = augment_start(project=project, user=request.user, **form.service_fields())
    except ValidationError as error:  # an op or class the service refuses, no model for the filter, ...
        form.add_error(None, " ".join(error.messages))
        return _page(request, project, start_form=form, status=400)
    messages.success(request, _("Augmentation job #{number} queued.").format(number=job.pk))
    return redirect("augment-page", project_id=project.pk)


@project_page(Capability.AUGMENT)
@require_GET
def augment_job(request: HttpRequest, project: Project, job_id: int) -> HttpResponse:
    """The job card (htmx polls it while the job runs); the poll that sees the end says so (HX-Trigger)."""
    job = get_project_object(Job, project, pk=job_id, kind="augment")
    response = render(request, "annotator/partials/augment_job.html", _job_context(request, project, job))
    if job.is_finished:
        response["HX-Trigger"] = JOB_FINISHED_EVENT
    return response


@project_page(Capability.AUGMENT)
@require_POST
def augment_cancel(request: HttpRequest, project: Project, job_id: int) -> HttpResponse:
    """Stop an augmentation job: it writes nothing (the copies are stored in one transaction at the end)."""
    job = get_project_object(Job, project, pk=job_id, kind="augment")
    try:
        job = job_request_cancel(job=job)
    except ValidationError as error:
        if not request.htmx:
            messages.error(request, " ".join(error.messages))
    if request.htmx:
        return render(request, "annotator/partials/augment_job.html", _job_context(request, project, job))
    return redirect("augment-page", project_id=project.pk)


def _decided(status: str, n: int) -> str:
    if status == AugmentStatus.ACCEPTED:
        return ngettext("Accepted {n} copy.", "Accepted {n} copies.", n).format(n=n)
    return ngettext("Rejected {n} copy.", "Rejected {n} copies.", n).format(n=n)


def _chosen_ids(post: QueryDict, action: str) -> list[int] | None:
    """The copies a decision is about: those selected, or every one shown; None if an id is malformed."""
    ids = [parse_id(value) for value in post.getlist("shown" if action == "accept_shown" else "ids")]
    return None if None in ids else ids


@project_page(Capability.AUGMENT)
@require_POST
def augment_decide_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Accept or reject copies in bulk; htmx swaps the counts and samples, a plain post goes back."""
    action = request.POST.get("action", "")
    ids = _chosen_ids(request.POST, action)
    success, error = None, None
    if action not in ACTIONS or ids is None:
        error = _("Choose accept or reject, and copies by their ids.")
    elif not ids:
        error = str(NOTHING_SELECTED)
    else:
        status = ACTIONS[action]
        try:
            n = augment_decide(project=project, user=request.user, copy_ids=ids, status=status)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            success = _decided(status, n)
    back = QueryDict(request.POST.get("back", ""))  # re-encoded: only a query string goes back
    if request.htmx:
        overview = augment_overview(project=project)
        context = _results_context(request, project, overview, back) | {"success": success, "error": error}
        # 200 even for a refusal: htmx swaps only successful answers, and the message belongs in the part.
        return render(request, "annotator/partials/augment_results.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, success)
    url = reverse("augment-page", kwargs={"project_id": project.pk})
    return redirect(f"{url}?{back.urlencode()}" if back else url)
