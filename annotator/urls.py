from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotator.views import items, jobs, projects

project_urls = [
    path("", projects.project_detail, name="project-detail"),
    path("members/", projects.member_list, name="member-list"),
    path("members/save/", projects.member_save, name="member-save"),
    path("members/<int:user_id>/remove/", projects.member_delete, name="member-remove"),
    path("items/", items.item_list, name="item-list"),
    path("import/", items.item_import, name="item-import"),
    path("export/", items.item_export, name="item-export"),
    path("export/download/", items.item_export_download, name="item-export-download"),
    path("jobs/", jobs.job_list, name="job-list"),
    path("jobs/selfcheck/", jobs.job_selfcheck, name="job-selfcheck"),
    path("jobs/<int:job_id>/", jobs.job_detail, name="job-detail"),
    path("jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job-cancel"),
]

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:project_id>/", include(project_urls)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("annotator.api.urls")),
    path("admin/", admin.site.urls),
]
