"""The distillation form on the Models page: teachers, student, scheme, temperature, alpha, confidence,
pool and fine-tuning. It only parses what the browser sends; ranges and choices are checked once, by
the service (`distill_params_check`), which names the field of an error."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from annotator.models import ModelVersion, Project
from annotator.selectors.distillation import best_version
from annotator.services.distillation import DEFAULTS, SCHEMES, student_labels


class DistillForm(forms.Form):
    teachers = forms.ModelMultipleChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,  # none chosen: the service's message says so
        label=gettext_lazy("Teachers"),
        help_text=gettext_lazy("One or more versions; their probabilities are averaged (each reads its own inputs)."),
    )
    student = forms.ChoiceField(label=gettext_lazy("Student"), choices=[], initial="static_head")
    scheme = forms.ChoiceField(
        label=gettext_lazy("Scheme"),
        choices=[(key, gettext_lazy(name)) for key, name in SCHEMES.items()],
        initial=DEFAULTS["scheme"],
    )
    temperature = forms.FloatField(
        label=gettext_lazy("Temperature"),
        initial=DEFAULTS["temperature"],
        help_text=gettext_lazy("Softens the teachers (above 0)."),
    )
    alpha = forms.FloatField(
        label=gettext_lazy("Alpha"),
        initial=DEFAULTS["alpha"],
        help_text=gettext_lazy("Weight of the human labels, 0 to 1."),
    )
    confidence = forms.FloatField(
        label=gettext_lazy("Confidence"),
        initial=DEFAULTS["confidence"],
        help_text=gettext_lazy("Pool items the teachers are less sure of are left out (0 to <1)."),
    )
    use_pool = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Use the unlabeled pool"))
    finetune = forms.BooleanField(
        required=False, initial=DEFAULTS["finetune"], label=gettext_lazy("Fine-tune on the human labels after")
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["teachers"].queryset = ModelVersion.objects.filter(project=project).order_by("-number")
        self.fields["teachers"].label_from_instance = _teacher_label
        self.fields["student"].choices = list(student_labels(project=project).items())
        if not self.is_bound:
            best = best_version(project=project)
            self.initial["teachers"] = [best.pk] if best else []

    def field_for_key(self, key: str) -> str | None:
        """The form field a service error's `key` names (None: the error belongs to the whole form)."""
        return key if key in self.fields else None

    def service_fields(self) -> dict:
        """What `distill_job_start` takes, from the cleaned data."""
        data = self.cleaned_data
        return {
            "teachers": [version.pk for version in data["teachers"]],
            **{key: data[key] for key in ("student", "scheme", "temperature", "alpha", "confidence")},
            "use_pool": data["use_pool"],
            "finetune": data["finetune"],
        }


def _teacher_label(version: ModelVersion) -> str:
    f1 = version.metrics.get("macro_f1")
    return f"{version.kind} v{version.number}" + ("" if f1 is None else f" (macro-F1 {f1:.3f})")
