from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from annotator.auth import PASSWORD_CHANGE_SESSION_KEY
from annotator.services.accounts import account_must_change_password, account_password_change

PASSWORD_CHANGED = gettext_lazy("Your password is changed.")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Choose a new password with the current one; where an account made with a one-time password is
    held until it does (annotator.auth.PasswordChangeRequiredMiddleware)."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        account_password_change(user=request.user, password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, request.user)  # stay logged in here; other sessions end
        request.session.pop(PASSWORD_CHANGE_SESSION_KEY, None)
        messages.success(request, PASSWORD_CHANGED)
        return redirect("project-list")
    context = {"form": form, "one_time": account_must_change_password(user=request.user)}
    return render(request, "registration/password_change.html", context, status=400 if form.errors else 200)
