"""Word forms of place names: the labelled set (tests/data/morph/place-forms.tsv) through the shipped gazetteer,
the build-time morphology (pymorphy3 uk/ru, skipped without the gazetteer extra) and the Polish rules."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from monitor.gazetteer import Gazetteer, fold, place_regexes, spelling_regex
from monitor.morph import is_ukrainian, polish, polish_forms, polish_name

CASES = Path(__file__).parent / "data" / "morph" / "place-forms.tsv"
HAS_PYMORPHY = importlib.util.find_spec("pymorphy3") is not None
needs_pymorphy = pytest.mark.skipif(not HAS_PYMORPHY, reason="pymorphy3 (the gazetteer extra) is not installed")


def _cases() -> list[tuple[str, str, str, bool]]:
    rows = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, place, text, expected, _note = line.split("\t")
            rows.append((lang, place, text, expected == "1"))
    return rows


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def _scores(found: list[bool], expected: list[bool]) -> tuple[float, float]:
    tp = sum(f and e for f, e in zip(found, expected, strict=True))
    return tp / max(sum(found), 1), tp / max(sum(expected), 1)


@pytest.mark.parametrize("lang", ["uk", "ru", "pl", "en"])
def test_labelled_place_forms_precision_and_recall(gazetteer: Gazetteer, lang: str) -> None:
    """Run time: the shipped forms as regexes (what a watch's ``places`` entry compiles to)."""
    cases = [c for c in _cases() if c[0] == lang]
    assert len(cases) >= 6 and any(c[3] for c in cases) and any(not c[3] for c in cases)
    found = []
    for _lang, place, text, _expected in cases:
        regex = re.compile("|".join(place_regexes(gazetteer.resolve(place)[:1])))
        found.append(regex.search(fold(text)) is not None)
    precision, recall = _scores(found, [c[3] for c in cases])
    misses = [c[2] for c, f in zip(cases, found, strict=True) if f != c[3]]
    assert precision >= 0.95 and recall >= 0.95, misses


def test_the_hand_rules_it_replaces_matched_confounders(gazetteer: Gazetteer) -> None:
    """Why the stems went: stem + up to three letters also finds the raion adjective and Balaklava-like
    neighbours; exact forms do not (measured in bench/bench_morph.py)."""
    pokrovsk = "|".join(spelling_regex(s) for s in gazetteer.resolve("Pokrovsk")[0].spellings)
    assert re.search(pokrovsk, fold("Покровський район"))
    assert not re.search("|".join(place_regexes(gazetteer.resolve("Pokrovsk")[:1])), fold("Покровський район"))


@pytest.mark.parametrize(
    ("name", "forms"),
    [("Kupiańsk", {"Kupiańska", "Kupiańsku", "Kupiańskiem"}), ("Izium", {"Iziumia", "Iziumie"}),
     ("Bałaklija", {"Bałakliję", "Bałaklii"}), ("Charków", {"Charkowa", "Charkowie", "Charkowem"}),
     ("Kamianka", {"Kamianki", "Kamiance"}), ("Bachmut", {"Bachmutu", "Bachmucie"})],
)  # fmt: skip
def test_polish_case_forms(name: str, forms: set[str]) -> None:
    assert forms <= polish_forms(name)


@pytest.mark.parametrize("name", ["Kamianka-Dniprowska", "Wełyka Nowosiłka", "Sumy", "Yar"])
def test_polish_rules_leave_short_and_multiword_names_alone(name: str) -> None:
    assert polish_forms(name) == set()


@pytest.mark.parametrize(
    ("ukrainian", "polish_spelling"),
    [("Ізюм", "Izium"), ("Балаклія", "Bałaklija"), ("Куп'янськ", "Kupiańsk"), ("Покровськ", "Pokrowsk"),
     ("Харків", "Charków"), ("Вовчанськ", "Wowczańsk"), ("Велика Новосілка", "Wełyka Nowosiłka")],
)  # fmt: skip
def test_polish_names_of_ukrainian_places(ukrainian: str, polish_spelling: str) -> None:
    assert polish_name(ukrainian) == polish_spelling
    assert polish_spelling in polish(ukrainian)


def test_language_of_a_cyrillic_spelling() -> None:
    assert is_ukrainian("Куп'янськ") and is_ukrainian("Покровськ") and is_ukrainian("Ізюм")
    assert not is_ukrainian("Купянск") and not is_ukrainian("Изюм")


@pytest.fixture(scope="module")
def morph() -> object:
    from monitor.morph import Morphology

    return Morphology()


@needs_pymorphy
@pytest.mark.parametrize(
    ("spelling", "wanted", "unwanted"),
    [
        ("Балаклія", {"Балаклію", "Балаклії", "Балаклією"}, {"Балаклава"}),
        ("Ізюм", {"Ізюма", "Ізюмі", "Ізюмом"}, {"Ізюме"}),  # no vocative
        ("Куп'янськ", {"Куп'янська", "Куп'янську", "Куп'янськом"}, {"Куп'янське", "Куп'янський"}),
        ("Купянск", {"Купянска", "Купянске", "Купянском"}, set()),
        ("Покровськ", {"Покровська", "Покровську"}, {"Покровське", "Покровський", "Покровського"}),
        ("Покровське", {"Покровського", "Покровському"}, {"Покровська", "Покровськ"}),  # neuter only
        ("Суми", {"Сум", "Сумах", "Сумами"}, set()),  # a plural name
        ("Кам'янка-Дніпровська", {"Кам'янки-Дніпровської", "Кам'янці-Дніпровській"}, {"Кам'янці-Дніпровська"}),
        ("Велика Новосілка", {"Великої Новосілки", "Великій Новосілці"}, {"Великої Новосілка"}),
        ("Изюм", {"Изюма", "Изюме"}, {"Изюмові"}),  # Russian only: the Russian dictionary knows it
    ],
)
def test_pymorphy_case_forms_of_names(morph: object, spelling: str, wanted: set[str], unwanted: set[str]) -> None:
    forms = morph.forms(spelling)  # type: ignore[attr-defined]
    assert wanted <= forms and not unwanted & forms and spelling in forms


@needs_pymorphy
def test_shipped_forms_match_what_the_build_generates_now(gazetteer: Gazetteer, morph: object) -> None:
    """The shipped forms are what monitor.morph generates now (the data file is not stale)."""
    izium = gazetteer.resolve("Izium")[0]
    generated = {fold(f) for s in ("Ізюм", "Изюм") for f in morph.forms(s)}  # type: ignore[attr-defined]
    assert {"Ізюм", "Изюм"} <= set(izium.spellings) and generated <= set(izium.forms)
