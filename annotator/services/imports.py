"""Import items from CSV/TSV, JSONL or TXT: validate everything first, then write in one transaction.

A failed import leaves the project exactly as it was. Duplicates (same normalised text, in the
file or already in the project) are reported and skipped. Labels in the file become annotations
with source `import`; a label path "Sport > Football" creates the nested labels it names.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from annotator.importing.encodings import EncodingError, check_encoding
from annotator.importing.parsers import ImportFileError, ImportOptions, Record, detect_format, iter_records
from annotator.models import Annotation, AnnotationLabel, AnnotationSource, Item, Job, Label, Project, Split, TaskType
from annotator.models.projects import LABEL_NAME_MAX_LENGTH, LABEL_PATH_SEPARATOR
from annotator.selectors.labels import label_free_digit
from annotator.services.jobs import job_start
from annotator.services.queue import initial_priority, required_annotations_for
from mlcore.textnorm import content_hash

Progress = Callable[[float, str], None]

WRITE_BATCH_SIZE = 2000
HASH_LOOKUP_BATCH_SIZE = 900  # below SQLite's bound-parameter limit
DUPLICATE_EXAMPLES_SHOWN = 20
# Share of the progress bar spent reading and validating; the write transaction follows.
READ_PROGRESS_SHARE = 85.0
# Distinct colours for labels an import creates, in creation order (colour-blind-safe, Okabe-Ito).
LABEL_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
SPLIT_CHOICES = ("auto", Split.POOL, Split.TRAIN, Split.TEST)
LABEL_PATH_ERROR = "label {label!r} has an empty part in its path"
LABEL_NAME_TOO_LONG_ERROR = "a label name is {length:,} characters long (“{start}…”); the limit is {limit}"
CONCURRENT_IMPORT_ERROR = (
    "Another import added some of these texts while this one ran; nothing was saved. "
    "Run it again: the texts already there will be skipped as duplicates."
)
SINGLE_LABEL_ERROR = "{count} labels given, but the project is single-label"


def _no_progress(percent: float, message: str) -> None:
    """Progress sink for imports that run inside a request."""


@dataclasses.dataclass
class ImportReport:
    """What an import did; stored as the job's result and shown on the page."""

    format: str
    encoding: str = ""  # the one the file was read in (detected, or as chosen)
    rows: int = 0
    created: int = 0
    duplicates_in_file: int = 0
    duplicates_in_project: int = 0
    annotations: int = 0
    labels_created: list[str] = dataclasses.field(default_factory=list)
    duplicate_examples: list[dict] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ImportRequest:
    """Everything an import needs besides the file; also what a background job stores as params."""

    filename: str
    options: ImportOptions = dataclasses.field(default_factory=ImportOptions)
    split: str = "auto"

    def as_params(self) -> dict:
        return {"filename": self.filename, "options": dataclasses.asdict(self.options), "split": self.split}

    @classmethod
    def from_params(cls, params: dict) -> ImportRequest:
        return cls(filename=params["filename"], options=ImportOptions(**params["options"]), split=params["split"])


@dataclasses.dataclass(frozen=True)
class ImportOutcome:
    """Either the report of an import done in the request, or the job that will do it."""

    report: ImportReport | None = None
    job: Job | None = None


def _file_error(err: ImportFileError) -> ValidationError:
    return ValidationError(str(err), code="invalid_file", params={"line": err.line})


def _check_size(size: int) -> None:
    if size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(
            f"The file is {size / 2**20:.1f} MB; the import limit is {settings.IMPORT_MAX_BYTES / 2**20:.0f} MB.",
            code="too_large",
        )


def _check_request(request: ImportRequest) -> str:
    if request.split not in SPLIT_CHOICES:
        raise ValidationError(f"Unknown split {request.split!r}: choose one of {', '.join(SPLIT_CHOICES)}.")
    try:
        check_encoding(request.options.encoding)
        return detect_format(request.filename, request.options.format)
    except EncodingError as err:
        raise ValidationError(err.message[:1].upper() + err.message[1:] + ".", code="invalid_encoding") from None
    except ImportFileError as err:
        raise _file_error(err) from None


