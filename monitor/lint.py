"""Watchlist lint (pure): what ``news-monitor check`` reports beyond validation.

Errors (the check fails): a term that can never match, because the text normalisation changes it or a
``none`` term of the same watch is always found with it (an ``all`` term so shadowed means the watch can never
alert). Warnings (printed, the check passes): a term another term or the preset already covers, a ``none`` term
that can never match, a place name several settlements share when no oblast picks one, and two watches where
every story one alerts on the other alerts on too, to the same channel (the story would be sent twice).

Terms are probed with the real matcher: each is compiled alone and run over its own text (``*`` removed)
put through the story text normalisation, so the lint follows the rule language as it changes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monitor.config import Watch
from monitor.errors import ConfigError
from monitor.gazetteer import Gazetteer, Place, fold, name_key
from monitor.match import CompiledWatchlist, compile_watches, hits
from monitor.normalize import html_to_text

Level = Literal["error", "warning"]
MAX_PROBED = 400  # terms per watch probed against each other (pairwise); more: only each term alone
SUGGESTIONS = 4
OBLASTS_LISTED = 5  # oblasts named in an ambiguous-place warning, the largest places first
_SKIPPED = frozenset({"name", "notify", "severity", "preset", "any", "all", "none", "places", "followups",
                      "on_retraction"})


@dataclass(frozen=True)
class Finding:
    level: Level
    path: str  # dotted, as config problems are: watches.0.any.2
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.level}: {self.message}"


def lint(watches: Sequence[Watch], gazetteer: Gazetteer) -> list[Finding]:
    """Every finding of the (valid) watchlist, watch by watch, then overlapping watches."""
    out: list[Finding] = []
    presets: dict[str, CompiledWatchlist] = {}  # a preset is compiled once, however many watches use it
    for i, watch in enumerate(watches):
        out += _terms(i, watch, gazetteer, presets)
        out += _ambiguous(i, watch, gazetteer)
    return out + _overlaps(watches)


# -- terms -----------------------------------------------------------------------------------------------------

def sample(term: str) -> str:
    """The text a term stands for, as a story's text reaches the matcher (quotes and wildcards removed)."""
    words = [w.removesuffix("*") for w in term.strip().strip('"“”«»').split()]
    return " ".join(html_to_text(" ".join(words)).split())


Probes = tuple[list[tuple[str, str, str]], Callable[[str], set[str]]]


def _probe(watch: Watch, gazetteer: Gazetteer, presets: dict[str, CompiledWatchlist]) -> Probes:
    """Each term of the watch as its own probe watch (its id, field, term), and a function giving the ids
    of the probes that find a text (plus ``preset`` when the watch's preset does)."""
    fields = [(f"{f}.{j}", f, t) for f in ("any", "all", "none") for j, t in enumerate(getattr(watch, f))]
    try:
        compiled = compile_watches([Watch(name=f"p{k}", any=[t]) for k, (_, _, t) in enumerate(fields)], gazetteer)
        if watch.preset and watch.preset not in presets:
            presets[watch.preset] = compile_watches([Watch(name="preset", preset=watch.preset)], gazetteer)
    except ConfigError:  # validation reports it
        return [], lambda text: set()
    ids = {f"p{k}": fields[k][0] for k in range(len(fields))} | {"preset": "preset"}
    preset = presets.get(watch.preset or "")

    def finds(text: str) -> set[str]:
        found = hits(compiled, text) | (hits(preset, text) if preset is not None else {})
        return {ids[name] for name, labels in found.items() if any(not label.startswith("place:") for label in labels)}

    return fields, finds


def _terms(i: int, watch: Watch, gazetteer: Gazetteer, presets: dict[str, CompiledWatchlist]) -> list[Finding]:
    fields, finds = _probe(watch, gazetteer, presets)
    out: list[Finding] = []
    pairwise = len(fields) <= MAX_PROBED
    for path, field, term in fields:
        text = sample(term)
        found = finds(text) if text else set()
        where = f"watches.{i}.{path}"
        if path not in found:
            level: Level = "warning" if field == "none" else "error"
            out.append(Finding(level, where, f"'{term}' can never match: {_why(term, text)}"))
            continue
        if field == "none" or not pairwise:
            continue
        shadows = sorted(p for p in found if p.startswith("none."))
        if shadows:
            nones = ", ".join(f"'{watch.none[int(p.split('.')[1])]}'" for p in shadows)
            dead = " (so the watch can never alert)" if field == "all" else ""
            out.append(Finding("error", where, f"'{term}' can never match: a story with it also has the "
                               f"`none` term {nones}{dead}"))
        elif field == "any":
            out += _redundant(where, path, term, found, watch, finds)
    return out


def _redundant(where: str, path: str, term: str, found: set[str], watch: Watch,
               finds: Callable[[str], set[str]]) -> list[Finding]:
    """A term another `any` term (a wildcard, a shorter phrase) or the preset already finds."""
    if "preset" in found:
        return [Finding("warning", where, f"'{term}' is redundant: the preset '{watch.preset}' already finds it")]
    j = int(path.split(".")[1])
    for other in sorted(p for p in found if p.startswith("any.") and p != path):
        k = int(other.split(".")[1])
        mutual = path in finds(sample(watch.any[k]))
        if not mutual or k < j:  # of two terms that find each other, the later one is reported
            return [Finding("warning", where, f"'{term}' is redundant: '{watch.any[k]}' already finds it")]
    return []


