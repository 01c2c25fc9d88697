"""Template context every page gets."""

from __future__ import annotations

from django.http import HttpRequest

from annotator.permissions import capabilities_of


def project_nav(request: HttpRequest) -> dict:
    """`nav_can`: {capability: allowed} for the requester's role in the project the page belongs to, so the
    navigation shows each role only the links it can use (`request.project_role`, set by `project_page`)."""
    role = getattr(request, "project_role", None)
    if role is None:
        return {}
    return {"nav_can": capabilities_of(role), "nav_role": role}
