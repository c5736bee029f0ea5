"""Match stage (pure): compile the watches once against the gazetteer, then ``match`` a story's title and
text to the watches it satisfies, recording the term patterns and the places it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.errors import ConfigError
from monitor.gazetteer import BOUNDARY, GAP, Gazetteer, fold, place_regexes
from monitor.models import Match
from monitor.presets import PRESETS

_DOT_GAP = f"(?:\\.(?:{GAP})?|{GAP})"  # after a word written with a final "." (кв. км, кв.км, кв км)


class WatchLike(Protocol):
    """What ``compile_watches`` reads from a configured watch (``config.Watch`` fits)."""

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
    def places(self) -> Sequence[str]: ...
    @property
    def notify(self) -> Sequence[str]: ...
    @property
    def severity(self) -> str: ...


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: watches share one preset group
class _Group:
    """Labelled patterns plus one combined alternation that finds where any of them may start.

    The alternation has no groups and no IGNORECASE flag (terms run on lower-cased text, places start with
    a literal capital), so ``re`` can skip ahead by first letter; the members then say which label matched.
    """

    pattern: re.Pattern[str]
    members: tuple[tuple[str, re.Pattern[str]], ...]
    longest: bool  # places: at one position only the longest spelling counts (Kamianka-Dniprovska)

    def found(self, text: str) -> set[str]:
        """Every label occurring in ``text`` (terms may overlap; places take the longest at a position)."""
        labels: set[str] = set()
        m = self.pattern.search(text)
        while m is not None:
            ends = {label: e.end() for label, rx in self.members if (e := rx.match(text, m.start()))}
            if self.longest:
                ends = {label: end for label, end in ends.items() if end == max(ends.values())}
            labels.update(ends)
            resume = max(ends.values(), default=m.end()) if self.longest else m.start() + 1
            m = self.pattern.search(text, resume)
        return labels


@dataclass(frozen=True)
class CompiledWatch:
    """One watch, compiled once by ``compile_watches``."""

    name: str
    terms: _Group | None  # preset terms and ``any``: at least one must appear
    all: tuple[tuple[str, re.Pattern[str]], ...]  # every one must appear
    none: re.Pattern[str] | None  # none may appear
    places: _Group | None  # at least one must appear
    notify: tuple[str, ...]
    severity: str = "high"


@dataclass(frozen=True)
class CompiledWatchlist:
    """Every watch of the watchlist, in file order (what ``match`` takes)."""

    watches: tuple[CompiledWatch, ...]


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


def _factor(bodies: set[str]) -> str:
    """An alternation of regex bodies grouped by literal first letter, so ``re`` tries few per position."""
    buckets: dict[str, list[str]] = {}
    for body in sorted(bodies, key=lambda b: (-len(b), b)):
        first = body[0] if body[0].isalnum() else ""
        buckets.setdefault(first, []).append(body[len(first) :])
    return "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in sorted(buckets.items()))


def _group(items: Sequence[tuple[str, list[str]]], *, longest: bool) -> _Group:
    """Compile labelled alternatives (regexes starting with ``BOUNDARY``) into one searchable group."""
    bodies = {regex.removeprefix(BOUNDARY) for _, regexes in items for regex in regexes}
    pattern = re.compile(f"{BOUNDARY}(?:{_factor(bodies)})")
    return _Group(pattern, tuple((label, re.compile("|".join(regexes))) for label, regexes in items), longest)


def _terms(where: str, terms: Sequence[str], problems: list[str]) -> list[tuple[str, str]]:
    """Parse the terms of one field; invalid ones become ``where.j: message`` problems."""
    parsed: dict[str, str] = {}
    for j, term in enumerate(terms):
        try:
            canonical, regex = term_regex(term)
        except ValueError as exc:
            problems.append(f"{where}.{j}: invalid term '{term}': {exc}")
        else:
            parsed.setdefault(canonical, regex)
    return list(parsed.items())


def _preset(where: str, name: str | None, problems: list[str]) -> list[tuple[str, str]]:
    if name is None:
        return []
    if name not in PRESETS:
        problems.append(f"{where}.preset: unknown preset '{name}' (known: {', '.join(sorted(PRESETS))})")
        return []
    return _terms(f"{where}.preset", PRESETS[name], problems)


def _places(
    where: str, entries: Sequence[str], gazetteer: Gazetteer, problems: list[str]
) -> dict[str, list[str]]:
    """Resolve ``places`` entries ("Izium", or "Kamianka, Cherkasy" to pick an oblast) to spelling regexes."""
    found: dict[str, list[str]] = {}
    for j, entry in enumerate(entries):
        name, _, oblast = entry.partition(",")
        places = gazetteer.resolve(name.strip(), oblast.strip() or None) if name.strip() else []
        if not places:
            problems.append(f"{where}.{j}: unknown place '{entry}'")
            continue
        found.setdefault(entry.strip(), place_regexes(places))
    return found


def _shared(items: dict[str, list[str]], longest: bool, groups: dict[object, _Group]) -> _Group | None:
    """One ``_Group`` per distinct term or place list: a preset used by many watches is scanned once."""
    key = (tuple((label, tuple(regexes)) for label, regexes in sorted(items.items())), longest)
    if key not in groups and items:
        groups[key] = _group(sorted(items.items()), longest=longest)
    return groups.get(key)


def _compile_watch(
    i: int, watch: WatchLike, gazetteer: Gazetteer, problems: list[str], groups: dict[object, _Group]
) -> CompiledWatch | None:
    where, before = f"watches.{i}", len(problems)
    terms = _preset(where, watch.preset, problems) + _terms(f"{where}.any", watch.any, problems)
    all_terms = _terms(f"{where}.all", watch.all, problems)
    none_terms = _terms(f"{where}.none", watch.none, problems)
    places = _places(f"{where}.places", watch.places, gazetteer, problems)
    if not (watch.preset or watch.any or watch.all or watch.places):
        problems.append(f"{where}: a watch needs a preset, terms or places (it would match every story)")
    if len(problems) > before:
        return None
    none = re.compile("|".join(r for _, r in none_terms)) if none_terms else None
    return CompiledWatch(
        name=watch.name,
        terms=_shared({label: [regex] for label, regex in terms}, False, groups),
        all=tuple((label, re.compile(regex)) for label, regex in all_terms),
        none=none,
        places=_shared(places, True, groups),
        notify=tuple(watch.notify),
        severity=watch.severity,
    )


def compile_watches(watches: Sequence[WatchLike], gazetteer: Gazetteer) -> CompiledWatchlist:
    """Compile every watch once (at start and on reload); ConfigError lists every problem with its path."""
    problems: list[str] = []
    groups: dict[object, _Group] = {}
    compiled = [_compile_watch(i, watch, gazetteer, problems, groups) for i, watch in enumerate(watches)]
    if problems:
        raise ConfigError(problems)
    return CompiledWatchlist(tuple(c for c in compiled if c is not None))


def _found(group: _Group, text: str, seen: dict[_Group, set[str]]) -> set[str]:
    """``group.found(text)``, scanned once per story even when several watches share the group (a preset)."""
    if group not in seen:
        seen[group] = group.found(text)
    return set(seen[group])


def _required(group: _Group | None, text: str, seen: dict[_Group, set[str]]) -> set[str] | None:
    """Labels of ``group`` found in ``text``; None when the group has labels but none occurs."""
    if group is None:
        return set()
    return _found(group, text, seen) or None


def _match_watch(watch: CompiledWatch, text: str, lowered: str, seen: dict[_Group, set[str]]) -> Match | None:
    if watch.none is not None and watch.none.search(lowered):
        return None
    if not all(regex.search(lowered) for _, regex in watch.all):
        return None
    places = _required(watch.places, text, seen)
    terms = _required(watch.terms, lowered, seen) if places is not None else None
    if places is None or terms is None:
        return None
    terms.update(label for label, _ in watch.all)
    return Match(watch.name, terms=tuple(sorted(terms)), places=tuple(sorted(places)), notify=watch.notify,
                 severity=watch.severity)


def match(compiled: CompiledWatchlist, title: str, text: str) -> list[Match]:
    """The watches a story version matches (title and text searched together), in watchlist order."""
    folded = fold(f"{title}\n{text}")
    lowered = folded.lower()
    seen: dict[_Group, set[str]] = {}  # group -> labels found, shared by the watches of this one call
    matches = (_match_watch(watch, folded, lowered, seen) for watch in compiled.watches)
    return [m for m in matches if m is not None]


def hits(compiled: CompiledWatchlist, text: str) -> dict[str, frozenset[str]]:
    """Per watch, the watched terms and places that occur in ``text`` whether or not the watch
    matches it (labels as in ``Match.hits``); used to ask what an update's added sentences say."""
    folded = fold(text)
    lowered = folded.lower()
    seen: dict[_Group, set[str]] = {}
    out: dict[str, frozenset[str]] = {}
    for watch in compiled.watches:
        terms = _found(watch.terms, lowered, seen) if watch.terms is not None else set()
        terms.update(label for label, regex in watch.all if regex.search(lowered))
        places = _found(watch.places, folded, seen) if watch.places is not None else set()
        out[watch.name] = frozenset(terms) | frozenset(f"place:{p}" for p in places)
    return out
