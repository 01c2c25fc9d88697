"""The noisy-label review queue: flagged items by score, the experts' keep / relabel / exclude, the
test-split audit, and (admins) the job form and a per-annotator correction rate.

Decisions work as plain forms (POST, then back to the same filters with a flash); htmx swaps only
the decided row, which then offers to reopen the decision.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotator.access import project_page
from annotator.i18n import translated_choices
from annotator.models import Label, NoiseFlag, NoiseSplit, NoiseStatus, Project
from annotator.permissions import Capability, role_can
from annotator.selectors.jobs import job_log_lines
from annotator.selectors.noise import (
    annotator_corrections,
    flag_rows,
    latest_audit_run,
    latest_noise_job,
    latest_noise_run,
    noise_flags,
    noise_status_counts,
)
from annotator.selectors.review import label_chips, label_choices
from annotator.services.noise import (
    AUTO_POLICY,
    DEFAULT_DOUBT_SCORE,
    DEFAULT_FILTER_BY,
    FLAG_REPLACED_ERROR,
    MANUAL_POLICIES,
    noise_flag_exclude,
    noise_flag_keep,
    noise_flag_relabel,
    noise_flag_reopen,
    noise_start,
)
from mlcore.noise import DEFAULT_DETECTORS, DETECTORS, FILTER_BY_CHOICES, CleaningPolicy, cleaning_policy

FLAGS_PER_PAGE = 50
AUDIT_SHOWN = 50
POLL_INTERVAL = "1s"
ALL = "all"
DETECTOR_NAMES = {
    "kfold": gettext_lazy("k-fold disagreement"),
    "confident_learning": gettext_lazy("confident learning (cleanlab)"),
    "deep_knn": gettext_lazy("deep kNN"),
    "kfold_words": gettext_lazy("bag-of-words k-fold"),
    "knn_words": gettext_lazy("bag-of-words kNN"),
    "rules": gettext_lazy("blacklist rules"),
}
GONE_ROW = '<tr id="flag-{pk}"><td colspan="7" class="muted" role="alert">{message}</td></tr>'
DONE = {
    "keep": gettext_lazy("Kept item {pk}'s label."),
    "relabel": gettext_lazy("Relabeled item {pk}."),
    "exclude": gettext_lazy("Excluded item {pk} from training."),
    "reopen": gettext_lazy("Reopened the flag on item {pk}."),
}


FLAGGED_ACTION_NAMES = {
    "relabel": gettext_lazy("flagged items train with the suggested label"),
    "remove": gettext_lazy("flagged items stay out of training"),
    "soft_relabel": gettext_lazy(
        "flagged items train with both labels: the suggested one weighted by how likely the given one is wrong"
    ),
}
POLICY_CHOSEN_BY = {
    "evidence": gettext_lazy(
        "Chosen by evidence: each policy cleaned {folds_minus_one} of {folds} folds of the labeled items, the "
        "fast head trained on them, and the held-out fold was scored by macro-F1 (every label counts the "
        "same), each item weighted by how far the detectors trust its given label ({trusted} items scored). "
        "The best score won."
    ),
    "expert": gettext_lazy("Set when the job was started; no comparison ran."),
    "fallback": gettext_lazy("The comparison could not run ({reason}): the first candidate was used."),
}


def policy_description(policy: CleaningPolicy, threshold: str | None = None) -> str:
    """One line on what a cleaning policy does with open flags, in the reader's language (`threshold`:
    how to name its doubt score, default the number)."""
    parts = [str(FLAGGED_ACTION_NAMES[policy.flagged])]
    if policy.doubt_score is not None:
        score = threshold or f"{policy.doubt_score:g}"
        parts.append(_("unflagged items scoring over {score} are held out").format(score=score))
    if policy.balanced:
        parts.append(_("judged with every label counted equally (for long-tail data)"))
    return "; ".join(parts)


def _manual_policy_label(name: str) -> str:
    hold_out = name.endswith("_hold_out")
    policy = cleaning_policy(f"{name}@{DEFAULT_DOUBT_SCORE:g}" if hold_out else name)
    return f"{name.replace('_', ' ')}: {policy_description(policy, threshold=_('the threshold below'))}"


def policy_rows(run) -> list[dict]:
    """The run's candidate policies, best first: name, what it does, its out-of-fold score, chosen or not."""
    if run is None or not run.policy:
        return []
    scores = (run.policy_choice or {}).get("scores") or {run.policy: None}
    ordered = sorted(scores.items(), key=lambda pair: (pair[1] is None, -(pair[1] or 0.0)))
    return [
        {
            "name": name,
            "description": policy_description(cleaning_policy(name)),
            "score": score,
            "chosen": name == run.policy,
        }
        for name, score in ordered
    ]


