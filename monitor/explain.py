"""Why a story did or did not match each watch (pure): the same ``evaluate`` as ``match``, with its evidence
and reasons spelled out for ``news-monitor explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.match import CompiledWatchlist, evaluate, scan


@dataclass(frozen=True)
class Verdict:
    """One watch's decision on one story."""

    watch: str  # watch name
    matched: bool  # would this watch alert on the story?
    severity: str  # effective severity (after attribution/negation cues lowered it)
    terms: tuple[str, ...]  # term labels found (canonical terms)
    places: tuple[str, ...]  # place labels found
    sentences: tuple[str, ...]  # the sentence(s) holding the evidence (the term/place pair for NEAR)
    reasons: tuple[str, ...]  # why it did not match, or notes (severity lowered)


def explain(compiled: CompiledWatchlist, title: str, text: str, *, source: str | None = None,
            tags: Sequence[str] = ()) -> list[Verdict]:
    """One Verdict per watch, in watchlist order; matched ones agree exactly with match()."""
    found = scan(compiled, title, text)
    verdicts = []
    for watch in compiled.watches:
        o = evaluate(watch, found, source, tags)
        sentences = tuple(found.unit_text(u) for u in o.evidence)
        verdicts.append(Verdict(watch.name, o.matched, o.severity, o.terms, o.places, sentences, o.reasons))
    return verdicts
