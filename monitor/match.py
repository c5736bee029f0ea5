"""Match stage (pure): scan a story's title and text once for every pattern of the compiled watchlist
(``match_rules.py``), then decide per watch; ``match`` and ``explain`` share ``evaluate``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from monitor.gazetteer import fold
from monitor.match_anchors import lower, word_text
from monitor.match_rules import (
    CompiledWatch,
    CompiledWatchlist,
    Role,
    WatchLike,
    compile_watches,
    term_regex,
)
from monitor.models import Match

__all__ = ["CompiledWatch", "CompiledWatchlist", "Outcome", "Scan", "WatchLike", "compile_watches", "evaluate",
           "hits", "match", "scan", "term_regex"]

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”’)]*\s+(?=[\"«„“(]?[^\W\d_a-zа-яіїєґ])|\n\s*")
_WORD = re.compile(r"\w+")
_LOWER = ("info", "info", "high")  # severity one step down: info, high, critical -> index
_LEVEL = {"info": 0, "high": 1, "critical": 2}

Span = tuple[int, int]


@dataclass
class Scan:
    """One story's text and every pattern hit in it (pattern id -> start -> end)."""

    folded: str
    lowered: str
    title_end: int
    hits: dict[int, dict[int, int]] = field(default_factory=dict)

    @cached_property
    def _units(self) -> list[int]:
        """Start offsets of sentences; the title and the text's first sentence form one unit."""
        starts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.folded) if m.end() < len(self.folded)]
        lead = [s for s in starts if s > self.title_end + 1]
        return [0, *lead]

    @cached_property
    def _words(self) -> list[int]:
        return [m.start() for m in _WORD.finditer(self.folded)]

    def unit(self, pos: int) -> int:
        return bisect_right(self._units, pos) - 1

    def unit_text(self, unit: int) -> str:
        units = self._units
        end = units[unit + 1] if unit + 1 < len(units) else len(self.folded)
        return " ".join(self.folded[units[unit] : end].split())

    def word(self, pos: int) -> int:
        return bisect_right(self._words, pos) - 1


def scan(compiled: CompiledWatchlist, title: str, text: str) -> Scan:
    """Find every pattern: automaton candidates verified by their regex, plus the unanchored ones."""
    folded_title = fold(title)
    folded = f"{folded_title}\n{fold(text)}"
    result = Scan(folded, lower(folded), len(folded_title))
    patterns = compiled.patterns
    if compiled.automaton is not None:
        for end, ids in compiled.automaton.iter(word_text(folded)):
            for pid, length in ids:
                pattern, start = patterns[pid], end - length + 1
                m = pattern.regex.match(folded if pattern.on_folded else result.lowered, start)
                if m:
                    result.hits.setdefault(pid, {})[start] = m.end()
    for pid in compiled.unanchored:
        pattern = patterns[pid]
        for m in pattern.regex.finditer(folded if pattern.on_folded else result.lowered):
            result.hits.setdefault(pid, {})[m.start()] = m.end()
    return result


def _spans(role: Role, found: Scan, title_only: bool) -> list[tuple[int, int, str]]:
    """(start, end, label) of every hit of ``role``'s patterns (in the title only, with ``scope: title``)."""
    out: list[tuple[int, int, str]] = []
    for pid in role.ids & found.hits.keys():
        for start, end in found.hits[pid].items():
            if not title_only or start < found.title_end:
                out.extend((start, end, label) for label in role.labels[pid])
    return sorted(out)


