"""The training form, drawn from mlcore's option spec: a preset, epochs, and an "advanced" part with
every option of every model kind (fields `<kind>-<option>`, a loss's parameters
`teacher-loss_params-<loss>-<parameter>`). The form only parses what the browser sends (numbers, lists,
yes/no); ranges and choices are checked once, by the service, against the same spec."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_lazy

from annotator.services.training import PRESETS
from mlcore.training_options import GROUPS, KIND_NAMES, LOSS_PARAM_SPECS, OPTION_SPECS, Option

BOOLEAN_CHOICES = [("", gettext_lazy("preset's")), ("true", gettext_lazy("yes")), ("false", gettext_lazy("no"))]
LIST_ERROR = gettext_lazy("Write numbers separated by commas, e.g. 2, 3, 4.")
TOP_LEVEL = ("epochs",)  # options shown above the advanced part (they apply to every kind)


def option_field_name(kind: str, key: str) -> str:
    """The form field of `key` (an option, or `loss_params.<name>` with the loss) of `kind`."""
    return f"{kind}-{key.replace('.', '-')}"


def _list_parser(option: Option):
    def parse(text: str) -> list:
        try:
            numbers = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise ValidationError(LIST_ERROR) from None
        if option.type == "int_list":
            return [int(n) if n.is_integer() else n for n in numbers]
        if option.type == "number_or_list" and len(numbers) == 1 and "," not in text:
            return numbers[0]
        return numbers

    return parse


class ListField(forms.CharField):
    """Comma-separated numbers; an empty field is None (not set)."""

    def __init__(self, *, parse, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parse = parse

    def to_python(self, value):
        text = super().to_python(value)
        return self.parse(text) if text else None


def _field(option: Option, label: str) -> forms.Field:
    common = {"required": False, "label": label, "help_text": f"{option.help} ({option.describe()})"}
    if option.type == "int":
        return forms.IntegerField(**common)
    if option.type == "float":
        return forms.FloatField(**common)
    if option.type == "bool":
        return forms.TypedChoiceField(choices=BOOLEAN_CHOICES, coerce=lambda v: v == "true", empty_value=None, **common)
    if option.type == "choice":
        return forms.ChoiceField(choices=[("", gettext_lazy("preset's")), *[(c, c) for c in option.choices]], **common)
    if option.type == "text":
        return forms.CharField(max_length=500, **common)
    return ListField(parse=_list_parser(option), max_length=2000, **common)


@dataclass(frozen=True)
class FieldGroup:
    title: str
    fields: list  # bound fields


@dataclass(frozen=True)
class KindSection:
    kind: str
    title: str
    presets: list[str]
    groups: list[FieldGroup]


class TrainForm(forms.Form):
    preset = forms.ChoiceField(
        label=gettext_lazy("Preset"), choices=[(name, name.replace("_", " ")) for name in PRESETS], initial="fast_head"
    )
    epochs = forms.IntegerField(
        label=gettext_lazy("Epochs"), required=False, help_text=gettext_lazy("Leave empty for the preset's.")
    )
    # A request-level choice, not a model option: which data the training snapshot holds (issue 24).
    augmentation = forms.BooleanField(
        label=gettext_lazy("Use accepted augmented copies"),
        required=False,
        help_text=gettext_lazy(
            "Adds the copies accepted on the augmentation page to the training data (never to the test split)."
        ),
    )

    def __init__(self, *args, preset_labels: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if preset_labels:
            self.fields["preset"].choices = [(name, preset_labels.get(name, name)) for name in PRESETS]
        for kind, spec in OPTION_SPECS.items():
            for option in spec:
                if option.name in TOP_LEVEL:
                    continue
                if option.type == "loss_params":
                    for loss, params in LOSS_PARAM_SPECS.items():
                        for param in params:
                            name = option_field_name(kind, f"loss_params.{loss}.{param.name}")
                            self.fields[name] = _field(param, f"{loss}: {param.name}")
                    continue
                self.fields[option_field_name(kind, option.name)] = _field(option, option.name)

    def kind(self) -> str:
        return PRESETS[self.cleaned_data["preset"]]["kind"]

    def params(self) -> dict:
        """The options set for the chosen preset's kind (empty fields are left to the preset)."""
        kind, data = self.kind(), self.cleaned_data
        params = {"epochs": data["epochs"]} if data.get("epochs") is not None else {}
        for option in OPTION_SPECS[kind]:
            if option.name in TOP_LEVEL:
                continue
            if option.type == "loss_params":
                loss = data.get(option_field_name(kind, "loss")) or option.default
                chosen = {
                    param.name: data[name]
                    for param in LOSS_PARAM_SPECS.get(loss, ())
                    if data.get(name := option_field_name(kind, f"loss_params.{loss}.{param.name}")) is not None
                }
                if chosen:
                    params["loss_params"] = chosen
                continue
            value = data.get(option_field_name(kind, option.name))
            if value not in (None, ""):
                params[option.name] = value
        return params

    def field_for_key(self, key: str) -> str | None:
        """The field that shows an error about option `key` of the chosen kind (None: the form's)."""
        kind = self.kind()
        if key.startswith("loss_params."):
            loss = self.cleaned_data.get(option_field_name(kind, "loss")) or "cross_entropy"
            key = f"loss_params.{loss}.{key.removeprefix('loss_params.')}"
        name = key if key in TOP_LEVEL else option_field_name(kind, key)
        return name if name in self.fields else None

    def sections(self) -> list[KindSection]:
        """The advanced fields per model kind, grouped as GROUPS says."""
        sections = []
        for kind, spec in OPTION_SPECS.items():
            grouped: dict[str, list] = {group: [] for group in GROUPS}
            for option in spec:
                if option.name in TOP_LEVEL:
                    continue
                if option.type == "loss_params":
                    names = [
                        option_field_name(kind, f"loss_params.{loss}.{param.name}")
                        for loss, params in LOSS_PARAM_SPECS.items()
                        for param in params
                    ]
                else:
                    names = [option_field_name(kind, option.name)]
                grouped[option.group].extend(self[name] for name in names)
            groups = [FieldGroup(gettext(GROUPS[group]), fields) for group, fields in grouped.items() if fields]
            presets = [name for name, preset in PRESETS.items() if preset["kind"] == kind]
            sections.append(KindSection(kind, gettext(KIND_NAMES.get(kind, kind)), presets, groups))
        return sections
