from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import ProjectAPIView
from annotator.api.errors import validation_error_response
from annotator.models import Membership, Project, Role, TaskType
from annotator.permissions import Capability
from annotator.selectors.projects import project_list_for, project_members, project_split_counts
from annotator.services.projects import member_remove, member_set_role, project_create


class ProjectOutput(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "description", "task_type", "language", "backbone", "hidden_meta_fields", "created_at"]


class ProjectListCreateApi(APIView):
    class ProjectCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        task_type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.SINGLE_LABEL)
        language = serializers.CharField(max_length=16, default="en")
        hidden_meta_fields = serializers.ListField(
            child=serializers.CharField(max_length=200),
            max_length=100,
            required=False,
            help_text="Item meta keys annotators never see; default: gold_label.",
        )

    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return Response(ProjectOutput(project_list_for(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput})
    def post(self, request):
        data = self.ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectAPIView):
    class ProjectDetailOutput(ProjectOutput):
        role = serializers.SerializerMethodField()
        split_counts = serializers.SerializerMethodField()

        class Meta(ProjectOutput.Meta):
            fields = [*ProjectOutput.Meta.fields, "role", "split_counts"]

        def get_role(self, project) -> str:
            return self.context["role"]

        def get_split_counts(self, project) -> dict[str, int]:
            return project_split_counts(project=project)

    @extend_schema(responses=ProjectDetailOutput)
    def get(self, request, project_id: int):
        return Response(self.ProjectDetailOutput(self.project, context={"role": self.role}).data)


class MemberOutput(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]


class MemberListApi(ProjectAPIView):
    capabilities = {"GET": Capability.VIEW, "POST": Capability.MANAGE_MEMBERS}

    class MemberAddInput(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request, project_id: int):
        return Response(MemberOutput(project_members(project=self.project), many=True).data)

    @extend_schema(request=MemberAddInput, responses={201: MemberOutput})
    def post(self, request, project_id: int):
        data = self.MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise serializers.ValidationError({"username": "No user with this username."})
        try:
            membership = member_set_role(project=self.project, user=user, role=data.validated_data["role"])
        except ValidationError as error:
            return validation_error_response(error)
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


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
