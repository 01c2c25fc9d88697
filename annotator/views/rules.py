from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from annotator.access import get_project_object, project_page
from annotator.i18n import translated_choices
from annotator.models import Label, Project, Rule, RuleKind
from annotator.permissions import Capability, role_can
from annotator.selectors.rules import (
    MIN_PRECISION_MATCHES,
    ProjectTexts,
    project_rules,
    rule_masks,
    rule_preview,
)
from annotator.services.rules import rule_apply, rule_create, rule_delete, rule_update, rule_warnings
from mlcore.rules import RuleError, RuleSpec

RULE_ACTIONS = ("apply", "activate", "deactivate", "delete")


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=translated_choices(RuleKind.choices))
    label = forms.ModelChoiceField(
        label=gettext_lazy("Label"),
        queryset=Label.objects.none(),
        required=False,
        help_text=gettext_lazy("Seed rules only."),
    )
    pattern = forms.CharField(
        label=gettext_lazy("Pattern"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Keywords separated by commas (，and 、 too) or new lines, or a regular expression. Keywords match as "
            "written, inside longer text: a Chinese keyword such as 价格 matches inside 这个价格太贵了 (no word "
            "segmentation, so 价 also matches inside 价格); “whole words” applies only to the Latin ends of a keyword."
        ),
    )
    is_regex = forms.BooleanField(required=False, label=gettext_lazy("Regular expression"))
    case_sensitive = forms.BooleanField(label=gettext_lazy("Case sensitive"), required=False)
    whole_word = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Whole words (keywords)"))

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].queryset = project.labels.filter(active=True)

    def spec(self) -> RuleSpec:
        data = self.cleaned_data
        return RuleSpec(data["pattern"], data["is_regex"], data["case_sensitive"], data["whole_word"])


def _rule_rows(project: Project) -> tuple[list[dict], str]:
    """Each rule with its match count, or marked too slow (with why) when it failed in the shared budget."""
    rules = list(project_rules(project=project))
    found = rule_masks(rules=rules, texts=ProjectTexts.load(project))
    rows = [
        {
            "rule": rule,
            "matched": int(found.masks[rule.pk].sum()) if rule.pk in found.masks else None,
            "too_slow": str(found.errors[rule.pk]) if rule.pk in found.errors else "",
        }
        for rule in rules
    ]
    return rows, ""


@project_page(Capability.VIEW)
@require_GET
def rule_list(request: HttpRequest, project: Project) -> HttpResponse:
    rows, error = _rule_rows(project)
    context = {
        "project": project,
        "rows": rows,
        "error": error,
        "form": RuleForm(project=project, initial={"whole_word": True}),
        "can_edit": role_can(request.project_role, Capability.EDIT_TAXONOMY),
        "min_precision_matches": MIN_PRECISION_MATCHES,
    }
    return render(request, "annotator/rules.html", context)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def rule_preview_fragment(request: HttpRequest, project: Project) -> HttpResponse:
    """The live preview under the rule form (htmx, on every keystroke after a short pause)."""
    form = RuleForm(request.POST, project=project)
    form.fields["name"].required = False  # the preview answers for the pattern, named or not
    context = {"project": project}
    if not form.is_valid():
        context["error"] = _("Type a pattern to see what it matches.") if "pattern" in form.errors else ""
        return render(request, "annotator/partials/rule_preview.html", context)
    label = form.cleaned_data["label"]
    try:
        context["preview"] = rule_preview(
            project=project, spec=form.spec(), kind=form.cleaned_data["kind"], label_id=label.pk if label else None
        )
    except RuleError as error:
        context["error"] = str(error)
    # A seed rule without a label claims nothing yet: its precision is unknown, not 0%.
    context["needs_label"] = form.cleaned_data["kind"] == RuleKind.SEED and label is None
    return render(request, "annotator/partials/rule_preview.html", context)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def rule_new(request: HttpRequest, project: Project) -> HttpResponse:
    form = RuleForm(request.POST, project=project)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rule = rule_create(
                project=project,
                by=request.user,
                name=data["name"],
                pattern=data["pattern"],
                kind=data["kind"],
                label=data["label"],
                is_regex=data["is_regex"],
                case_sensitive=data["case_sensitive"],
                whole_word=data["whole_word"],
            )
            messages.success(
                request, _("Rule “{name}” saved. Apply it to create suggestions or exclusions.").format(name=rule.name)
            )
            for warning in rule_warnings(rule=rule):
                messages.warning(request, warning)
            return redirect("rule-list", project_id=project.pk)
        except ValidationError as error:
            form.add_error(None, error)
    rows, error = _rule_rows(project)
    context = {
        "project": project,
        "rows": rows,
        "error": error,
        "form": form,
        "can_edit": True,
        "min_precision_matches": MIN_PRECISION_MATCHES,
    }
    return render(request, "annotator/rules.html", context, status=400)


@project_page(Capability.EDIT_TAXONOMY)
@require_POST
def rule_action(request: HttpRequest, project: Project, rule_id: int, action: str) -> HttpResponse:
    """apply / activate / deactivate / delete, each from a button on the rule list."""
    if action not in RULE_ACTIONS:
        raise Http404(f"No rule action {action!r}.")
    rule = get_project_object(Rule, project, pk=rule_id)
    try:
        if action == "apply":
            outcome = rule_apply(rule=rule, by=request.user)
            messages.success(request, _applied_message(rule, outcome))
        elif action in ("activate", "deactivate"):
            rule_update(rule=rule, by=request.user, active=action == "activate")
            done = _("Rule “{name}” activated.") if action == "activate" else _("Rule “{name}” deactivated.")
            messages.success(request, done.format(name=rule.name))
        elif action == "delete":
            rule_delete(rule=rule)
            messages.success(
                request,
                _("Rule “{name}” deleted; its exclusions and unchecked suggestions are gone.").format(name=rule.name),
            )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("rule-list", project_id=project.pk)


def _applied_message(rule: Rule, outcome: dict) -> str:
    if rule.kind == RuleKind.BLACKLIST:
        return _("“{name}” excludes {excluded} item(s) from training ({restored} restored).").format(
            name=rule.name, excluded=outcome["excluded"], restored=outcome["restored"]
        )
    note = f" {outcome['note']}" if outcome.get("note") else ""
    return (
        _("“{name}” matched {matched} item(s): {created} new suggestion(s).").format(
            name=rule.name, matched=outcome["matched"], created=outcome["candidates_created"]
        )
        + note
    )