def import_start(
    *, project: Project, upload: UploadedFile, request: ImportRequest, by: AbstractBaseUser, background: bool = False
) -> ImportOutcome:
    """Import a small upload at once, or hand a large one (or any, if asked) to a background job."""
    _check_size(upload.size)
    _check_request(request)
    if not background and upload.size <= settings.IMPORT_INLINE_MAX_BYTES:
        return ImportOutcome(report=import_file(project=project, stream=upload, request=request))
    path = _store_upload(upload)
    params = {**request.as_params(), "path": str(path)}
    try:
        return ImportOutcome(job=job_start(kind="import", project=project, params=params, created_by=by))
    except BaseException:  # e.g. too many unfinished jobs: the stored upload must not stay behind
        shutil.rmtree(path.parent, ignore_errors=True)
        raise


def _store_upload(upload: UploadedFile) -> Path:
    directory = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    directory.mkdir(parents=True)
    path = directory / "upload"
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def import_run_job(*, job: Job, progress: Progress) -> dict:
    """The body of an import job: import the stored upload, then delete it however the import ended.

    (A killed worker never reaches the deletion, so a re-delivered task still finds the file.)
    """
    path = Path(job.params["path"])
    request = ImportRequest.from_params(job.params)
    if not path.exists():
        raise ValidationError("The uploaded file is gone (already imported or cleaned up); upload it again.")
    try:
        with path.open("rb") as stream:
            report = import_file(project=job.project, stream=stream, request=request, progress=progress, job=job)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return report.as_dict()


def import_file(
    *,
    project: Project,
    stream,
    request: ImportRequest,
    progress: Progress = _no_progress,
    job: Job | None = None,
) -> ImportReport:
    """Validate the whole file, then write it in one transaction. Raises ValidationError naming the line."""
    fmt = _check_request(request)
    total = max(_stream_size(stream), 1)
    report = ImportReport(format=fmt)

    def on_bytes(done: int) -> None:
        progress(READ_PROGRESS_SHARE * min(done / total, 1.0), f"Reading and checking: {done / 2**20:.1f} MB")

    try:
        records = iter_records(
            stream, request.options, fmt=fmt, on_progress=on_bytes, on_encoding=lambda name: _set_encoding(report, name)
        )
        return import_parsed(
            project=project, records=records, split=request.split, report=report, progress=progress, job=job
        )
    except ImportFileError as err:
        raise _file_error(err) from None


def import_parsed(
    *,
    project: Project,
    records: Iterable[Record],
    split: str,
    report: ImportReport,
    progress: Progress = _no_progress,
    job: Job | None = None,
) -> ImportReport:
    """Check every record, drop duplicates, then write the rest in one transaction.

    Raises ImportFileError for the first bad record, before anything is written.
    """
    checked = _validated_records(project, records, report)
    progress(READ_PROGRESS_SHARE, f"Checked {report.rows:,} rows; looking for duplicates")
    fresh = _drop_existing(project, checked, report)
    progress(READ_PROGRESS_SHARE + 5, f"Saving {len(fresh):,} new items")
    try:
        _write_records(project=project, records=fresh, split=split, report=report, job=job)
    except IntegrityError:
        # Only a concurrent import of the same texts gets here: duplicates were dropped above.
        raise ValidationError(CONCURRENT_IMPORT_ERROR, code="conflict") from None
    return report


def _set_encoding(report: ImportReport, name: str) -> None:
    report.encoding = name


def _stream_size(stream) -> int:
    size = getattr(stream, "size", None)
    if size is None:
        position = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(position)
    return size


def _validated_records(project: Project, records: Iterable[Record], report: ImportReport) -> list[Record]:
    """Every record checked; duplicates within the file dropped (the first one kept)."""
    kept: dict[str, Record] = {}
    single_label = project.task_type == TaskType.SINGLE_LABEL
    for record in records:
        report.rows += 1
        if single_label and len(record.labels) > 1:
            raise ImportFileError(SINGLE_LABEL_ERROR.format(count=len(record.labels)), line=record.line)
        for label in record.labels:
            _check_label_path(label, record.line)
        digest = content_hash(record.text)
        if digest in kept:
            report.duplicates_in_file += 1
            _note_duplicate(report, record, f"same text as line {kept[digest].line}")
            continue
        kept[digest] = record
    return list(kept.values())


