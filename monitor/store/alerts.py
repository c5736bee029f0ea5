"""Outbox queries: claim due alert rows with a lease, then mark them sent, retried or dead, release them, or
hasten released rows once their channel delivers again. Every mark takes one row id or several (a digest's
rows are marked together). Digest claims are in ``store/digests.py``, channel circuits in ``store/circuits.py``.

Row states: pending -> sending -> sent | pending (retry) | dead; a paced row waits as pending (held to a later
time) or as "digest" (folded into a digest, due at its slot); "held" rows wait for their channel's circuit."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, or_, select, true, update

from monitor.models import Alert
from monitor.store.engine import reading
from monitor.store.schema import alerts, aware, naive

RowIds = int | Collection[int]
# Where a claimed row goes back to when it waits again: a digest's rows stay in their digest.
WAITING = case((alerts.c.digest_key.is_(None), "pending"), else_="digest")
CLAIMED_COLUMNS = (alerts.c.id, alerts.c.alert_uid, alerts.c.payload, alerts.c.attempts, alerts.c.created_at,
                   alerts.c.budget_from, alerts.c.story_id)


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row this worker holds a lease on."""

    id: int
    alert: Alert
    attempts: int  # including this one
    created_at: datetime
    budget_from: datetime | None = None  # the age budget's start when not ``created_at`` (the row waited)

    @property
    def since(self) -> datetime:
        """Where the row's age budget counts from."""
        return self.budget_from or self.created_at


def claim_due(engine: Engine, now: datetime, *, lease: timedelta, limit: int = 20,
              exclude_channels: Collection[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due rows (pending and due, or sending with an expired lease), skipping
    rows of ``exclude_channels`` and digests (claimed whole by ``digests.claim``).

    SQLite serialises claims with BEGIN IMMEDIATE; PostgreSQL skips rows other workers hold.
    """
    t = naive(now)
    due = (
        select(alerts.c.id)
        .where(or_(
            and_(alerts.c.status == "pending", alerts.c.next_attempt_at <= t),
            and_(alerts.c.status == "sending", alerts.c.lease_until < t, alerts.c.digest_key.is_(None)),
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
        .returning(*CLAIMED_COLUMNS)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((claimed(r) for r in rows), key=lambda c: c.id)


def claimed(r: Sequence[Any]) -> Claimed:
    """A row of ``CLAIMED_COLUMNS`` as a Claimed."""
    return Claimed(id=r[0], alert=_alert(r[1], r[2], r[6]), attempts=r[3], created_at=aware(r[4]),
                   budget_from=aware(r[5]) if r[5] is not None else None)


def _alert(uid: str, payload: str, story_id: int | None) -> Alert:
    """The Alert of a row: its payload, with the row's story (NULL for an operator notice)."""
    data = json.loads(payload)
    for key in ("sources", "terms", "places", "added", "removed"):
        data[key] = tuple(data.get(key) or ())
    data["story_id"] = story_id  # the row's column, not whatever the payload held
    return Alert(alert_id=uid, **data)


def _ids(row_ids: RowIds) -> list[int]:
    return [row_ids] if isinstance(row_ids, int) else sorted(row_ids)


def mark_sent(engine: Engine, row_ids: RowIds, now: datetime) -> None:
    """The remote accepted the message."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id.in_(_ids(row_ids))).values(
            status="sent", sent_at=naive(now), lease_until=None, last_error=None))


def mark_retry(engine: Engine, row_ids: RowIds, next_attempt_at: datetime, error: str) -> None:
    """Sending failed; try again at ``next_attempt_at`` (a digest's rows stay folded together)."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id.in_(_ids(row_ids))).values(
            status=WAITING, next_attempt_at=naive(next_attempt_at), lease_until=None, last_error=error[:2000]))


def release(engine: Engine, row_ids: RowIds, next_attempt_at: datetime, *, wait: bool = False) -> None:
    """Hand claimed rows back unattempted (their channel just failed on another row, or pacing holds
    them): pending again at ``next_attempt_at``, with the attempt the claim counted taken back, so
    their budget is untouched. ``wait``: they are held on purpose (quiet hours), so their age budget
    restarts at ``next_attempt_at`` and ``hasten`` leaves them alone."""
    values: dict[str, Any] = {"status": WAITING, "next_attempt_at": naive(next_attempt_at), "lease_until": None,
                              "attempts": alerts.c.attempts - 1}
    if wait:
        values["budget_from"] = naive(next_attempt_at)
    with engine.begin() as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(_ids(row_ids)), alerts.c.status == "sending", alerts.c.attempts > 0)
            .values(**values))


