"""What each project role may do. Pages and API views ask for a capability, never a role.

Non-members get 404 on every project-scoped page and endpoint (the project's existence is not
revealed); members whose role lacks the capability get 403.
"""

from __future__ import annotations

import enum

from annotator.models import Role


class Capability(enum.Enum):
    VIEW = "view"  # see the project, its items, labels and jobs
    ANNOTATE = "annotate"
    EDIT_TAXONOMY = "edit_taxonomy"  # labels and rules
    REVIEW = "review"
    EXPORT = "export"
    IMPORT = "import"
    RUN_JOBS = "run_jobs"  # start and cancel jobs
    MANAGE_MEMBERS = "manage_members"
    DELETE_PROJECT = "delete_project"  # with everything in it: admins, with the project's name to confirm
    CHANGE_SETTINGS = "change_settings"  # the project's own fields: strategy, overlap, backbone, ...
    AUGMENT = "augment"  # start augmentation jobs and accept or reject their copies (issue 24)


_ANNOTATOR = {Capability.VIEW, Capability.ANNOTATE}
_EXPERT = _ANNOTATOR | {Capability.EDIT_TAXONOMY, Capability.REVIEW, Capability.EXPORT, Capability.AUGMENT}
_ADMIN = _EXPERT | {
    Capability.IMPORT,
    Capability.RUN_JOBS,
    Capability.MANAGE_MEMBERS,
    Capability.DELETE_PROJECT,
    Capability.CHANGE_SETTINGS,
}

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.ANNOTATOR: frozenset(_ANNOTATOR),
    Role.EXPERT: frozenset(_EXPERT),
    Role.ADMIN: frozenset(_ADMIN),
}


def role_can(role: str | None, capability: Capability) -> bool:
    """Whether a member with `role` (None: not a member) has `capability`."""
    return role is not None and capability in ROLE_CAPABILITIES[role]


def least_role_with(capability: Capability) -> str:
    """The first role (annotator, expert, admin) that has `capability`: what a refusal tells people to ask for."""
    return next(role for role in Role.values if capability in ROLE_CAPABILITIES[role])


def capabilities_of(role: str | None) -> dict[str, bool]:
    """{capability name: allowed} for templates, so pages show only what the role can use."""
    return {capability.value: role_can(role, capability) for capability in Capability}
