"""Cheap counts for the metrics endpoint (``monitor/metrics.py``), read at scrape time: stories, clusters,
outbox rows by status and channel, sources by health; and ``ping``, the health check's ``SELECT 1``.

Every query is one aggregate over an indexed or small table, on a read-only connection (SQLite: a deferred
transaction, so a scrape never queues behind the writer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from monitor.store.engine import reading
from monitor.store.schema import alerts, clusters, sources, stories


@dataclass(frozen=True, slots=True)
class Counts:
    """What the database holds right now."""

    stories: int = 0
    clusters: int = 0
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, channel) -> rows
    sources: dict[str, int] = field(default_factory=dict)  # health (ok | failing | silent | gone) -> sources


def read(engine: Engine) -> Counts:
    """Count stories, clusters, outbox rows (per status and channel) and sources (per health)."""
    with reading(engine) as conn:
        n_stories = conn.execute(select(func.count()).select_from(stories)).scalar_one()
        n_clusters = conn.execute(select(func.count()).select_from(clusters)).scalar_one()
        by_status = conn.execute(
            select(alerts.c.status, alerts.c.channel, func.count()).group_by(alerts.c.status, alerts.c.channel)
        ).all()
        by_health = conn.execute(select(sources.c.health, func.count()).group_by(sources.c.health)).all()
    return Counts(stories=int(n_stories), clusters=int(n_clusters),
                  alerts={(str(s), str(c)): int(n) for s, c, n in by_status},
                  sources={str(h): int(n) for h, n in by_health})


def ping(engine: Engine) -> None:
    """``SELECT 1``: returns when the database answers, raises SQLAlchemyError when it does not."""
    with reading(engine) as conn:
        conn.execute(text("SELECT 1")).scalar_one()


DatabaseError = SQLAlchemyError  # what read() and ping() raise when the database does not answer
__all__ = ["Counts", "DatabaseError", "Engine", "ping", "read"]
