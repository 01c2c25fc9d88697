"""Template context every page gets."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext

from annotator.models import Role
from annotator.permissions import capabilities_of


def project_nav(request: HttpRequest) -> dict:
    """`nav_can`: {capability: allowed} for the requester's role in the project the page belongs to, so the
    navigation shows each role only the links it can use (`request.project_role`, set by `project_page`)."""
    role = getattr(request, "project_role", None)
    if role is None:
        return {}
    # The role's name in the interface language (the model's choice labels are English msgids).
    return {"nav_can": capabilities_of(role), "nav_role": role, "nav_role_display": gettext(Role(role).label)}
