"""Project-scoped access for pages and API views: 404 for non-members, 403 for a missing capability."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, gettext_lazy
from rest_framework import exceptions
from rest_framework.views import APIView

from annotator.models import Project, Role
from annotator.permissions import Capability, role_can
from annotator.selectors.projects import project_membership

NOT_FOUND = gettext_lazy("No such project, or you are not a member of it.")
ROLE_REFUSED = gettext_lazy("Your role in this project ({role}) cannot {action}.")
# What each capability lets one do, as the refusal says it (English: the capability's name in words).
ACTIONS = {
    Capability.VIEW: gettext_lazy("view"),
    Capability.ANNOTATE: gettext_lazy("annotate"),
    Capability.EDIT_TAXONOMY: gettext_lazy("edit taxonomy"),
    Capability.REVIEW: gettext_lazy("review"),
    Capability.EXPORT: gettext_lazy("export"),
    Capability.IMPORT: gettext_lazy("import"),
    Capability.RUN_JOBS: gettext_lazy("run jobs"),
    Capability.MANAGE_MEMBERS: gettext_lazy("manage members"),
    Capability.DELETE_PROJECT: gettext_lazy("delete project"),
    Capability.CHANGE_SETTINGS: gettext_lazy("change settings"),
}


class RoleRequired(PermissionDenied):
    """A member whose role lacks a capability: the 403 page names the role it needs and links back."""

    def __init__(self, *, project: Project, role: str, capability: Capability) -> None:
        action = ACTIONS.get(capability, capability.value.replace("_", " "))
        super().__init__(ROLE_REFUSED.format(role=_role_name(role), action=action))
        self.project, self.role, self.capability = project, role, capability


def _role_name(role: str) -> str:
    """A role as a refusal names it: its value ("annotator") in English, its translated name otherwise."""
    name = gettext(Role(role).label)
    return role if name == Role(role).label else name


def project_for(user, project_id: int, capability: Capability) -> tuple[Project, str]:
    """The project and the user's role in it; Http404 for non-members, PermissionDenied if not allowed."""
    membership = project_membership(user=user, project_id=project_id)
    if membership is None:
        raise Http404(NOT_FOUND)
    project, role = membership.project, membership.role
    if not role_can(role, capability):
        raise RoleRequired(project=project, role=role, capability=capability)
    return project, role


def project_page(capability: Capability) -> Callable:
    """Page decorator: the view receives `(request, project, ...)` and `request.project_role` is set."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, project_id: int, *args, **kwargs) -> HttpResponse:
            project, role = project_for(request.user, project_id, capability)
            request.project_role = role
            return view(request, project, *args, **kwargs)

        return wrapper

    return decorate


class ProjectAPIView(APIView):
    """An API view inside a project; subclasses set `capability` (or `capabilities` per method)."""

    capability: Capability = Capability.VIEW
    capabilities: dict[str, Capability] = {}

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # HEAD and OPTIONS read, so they need what GET needs.
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        needed = self.capabilities.get(method, self.capability)
        try:
            self.project, self.role = project_for(request.user, kwargs["project_id"], needed)
        except Http404:
            raise exceptions.NotFound(NOT_FOUND) from None


def get_project_object(queryset, project: Project, **lookup):
    """An object that belongs to `project`, else 404 (ids from other projects are not found).

    Its `project` is the one given, already loaded: services that read `obj.project` make no query."""
    obj = get_object_or_404(queryset, project=project, **lookup)
    obj.project = project
    return obj
