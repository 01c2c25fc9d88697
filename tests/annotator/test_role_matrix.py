"""The project-role matrix: every page and API endpoint inside a project enforces the project roles.

`annotator/permissions.py` says which capabilities each role has (annotator ⊂ expert ⊂ admin) and
`annotator/access.py` enforces them: non-members get 404 (the project's existence is not revealed),
members lacking the capability get 403, anonymous users are sent to the login page (pages) or get
401/403 (API). Every project-scoped URL name and method is a row of CASES below; a completeness test
walks the URL resolver so that a new project-scoped endpoint without a row fails the suite.

Jobs are `selfcheck` rows created directly, and endpoints that start jobs only enqueue on commit,
which a plain (non-transactional) django_db test never reaches, so no worker or broker traffic is needed.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.importing.parsers import Record
from annotator.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AugmentedText,
    AugmentStatus,
    CandidateStatus,
    Cluster,
    ClusterRun,
    Exclusion,
    Invitation,
    Item,
    Job,
    JobStatus,
    Label,
    Lease,
    Membership,
    ModelVersion,
    NoiseFlag,
    NoiseRun,
    NoiseStatus,
    Project,
    Role,
    Rule,
    RuleKind,
    SkippedItem,
    TaxonomyAction,
)
from annotator.permissions import ROLE_CAPABILITIES, Capability, role_can
from annotator.services.imports import ImportReport, ImportRequest, import_file, import_parsed
from annotator.services.noise import noise_flag_keep
from annotator.services.project_settings import SETTINGS_FIELDS
from annotator.services.projects import DELETE_CONFIRMATION_ERROR, member_set_role, project_create
from annotator.services.queue import annotation_submit, lease_item
from annotator.services.rules import rule_create
from annotator.services.taxonomy import label_archive, label_create
from mlcore.active_learning import STRATEGIES
from mlcore.models import TextCNN

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.EXPERT, Role.ANNOTATOR, "outsider"]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SEED_CSV = b"text,label\nThe match ended in a draw,Sport\nParliament passed the budget,Politics\n"
UPLOAD_CSV = b"text,label\nA late goal won the cup,Sport\nThe minister resigned,Politics\nRain all week,\n"
MISSING_ID = 987_654_321


# --- the world each test runs in -------------------------------------------------------------------------------


@dataclasses.dataclass
class Ctx:
    project: Project
    users: dict[str, object]
    target: object  # an annotator member that admins may change or remove
    newcomer: object  # a user who is not a member yet, for "invite member"
    invitation: Invitation  # a pending invitation: list, withdraw
    job: Job  # queued selfcheck job
    running_job: Job  # running selfcheck job
    spare: Label  # an unused top-level label: rename, move, split, archive, delete
    old: Label  # an archived label: restore
    rule: Rule  # a blacklist rule: apply, edit, delete
    candidate: Annotation  # a pending suggestion: accept, reject
    cluster: Cluster  # a cluster of the latest run: promote
    version: ModelVersion  # a registered model version: inspect, compare, activate
    flag: NoiseFlag  # an open noise flag on the seed item: keep, relabel, exclude
    augmented: AugmentedText  # a pending augmented copy of the seed item: accept, reject
    augment_job: Job  # a queued augmentation job: its card, cancel (experts may)

    def label(self, name: str) -> Label:
        return self.project.labels.get(name=name)


@pytest.fixture
def ctx(project_with_roles, make_user) -> Ctx:
    project, users = project_with_roles
    target = make_user("target_member")
    member_set_role(project=project, user=target, role=Role.ANNOTATOR)
    import_file(project=project, stream=io.BytesIO(SEED_CSV), request=ImportRequest(filename="seed.csv"))
    admin = users[Role.ADMIN]
    return Ctx(
        project=project,
        users=users,
        target=target,
        newcomer=make_user("newcomer"),
        invitation=Invitation.objects.create(
            project=project, username="invitee", role=Role.ANNOTATOR, invited_by=admin
        ),
        job=Job.objects.create(project=project, kind="selfcheck"),
        running_job=Job.objects.create(project=project, kind="selfcheck", status=JobStatus.RUNNING),
        spare=label_create(project=project, name="Spare", by=admin),
        old=label_archive(label=label_create(project=project, name="Old", by=admin), by=admin),
        rule=rule_create(project=project, name="drafts", pattern="draw", kind=RuleKind.BLACKLIST, by=admin),
        candidate=_pending_candidate(project),
        cluster=_cluster(project),
        version=_model_version(project),
        flag=_noise_flag(project),
        augmented=AugmentedText.objects.create(
            project=project, source_item=project.items.get(text="The match ended in a draw"), op="swap", text="The draw"
        ),
        augment_job=Job.objects.create(project=project, kind="augment"),
    )


def _pending_candidate(project: Project) -> Annotation:
    """On the item with a free slot: accepting a suggestion never exceeds an item's overlap."""
    candidate = Annotation.objects.create(
        item=project.items.get(is_open=True), source=AnnotationSource.RULE, candidate_status=CandidateStatus.PENDING
    )
    suggested = Label.objects.create(project=project, name="Suggested", order=99)
    AnnotationLabel.objects.create(annotation=candidate, label=suggested)
    return candidate


def _model_version(project: Project) -> ModelVersion:
    metrics = {"accuracy": 1.0, "macro_f1": 1.0, "micro_f1": 1.0, "per_class": [], "confusion": []}
    return ModelVersion.objects.create(
        project=project, number=1, kind="fast_head", data_hash="0" * 64, n_train=2, n_test=1,
        metrics=metrics, artifact_dir="models/none",
    )  # fmt: skip


def _noise_flag(project: Project) -> NoiseFlag:
    """The seed item "The match ended in a draw" (Sport), doubted by a noise run: Politics, says the run."""
    run = NoiseRun.objects.create(project=project, encoder="test", n_items=2, n_flagged=1)
    item = project.items.get(text="The match ended in a draw")
    return NoiseFlag.objects.create(
        project=project,
        run=run,
        item=item,
        given_label=project.labels.get(name="Sport"),
        suggested_label=project.labels.get(name="Politics"),
        score=0.9,
        votes=2,
        detectors=["kfold", "deep_knn"],
    )


def _cluster(project: Project) -> Cluster:
    run = ClusterRun.objects.create(project=project, encoder="test", k=1, n_items=2, map_svg="<svg></svg>")
    ids = list(project.items.values_list("id", flat=True))
    return Cluster.objects.create(
        run=run, index=0, size=2, keywords=[["match", 1.0]], item_ids=ids, central_item_ids=ids
    )


def state(project: Project) -> tuple:
    """Everything a request inside the project could change; denied requests must leave it as it was."""
    imports = Path(settings.MEDIA_ROOT) / "imports"
    return (
        sorted(Membership.objects.filter(project=project).values_list("user_id", "role")),
        sorted(Invitation.objects.filter(project=project).values_list("username", "role")),
        sorted(Item.objects.filter(project=project).values_list("id", "text", "split")),
        sorted(
            project.labels.values_list("id", "name", "active", "parent_id", "order", "color", "shortcut", "merged_into")
        ),
        project.taxonomy_events.count(),
        sorted(Job.objects.values_list("id", "project_id", "kind", "status", "cancel_requested")),
        sorted(Project.objects.values_list("id", "name")),
        sorted(str(path) for path in imports.rglob("*")) if imports.exists() else [],
        sorted(Rule.objects.filter(project=project).values_list("id", "name", "pattern", "active", "applied_at")),
        Exclusion.objects.filter(item__project=project).count(),
        sorted(Annotation.objects.filter(item__project=project).values_list("id", "candidate_status")),
        sorted(Cluster.objects.filter(run__project=project).values_list("id", "promoted_to")),
        sorted(AnnotationLabel.objects.filter(annotation__item__project=project).values_list("annotation", "label")),
        sorted(Lease.objects.filter(item__project=project).values_list("item_id", "user_id")),
        sorted(SkippedItem.objects.filter(item__project=project).values_list("item_id", "user_id", "unclear")),
        Project.objects.filter(pk=project.pk).values_list("active_model", flat=True).get(),
        ModelVersion.objects.filter(project=project).count(),
        sorted(NoiseFlag.objects.filter(project=project).values_list("id", "status", "exclusion_id")),
        sorted(AugmentedText.objects.filter(project=project).values_list("id", "status")),
        Project.objects.filter(pk=project.pk).values(*SETTINGS_FIELDS).get(),
    )


# --- the table -------------------------------------------------------------------------------------------------


