from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


@register.filter
def highlight(text: str, spans: list[tuple[int, int]]) -> SafeString:
    """The text, escaped, with each (start, end) span wrapped in <mark>."""
    parts, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            continue  # overlapping spans: keep the first
        parts += [escape(text[position:start]), "<mark>", escape(text[start:end]), "</mark>"]
        position = end
    parts.append(escape(text[position:]))
    return mark_safe("".join(parts))  # every piece of the text is escaped above


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


@register.filter
def chance(value: float | None) -> str:
    """A probability as a whole percent that never reads 0% or 100% unless it is: "<1%", ">99%"."""
    if value is None:
        return "—"
    if 0 < value < 0.005:
        return "<1%"
    if 0.995 <= value < 1:
        return ">99%"
    return f"{100 * value:.0f}%"


@register.filter
def get_item(mapping: dict, key):
    """`mapping[key]` in a template (None when absent)."""
    return mapping.get(key)


@register.filter
def tr(value) -> str:
    """`value` (a model choice's English label, a job kind, ...) in the interface language.

    The models' choice labels are plain English strings; their translations are in the catalog
    (annotator/i18n_names.py marks them for makemessages), so they are looked up when shown."""
    return gettext(str(value)) if value not in (None, "") else ""
