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
    # The role's name in the interface language; in English its value ("admin"), as the header always showed.
    name = gettext(Role(role).label)
    display = role if name == Role(role).label else name
    return {"nav_can": capabilities_of(role), "nav_role": role, "nav_role_display": display}