def csv_upload(name: str = "upload.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, UPLOAD_CSV, content_type="text/csv")


def page_import_data(background: bool) -> Callable[[Ctx], dict]:
    def data(ctx: Ctx) -> dict:
        form = {"file": csv_upload(), "format": "auto", "text_column": "text", "split": "auto"}
        if background:
            form["background"] = "on"
        return form

    return data


def api_import_data(background: bool) -> Callable[[Ctx], dict]:
    def data(ctx: Ctx) -> dict:
        return {"file": csv_upload(), "background": "true" if background else "false"}

    return data


def body(response) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return response.content


def all_of(*checks: Callable) -> Callable:
    def check(ctx: Ctx, response) -> None:
        for one in checks:
            one(ctx, response)

    return check


def member_is(user_attr: str, role: str | None) -> Callable:
    """Check that ctx.<user_attr> now has `role` in the project (None: is no member)."""

    def check(ctx: Ctx, response) -> None:
        user = getattr(ctx, user_attr)
        actual = Membership.objects.filter(project=ctx.project, user=user).values_list("role", flat=True).first()
        assert actual == role, f"{user} is {actual or 'no member'}, expected {role or 'no member'}"

    return check


def invited(username_of: Callable[[Ctx], str], role: str) -> Callable:
    """Check that the username has a pending invitation with `role` and is no member (finding 13: consent)."""

    def check(ctx: Ctx, response) -> None:
        username = username_of(ctx)
        invitation = Invitation.objects.get(project=ctx.project, username=username)
        assert invitation.role == role
        assert not Membership.objects.filter(project=ctx.project, user__username=username).exists()

    return check


def account_made(username: str, role: str) -> Callable:
    """Issue 20, item 1: an account made by a project admin is a member at once and holds a one-time password."""

    def check(ctx: Ctx, response) -> None:
        membership = Membership.objects.get(project=ctx.project, user__username=username)
        assert membership.role == role
        assert membership.user.account_profile.must_change_password

    return check


def invitation_gone(ctx: Ctx, response) -> None:
    assert not Invitation.objects.filter(pk=ctx.invitation.pk).exists()


def invitation_id(ctx: Ctx) -> dict:
    return {"invitation_id": ctx.invitation.pk}


def job_is(job_attr: str, status: str, *, cancel_requested: bool) -> Callable:
    def check(ctx: Ctx, response) -> None:
        job = Job.objects.get(pk=getattr(ctx, job_attr).pk)
        assert (job.status, job.cancel_requested) == (status, cancel_requested)

    return check


def redirects_to(name: str, **kwargs) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert response["Location"] == reverse(name, kwargs={"project_id": ctx.project.pk, **kwargs})

    return check


def redirects_to_new_job(kind: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        job = Job.objects.filter(project=ctx.project, kind=kind).exclude(pk__in=[ctx.job.pk, ctx.running_job.pk]).get()
        assert job.status == JobStatus.QUEUED
        assert response["Location"] == reverse("job-detail", kwargs={"project_id": ctx.project.pk, "job_id": job.pk})

    return check


def imported_inline(ctx: Ctx, response) -> None:
    assert ctx.project.items.count() == 2 + 3
    assert ctx.project.items.filter(text="A late goal won the cup", split="train").exists()


def new_job_in_response(kind: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        data = response.json()
        job = Job.objects.get(pk=data["id"])
        assert (job.project_id, job.kind, data["kind"], data["status"]) == (ctx.project.pk, kind, kind, "queued")
        assert ctx.project.items.count() == 2  # nothing imported inside the request

    return check


def export_contains_seed(ctx: Ctx, response) -> None:
    rows = [json.loads(line) for line in body(response).decode().splitlines() if line.strip()]
    assert sorted(row["text"] for row in rows) == ["Parliament passed the budget", "The match ended in a draw"]
    assert f"project-{ctx.project.pk}-jsonl" in response["Content-Disposition"]


def page_shows(text_of: Callable[[Ctx], str]) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert text_of(ctx) in body(response).decode()

    return check


def api_json(predicate: Callable[[Ctx, object], bool]) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert predicate(ctx, response.json()), response.json()

    return check


@dataclasses.dataclass(frozen=True)
class Case:
    url_name: str
    method: str
    capability: Capability
    success: int  # what an allowed role gets
    api: bool
    url_kwargs: Callable[[Ctx], dict] = lambda ctx: {}
    data: Callable[[Ctx], dict] | None = None
    query: dict | Callable[[Ctx], dict] | None = None
    format: str = "json"  # API request body: json or multipart
    verify: Callable[[Ctx, object], None] | None = None  # run after an allowed request
    variant: str = ""
    # Run for the requesting user before the request (and before the state is taken), e.g. the lease
    # the queue would have given them: submits and skips are only for items the queue served.
    prepare: Callable[[Ctx, object], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.url_name}" + (f" ({self.variant})" if self.variant else "")

    def url(self, ctx: Ctx, project_id: int | None = None) -> str:
        kwargs = {"project_id": ctx.project.pk if project_id is None else project_id, **self.url_kwargs(ctx)}
        return reverse(self.url_name, kwargs=kwargs)


def label_is(name: str, **expected) -> Callable:
    """Check fields of the label called `name` after the request (`exists=False`: it is gone)."""

    def check(ctx: Ctx, response) -> None:
        label = ctx.project.labels.filter(name=name).first()
        if expected.get("exists", True) is False:
            assert label is None, f"{name} still exists"
            return
        assert label is not None, f"no label {name}"
        fields = {field: value for field, value in expected.items() if field != "exists"}
        assert {field: getattr(label, field) for field in fields} == fields

    return check


def label_parent_is(name: str, parent: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert ctx.label(name).parent == ctx.label(parent)

    return check


def label_children_are(name: str, children: list[str]) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert sorted(ctx.label(name).children.values_list("name", flat=True)) == children

    return check


def merged_into(name: str, target: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        label = ctx.label(name)
        assert (label.active, label.merged_into) == (False, ctx.label(target))

    return check


def spare_is_before_sport(ctx: Ctx, response) -> None:
    roots = list(ctx.project.labels.filter(parent=None).values_list("name", flat=True))
    assert roots.index("Spare") < roots.index("Sport"), roots
    assert ctx.project.taxonomy_events.filter(action=TaxonomyAction.REORDER).exists()


def label_id(attr_or_name: str) -> Callable[[Ctx], dict]:
    """URL kwargs for a ctx label: an attribute (`spare`, `old`) or a seeded label's name."""

    def kwargs(ctx: Ctx) -> dict:
        label = getattr(ctx, attr_or_name, None) or ctx.label(attr_or_name)
        return {"label_id": label.pk}

    kwargs.label_scoped = True  # type: ignore[attr-defined]  # see test_a_label_of_another_project_is_404
    return kwargs


def sport_target(ctx: Ctx) -> dict:
    return {"target": ctx.label("Sport").pk}


def job_id(ctx: Ctx) -> dict:
    return {"job_id": ctx.job.pk}


def running_job_id(ctx: Ctx) -> dict:
    return {"job_id": ctx.running_job.pk}


def target_id(ctx: Ctx) -> dict:
    return {"user_id": ctx.target.pk}


def candidate_is(status: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert Annotation.objects.get(pk=ctx.candidate.pk).candidate_status == status

    return check


def seed_item(ctx: Ctx) -> Item:
    return ctx.project.items.get(text="The match ended in a draw")


def open_item(ctx: Ctx) -> Item:
    """The seed item that still wants an annotation (the other's overlap share is 1, and it has its import)."""
    return ctx.project.items.get(is_open=True)


def overlap_item(ctx: Ctx) -> Item:
    """The open item above, found the same way after a submit has closed it."""
    return ctx.project.items.get(text="Parliament passed the budget")


def leased(get_item: Callable[[Ctx], Item]) -> Callable[[Ctx, object], None]:
    """Prepare a request by leasing the item to the requesting user, as the queue would have."""

    def prepare(ctx: Ctx, user) -> None:
        lease_item(item=get_item(ctx), user=user, now=timezone.now())

    return prepare


def version_id(ctx: Ctx) -> dict:
    return {"version_id": ctx.version.pk}


def version_files(ctx: Ctx, user) -> None:
    """Issue 21: the registered version gets real files (a tiny char TextCNN), so it exports."""
    labels = [ctx.label("Sport").pk, ctx.label("Politics").pk]
    model = TextCNN(tokenization="char", min_count=1, embedding_dim=4, num_filters=2, epochs=1, random_state=0)
    model.fit(["goal", "vote"], labels)
    model.save(Path(settings.ARTIFACT_ROOT) / ctx.version.artifact_dir)
    ModelVersion.objects.filter(pk=ctx.version.pk).update(kind=model.kind, label_ids=model.classes_.tolist())


def is_zip(ctx: Ctx, response) -> None:
    assert body(response).startswith(b"PK"), response


def active_model_is_set(ctx: Ctx, response) -> None:
    assert Project.objects.get(pk=ctx.project.pk).active_model == ctx.version


def human_label_is(name: str, get_item: Callable[[Ctx], Item] = seed_item) -> Callable:
    def check(ctx: Ctx, response) -> None:
        annotation = Annotation.objects.get(item=get_item(ctx), source=AnnotationSource.HUMAN)
        assert list(annotation.labels.values_list("name", flat=True)) == [name]

    return check


def flagged_with(comment: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert SkippedItem.objects.filter(item=seed_item(ctx), unclear=True, comment=comment).exists()

    return check


def seed_annotation(ctx: Ctx) -> Annotation:
    """The seed item's imported annotation (Sport): what a review correction changes."""
    return Annotation.objects.get(item=seed_item(ctx), source=AnnotationSource.IMPORT)


def corrected_to(name: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        annotation = seed_annotation(ctx)
        assert list(annotation.labels.values_list("name", flat=True)) == [name]
        assert annotation.revisions.get().labels_after == [ctx.label(name).pk]

    return check


def adjudicated_as(name: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        decision = Annotation.objects.get(item=seed_item(ctx), source=AnnotationSource.ADJUDICATED)
        assert list(decision.labels.values_list("name", flat=True)) == [name]

    return check


def noise_excluded(ctx: Ctx, response) -> None:
    flag = NoiseFlag.objects.get(pk=ctx.flag.pk)
    assert flag.status == NoiseStatus.EXCLUDED
    assert Exclusion.objects.get(pk=flag.exclusion_id).item_id == seed_item(ctx).pk


def project_gone(ctx: Ctx, response) -> None:
    assert not Project.objects.filter(pk=ctx.project.pk).exists()


def project_kept_with_reason(ctx: Ctx, response) -> None:
    assert Project.objects.filter(pk=ctx.project.pk).exists()
    assert response.json()["detail"] == DELETE_CONFIRMATION_ERROR.format(name=ctx.project.name)


def redirects_to_project_list(ctx: Ctx, response) -> None:
    assert response["Location"] == reverse("project-list")


def flag_is(status: str) -> Callable:
    def check(ctx: Ctx, response) -> None:
        assert NoiseFlag.objects.get(pk=ctx.flag.pk).status == status
        assert response.json()["status"] == status

    return check


def settings_form(**changes: str) -> Callable[[Ctx], dict]:
    """The settings page's whole form as it is filled in now, with `changes`."""

    def data(ctx: Ctx) -> dict:
        project = Project.objects.get(pk=ctx.project.pk)
        form = {field: getattr(project, field) for field in SETTINGS_FIELDS if field != "preselect_suggestion"}
        form["hidden_meta_fields"] = "\n".join(project.hidden_meta_fields)
        return {**form, **changes}

    return data


def settings_are(**expected) -> Callable:
    def check(ctx: Ctx, response) -> None:
        project = Project.objects.get(pk=ctx.project.pk)
        assert {field: getattr(project, field) for field in expected} == expected

    return check


def flag_kept(ctx: Ctx, user) -> None:
    """Prepare a reopen: an expert kept the flag first."""
    noise_flag_keep(flag=ctx.flag, by=ctx.users[Role.EXPERT])


def binary_url(ctx: Ctx) -> dict:
    """Binary mode for the suggested label on the item it was suggested for."""
    return {"label_id": ctx.label("Suggested").pk, "item_id": ctx.candidate.item_id}


def skipped_candidate_item(ctx: Ctx, response) -> None:
    assert SkippedItem.objects.filter(item_id=ctx.candidate.item_id, unclear=False).exists()
    assert response.json()["decided"] == ctx.candidate.item_id


def page(url_name: str, method: str, capability: Capability, success: int, **kwargs) -> Case:
    return Case(url_name, method, capability, success, api=False, **kwargs)


def api(url_name: str, method: str, capability: Capability, success: int, **kwargs) -> Case:
    return Case(url_name, method, capability, success, api=True, **kwargs)


V, IMPORT, EXPORT = Capability.VIEW, Capability.IMPORT, Capability.EXPORT
RUN, MEMBERS, TAXONOMY = Capability.RUN_JOBS, Capability.MANAGE_MEMBERS, Capability.EDIT_TAXONOMY
ANNOTATE = Capability.ANNOTATE
SETTINGS = Capability.CHANGE_SETTINGS

CASES: list[Case] = [
    # --- pages ---
    page("project-detail", "GET", V, 200, verify=page_shows(lambda ctx: ctx.project.name)),
    page("member-list", "GET", V, 200, verify=page_shows(lambda ctx: ctx.target.username)),
    page("project-settings", "GET", SETTINGS, 200, verify=page_shows(lambda ctx: "uncertainty_diversity")),
    page(
        "project-settings",
        "POST",
        SETTINGS,
        302,
        data=settings_form(al_strategy="margin", lease_minutes="15"),
        verify=lambda ctx, r: all_of(
            redirects_to("project-settings"), settings_are(al_strategy="margin", lease_minutes=15)
        )(ctx, r),
    ),
    page(
        "member-save",
        "POST",
        MEMBERS,
        302,
        data=lambda ctx: {"username": ctx.newcomer.username, "role": Role.EXPERT},
        verify=all_of(redirects_to("member-list"), invited(lambda ctx: ctx.newcomer.username, Role.EXPERT)),
    ),
    page(
        "member-save",
        "POST",
        MEMBERS,
        302,
        data=lambda ctx: {"username": ctx.target.username, "role": Role.EXPERT},
        verify=all_of(redirects_to("member-list"), member_is("target", Role.EXPERT)),
        variant="role change",
    ),
    page(
        "invitation-revoke",
        "POST",
        MEMBERS,
        302,
        url_kwargs=invitation_id,
        verify=all_of(redirects_to("member-list"), invitation_gone),
    ),
    page(
        "member-remove",
        "GET",
        MEMBERS,
        200,
        url_kwargs=target_id,
        verify=all_of(page_shows(lambda ctx: f"Remove {ctx.target.username}?"), member_is("target", Role.ANNOTATOR)),
    ),
    page(
        "member-remove",
        "POST",
        MEMBERS,
        302,
        url_kwargs=target_id,
        verify=all_of(redirects_to("member-list"), member_is("target", None)),
    ),
    page(
        "member-create",
        "POST",
        MEMBERS,
        200,
        data=lambda ctx: {"username": "made_on_page", "email": "", "role": Role.EXPERT},
        verify=all_of(page_shows(lambda ctx: 'id="one-time-password"'), account_made("made_on_page", Role.EXPERT)),
    ),
    page("item-list", "GET", V, 200, verify=page_shows(lambda ctx: "The match ended in a draw")),
    page("item-import", "GET", IMPORT, 200),
    page(
        "item-import",
        "POST",
        IMPORT,
        200,
        data=page_import_data(background=False),
        verify=imported_inline,
        variant="inline",
    ),
    page(
        "item-import",
        "POST",
        IMPORT,
        302,
        data=page_import_data(background=True),
        verify=redirects_to_new_job("import"),
        variant="background",
    ),
    page("item-export", "GET", EXPORT, 200),
    page("item-export-download", "GET", EXPORT, 200, query={"format": "jsonl"}, verify=export_contains_seed),
    page("label-tree", "GET", V, 200, verify=page_shows(lambda ctx: "Politics")),
    page("label-history", "GET", V, 200, verify=page_shows(lambda ctx: "Created label “Spare”.")),
    page(
        "label-new",
        "POST",
        TAXONOMY,
        302,
        data=lambda ctx: {"name": "Fresh", "kind": "normal", "parent": ctx.label("Sport").pk},
        verify=all_of(redirects_to("label-tree"), label_parent_is("Fresh", "Sport")),
    ),
    page("label-edit", "GET", TAXONOMY, 200, url_kwargs=label_id("spare"), verify=page_shows(lambda ctx: "Spare")),
    page(
        "label-edit",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"name": "Renamed", "color": "#123456", "shortcut": "r"},
        verify=all_of(redirects_to("label-tree"), label_is("Renamed", color="#123456", shortcut="r")),
    ),
    page(
        "label-move",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"parent": ctx.label("Sport").pk},
        verify=all_of(redirects_to("label-tree"), label_parent_is("Spare", "Sport")),
    ),
    page(
        "label-reorder",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"direction": "up"},
        verify=all_of(redirects_to("label-tree"), spare_is_before_sport),
    ),
    page(
        "label-merge-preview",
        "GET",
        TAXONOMY,
        200,
        url_kwargs=label_id("Politics"),
        query=sport_target,
        verify=page_shows(lambda ctx: "1 annotation on 1 item will move to “Sport”"),
    ),
    page(
        "label-merge",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("Politics"),
        data=sport_target,
        verify=all_of(redirects_to("label-tree"), merged_into("Politics", "Sport")),
    ),
    page(
        "label-split",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"children": "Left\nRight"},
        verify=all_of(redirects_to("label-tree"), label_children_are("Spare", ["Left", "Right"])),
    ),
    page(
        "label-archive",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        verify=all_of(redirects_to("label-tree"), label_is("Spare", active=False)),
    ),
    page(
        "label-restore",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("old"),
        verify=all_of(redirects_to("label-tree"), label_is("Old", active=True)),
    ),
    page(
        "label-delete",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=label_id("spare"),
        verify=all_of(redirects_to("label-tree"), label_is("Spare", exists=False)),
    ),
    page("job-list", "GET", V, 200),
    page("job-selfcheck", "POST", RUN, 302, verify=redirects_to_new_job("selfcheck")),
    page("job-detail", "GET", V, 200, url_kwargs=job_id),
    page(
        "job-cancel",
        "POST",
        RUN,
        302,
        url_kwargs=job_id,
        verify=lambda ctx, r: all_of(
            redirects_to("job-detail", job_id=ctx.job.pk), job_is("job", JobStatus.CANCELLED, cancel_requested=True)
        )(ctx, r),
    ),
    # --- API ---
    api("api-project-detail", "GET", V, 200, verify=api_json(lambda ctx, d: d["id"] == ctx.project.pk)),
    api(
        "api-project-settings",
        "GET",
        SETTINGS,
        200,
        verify=api_json(
            lambda ctx, d: d["al_strategy"] == "default" and len(d["choices"]["al_strategy"]) == len(STRATEGIES) + 1
        ),
    ),
    api(
        "api-project-settings",
        "PATCH",
        SETTINGS,
        200,
        data=lambda ctx: {"al_strategy": "coreset", "overlap_fraction": 0.5},
        verify=settings_are(al_strategy="coreset", overlap_fraction=0.5),
    ),
    api("api-label-list", "GET", V, 200, verify=api_json(lambda ctx, d: {x["name"] for x in d} >= {"Sport"})),
    api(
        "api-label-list",
        "POST",
        TAXONOMY,
        201,
        data=lambda ctx: {"name": "Fresh", "parent": ctx.label("Sport").pk},
        verify=label_parent_is("Fresh", "Sport"),
    ),
    api(
        "api-label-history",
        "GET",
        V,
        200,
        verify=api_json(lambda ctx, d: "Created label “Spare”." in {e["summary"] for e in d["results"]}),
    ),
    api(
        "api-label-detail",
        "PATCH",
        TAXONOMY,
        200,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"name": "Renamed", "shortcut": "r"},
        verify=label_is("Renamed", shortcut="r"),
    ),
    api(
        "api-label-detail",
        "DELETE",
        TAXONOMY,
        204,
        url_kwargs=label_id("spare"),
        verify=label_is("Spare", exists=False),
    ),
    api(
        "api-label-move",
        "POST",
        TAXONOMY,
        200,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"parent": ctx.label("Sport").pk},
        verify=label_parent_is("Spare", "Sport"),
    ),
    api(
        "api-label-merge-preview",
        "GET",
        TAXONOMY,
        200,
        url_kwargs=label_id("Politics"),
        query=sport_target,
        verify=api_json(lambda ctx, d: (d["annotations"], d["items"], d["target"]["name"]) == (1, 1, "Sport")),
    ),
    api(
        "api-label-merge",
        "POST",
        TAXONOMY,
        200,
        url_kwargs=label_id("Politics"),
        data=sport_target,
        verify=merged_into("Politics", "Sport"),
    ),
    api(
        "api-label-split",
        "POST",
        TAXONOMY,
        201,
        url_kwargs=label_id("spare"),
        data=lambda ctx: {"children": ["Left", "Right"]},
        verify=label_children_are("Spare", ["Left", "Right"]),
    ),
    api(
        "api-label-archive",
        "POST",
        TAXONOMY,
        200,
        url_kwargs=label_id("spare"),
        verify=label_is("Spare", active=False),
    ),
    api(
        "api-label-restore",
        "POST",
        TAXONOMY,
        200,
        url_kwargs=label_id("old"),
        verify=label_is("Old", active=True),
    ),
    api(
        "api-member-list",
        "GET",
        V,
        200,
        verify=api_json(lambda ctx, d: ctx.target.username in {m["username"] for m in d}),
    ),
    api(
        "api-account-create",
        "POST",
        MEMBERS,
        201,
        data=lambda ctx: {"username": "made_by_api", "email": "made@example.org", "role": Role.ANNOTATOR},
        verify=all_of(
            api_json(lambda ctx, d: len(d["one_time_password"]) >= 12), account_made("made_by_api", Role.ANNOTATOR)
        ),
    ),
    api(
        "api-member-list",
        "POST",
        MEMBERS,
        202,
        data=lambda ctx: {"username": ctx.newcomer.username, "role": Role.ANNOTATOR},
        verify=invited(lambda ctx: ctx.newcomer.username, Role.ANNOTATOR),
    ),
    api(
        "api-invitation-list",
        "GET",
        MEMBERS,
        200,
        verify=api_json(lambda ctx, d: [row["username"] for row in d] == ["invitee"]),
    ),
    api("api-invitation-detail", "DELETE", MEMBERS, 204, url_kwargs=invitation_id, verify=invitation_gone),
    api(
        "api-member-detail",
        "PUT",
        MEMBERS,
        200,
        url_kwargs=target_id,
        data=lambda ctx: {"role": Role.EXPERT},
        verify=member_is("target", Role.EXPERT),
    ),
    api(
        "api-member-detail",
        "DELETE",
        MEMBERS,
        204,
        url_kwargs=target_id,
        verify=member_is("target", None),
    ),
    api("api-item-list", "GET", V, 200, verify=api_json(lambda ctx, d: d["count"] == 2)),
    api(
        "api-import",
        "POST",
        IMPORT,
        201,
        data=api_import_data(background=False),
        format="multipart",
        verify=imported_inline,
        variant="inline",
    ),
    api(
        "api-import",
        "POST",
        IMPORT,
        202,
        data=api_import_data(background=True),
        format="multipart",
        verify=new_job_in_response("import"),
        variant="background",
    ),
    api("api-export", "GET", EXPORT, 200, query={"format": "jsonl"}, verify=export_contains_seed),
    api("api-flagged-items", "GET", Capability.REVIEW, 200, verify=api_json(lambda ctx, d: d["count"] == 0)),
    api("api-job-list", "GET", V, 200, verify=api_json(lambda ctx, d: {j["id"] for j in d} >= {ctx.job.pk})),
    api(
        "api-job-list",
        "POST",
        RUN,
        201,
        data=lambda ctx: {"kind": "selfcheck", "params": {"steps": 1}},
        verify=new_job_in_response("selfcheck"),
    ),
    api("api-job-detail", "GET", V, 200, url_kwargs=job_id, verify=api_json(lambda ctx, d: d["id"] == ctx.job.pk)),
    api(
        "api-job-cancel",
        "POST",
        RUN,
        200,
        url_kwargs=running_job_id,
        verify=job_is("running_job", JobStatus.RUNNING, cancel_requested=True),
    ),
    # --- rules, clusters, suggestions (pages) ---
    page("rule-list", "GET", V, 200, verify=page_shows(lambda ctx: "drafts")),
    page(
        "rule-new",
        "POST",
        TAXONOMY,
        302,
        data=lambda ctx: {"name": "budget rule", "kind": "blacklist", "pattern": "budget", "whole_word": "on"},
        verify=lambda ctx, response: Rule.objects.get(project=ctx.project, name="budget rule"),
    ),
    page(
        "rule-preview",
        "POST",
        TAXONOMY,
        200,
        data=lambda ctx: {"name": "p", "kind": "blacklist", "pattern": "budget", "whole_word": "on"},
        verify=page_shows(lambda ctx: "<strong>1</strong> of 2 items match"),
    ),
    page(
        "rule-action",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=lambda ctx: {"rule_id": ctx.rule.pk, "action": "apply"},
        verify=lambda ctx, response: Exclusion.objects.get(rule=ctx.rule),
    ),
    page("cluster-page", "GET", V, 200, verify=page_shows(lambda ctx: "The match ended in a draw")),
    page(
        "cluster-start",
        "POST",
        RUN,  # Issue 20, bug 5: admins run clustering, experts no longer replace the admin's result
        302,
        data=lambda ctx: {"k_min": 2, "k_max": 5},
        verify=redirects_to_new_job("cluster"),
    ),
    page(
        "cluster-promote",
        "POST",
        TAXONOMY,
        302,
        url_kwargs=lambda ctx: {"cluster_id": ctx.cluster.pk},
        data=lambda ctx: {"new_label_name": "Promoted"},
        verify=label_is("Promoted"),
    ),
    page("candidate-list", "GET", ANNOTATE, 200, verify=page_shows(lambda ctx: ctx.candidate.item.text)),
    page(
        "candidate-bulk",
        "POST",
        ANNOTATE,
        302,
        data=lambda ctx: {"scope": "selected", "selected": [ctx.candidate.pk], "decision": "reject"},
        verify=candidate_is(CandidateStatus.REJECTED),
    ),
    page(
        "candidate-decide",
        "POST",
        ANNOTATE,
        302,
        url_kwargs=lambda ctx: {"annotation_id": ctx.candidate.pk, "decision": "reject"},
        verify=candidate_is(CandidateStatus.REJECTED),
    ),
    # --- rules, clusters, suggestions (API) ---
    api("api-rule-list", "GET", V, 200, verify=api_json(lambda ctx, data: data[0]["name"] == "drafts")),
    api(
        "api-rule-list",
        "POST",
        TAXONOMY,
        201,
        data=lambda ctx: {"name": "api rule", "pattern": "budget", "kind": "blacklist"},
        verify=lambda ctx, response: Rule.objects.get(project=ctx.project, name="api rule"),
    ),
    api(
        "api-rule-preview",
        "POST",
        TAXONOMY,
        200,
        data=lambda ctx: {"pattern": "budget", "kind": "blacklist"},
        verify=api_json(lambda ctx, data: data["matched"] == 1),
    ),
    api("api-rule-detail", "GET", V, 200, url_kwargs=lambda ctx: {"rule_id": ctx.rule.pk}),
    api(
        "api-rule-detail",
        "PATCH",
        TAXONOMY,
        200,
        url_kwargs=lambda ctx: {"rule_id": ctx.rule.pk},
        data=lambda ctx: {"pattern": "match"},
        verify=lambda ctx, response: Rule.objects.get(pk=ctx.rule.pk, pattern="match"),
    ),
    api(
        "api-rule-detail",
        "DELETE",
        TAXONOMY,
        204,
        url_kwargs=lambda ctx: {"rule_id": ctx.rule.pk},
        verify=lambda ctx, response: not Rule.objects.filter(pk=ctx.rule.pk).exists() or pytest.fail("not deleted"),
    ),
    api(
        "api-rule-apply",
        "POST",
        TAXONOMY,
        200,
        url_kwargs=lambda ctx: {"rule_id": ctx.rule.pk},
        verify=api_json(lambda ctx, data: data["excluded"] == 1),
    ),
    api("api-clusters", "GET", V, 200, verify=api_json(lambda ctx, data: data["k"] == 1)),
    api(
        "api-clusters",
        "POST",
        RUN,  # Issue 20, bug 5
        202,
        data=lambda ctx: {"k": 3},
        verify=new_job_in_response("cluster"),
    ),
    api(
        "api-cluster-promote",
        "POST",
        TAXONOMY,
        201,
        url_kwargs=lambda ctx: {"cluster_id": ctx.cluster.pk},
        data=lambda ctx: {"new_label_name": "Promoted"},
        verify=label_is("Promoted"),
    ),
    api("api-candidate-list", "GET", V, 200, verify=api_json(lambda ctx, data: data[0]["id"] == ctx.candidate.pk)),
    api(
        "api-candidate-bulk",
        "POST",
        ANNOTATE,
        200,
        data=lambda ctx: {"ids": [ctx.candidate.pk]},
        verify=candidate_is(CandidateStatus.CONFIRMED),
    ),
    api(
        "api-candidate-accept",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=lambda ctx: {"annotation_id": ctx.candidate.pk},
        verify=candidate_is(CandidateStatus.CONFIRMED),
    ),
    api(
        "api-candidate-reject",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=lambda ctx: {"annotation_id": ctx.candidate.pk},
        verify=candidate_is(CandidateStatus.REJECTED),
    ),
    # --- review, adjudication, progress (pages) ---
    page("review", "GET", Capability.REVIEW, 200, verify=page_shows(lambda ctx: "The match ended in a draw")),
    page(
        "review-correct",
        "POST",
        Capability.REVIEW,
        302,
        url_kwargs=lambda ctx: {"annotation_id": seed_annotation(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk], "note": "not a sports story"},
        verify=all_of(redirects_to("review"), corrected_to("Politics")),
    ),
    page(
        "adjudication",
        "GET",
        Capability.REVIEW,
        200,
        query=lambda ctx: {"item": seed_item(ctx).pk},
        verify=page_shows(lambda ctx: "The match ended in a draw"),
    ),
    page(
        "adjudicate",
        "POST",
        Capability.REVIEW,
        302,
        url_kwargs=lambda ctx: {"item_id": seed_item(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk]},
        verify=all_of(redirects_to("adjudication"), adjudicated_as("Politics")),
    ),
    page("dashboard", "GET", V, 200, verify=page_shows(lambda ctx: "Queue in random order")),
    # --- noisy labels ---
    page("noise-page", "GET", Capability.REVIEW, 200, verify=page_shows(lambda ctx: "The match ended in a draw")),
    page(
        "noise-start",
        "POST",
        RUN,
        302,
        data=lambda ctx: {"detectors": ["kfold", "deep_knn"], "filter_by": "both"},
        verify=redirects_to("noise-page"),  # two seed items are too few: the reason is a message
    ),
    page(
        "noise-decide",
        "POST",
        Capability.REVIEW,
        302,
        url_kwargs=lambda ctx: {"flag_id": ctx.flag.pk, "decision": "exclude"},
        verify=all_of(redirects_to("noise-page"), noise_excluded),
    ),
    api(
        "api-noise-start",
        "POST",
        RUN,
        400,
        data=lambda ctx: {"detectors": ["kfold"], "audit_test": True},
        verify=api_json(lambda ctx, data: "label 18 more item(s)" in data["detail"]),
    ),
    # --- augmentation (pages; issue 24) ---
    page("augment-page", "GET", Capability.AUGMENT, 200, verify=page_shows(lambda ctx: "Counts per class")),
    page(
        "augment-start",
        "POST",
        Capability.AUGMENT,
        400,
        data=lambda ctx: {"classes": [ctx.label("Sport").pk], "ops": ["swap"], "copies": "1"},
        verify=page_shows(lambda ctx: f"Augmentation job #{ctx.augment_job.pk} is already queued"),
    ),
    page(
        "augment-decide",
        "POST",
        Capability.AUGMENT,
        302,
        data=lambda ctx: {"action": "accept", "ids": [ctx.augmented.pk], "back": "status=accepted"},
        verify=lambda ctx, r: (
            r["Location"].endswith("/augment/?status=accepted")
            and AugmentedText.objects.get(pk=ctx.augmented.pk).status == AugmentStatus.ACCEPTED
        ),
    ),
    page(
        "augment-job",
        "GET",
        Capability.AUGMENT,
        200,
        url_kwargs=lambda ctx: {"job_id": ctx.augment_job.pk},
        verify=page_shows(lambda ctx: f"Job #{ctx.augment_job.pk}"),
    ),
    page(
        "augment-cancel",
        "POST",
        Capability.AUGMENT,
        302,
        url_kwargs=lambda ctx: {"job_id": ctx.augment_job.pk},
        verify=all_of(redirects_to("augment-page"), job_is("augment_job", JobStatus.CANCELLED, cancel_requested=True)),
    ),
    # --- augmentation (issue 24): experts and admins ---
    api(
        "api-augment",
        "GET",
        Capability.AUGMENT,
        200,
        verify=api_json(lambda ctx, d: {row["name"] for row in d["classes"]} >= {"Sport", "Politics"}),
    ),
    api(
        "api-augment",
        "POST",
        Capability.AUGMENT,
        202,
        data=lambda ctx: {"ops": ["swap"], "copies": 1, "use_filter": False},
        prepare=lambda ctx, user: Job.objects.filter(pk=ctx.augment_job.pk).update(status=JobStatus.SUCCEEDED),
        verify=api_json(lambda ctx, d: Job.objects.get(pk=d["id"]).kind == "augment"),
    ),
    api(
        "api-augment-samples",
        "GET",
        Capability.AUGMENT,
        200,
        query={"status": "pending"},
        verify=api_json(lambda ctx, d: [row["id"] for row in d["results"]] == [ctx.augmented.pk]),
    ),
    api(
        "api-augment-decide",
        "POST",
        Capability.AUGMENT,
        200,
        data=lambda ctx: {"ids": [ctx.augmented.pk], "status": "accepted"},
        verify=api_json(lambda ctx, d: AugmentedText.objects.get(pk=ctx.augmented.pk).status == AugmentStatus.ACCEPTED),
    ),
    api(
        "api-augment-cancel",
        "POST",
        Capability.AUGMENT,
        200,
        url_kwargs=lambda ctx: {"job_id": ctx.augment_job.pk},
        verify=api_json(lambda ctx, d: d["status"] == JobStatus.CANCELLED),
    ),
    # --- the annotation queue (pages) ---
    page("queue", "GET", ANNOTATE, 200, verify=page_shows(lambda ctx: f'data-item="{open_item(ctx).pk}"')),
    page("queue-undo", "GET", ANNOTATE, 200, verify=page_shows(lambda ctx: "Nothing earlier to undo")),
    page(
        "queue-submit",
        "POST",
        ANNOTATE,
        302,
        url_kwargs=lambda ctx: {"item_id": overlap_item(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk]},
        verify=all_of(redirects_to("queue"), human_label_is("Politics", overlap_item)),
        prepare=leased(overlap_item),
    ),
    page(
        "queue-skip",
        "POST",
        ANNOTATE,
        302,
        prepare=leased(seed_item),
        url_kwargs=lambda ctx: {"item_id": seed_item(ctx).pk},
        data=lambda ctx: {"unclear": "1", "comment": "ambiguous"},
        verify=all_of(redirects_to("queue"), flagged_with("ambiguous")),
    ),
    page(
        "queue-binary",
        "GET",
        ANNOTATE,
        200,
        url_kwargs=lambda ctx: {"label_id": ctx.label("Suggested").pk},
        verify=page_shows(lambda ctx: f'data-item="{ctx.candidate.item_id}"'),
    ),
    page(
        "queue-binary-decide",
        "POST",
        ANNOTATE,
        302,
        url_kwargs=lambda ctx: {
            "label_id": ctx.label("Suggested").pk,
            "item_id": ctx.candidate.item_id,
            "decision": "reject",
        },
        verify=candidate_is(CandidateStatus.REJECTED),
        prepare=leased(lambda ctx: ctx.candidate.item),
    ),
    # --- the annotation queue (API) ---
    api(
        "api-queue-next",
        "POST",
        ANNOTATE,
        200,
        verify=api_json(lambda ctx, data: data["item"]["id"] == open_item(ctx).pk),
    ),
    api("api-queue-previous", "GET", ANNOTATE, 200, verify=api_json(lambda ctx, data: data["item"] is None)),
    api(
        "api-queue-submit",
        "POST",
        ANNOTATE,
        201,
        url_kwargs=lambda ctx: {"item_id": overlap_item(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk]},
        verify=human_label_is("Politics", overlap_item),
        prepare=leased(overlap_item),
    ),
    api(
        "api-queue-skip",
        "POST",
        ANNOTATE,
        200,
        prepare=leased(seed_item),
        url_kwargs=lambda ctx: {"item_id": seed_item(ctx).pk},
        data=lambda ctx: {"unclear": True, "comment": "ambiguous"},
        verify=flagged_with("ambiguous"),
    ),
    # --- models (pages) ---
    page("model-list", "GET", V, 200, verify=page_shows(lambda ctx: "fast_head")),
    page(
        "model-train",
        "POST",
        RUN,
        302,
        data=lambda ctx: {"preset": "fast_head"},
        verify=redirects_to("model-list"),  # two seed items are too few: the reason is a message
    ),
    page("model-detail", "GET", V, 200, url_kwargs=version_id, verify=page_shows(lambda ctx: "fast_head v1")),
    page(
        "model-compare",
        "GET",
        V,
        200,
        query=lambda ctx: {"a": ctx.version.pk, "b": ctx.version.pk},
        verify=page_shows(lambda ctx: "v1 → fast_head v1"),
    ),
    page(
        "model-activate",
        "POST",
        RUN,
        302,
        url_kwargs=version_id,
        verify=active_model_is_set,
    ),
    # issue 21: no teacher chosen is refused at the field, nothing queued
    page(
        "model-distill",
        "POST",
        RUN,
        400,
        data=lambda ctx: {"student": "text_cnn", "scheme": "both", "temperature": 2, "alpha": 0.5, "confidence": 0},
        verify=page_shows(lambda ctx: "Choose at least one teacher version."),
    ),
    page("model-speed", "POST", RUN, 302, url_kwargs=version_id, verify=redirects_to_new_job("speed")),
    # issue 21: export, promotions, the Predict page (no active model: each action says so)
    page("model-export", "GET", EXPORT, 200, url_kwargs=version_id, prepare=version_files, verify=is_zip),
    page("predict-page", "GET", V, 200, verify=page_shows(lambda ctx: "Predict the file")),
    page(
        "predict-page",
        "POST",
        V,
        400,
        data=lambda ctx: {"texts": "a late goal"},
        verify=page_shows(lambda ctx: "no active model"),
    ),
    page(
        "predict-file",
        "POST",
        V,
        400,
        data=lambda ctx: {"file": csv_upload("texts.csv")},
        verify=page_shows(lambda ctx: "no active model"),
    ),
    page("predict-pool", "POST", Capability.REVIEW, 400, verify=page_shows(lambda ctx: "no active model")),
    page(
        "predict-download",
        "GET",
        V,
        400,
        url_kwargs=job_id,
        verify=page_shows(lambda ctx: "This job is not a batch prediction."),
    ),
    # --- active learning ---
    page("active-learning", "GET", V, 200, verify=page_shows(lambda ctx: "Stopping signal")),
    page(
        "active-learning-rescore",
        "POST",
        RUN,
        302,
        verify=redirects_to("active-learning"),
    ),
    page(
        "active-learning-strategy",
        "POST",
        SETTINGS,
        302,
        data=lambda ctx: {"al_strategy": "kmeans_diversity"},
        verify=lambda ctx, r: all_of(redirects_to("active-learning"), settings_are(al_strategy="kmeans_diversity"))(
            ctx, r
        ),
    ),
    api(
        "api-rescore",
        "POST",
        RUN,
        202,
        verify=api_json(lambda ctx, data: data["created"] and data["job"]["kind"] == "rescore"),
    ),
    # --- models (API) ---
    api("api-model-list", "GET", V, 200, verify=api_json(lambda ctx, data: data[0]["number"] == 1)),
    api(
        "api-model-list",
        "POST",
        RUN,
        400,
        data=lambda ctx: {"preset": "fast_head"},
        verify=api_json(lambda ctx, data: "at least 10 labeled training items" in data["detail"]),
    ),
    api("api-model-detail", "GET", V, 200, url_kwargs=version_id),
    api("api-model-activate", "POST", RUN, 200, url_kwargs=version_id, verify=active_model_is_set),
    api(
        "api-model-distill",
        "POST",
        RUN,
        400,
        data=lambda ctx: {"teachers": []},
        verify=api_json(lambda ctx, data: data["key"] == "teachers"),
    ),
    api("api-model-speed", "POST", RUN, 202, url_kwargs=version_id, verify=new_job_in_response("speed")),
    api("api-model-export", "GET", EXPORT, 200, url_kwargs=version_id, prepare=version_files, verify=is_zip),
    api("api-model-promotions", "GET", V, 200, verify=api_json(lambda ctx, data: data == [])),
    api(
        "api-predict-batch-file",
        "POST",
        V,
        400,
        data=lambda ctx: {"file": csv_upload("texts.csv")},
        format="multipart",
        verify=api_json(lambda ctx, data: "no active model" in data["detail"]),
    ),
    api(
        "api-predict-batch-pool",
        "POST",
        Capability.REVIEW,
        400,
        verify=api_json(lambda ctx, data: "no active model" in data["detail"]),
    ),
    api(
        "api-predict",
        "POST",
        V,
        400,
        data=lambda ctx: {"texts": ["a late goal"]},
        verify=api_json(lambda ctx, data: "no active model" in data["detail"]),
    ),
    api(
        "api-predict-slash",
        "POST",
        V,
        400,
        data=lambda ctx: {"texts": ["a late goal"]},
        verify=api_json(lambda ctx, data: "no active model" in data["detail"]),
    ),
    api(
        "api-predict-batch",
        "POST",
        V,
        400,
        data=lambda ctx: {"texts": ["a late goal"] * 40},
        verify=api_json(lambda ctx, data: "no active model" in data["detail"]),
    ),
    api(
        "api-predict-batch-result",
        "GET",
        V,
        400,
        url_kwargs=job_id,
        verify=api_json(lambda ctx, data: data["detail"] == "This job is not a batch prediction."),
    ),
    # --- issue 20: API parity (review, adjudication, noise review, binary mode, progress, deletion) ---
    page(
        "project-delete",
        "POST",
        Capability.DELETE_PROJECT,
        302,
        data=lambda ctx: {"confirm": ctx.project.name},
        verify=all_of(redirects_to_project_list, project_gone),
    ),
    api(
        "api-project-detail",
        "DELETE",
        Capability.DELETE_PROJECT,
        204,
        query=lambda ctx: {"confirm": ctx.project.name},
        verify=project_gone,
    ),
    api(
        "api-project-detail",
        "DELETE",
        Capability.DELETE_PROJECT,
        400,
        query={"confirm": "roles"},  # not the exact name
        verify=project_kept_with_reason,
        variant="wrong confirmation",
    ),
    api(
        "api-review-list",
        "GET",
        Capability.REVIEW,
        200,
        query={"source": "import"},
        verify=api_json(lambda ctx, d: seed_annotation(ctx).pk in {row["id"] for row in d["results"]}),
    ),
    api(
        "api-review-correct",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"annotation_id": seed_annotation(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk], "note": "not a sports story"},
        verify=all_of(corrected_to("Politics"), api_json(lambda ctx, d: d["changed"] is True)),
    ),
    api("api-adjudication-list", "GET", Capability.REVIEW, 200, verify=api_json(lambda ctx, d: d["count"] == 0)),
    api(
        "api-adjudication-case",
        "GET",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"item_id": seed_item(ctx).pk},
        verify=api_json(lambda ctx, d: d["text"] == "The match ended in a draw" and d["decision"] == []),
    ),
    api(
        "api-adjudication-case",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"item_id": seed_item(ctx).pk},
        data=lambda ctx: {"labels": [ctx.label("Politics").pk]},
        verify=adjudicated_as("Politics"),
    ),
    api(
        "api-noise-status",
        "GET",
        Capability.REVIEW,
        200,
        verify=api_json(lambda ctx, d: d["counts"]["open"] == 1 and d["latest_run"]["id"] == ctx.flag.run_id),
    ),
    api(
        "api-noise-flag-list",
        "GET",
        Capability.REVIEW,
        200,
        verify=api_json(lambda ctx, d: [row["id"] for row in d["results"]] == [ctx.flag.pk]),
    ),
    api(
        "api-noise-flag-keep",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"flag_id": ctx.flag.pk},
        verify=flag_is(NoiseStatus.KEPT),
    ),
    api(
        "api-noise-flag-relabel",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"flag_id": ctx.flag.pk},
        data=lambda ctx: {"note": "a budget story"},  # no label: the suggestion, Politics
        verify=all_of(flag_is(NoiseStatus.RELABELED), adjudicated_as("Politics")),
    ),
    api(
        "api-noise-flag-exclude",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"flag_id": ctx.flag.pk},
        verify=noise_excluded,
    ),
    api(
        "api-noise-flag-reopen",
        "POST",
        Capability.REVIEW,
        200,
        url_kwargs=lambda ctx: {"flag_id": ctx.flag.pk},
        prepare=flag_kept,
        verify=flag_is(NoiseStatus.OPEN),
    ),
    api("api-noise-corrections", "GET", MEMBERS, 200, verify=api_json(lambda ctx, d: isinstance(d, list))),
    api(
        "api-binary-next",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=lambda ctx: {"label_id": ctx.label("Suggested").pk},
        verify=api_json(lambda ctx, d: d["item"]["id"] == ctx.candidate.item_id),
    ),
    api(
        "api-binary-accept",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=binary_url,
        prepare=leased(lambda ctx: ctx.candidate.item),
        verify=human_label_is("Suggested", lambda ctx: ctx.candidate.item),
    ),
    api(
        "api-binary-reject",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=binary_url,
        prepare=leased(lambda ctx: ctx.candidate.item),
        verify=candidate_is(CandidateStatus.REJECTED),
    ),
    api(
        "api-binary-skip",
        "POST",
        ANNOTATE,
        200,
        url_kwargs=binary_url,
        prepare=leased(lambda ctx: ctx.candidate.item),
        verify=skipped_candidate_item,
    ),
    api(
        "api-progress",
        "GET",
        V,
        200,
        verify=api_json(lambda ctx, d: d["pool"]["items"] == 2 and d["queue"]["score_run"] is None),
    ),
    api("api-agreement", "GET", V, 200, verify=api_json(lambda ctx, d: d["overlap_items"] == 0)),
    api(
        "api-active-learning",
        "GET",
        V,
        200,
        verify=api_json(lambda ctx, d: [p["version_id"] for p in d["points"]] == [ctx.version.pk]),
    ),
]