def hasten(engine: Engine, channel: str, now: datetime) -> int:
    """The channel delivers again: its released rows (pending or in a due digest, never attempted, due
    later, not waiting on purpose) are due ``now``; rows with attempts keep their own backoff. Returns
    how many rows were hastened."""
    t = naive(now)
    with engine.begin() as conn:
        result = conn.execute(
            update(alerts)
            .where(alerts.c.channel == channel, alerts.c.status.in_(("pending", "digest")),
                   alerts.c.attempts == 0, alerts.c.next_attempt_at > t,
                   or_(alerts.c.budget_from.is_(None), alerts.c.budget_from <= t))
            .values(next_attempt_at=t))
    return int(result.rowcount)


def mark_dead(engine: Engine, row_ids: RowIds, error: str) -> None:
    """Give up: the rows stay in the table, visible, with their last error."""
    with engine.begin() as conn:
        conn.execute(update(alerts).where(alerts.c.id.in_(_ids(row_ids))).values(
            status="dead", lease_until=None, last_error=error[:2000]))


def counts(engine: Engine) -> dict[str, int]:
    """Number of outbox rows per status."""
    with reading(engine) as conn:
        rows = conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status)).all()
    return {status: n for status, n in rows}


def next_due(engine: Engine) -> datetime | None:
    """When the earliest pending row or digest is due, or None when nothing waits."""
    with reading(engine) as conn:
        t = conn.execute(
            select(func.min(alerts.c.next_attempt_at)).where(alerts.c.status.in_(("pending", "digest")))
        ).scalar()
    return None if t is None else aware(t)


def sent_since(engine: Engine, channel: str, since: datetime) -> int:
    """Messages the channel got since ``since``: each plain row, and each digest once."""
    query = select(func.count(alerts.c.id.distinct()).filter(alerts.c.digest_key.is_(None)),
                   func.count(alerts.c.digest_key.distinct())).where(
        alerts.c.channel == channel, alerts.c.status == "sent", alerts.c.sent_at >= naive(since))
    with reading(engine) as conn:
        plain, digests = conn.execute(query).one()
    return int(plain) + int(digests)


@dataclass(frozen=True, slots=True)
class Listed:
    """One outbox row as the operator sees it (``news-monitor alerts``)."""

    id: int
    created_at: datetime
    channel: str
    kind: str
    severity: str
    status: str
    attempts: int
    last_error: str | None
    title: str


def recent(engine: Engine, *, limit: int = 50, status: str | None = None,
           channel: str | None = None) -> list[Listed]:
    """The newest rows first, optionally of one status and one channel."""
    query = (select(alerts.c.id, alerts.c.created_at, alerts.c.channel, alerts.c.kind, alerts.c.payload,
                    alerts.c.status, alerts.c.attempts, alerts.c.last_error)
             .where(alerts.c.status == status if status else true())
             .where(alerts.c.channel == channel if channel else true())
             .order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    listed = []
    for r in rows:
        payload = json.loads(r[4])
        listed.append(Listed(id=r[0], created_at=aware(r[1]), channel=r[2], kind=r[3],
                             severity=str(payload.get("severity") or "high"), status=r[5], attempts=r[6],
                             last_error=r[7], title=str(payload.get("title") or "")))
    return listed


@dataclass(frozen=True, slots=True)
class Requeue:
    """What ``requeue`` found: the row, its status before, and whether it was requeued."""

    id: int
    channel: str
    status: str
    requeued: bool


def requeue(engine: Engine, ref: int | str, now: datetime) -> Requeue | None:
    """Requeue one dead or held row (by id or alert id): pending, attempts reset, due ``now``, out of any
    digest. None when no row matches; a row in another state is left as it is."""
    match = alerts.c.id == ref if isinstance(ref, int) else alerts.c.alert_uid == ref
    t = naive(now)
    with engine.begin() as conn:
        row = conn.execute(select(alerts.c.id, alerts.c.channel, alerts.c.status).where(match)).first()
        if row is None:
            return None
        ok = row[2] in ("dead", "held")
        if ok:
            conn.execute(update(alerts).where(alerts.c.id == row[0]).values(
                status="pending", attempts=0, next_attempt_at=t, budget_from=t, lease_until=None,
                digest_key=None))
    return Requeue(id=row[0], channel=row[1], status=row[2], requeued=ok)
