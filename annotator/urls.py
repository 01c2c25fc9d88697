from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotator.views import candidates, clusters, items, jobs, labels, projects, rules

project_urls = [
    path("", projects.project_detail, name="project-detail"),
    path("members/", projects.member_list, name="member-list"),
    path("members/save/", projects.member_save, name="member-save"),
    path("members/<int:user_id>/remove/", projects.member_delete, name="member-remove"),
    path("items/", items.item_list, name="item-list"),
    path("import/", items.item_import, name="item-import"),
    path("export/", items.item_export, name="item-export"),
    path("export/download/", items.item_export_download, name="item-export-download"),
    path("labels/", labels.label_tree_page, name="label-tree"),
    path("labels/new/", labels.label_new, name="label-new"),
    path("labels/history/", labels.label_history, name="label-history"),
    path("labels/<int:label_id>/edit/", labels.label_edit, name="label-edit"),
    path("labels/<int:label_id>/move/", labels.label_move_page, name="label-move"),
    path("labels/<int:label_id>/reorder/", labels.label_reorder_page, name="label-reorder"),
    path("labels/<int:label_id>/merge-preview/", labels.label_merge_preview, name="label-merge-preview"),
    path("labels/<int:label_id>/merge/", labels.label_merge_page, name="label-merge"),
    path("labels/<int:label_id>/split/", labels.label_split_page, name="label-split"),
    path("labels/<int:label_id>/archive/", labels.label_archive_page, name="label-archive"),
    path("labels/<int:label_id>/restore/", labels.label_restore_page, name="label-restore"),
    path("labels/<int:label_id>/delete/", labels.label_delete_page, name="label-delete"),
    path("rules/", rules.rule_list, name="rule-list"),
    path("rules/new/", rules.rule_new, name="rule-new"),
    path("rules/preview/", rules.rule_preview_fragment, name="rule-preview"),
    path("rules/<int:rule_id>/<str:action>/", rules.rule_action, name="rule-action"),
    path("clusters/", clusters.cluster_page, name="cluster-page"),
    path("clusters/run/", clusters.cluster_start, name="cluster-start"),
    path("clusters/<int:cluster_id>/promote/", clusters.cluster_promote_view, name="cluster-promote"),
    path("suggestions/", candidates.candidate_list, name="candidate-list"),
    path("suggestions/<int:annotation_id>/<str:decision>/", candidates.candidate_decide, name="candidate-decide"),
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