def send(case: Case, ctx: Ctx, user, *, project_id: int | None = None, method: str | None = None):
    """Make the case's request as `user` (None: anonymous)."""
    url = case.url(ctx, project_id)
    method = method or case.method
    data = case.data(ctx) if case.data else None
    query = (case.query(ctx) if callable(case.query) else case.query) or {}
    if case.api:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        if method == "GET":
            return client.get(url, query)
        if query:  # e.g. DELETE ?confirm=
            url = f"{url}?{urlencode(query)}"
        return getattr(client, method.lower())(url, data or {}, format=case.format)
    client = Client()
    if user is not None:
        client.force_login(user)
    if method == "GET":
        return client.get(url, query)
    if method == "POST":
        return client.post(url, data or {})
    return getattr(client, method.lower())(url)


# --- the matrix ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_role_matrix(case: Case, role: str, ctx: Ctx):
    if case.prepare:
        case.prepare(ctx, ctx.users[role])
    before = state(ctx.project)
    response = send(case, ctx, ctx.users[role])
    if role == "outsider":
        expected = 404
    elif role_can(role, case.capability):
        expected = case.success
    else:
        expected = 403
    assert response.status_code == expected, f"{case.id} as {role}: {body(response)[:300]!r}"
    if expected == case.success:
        if case.verify:
            case.verify(ctx, response)
    else:
        assert state(ctx.project) == before, f"{case.id} as {role} was refused but changed something"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_anonymous_is_sent_to_login_or_refused(case: Case, ctx: Ctx):
    before = state(ctx.project)
    response = send(case, ctx, None)
    if case.api:
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302
        login = resolve_url(settings.LOGIN_URL)
        assert response["Location"].startswith(f"{login}?next=")
    assert state(ctx.project) == before


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_missing_project_is_404_even_for_an_admin(case: Case, ctx: Ctx):
    response = send(case, ctx, ctx.users[Role.ADMIN], project_id=MISSING_ID)
    assert response.status_code == 404


