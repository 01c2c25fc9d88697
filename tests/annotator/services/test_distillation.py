"""Issue 21: the distillation job on real news. Teachers score the labeled items and the pool with
their own inputs, a small student learns from them, is evaluated on the locked test split, timed and
registered with its teachers as parents; a cancelled or failed job registers nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from annotator.importing.parsers import Record
from annotator.models import Exclusion, Job, JobStatus, ModelVersion, Split
from annotator.selectors.distillation import distillation_pool
from annotator.services import distillation, training
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_create
from tests.annotator.services.test_training import _job, _news, _staging_dirs
from workers.jobtask import JobCancelled

pytestmark = [pytest.mark.django_db]

POOL_TEXTS = [
    "The goalkeeper saved a penalty in the last minute of the derby.",
    "Ministers will vote on the new budget bill in parliament next week.",
    "The new phone has a faster chip and a better camera than last year's model.",
    "The tennis champion won the final in straight sets.",
    "The opposition leader attacked the prime minister over taxes.",
    "Broadband speeds doubled after the network upgrade.",
]
TINY_STUDENT = {"epochs": 1, "embedding_dim": 16, "num_filters": 8, "max_len": 64, "min_count": 1}


def _pool(project) -> None:
    records = [Record(line=n, text=text, labels=(), meta={}) for n, text in enumerate(POOL_TEXTS, 1)]
    import_parsed(project=project, records=records, split="pool", report=ImportReport(format="test"))


def test_teacher_columns_are_aligned_by_label_id():
    rows = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])  # over labels 30, 10, 99 (99 no longer exists)
    aligned = distillation.align_columns(rows, [30, 10, 99], [10, 20, 30])
    np.testing.assert_allclose(aligned, [[0.2 / 0.9, 0.0, 0.7 / 0.9], [0.5, 0.0, 0.5]])
    nothing = distillation.align_columns(np.array([[0.0, 1.0]]), [10, 99], [20, 30])
    np.testing.assert_allclose(nothing, [[0.5, 0.5]])  # no known column: uniform, never NaN


def test_the_pool_is_unlabeled_non_test_items_never_the_test_split(project_with_roles):
    project, _users = project_with_roles
    _news(project)
    _pool(project)
    unlabeled_test = Record(line=1, text="An unlabeled test item about rugby.", labels=(), meta={})
    import_parsed(project=project, records=[unlabeled_test], split="test", report=ImportReport(format="test"))
    blacklisted = project.items.get(text=POOL_TEXTS[0])
    Exclusion.objects.create(item=blacklisted, reason="blacklist")
    pool = distillation_pool(project=project, limit=100)
    assert sorted(pool.texts) == sorted(POOL_TEXTS[1:])
    assert not set(pool.item_ids) & set(project.items.filter(split=Split.TEST).values_list("id", flat=True))
    assert len(distillation_pool(project=project, limit=2).item_ids) == 2


def test_a_start_checks_the_data_after_the_fields(project_with_roles):
    project, users = project_with_roles
    other = project_create(name="Elsewhere", created_by=users["admin"])
    foreign = ModelVersion.objects.create(
        project=other, number=1, kind="fast_head", data_hash="x", n_train=1, n_test=1, artifact_dir="m"
    )
    with pytest.raises(Exception, match="do not exist in this project"):
        distillation.distill_job_start(project=project, by=users["admin"], teachers=[foreign.pk], student="text_cnn")
    assert not Job.objects.exists()


@pytest.fixture
def taught(project_with_roles, allowed_tiny_backbone):
    """News, a pool, and a fast-head teacher trained on MiniLM; then the project moves to a tiny
    backbone whose embeddings the teacher cannot read, so only its own encoder works."""
    project, users = project_with_roles
    _news(project)
    _pool(project)
    result = training.training_run_job(job=_job(project, users["admin"]), progress=lambda p, m: None)
    teacher = ModelVersion.objects.get(pk=result["model_version"])
    project.backbone = allowed_tiny_backbone
    project.save(update_fields=["backbone"])
    project.refresh_from_db()
    return project, users, teacher


def _distill_job(project, by, teacher, **fields) -> Job:
    params = distillation.distill_params_check(
        project=project, teachers=[teacher.pk], student="text_cnn_chars", student_params=TINY_STUDENT, **fields
    )
    # Running, as a worker has claimed it: the student's `should_cancel` asks the job's row.
    return Job.objects.create(project=project, kind="distill", params=params, created_by=by, status=JobStatus.RUNNING)


@pytest.mark.slow
def test_a_student_is_distilled_evaluated_timed_and_registered_with_its_teacher(taught):
    project, users, teacher = taught
    seen: list[tuple[float, str]] = []
    job = _distill_job(project, users["admin"], teacher)
    result = distillation.distill_run_job(job=job, progress=lambda p, m: seen.append((p, m)))
    student = ModelVersion.objects.get(pk=result["model_version"])
    assert (student.number, student.kind, student.n_train, student.n_test) == (2, "text_cnn", 36, 15)
    assert list(student.parents.all()) == [teacher] and list(teacher.students.all()) == [student]
    assert student.label_ids == teacher.label_ids
    assert student.metrics["macro_f1"] is not None and len(student.metrics["confusion"]) == 3
    assert student.texts_per_second > 0 and student.ms_per_text > 0
    distilled = student.params["distillation"]
    assert (distilled["scheme"], distilled["temperature"], distilled["teachers"]) == ("data", 2.0, ["fast_head v1"])
    assert student.params["epochs"] == 1
    percents, messages = [p for p, _ in seen], [m for _, m in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    for stage in ("Scoring with fast_head v1", "Training the student", "Evaluating", "Measuring speed"):
        assert any(m.startswith(stage) for m in messages), (stage, messages)
    assert "36 labeled items, 6 pool items, 1 teacher(s)" in messages


@pytest.mark.slow
def test_a_cancelled_distillation_registers_nothing(taught):
    project, users, teacher = taught

    def cancel_when_training(percent: float, message: str) -> None:
        if message == "Training the student":
            raise JobCancelled

    with pytest.raises(JobCancelled):
        distillation.distill_run_job(job=_distill_job(project, users["admin"], teacher), progress=cancel_when_training)
    assert list(ModelVersion.objects.all()) == [teacher]
    assert not _staging_dirs()


@pytest.mark.slow
def test_a_failed_distillation_registers_nothing(taught):
    project, users, teacher = taught
    job = _distill_job(project, users["admin"], teacher)
    job.params["student_params"] = {**TINY_STUDENT, "tokenization": "no-such-tokens"}  # as if edited after queueing

    with pytest.raises(ValueError):
        distillation.distill_run_job(job=job, progress=lambda p, m: None)
    assert list(ModelVersion.objects.all()) == [teacher]
    assert not _staging_dirs()


@pytest.mark.slow
def test_the_default_student_is_a_static_head_on_the_project_backbone(taught):
    """The form's default student: static embeddings distilled from the project's (tiny) encoder plus
    word counts; its table is cached under ARTIFACT_ROOT, and it reads texts, not embeddings."""
    project, users, teacher = taught
    params = distillation.distill_params_check(
        project=project, teachers=[teacher.pk], student="static_head", student_params={"dims": 8, "min_df": 1}
    )
    job = Job.objects.create(
        project=project, kind="distill", params=params, created_by=users["admin"], status=JobStatus.RUNNING
    )
    result = distillation.distill_run_job(job=job, progress=lambda p, m: None)
    student = ModelVersion.objects.get(pk=result["model_version"])
    assert (student.kind, list(student.parents.all())) == ("static_head", [teacher])
    assert student.params["backbone"] == project.backbone and "static_cache_dir" not in student.params
    assert (Path(settings.ARTIFACT_ROOT) / "static").is_dir()
    assert student.metrics["macro_f1"] is not None and student.texts_per_second > 0
