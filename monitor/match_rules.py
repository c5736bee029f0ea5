"""Compile stage of matching (pure): every watch once into a ``CompiledWatchlist``.

Every term, cue and place spelling becomes one regex, registered once for the whole watchlist. An Aho-Corasick
automaton over the regexes' literal prefixes (``anchors``) finds where any of them may start in one pass over
the text, whatever the number of watches; only those positions are verified with the regex (``match.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import ahocorasick

from monitor.errors import ConfigError
from monitor.gazetteer import BOUNDARY, GAP, Gazetteer, fold
from monitor.match_anchors import anchors, starts_with_capital, word_keys
from monitor.match_places import area_regexes, place_entries
from monitor.presets import PRESET_CUES, PRESET_EXCLUDES, PRESETS

_DOT_GAP = f"(?:\\.(?:{GAP})?|{GAP})"  # after a word written with a final "." (кв. км, кв.км, кв км)
DEFAULT_NEAR = 12  # words between a term and a place (or one sentence) for watches with both


class WatchLike(Protocol):
    """What ``compile_watches`` reads from a configured watch (``config.Watch`` fits); the newer keys
    (``near``, ``scope``, ``sources``, ``source_tags``, ``area``) are read when present."""

    @property
    def name(self) -> str: ...
    @property
    def preset(self) -> str | None: ...
    @property
    def any(self) -> Sequence[str]: ...
    @property
    def all(self) -> Sequence[str]: ...
    @property
    def none(self) -> Sequence[str]: ...
    @property
    def places(self) -> Sequence[Any]: ...
    @property
    def notify(self) -> Sequence[str]: ...
    @property
    def severity(self) -> str: ...


@dataclass(frozen=True)
class Role:
    """One labelled pattern set of a watch (its terms, places, ``all``, ``none`` or cues)."""

    labels: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # pattern id -> labels using it
    names: tuple[str, ...] = ()  # every label, in rule order
    ids: frozenset[int] = field(init=False, repr=False)  # the keys of ``labels``, for set intersections

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(self.labels))


@dataclass(frozen=True)
class CompiledWatch:
    """One watch, compiled once by ``compile_watches``."""

    name: str
    terms: Role  # preset terms and ``any``: at least one must appear
    all: Role  # every one must appear
    none: Role  # none may appear
    places: Role  # ``places`` and ``area``: at least one must appear
    notify: tuple[str, ...]
    severity: str = "high"
    near: int | None = None  # a term and a place within this many words (None: no word limit)
    sentence: bool = False  # a term and a place in one sentence (the title counts with the lead sentence)
    title_only: bool = False  # ``scope: title``
    sources: frozenset[str] | None = None  # ``sources``: only stories from these sources
    tags: frozenset[str] | None = None  # ``source_tags``: only stories from sources with one of these tags
    cues: Role = Role()  # attribution and negation cues of the preset: lower the severity one step
    masks: Role = Role()  # excluded phrases of the preset: terms and places inside them do not count

    @property
    def proximity(self) -> bool:
        """Whether terms and places must be near each other."""
        return bool(self.terms.names and self.places.names) and (self.near is not None or self.sentence)


@dataclass(frozen=True)
class Pattern:
    """One distinct regex of the watchlist, compiled when the automaton first finds a candidate for it (most
    of a big gazetteer's word forms never occur; compiling all would take most of the start-up)."""

    source: str
    on_folded: bool  # place spellings (a capital first letter) run on folded text, the rest on lower case

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.source)


@dataclass(frozen=True)
class CompiledWatchlist:
    """Every watch of the watchlist in file order, with the pattern registry and its automaton."""

    watches: tuple[CompiledWatch, ...]
    patterns: tuple[Pattern, ...] = ()
    automaton: Any = None  # ahocorasick.Automaton over ``word_text``: anchor key -> ((pattern id, key length), ...)
    unanchored: tuple[int, ...] = ()  # patterns without a literal prefix of two letters: searched directly
    users: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # pattern id -> watches keyed on it