@pytest.fixture
def other(make_user) -> tuple[Project, object, Job]:
    """A second project, with its own admin and a queued job."""
    admin = make_user("other_admin")
    project = project_create(name="Other", created_by=admin)
    return project, admin, Job.objects.create(project=project, kind="selfcheck")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_an_admin_of_another_project_is_an_outsider(case: Case, ctx: Ctx, other):
    _project, other_admin, _job = other
    before = state(ctx.project)
    assert send(case, ctx, other_admin).status_code == 404
    assert state(ctx.project) == before


def test_role_capabilities_are_nested():
    annotator, expert, admin = (ROLE_CAPABILITIES[role] for role in (Role.ANNOTATOR, Role.EXPERT, Role.ADMIN))
    assert annotator == {Capability.VIEW, Capability.ANNOTATE}
    assert expert == annotator | {Capability.EDIT_TAXONOMY, Capability.REVIEW, Capability.EXPORT, Capability.AUGMENT}
    assert admin == set(Capability)
    assert annotator < expert < admin
    assert not any(role_can(None, capability) for capability in Capability)


# --- the table is complete -------------------------------------------------------------------------------------


def project_scoped_url_names() -> set[str | None]:
    """Names of all URL patterns whose full route contains `project_id` (None for an unnamed one)."""
    names: set[str | None] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif "project_id" in route:
                names.add(pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_project_scoped_url_is_in_the_matrix():
    scoped = project_scoped_url_names()
    in_table = {case.url_name for case in CASES}
    assert None not in scoped, "a project-scoped URL pattern has no name, so the matrix cannot cover it"
    assert scoped - in_table == set(), "project-scoped URLs without a row in CASES"
    assert in_table - scoped == set(), "rows in CASES for URLs that are not project-scoped"
    assert len(scoped) >= 22  # 12 page names + 10 API names when this was written: the walk must find them


@pytest.mark.parametrize("url_name", sorted({case.url_name for case in CASES}))
def test_methods_outside_the_matrix_are_not_allowed(url_name: str, ctx: Ctx):
    """An admin passes every capability check, so any method missing from CASES must answer 405."""
    cases = [case for case in CASES if case.url_name == url_name]
    covered = {case.method for case in cases}
    before = state(ctx.project)
    for method in METHODS:
        if method not in covered:
            response = send(cases[0], ctx, ctx.users[Role.ADMIN], method=method)
            assert response.status_code == 405, f"{method} {url_name} answers {response.status_code}, add a row"
    assert state(ctx.project) == before


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_api_export_accepts_a_format_parameter(fmt: str, ctx: Ctx):
    """Regression: DRF used to take ?format= as its renderer override and answer 404 before the view ran."""
    client = APIClient()
    client.force_authenticate(ctx.users[Role.EXPERT])
    response = client.get(reverse("api-export", kwargs={"project_id": ctx.project.pk}), {"format": fmt})
    assert response.status_code == 200
    assert f"project-{ctx.project.pk}-{fmt}.{fmt}" in response["Content-Disposition"]


# --- objects from another project ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "method", "api"),
    [
        ("job-detail", "GET", False),
        ("job-cancel", "POST", False),
        ("api-job-detail", "GET", True),
        ("api-job-cancel", "POST", True),
    ],
)
def test_a_job_of_another_project_is_404(url_name: str, method: str, api: bool, ctx: Ctx, other):
    other_project, other_admin, foreign_job = other
    case = Case(url_name, method, RUN, 0, api=api, url_kwargs=lambda c: {"job_id": foreign_job.pk})
    before = state(ctx.project)
    response = send(case, ctx, ctx.users[Role.ADMIN])
    assert response.status_code == 404
    assert state(ctx.project) == before
    foreign_job.refresh_from_db()
    assert (foreign_job.status, foreign_job.cancel_requested) == (JobStatus.QUEUED, False)
    if method == "GET":  # under its own project the same id is found: the 404 above is the project check
        assert send(case, ctx, other_admin, project_id=other_project.pk).status_code == 200


