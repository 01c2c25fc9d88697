from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.auth import lockout_response
from annotator.services.tokens import token_expires_at, token_issue

BAD_CREDENTIALS = "Unable to log in with these credentials."


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
        token = token_issue(user=user)
        return Response(self.TokenOutput({"token": token.key, "expires": token_expires_at(token=token)}).data)
