"""Cadence: when to poll a source next. Pure functions over the source's posting rate and the server's
hints, so the scheduler stays a ticker and tests need only numbers.

- **Adaptive interval.** Like Miniflux's entry-frequency scheduler (weekly entry count -> interval), but
  the last 24 hours count too, so a feed that suddenly gets busy is polled faster within the day: the
  interval is half the usual gap between posts (two polls per post), clamped to ``[min, max]``.
- **Politeness.** ``Cache-Control: max-age``/``Expires`` and RSS ``<ttl>`` are a lower bound (capped at
  the maximum interval, so a server asking for a week is still polled).
- **Telegram gaps.** A poll that found posts it could not see halves the interval.
- **Backoff.** After a failure: interval x 2^failures, at least ``Retry-After``, capped at 6 h, plus
  jitter; it never parks a source, and success resets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from monitor.config import Settings, Source

MAX_BACKOFF = timedelta(hours=6)
POLLS_PER_GAP = 2
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Cadence:
    """The interval rules of one source."""

    base: timedelta  # the configured interval: the start, or the fixed value when not adaptive
    low: timedelta
    high: timedelta
    adaptive: bool
    jitter: timedelta

    @classmethod
    def of(cls, source: Source, settings: Settings) -> Cadence:
        """A source with its own ``interval`` is polled at that interval; the others adapt."""
        pinned = source.interval is not None
        base = source.interval or settings.interval
        return cls(base=base, low=min(settings.min_interval, base), high=max(settings.max_interval, base),
                   adaptive=settings.adaptive and not pinned, jitter=settings.jitter)


def interval_for(
    c: Cadence, posts_week: int, posts_day: int, *, previous: timedelta | None = None, gap: bool = False,
    hint: float | None = None,
) -> timedelta:
    """The interval until the next poll after a successful one.

    ``posts_week``/``posts_day``: stories first published in the last 7 days / 24 h; ``previous``: the
    interval in force; ``gap``: posts were missed since the last poll; ``hint``: the server's freshness
    in seconds (cache headers or ``<ttl>``).
    """
    interval = _from_rate(c, posts_week, posts_day) if c.adaptive else c.base
    if gap:
        interval = min(interval, (previous or interval) / 2)
    interval = max(interval, c.low if c.adaptive else c.base)
    if hint:
        interval = max(interval, min(timedelta(seconds=hint), c.high))
    return interval


def _from_rate(c: Cadence, posts_week: int, posts_day: int) -> timedelta:
    if posts_week <= 0 and posts_day <= 0:
        return c.high
    gaps = [WEEK / n for n in (posts_week,) if n > 0] + [DAY / n for n in (posts_day,) if n > 0]
    interval: timedelta = min(gaps) / POLLS_PER_GAP
    return min(max(interval, c.low), c.high)


def backoff(
    c: Cadence, failures: int, *, interval: timedelta | None = None, retry_after: float | None = None,
    rng: random.Random,
) -> timedelta:
    """The delay before retrying after the ``failures``-th consecutive failure (0 for the first)."""
    step = interval or c.base
    delay = min(step * (1 << min(failures, 16)), MAX_BACKOFF)
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_BACKOFF))
    return delay + with_jitter(c, rng)


def with_jitter(c: Cadence, rng: random.Random) -> timedelta:
    """A random extra delay, so sources on one host are not all hit at the same moment."""
    return timedelta(seconds=rng.uniform(0, c.jitter.total_seconds()))