def _why(term: str, text: str) -> str:
    """The likely reason a term does not find its own text."""
    if not text:
        return "nothing is left of it once the text is normalised"
    plain = " ".join(term.strip().strip('"“”«»').replace("*", "").split())
    if text != plain:
        return f"story text is normalised to {text!r}, which it does not find"
    if fold(plain) != plain:
        return f"story text is folded to {fold(plain)!r}, which it does not find"
    return "it does not find its own text"


# -- places ----------------------------------------------------------------------------------------------------

def _entry(entry: Any) -> tuple[str, str | None]:
    """(name, oblast) of a ``places`` entry: "Izium", "Kamianka, Cherkasy" or {name:, oblast:}."""
    if isinstance(entry, str):
        name, _, oblast = entry.partition(",")
        return name.strip(), oblast.strip() or None
    return str(getattr(entry, "name", "")).strip(), getattr(entry, "oblast", None)


def _ambiguous(i: int, watch: Watch, gazetteer: Gazetteer) -> list[Finding]:
    out = []
    for j, entry in enumerate(watch.places):
        name, oblast = _entry(entry)
        found = gazetteer.resolve(name) if name and oblast is None else []
        oblasts = sorted({p.oblast for p in found}, key=lambda o: (-_largest(found, o).population, o))
        if len(oblasts) > 1:
            listed = ", ".join(f"{o} ({_people(found, o)})" for o in oblasts[:OBLASTS_LISTED])
            more = f" and {len(oblasts) - OBLASTS_LISTED} more" if len(oblasts) > OBLASTS_LISTED else ""
            out.append(Finding("warning", f"watches.{i}.places.{j}", f"'{name}' names {len(found)} settlements "
                               f"in {len(oblasts)} oblasts: {listed}{more}; all of them match. Write '{name}, "
                               f"{oblasts[0]}' (or {{name: {name}, oblast: ...}}) to keep one"))
    return out


def _largest(places: Sequence[Place], oblast: str) -> Place:
    return max((p for p in places if p.oblast == oblast), key=lambda p: p.population)


def _people(places: Sequence[Place], oblast: str) -> str:
    top = _largest(places, oblast)
    return f"pop. {top.population:,}" if top.population else "village"


class Suggester:
    """The known places whose spellings are closest to a name ("Kupiansk (Kharkiv)"), by difflib's ratio over
    the spellings of about the same length; the spelling index is built once."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.by_length: dict[int, dict[str, list[Place]]] = {}
        for place in gazetteer:
            for spelling in place.spellings:
                key = name_key(spelling)
                self.by_length.setdefault(len(key), {}).setdefault(key, []).append(place)

    def __call__(self, name: str, limit: int = SUGGESTIONS) -> list[str]:
        key = name_key(name)
        if not key:
            return []
        slack = max(2, len(key) // 3)
        spellings = {k: v for n in range(len(key) - slack, len(key) + slack + 1)
                     for k, v in self.by_length.get(n, {}).items()}
        out: list[str] = []
        for close in difflib.get_close_matches(key, list(spellings), n=limit * 3, cutoff=0.7):
            for place in sorted(spellings[close], key=lambda p: -p.population):
                label = f"{place.name} ({place.oblast})"
                if label not in out:
                    out.append(label)
        return out[:limit]


def suggest(name: str, gazetteer: Gazetteer, limit: int = SUGGESTIONS) -> list[str]:
    """``Suggester(gazetteer)(name)``, for one name."""
    return Suggester(gazetteer)(name, limit)


# -- overlapping watches ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    preset: str | None
    any: frozenset[str]
    all: frozenset[str]
    none: frozenset[str]
    places: frozenset[tuple[str, str | None]]
    rest: str  # every other rule key (area, near, scope, sources...), which must be equal

    @classmethod
    def of(cls, watch: Watch) -> _Rule:
        rest = {k: v for k, v in watch.model_dump().items() if k not in _SKIPPED}
        return cls(watch.preset, _canon(watch.any), _canon(watch.all), _canon(watch.none),
                   frozenset((name_key(n), name_key(o) if o else None) for n, o in map(_entry, watch.places)),
                   repr(sorted(rest.items())))

    def covers(self, other: _Rule) -> bool:
        """Every story ``other`` matches, this rule matches too (a sufficient, not a complete, test)."""
        has_terms, other_terms = bool(self.preset or self.any), bool(other.preset or other.any)
        terms = not has_terms or (other_terms and other.preset in (None, self.preset) and other.any <= self.any)
        places = not self.places or (bool(other.places) and other.places <= self.places)
        return (terms and places and self.all <= other.all and self.none <= other.none
                and self.rest == other.rest)


def _canon(terms: Iterable[str]) -> frozenset[str]:
    return frozenset(" ".join(fold(t).strip().strip('"“”«»').split()).lower() for t in terms)


def _overlaps(watches: Sequence[Watch]) -> list[Finding]:
    rules = [_Rule.of(w) for w in watches]
    out = []
    for j, later in enumerate(watches):
        for i in range(j):
            shared = [ch for ch in later.notify if ch in watches[i].notify]
            if not shared:
                continue
            first, second = rules[i], rules[j]
            if first == second:
                how = f"has the same rules as watch '{watches[i].name}'"
            elif first.covers(second):
                how = f"alerts only on stories watch '{watches[i].name}' alerts on too"
            elif second.covers(first):
                how = f"alerts on every story watch '{watches[i].name}' alerts on"
            else:
                continue
            out.append(Finding("warning", f"watches.{j}", f"watch '{later.name}' {how}, to {', '.join(shared)}: "
                               "such a story is sent twice (merge them, or send them to different channels)"))
            break
    return out
