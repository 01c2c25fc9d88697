"""Prediction beyond one request: small requests are answered inside it, larger ones by a batch job.

`POST .../predict` answers at most PREDICT_SYNC_MAX_TEXTS texts and PREDICT_SYNC_MAX_CHARS
characters (a model call on the web server holds a worker thread); anything larger is refused with a
pointer to `POST .../predict/batch/`, which stores the texts in a file and queues a `predict` job on
the `cpu` queue. The job predicts in chunks (each a cancel checkpoint) with the active model version
of the moment it runs, writes the results as JSON lines next to the model artifacts (temporary file,
then rename) and removes the input; `predictions_path` finds them for the download.

Issue 21: the same job also predicts the texts of an uploaded file (CSV, TSV, JSONL or TXT, read by the
importer's parsers; labels and meta in it are ignored), stored like a JSON body, and the whole pool (every
item of the project, read in chunks when the job runs; each line keyed by `item_id`).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy

from annotator.importing.parsers import ImportFileError, ImportOptions, detect_format, iter_records
from annotator.models import Item, Job, JobStatus, Project
from annotator.services.jobs import job_start
from annotator.services.training import NO_ACTIVE_MODEL_ERROR, predict_texts

PREDICT_KIND = "predict"
CHUNK_TEXTS = 256
SYNC_TOO_LARGE_ERROR = gettext_lazy(
    "This request has {texts} texts and {chars} characters; /predict answers at most {max_texts} texts "
    "and {max_chars} characters at once. Send them as a batch job instead: POST "
    "/api/projects/{project_id}/predict/batch/ with the same body, then download the results from "
    "/api/projects/{project_id}/predict/batch/<job id>/ once the job has succeeded."
)
BATCH_TOO_LARGE_ERROR = gettext_lazy(
    "A batch prediction takes at most {max_texts} texts and {max_chars} characters; this one has "
    "{texts} texts and {chars} characters. Split it into several batches."
)
NOT_READY_ERROR = gettext_lazy(
    "This batch prediction has not succeeded (it is {status}); its results are not available."
)
INPUT_GONE_ERROR = gettext_lazy("The texts of this batch are gone (already predicted or cleaned up); send them again.")
NOT_A_BATCH_ERROR = gettext_lazy("This job is not a batch prediction.")
FILE_FORMATS = ("csv", "tsv", "jsonl", "txt")
FILE_FORMAT_ERROR = gettext_lazy(
    "A prediction file is CSV, TSV, JSONL or TXT (one text a line); this one reads as {fmt}."
)
EMPTY_POOL_ERROR = gettext_lazy("This project has no items to predict.")
SOURCE_TEXTS, SOURCE_FILE, SOURCE_POOL = "texts", "file", "pool"


def _size(texts: list[str]) -> tuple[int, int]:
    return len(texts), sum(len(text) for text in texts)


def predict_check_sync_size(*, project: Project, texts: list[str]) -> None:
    """Refuse (code `too_large`, 413) what is too much to predict inside a web request."""
    count, chars = _size(texts)
    if count > settings.PREDICT_SYNC_MAX_TEXTS or chars > settings.PREDICT_SYNC_MAX_CHARS:
        raise ValidationError(
            SYNC_TOO_LARGE_ERROR.format(
                texts=count,
                chars=chars,
                max_texts=settings.PREDICT_SYNC_MAX_TEXTS,
                max_chars=settings.PREDICT_SYNC_MAX_CHARS,
                project_id=project.pk,
            ),
            code="too_large",
        )


def predict_sync(*, project: Project, texts: list[str]):
    """Predict a small request at once: (the active version, one prediction per text)."""
    predict_check_sync_size(project=project, texts=texts)
    return predict_texts(project=project, texts=texts)


def predict_batch_start(
    *, project: Project, texts: list[str], by: AbstractBaseUser, source: str = SOURCE_TEXTS, filename: str = ""
) -> Job:
    """Store the texts and queue a batch prediction job (job limits apply)."""
    if project.active_model_id is None:
        raise ValidationError(NO_ACTIVE_MODEL_ERROR)
    count, chars = _size(texts)
    if count > settings.PREDICT_BATCH_MAX_TEXTS or chars > settings.PREDICT_BATCH_MAX_CHARS:
        raise ValidationError(
            BATCH_TOO_LARGE_ERROR.format(
                texts=count,
                chars=chars,
                max_texts=settings.PREDICT_BATCH_MAX_TEXTS,
                max_chars=settings.PREDICT_BATCH_MAX_CHARS,
            ),
            code="too_large",
        )
    relative = Path("predictions") / uuid.uuid4().hex / "input.json"
    stored = Path(settings.MEDIA_ROOT) / relative
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps(texts), encoding="utf-8")
    try:
        params = {"input": str(relative), "texts": count, "source": source}
        if filename:
            # Shown on the Predict page; PostgreSQL's jsonb refuses NUL, so no control character is kept.
            params["filename"] = "".join(c for c in Path(filename).name if c.isprintable())[:200]
        return job_start(kind=PREDICT_KIND, project=project, params=params, created_by=by)
    except BaseException:
        shutil.rmtree(stored.parent, ignore_errors=True)
        raise


def predict_file_start(*, project: Project, upload: UploadedFile, by: AbstractBaseUser) -> Job:
    """Queue a batch prediction of an uploaded file's texts (the importer's parsers read it: a CSV/TSV
    `text` column, JSONL objects with `text`, or TXT lines); a bad file is a ValidationError naming the line."""
    if project.active_model_id is None:
        raise ValidationError(NO_ACTIVE_MODEL_ERROR)
    try:
        fmt = detect_format(upload.name or "")
        if fmt not in FILE_FORMATS:
            raise ValidationError(FILE_FORMAT_ERROR.format(fmt=fmt))
        texts = _file_texts(upload, fmt)
    except ImportFileError as error:
        raise ValidationError(str(error), params={"line": error.line}) from None
    return predict_batch_start(project=project, texts=texts, by=by, source=SOURCE_FILE, filename=upload.name or "")


def _file_texts(upload: UploadedFile, fmt: str) -> list[str]:
    """The file's texts in order, stopping (too_large) as soon as they pass the batch limits."""
    texts: list[str] = []
    chars = 0
    upload.seek(0)
    for record in iter_records(upload, ImportOptions(label_column="", meta_columns=[]), fmt=fmt):
        texts.append(record.text)
        chars += len(record.text)
        if len(texts) > settings.PREDICT_BATCH_MAX_TEXTS or chars > settings.PREDICT_BATCH_MAX_CHARS:
            break  # predict_batch_start refuses it with the limits in words
    return texts


