from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from annotator.api import items, jobs, projects

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("projects/", projects.ProjectListCreateApi.as_view(), name="api-project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<int:project_id>/labels/", projects.LabelListApi.as_view(), name="api-label-list"),
    path("projects/<int:project_id>/members/", projects.MemberListApi.as_view(), name="api-member-list"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        projects.MemberDetailApi.as_view(),
        name="api-member-detail",
    ),
    path("projects/<int:project_id>/items/", items.ItemListApi.as_view(), name="api-item-list"),
    path("projects/<int:project_id>/imports/", items.ImportApi.as_view(), name="api-import"),
    path("projects/<int:project_id>/export/", items.ExportApi.as_view(), name="api-export"),
    path("projects/<int:project_id>/jobs/", jobs.JobListApi.as_view(), name="api-job-list"),
    path("projects/<int:project_id>/jobs/<int:job_id>/", jobs.JobDetailApi.as_view(), name="api-job-detail"),
    path("projects/<int:project_id>/jobs/<int:job_id>/cancel/", jobs.JobCancelApi.as_view(), name="api-job-cancel"),
]