def policy_reason(run) -> str:
    """Why the run's policy: how it was chosen, in a sentence."""
    if run is None or not run.policy:
        return ""
    choice = run.policy_choice or {}
    template = POLICY_CHOSEN_BY.get(choice.get("chosen_by", "expert"), POLICY_CHOSEN_BY["expert"])
    folds = int(choice.get("folds") or 0)
    return str(template).format(
        folds=folds, folds_minus_one=max(folds - 1, 0), trusted=choice.get("trusted", 0), reason=choice.get("reason")
    )


def _policy_choices() -> list[tuple[str, str]]:
    # A callable: Django reads it per form, so each option is described in the reader's language.
    return [
        (AUTO_POLICY, _("Choose by evidence (recommended)")),
        *[(name, _manual_policy_label(name)) for name in MANUAL_POLICIES],
    ]


class NoiseStartForm(forms.Form):
    detectors = forms.MultipleChoiceField(
        choices=[(name, DETECTOR_NAMES.get(name, name)) for name in DETECTORS],
        initial=list(DEFAULT_DETECTORS),
        label=gettext_lazy("Detectors"),
        widget=forms.CheckboxSelectMultiple,
    )
    filter_by = forms.ChoiceField(
        choices=translated_choices((name, name.replace("_", " ")) for name in FILTER_BY_CHOICES),
        initial=DEFAULT_FILTER_BY,
        label=gettext_lazy("Confident learning: filter by"),
    )
    audit_test = forms.BooleanField(required=False, label=gettext_lazy("Also audit the locked test split (read-only)"))
    policy = forms.ChoiceField(
        choices=_policy_choices,
        initial=AUTO_POLICY,
        required=False,
        label=gettext_lazy("Cleaning policy"),
        help_text=gettext_lazy(
            "What the next training does with the flags while they are open. By evidence: the job compares "
            "every policy out of fold on this project's labels and applies the best."
        ),
    )
    doubt_score = forms.FloatField(
        required=False,
        initial=DEFAULT_DOUBT_SCORE,
        label=gettext_lazy("Hold out doubtful items scoring above"),
        help_text=gettext_lazy(
            "0-1: unflagged items whose score passes it stay out of training until someone decides."
        ),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
    )


class NoiseFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[*translated_choices(NoiseStatus.choices), (ALL, gettext_lazy("Any status"))]
    )

    def status_or_default(self) -> str:
        self.is_valid()
        return self.cleaned_data.get("status") or NoiseStatus.OPEN


class RelabelForm(forms.Form):
    """The label to give (empty: the suggestion) and an optional note for the item's history."""

    label = forms.ModelChoiceField(label=gettext_lazy("Label"), queryset=Label.objects.none(), required=False)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=500, required=False)

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].queryset = Label.objects.filter(project=project, active=True)


def _share(value: float | None) -> str:
    """A test split's flagged share to one decimal: audits find a few percent, whole percents hide it."""
    return "" if value is None else f"{100 * value:.1f}%"


def _row_context(project: Project) -> dict:
    return {"choices": label_choices(project=project), "detector_names": DETECTOR_NAMES}


