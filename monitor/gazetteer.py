"""Ukrainian place names (every KATOTTG settlement, plus GeoNames places of the Belgorod, Kursk and Bryansk
oblasts): load the shipped gazetteer once, resolve a name in any listed Latin or Cyrillic spelling (narrowed
by oblast), list the places of an oblast or raion or near a point, and give the literal word forms
(``place_spellings``) or regexes (``place_regexes``) that find a place in text.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.oblasts import oblast_key

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PATH = DATA_DIR / "gazetteer-ua.json"

# Apostrophe look-alikes used in Ukrainian spelling and its transliterations (ʼ ’ ' ` ′ ʹ ″ ”).
APOSTROPHES = "'\u2019\u02bc`\u2018\u2032\u02b9\u2033\u201d"
_KEY_TABLE = str.maketrans(
    {**dict.fromkeys(APOSTROPHES, ""), "-": " ", "\u2010": " ", "\u2011": " ", "ł": "l", "ø": "o",
     "đ": "d", "ı": "i", "ё": "е"}
)
_LATIN_MARKS = re.compile(r"(?<=[A-Za-z])[\u0300-\u036f]+")
_STRESS = re.compile(r"[\u0300\u0301]")
_DECOMPOSABLE = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f\u0400\u040d\u0450\u045d]")
_RAION_SUFFIX = re.compile(r"\s+(?:raion|rayon|district|район)$")
_OBLAST_SUFFIX = re.compile(r"\s+(?:oblast|region|область|обл\.?)$")
_FOLD_MAP = {**dict.fromkeys(APOSTROPHES, "'"), "\u2010": "-", "\u2011": "-", "ё": "е", "Ё": "Е", "ł": "l",
             "Ł": "L"}  # fmt: skip
_FOLD_CHARS = re.compile(f"[{''.join(_FOLD_MAP)}]")  # a regex scan beats str.translate on mostly-clean text
# An apostrophe inside a word is spelling (Куп'янськ, Kup'yans'k) and is dropped; "Kyiv's" keeps its 's.
_INNER_APOSTROPHE = re.compile(r"'(?<=[^\W\d_]')(?!s(?!\w))(?=[^\W\d_])")  # literal first: fast scan
_LATIN_I = re.compile(r"[iI](?:(?<=[\u0400-\u04ff].)|(?=[\u0400-\u04ff]))")  # Харкiв typed with a Latin i
BOUNDARY = "(?<!\\w)"  # every spelling (and watch term) regex starts with it
GAP = "[\\s\\-–—\"'«»„“”]+"  # between the words of a place name or a phrase: spaces, dashes, quotes
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_KMU = {**dict(zip("абвгґдезиіїйклмнопрстуф", "abvhgdezyiiiklmnoprstuf", strict=True)), "ж": "zh", "х": "kh",
        "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "'": "", "ю": "iu", "я": "ia", "є": "ie"}  # fmt: skip
_KMU_START = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
AREA_POPULATION = 500  # GeoNames cities500: villages below it are matched in Latin by long names only
AREA_MIN_LATIN = 7
# Alternates that are everyday words or well-known names elsewhere (found by running every Latin alternate
# over 20 MB of world news): matched, they would tie unrelated stories to a place (Human -> Uman, Luck ->
# Lutsk, Volodymyr -> the city of Volodymyr, Stalin -> Donetsk, Paris -> Veselyi Kut). Never matched.
COLLISIONS = frozenset({
    "alexandria", "cop", "human", "kachin", "kodak", "luck", "nadia", "надія", "paris", "париж", "police",
    "raj", "ramadan", "rosenberg", "sakai", "smotrich", "stalin", "сталин", "сталін", "tor", "тор", "vali",
    "vladimir", "владимир", "volodymyr", "володимир", "wary",
})  # fmt: skip
# Latin names of places that are everyday English words or names (from runs over 6,555 real news items):
# not matched by area watches.
COMMON_WORDS = frozenset({
    "as", "bar", "bolshevik", "flora", "gai", "hart", "hat", "isa", "jama", "kiselev", "lazy", "male", "manne",
    "marine", "mars", "merlo", "milky", "nikita", "nobel", "nova", "osa", "port", "rai", "ray", "sad", "shack",
    "side", "slava", "spas", "stare", "step", "style", "tim",
})  # fmt: skip
_CYR_SUFFIX = "[а-яіїєґ]{0,3}"  # a case ending: Ізюм-і, Куп'янськ-у, Харков-ом
_ADJ_ENDINGS = frozenset({"ий", "ій", "ый", "ой", "ая", "яя", "ое", "ее", "ие", "ые", "ої"})
_FINALS = frozenset("аеєиіїоуюяыэйь")
_ALTERNATION = {"і": ("о", "е"), "ї": ("є",)}  # Харків -> Харкова, Київ -> Києва
_VELARS = {"к": "ц", "г": "з", "х": "с"}  # Кам'янка -> Кам'янці


def strip_marks(text: str) -> str:
    """Drop diacritics from Latin letters and stress accents anywhere; keep й, ї, ё and other Cyrillic."""
    if text.isascii() or not _DECOMPOSABLE.search(text):
        return text
    decomposed = _STRESS.sub("", _LATIN_MARKS.sub("", unicodedata.normalize("NFD", text)))
    return unicodedata.normalize("NFC", decomposed)


def fold(text: str) -> str:
    """Normalize text before matching (patterns get the same): Latin diacritics, apostrophe and hyphen
    variants, in-word apostrophes, ё -> е, and a Latin i typed inside a Cyrillic word."""
    text = _FOLD_CHARS.sub(lambda m: _FOLD_MAP[m[0]], strip_marks(text))
    text = _LATIN_I.sub(lambda m: "і" if m[0] == "i" else "І", text)
    return _INNER_APOSTROPHE.sub("", text)


def name_key(name: str) -> str:
    """The lookup key of a name: case-, apostrophe-, hyphen- and diacritic-insensitive."""
    return " ".join(strip_marks(name).casefold().translate(_KEY_TABLE).split())


@dataclass(frozen=True, slots=True)
class Place:
    """One populated place; ``spellings`` starts with ``name`` and lists the kept alternates."""

    geonameid: int
    name: str
    oblast: str
    lat: float
    lon: float
    population: int
    spellings: tuple[str, ...]
    raion: str = ""  # the raion (district) in English, "" when unknown (GeoNames-only places, Kyiv City)
    katottg: str = ""  # the KATOTTG code (UA...) of Ukrainian settlements, "" for Russian ones
    approximate: bool = False  # lat/lon is the raion's centre: GeoNames has no coordinates for the place
    inflections: tuple[str, ...] = ()  # word forms as stored (see ``forms``), decoded on use: loads stay fast
    kind: str = ""  # "city", "settlement" (селище), "village", or "" (format 1 data)

    @property
    def forms(self) -> tuple[str, ...]:
        """Folded inflected forms: uk/ru case forms of the Cyrillic spellings, the Polish name and its forms."""
        return _decode(self.inflections)


def _largest_first(place: Place) -> tuple[int, int]:
    return -place.population, place.geonameid


def _place(row: list[Any], shared: dict[str, str]) -> Place:
    """A ``places`` row of the data file (JSON types as written by ``monitor.gazetteer_build``); the oblast,
    raion and kind strings are shared between places (``shared``: one copy of each, not 30k)."""
    geonameid, name, oblast, lat, lon, population, alternates, *rest = row
    raion, katottg, approximate, forms, kind = (*rest, *("", "", 0, [], "")[len(rest) :])[:5]  # format 1 lacks them
    oblast, raion, kind = (shared.setdefault(text, text) for text in (oblast, raion, kind))
    return Place(geonameid, name, oblast, lat, lon, population, (name, *alternates), raion, katottg,
                 approximate == 1, tuple(forms), kind)  # fmt: skip


def _decode(encoded: Iterable[str]) -> tuple[str, ...]:
    """Forms stored as "base TAB edit|edit", an edit being how many final letters of base to drop and what
    to add (Ізюм: "0а|0у|0ом|0і" -> Ізюм, Ізюма, Ізюму, Ізюмом, Ізюмі)."""
    out = []
    for entry in encoded:
        base, _, edits = entry.partition("\t")
        out.append(base)
        for edit in edits.split("|") if edits else ():
            digits = len(edit) - len(edit.lstrip("0123456789"))
            out.append(base[: len(base) - int(edit[:digits])] + edit[digits:])
    return tuple(out)


_PLACES = re.compile(r'"places"\s*:\s*\[')
_BETWEEN_ROWS = re.compile(r"[\s,]*")


def _rows(path: Path) -> Iterator[list[Any]]:
    """The ``places`` rows of a data file, decoded one at a time: a whole-file ``json.loads`` holds every row's
    lists at once (~40 MB) and leaves the heap fragmented after them. Any other layout is read whole."""
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    del raw
    start = _PLACES.search(text)
    try:  # the part before "places" must be the start of the top-level object (so the match is its key)
        header_ok = start is not None and isinstance(json.loads(text[: start.start()] + '"places":[]}'), dict)
    except ValueError:
        header_ok = False
    if start is None or not header_ok or not text.rstrip().endswith("]}"):
        data = json.loads(text)
        assert isinstance(data, dict)
        yield from data["places"]
        return
    decode, pos = json.JSONDecoder().raw_decode, start.end()
    while True:
        pos = _BETWEEN_ROWS.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
        if text[pos] == "]":
            return
        row, pos = decode(text, pos)
        yield row


def _keys(spellings: list[str]) -> list[str]:
    """``name_key`` of many spellings in one pass over their join (the same keys, ~3x faster one by one)."""
    if any("\n" in s for s in spellings):
        return [name_key(s) for s in spellings]
    joined = strip_marks("\n".join(spellings)).casefold().translate(_KEY_TABLE).split("\n")
    return [" ".join(key.split()) for key in joined]


class Gazetteer:
    """An immutable name index over places; build it with :meth:`load` (once, at start-up)."""

    def __init__(self, places: Iterable[Place]) -> None:
        self._places = tuple(places)
        spellings = list(dict.fromkeys(s for p in self._places for s in p.spellings))
        keys = dict(zip(spellings, _keys(spellings), strict=True))  # villages share names (55 Kamiankas)
        index: dict[str, list[Place]] = {}
        for place in sorted(self._places, key=_largest_first):  # so every index entry is largest first
            for spelling in place.spellings:
                key = keys[spelling]
                bucket = index.get(key)
                if bucket is None:
                    index[key] = [place]
                elif bucket[-1] is not place:  # two spellings of one place with one key
                    bucket.append(place)
        # Most names are one place's: kept bare, not in a 1-tuple (55k names).
        self._index: dict[str, Place | tuple[Place, ...]] = {k: v[0] if len(v) == 1 else tuple(v)
                                                             for k, v in index.items()}

    def _lookup(self, name: str) -> tuple[Place, ...]:
        found = self._index.get(name_key(name), ())
        return (found,) if isinstance(found, Place) else found

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """Read the shipped gazetteer (``monitor/data/gazetteer-ua.json[.gz]``) or the file at ``path``."""
        if path is None:
            path = DEFAULT_PATH if DEFAULT_PATH.is_file() else DEFAULT_PATH.with_suffix(".json.gz")
        shared: dict[str, str] = {}
        return cls([_place(row, shared) for row in _rows(path)])

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self) -> Iterator[Place]:
        return iter(self._places)

    def resolve(self, name: str, oblast: str | None = None) -> list[Place]:
        """Places having ``name`` among their spellings, largest first; ``oblast`` (in English, Ukrainian or
        Russian: "Kharkiv", "Харківська область", "Харківщина") narrows the result.

        Use when a watch names a place: an unknown name gives ``[]``, an ambiguous one several places.
        """
        found = self._lookup(name)
        if oblast is None:
            return list(found)
        wanted = oblast_key(oblast) or _OBLAST_SUFFIX.sub("", name_key(oblast))
        return [p for p in found if p.oblast == wanted or name_key(p.oblast) == wanted]

    def ambiguous(self, name: str) -> list[Place]:
        """The places ``name`` could mean when it means more than one (largest first), else ``[]``."""
        found = self._lookup(name)
        return list(found) if len(found) > 1 else []

    def in_oblast(self, oblast: str) -> list[Place]:
        """Every place of an oblast named in English, Ukrainian or Russian, largest first; ``[]`` if unknown."""
        wanted = oblast_key(oblast)
        return sorted((p for p in self._places if p.oblast == wanted), key=_largest_first)

    def in_raion(self, raion: str, oblast: str | None = None) -> list[Place]:
        """Every place of a raion ("Kupiansky", "Kupianskyi raion", "Куп'янський район"), largest first."""
        wanted = raion_key(raion)
        places = [p for p in self._places if p.raion and raion_key(p.raion) == wanted]
        if oblast is not None:
            places = [p for p in places if p.oblast == oblast_key(oblast)]
        return sorted(places, key=_largest_first)

    def near(self, lat: float, lon: float, km: float) -> list[Place]:
        """Places within ``km`` kilometres of (lat, lon), nearest first (great-circle distance)."""
        dlat, dlon = km / 110.5, km / (111.3 * max(math.cos(math.radians(lat)), 0.01))  # a box first
        box = [p for p in self._places if abs(p.lat - lat) <= dlat and abs(p.lon - lon) <= dlon]
        dists = [(distance_km(lat, lon, p.lat, p.lon), p) for p in box]
        return [p for d, p in sorted(dists, key=lambda dp: (dp[0], dp[1].geonameid)) if d <= km]

    def forms(self, place: Place) -> set[str]:
        """Every folded literal form that names ``place`` in text: its spellings and their inflections."""
        return place_spellings([place])


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def kmu(text: str) -> str:
    """Lower-case KMU 2010 romanization of Ukrainian (the build uses translitua; this is for lookups)."""
    text = re.sub(r"зг", "zgh", text.lower())
    return "".join(_KMU_START.get(ch, _KMU.get(ch, ch)) if i == 0 or text[i - 1] in " -" else _KMU.get(ch, ch)
                   for i, ch in enumerate(text))  # fmt: skip


def raion_key(raion: str) -> str:
    """A raion name without "raion"/"район" and its adjective ending: Kupianskyi, Куп'янський -> kupiansk."""
    key = _RAION_SUFFIX.sub("", name_key(kmu(name_key(raion)) if _CYRILLIC.search(raion) else raion))
    key = re.sub(r"(?:yi|yy|iy|ij|kyi|ky|ий|ій|ый|ой)$", lambda m: "k" if m[0].startswith("k") else "", key)
    return key


