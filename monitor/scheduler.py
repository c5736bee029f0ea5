"""The ticker: an in-memory APScheduler with one interval job per source and one outbox job.

It only picks what is due; the work is in the callables it is given (``pipeline.poll_source``
and ``outbox.drain`` wrapped by the daemon).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Settings, Source

log = logging.getLogger("monitor.scheduler")
POLL_PREFIX = "poll:"


def make_scheduler() -> AsyncIOScheduler:
    """An in-memory scheduler (no pickled job store: jobs are rebuilt from the config)."""
    return AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone="UTC",
    )


def schedule_sources(
    scheduler: AsyncIOScheduler,
    sources: Sequence[Source],
    settings: Settings,
    poll: Callable[[Source], Awaitable[object]],
    now: datetime,
    rng: random.Random,
) -> None:
    """Replace every poll job: one per source at its interval, with jitter, first runs spread out.

    On a reload, a source whose interval did not change keeps its next run time, so reloading never
    makes every source poll again within seconds.
    """
    kept: dict[str, tuple[timedelta, datetime]] = {}
    for job in scheduler.get_jobs():
        if job.id.startswith(POLL_PREFIX):
            next_run = getattr(job, "next_run_time", None)
            if next_run is not None and isinstance(job.trigger, IntervalTrigger):
                kept[job.id] = (job.trigger.interval, next_run)
            job.remove()
    jitter = int(settings.jitter.total_seconds())
    for source in sources:
        interval = source.interval or settings.interval
        job_id = POLL_PREFIX + source.name
        previous = kept.get(job_id)
        if previous is not None and previous[0] == interval:
            first = previous[1]
        else:
            first = now + timedelta(seconds=rng.uniform(0, min(interval.total_seconds(), 30.0)))
        scheduler.add_job(
            poll,
            IntervalTrigger(seconds=interval.total_seconds(), jitter=jitter or None, timezone="UTC"),
            args=[source],
            id=job_id,
            name=f"poll {source.name}",
            next_run_time=first,
            replace_existing=True,
        )
    log.info("scheduled sources=%d", len(sources))


def schedule_drain(
    scheduler: AsyncIOScheduler, every: timedelta, drain: Callable[[], Awaitable[object]], now: datetime
) -> None:
    """The outbox relay job, at a short fixed interval."""
    scheduler.add_job(drain, IntervalTrigger(seconds=every.total_seconds(), timezone="UTC"), id="outbox",
                      name="outbox drain", next_run_time=now, replace_existing=True)


def schedule_housekeeping(scheduler: AsyncIOScheduler, every: timedelta, job: Callable[[], object]) -> None:
    """Periodic upkeep (dropping stories older than the dedup window from the in-memory index)."""
    scheduler.add_job(job, IntervalTrigger(seconds=every.total_seconds(), timezone="UTC"), id="housekeeping",
                      name="housekeeping", replace_existing=True)