def _check_word(word: str) -> None:
    """ValueError when a term word has a misplaced or too short wildcard, or nothing to match."""
    stem = word.removesuffix("*")
    if "*" in stem:
        raise ValueError("'*' is only allowed at the end of a word")
    if word.endswith("*") and sum(ch.isalpha() for ch in stem) < 3:
        raise ValueError("a wildcard needs at least 3 letters before '*'")
    if not re.search(r"\w", stem):
        raise ValueError("a term word needs a letter or digit")


def _term_word(word: str) -> tuple[str, bool]:
    """Regex of one term word and whether it ended in '.' (then the '.' is optional)."""
    _check_word(word)
    stem = word.removesuffix("*")
    dotted = stem.endswith(".")
    body = "".join("[-\\s]?" if ch == "-" else re.escape(ch) for ch in stem.removesuffix("."))
    return body + ("\\w*" if word.endswith("*") else ""), dotted


def term_regex(term: str) -> tuple[str, str]:
    """(canonical term, regex) for a watch term; ValueError with the reason when the term is invalid.

    Terms are case-insensitive whole words; several words (quoted or not) are a phrase matching across
    spaces, dashes and quotes; a word-final ``*`` is a prefix wildcard that only extends the end
    (``recaptur*`` finds "recaptured", not "unrecaptured"); a hyphen also matches a space or nothing; a
    word's final "." is optional. The canonical form (lower case, single spaces) is what matches report.
    """
    canonical = " ".join(term.strip().strip('"“”«»').split()).lower()
    if not canonical:
        raise ValueError("empty term")
    regex, dotted = BOUNDARY, False
    for i, word in enumerate(fold(canonical).split()):
        part, next_dotted = _term_word(word)
        regex += (_DOT_GAP if dotted else GAP) * (i > 0) + part
        dotted = next_dotted
    return canonical, regex + ("(?:\\.|(?!\\w))" if dotted else "(?!\\w)")


