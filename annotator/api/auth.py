from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.auth import lockout_response
from annotator.services.accounts import PASSWORD_CHANGE_NEEDED, account_must_change_password, account_password_change
from annotator.services.tokens import token_expires_at, token_issue

BAD_CREDENTIALS = "Unable to log in with these credentials."
PASSWORD_CHANGED = "Your password is changed; earlier API tokens are revoked."


class TokenObtainApi(APIView):
    """A token for a username and password (valid for API_TOKEN_TTL; repeated failures lock out)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class TokenInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    class TokenOutput(serializers.Serializer):
        token = serializers.CharField()
        expires = serializers.DateTimeField()

    @extend_schema(request=TokenInput, responses={200: TokenOutput})
    def post(self, request):
        data = self.TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's request, not DRF's: the lockout marks the request it is given, and the middleware
        # reads the Django one.
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            if getattr(request._request, "axes_locked_out", False):
                return lockout_response(request._request)
            return Response({"detail": BAD_CREDENTIALS}, status=status.HTTP_400_BAD_REQUEST)
        if account_must_change_password(user=user):
            return Response({"detail": PASSWORD_CHANGE_NEEDED}, status=status.HTTP_403_FORBIDDEN)
        token = token_issue(user=user)
        return Response(self.TokenOutput({"token": token.key, "expires": token_expires_at(token=token)}).data)


class PasswordChangeApi(APIView):
    """Change a password with the current one: how an account made with a one-time password chooses its
    own without the pages (no token is issued before). Failures count towards the login lockout."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class PasswordChangeInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        old_password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
        new_password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    class PasswordChangedOutput(serializers.Serializer):
        detail = serializers.CharField()

    @extend_schema(request=PasswordChangeInput, responses={200: PasswordChangedOutput})
    def post(self, request):
        data = self.PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = {"username": data.validated_data["username"], "password": data.validated_data["old_password"]}
        user = authenticate(request._request, **credentials)
        if user is None:
            if getattr(request._request, "axes_locked_out", False):
                return lockout_response(request._request)
            return Response({"detail": BAD_CREDENTIALS}, status=status.HTTP_400_BAD_REQUEST)
        account_password_change(user=user, password=data.validated_data["new_password"])  # 400 from the validators
        return Response({"detail": PASSWORD_CHANGED})
