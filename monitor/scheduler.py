"""The ticker: an in-memory APScheduler with four jobs; the work is in the callables it is given.

- ``dispatch`` every few seconds: start a poll for each source that is due. When a source is due is
  stored with it (``sources.next_poll_at``: its adaptive interval, or its backoff), so a reload or a
  restart keeps every source's timing and the store is the one place that decides.
- ``outbox`` at ``settings.outbox_interval``: send due alerts.
- ``health`` every minute: source health notices.
- ``housekeeping`` every 15 minutes: keep the dedup index bounded.
- ``config-watch`` every 2 seconds: reload the watchlist when its file changed (``monitor/watchfile.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

DISPATCH_EVERY = timedelta(seconds=5)
HEALTH_EVERY = timedelta(minutes=1)
HOUSEKEEPING_EVERY = timedelta(minutes=15)
CONFIG_WATCH_EVERY = timedelta(seconds=2)


def make_scheduler() -> AsyncIOScheduler:
    """An in-memory scheduler (no pickled job store: jobs are rebuilt from the config)."""
    return AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone="UTC",
    )


def _every(
    scheduler: AsyncIOScheduler, job_id: str, every: timedelta, job: Callable[[], object],
    first: datetime | None = None,
) -> None:
    # APScheduler 3 adds a job given ``next_run_time=None`` *paused*: pass it only to run first at ``first``.
    timing = {} if first is None else {"next_run_time": first}
    scheduler.add_job(job, IntervalTrigger(seconds=every.total_seconds(), timezone="UTC"), id=job_id,
                      name=job_id, replace_existing=True, **timing)


def schedule_dispatch(scheduler: AsyncIOScheduler, dispatch: Callable[[], Awaitable[object]], now: datetime) -> None:
    """The poll dispatcher, first at once, then every ``DISPATCH_EVERY``."""
    _every(scheduler, "dispatch", DISPATCH_EVERY, dispatch, now)


def schedule_drain(
    scheduler: AsyncIOScheduler, every: timedelta, drain: Callable[[], Awaitable[object]], now: datetime
) -> None:
    """The outbox relay job, first at once, then at a short fixed interval."""
    _every(scheduler, "outbox", every, drain, now)


def schedule_health(scheduler: AsyncIOScheduler, check: Callable[[], Awaitable[object]]) -> None:
    """Source health evaluation (operator notices), every ``HEALTH_EVERY``."""
    _every(scheduler, "health", HEALTH_EVERY, check)


def schedule_housekeeping(scheduler: AsyncIOScheduler, job: Callable[[], object]) -> None:
    """Periodic upkeep (dropping stories older than the dedup window from the in-memory index)."""
    _every(scheduler, "housekeeping", HOUSEKEEPING_EVERY, job)


def schedule_config_watch(scheduler: AsyncIOScheduler, job: Callable[[], Awaitable[object]], now: datetime) -> None:
    """The watchlist file check (hot reload), every ``CONFIG_WATCH_EVERY`` from ``now`` (a first run time is
    given: APScheduler 3 adds a job with ``next_run_time=None`` paused)."""
    _every(scheduler, "config-watch", CONFIG_WATCH_EVERY, job, now + CONFIG_WATCH_EVERY)