@pytest.mark.parametrize(
    ("url_name", "method", "api"),
    [
        ("member-remove", "GET", False),
        ("member-remove", "POST", False),
        ("api-member-detail", "PUT", True),
        ("api-member-detail", "DELETE", True),
    ],
)
def test_a_member_of_another_project_is_404(url_name: str, method: str, api: bool, ctx: Ctx, other):
    other_project, other_admin, _job = other
    case = Case(
        url_name,
        method,
        MEMBERS,
        0,
        api=api,
        url_kwargs=lambda c: {"user_id": other_admin.pk},
        data=lambda c: {"role": Role.ANNOTATOR},
    )
    before = state(ctx.project)
    assert send(case, ctx, ctx.users[Role.ADMIN]).status_code == 404
    assert state(ctx.project) == before
    assert Membership.objects.get(project=other_project, user=other_admin).role == Role.ADMIN


LABEL_SCOPED = sorted(
    {(case.url_name, case.method, case.api) for case in CASES if getattr(case.url_kwargs, "label_scoped", False)}
)


@pytest.mark.parametrize(("url_name", "method", "api"), LABEL_SCOPED)
def test_a_label_of_another_project_is_404(url_name: str, method: str, api: bool, ctx: Ctx, other):
    other_project, other_admin, _job = other
    foreign = label_create(project=other_project, name="Foreign", by=other_admin)
    case = Case(
        url_name,
        method,
        TAXONOMY,
        0,
        api=api,
        url_kwargs=lambda c: {"label_id": foreign.pk},
        data=lambda c: {
            "name": "Hijacked",
            "parent": None if api else "",
            "target": c.label("Sport").pk,
            "children": ["A", "B"],
        },
        query=sport_target,
    )
    before = state(ctx.project)
    foreign_before = list(other_project.labels.values_list("id", "name", "active", "parent_id"))
    assert send(case, ctx, ctx.users[Role.ADMIN]).status_code == 404
    assert state(ctx.project) == before
    assert list(other_project.labels.values_list("id", "name", "active", "parent_id")) == foreign_before
    if method == "GET":  # under its own project the same id is found: the 404 above is the project check
        assert send(case, ctx, other_admin, project_id=other_project.pk).status_code != 404


