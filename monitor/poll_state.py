"""The sources' polling state as concurrent polls read and write it: batched, so an unchanged poll costs a
share of one read and one write transaction instead of three transactions of its own.

- ``state``: ``store.sources.ensure`` for every poll starting in the same moment, in one read.
- ``success``: the polls' results and next due times in one transaction (``record_successes``).
- Post counts (stories in 7 days / 24 h, which set the adaptive interval) are read in that same transaction
  only when the poll stored something or the counts this instance last read for the source are older than
  ``COUNTS_FRESH``: an unchanged feed's counts only move by stories ageing out, so a 10-minute-old count
  misplaces its next poll by seconds at most. (Another instance storing stories for the source meanwhile is
  seen at the next refresh.)
- Entries seen before: a changed feed usually brings one new entry among dozens it had last time. The raw
  entries of each source's last poll stored whole are remembered as 8-byte digests (1.6 KB per 200-entry
  source), and ``unseen`` hands ingest only the entries whose raw content differs, so the old ones are not
  normalized and looked up again only to be found unchanged. A partial fetch uses nothing remembered, and
  a restart starts afresh. (If another instance stored a different version of an entry that is now back to
  what this instance saw, that return is not stored as a version.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.group_commit import GroupCommit, Runner
from monitor.models import ParseResult, RawItem
from monitor.store.sources import Outcome, SourceState, Success

COUNTS_FRESH = timedelta(minutes=10)


class PollState:
    """Batched ``ensure`` and ``record_success`` for the polls of one context (``Context.poll_state``)."""

    def __init__(
        self,
        ensure: Callable[[list[tuple[str, str]]], Sequence[SourceState]],
        record: Callable[[list[Outcome]], Sequence[tuple[int, int]]],
        runner: Runner,  # type: ignore[type-arg]
    ) -> None:
        """``ensure``/``record``: ``store.sources.ensure_many``/``record_successes`` bound to the engine."""
        self._states: GroupCommit[tuple[str, str], SourceState] = GroupCommit(ensure, runner)
        self._successes: GroupCommit[Outcome, tuple[int, int]] = GroupCommit(record, runner)
        self._counts: dict[int, tuple[tuple[int, int], datetime]] = {}
        self._entries: dict[int, bytes] = {}  # source id -> digests of the raw entries last stored whole

    async def state(self, name: str, url: str) -> SourceState:
        """The stored state of source ``name`` (created, or reset when its configured URL changed)."""
        return await self._states.submit((name, url))

    async def success(
        self, source_id: int, now: datetime, decide: Callable[[int, int], Success], *, changed: bool
    ) -> None:
        """Record a successful poll; ``decide`` maps the post counts to what is stored. ``changed``: the poll
        stored stories (its counts are read afresh)."""
        cached = None if changed else self._fresh(source_id, now)
        used = await self._successes.submit(Outcome(source_id, now, decide, cached))
        if cached is None:
            self._counts[source_id] = (used, now)

    def _fresh(self, source_id: int, now: datetime) -> tuple[int, int] | None:
        found = self._counts.get(source_id)
        if found is None or not (found[1] <= now < found[1] + COUNTS_FRESH):
            return None
        return found[0]

    def unseen(self, source_id: int, parsed: ParseResult) -> tuple[ParseResult, int]:
        """``parsed`` without the entries that were, unchanged, in this source's last poll stored whole, and
        how many were left out."""
        known = self._entries.get(source_id)
        if known is None or parsed.partial:
            return parsed, 0
        seen = {known[i:i + 8] for i in range(0, len(known), 8)}
        fresh = tuple(item for item in parsed.items if _digest(item) not in seen)
        return replace(parsed, items=fresh), len(parsed.items) - len(fresh)

    def remember(self, source_id: int, parsed: ParseResult, *, whole: bool) -> None:
        """After a poll: its entries when every one was stored (``whole``) from a complete fetch, else
        nothing (the next poll looks at every entry)."""
        if whole and not parsed.partial:
            self._entries[source_id] = b"".join(_digest(item) for item in parsed.items)
        else:
            self._entries.pop(source_id, None)


def _digest(item: RawItem) -> bytes:
    """8 bytes standing for every field of a raw entry."""
    return hashlib.blake2b(repr(item).encode("utf-8", "surrogatepass"), digest_size=8).digest()
