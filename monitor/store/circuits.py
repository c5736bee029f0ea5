"""Channel circuits in the store: consecutive permanent failures, the broken state, holding a broken
channel's rows, the probe row, and closing (held rows requeued). Operator notices are written in the same
transaction as the state change they announce."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from monitor.models import Alert
from monitor.store.alerts import CLAIMED_COLUMNS, Claimed, claimed
from monitor.store.engine import reading
from monitor.store.health import notice_uid
from monitor.store.schema import alerts, aware, channel_states, naive


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A channel's circuit as stored."""

    channel: str
    broken: bool
    failures: int
    url_hash: str | None = None
    probe_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """An operator notice to queue with a state change: the alert and its lines (its identity)."""

    alert: Alert
    lines: tuple[str, ...]


def load(engine: Engine) -> dict[str, ChannelState]:
    """Every stored circuit, by channel."""
    with reading(engine) as conn:
        rows = conn.execute(select(channel_states)).mappings().all()
    return {r["channel"]: ChannelState(channel=r["channel"], broken=r["state"] == "broken", failures=r["failures"],
                                       url_hash=r["url_hash"], probe_at=_aware(r["probe_at"]),
                                       last_error=r["last_error"]) for r in rows}


def _aware(t: datetime | None) -> datetime | None:
    return aware(t) if t is not None else None


def count_failure(engine: Engine, channel: str, error: str) -> int:
    """One more permanent failure in a row; returns how many there are now."""
    with engine.begin() as conn:
        _ensure(conn, channel)
        return int(conn.execute(
            update(channel_states).where(channel_states.c.channel == channel)
            .values(failures=channel_states.c.failures + 1, last_error=error[:2000])
            .returning(channel_states.c.failures)).scalar_one())


def reset(engine: Engine, channel: str) -> None:
    """The channel delivered: its run of failures is over."""
    with engine.begin() as conn:
        conn.execute(update(channel_states).where(channel_states.c.channel == channel).values(failures=0))