class _Registry:
    """Distinct regexes of the watchlist, each compiled once, with their anchors in one automaton."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, bool], int] = {}
        self.patterns: list[Pattern] = []

    def add(self, regex: str, on_folded: bool) -> int:
        key = (regex, on_folded)
        if key not in self.ids:
            self.ids[key] = len(self.patterns)
            self.patterns.append(Pattern(regex, on_folded))
        return self.ids[key]

    def build(self, watches: tuple[CompiledWatch, ...]) -> CompiledWatchlist:
        automaton = ahocorasick.Automaton()
        by_anchor: dict[str, list[tuple[int, int]]] = {}
        unanchored = []
        for pid, pattern in enumerate(self.patterns):
            found = anchors(pattern.source)
            if not found:
                unanchored.append(pid)
            for anchor in found:
                bounded = pattern.source.startswith(BOUNDARY)
                capital = pattern.on_folded and starts_with_capital(pattern.source)
                for key in word_keys(anchor, bounded, capital):
                    by_anchor.setdefault(key, []).append((pid, len(key) + (not bounded)))  # see word_keys
        for anchor, ids in by_anchor.items():
            automaton.add_word(anchor, tuple(ids))
        if by_anchor:
            automaton.make_automaton()
        users: dict[int, list[int]] = {}
        for i, watch in enumerate(watches):
            role = watch.places if watch.places.names else watch.terms if watch.terms.names else watch.all
            for pid in role.labels:  # a watch is a candidate when one of its places (else terms) occurs
                users.setdefault(pid, []).append(i)
        return CompiledWatchlist(watches, tuple(self.patterns), automaton if by_anchor else None,
                                 tuple(unanchored), {pid: tuple(v) for pid, v in users.items()})


def _role(items: Sequence[tuple[str, list[str]]], registry: _Registry, on_folded: bool) -> Role:
    labels: dict[int, list[str]] = {}
    for label, regexes in items:
        for regex in regexes:
            labels.setdefault(registry.add(regex, on_folded), []).append(label)
    return Role({pid: tuple(v) for pid, v in labels.items()}, tuple(label for label, _ in items))


def _terms(where: str, terms: Sequence[str], problems: list[str]) -> list[tuple[str, list[str]]]:
    """Parse the terms of one field; invalid ones become ``where.j: message`` problems."""
    parsed: dict[str, str] = {}
    for j, term in enumerate(terms):
        try:
            canonical, regex = term_regex(term)
        except ValueError as exc:
            problems.append(f"{where}.{j}: invalid term '{term}': {exc}")
        else:
            parsed.setdefault(canonical, regex)
    return [(label, [regex]) for label, regex in parsed.items()]


def _preset(where: str, name: str | None, problems: list[str]) -> tuple[list[Any], list[Any], list[Any]]:
    """(terms, cues, excluded phrases) of the preset ``name``."""
    if name is None:
        return [], [], []
    if name not in PRESETS:
        problems.append(f"{where}.preset: unknown preset '{name}' (known: {', '.join(sorted(PRESETS))})")
        return [], [], []
    where = f"{where}.preset"
    return (_terms(where, PRESETS[name], problems), _terms(where, PRESET_CUES[name], problems),
            _terms(where, PRESET_EXCLUDES[name], problems))


def _proximity(near: Any) -> tuple[int | None, bool]:
    """(word limit, same sentence counts) from ``near``: a number, "sentence", "story" or unset."""
    if near is None:
        return DEFAULT_NEAR, True
    if near == "sentence":
        return None, True
    if near == "story":
        return None, False
    return int(near), False


def _compile_watch(i: int, watch: WatchLike, gazetteer: Gazetteer, problems: list[str], reg: _Registry
                   ) -> CompiledWatch | None:
    where, before = f"watches.{i}", len(problems)
    preset_terms, cues, excludes = _preset(where, watch.preset, problems)
    terms = preset_terms + _terms(f"{where}.any", watch.any, problems)
    all_terms = _terms(f"{where}.all", watch.all, problems)
    none_terms = _terms(f"{where}.none", watch.none, problems)
    places = place_entries(f"{where}.places", watch.places, gazetteer, problems)
    area = getattr(watch, "area", None)
    for name, regexes in area_regexes(f"{where}.area", area, gazetteer, problems).items():
        places.setdefault(name, regexes)
    if not (watch.preset or watch.any or watch.all or watch.places or area):
        problems.append(f"{where}: a watch needs a preset, terms or places (it would match every story)")
    if len(problems) > before:
        return None
    near, sentence = _proximity(getattr(watch, "near", None))
    sources, tags = getattr(watch, "sources", None), getattr(watch, "source_tags", None)
    return CompiledWatch(
        name=watch.name, terms=_role(terms, reg, False), all=_role(all_terms, reg, False),
        none=_role(none_terms, reg, False), places=_role(sorted(places.items()), reg, True),
        notify=tuple(watch.notify), severity=watch.severity, near=near, sentence=sentence,
        title_only=getattr(watch, "scope", "title+text") == "title",
        sources=frozenset(sources) if sources else None, tags=frozenset(tags) if tags else None,
        cues=_role(cues, reg, False), masks=_role(excludes, reg, False),
    )


def compile_watches(watches: Sequence[WatchLike], gazetteer: Gazetteer) -> CompiledWatchlist:
    """Compile every watch once (at start and on reload); ConfigError lists every problem with its path."""
    problems: list[str] = []
    registry = _Registry()
    compiled = [_compile_watch(i, watch, gazetteer, problems, registry) for i, watch in enumerate(watches)]
    if problems:
        raise ConfigError(problems)
    return registry.build(tuple(c for c in compiled if c is not None))
