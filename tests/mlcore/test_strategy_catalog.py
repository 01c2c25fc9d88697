"""Issue 20, item 1: the strategy chooser's text: a line for every registered strategy, and its areas exactly
as docs/benchmarks.md measured them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES
from mlcore.strategy_catalog import STRATEGY_INFO, strategy_catalog

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
# The tables the catalog cites: the project's own head (what a project's rescoring job trains).
TABLES = {"area_20ng": "### 20 Newsgroups, the project's own head", "area_bbc": "### BBC News, the project's own head"}


def test_every_registered_strategy_has_a_description():
    """Issue 20, item 1: a registered strategy without a line in the chooser fails here."""
    assert set(STRATEGIES) - set(STRATEGY_INFO) == set(), "registered strategies without a catalog entry"
    assert set(STRATEGY_INFO) - set(STRATEGIES) == set(), "catalog entries for strategies that are not registered"
    for info in STRATEGY_INFO.values():
        assert info.description.strip() and "\n" not in info.description and len(info.description) <= 120, info.name


def test_the_catalog_lists_each_strategy_once_best_area_first():
    names = [info.name for info in strategy_catalog()]
    assert sorted(names) == sorted(STRATEGIES)
    measured = [info.area_20ng for info in strategy_catalog() if info.area_20ng is not None]
    assert measured == sorted(measured, reverse=True)
    assert names[0] == DEFAULT_STRATEGY


def _areas(section_title: str) -> dict[str, float]:
    """{strategy: area} from the benchmark table under `section_title`."""
    text = BENCHMARKS.read_text(encoding="utf-8")
    section = text[text.index(section_title) :]
    section = section[: section.index("\n### ", 1)] if "\n### " in section[1:] else section
    areas = {}
    for name, area in re.findall(r"^\| `([a-z_]+)`[^|]*\| \**([0-9.]+)\**", section, flags=re.MULTILINE):
        areas[DEFAULT_STRATEGY if name == "default" else name] = float(area)
    return areas


@pytest.mark.parametrize("field", sorted(TABLES))
def test_the_areas_are_those_of_docs_benchmarks(field):
    """Issue 20, item 1: the areas shown in the chooser are docs/benchmarks.md's, to the digit."""
    documented = _areas(TABLES[field])
    assert len(documented) == 10
    for info in STRATEGY_INFO.values():
        assert getattr(info, field) == documented.get(info.name), info.name