# --- endpoints outside any project -----------------------------------------------------------------------------


def test_api_project_list_shows_only_the_users_projects(ctx: Ctx, other):
    other_project, other_admin, _job = other
    member_set_role(project=other_project, user=ctx.users[Role.EXPERT], role=Role.ANNOTATOR)

    def listed(user) -> set[int]:
        client = APIClient()
        client.force_authenticate(user)
        response = client.get(reverse("api-project-list"))
        assert response.status_code == 200
        return {project["id"] for project in response.json()}

    assert listed(ctx.users[Role.ANNOTATOR]) == {ctx.project.pk}
    assert listed(ctx.users[Role.EXPERT]) == {ctx.project.pk, other_project.pk}
    assert listed(other_admin) == {other_project.pk}
    assert listed(ctx.users["outsider"]) == set()
    assert APIClient().get(reverse("api-project-list")).status_code in (401, 403)


def test_api_project_create_makes_the_creator_admin(ctx: Ctx):
    creator = ctx.users["outsider"]
    client = APIClient()
    client.force_authenticate(creator)
    response = client.post(reverse("api-project-list"), {"name": "Fresh", "language": "multi"}, format="json")
    assert response.status_code == 201
    project = Project.objects.get(pk=response.json()["id"])
    assert (project.name, project.language, project.created_by) == ("Fresh", "multi", creator)
    assert list(project.memberships.values_list("user", "role")) == [(creator.pk, Role.ADMIN)]
    detail = client.get(reverse("api-project-detail", kwargs={"project_id": project.pk}))
    assert (detail.status_code, detail.json()["role"]) == (200, Role.ADMIN)
    # ...and it is still a stranger to the projects it is not a member of.
    assert client.get(reverse("api-project-detail", kwargs={"project_id": ctx.project.pk})).status_code == 404
    assert APIClient().post(reverse("api-project-list"), {"name": "Anon"}, format="json").status_code in (401, 403)
    assert not Project.objects.filter(name="Anon").exists()