def _base(word: str) -> str:
    """A lower-case Cyrillic word without its ending (adjectival -ий/-ая/-ое..., or a final vowel, й, ь)."""
    if len(word) > 5 and word[-2:] in _ADJ_ENDINGS:
        return word[:-2]
    return word[:-1] if word[-1] in _FINALS else word


def _stems(word: str) -> set[str]:
    """Stems of a lower-case Cyrillic word: the base, plus Ukrainian vowel and consonant alternations."""
    base = _base(word)
    stems = {base}
    last = re.search(r"([іїео])([^аеєиіїоуюяыэ]+)$", base)
    if last and base == word:  # і/ї in a closed last syllable: Харків -> Харкова, Київ -> Києва
        stems.update(base[: last.start()] + alt + last[2] for alt in _ALTERNATION.get(last[1], ()))
    if re.search(r"[ео][кц]$", base):  # fleeting vowel: Кролевець -> Кролевця, Городок -> Городка
        stems.add(base[:-2] + base[-1])
    if word[-1] in "ая":  # Кам'янка -> Кам'янці, Прага -> Празі
        stems.update([s[:-1] + _VELARS[s[-1]] for s in stems if s[-1] in _VELARS])
    return {s for s in stems if len(s) >= 3} or {word}


def _word_regex(word: str, multiword: bool, skip: int) -> str:
    """Regex of one word of a name, minus its first ``skip`` letters; Cyrillic words take case endings."""
    lower = word.lower()
    if not _CYRILLIC.search(word):
        stems, suffix = {lower}, ""
    elif len(lower) < 4:
        stems, suffix = {lower}, "[а-яіїєґ]{0,2}" if multiword else ""
    else:
        stems, suffix = _stems(lower), _CYR_SUFFIX
    alternatives = sorted({re.escape(s[skip:]) for s in stems}, key=lambda s: (-len(s), s))
    return f"(?:{'|'.join(alternatives)}){suffix}"


