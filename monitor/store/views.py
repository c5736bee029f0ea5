"""Read-only queries of the status pages (monitor/web/): one function per page, each a few indexed queries with
LIMITs (no query per row), results as plain frozen dataclasses with aware UTC times."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Engine as Engine  # re-exported: the web package types its engine without sqlalchemy
from sqlalchemy import func, select, true

from monitor.store.engine import reading
from monitor.store.schema import alerts, aware, clusters, naive, sources, stories, story_versions

WINDOW_FACTOR = 8  # outbox rows read per alert shown: one alert has a row per channel
MEMBERS_MAX, STORY_ALERTS_MAX, VERSIONS_MAX = 200, 500, 200


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One outbox row: an alert's delivery to one channel."""

    id: int
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    kind: str = ""
    watch: str = ""
    story_id: int | None = None


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One alert (a story, watch, kind and version) with its rows, one per channel."""

    created_at: datetime
    kind: str
    watch: str
    severity: str
    title: str
    link: str | None
    story_id: int | None
    sources: tuple[str, ...]
    channels: tuple[ChannelRow, ...]


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[AlertItem]
    next_before: int | None  # the ``before`` of the next (older) page, None on the last page


_ALERT_COLUMNS = (alerts.c.id, alerts.c.channel, alerts.c.status, alerts.c.attempts, alerts.c.last_error,
                  alerts.c.created_at, alerts.c.sent_at, alerts.c.kind, alerts.c.watch, alerts.c.story_id,
                  alerts.c.cluster_id, alerts.c.version_ref, alerts.c.payload)


def _t(t: datetime | None) -> datetime | None:
    return None if t is None else aware(t)


def _channel_row(r: Sequence[Any]) -> ChannelRow:
    return ChannelRow(id=r[0], channel=r[1], status=r[2], attempts=r[3], last_error=r[4], created_at=aware(r[5]),
                      sent_at=_t(r[6]), kind=r[7], watch=r[8], story_id=r[9])


def _group_key(r: Sequence[Any]) -> tuple[Any, ...]:
    return ("notice", r[0]) if r[7] == "notice" else (r[10], r[9], r[8], r[7], r[11])


def _item(rows: Sequence[Sequence[Any]]) -> AlertItem:
    first = rows[0]
    payload = json.loads(first[12])
    link = payload.get("link")
    return AlertItem(
        created_at=aware(first[5]), kind=first[7], watch=first[8], severity=str(payload.get("severity") or "high"),
        title=str(payload.get("title") or ""), link=link if isinstance(link, str) else None, story_id=first[9],
        sources=tuple(str(s) for s in payload.get("sources") or ()),
        channels=tuple(sorted((_channel_row(r) for r in rows), key=lambda c: c.channel)))


def alert_page(engine: Engine, *, watch: str | None = None, status: str | None = None,
               before: int | None = None, limit: int = 50) -> AlertPage:
    """The newest alerts first (older than row ``before``), optionally of one watch and one row status."""
    window = limit * WINDOW_FACTOR
    query = (select(*_ALERT_COLUMNS)
             .where(alerts.c.watch == watch if watch else true())
             .where(alerts.c.status == status if status else true())
             .where(alerts.c.id < before if before is not None else true())
             .order_by(alerts.c.id.desc()).limit(window))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    groups = [list(g) for _, g in groupby(rows, key=_group_key)]  # an alert's channel rows are inserted together
    if len(rows) == window and len(groups) > 1:
        groups.pop()  # may lack rows beyond the window: it opens the next page
    more = len(groups) > limit or len(rows) == window
    shown = groups[:limit]
    next_before = min(r[0] for r in shown[-1]) if more and shown else None
    return AlertPage([_item(g) for g in shown], next_before)


def status_counts(engine: Engine) -> dict[str, int]:
    """Outbox rows per status (read from the ``ix_alerts_due`` index alone)."""
    with reading(engine) as conn:
        return {s: int(n) for s, n in conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status))}


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    title: str
    text: str
    seen_at: datetime
    alerted: bool


@dataclass(frozen=True, slots=True)
class Member:
    """A story of the cluster: the same news in one source."""

    story_id: int
    source: str
    title: str
    url: str | None
    first_seen_at: datetime
    retracted_at: datetime | None = None  # deleted, or vanished from its feed (monitor/retraction.py)


@dataclass(frozen=True, slots=True)
class StoryPage:
    id: int
    title: str
    url: str | None
    source: str
    cluster_id: int
    first_seen_at: datetime
    published_at: datetime | None
    versions: list[Version]
    members: list[Member]
    alerts: list[ChannelRow]
    independent: int | None = None  # the cluster's independent sources (copies of one text count once)
    retracted_at: datetime | None = None
    retraction: str | None = None  # "deleted" | "vanished"

    @property
    def corroboration(self) -> int:
        """Independent sources that carried the story (stored since migration 0006), else distinct sources."""
        return self.independent or self.outlets

    @property
    def outlets(self) -> int:
        """Distinct sources that carried the story (copies included)."""
        return len({m.source for m in self.members})


def story_page(engine: Engine, story_id: int) -> StoryPage | None:
    """A story with its versions (oldest first), its cluster's stories and the cluster's outbox rows."""
    head = (select(stories.c.id, stories.c.title, stories.c.url, sources.c.name, stories.c.cluster_id,
                   stories.c.first_seen_at, stories.c.published_at, stories.c.retracted_at, stories.c.retraction,
                   clusters.c.independent_count)
            .join(clusters, clusters.c.id == stories.c.cluster_id)
            .join(sources, sources.c.id == stories.c.source_id).where(stories.c.id == story_id))
    versions = (select(story_versions.c.version, story_versions.c.title, story_versions.c.text,
                       story_versions.c.seen_at, story_versions.c.alerted)
                .where(story_versions.c.story_id == story_id).order_by(story_versions.c.version).limit(VERSIONS_MAX))
    with reading(engine) as conn:
        row = conn.execute(head).first()
        if row is None:
            return None
        found = [Version(r[0], r[1], r[2], aware(r[3]), bool(r[4])) for r in conn.execute(versions)]
        members = (select(stories.c.id, sources.c.name, stories.c.title, stories.c.url, stories.c.first_seen_at,
                          stories.c.retracted_at)
                   .join(sources, sources.c.id == stories.c.source_id).where(stories.c.cluster_id == row[4])
                   .order_by(stories.c.first_seen_at, stories.c.id).limit(MEMBERS_MAX))
        cluster = [Member(r[0], r[1], r[2], r[3], aware(r[4]), _t(r[5])) for r in conn.execute(members)]
        sent = (select(*_ALERT_COLUMNS[:10]).where(alerts.c.cluster_id == row[4])
                .order_by(alerts.c.id).limit(STORY_ALERTS_MAX))
        rows = [_channel_row(r) for r in conn.execute(sent)]
    return StoryPage(id=row[0], title=row[1], url=row[2], source=row[3], cluster_id=row[4],
                     first_seen_at=aware(row[5]), published_at=_t(row[6]), versions=found, members=cluster,
                     alerts=rows, independent=row[9], retracted_at=_t(row[7]), retraction=row[8])


def find_story(engine: Engine, ref: str) -> int | None:
    """The story ``ref`` names: a story id (``/stories/<id>``), an alert id (``nm-...``: its story) or a link (the
    first stored story with that link; the caller gives it canonical, as stored). None when none is."""
    ref = ref.strip()
    if ref.isdigit():
        query = select(stories.c.id).where(stories.c.id == int(ref))
    elif ref.startswith("nm-"):
        query = select(alerts.c.story_id).where(alerts.c.alert_uid == ref, alerts.c.story_id.is_not(None))
    else:
        query = (select(stories.c.id).where(stories.c.url == ref)
                 .order_by(stories.c.first_seen_at, stories.c.id).limit(1))
    with reading(engine) as conn:
        found = conn.execute(query).scalar()
    return None if found is None else int(found)


def cluster_alerts(engine: Engine, cluster_id: int) -> list[AlertItem]:
    """The alerts of a cluster, oldest first, each with its rows (one per channel) and its severity."""
    query = (select(*_ALERT_COLUMNS).where(alerts.c.cluster_id == cluster_id)
             .order_by(alerts.c.id).limit(STORY_ALERTS_MAX))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    return [_item(list(g)) for _, g in groupby(rows, key=_group_key)]


def _day(value: str | date) -> str:
    """``date(...)`` gives a string on SQLite and a date on PostgreSQL."""
    return value.isoformat()[:10] if isinstance(value, date) else str(value)[:10]


_SOURCE_FIELDS = ("name", "url", "health", "health_since", "last_success_at", "next_poll_at", "interval_s",
                  "last_error_kind", "error_count", "last_error", "last_post_id", "disabled_at", "missed_posts",
                  "last_gap")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A ``sources`` row (its columns ``_SOURCE_FIELDS``) with what the page adds."""

    name: str
    url: str
    health: str
    health_since: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    interval_s: float | None
    last_error_kind: str | None
    error_count: int
    last_error: str | None
    last_post_id: int | None
    disabled_at: datetime | None
    posts: tuple[int, ...]  # stories first seen per day, oldest first
    gaps: int  # Telegram: times posts were published between two polls and could not be recovered
    missed_posts: int  # ...how many post ids in all
    last_gap: str | None  # the last such report


