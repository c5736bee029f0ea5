"""Alert planning: matches (and, for updates, the change) -> outbox drafts, one per channel.

A new story alerts once per cluster, watch and channel. A new version alerts only when it adds a
watched term or place that the previous version lacked and that no alert of its cluster carried, when a figure
beside a watched term changed, or when its headline changed meaning (``monitor/headline.py``; the caller passes
those labels with the figures). Follow-ups and retractions are planned by ``monitor/followups.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from monitor.models import Alert, AlertDraft, Change, Match, Story

EXCERPT_CHARS = 400


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The opening of the story, cut on a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def _drafts(
    story: Story,
    match: Match,
    kind: str,
    sources: Sequence[str],
    change: Change | None,
    hits: frozenset[str],
    independent: int = 1,
) -> list[AlertDraft]:
    text = excerpt(story.text)
    if independent > 1:  # a watch with min_sources, or a story that reached a watch late: say how corroborated
        text = f"Reported by {independent} independent sources.\n\n{text}"
    out = []
    for channel in match.notify:
        alert = Alert(
            alert_id="",
            channel=channel,
            kind=kind,
            title=story.title,
            link=story.url,
            sources=tuple(sources),
            watch=match.watch,
            terms=match.terms,
            places=match.places,
            excerpt=text,
            added=change.added if change else (),
            removed=change.removed if change else (),
            severity=match.severity,
        )
        out.append(AlertDraft(alert=alert, hits=tuple(sorted(hits))))
    return out


def is_stale(story: Story, now: datetime, max_age: timedelta) -> bool:
    """True for an entry published longer than ``max_age`` ago (a feed just added, an archive page)."""
    return story.published is not None and now - story.published > max_age


def plan_new(
    story: Story,
    matches: Sequence[Match],
    sources: Sequence[str],
    *,
    now: datetime | None = None,
    max_age: timedelta | None = None,
    independent: int = 1,
) -> list[AlertDraft]:
    """Drafts for a story seen for the first time (the store ignores clusters already alerted); ``independent``:
    its cluster's independent sources (said in the excerpt when more than one).

    A story published more than ``max_age`` before ``now`` is stored but never alerts, so adding a
    feed or restarting after a long outage does not flood the channels with old news."""
    if now is not None and max_age is not None and is_stale(story, now, max_age):
        return []
    return [d for m in matches for d in _drafts(story, m, "new", sources, None, m.hits, independent)]


_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_FIGURE = re.compile(r"(?<![\w.,])\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+(?![\w])|(?<![\w.,])\d+(?:[.,]\d+)?(?![\w])")


TermHits = Callable[[str], Mapping[str, frozenset[str]]]


def figures(sentences: Iterable[str], term_hits: TermHits) -> dict[str, frozenset[str]]:
    """Per watch, the numbers that stand in a sentence naming one of its terms ("3,000 square kilometers",
    "понад 3000 кв. км"): labels ``figure:<digits>`` (separators dropped, so "3 000" = "3,000" = "3000")."""
    out: dict[str, set[str]] = {}
    for sentence in sentences:
        found_numbers = numbers(sentence)
        if not found_numbers:
            continue
        for watch, found in term_hits(sentence).items():
            if any(not h.startswith("place:") for h in found):  # a watched term, not only a place
                out.setdefault(watch, set()).update(f"figure:{n}" for n in found_numbers)
    return {watch: frozenset(found) for watch, found in out.items()}


def numbers(text: str) -> frozenset[str]:
    """The figures of a text, separators dropped ("3 000" = "3,000" = "3000"; "2,5" = "2.5")."""
    return frozenset(_digits(m.group()) for m in _FIGURE.finditer(text))


def _digits(number: str) -> str:
    compact = re.sub(r"[ \u00a0\u202f]", "", number)
    if _THOUSANDS.fullmatch(compact):
        return re.sub(r"[.,]", "", compact)
    return compact.replace(",", ".")


def plan_update(
    story: Story,
    change: Change | None,
    matches: Sequence[Match],
    previous: Sequence[Match],
    alerted: Mapping[str, frozenset[str]],
    sources: Sequence[str],
    *,
    added_hits: Mapping[str, frozenset[str]] | None = None,
    new_figures: Mapping[str, frozenset[str]] | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> list[AlertDraft]:
    """Drafts for a new version: "new" for a watch its cluster never alerted (unless the story is
    older than ``max_age``), else "update" when the version adds watched terms or places that
    neither the previous version nor any earlier alert of the cluster had, and that stand in the
    sentences the version really added (``added_hits`` per watch; a corrected spelling is not an
    added sentence), or when a figure next to a watched term changed (``new_figures`` per watch: numbers in
    added sentences with a watched term that the previous version and earlier alerts did not have, e.g.
    "2,000 square kilometers" -> "3,000"). Cosmetic edits (``change is None``) never alert."""
    if change is None:
        return []
    stale = now is not None and max_age is not None and is_stale(story, now, max_age)
    before = {m.watch: m.hits for m in previous}
    drafts: list[AlertDraft] = []
    for m in matches:
        done = alerted.get(m.watch)
        if done is None:
            drafts += [] if stale else _drafts(story, m, "new", sources, None, m.hits)
            continue
        fresh = m.hits - before.get(m.watch, frozenset()) - done
        if added_hits is not None:
            fresh &= added_hits.get(m.watch, frozenset())
        fresh |= (new_figures or {}).get(m.watch, frozenset()) - done
        if fresh and change.added:
            drafts += _drafts(story, m, "update", sources, change, m.hits | done | fresh)
    return drafts
