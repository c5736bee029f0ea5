"""Pacing: when an alert for one channel may go out. Pure (no clock, no I/O); ``now`` is always passed in.

``route(spec, severity, now, sent_in_window=n)`` applies these rules, first match wins:

1. urgent (severity at or above ``spec.urgent``; unknown severities count as ``high``) -> ``send`` now,
   even in quiet hours, in a digest channel or over the rate limit;
2. inside quiet hours -> an ``immediate`` channel ``hold``\\ s the alert until the quiet period ends (the caller
   routes it again then, so the rate limit still applies); a ``digest`` channel folds it into the first digest
   slot at or after the quiet end;
3. ``mode: digest`` -> ``digest`` at the next slot;
4. rate limit reached (``sent_in_window >= N`` for ``rate_limit: N/unit``) -> ``digest`` at the start of the
   next rate window: the next full minute (``/m``), full hour (``/h``) or midnight (``/d``) on the channel's
   clock, so the overflow arrives as one message once the window frees up; it is folded, never dropped.
   ``sent_in_window`` is the caller's count of messages sent in the last period (or in the current one);
5. otherwise ``send``.

A digest is never sent inside quiet hours: a slot that falls in them moves to the first slot at or after the
quiet end, or to the quiet end itself when every slot is quiet (``daily 08:00`` with quiet ``07:00-09:00``).

Clock times are wall times in ``spec.timezone`` (zoneinfo, so DST is right): ``daily 08:00`` is 08:00 local
on the spring-forward and fall-back days too; ``hourly`` and ``every Nm|Nh`` are the multiples of the period
since local midnight, and in an hour repeated by a fall-back both passes count (a daily slot fires once,
on the first). A wall time skipped by a spring-forward is moved later by the gap (PEP 495 ``fold=0``, as
java.time does): with 03:00-04:00 skipped, 03:30 means 04:30. Every returned datetime is aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.config.models import SEVERITIES, ChannelSpec

_DAY = 1440  # minutes
_SLACK = 180  # minutes; more than any DST shift (Antarctica/Troll's 2 h), so shifted wall times stay in view
_TICK = timedelta(microseconds=1)  # "strictly after t - _TICK" is "at or after t"
_PERIODS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with one alert on one channel: send now, hold until ``at``, or fold into the digest at ``at``."""

    action: Literal["send", "hold", "digest"]
    at: datetime | None = None  # aware UTC; None for "send"


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _minute(clock: str) -> int:
    """'HH:MM' -> minutes since midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _instants(tz: ZoneInfo, day: date, minute: int) -> tuple[datetime, ...]:
    """When ``tz``'s wall clock shows ``minute`` on ``day``: once; twice (in order) in an hour repeated by a
    fall-back; for a time skipped by a spring-forward, the instant the gap's length later (fold=0)."""
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    first, second = (wall.replace(fold=fold).astimezone(UTC) for fold in (0, 1))
    if first != second and second.astimezone(tz).replace(tzinfo=None, fold=0) == wall.replace(tzinfo=None):
        return first, second
    return (first,)


def _next_wall(tz: ZoneInfo, minutes: range, after: datetime, *, repeat: bool) -> datetime:
    """The first instant strictly after ``after`` at which the wall clock shows one of ``minutes`` (of the
    day); ``repeat``: in an hour repeated by a fall-back, the second pass counts as well."""
    local = after.astimezone(tz)
    now_minute = local.hour * 60 + local.minute
    low, high = now_minute - _SLACK, now_minute + minutes.step + _SLACK
    for offset in range(3):  # a later day only when none is left today (or the clock fell back past midnight)
        day = local.date() + timedelta(days=offset)
        found = [
            at
            for minute in minutes
            if low <= minute < high
            for at in _instants(tz, day, minute)[: None if repeat else 1]
            if at > after
        ]
        if found:
            return min(found)
        low, high = 0, minutes.step + _SLACK
    raise AssertionError("unreachable: every day has a slot")  # pragma: no cover


def _schedule(spec: ChannelSpec) -> tuple[range, bool]:
    """The digest's wall-clock minutes of the day, and whether a repeated (fall-back) hour's slots count twice."""
    kind, _, arg = spec.digest.partition(" ")
    if kind == "daily":
        return range(_minute(arg), _DAY, _DAY), False
    if kind == "every":
        step = int(arg[:-1]) * (60 if arg.endswith("h") else 1)
        return range(0, _DAY, min(max(step, 1), _DAY)), True
    return range(0, _DAY, 60), True  # hourly


