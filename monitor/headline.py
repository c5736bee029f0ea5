"""Headline stage: did an edited headline change its meaning? Pure (no I/O).

Trivial edits are silent: case, punctuation and whitespace, an outlet or byline suffix (``- Reuters``,
``| Kyiv Independent``, ``By Jane Doe``), an ``UPDATE 1-`` / ``LIVE:`` marker, a time stamp (``14:05 GMT``) and
spelling fixes of a word or two ("Ukrane" -> "Ukraine"). What changes the meaning, each a class label:

* ``figure``: the numbers differ ("2,000" -> "3,000 square kilometers"; "3 000" and "3,000" are one figure);
* ``negation``: a denial or negation appears or goes ("Ukraine recaptures X" -> "... denies recapture of X");
* ``actor``: a name is replaced by another, or names swap places ("Ukraine recaptures X" -> "Russia
  recaptures X"; "Ukraine pushes Russia out of X" -> "Russia pushes Ukraine out of X").

A watched term or place new in the headline is found by the caller with the watch's own matcher (``new_hits``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from difflib import SequenceMatcher

from monitor.alerting import numbers

# " - Reuters", " | Kyiv Independent", " — BBC News": a suffix of one to four capitalised words (or "of", "the")
_NAME_WORD = r"(?:[A-ZА-ЯІЇЄҐ0-9][\w'’.&]*|of|the|and)"
_OUTLET = re.compile(rf"\s+[-|–—]\s+{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}}$")
_BYLINE = re.compile(r"\s*[,|–—-]?\s*\bby\s+[A-ZА-ЯІЇЄҐ][\w'’.-]*(?:\s+[A-ZА-ЯІЇЄҐ][\w'’.-]*){0,3}\s*$")
_MARKER = re.compile(r"^\s*(?:update\s*\d*|updated|live|breaking|watch|video|оновлено|обновлено)\s*[-:–—]\s*",
                     re.IGNORECASE)
_TIME = re.compile(r"\(?\b(?:updated\s+)?\d{1,2}:\d{2}(?:\s*(?:gmt|utc|cet|eet|msk|am|pm|et))?\b\)?", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*")
NEGATIONS = frozenset({
    "not", "no", "never", "deny", "denies", "denied", "denying", "refute", "refutes", "refuted", "reject", "rejects",
    "rejected", "false", "fake", "fails", "failed", "isn't", "wasn't", "hasn't", "haven't", "didn't", "doesn't",
    "won't", "aren't", "weren't", "не", "ні", "немає", "нет", "спростовує", "спростували", "спростував", "заперечує",
    "заперечують", "опровергает", "опровергли", "опроверг", "отрицает", "отрицают", "фейк",
})
TYPO_RATIO = 0.75  # words at least this alike (and the same digits) are one word respelt


def core(title: str) -> str:
    """The headline without outlet suffix, byline, update marker or time stamp (original case)."""
    text = unicodedata.normalize("NFKC", " ".join(title.split()))
    text = _MARKER.sub("", text)
    for pattern in (_BYLINE, _OUTLET, _TIME):
        text = pattern.sub("", text).strip()
    return text


def _words(text: str) -> list[str]:
    return [w.replace("’", "'").replace("ʼ", "'") for w in _WORD.findall(text)]


def _is_name(word: str) -> bool:
    return word[:1].isupper()


def _typo(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.casefold(), b.casefold()).ratio() >= TYPO_RATIO


def _actor_changed(old: list[str], new: list[str]) -> bool:
    """A capitalised word replaced by a different one (not a respelling), or the names reordered."""
    folded_old, folded_new = [w.casefold() for w in old], [w.casefold() for w in new]
    matcher = SequenceMatcher(None, folded_old, folded_new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue
        gone = [w for w in old[i1:i2] if _is_name(w)]
        came = [w for w in new[j1:j2] if _is_name(w)]
        if any(not any(_typo(g, c) for g in gone) for c in came) and gone:
            return True
    names_old = [w.casefold() for w in old if _is_name(w)]
    names_new = [w.casefold() for w in new if _is_name(w)]
    return sorted(names_old) == sorted(names_new) and names_old != names_new and len(names_old) > 1


def classes(old_title: str, new_title: str) -> frozenset[str]:
    """The meaning-change classes between two headlines (empty: the same meaning, or a trivial edit)."""
    old, new = core(old_title), core(new_title)
    if old.casefold() == new.casefold():
        return frozenset()
    found = set()
    if numbers(old) != numbers(new):
        found.add("figure")
    old_words, new_words = _words(old), _words(new)
    if {w.casefold() for w in old_words} & NEGATIONS != {w.casefold() for w in new_words} & NEGATIONS:
        found.add("negation")
    if _actor_changed(old_words, new_words):
        found.add("actor")
    return frozenset(found)


TermHits = Callable[[str], Mapping[str, frozenset[str]]]


def labels(old_title: str, new_title: str, term_hits: TermHits, watches: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per watch of ``watches`` (those the new version matched): what the new headline says that the old one did
    not, namely its watched terms and places new in the headline, and ``headline:<class>:<headline>`` for a meaning
    change (so one headline alerts once). Empty when the headlines differ only trivially."""
    old, new = core(old_title), core(new_title)
    if old.casefold() == new.casefold():
        return {}
    kinds = classes(old_title, new_title)
    before, after = term_hits(old), term_hits(new)
    tag = " ".join(w.casefold() for w in _words(new))[:120]
    out: dict[str, frozenset[str]] = {}
    for watch in watches:
        fresh = set(after.get(watch, frozenset()) - before.get(watch, frozenset()))
        fresh |= {f"headline:{kind}:{tag}" for kind in kinds}
        if fresh:
            out[watch] = frozenset(fresh)
    return out
