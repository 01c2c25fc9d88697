"""The offline WordNet reader: real synonyms from the installed database, morphology, a handmade
database in WNDB format (split data files, license headers, adjective markers) and the missing case."""

from __future__ import annotations

import pytest

from mlcore import wordnet

LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University.  \n"


def test_car_has_automobile_among_its_synonyms():
    found = wordnet.synonyms("car")
    assert "automobile" in found and "auto" in found
    assert "car" not in found


def test_plural_and_verb_endings_reach_the_lemma():
    assert "automobile" in wordnet.synonyms("cars")
    assert "automobile" in wordnet.synonyms("Cars")  # case does not matter
    assert "escape" in wordnet.synonyms("running", pos="v")  # run + doubled n
    assert "large" in wordnet.synonyms("bigger", pos="a")


def test_part_of_speech_narrows_and_order_is_deterministic():
    nouns = wordnet.synonyms("run", pos="n")
    verbs = wordnet.synonyms("run", pos="verb")
    assert "tally" in nouns and "tally" not in verbs
    assert "operate" in verbs
    assert wordnet.synonyms("run") == wordnet.synonyms("run")
    assert wordnet.synonyms("zzzzqqq") == []


def test_unknown_part_of_speech_is_refused():
    with pytest.raises(ValueError, match="unknown part of speech 'x'"):
        wordnet.synonyms("car", pos="x")


def _write_database(directory):
    """A tiny WNDB: 'car' and 'auto' share a noun synset split over data.noun1/2; one adjective."""
    directory.mkdir()
    (directory / "index.noun").write_text(
        LICENSE + "auto n 1 1 @ 1 0 00000100  \ncar n 2 1 @ 2 0 00000100 00000200  \n", encoding="utf-8"
    )
    (directory / "data.noun1").write_text(
        LICENSE + "00000100 06 n 03 car 0 auto 0 motor_car 0 000 | a motor vehicle  \n", encoding="utf-8"
    )
    (directory / "data.noun2").write_text(
        "00000200 06 n 02 car 0 railcar 0 000 | a wheeled vehicle on rails  \n", encoding="utf-8"
    )
    (directory / "index.verb").write_text(LICENSE, encoding="utf-8")
    (directory / "data.verb").write_text(LICENSE, encoding="utf-8")
    (directory / "index.adj").write_text("elect a 1 0 1 0 00000300  \n", encoding="utf-8")
    (directory / "data.adj").write_text("00000300 00 s 02 elect(p) 0 chosen(a) 0 000 | elected  \n", encoding="utf-8")
    (directory / "index.adv").write_text("", encoding="utf-8")
    (directory / "data.adv").write_text("", encoding="utf-8")
    return directory


def test_environment_variable_database_is_read_first(tmp_path, monkeypatch):
    directory = _write_database(tmp_path / "dict")
    monkeypatch.setenv(wordnet.ENV_VARIABLE, str(directory))
    assert wordnet.find_directory() == directory
    database = wordnet.load(directory)
    assert database.synonyms("cars") == ["auto", "motor car", "railcar"]  # most frequent sense first
    assert database.synonyms("elect", pos="a") == ["chosen"]  # the (p)/(a) markers are gone


def test_missing_database_names_every_place_searched(tmp_path, monkeypatch):
    empty = tmp_path / "nothing"
    monkeypatch.setattr(wordnet, "candidate_directories", lambda: [empty, tmp_path / "other"])
    with pytest.raises(wordnet.WordNetMissing, match=r"nothing.*other"):
        wordnet.find_directory()
