"""Per-source polling state: validators, body hash, adaptive interval, error count, next due time,
moved (301) and gone (410) URLs."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, and_, bindparam, case, func, insert, or_, select, true, update

from monitor.store.engine import reading
from monitor.store.schema import naive, sources, stories


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about one source between polls."""

    id: int
    name: str
    url: str  # the URL polled: the config's, or where a permanent redirect moved it
    etag: str | None
    last_modified: str | None
    error_count: int
    last_error_kind: str | None
    last_post_id: int | None
    next_poll_at: datetime | None
    last_success_at: datetime | None
    body_hash: str | None = None
    interval_s: float | None = None
    disabled_at: datetime | None = None
    health: str = "ok"

    def backing_off(self, now: datetime) -> bool:
        """True until the source is due again (``now`` is aware; stored times are naive UTC)."""
        stamp = naive(now)
        return self.next_poll_at is not None and stamp is not None and stamp < self.next_poll_at


@dataclass(frozen=True, slots=True)
class Success:
    """What a successful poll stores: validators are None when the fetch was not processed whole."""

    etag: str | None
    last_modified: str | None
    next_poll_at: datetime
    interval_s: float
    body_hash: str | None = None
    last_post_id: int | None = None
    partial: bool = False


def _state(row: RowMapping) -> SourceState:
    r = dict(row)
    return SourceState(
        id=r["id"], name=r["name"], url=r["url"], etag=r["etag"], last_modified=r["last_modified"],
        error_count=r["error_count"], last_error_kind=r["last_error_kind"], last_post_id=r["last_post_id"],
        next_poll_at=r["next_poll_at"], last_success_at=r["last_success_at"], body_hash=r["body_hash"],
        interval_s=r["interval_s"], disabled_at=r["disabled_at"], health=r["health"],
    )


def ensure(engine: Engine, name: str, url: str) -> SourceState:
    """The state of source ``name``, creating it. A URL changed in the config starts the source afresh
    (validators, body hash, a 301 move and a 410 disable are forgotten); a permanent redirect is kept."""
    with engine.begin() as conn:
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().first()
        if row is None:
            conn.execute(insert(sources).values(name=name, url=url, config_url=url, error_count=0, health="ok"))
        elif row["config_url"] != url:
            conn.execute(
                update(sources)
                .where(sources.c.id == row["id"])
                .values(url=url, config_url=url, etag=None, last_modified=None, last_post_id=None,
                        body_hash=None, disabled_at=None, next_poll_at=None, error_count=0)
            )
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().one()
    return _state(row)