def _check_label_path(label: str, line: int) -> None:
    parts = _split_label_path(label)
    if not all(parts):
        raise ImportFileError(LABEL_PATH_ERROR.format(label=label[:100]), line=line)
    for part in parts:
        if len(part) > LABEL_NAME_MAX_LENGTH:
            message = LABEL_NAME_TOO_LONG_ERROR.format(length=len(part), start=part[:30], limit=LABEL_NAME_MAX_LENGTH)
            raise ImportFileError(message, line=line)


def _split_label_path(label: str) -> list[str]:
    return [part.strip() for part in label.split(LABEL_PATH_SEPARATOR.strip())]


def _note_duplicate(report: ImportReport, record: Record, reason: str) -> None:
    if len(report.duplicate_examples) < DUPLICATE_EXAMPLES_SHOWN:
        report.duplicate_examples.append({"line": record.line, "text": record.text[:120], "reason": reason})


def _drop_existing(project: Project, records: list[Record], report: ImportReport) -> list[Record]:
    hashes = [content_hash(r.text) for r in records]
    existing: set[str] = set()
    for start in range(0, len(hashes), HASH_LOOKUP_BATCH_SIZE):
        batch = hashes[start : start + HASH_LOOKUP_BATCH_SIZE]
        existing.update(project.items.filter(content_hash__in=batch).values_list("content_hash", flat=True))
    fresh = []
    for record, digest in zip(records, hashes, strict=True):
        if digest in existing:
            report.duplicates_in_project += 1
            _note_duplicate(report, record, "already in the project")
        else:
            fresh.append(record)
    return fresh


@transaction.atomic
def _write_records(*, project: Project, records: list[Record], split: str, report: ImportReport, job: Job | None):
    """Write validated, de-duplicated records as items (and their labels as annotations)."""
    label_ids = _ensure_labels(project, {label for r in records for label in r.labels}, report)
    items = [_new_item(project, record, split, job) for record in records]
    Item.objects.bulk_create(items, batch_size=WRITE_BATCH_SIZE)
    report.created = len(items)
    labeled = [(item, r.labels) for item, r in zip(items, records, strict=True) if r.labels]
    annotations = [Annotation(item=item, source=AnnotationSource.IMPORT) for item, _ in labeled]
    Annotation.objects.bulk_create(annotations, batch_size=WRITE_BATCH_SIZE)
    links = [
        AnnotationLabel(annotation_id=annotation.pk, label_id=label_ids[label])
        for annotation, (_, labels) in zip(annotations, labeled, strict=True)
        for label in dict.fromkeys(labels)
    ]
    AnnotationLabel.objects.bulk_create(links, batch_size=WRITE_BATCH_SIZE)
    report.annotations = len(annotations)


def _new_item(project: Project, record: Record, split: str, job: Job | None) -> Item:
    digest = content_hash(record.text)
    required = required_annotations_for(content_hash=digest, project=project)
    return Item(
        project=project,
        text=record.text,
        meta=record.meta,
        content_hash=digest,
        split=_split_for(record, split),
        import_job=job,
        required_annotations=required,
        # An imported label fills one slot.
        is_open=required > (1 if record.labels else 0),
        priority=initial_priority(digest),
    )


def _split_for(record: Record, split: str) -> str:
    if split != "auto":
        return split
    return Split.TRAIN if record.labels else Split.POOL


def _next_label_order(project: Project, parent: Label | None) -> int:
    last = Label.objects.filter(project=project, parent=parent).order_by("-order").values_list("order", flat=True)
    return (last.first() or 0) + 1


def _ensure_labels(project: Project, paths: set[str], report: ImportReport) -> dict[str, int]:
    """Map each label path to its label id, creating the labels (and parents) that do not exist yet."""
    ids = {}
    for path in sorted(paths):
        parent = None
        for depth, name in enumerate(_split_label_path(path)):
            color = LABEL_PALETTE[project.labels.count() % len(LABEL_PALETTE)]
            # New labels go after their siblings and take the next free digit: nobody's keys shift.
            placement = {
                "color": color,
                "order": _next_label_order(project, parent),
                "digit": label_free_digit(project=project, parent=parent),
            }
            parent, created = Label.objects.get_or_create(project=project, parent=parent, name=name, defaults=placement)
            if created:
                report.labels_created.append(LABEL_PATH_SEPARATOR.join(_split_label_path(path)[: depth + 1]))
        ids[path] = parent.pk
    return ids