def _ensure(conn: Connection, channel: str) -> None:
    """INSERT ... ON CONFLICT DO NOTHING the channel's row (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(channel_states).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(channel_states).on_conflict_do_nothing()
    conn.execute(stmt.values(channel=channel, state="ok", failures=0))


def trip(engine: Engine, channel: str, now: datetime, *, url_hash: str, probe_at: datetime,
         claimed_ids: Collection[int], notice: Notice | None, attempted_ids: Collection[int] = ()) -> int:
    """Mark the channel broken and hold its rows: the waiting ones, the ones this worker claimed but never
    attempted (``claimed_ids``: their claim's attempt is taken back) and the ones whose attempt broke it
    (``attempted_ids``). Returns how many rows are held. Already broken (another worker broke it first):
    the rows are held, nothing else."""
    with engine.begin() as conn:
        _ensure(conn, channel)
        if not _is_broken(conn, channel):
            conn.execute(update(channel_states).where(channel_states.c.channel == channel).values(
                state="broken", url_hash=url_hash, broken_at=naive(now), probe_at=naive(probe_at)))
            if notice is not None:
                _insert_notice(conn, now, notice)
        return _hold(conn, channel, claimed_ids, attempted_ids)


def _is_broken(conn: Connection, channel: str) -> bool:
    state = conn.execute(select(channel_states.c.state).where(channel_states.c.channel == channel)
                         .with_for_update()).scalar()
    return state == "broken"


def hold(engine: Engine, channel: str) -> int:
    """Hold a broken channel's waiting rows (e.g. alerts queued since it broke); returns how many."""
    with engine.begin() as conn:
        return _hold(conn, channel, (), ())


def _hold(conn: Connection, channel: str, claimed_ids: Collection[int], attempted_ids: Collection[int]) -> int:
    held = {"status": "held", "lease_until": None, "digest_key": None}
    mine = alerts.c.channel == channel, alerts.c.status == "sending", alerts.c.attempts > 0
    n = conn.execute(update(alerts).where(alerts.c.id.in_(sorted(claimed_ids)), *mine).values(
        **held, attempts=alerts.c.attempts - 1)).rowcount
    n += conn.execute(update(alerts).where(alerts.c.id.in_(sorted(attempted_ids)), *mine).values(**held)).rowcount
    n += conn.execute(update(alerts).where(alerts.c.channel == channel,
                                           alerts.c.status.in_(("pending", "digest"))).values(**held)).rowcount
    return int(n)


def claim_probe(engine: Engine, channel: str, now: datetime, *, lease: timedelta) -> Claimed | None:
    """Lease the channel's oldest held row to probe the channel with."""
    with engine.begin() as conn:
        row_id = conn.execute(select(alerts.c.id).where(alerts.c.channel == channel, alerts.c.status == "held")
                              .order_by(alerts.c.id).limit(1).with_for_update(skip_locked=True)).scalar()
        if row_id is None:
            return None
        row = conn.execute(update(alerts).where(alerts.c.id == row_id).values(
            status="sending", lease_until=naive(now + lease), attempts=alerts.c.attempts + 1)
            .returning(*CLAIMED_COLUMNS)).one()
    return claimed(row)


def reschedule_probe(engine: Engine, channel: str, probe_at: datetime, *, row_id: int | None = None,
                     error: str | None = None) -> None:
    """Probe again at ``probe_at``; the probe row (if any) is held again, its attempt taken back."""
    with engine.begin() as conn:
        conn.execute(update(channel_states).where(channel_states.c.channel == channel).values(
            probe_at=naive(probe_at), **({"last_error": error[:2000]} if error else {})))
        if row_id is not None:
            conn.execute(update(alerts).where(alerts.c.id == row_id, alerts.c.status == "sending").values(
                status="held", lease_until=None, attempts=alerts.c.attempts - 1,
                **({"last_error": error[:2000]} if error else {})))


def close(engine: Engine, channel: str, now: datetime, *, notice: Notice | None = None) -> int:
    """Close the circuit: its held rows are pending and due ``now`` with a fresh budget (their failures
    were the channel's); returns how many were requeued."""
    t = naive(now)
    with engine.begin() as conn:
        if notice is not None and _is_broken(conn, channel):  # closed once, announced once
            _insert_notice(conn, now, notice)
        conn.execute(update(channel_states).where(channel_states.c.channel == channel).values(
            state="ok", failures=0, probe_at=None, broken_at=None))
        result = conn.execute(update(alerts).where(alerts.c.channel == channel, alerts.c.status == "held").values(
            status="pending", attempts=0, next_attempt_at=t, budget_from=t, lease_until=None))
    return int(result.rowcount)


def _insert_notice(conn: Connection, now: datetime, notice: Notice) -> None:
    t, alert = naive(now), notice.alert
    payload = {k: v for k, v in dataclasses.asdict(alert).items() if k != "alert_id"}
    conn.execute(insert(alerts).values(
        alert_uid=notice_uid(now, notice.lines), cluster_id=None, story_id=None, watch=alert.watch,
        channel=alert.channel, kind="notice", version_ref=0, payload=json.dumps(payload, ensure_ascii=False),
        hits="[]", status="pending", attempts=0, next_attempt_at=t, created_at=t))


@dataclass(frozen=True, slots=True)
class Reopened:
    """What an operator's ``alerts retry --channel`` did."""

    was_broken: bool
    requeued: int


def reopen(engine: Engine, channel: str, now: datetime) -> Reopened | None:
    """Close the channel's circuit by hand (no notice: the operator did it); None when the store knows
    neither a circuit nor any alert of that channel."""
    with reading(engine) as conn:
        state = conn.execute(select(channel_states.c.state).where(channel_states.c.channel == channel)).scalar()
        known = state is not None or conn.execute(
            select(alerts.c.id).where(alerts.c.channel == channel).limit(1)).scalar() is not None
    if not known:
        return None
    return Reopened(was_broken=state == "broken", requeued=close(engine, channel, now))
