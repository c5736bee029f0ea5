"""Digest queries: fold a claimed row into the digest of (channel, slot), and claim due digests whole.

A digest is the set of rows sharing one ``digest_key``; a row joins it once (``fold``) and never leaves it
until it is sent or dead, so every retry sends the same members. Claims take every waiting row of a key in
one statement after locking them in id order: two workers never split a digest, and never deadlock on it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, func, or_, select, true, update

from monitor.store.alerts import CLAIMED_COLUMNS, Claimed, claimed
from monitor.store.schema import alerts, naive


@dataclass(frozen=True, slots=True)
class Digest:
    """The claimed rows of one digest, in id order."""

    key: str
    channel: str
    rows: tuple[Claimed, ...]


def fold(engine: Engine, row_id: int, key: str, slot: datetime) -> None:
    """Fold a claimed row, unattempted, into the digest ``key`` due at ``slot`` (its age budget starts there)."""
    t = naive(slot)
    with engine.begin() as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == row_id, alerts.c.status == "sending", alerts.c.attempts > 0)
            .values(status="digest", digest_key=key, next_attempt_at=t, budget_from=t, lease_until=None,
                    attempts=alerts.c.attempts - 1))


def claim(engine: Engine, now: datetime, *, lease: timedelta, limit: int = 10,
          exclude_channels: Collection[str] = ()) -> list[Digest]:
    """Lease up to ``limit`` due digests whole (waiting and due, or sending with an expired lease), oldest
    slot first, skipping ``exclude_channels``."""
    t = naive(now)
    due = or_(and_(alerts.c.status == "digest", alerts.c.next_attempt_at <= t),
              and_(alerts.c.status == "sending", alerts.c.lease_until < t))
    keys = (
        select(alerts.c.digest_key, alerts.c.channel)
        .where(alerts.c.digest_key.is_not(None), due)
        .where(alerts.c.channel.not_in(sorted(exclude_channels)) if exclude_channels else true())
        .group_by(alerts.c.digest_key, alerts.c.channel)
        .order_by(func.min(alerts.c.next_attempt_at), alerts.c.digest_key)
        .limit(limit)
    )
    digests = []
    with engine.begin() as conn:
        for key, channel in conn.execute(keys).all():
            rows = _claim_key(conn, key, t, naive(now + lease))
            if rows:
                digests.append(Digest(key=key, channel=channel, rows=rows))
    return digests


def _claim_key(conn: Connection, key: str, t: datetime | None, lease_until: datetime | None) -> tuple[Claimed, ...]:
    waiting = or_(alerts.c.status == "digest", and_(alerts.c.status == "sending", alerts.c.lease_until < t))
    conn.execute(select(alerts.c.id).where(alerts.c.digest_key == key).order_by(alerts.c.id).with_for_update())
    rows = conn.execute(
        update(alerts)
        .where(alerts.c.digest_key == key, waiting)
        .values(status="sending", lease_until=lease_until, attempts=alerts.c.attempts + 1)
        .returning(*CLAIMED_COLUMNS)
    ).all()
    return tuple(sorted((claimed(r) for r in rows), key=lambda c: c.id))