def _unmasked(spans: list[tuple[int, int, str]], masks: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``spans`` minus those inside an excluded phrase ("звільнили з посади", "Shakhtar Donetsk")."""
    if not masks:
        return spans
    return [h for h in spans if not any(m[0] <= h[0] and h[1] <= m[1] for m in masks)]


def _longest(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Place hits where, at one position, only the longest spelling counts (Kamianka-Dniprovska)."""
    kept: list[tuple[int, int, str]] = []
    resume = -1
    for start in sorted({s for s, _, _ in spans}):
        if start < resume:
            continue
        here = [h for h in spans if h[0] == start]
        longest = max(end for _, end, _ in here)
        kept.extend(h for h in here if h[1] == longest)
        resume = longest
    return kept


@dataclass(frozen=True)
class Outcome:
    """What ``evaluate`` decided for one watch (``explain.Verdict`` shows it; ``match`` keeps the matched)."""

    watch: CompiledWatch
    matched: bool
    severity: str
    terms: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    evidence: tuple[int, ...] = ()  # sentence units holding the evidence
    reasons: tuple[str, ...] = ()


def _out_of_scope(watch: CompiledWatch, source: str | None, tags: Sequence[str]) -> str | None:
    if watch.sources is not None and source is not None and source not in watch.sources:
        return f"source '{source}' out of scope (sources: {', '.join(sorted(watch.sources))})"
    if watch.tags is not None and (source is not None or tags) and not watch.tags & set(tags):
        shown = ", ".join(tags) or "none"
        return f"source tags ({shown}) out of scope (source_tags: {', '.join(sorted(watch.tags))})"
    return None


def _near(watch: CompiledWatch, found: Scan, terms: list[tuple[int, int, str]],
          places: list[tuple[int, int, str]]) -> list[int]:
    """Sentence units where a term and a place are near each other (one sentence, or ``near`` words)."""
    units: list[int] = []
    for t_start, t_end, _ in terms:
        for p_start, p_end, _ in places:
            first, second = sorted([(t_start, t_end), (p_start, p_end)])
            close = watch.near is not None and found.word(second[0]) - found.word(first[1] - 1) - 1 <= watch.near
            same = watch.sentence and found.unit(t_start) == found.unit(p_start)
            if (close or same) and found.unit(t_start) not in units:
                units.append(found.unit(t_start))
    return units


def _failure(watch: CompiledWatch, found: Scan, terms: list[tuple[int, int, str]],
             places: list[tuple[int, int, str]]) -> str | None:
    none = _spans(watch.none, found, watch.title_only)
    if none:
        return f"`none` term '{none[0][2]}' present"
    have = {label for _, _, label in _spans(watch.all, found, watch.title_only)}
    missing = [label for label in watch.all.names if label not in have]
    if missing:
        return f"`all` term '{missing[0]}' missing"
    if watch.terms.names and not terms:
        return "no term of the preset or `any` found" + (" in the title" if watch.title_only else "")
    if watch.places.names and not places:
        return "no place of `places`/`area` found" + (" in the title" if watch.title_only else "")
    return None


def _proximity_text(watch: CompiledWatch) -> str:
    limits = ([f"within {watch.near} words"] if watch.near is not None else []) + (
        ["in one sentence"] if watch.sentence else [])
    return "terms and places not " + " nor ".join(limits)


def _cue_note(watch: CompiledWatch, found: Scan, units: list[int]) -> str | None:
    """A cue ("claims", "denied") in every evidence sentence lowers the severity one step."""
    cues = _spans(watch.cues, found, False)
    if not cues or not units:
        return None
    by_unit = {found.unit(start): label for start, _, label in cues}
    if all(u in by_unit for u in units):
        return f"severity lowered: attribution or negation cue '{by_unit[units[0]]}'"
    return None


def evaluate(watch: CompiledWatch, found: Scan, source: str | None = None, tags: Sequence[str] = ()) -> Outcome:
    """Decide one watch on a scanned story, with the reasons (the one place that decides)."""
    scope = _out_of_scope(watch, source, tags)
    if scope:
        return Outcome(watch, False, watch.severity, reasons=(scope,))
    masks = _spans(watch.masks, found, False)
    terms = _unmasked(_spans(watch.terms, found, watch.title_only), masks)
    places = _unmasked(_longest(_spans(watch.places, found, watch.title_only)), masks)
    failure = _failure(watch, found, terms, places)
    labels = (tuple(sorted({t for *_, t in terms} | set(watch.all.names))), tuple(sorted({p for *_, p in places})))
    if failure:
        return Outcome(watch, False, watch.severity, *labels, reasons=(failure,))
    if watch.proximity:
        units = _near(watch, found, terms, places)
        if not units:
            return Outcome(watch, False, watch.severity, *labels, reasons=(_proximity_text(watch),))
    else:
        units = list(dict.fromkeys(found.unit(s) for s, _, _ in (terms or places)[:3]))
    note = _cue_note(watch, found, units)
    severity = _LOWER[_LEVEL.get(watch.severity, 1)] if note else watch.severity
    return Outcome(watch, True, severity, *labels, evidence=tuple(units[:3]), reasons=(note,) if note else ())


def _candidates(compiled: CompiledWatchlist, found: Scan) -> list[int]:
    """Indexes of the watches whose key patterns (places, else terms, else ``all``) occur, in order."""
    return sorted({i for pid in found.hits for i in compiled.users.get(pid, ())})


def match(compiled: CompiledWatchlist, title: str, text: str, *, source: str | None = None,
          tags: Sequence[str] = ()) -> list[Match]:
    """The watches a story version matches (title and text searched together), in watchlist order."""
    found = scan(compiled, title, text)
    out = []
    for i in _candidates(compiled, found):
        o = evaluate(compiled.watches[i], found, source, tags)
        if o.matched:
            out.append(Match(o.watch.name, terms=o.terms, places=o.places, notify=o.watch.notify,
                             severity=o.severity))
    return out


def hits(compiled: CompiledWatchlist, text: str) -> dict[str, frozenset[str]]:
    """Per watch, the watched terms and places that occur in ``text`` whether or not the watch
    matches it (labels as in ``Match.hits``); used to ask what an update's added sentences say."""
    found = scan(compiled, "", text)
    out: dict[str, frozenset[str]] = {}
    for watch in compiled.watches:
        masks = _spans(watch.masks, found, False)
        spans = [h for role in (watch.terms, watch.all) for h in _unmasked(_spans(role, found, False), masks)]
        terms = {label for *_, label in spans}
        places = {label for *_, label in _unmasked(_longest(_spans(watch.places, found, False)), masks)}
        out[watch.name] = frozenset(terms) | frozenset(f"place:{p}" for p in places)
    return out