def test_page_project_new_makes_the_creator_admin(ctx: Ctx):
    creator = ctx.users[Role.ANNOTATOR]
    client = Client()
    client.force_login(creator)
    response = client.post(reverse("project-new"), {"name": "From page", "task_type": "single", "language": "en"})
    project = Project.objects.get(name="From page")
    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", kwargs={"project_id": project.pk})
    assert Membership.objects.get(project=project, user=creator).role == Role.ADMIN
    listed = client.get(reverse("project-list")).content.decode()
    assert "From page" in listed and "Roles" in listed
    assert get_user_model().objects.filter(memberships__project=project).count() == 1


# --- which fields each role sees (issue 19, finding 2) ---------------------------------------------------------
#
# Annotators never see the answer key (gold labels in meta, the locked test split) nor other people's
# answers; experts and admins see everything. Each row names a URL, how to prepare the requesting user
# (e.g. the lease the queue would give them), and markers: strings that must not reach an annotator and,
# where `experts_too` is set, must reach experts and admins (so the row proves the data is really there).

GOLD_MARKER = "GOLD-ANSWER-KEY-7f3a"
TEST_TEXT = "TEST-SPLIT-ARTICLE-ab12 the cup final went to penalties"
KEYED_TEXT = "The keyed pool article about the election"
COLLEAGUE_LABEL = "Colleague-answer-c9d1"
SECRET_LABEL = "Secret-test-label-e5f6"


