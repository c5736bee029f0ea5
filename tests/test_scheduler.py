"""scheduler.py: the jobs it builds on a real AsyncIOScheduler, started paused and only inspected
(no job runs on its own, nothing sleeps). When a source is due is the store's business (test_store,
test_daemon's dispatcher test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.scheduler import (
    DISPATCH_EVERY,
    HEALTH_EVERY,
    HOUSEKEEPING_EVERY,
    make_scheduler,
    schedule_dispatch,
    schedule_drain,
    schedule_health,
    schedule_housekeeping,
)

NOW = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)


async def nothing() -> None:
    """A job stand-in."""


@pytest.fixture
async def scheduler() -> AsyncIterator[AsyncIOScheduler]:
    sched = make_scheduler()
    sched.start(paused=True)
    try:
        yield sched
    finally:
        sched.shutdown(wait=False)


async def test_make_scheduler_is_in_memory_utc_with_safe_job_defaults() -> None:
    sched = make_scheduler()
    assert str(sched.timezone) == "UTC"
    sched.start(paused=True)
    try:
        schedule_drain(sched, timedelta(seconds=30), nothing, NOW)
        job = sched.get_job("outbox")
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 60)
        assert isinstance(sched._lookup_jobstore("default"), MemoryJobStore)  # nothing pickled
    finally:
        sched.shutdown(wait=False)


async def test_the_dispatcher_runs_at_once_then_every_few_seconds(scheduler: AsyncIOScheduler) -> None:
    schedule_dispatch(scheduler, nothing, NOW)
    schedule_dispatch(scheduler, nothing, NOW)  # replaced, not doubled
    [job] = scheduler.get_jobs()
    assert (job.id, job.func, job.next_run_time) == ("dispatch", nothing, NOW)
    assert job.trigger.interval == DISPATCH_EVERY <= timedelta(seconds=10)


async def test_drain_job_runs_at_once_then_at_its_interval(scheduler: AsyncIOScheduler) -> None:
    schedule_drain(scheduler, timedelta(seconds=30), nothing, NOW)
    schedule_drain(scheduler, timedelta(seconds=45), nothing, NOW)  # replaced, not doubled
    [job] = scheduler.get_jobs()
    assert (job.id, job.func, job.args) == ("outbox", nothing, ())
    assert job.trigger.interval == timedelta(seconds=45) and job.next_run_time == NOW
    assert job.trigger.get_next_fire_time(NOW, NOW) == NOW + timedelta(seconds=45)


async def test_health_and_housekeeping_are_periodic(scheduler: AsyncIOScheduler) -> None:
    calls: list[int] = []
    schedule_health(scheduler, nothing)
    schedule_housekeeping(scheduler, lambda: calls.append(1))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["health"].trigger.interval == HEALTH_EVERY == timedelta(minutes=1)
    assert jobs["housekeeping"].trigger.interval == HOUSEKEEPING_EVERY == timedelta(minutes=15)
    # scheduled, not paused: APScheduler 3 pauses a job added with next_run_time=None (they never ran)
    assert all(jobs[name].next_run_time is not None for name in ("health", "housekeeping"))
    jobs["housekeeping"].func()
    assert calls == [1]