@project_page(Capability.REVIEW)
@require_GET
def noise_page(request: HttpRequest, project: Project) -> HttpResponse:
    form = NoiseFilterForm(request.GET)
    status = form.status_or_default()
    chips = label_chips(project=project)
    flags = noise_flags(project=project, status=None if status == ALL else status)
    page = Paginator(flags, FLAGS_PER_PAGE).get_page(request.GET.get("page"))
    audit_run = latest_audit_run(project=project)
    audit = noise_flags(project=project, split=NoiseSplit.TEST, status=None, run=audit_run) if audit_run else None
    job = latest_noise_job(project=project)
    run = latest_noise_run(project=project)
    can_run = role_can(request.project_role, Capability.RUN_JOBS)
    context = {
        "project": project,
        "form": form,
        "status": status,
        "counts": noise_status_counts(project=project),
        "page": page,
        "rows": flag_rows(project=project, flags=page, chips=chips),
        "run": run,
        "policy_rows": policy_rows(run),
        "policy_reason": policy_reason(run),
        "audit_run": audit_run,
        "audit_rows": flag_rows(project=project, flags=audit[:AUDIT_SHOWN], chips=chips) if audit is not None else [],
        "audit_share": _share(audit_run.test_share_flagged) if audit_run else "",
        "job": job,
        "log_lines": job_log_lines(job=job) if job else [],
        "poll_interval": POLL_INTERVAL,
        "can_run": can_run,
        "start_form": NoiseStartForm() if can_run else None,
        # A quiet quality signal: admins only, never shown to the annotators themselves.
        "corrections": annotator_corrections(project=project)
        if role_can(request.project_role, Capability.MANAGE_MEMBERS)
        else None,
        "back": request.GET.urlencode(),
        **_row_context(project),
    }
    return render(request, "annotator/noise.html", context)


@project_page(Capability.RUN_JOBS)
@require_POST
def noise_start_view(request: HttpRequest, project: Project) -> HttpResponse:
    form = NoiseStartForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            " ".join(f"{form.fields[field].label}: {' '.join(errors)}" for field, errors in form.errors.items()),
        )
        return redirect("noise-page", project_id=project.pk)
    data = form.cleaned_data
    try:
        job = noise_start(
            project=project,
            by=request.user,
            detectors=data["detectors"],
            filter_by=data["filter_by"],
            audit_test=data["audit_test"],
            doubt_score=DEFAULT_DOUBT_SCORE if data["doubt_score"] is None else data["doubt_score"],
            policy=data["policy"] or AUTO_POLICY,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Noise detection job #{number} queued.").format(number=job.pk))
    return redirect("noise-page", project_id=project.pk)


def _apply(decision: str, flag: NoiseFlag, request: HttpRequest, project: Project) -> None:
    """Run the decision's service; raises ValidationError with a readable message."""
    if decision == "keep":
        noise_flag_keep(flag=flag, by=request.user)
    elif decision == "exclude":
        noise_flag_exclude(flag=flag, by=request.user)
    elif decision == "reopen":
        noise_flag_reopen(flag=flag)
    else:
        form = RelabelForm(request.POST, project=project)
        if not form.is_valid():
            raise ValidationError(" ".join(" ".join(errors) for errors in form.errors.values()))
        noise_flag_relabel(flag=flag, by=request.user, label=form.cleaned_data["label"], note=form.cleaned_data["note"])


@project_page(Capability.REVIEW)
@require_POST
def noise_decide(request: HttpRequest, project: Project, flag_id: int, decision: str) -> HttpResponse:
    """Keep, relabel, exclude or reopen one flag; htmx swaps its row, a plain post goes back to the page."""
    if decision not in DONE:
        raise Http404("No such decision.")
    flag = NoiseFlag.objects.filter(pk=flag_id, project=project).first()
    if flag is None:  # never existed, or a newer run replaced it since the page was loaded
        if request.htmx:
            return HttpResponse(format_html(GONE_ROW, pk=flag_id, message=_(FLAG_REPLACED_ERROR)))
        raise Http404(_(FLAG_REPLACED_ERROR))
    success, error = None, None
    try:
        _apply(decision, flag, request, project)
        success = DONE[decision].format(pk=flag.item_id)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    back = QueryDict(request.POST.get("back", "")).urlencode()  # re-encoded: only a query string goes back
    if request.htmx:
        flag = noise_flags(project=project, split=flag.split, status=None).get(pk=flag.pk)
        row = flag_rows(project=project, flags=[flag], chips=label_chips(project=project))[0]
        context = {"project": project, "row": row, "back": back, "success": success, "error": error}
        return render(request, "annotator/partials/noise_row.html", context | _row_context(project))
    if error:
        messages.error(request, _("Item {number}: {error}").format(number=flag.item_id, error=error))
    else:
        messages.success(request, success)
    url = reverse("noise-page", kwargs={"project_id": project.pk})
    return redirect(f"{url}?{back}" if back else url)