@dataclasses.dataclass(frozen=True)
class Marker:
    text: str
    experts_too: bool  # whether experts and admins see it here


@dataclasses.dataclass(frozen=True)
class FieldCase:
    url_name: str
    method: str
    api: bool
    markers: tuple[Marker, ...]
    query: Callable[[Ctx], dict] | None = None
    url_kwargs: Callable[[Ctx], dict] = lambda ctx: {}
    prepare: Callable[[Ctx, object], None] | None = None
    annotator_status: int = 200  # what an annotator gets (a refusal is also no leak)
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.url_name}" + (f" ({self.variant})" if self.variant else "")


def keyed_item(ctx: Ctx) -> Item:
    return ctx.project.items.get(text=KEYED_TEXT)


def _answer_key(ctx: Ctx) -> None:
    """A pool item with a gold label in meta that a colleague answered, and a labeled test item."""
    records = [Record(line=1, text=KEYED_TEXT, labels=(), meta={"gold_label": GOLD_MARKER, "source": "wire"})]
    import_parsed(project=ctx.project, records=records, split="pool", report=ImportReport(format="test"))
    test = [Record(line=1, text=TEST_TEXT, labels=(SECRET_LABEL,), meta={"gold_label": SECRET_LABEL})]
    import_parsed(project=ctx.project, records=test, split="test", report=ImportReport(format="test"))
    item = keyed_item(ctx)
    item.required_annotations, item.is_open = 5, True  # room for everyone in the table
    item.save()
    colleague = label_create(project=ctx.project, name=COLLEAGUE_LABEL, by=ctx.users[Role.ADMIN])
    annotation_submit(item=item, annotator=ctx.target, labels=[colleague])


def answered_keyed_item(ctx: Ctx, user) -> None:
    lease_item(item=keyed_item(ctx), user=user, now=timezone.now())
    annotation_submit(item=keyed_item(ctx), annotator=user, labels=[ctx.label("Sport")])


def suggested_for_colleague_label(ctx: Ctx, user) -> None:
    """The model suggests the colleague's label for the keyed pool item and for the test item: binary mode
    serves the first (its gold label hidden from annotators) and never the second."""
    label = ctx.label(COLLEAGUE_LABEL)
    ctx.project.items.filter(text__in=[KEYED_TEXT, TEST_TEXT]).update(suggested_label=label, is_open=True)


GOLD, TEST_ITEM = Marker(GOLD_MARKER, True), Marker(TEST_TEXT, True)
COLLEAGUE_TAG = Marker(f'<span class="tag">{COLLEAGUE_LABEL}</span>', True)
SECRET_TAG = Marker(f'<span class="tag">{SECRET_LABEL}</span>', True)

FIELD_CASES: list[FieldCase] = [
    FieldCase("api-item-list", "GET", True, (GOLD, TEST_ITEM, Marker(COLLEAGUE_LABEL, True))),
    FieldCase(
        "api-item-list",
        "GET",
        True,
        (TEST_ITEM, Marker(SECRET_LABEL, True)),
        query=lambda ctx: {"split": "test"},
        annotator_status=403,
        variant="test split",
    ),
    FieldCase(
        "api-item-list",
        "GET",
        True,
        (GOLD, Marker(COLLEAGUE_LABEL, True)),
        query=lambda ctx: {"search": "keyed pool"},
        variant="search",
    ),
    FieldCase("item-list", "GET", False, (TEST_ITEM, COLLEAGUE_TAG, SECRET_TAG)),
    FieldCase(
        "item-list",
        "GET",
        False,
        (TEST_ITEM, SECRET_TAG),
        query=lambda ctx: {"split": "test"},
        annotator_status=403,
        variant="test split",
    ),
    FieldCase("api-queue-next", "POST", True, (GOLD,), prepare=lambda ctx, user: leased(keyed_item)(ctx, user)),
    FieldCase("api-queue-previous", "GET", True, (GOLD,), prepare=answered_keyed_item),
    FieldCase(
        "queue",
        "GET",
        False,
        (Marker(GOLD_MARKER, False),),
        query=lambda ctx: {"item": keyed_item(ctx).pk},
        prepare=lambda ctx, user: leased(keyed_item)(ctx, user),
    ),
    FieldCase(
        "queue-undo",
        "GET",
        False,
        (Marker(GOLD_MARKER, False),),
        prepare=answered_keyed_item,
    ),
    FieldCase(
        "queue-binary",
        "GET",
        False,
        (Marker(GOLD_MARKER, False), Marker(TEST_TEXT, False)),
        url_kwargs=lambda ctx: {"label_id": ctx.label(COLLEAGUE_LABEL).pk},
    ),
    FieldCase("api-candidate-list", "GET", True, (Marker(TEST_TEXT, False), Marker(GOLD_MARKER, False))),
    FieldCase(
        "api-binary-next",
        "POST",
        True,
        (GOLD, Marker(TEST_TEXT, False)),
        url_kwargs=lambda ctx: {"label_id": ctx.label(COLLEAGUE_LABEL).pk},
        prepare=suggested_for_colleague_label,
    ),
    FieldCase(
        "api-review-list",
        "GET",
        True,
        (Marker(COLLEAGUE_LABEL, True), TEST_ITEM),
        annotator_status=403,
    ),
    FieldCase(
        "api-adjudication-case",
        "GET",
        True,
        (GOLD, Marker(COLLEAGUE_LABEL, True)),
        url_kwargs=lambda ctx: {"item_id": keyed_item(ctx).pk},
        annotator_status=403,
    ),
    FieldCase("candidate-list", "GET", False, (Marker(TEST_TEXT, False), Marker(GOLD_MARKER, False))),
]


def send_field_case(case: FieldCase, ctx: Ctx, user):
    url = reverse(case.url_name, kwargs={"project_id": ctx.project.pk, **case.url_kwargs(ctx)})
    query = case.query(ctx) if case.query else {}
    if case.api:
        client = APIClient()
        client.force_authenticate(user)
        return client.get(url, query) if case.method == "GET" else client.post(url, {}, format="json")
    client = Client()
    client.force_login(user)
    return client.get(url, query) if case.method == "GET" else client.post(url, query)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.EXPERT, Role.ANNOTATOR])
@pytest.mark.parametrize("case", FIELD_CASES, ids=lambda case: case.id)
def test_fields_each_role_sees(case: FieldCase, role: str, ctx: Ctx):
    """Finding 2: no gold label, test-split item or colleague's answer reaches an annotator; experts and
    admins still see them."""
    _answer_key(ctx)
    user = ctx.users[role]
    if case.prepare:
        case.prepare(ctx, user)
    response = send_field_case(case, ctx, user)
    text = body(response).decode()
    if role == Role.ANNOTATOR:
        assert response.status_code == case.annotator_status, f"{case.id}: {text[:300]}"
        leaked = [marker.text for marker in case.markers if marker.text in text]
        assert not leaked, f"{case.id} shows an annotator {leaked}"
    else:
        assert response.status_code == 200, f"{case.id} as {role}: {text[:300]}"
        missing = [marker.text for marker in case.markers if marker.experts_too and marker.text not in text]
        assert not missing, f"{case.id} hides {missing} from {role}"


def test_every_item_reading_url_has_a_field_row():
    """URLs that show items' texts, meta or labels to annotators must have a row in FIELD_CASES."""
    readers = {
        "api-item-list", "item-list", "api-queue-next", "api-queue-previous", "queue", "queue-undo",
        "queue-binary", "api-candidate-list", "candidate-list", "api-binary-next", "api-review-list",
        "api-adjudication-case",
    }  # fmt: skip
    assert readers <= {case.url_name for case in FIELD_CASES}
