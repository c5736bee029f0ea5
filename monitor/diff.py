"""Diff stage: previous and new version of a story -> ``Change`` (sentences added / removed), or None
when the edit is cosmetic (whitespace, punctuation, quotes or case only)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from difflib import SequenceMatcher

from monitor.models import Change

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+")
_OPENERS = "\"'“‘«([„-–—•"
_NEXT_CHAR = re.compile(r"[\"'“‘«(\[„\-–—•]*(\S)")
# Words that end with "." without ending a sentence (compared lowercased, without the final dot).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "cpt",
        "sgt",
        "adm",
        "brig",
        "cmdr",
        "sen",
        "rep",
        "gov",
        "pres",
        "st",
        "ave",
        "jr",
        "sr",
        "inc",
        "co",
        "corp",
        "ltd",
        "no",
        "nos",
        "vol",
        "fig",
        "approx",
        "dept",
        "univ",
        "vs",
        "al",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "г",
        "гг",
        "ул",
        "им",
        "проф",
        "ген",
        "полк",
        "обл",
        "пос",
        "просп",
        "пл",
        "кв",
        "см",
        "стр",
        "рис",
        "ст",
    ]
)
_INITIALISM = re.compile(r"^(?:\w\.)+\w$")  # U.K, U.S, e.g, т.е
_SQUASH_CATEGORIES = frozenset("PZC")  # must match monitor.normalize.fingerprint


def _squash(text: str) -> str:
    """Same reduction as ``normalize.fingerprint`` (kept here: pure stages do not import each other)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in _SQUASH_CATEGORIES)


def _is_abbreviation(before: str) -> bool:
    word = before.rsplit(None, 1)[-1].lstrip(_OPENERS).lower() if before.strip() else ""
    return word in _ABBREVIATIONS or bool(_INITIALISM.match(word)) or (len(word) == 1 and word.isalpha())


def _is_boundary(line: str, match: re.Match[str]) -> bool:
    following = _NEXT_CHAR.match(line, match.end())
    if following is None or not (following[1].isupper() or following[1].isdigit()):
        return False
    punct = match.group().rstrip()
    before = line[max(0, match.start() - 40) : match.start()]  # bounded: no quadratic slicing
    return not (punct.rstrip("\"'”’»)]") == "." and _is_abbreviation(before))


def _split_line(line: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _END.finditer(line):
        if _is_boundary(line, match):
            parts.append(line[start : match.end()].strip())
            start = match.end()
    parts.append(line[start:].strip())
    return [part for part in parts if part]


def sentences(text: str) -> list[str]:
    """Split text (one paragraph per line) into sentences; use to present or compare story text."""
    return [sentence for line in text.split("\n") for sentence in _split_line(line.strip())]


def _units(title: str, text: str) -> list[str]:
    return [unit for unit in sentences(title) + sentences(text) if _squash(unit)]


def compare(
    old_title: str, old_text: str, new_title: str, new_text: str, *, is_place: Callable[[str], bool] | None = None
) -> Change | None:
    """What changed between two versions of a story: sentences added and removed, or None when the
    versions differ only cosmetically (whitespace, punctuation, case, spelling fixes of a few letters)."""
    if _squash(old_title + "\n" + old_text) == _squash(new_title + "\n" + new_text):
        return None
    old, new = _units(old_title, old_text), _units(new_title, new_text)
    matcher = SequenceMatcher(None, [_squash(s) for s in old], [_squash(s) for s in new], autojunk=False)
    added: list[str] = []
    removed: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        gone, came = old[i1:i2], new[j1:j2]
        if tag == "replace":
            gone, came = _drop_spelling_fixes(gone, came, is_place)
        removed.extend(gone)
        added.extend(came)
    if not added and not removed:
        return None  # same sentences, only moved between title and text
    return Change(added=tuple(added), removed=tuple(removed))


SPELLING_FIX_RATIO = 0.9
SPELLING_FIX_CHARS = 3
_NAMES = re.compile(r"\b[^\W\d_]+(?:['’ʼ-][^\W\d_]+)*")  # words, inner apostrophes and hyphens kept


def _is_spelling_fix(before: str, after: str, is_place: Callable[[str], bool] | None = None) -> bool:
    """A sentence rewritten only by a few letters ("Izuym" -> "Izyum", "nigth" -> "night"): the same
    numbers, at most 3 characters changed and 90 % alike, and no known place name replaced
    ("Pokrovske" -> "Pokrovsk" is another town: news). Such a pair is neither added nor removed;
    a word added to a long sentence ("... and Kupiansk") changes more and stays news."""
    a, b = _squash(before), _squash(after)
    if re.findall(r"\d+", a) != re.findall(r"\d+", b):
        return False  # "3,000 square kilometres" -> "6,000 square kilometres" is news
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    if changed > SPELLING_FIX_CHARS or matcher.ratio() < SPELLING_FIX_RATIO:
        return False
    replaced = set(_NAMES.findall(before)) - set(_NAMES.findall(after))
    return not (is_place and any(is_place(word) for word in replaced))


def _drop_spelling_fixes(
    gone: list[str], came: list[str], is_place: Callable[[str], bool] | None = None
) -> tuple[list[str], list[str]]:
    """Pair the replaced sentences in order and drop the pairs that are only spelling fixes."""
    pairs = [(g, c) for g, c in zip(gone, came, strict=False) if _is_spelling_fix(g, c, is_place)]
    fixed_old = {g for g, _ in pairs}
    fixed_new = {c for _, c in pairs}
    return [g for g in gone if g not in fixed_old], [c for c in came if c not in fixed_new]