def predict_pool_start(*, project: Project, by: AbstractBaseUser) -> Job:
    """Queue a batch prediction over every item of the project (read when the job runs, in chunks)."""
    if project.active_model_id is None:
        raise ValidationError(NO_ACTIVE_MODEL_ERROR)
    count = project.items.count()
    if not count:
        raise ValidationError(EMPTY_POOL_ERROR)
    return job_start(kind=PREDICT_KIND, project=project, params={"source": SOURCE_POOL, "texts": count}, created_by=by)


def predictions_path(*, job: Job) -> Path:
    """Where a batch prediction job's results are (JSON lines, one per text, in order)."""
    return Path(settings.ARTIFACT_ROOT) / "predictions" / f"job-{job.pk}.jsonl"


def predictions_file(*, job: Job) -> Path:
    """The results of a succeeded batch prediction; ValidationError otherwise."""
    if job.kind != PREDICT_KIND:
        raise ValidationError(NOT_A_BATCH_ERROR)
    path = predictions_path(job=job)
    if job.status != JobStatus.SUCCEEDED or not path.is_file():
        raise ValidationError(NOT_READY_ERROR.format(status=job.status), code="not_ready")
    return path


def predict_batch_run_job(*, job: Job, progress: Callable[[float, str], None]) -> dict:
    """The body of a batch prediction job: predict chunk by chunk, write the results, drop the input."""
    if job.params.get("source") == SOURCE_POOL:
        return _predict_pool(job, progress)
    stored = Path(settings.MEDIA_ROOT) / job.params["input"]
    if not stored.is_file():
        raise ValidationError(INPUT_GONE_ERROR)
    try:
        texts = json.loads(stored.read_text(encoding="utf-8"))
        version = _write_predictions(job, texts, progress)
    finally:  # however it ended (a killed worker never gets here, so a re-delivery finds the input)
        shutil.rmtree(stored.parent, ignore_errors=True)
    return {"texts": len(texts), "model_version": version}


def _predict_pool(job: Job, progress: Callable[[float, str], None]) -> dict:
    ids = list(Item.objects.filter(project=job.project).order_by("id").values_list("id", flat=True))

    def chunks():
        for start in range(0, len(ids), CHUNK_TEXTS):
            rows = dict(Item.objects.filter(pk__in=ids[start : start + CHUNK_TEXTS]).values_list("id", "text"))
            kept = [pk for pk in ids[start : start + CHUNK_TEXTS] if pk in rows]  # deleted since: skipped
            yield [{"item_id": pk} for pk in kept], [rows[pk] for pk in kept]

    version = _write_predictions_in_chunks(job, len(ids), chunks(), progress)
    return {"texts": len(ids), "model_version": version, "source": SOURCE_POOL}


def _write_predictions(job: Job, texts: list[str], progress: Callable[[float, str], None]) -> int | None:
    def chunks():
        for start in range(0, len(texts), CHUNK_TEXTS):
            batch = texts[start : start + CHUNK_TEXTS]
            yield [{"index": start + offset} for offset in range(len(batch))], batch

    return _write_predictions_in_chunks(job, len(texts), chunks(), progress)


def _write_predictions_in_chunks(job: Job, total: int, chunks, progress: Callable[[float, str], None]) -> int | None:
    """Write one JSON line per text ({key..., labels, probabilities, decided_by}) to a temporary file,
    renamed into place at the end; each chunk is a progress report (and a cancel checkpoint)."""
    target = predictions_path(job=job)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    version, done = None, 0
    try:
        with partial.open("w", encoding="utf-8") as out:
            for keys, texts in chunks:
                progress(100 * done / max(total, 1), f"Predicted {done} of {total} texts")
                if texts:
                    version, predictions = predict_texts(project=job.project, texts=texts)
                    for key, prediction in zip(keys, predictions, strict=True):
                        out.write(json.dumps({**key, **prediction}, ensure_ascii=False) + "\n")
                done += len(texts)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return version.number if version else None
