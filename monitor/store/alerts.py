"""Outbox queries: claim due alert rows with a lease, then mark them sent, retried or dead, release them, or
hasten released rows once their channel delivers again."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select, true, update

from monitor.models import Alert
from monitor.store.engine import reading
from monitor.store.schema import alerts, aware, naive


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row this worker holds a lease on."""

    id: int
    alert: Alert
    attempts: int  # including this one
    created_at: datetime


def claim_due(engine: Engine, now: datetime, *, lease: timedelta, limit: int = 20,
              exclude_channels: Collection[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due rows (pending and due, or sending with an expired lease), skipping
    rows of ``exclude_channels``.

    SQLite serialises claims with BEGIN IMMEDIATE; PostgreSQL skips rows other workers hold.
    """
    t = naive(now)
    due = (
        select(alerts.c.id)
        .where(or_(
            and_(alerts.c.status == "pending", alerts.c.next_attempt_at <= t),
            and_(alerts.c.status == "sending", alerts.c.lease_until < t),
        ))
        .where(alerts.c.channel.not_in(sorted(exclude_channels)) if exclude_channels else true())
        .order_by(alerts.c.next_attempt_at, alerts.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(alerts)
        .where(alerts.c.id.in_(due.scalar_subquery()))
        .values(status="sending", lease_until=naive(now + lease), attempts=alerts.c.attempts + 1)
        .returning(alerts.c.id, alerts.c.alert_uid, alerts.c.payload, alerts.c.attempts,
                   alerts.c.created_at)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    claimed = [
        Claimed(id=r[0], alert=_alert(r[1], r[2]), attempts=r[3], created_at=aware(r[4]))
        for r in rows
    ]
    return sorted(claimed, key=lambda c: c.id)


def _alert(uid: str, payload: str) -> Alert:
    data = json.loads(payload)
    for key in ("sources", "terms", "places", "added", "removed"):
        data[key] = tuple(data.get(key) or ())
    return Alert(alert_id=uid, **data)


def mark_sent(engine: Engine, row_id: int, now: datetime) -> None:
    """The remote accepted the message."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id == row_id).values(
            status="sent", sent_at=naive(now), lease_until=None, last_error=None))


def mark_retry(engine: Engine, row_id: int, next_attempt_at: datetime, error: str) -> None:
    """Sending failed; try again at ``next_attempt_at``."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id == row_id).values(
            status="pending", next_attempt_at=naive(next_attempt_at), lease_until=None,
            last_error=error[:2000]))


def release(engine: Engine, row_id: int, next_attempt_at: datetime) -> None:
    """Hand a claimed row back unattempted (its channel just failed on another row): pending again
    at ``next_attempt_at``, with the attempt its claim counted taken back, so its budget is untouched."""
    with engine.begin() as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == row_id, alerts.c.status == "sending", alerts.c.attempts > 0)
            .values(status="pending", next_attempt_at=naive(next_attempt_at), lease_until=None,
                    attempts=alerts.c.attempts - 1))


def hasten(engine: Engine, channel: str, now: datetime) -> int:
    """The channel delivers again: its released rows (pending, never attempted, due later) are due
    ``now``; rows with attempts keep their own backoff. Returns how many rows were hastened."""
    t = naive(now)
    with engine.begin() as conn:
        result = conn.execute(
            update(alerts)
            .where(alerts.c.channel == channel, alerts.c.status == "pending", alerts.c.attempts == 0,
                   alerts.c.next_attempt_at > t)
            .values(next_attempt_at=t))
    return int(result.rowcount)


def mark_dead(engine: Engine, row_id: int, error: str) -> None:
    """Give up: the row stays in the table, visible, with its last error."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id == row_id).values(
            status="dead", lease_until=None, last_error=error[:2000]))


def counts(engine: Engine) -> dict[str, int]:
    """Number of outbox rows per status."""
    with reading(engine) as conn:
        rows = conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status)).all()
    return {status: n for status, n in rows}


def next_due(engine: Engine) -> datetime | None:
    """When the earliest pending row is due, or None when nothing is pending."""
    with reading(engine) as conn:
        t = conn.execute(
            select(func.min(alerts.c.next_attempt_at)).where(alerts.c.status == "pending")
        ).scalar()
    return None if t is None else aware(t)
