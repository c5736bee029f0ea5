"""Retraction queries: which stored stories of a source a complete fetch no longer shows, marking them retracted
(with their retraction alerts, atomically), and un-marking a story that comes back."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select, update

from monitor.followups import FirstAlert
from monitor.models import AlertDraft
from monitor.store.engine import reading
from monitor.store.schema import alerts, naive, stories
from monitor.store.stories import first_alert, insert_alerts

MAX_CANDIDATES = 1000  # stored stories checked per fetch at most


@dataclass(frozen=True, slots=True)
class Gone:
    """A stored story a fetch no longer shows."""

    id: int
    cluster_id: int
    key: str
    title: str


def ids_of(engine: Engine, source_id: int, keys: Collection[str]) -> dict[str, int]:
    """Story id per key of ``keys`` stored for this source."""
    if not keys:
        return {}
    query = select(stories.c.key, stories.c.id).where(stories.c.source_id == source_id,
                                                      stories.c.key.in_(sorted(keys)))
    with reading(engine) as conn:
        return {key: sid for key, sid in conn.execute(query)}


def _gone(engine: Engine, query: Select[Any]) -> list[Gone]:
    with reading(engine) as conn:
        return [Gone(*r) for r in conn.execute(query)]


def absent_keys(engine: Engine, source_id: int, keys: Collection[str]) -> list[Gone]:
    """The stories of ``keys`` (e.g. the Telegram post ids a page covers but does not show) stored for this
    source and not retracted yet."""
    if not keys:
        return []
    query = (select(stories.c.id, stories.c.cluster_id, stories.c.key, stories.c.title)
             .where(stories.c.source_id == source_id, stories.c.key.in_(sorted(keys)),
                    stories.c.retracted_at.is_(None)).order_by(stories.c.id).limit(MAX_CANDIDATES))
    return _gone(engine, query)


def absent_after(engine: Engine, source_id: int, after_id: int, present: Collection[str]) -> list[Gone]:
    """The stories of this source stored after story ``after_id`` (so inside the feed's window: an older entry is
    still in the feed) whose key is not in ``present``, not retracted yet."""
    query = (select(stories.c.id, stories.c.cluster_id, stories.c.key, stories.c.title)
             .where(stories.c.source_id == source_id, stories.c.id > after_id, stories.c.retracted_at.is_(None),
                    stories.c.key.not_in(sorted(present)))
             .order_by(stories.c.id).limit(MAX_CANDIDATES))
    return _gone(engine, query)


def sent_alerts(engine: Engine, story_id: int) -> list[FirstAlert]:
    """The story's alerts ("new" or "update") that were sent, one per watch and channel (the first)."""
    query = (select(alerts.c.watch, alerts.c.channel, alerts.c.alert_uid, alerts.c.payload, alerts.c.status,
                    alerts.c.story_id)
             .where(alerts.c.story_id == story_id, alerts.c.kind.in_(("new", "update")), alerts.c.status == "sent")
             .order_by(alerts.c.id))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    found: dict[tuple[str, str], FirstAlert] = {}
    for r in rows:
        found.setdefault((r[0], r[1]), first_alert(r))
    return list(found.values())


def retract(engine: Engine, gone: Gone, why: str, drafts: list[AlertDraft], now: datetime) -> int:
    """Mark the story retracted (``why``: "deleted" | "vanished") and queue its retraction alerts, atomically;
    returns the alert rows created (0 when another poll marked it first)."""
    t = naive(now)
    with engine.begin() as conn:
        marked = conn.execute(update(stories).where(stories.c.id == gone.id, stories.c.retracted_at.is_(None))
                              .values(retracted_at=t, retraction=why[:16]))
        if not marked.rowcount:
            return 0
        return insert_alerts(conn, gone.cluster_id, gone.id, 0, drafts, t)


def restore(engine: Engine, story_id: int) -> None:
    """The story is back in its source (a feed that dropped it for a while): no longer retracted."""
    with engine.begin() as conn:
        conn.execute(update(stories).where(stories.c.id == story_id).values(retracted_at=None, retraction=None))
