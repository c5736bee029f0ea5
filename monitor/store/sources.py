"""Per-source polling state: validators for conditional GET, error counts, next due time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from monitor.store.engine import reading
from monitor.store.schema import naive, sources


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about one source between polls."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    last_error_kind: str | None
    last_post_id: int | None
    next_poll_at: datetime | None
    last_success_at: datetime | None

    def backing_off(self, now: datetime) -> bool:
        """True while the backoff of a failed poll runs (``now`` is aware; stored times are naive UTC)."""
        stamp = naive(now)
        return self.next_poll_at is not None and stamp is not None and stamp < self.next_poll_at


def ensure(engine: Engine, name: str, url: str) -> SourceState:
    """Return the state of source ``name``, creating it; a changed URL drops the old validators."""
    with engine.begin() as conn:
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().first()
        if row is None:
            conn.execute(insert(sources).values(name=name, url=url, error_count=0))
        elif row["url"] != url:
            conn.execute(
                update(sources)
                .where(sources.c.id == row["id"])
                .values(url=url, etag=None, last_modified=None, last_post_id=None)
            )
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().one()
    return SourceState(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        error_count=row["error_count"],
        last_error_kind=row["last_error_kind"],
        last_post_id=row["last_post_id"],
        next_poll_at=row["next_poll_at"],
        last_success_at=row["last_success_at"],
    )


def record_success(
    engine: Engine,
    source_id: int,
    now: datetime,
    *,
    etag: str | None,
    last_modified: str | None,
    last_post_id: int | None = None,
    partial: bool = False,
) -> None:
    """A poll worked: keep the validators, reset the error count (``parse_partial`` is noted)."""
    values: dict[str, object] = {
        "etag": etag,
        "last_modified": last_modified,
        "last_polled_at": naive(now),
        "last_success_at": naive(now),
        "error_count": 0,
        "last_error_kind": "parse_partial" if partial else None,
        "last_error": None,
        "next_poll_at": None,
    }
    if last_post_id is not None:
        values["last_post_id"] = last_post_id
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


def all_states(engine: Engine) -> list[dict[str, object]]:
    """Every source row, for ``status`` output."""
    with reading(engine) as conn:
        return [dict(r) for r in conn.execute(select(sources).order_by(sources.c.name)).mappings()]