def spelling_regex(spelling: str) -> str:
    """Regex finding one spelling in folded text: a capital first letter (so "мирне" is not Мирне), the rest
    case-insensitive; Cyrillic words with a case ending (Ізюмі, Куп'янська, Харкова), Latin exact plus 's."""
    words = [[piece for piece in word.split("-") if piece] for word in fold(spelling).split()]
    multiword = sum(len(pieces) for pieces in words) > 1
    parts = []
    for i, pieces in enumerate(words):
        regexes = [_word_regex(p, multiword, int(i == 0 and j == 0)) for j, p in enumerate(pieces)]
        parts.append("[-\\s]?".join(regexes))
    tail = GAP.join(parts) + ("" if _CYRILLIC.search(spelling) else "(?:'s)?")
    return f"{BOUNDARY}{re.escape(words[0][0][0].upper())}(?i:{tail})(?!\\w)"


def _area_safe(place: Place, form: str) -> bool:
    """Whether a form can stand for ``place`` in an area watch: Cyrillic, or Latin of a place GeoNames lists
    (population >= 500), or a long or multiword Latin name (so not Step, Side, Port, Mars, Nobel)."""
    if _CYRILLIC.search(form):
        return True
    if form.lower() in COMMON_WORDS:
        return False
    big = place.population >= AREA_POPULATION or place.kind in {"city", "settlement"}
    return big or " " in form or "-" in form or len(form) >= AREA_MIN_LATIN


