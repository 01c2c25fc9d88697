"""Issue 20, item 1: the strategy chooser's text: a line for every registered strategy, and its areas exactly
as docs/benchmarks.md measured them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlcore.active_learning import DEFAULT_STRATEGY, STRATEGIES
from mlcore.strategy_catalog import STRATEGY_INFO, strategy_catalog

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
# The tables the catalog cites: the project's own head (what a project's rescoring job trains), each by its
# header line and the column of the set.
FULL_20NG_TABLE = "| strategy | 20ng (full 0.855) |"
NIGHT_TABLE = "| strategy | bbc (full 0.987) | bbc_lt (full 0.963) | 20ng_lt (full 0.735) |"
TABLES = {
    "area_20ng": (FULL_20NG_TABLE, "20ng"),
    "area_bbc": (NIGHT_TABLE, "bbc"),
    "area_bbc_lt": (NIGHT_TABLE, "bbc_lt"),
    "area_20ng_lt": (NIGHT_TABLE, "20ng_lt"),
}


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


def _areas(header: str, column: str) -> dict[str, float]:
    """{strategy: area} from the column `column` of the benchmark table whose header line is `header`."""
    lines = BENCHMARKS.read_text(encoding="utf-8").splitlines()
    assert lines.count(header) == 1, f"the table {header!r} is not in docs/benchmarks.md once"
    start = lines.index(header)
    index = [cell.strip().split(" ")[0] for cell in header.strip("|").split("|")].index(column)
    areas = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| `"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = cells[0].strip("`")
        areas[name] = float(re.match(r"\**([0-9.]+)", cells[index]).group(1))
    return areas


@pytest.mark.parametrize("field", sorted(TABLES))
def test_the_areas_are_those_of_docs_benchmarks(field):
    """Issue 20, item 1: the areas shown in the chooser are docs/benchmarks.md's, to the digit."""
    documented = _areas(*TABLES[field])
    assert len(documented) == 11
    for info in STRATEGY_INFO.values():
        assert getattr(info, field) == documented.get(info.name), info.name
