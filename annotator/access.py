"""Project-scoped access for pages and API views: 404 for non-members, 403 for a missing capability."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework import exceptions
from rest_framework.views import APIView

from annotator.models import Project
from annotator.permissions import Capability, role_can
from annotator.selectors.projects import project_membership

NOT_FOUND = "No such project, or you are not a member of it."
ROLE_REFUSED = "Your role in this project ({role}) cannot {action}."


class RoleRequired(PermissionDenied):
    """A member whose role lacks a capability: the 403 page names the role it needs and links back."""

    def __init__(self, *, project: Project, role: str, capability: Capability) -> None:
        super().__init__(ROLE_REFUSED.format(role=role, action=capability.value.replace("_", " ")))
        self.project, self.role, self.capability = project, role, capability


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