def source_rows(engine: Engine, keys: Sequence[str]) -> list[SourceRow]:
    """Every source with its stories per day and its reported gaps over the days ``keys`` (``YYYY-MM-DD``,
    UTC, consecutive, oldest first)."""
    start = datetime.fromisoformat(keys[0])
    day = func.date(stories.c.first_seen_at)
    per_day = (select(stories.c.source_id, day, func.count()).where(stories.c.first_seen_at >= start)
               .group_by(day, stories.c.source_id))  # day first: SQLite then reads the range of the date index
    with reading(engine) as conn:
        rows = conn.execute(select(sources).order_by(sources.c.name)).mappings().all()
        counts = {(sid, _day(d)): int(n) for sid, d, n in conn.execute(per_day)}
    return [_source_row(r, tuple(counts.get((r["id"], k), 0) for k in keys), r["gap_count"]) for r in rows]


def _source_row(r: Any, posts: tuple[int, ...], gaps: int) -> SourceRow:
    values: dict[str, Any] = {f: aware(r[f]) if isinstance(r[f], datetime) else r[f] for f in _SOURCE_FIELDS}
    return SourceRow(**values, posts=posts, gaps=gaps)


def watch_days(engine: Engine, keys: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Per watch, its alerts on each of the days ``keys`` (as ``source_rows``); an alert sent to several
    channels counts once."""
    day = func.date(alerts.c.created_at).label("day")
    one = (select(alerts.c.watch, alerts.c.cluster_id, alerts.c.kind, alerts.c.version_ref, day).distinct()
           .where(alerts.c.created_at >= datetime.fromisoformat(keys[0]), alerts.c.kind != "notice").subquery())
    query = select(one.c.watch, one.c.day, func.count()).group_by(one.c.watch, one.c.day)
    with reading(engine) as conn:
        counts = {(w, _day(d)): int(n) for w, d, n in conn.execute(query)}
    watches = sorted({w for w, _ in counts})
    return {w: tuple(counts.get((w, k), 0) for k in keys) for w in watches}


def place_counts(engine: Engine, since: datetime) -> dict[str, int]:
    """Per place named in the matches (``place:<name>`` hits), the stories alerted since ``since``, most first."""
    query = (select(alerts.c.cluster_id, alerts.c.hits).distinct()
             .where(alerts.c.created_at >= naive(since), alerts.c.kind != "notice",
                    alerts.c.hits.like('%"place:%')))
    places: dict[int, set[str]] = {}
    with reading(engine) as conn:
        for cluster_id, hits in conn.execute(query):
            places.setdefault(cluster_id, set()).update(
                h[6:] for h in json.loads(hits) if isinstance(h, str) and h.startswith("place:"))
    counts = Counter(p for found in places.values() for p in found)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