def ensure_many(engine: Engine, pairs: Sequence[tuple[str, str]]) -> list[SourceState]:
    """``ensure`` for many (name, url) pairs: one read when every source is known with that URL (the usual
    case), else ``ensure`` for the others."""
    names = [name for name, _ in pairs]
    with reading(engine) as conn:
        rows = {r["name"]: r for r in conn.execute(select(sources).where(sources.c.name.in_(names))).mappings()}
    found = {name: _state(rows[name]) for name, url in pairs if name in rows and rows[name]["config_url"] == url}
    return [found[name] if name in found else ensure(engine, name, url) for name, url in pairs]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful poll to record: ``decide`` turns the source's post counts (7 days, 24 h) into what is
    stored; ``counts`` are given when the caller knows them (else read in the batch's transaction)."""

    source_id: int
    now: datetime
    decide: Callable[[int, int], Success]
    counts: tuple[int, int] | None = None


def record_successes(engine: Engine, outcomes: Sequence[Outcome]) -> list[tuple[int, int]]:
    """``record_success`` for many polls in one transaction (one grouped count query, one executemany);
    returns the post counts each one used. Counts are read at the first outcome's ``now``."""
    with engine.begin() as conn:
        missing = sorted({o.source_id for o in outcomes if o.counts is None})
        read = _post_counts_in(conn, outcomes[0].now, missing) if missing else {}
        used = [o.counts or read.get(o.source_id, (0, 0)) for o in outcomes]
        rows = [_success_row(o.source_id, o.now, o.decide(*counts)) for o, counts in zip(outcomes, used, strict=True)]
        conn.execute(_SUCCESS_UPDATE, rows)
    return used


_SUCCESS_UPDATE = update(sources).where(sources.c.id == bindparam("b_id")).values(
    etag=bindparam("b_etag"), last_modified=bindparam("b_last_modified"), body_hash=bindparam("b_body_hash"),
    last_polled_at=bindparam("b_now"), last_success_at=bindparam("b_now"), error_count=0,
    last_error_kind=bindparam("b_kind"), last_error=None, next_poll_at=bindparam("b_next"),
    interval_s=bindparam("b_interval"),
    last_post_id=func.coalesce(bindparam("b_last_post_id", type_=sources.c.last_post_id.type), sources.c.last_post_id))


def _success_row(source_id: int, now: datetime, result: Success) -> dict[str, object]:
    return {"b_id": source_id, "b_etag": result.etag, "b_last_modified": result.last_modified,
            "b_body_hash": result.body_hash, "b_now": naive(now),
            "b_kind": "parse_partial" if result.partial else None, "b_next": naive(result.next_poll_at),
            "b_interval": result.interval_s, "b_last_post_id": result.last_post_id}


def record_success(engine: Engine, source_id: int, now: datetime, result: Success) -> None:
    """A poll worked: keep validators and body hash, reset the error count, set the next due time."""
    values: dict[str, object] = {
        "etag": result.etag,
        "last_modified": result.last_modified,
        "body_hash": result.body_hash,
        "last_polled_at": naive(now),
        "last_success_at": naive(now),
        "error_count": 0,
        "last_error_kind": "parse_partial" if result.partial else None,
        "last_error": None,
        "next_poll_at": naive(result.next_poll_at),
        "interval_s": result.interval_s,
    }
    if result.last_post_id is not None:
        values["last_post_id"] = result.last_post_id
    with engine.begin() as conn:
        conn.execute(update(sources).where(sources.c.id == source_id).values(**values))


def record_failure(
    engine: Engine, source_id: int, now: datetime, kind: str, message: str, next_poll_at: datetime
) -> None:
    """A poll failed: count it, keep its class and message, and when to try again."""
    with engine.begin() as conn:
        conn.execute(
            update(sources)
            .where(sources.c.id == source_id)
            .values(
                last_polled_at=naive(now),
                error_count=sources.c.error_count + 1,
                last_error_kind=kind,
                last_error=message[:2000],
                next_poll_at=naive(next_poll_at),
            )
        )


def move(engine: Engine, source_id: int, url: str) -> None:
    """A permanent redirect: poll ``url`` from now on (until the config names another URL)."""
    with engine.begin() as conn:
        conn.execute(update(sources).where(sources.c.id == source_id).values(url=url))


def disable(engine: Engine, source_id: int, now: datetime, kind: str, message: str) -> None:
    """410 Gone: stop polling the source until its URL changes in the config."""
    with engine.begin() as conn:
        conn.execute(
            update(sources)
            .where(sources.c.id == source_id)
            .values(disabled_at=naive(now), last_polled_at=naive(now), last_error_kind=kind,
                    last_error=message[:2000], error_count=sources.c.error_count + 1)
        )


def record_gap(engine: Engine, source_id: int, now: datetime, first: int, last: int) -> None:
    """Posts ``first``..``last`` of a Telegram channel were published between two polls and not recovered."""
    note = f"posts {first}-{last} ({last - first + 1}) at {now:%Y-%m-%dT%H:%MZ}"
    with engine.begin() as conn:
        conn.execute(update(sources).where(sources.c.id == source_id).values(
            gap_count=sources.c.gap_count + 1, missed_posts=sources.c.missed_posts + (last - first + 1),
            last_gap=note))


def due(engine: Engine, names: Iterable[str], now: datetime) -> set[str]:
    """Which of ``names`` should be polled now: never polled, or due, and not disabled. A name the store
    has not seen yet is due."""
    wanted = set(names)
    with reading(engine) as conn:
        rows = conn.execute(select(sources.c.name, sources.c.next_poll_at, sources.c.disabled_at)).all()
    known = {r.name for r in rows}
    stamp = naive(now)
    ready = {r.name for r in rows if r.disabled_at is None and (r.next_poll_at is None or r.next_poll_at <= stamp)}
    return (ready | (wanted - known)) & wanted


def instance_id() -> str:
    """A lease owner for this process: ``host:pid:random`` (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def claim_due(engine: Engine, names: Iterable[str], now: datetime, *, owner: str, lease: timedelta, limit: int,
              force: bool = False, urls: Mapping[str, str] | None = None) -> set[str]:
    """Lease up to ``limit`` of ``names`` to ``owner`` until ``now + lease`` and return them: those due (never
    polled, or ``next_poll_at`` reached; not disabled) that no instance holds a live lease on. ``force`` (burst
    mode) ignores when they are due and whether they are disabled, only live leases.

    A name the store has not seen is inserted first (its URL from ``urls``; ``ensure`` sets it at the poll)
    so it can be leased. PostgreSQL skips the rows other instances are claiming (``FOR UPDATE SKIP LOCKED``);
    SQLite serialises writers with BEGIN IMMEDIATE. Most overdue first."""
    wanted = sorted(set(names))
    if not wanted or limit <= 0:
        return set()
    _insert_unknown(engine, wanted, urls or {})
    t = naive(now)
    ready = true() if force else and_(sources.c.disabled_at.is_(None),
                                      or_(sources.c.next_poll_at.is_(None), sources.c.next_poll_at <= t))
    free = select(sources.c.id).where(
        sources.c.name.in_(wanted), ready, or_(sources.c.lease_until.is_(None), sources.c.lease_until < t),
    ).order_by(sources.c.next_poll_at.is_not(None), sources.c.next_poll_at, sources.c.id).limit(limit)
    stmt = (
        update(sources)
        .where(sources.c.id.in_(free.with_for_update(skip_locked=True).scalar_subquery()))
        .values(lease_owner=owner, lease_until=naive(now + lease))
        .returning(sources.c.name)
    )
    with engine.begin() as conn:
        return set(conn.execute(stmt).scalars())


def claim_each(engine: Engine, calls: Sequence[tuple[str, str, datetime]], *, owner: str,
               lease: timedelta) -> list[bool]:
    """``claim_due(..., force=True)`` of one source per call, for many calls (name, url, now) in one
    transaction (at the latest ``now``): whether each source was leased to ``owner``."""
    now = max(when for _, _, when in calls)
    claimed = claim_due(engine, [name for name, _, _ in calls], now, owner=owner, lease=lease, limit=len(calls),
                        force=True, urls={name: url for name, url, _ in calls})
    return [name in claimed for name, _, _ in calls]


def release_each(engine: Engine, names: Sequence[str], *, owner: str) -> list[None]:
    """``release`` of many sources in one statement."""
    with engine.begin() as conn:
        conn.execute(update(sources).where(sources.c.name.in_(list(names)), sources.c.lease_owner == owner)
                     .values(lease_owner=None, lease_until=None))
    return [None] * len(names)


def _insert_unknown(engine: Engine, names: list[str], urls: Mapping[str, str]) -> None:
    """Insert rows for the names the store lacks (idempotent across instances)."""
    with reading(engine) as conn:
        known = set(conn.execute(select(sources.c.name).where(sources.c.name.in_(names))).scalars())
    missing = [n for n in names if n not in known]
    if not missing:
        return
    with engine.begin() as conn:
        stmt = _insert_ignore(conn).values([
            {"name": n, "url": urls.get(n, ""), "config_url": urls.get(n), "error_count": 0, "health": "ok"}
            for n in missing])
        conn.execute(stmt)


def _insert_ignore(conn: Connection) -> Any:
    """INSERT INTO sources ... ON CONFLICT DO NOTHING for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(sources).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(sources).on_conflict_do_nothing()


def release(engine: Engine, name: str, owner: str) -> None:
    """Give up ``owner``'s lease on ``name`` (after its poll recorded the result); a lease another instance
    took over meanwhile is left alone."""
    with engine.begin() as conn:
        conn.execute(update(sources).where(sources.c.name == name, sources.c.lease_owner == owner)
                     .values(lease_owner=None, lease_until=None))


def post_counts(conn: Connection, now: datetime, source_id: int | None = None) -> dict[int, tuple[int, int]]:
    """Per source, the stories first published (or first seen) in the last 7 days and the last 24 h.

    The publication date counts when the entry has a plausible one, so a new feed's backlog, all first
    seen at one poll, does not look like a burst of posting.
    """
    when = func.coalesce(stories.c.published_at, stories.c.first_seen_at)
    week, day = naive(now - timedelta(days=7)), naive(now - timedelta(days=1))
    query = (
        select(stories.c.source_id, func.count(), func.sum(case((when >= day, 1), else_=0)))
        .where(and_(when >= week, when <= naive(now + timedelta(hours=1))))
        .group_by(stories.c.source_id)
    )
    if source_id is not None:
        query = query.where(stories.c.source_id == source_id)
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(query)}


def _post_counts_in(conn: Connection, now: datetime, ids: list[int]) -> dict[int, tuple[int, int]]:
    """``post_counts`` of the sources ``ids`` only."""
    when = func.coalesce(stories.c.published_at, stories.c.first_seen_at)
    week, day = naive(now - timedelta(days=7)), naive(now - timedelta(days=1))
    query = (
        select(stories.c.source_id, func.count(), func.sum(case((when >= day, 1), else_=0)))
        .where(stories.c.source_id.in_(ids), when >= week, when <= naive(now + timedelta(hours=1)))
        .group_by(stories.c.source_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(query)}


def post_counts_of(engine: Engine, source_id: int, now: datetime) -> tuple[int, int]:
    """``post_counts`` for one source: (stories in 7 days, stories in 24 h)."""
    with reading(engine) as conn:
        return post_counts(conn, now, source_id).get(source_id, (0, 0))


def all_states(engine: Engine) -> list[dict[str, object]]:
    """Every source row, for ``status`` output."""
    with reading(engine) as conn:
        return [dict(r) for r in conn.execute(select(sources).order_by(sources.c.name)).mappings()]