def place_spellings(places: Iterable[Place], *, area: bool = False) -> set[str]:
    """Folded literal forms naming some places (for an exact-string automaton): every spelling as written,
    the uk/ru case forms and the Polish name and forms the build generated. Matching is case-insensitive
    after the first letter, whole words only; a Latin form may also be followed by 's.

    ``area=True`` is for watches over an area (``Gazetteer.near``, ``in_oblast``): it leaves out the Latin
    names of small villages that are short (< 7 letters, one word) or common words, which in English news
    name nothing (see ``_area_safe``); their Cyrillic forms stay.
    """
    out: set[str] = set()
    for place in places:
        forms = {fold(s) for s in place.spellings if re.search(r"\w", s)} | set(place.forms)
        out.update(f for f in forms if name_key(f) not in COLLISIONS and (not area or _area_safe(place, f)))
    return out


def form_regex(form: str) -> str:
    """Regex finding one literal form in folded text: a capital first letter, the rest case-insensitive,
    words across any ``GAP``, a hyphen also as a space or nothing; a Latin form may take 's; a Cyrillic form
    is not the start of a hyphenated name (Покровское-Стрешнево is not Покровское)."""
    words = [[re.escape(piece) for piece in word.split("-") if piece] for word in form.split()]
    body = GAP.join("[-\\s]?".join(pieces) for pieces in words if pieces)
    tail = "(?![-\u2010]\\w)" if _CYRILLIC.search(form) else "(?:'s)?"
    return f"{BOUNDARY}{re.escape(form[0].upper())}(?i:{body[len(re.escape(form[0])):]}){tail}(?!\\w)"


def place_regexes(places: Iterable[Place], *, area: bool = False) -> list[str]:
    """The distinct regexes of some places (what a watch's ``places`` entry looks for), longest first.

    Places with build-time word forms (format 2 data) match exactly those forms (``place_spellings``,
    ``area`` as there); others fall back to ``spelling_regex`` (Cyrillic stems plus up to 3 letters)."""
    regexes: set[str] = set()
    for place in places:
        if place.inflections:
            regexes.update(form_regex(f) for f in place_spellings([place], area=area))
        else:
            spellings = {s for s in place.spellings if re.search(r"\w", fold(s)) and name_key(s) not in COLLISIONS}
            regexes.update(spelling_regex(s) for s in spellings)
    return sorted(regexes, key=lambda r: (-len(r), r))