def is_urgent(spec: ChannelSpec, severity: str) -> bool:
    """Whether ``severity`` is at or above ``spec.urgent`` (None: nothing is); unknown severities count as high."""
    if spec.urgent is None:
        return False
    level = severity.strip().lower()
    rank = SEVERITIES.index(level) if level in SEVERITIES else SEVERITIES.index("high")
    return rank >= SEVERITIES.index(spec.urgent)


def quiet_until(spec: ChannelSpec, now: datetime) -> datetime | None:
    """The end (aware UTC) of the quiet period ``now`` is in, else None. Periods are [start, end) in local time
    and may wrap midnight ("22:00-07:00"); a start equal to the end means no quiet hours."""
    if spec.quiet_hours is None:
        return None
    start, end = (_minute(clock) for clock in spec.quiet_hours.split("-"))
    if start == end:
        return None
    now, tz = _utc(now), ZoneInfo(spec.timezone)
    today = now.astimezone(tz).date()
    for day in (today - timedelta(days=1), today):
        begins = _instants(tz, day, start)[0]
        ends = _instants(tz, day + timedelta(days=1 if end < start else 0), end)[0]
        if begins <= now < ends:
            return ends
    return None


def next_digest_at(spec: ChannelSpec, now: datetime) -> datetime:
    """The next digest slot strictly after ``now`` (aware UTC), ignoring quiet hours: ``hourly`` -> the next full
    local hour; ``daily 08:00`` -> the next 08:00 local; ``every 30m`` -> the next multiple of 30 minutes since
    local midnight."""
    minutes, repeat = _schedule(spec)
    return _next_wall(ZoneInfo(spec.timezone), minutes, _utc(now), repeat=repeat)


def rate_window(spec: ChannelSpec) -> tuple[int, timedelta] | None:
    """``rate_limit`` as (messages, period): "10/h" -> (10, 1 hour); None when the channel has no limit."""
    if spec.rate_limit is None:
        return None
    count, _, unit = spec.rate_limit.partition("/")
    return int(count), _PERIODS[unit]


def _after_quiet(spec: ChannelSpec, quiet_end: datetime) -> datetime:
    """The first digest slot at or after a quiet period's end; the end itself when that slot is quiet too
    (every slot is, as with ``daily 08:00`` and quiet ``07:00-09:00``)."""
    slot = next_digest_at(spec, quiet_end - _TICK)
    return quiet_end if quiet_until(spec, slot) else slot


def _digest_at(spec: ChannelSpec, now: datetime) -> datetime:
    """The next digest slot after ``now``, moved out of quiet hours."""
    slot = next_digest_at(spec, now)
    end = quiet_until(spec, slot)
    return slot if end is None else _after_quiet(spec, end)


def _overflow_at(spec: ChannelSpec, unit: str, now: datetime) -> datetime:
    """The start of the next rate window (full minute, local full hour, local midnight), out of quiet hours."""
    if unit == "m":
        boundary = now.replace(second=0, microsecond=0) + _PERIODS["m"]
    else:
        hourly = unit == "h"
        boundary = _next_wall(ZoneInfo(spec.timezone), range(0, _DAY, 60 if hourly else _DAY), now, repeat=hourly)
    return quiet_until(spec, boundary) or boundary


def route(spec: ChannelSpec, severity: str, now: datetime, *, sent_in_window: int = 0) -> Route:
    """Send now, hold, or fold into a digest: the rules in the module docstring, in order."""
    now = _utc(now)
    if is_urgent(spec, severity):
        return Route("send")
    quiet_end = quiet_until(spec, now)
    if quiet_end is not None:
        if spec.mode == "immediate":
            return Route("hold", quiet_end)
        return Route("digest", _after_quiet(spec, quiet_end))
    if spec.mode == "digest":
        return Route("digest", _digest_at(spec, now))
    limit = rate_window(spec)
    if spec.rate_limit is not None and limit is not None and sent_in_window >= limit[0]:
        return Route("digest", _overflow_at(spec, spec.rate_limit[-1], now))
    return Route("send")
