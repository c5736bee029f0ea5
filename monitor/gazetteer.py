"""Ukrainian place names (GeoNames cities500, plus Belgorod and Kursk oblasts): load the shipped gazetteer
once, resolve a name in any listed Latin or Cyrillic spelling to its places, and build the regexes that find
those spellings in text (Cyrillic ones with their case endings).
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Place:
    """One populated place; ``spellings`` starts with ``name`` and lists the kept alternates."""

    geonameid: int
    name: str
    oblast: str
    lat: float
    lon: float
    population: int
    spellings: tuple[str, ...]


def _largest_first(place: Place) -> tuple[int, int]:
    return -place.population, place.geonameid


def _place(row: list[object]) -> Place:
    geonameid, name, oblast, lat, lon, population, alternates = row
    assert isinstance(name, str) and isinstance(alternates, list)
    return Place(
        geonameid=int(str(geonameid)),
        name=name,
        oblast=str(oblast),
        lat=float(str(lat)),
        lon=float(str(lon)),
        population=int(str(population)),
        spellings=(name, *alternates),
    )


def _read(path: Path) -> dict[str, object]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


class Gazetteer:
    """An immutable name index over places; build it with :meth:`load` (once, at start-up)."""

    def __init__(self, places: Iterable[Place]) -> None:
        self._places = tuple(places)
        index: dict[str, list[Place]] = {}
        for place in self._places:
            for key in {name_key(s) for s in place.spellings}:
                index.setdefault(key, []).append(place)
        self._index = {key: tuple(sorted(v, key=_largest_first)) for key, v in index.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """Read the shipped gazetteer (``monitor/data/gazetteer-ua.json[.gz]``) or the file at ``path``."""
        if path is None:
            path = DEFAULT_PATH if DEFAULT_PATH.is_file() else DEFAULT_PATH.with_suffix(".json.gz")
        data = _read(path)
        rows = data["places"]
        assert isinstance(rows, list)
        return cls(_place(row) for row in rows)

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self) -> Iterator[Place]:
        return iter(self._places)

    def resolve(self, name: str, oblast: str | None = None) -> list[Place]:
        """Places having ``name`` among their spellings, largest first; ``oblast`` narrows the result.

        Use when a watch names a place: an unknown name gives ``[]``, an ambiguous one several places.
        """
        found = self._index.get(name_key(name), ())
        if oblast is None:
            return list(found)
        wanted = _OBLAST_SUFFIX.sub("", name_key(oblast))
        return [p for p in found if name_key(p.oblast) == wanted]


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


def place_regexes(places: Iterable[Place]) -> list[str]:
    """The distinct spelling regexes of some places (what a watch's ``places`` entry looks for)."""
    spellings = {s for place in places for s in place.spellings if re.search(r"\w", fold(s))}
    return sorted({spelling_regex(s) for s in spellings}, key=lambda r: (-len(r), r))  # longest first
