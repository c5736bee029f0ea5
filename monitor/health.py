"""Source health: from each source's stored state, which sources turned failing, silent or gone, or
recovered, and the one operator notice that says so. Pure; ``store.health`` reads and writes.

States: ``ok`` -> ``failing`` after N failures in a row (stays failing until a poll succeeds);
``ok`` -> ``silent`` when a source that normally posts has posted nothing for ``silence_factor`` times
its usual gap (at least ``silence_min``; stays silent until a new story arrives); any -> ``gone`` when
a 410 disabled it. Each change is said once, and all changes found in one evaluation go out as one
notice. When a large share of the sources fail at once (the network, DNS or a proxy is down), one
"outage" notice replaces the per-source ones, and one more says when it is over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

WEEK = timedelta(days=7)
MIN_POSTS_FOR_SILENCE = 3  # a source with fewer posts a week has no usual gap to be silent against
MAX_LINES = 25


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the evaluation needs to know about one source (times are aware UTC)."""

    id: int
    name: str
    health: str
    health_since: datetime | None
    error_count: int
    last_error_kind: str | None
    last_error: str | None
    disabled: bool
    last_success_at: datetime | None
    last_new_at: datetime | None  # when the newest story of this source was first seen
    posts_week: int


@dataclass(frozen=True, slots=True)
class Policy:
    failures: int = 5
    silence_factor: float = 4.0
    silence_min: timedelta = timedelta(hours=6)
    outage_share: float = 0.5  # this share of enabled sources failing at once is an outage...
    outage_min: int = 3  # ...when there are at least this many sources...
    outage_failures: int = 2  # ...counting those with this many failures in a row (one blip is not one)


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of one evaluation: new states, the notice lines (empty: nothing to say) and the
    outage flag to keep."""

    changes: dict[int, str]
    lines: tuple[str, ...]
    outage: bool
    title: str = ""


def evaluate(sources: list[SourceHealth], *, outage: bool, now: datetime, policy: Policy) -> Plan:
    """Compare each source's stored health with what its state says now."""
    changes = {s.id: new for s in sources if (new := _state_of(s, now, policy)) != s.health}
    outage_now = _is_outage(sources, policy)
    lines: list[str] = []
    if outage_now and not outage:
        lines.append(_outage_line(sources))
    elif outage and not outage_now:
        lines.append(_outage_over_line(sources, changes))
    hold = outage or outage_now  # failures and recoveries of an outage are told by its two notices
    by_id = {s.id: s for s in sources}
    for source_id, new in sorted(changes.items(), key=lambda kv: by_id[kv[0]].name):
        s = by_id[source_id]
        if hold and {s.health, new} <= {"ok", "failing"}:
            continue
        lines.append(_change_line(s, new, now))
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"… and {len(lines) - MAX_LINES + 1} more changes"]
    return Plan(changes=changes, lines=tuple(lines), outage=outage_now, title=_title(changes, outage, outage_now))


def usual_gap(posts_week: int) -> timedelta | None:
    """The mean time between posts over the last week; None for a source that rarely posts."""
    return WEEK / posts_week if posts_week >= MIN_POSTS_FOR_SILENCE else None


def _state_of(s: SourceHealth, now: datetime, p: Policy) -> str:
    if s.disabled:
        return "gone"
    if s.error_count >= p.failures or (s.health == "failing" and s.error_count > 0):
        return "failing"
    if s.health == "silent":  # until a story newer than the silence arrives
        fresh = s.last_new_at is not None and s.health_since is not None and s.last_new_at > s.health_since
        return "ok" if fresh else "silent"
    return "silent" if s.error_count == 0 and _silent_for(s, now, p) else "ok"


def _silent_for(s: SourceHealth, now: datetime, p: Policy) -> timedelta | None:
    gap = usual_gap(s.posts_week)
    if gap is None or s.last_new_at is None:
        return None
    quiet = now - s.last_new_at
    return quiet if quiet > max(gap * p.silence_factor, p.silence_min) else None


def _is_outage(sources: list[SourceHealth], p: Policy) -> bool:
    enabled = [s for s in sources if not s.disabled]
    failing = [s for s in enabled if s.error_count >= p.outage_failures]
    return len(enabled) >= p.outage_min and len(failing) >= p.outage_share * len(enabled)


def _outage_line(sources: list[SourceHealth]) -> str:
    enabled = [s for s in sources if not s.disabled]
    failing = [s for s in enabled if s.error_count > 0]
    kinds = Counter(s.last_error_kind or "error" for s in failing)
    summary = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    return (f"Outage: {len(failing)} of {len(enabled)} sources are failing ({summary}). The network, DNS or a "
            f"proxy may be down; per-source notices are held until it is over.")


def _outage_over_line(sources: list[SourceHealth], changes: dict[int, str]) -> str:
    enabled = [s for s in sources if not s.disabled]
    still = sorted(s.name for s in enabled if changes.get(s.id, s.health) == "failing")
    line = f"Outage over: {len(enabled) - len(still)} of {len(enabled)} sources are fetching again."
    return line + (f" Still failing: {', '.join(still)}." if still else "")


def _change_line(s: SourceHealth, new: str, now: datetime) -> str:
    if new == "gone":
        return f"{s.name}: gone ({_detail(s)}); no longer polled. Remove it, or give it a new url to resume."
    if new == "failing":
        since = f", last success {_ago(now, s.last_success_at)}" if s.last_success_at else ", never fetched"
        return f"{s.name}: failing, {s.error_count} failures in a row{since}: {_detail(s)}. Still retried."
    if new == "silent":
        gap = usual_gap(s.posts_week)
        usual = f", though it usually posts every {_span(gap)}" if gap else ""
        return f"{s.name}: silent, no new story for {_ago(now, s.last_new_at, suffix='')}{usual}."
    if s.health == "silent":
        return f"{s.name}: posting again."
    return f"{s.name}: recovered, fetching again."


def _title(changes: dict[int, str], outage: bool, outage_now: bool) -> str:
    if outage_now and not outage:
        return "news-monitor: outage, most sources are failing"
    if outage and not outage_now:
        return "news-monitor: outage over"
    counts = Counter(changes.values())
    parts = [f"{n} {state}" for state, n in sorted(counts.items())]
    return "news-monitor: sources " + ", ".join(parts) if parts else ""


def _detail(s: SourceHealth) -> str:
    detail = " ".join((s.last_error or "").split())[:200]
    kind = s.last_error_kind or "error"
    return f"{kind}: {detail}" if detail and not detail.startswith(kind) else (detail or kind)


def _ago(now: datetime, then: datetime | None, *, suffix: str = " ago") -> str:
    return _span(now - then) + suffix if then is not None else "never"


def _span(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
