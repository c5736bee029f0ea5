"""Source health in the store: read what ``health.evaluate`` needs, then write its plan (new states,
the outage flag and the operator notice as an outbox row) in one transaction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update

from monitor.health import Plan, SourceHealth
from monitor.models import Alert
from monitor.store.engine import reading
from monitor.store.schema import alerts, aware, monitor_state, naive, sources, stories
from monitor.store.sources import post_counts

OUTAGE_KEY = "outage"


def read(engine: Engine, names: Collection[str], now: datetime) -> tuple[list[SourceHealth], bool]:
    """The health inputs of the sources named in the config, and whether an outage was announced."""
    with reading(engine) as conn:
        rows = conn.execute(select(sources).where(sources.c.name.in_(sorted(names)))).mappings().all()
        counts = post_counts(conn, now)
        newest = dict(conn.execute(select(stories.c.source_id, func.max(stories.c.first_seen_at))
                                   .group_by(stories.c.source_id)).all())
        outage = conn.execute(select(monitor_state.c.value).where(monitor_state.c.key == OUTAGE_KEY)).scalar()
    return [_health(r, counts.get(r["id"], (0, 0))[0], newest.get(r["id"])) for r in rows], outage == "1"


def _health(r: object, posts_week: int, newest: datetime | None) -> SourceHealth:
    row = dict(r)  # type: ignore[call-overload]
    return SourceHealth(
        id=row["id"], name=row["name"], health=row["health"], health_since=_aware(row["health_since"]),
        error_count=row["error_count"], last_error_kind=row["last_error_kind"], last_error=row["last_error"],
        disabled=row["disabled_at"] is not None, last_success_at=_aware(row["last_success_at"]),
        last_new_at=_aware(newest), posts_week=posts_week)


def _aware(t: datetime | None) -> datetime | None:
    return aware(t) if t is not None else None


def apply(engine: Engine, plan: Plan, now: datetime, notice: Alert | None) -> None:
    """Store the new states and the outage flag; queue ``notice`` (when given) for delivery."""
    t = naive(now)
    with engine.begin() as conn:
        for source_id, state in plan.changes.items():
            conn.execute(update(sources).where(sources.c.id == source_id).values(health=state, health_since=t))
        _set_outage(conn, plan.outage)
        if notice is not None:
            _insert_notice(conn, now, notice, plan.lines)


def queue(engine: Engine, now: datetime, notice: Alert, lines: tuple[str, ...]) -> None:
    """Queue an operator notice that changes no state (e.g. posts that could not be recovered)."""
    with engine.begin() as conn:
        _insert_notice(conn, now, notice, lines)


def _insert_notice(conn: Connection, now: datetime, notice: Alert, lines: tuple[str, ...]) -> None:
    t = naive(now)
    payload = {k: v for k, v in dataclasses.asdict(notice).items() if k != "alert_id"}
    conn.execute(insert(alerts).values(
        alert_uid=notice_uid(now, lines), cluster_id=None, story_id=None, watch=notice.watch,
        channel=notice.channel, kind="notice", version_ref=0, payload=json.dumps(payload, ensure_ascii=False),
        hits="[]", status="pending", attempts=0, next_attempt_at=t, created_at=t))


def _set_outage(conn: Connection, outage: bool) -> None:
    value = "1" if outage else "0"
    changed = conn.execute(update(monitor_state).where(monitor_state.c.key == OUTAGE_KEY).values(value=value))
    if changed.rowcount == 0:
        conn.execute(insert(monitor_state).values(key=OUTAGE_KEY, value=value))


def notice_uid(now: datetime, lines: tuple[str, ...]) -> str:
    """The id of an operator notice (its time and text: the same notice is never queued twice)."""
    raw = now.isoformat() + "\x1f" + "\n".join(lines)
    return "nm-notice-" + hashlib.sha256(raw.encode()).hexdigest()[:20]
