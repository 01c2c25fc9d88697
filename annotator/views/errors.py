"""The 403 page: a page of the app (its header and the project's navigation), what was refused and which
role it needs, and a way back; never Django's bare "403 Forbidden"."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy

from annotator.access import RoleRequired
from annotator.models import Project, Role
from annotator.permissions import least_role_with

REFUSED = gettext_lazy("You cannot do this here.")
ASK_AN_ADMIN = gettext_lazy("It needs the {needed} role: a project admin can change roles on the Members page.")
ASK_AN_ADMIN_OR_HIGHER = gettext_lazy(
    "It needs the {needed} role or higher: a project admin can change roles on the Members page."
)


def permission_denied(request: HttpRequest, exception: PermissionDenied) -> HttpResponse:
    """handler403. For a role refusal inside a project: the role needed; for any other refusal inside a
    project the person belongs to (the locked test split, say): its message and the project's links."""
    context = {"message": str(exception) or REFUSED, "needs": ""}
    if isinstance(exception, RoleRequired):
        needed = least_role_with(exception.capability)
        template = ASK_AN_ADMIN if needed == "admin" else ASK_AN_ADMIN_OR_HIGHER
        context["needs"] = template.format(needed=gettext(Role(needed).label).lower())
        context["project"] = exception.project
        request.project_role = exception.role  # the navigation shows this role's links
    elif getattr(request, "project_role", None) is not None:
        # Refused inside a project page: the member already passed the project's access check.
        project_id = (request.resolver_match.kwargs if request.resolver_match else {}).get("project_id")
        context["project"] = Project.objects.filter(pk=project_id).first()
    return render(request, "403.html", context, status=403)
