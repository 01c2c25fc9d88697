from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotator.api import (
    active_learning,
    auth,
    clusters,
    items,
    jobs,
    labels,
    noise,
    projects,
    queue,
    rules,
    training,
)

urlpatterns = [
    path("auth/token/", auth.TokenObtainApi.as_view(), name="api-token"),
    # Both need a login (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs page sends people to the
    # login form. The split view serves Swagger UI's start script as a file, as the CSP requires.
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("projects/", projects.ProjectListCreateApi.as_view(), name="api-project-list"),
    path("projects/<id:project_id>/", projects.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<id:project_id>/labels/", labels.LabelListApi.as_view(), name="api-label-list"),
    path("projects/<id:project_id>/labels/history/", labels.LabelHistoryApi.as_view(), name="api-label-history"),
    path("projects/<id:project_id>/labels/<id:label_id>/", labels.LabelDetailApi.as_view(), name="api-label-detail"),
    path("projects/<id:project_id>/labels/<id:label_id>/move/", labels.LabelMoveApi.as_view(), name="api-label-move"),
    path(
        "projects/<id:project_id>/labels/<id:label_id>/merge-preview/",
        labels.LabelMergePreviewApi.as_view(),
        name="api-label-merge-preview",
    ),
    path(
        "projects/<id:project_id>/labels/<id:label_id>/merge/",
        labels.LabelMergeApi.as_view(),
        name="api-label-merge",
    ),
    path(
        "projects/<id:project_id>/labels/<id:label_id>/split/",
        labels.LabelSplitApi.as_view(),
        name="api-label-split",
    ),
    path(
        "projects/<id:project_id>/labels/<id:label_id>/archive/",
        labels.LabelArchiveApi.as_view(),
        name="api-label-archive",
    ),
    path(
        "projects/<id:project_id>/labels/<id:label_id>/restore/",
        labels.LabelRestoreApi.as_view(),
        name="api-label-restore",
    ),
    path("projects/<id:project_id>/members/", projects.MemberListApi.as_view(), name="api-member-list"),
    path(
        "projects/<id:project_id>/members/<id:user_id>/",
        projects.MemberDetailApi.as_view(),
        name="api-member-detail",
    ),
    path("projects/<id:project_id>/invitations/", projects.InvitationListApi.as_view(), name="api-invitation-list"),
    path(
        "projects/<id:project_id>/invitations/<id:invitation_id>/",
        projects.InvitationDetailApi.as_view(),
        name="api-invitation-detail",
    ),
    path("invitations/", projects.MyInvitationListApi.as_view(), name="api-my-invitations"),
    path(
        "invitations/<id:invitation_id>/accept/",
        projects.InvitationAcceptApi.as_view(),
        name="api-invitation-accept",
    ),
    path(
        "invitations/<id:invitation_id>/decline/",
        projects.InvitationDeclineApi.as_view(),
        name="api-invitation-decline",
    ),
    path("projects/<id:project_id>/items/", items.ItemListApi.as_view(), name="api-item-list"),
    path("projects/<id:project_id>/imports/", items.ImportApi.as_view(), name="api-import"),
    path("projects/<id:project_id>/export/", items.ExportApi.as_view(), name="api-export"),
    path("projects/<id:project_id>/flagged/", items.FlaggedItemListApi.as_view(), name="api-flagged-items"),
    path("projects/<id:project_id>/rules/", rules.RuleListApi.as_view(), name="api-rule-list"),
    path("projects/<id:project_id>/rules/preview/", rules.RulePreviewApi.as_view(), name="api-rule-preview"),
    path("projects/<id:project_id>/rules/<id:rule_id>/", rules.RuleDetailApi.as_view(), name="api-rule-detail"),
    path("projects/<id:project_id>/rules/<id:rule_id>/apply/", rules.RuleApplyApi.as_view(), name="api-rule-apply"),
    path("projects/<id:project_id>/clusters/", clusters.ClusterApi.as_view(), name="api-clusters"),
    path(
        "projects/<id:project_id>/clusters/<id:cluster_id>/promote/",
        clusters.ClusterPromoteApi.as_view(),
        name="api-cluster-promote",
    ),
    path("projects/<id:project_id>/suggestions/", clusters.CandidateListApi.as_view(), name="api-candidate-list"),
    path("projects/<id:project_id>/suggestions/bulk/", clusters.CandidateBulkApi.as_view(), name="api-candidate-bulk"),
    path(
        "projects/<id:project_id>/suggestions/<id:annotation_id>/accept/",
        clusters.CandidateDecisionApi.as_view(decision="accept"),
        name="api-candidate-accept",
    ),
    path(
        "projects/<id:project_id>/suggestions/<id:annotation_id>/reject/",
        clusters.CandidateDecisionApi.as_view(decision="reject"),
        name="api-candidate-reject",
    ),
    path("projects/<id:project_id>/queue/next/", queue.QueueNextApi.as_view(), name="api-queue-next"),
    path("projects/<id:project_id>/queue/previous/", queue.QueuePreviousApi.as_view(), name="api-queue-previous"),
    path(
        "projects/<id:project_id>/queue/items/<id:item_id>/submit/",
        queue.QueueSubmitApi.as_view(),
        name="api-queue-submit",
    ),
    path(
        "projects/<id:project_id>/queue/items/<id:item_id>/skip/",
        queue.QueueSkipApi.as_view(),
        name="api-queue-skip",
    ),
    path("projects/<id:project_id>/models/", training.ModelVersionListApi.as_view(), name="api-model-list"),
    path(
        "projects/<id:project_id>/models/<id:version_id>/",
        training.ModelVersionDetailApi.as_view(),
        name="api-model-detail",
    ),
    path(
        "projects/<id:project_id>/models/<id:version_id>/activate/",
        training.ModelVersionActivateApi.as_view(),
        name="api-model-activate",
    ),
    # Both spellings: clients call `/predict` as documented, and `/predict/` like every other endpoint.
    path("projects/<id:project_id>/predict", training.PredictApi.as_view(), name="api-predict"),
    path("projects/<id:project_id>/predict/", training.PredictApi.as_view(), name="api-predict-slash"),
    path("projects/<id:project_id>/predict/batch/", training.PredictBatchApi.as_view(), name="api-predict-batch"),
    path(
        "projects/<id:project_id>/predict/batch/<id:job_id>/",
        training.PredictBatchResultApi.as_view(),
        name="api-predict-batch-result",
    ),
    path("projects/<id:project_id>/rescore/", active_learning.RescoreApi.as_view(), name="api-rescore"),
    path("projects/<id:project_id>/noise/", noise.NoiseStartApi.as_view(), name="api-noise-start"),
    path("projects/<id:project_id>/jobs/", jobs.JobListApi.as_view(), name="api-job-list"),
    path("projects/<id:project_id>/jobs/<id:job_id>/", jobs.JobDetailApi.as_view(), name="api-job-detail"),
    path("projects/<id:project_id>/jobs/<id:job_id>/cancel/", jobs.JobCancelApi.as_view(), name="api-job-cancel"),
]
