from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotator.api import (
    active_learning,
    augment,
    auth,
    binary,
    clusters,
    distillation,
    items,
    jobs,
    labels,
    noise,
    noise_review,
    progress,
    project_settings,
    projects,
    queue,
    review,
    rules,
    training,
)

urlpatterns = [
    path("auth/token/", auth.TokenObtainApi.as_view(), name="api-token"),
    path("auth/password/", auth.PasswordChangeApi.as_view(), name="api-password-change"),
    # Both need a login (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the docs page sends people to the
    # login form. The split view serves Swagger UI's start script as a file, as the CSP requires.
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("projects/", projects.ProjectListCreateApi.as_view(), name="api-project-list"),
    path("projects/<id:project_id>/", projects.ProjectDetailApi.as_view(), name="api-project-detail"),
    path(
        "projects/<id:project_id>/settings/",
        project_settings.ProjectSettingsApi.as_view(),
        name="api-project-settings",
    ),
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
    path("projects/<id:project_id>/accounts/", projects.AccountCreateApi.as_view(), name="api-account-create"),
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
    path(
        "projects/<id:project_id>/models/<id:version_id>/export/",
        training.ModelVersionExportApi.as_view(),
        name="api-model-export",
    ),
    path(
        "projects/<id:project_id>/models/promotions/",
        training.PromotionListApi.as_view(),
        name="api-model-promotions",
    ),
    path("projects/<id:project_id>/models/distill/", distillation.ModelDistillApi.as_view(), name="api-model-distill"),
    path(
        "projects/<id:project_id>/models/<id:version_id>/speed/",
        distillation.ModelSpeedApi.as_view(),
        name="api-model-speed",
    ),
    # Both spellings: clients call `/predict` as documented, and `/predict/` like every other endpoint.
    path("projects/<id:project_id>/predict", training.PredictApi.as_view(), name="api-predict"),
    path("projects/<id:project_id>/predict/", training.PredictApi.as_view(), name="api-predict-slash"),
    path("projects/<id:project_id>/predict/batch/", training.PredictBatchApi.as_view(), name="api-predict-batch"),
    path(
        "projects/<id:project_id>/predict/batch/file/",
        training.PredictBatchFileApi.as_view(),
        name="api-predict-batch-file",
    ),
    path(
        "projects/<id:project_id>/predict/batch/pool/",
        training.PredictBatchPoolApi.as_view(),
        name="api-predict-batch-pool",
    ),
    path(
        "projects/<id:project_id>/predict/batch/<id:job_id>/",
        training.PredictBatchResultApi.as_view(),
        name="api-predict-batch-result",
    ),
    path("projects/<id:project_id>/rescore/", active_learning.RescoreApi.as_view(), name="api-rescore"),
    path("projects/<id:project_id>/noise/", noise.NoiseStartApi.as_view(), name="api-noise-start"),
    # --- augmentation (experts and admins) ---
    path("projects/<id:project_id>/augment/", augment.AugmentApi.as_view(), name="api-augment"),
    path("projects/<id:project_id>/augment/samples/", augment.AugmentSamplesApi.as_view(), name="api-augment-samples"),
    path("projects/<id:project_id>/augment/decide/", augment.AugmentDecideApi.as_view(), name="api-augment-decide"),
    path(
        "projects/<id:project_id>/augment/<id:job_id>/cancel/",
        augment.AugmentCancelApi.as_view(),
        name="api-augment-cancel",
    ),
    path("projects/<id:project_id>/jobs/", jobs.JobListApi.as_view(), name="api-job-list"),
    path("projects/<id:project_id>/jobs/<id:job_id>/", jobs.JobDetailApi.as_view(), name="api-job-detail"),
    path("projects/<id:project_id>/jobs/<id:job_id>/cancel/", jobs.JobCancelApi.as_view(), name="api-job-cancel"),
    # --- review and adjudication (experts) ---
    path("projects/<id:project_id>/review/", review.ReviewListApi.as_view(), name="api-review-list"),
    path(
        "projects/<id:project_id>/review/<id:annotation_id>/correct/",
        review.ReviewCorrectApi.as_view(),
        name="api-review-correct",
    ),
    path("projects/<id:project_id>/adjudication/", review.AdjudicationListApi.as_view(), name="api-adjudication-list"),
    path(
        "projects/<id:project_id>/adjudication/<id:item_id>/",
        review.AdjudicationCaseApi.as_view(),
        name="api-adjudication-case",
    ),
    # --- noise review (experts; starting the job is api-noise-start) ---
    path("projects/<id:project_id>/noise/status/", noise_review.NoiseStatusApi.as_view(), name="api-noise-status"),
    path("projects/<id:project_id>/noise/flags/", noise_review.NoiseFlagListApi.as_view(), name="api-noise-flag-list"),
    path(
        "projects/<id:project_id>/noise/flags/<id:flag_id>/keep/",
        noise_review.NoiseFlagKeepApi.as_view(),
        name="api-noise-flag-keep",
    ),
    path(
        "projects/<id:project_id>/noise/flags/<id:flag_id>/relabel/",
        noise_review.NoiseFlagRelabelApi.as_view(),
        name="api-noise-flag-relabel",
    ),
    path(
        "projects/<id:project_id>/noise/flags/<id:flag_id>/exclude/",
        noise_review.NoiseFlagExcludeApi.as_view(),
        name="api-noise-flag-exclude",
    ),
    path(
        "projects/<id:project_id>/noise/flags/<id:flag_id>/reopen/",
        noise_review.NoiseFlagReopenApi.as_view(),
        name="api-noise-flag-reopen",
    ),
    path(
        "projects/<id:project_id>/noise/corrections/",
        noise_review.NoiseCorrectionsApi.as_view(),
        name="api-noise-corrections",
    ),
    # --- binary mode ---
    path(
        "projects/<id:project_id>/queue/binary/<id:label_id>/next/",
        binary.BinaryNextApi.as_view(),
        name="api-binary-next",
    ),
    path(
        "projects/<id:project_id>/queue/binary/<id:label_id>/items/<id:item_id>/accept/",
        binary.BinaryDecisionApi.as_view(decision=binary.ACCEPT),
        name="api-binary-accept",
    ),
    path(
        "projects/<id:project_id>/queue/binary/<id:label_id>/items/<id:item_id>/reject/",
        binary.BinaryDecisionApi.as_view(decision=binary.REJECT),
        name="api-binary-reject",
    ),
    path(
        "projects/<id:project_id>/queue/binary/<id:label_id>/items/<id:item_id>/skip/",
        binary.BinaryDecisionApi.as_view(decision=binary.SKIP),
        name="api-binary-skip",
    ),
    # --- progress, agreement, active learning (every member) ---
    path("projects/<id:project_id>/progress/", progress.ProgressApi.as_view(), name="api-progress"),
    path("projects/<id:project_id>/agreement/", progress.AgreementApi.as_view(), name="api-agreement"),
    path("projects/<id:project_id>/active-learning/", progress.ActiveLearningApi.as_view(), name="api-active-learning"),
]
