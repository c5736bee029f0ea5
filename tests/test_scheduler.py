"""scheduler.py: the jobs it builds on a real AsyncIOScheduler, started paused and only inspected
(no job runs on its own, nothing sleeps)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED

from monitor.config import Config, Source, parse_text
from monitor.scheduler import (
    POLL_PREFIX,
    make_scheduler,
    schedule_drain,
    schedule_housekeeping,
    schedule_sources,
)

NOW = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)
SPREAD = timedelta(seconds=30)


def config(sources: str, settings: str = "interval: 5m\n  jitter: 20s") -> Config:
    text = f"settings:\n  {settings}\nsources:\n{sources}"
    return parse_text(text, "t.yaml", environ={})


THREE = config(
    '  - {name: wire, url: "http://127.0.0.1:9/wire.xml"}\n'
    '  - {name: fast, url: "http://127.0.0.1:9/fast.xml", interval: 45s}\n'
    "  - {name: tg, type: telegram, channel: frontnews, interval: 2h}\n"
)


class Calls:
    """A poll callable that records what it was called with."""

    def __init__(self) -> None:
        self.sources: list[Source] = []

    async def __call__(self, source: Source) -> None:
        self.sources.append(source)


async def nothing() -> None:
    """A drain stand-in."""


@pytest.fixture
async def scheduler() -> AsyncIterator[AsyncIOScheduler]:
    sched = make_scheduler()
    sched.start(paused=True)
    try:
        yield sched
    finally:
        sched.shutdown(wait=False)


def poll_jobs(sched: AsyncIOScheduler) -> dict[str, Any]:
    return {job.id: job for job in sched.get_jobs() if job.id.startswith(POLL_PREFIX)}


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


async def test_one_poll_job_per_source(scheduler: AsyncIOScheduler) -> None:
    poll = Calls()
    schedule_sources(scheduler, THREE.sources, THREE.settings, poll, NOW, random.Random(1))
    jobs = poll_jobs(scheduler)
    assert set(jobs) == {"poll:wire", "poll:fast", "poll:tg"}
    expected = {"wire": timedelta(minutes=5), "fast": timedelta(seconds=45), "tg": timedelta(hours=2)}
    for source in THREE.sources:
        job = jobs[POLL_PREFIX + source.name]
        assert job.args == (source,) and job.func is poll
        assert job.trigger.interval == expected[source.name], source.name
        assert job.trigger.jitter == 20
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 60)
        assert NOW <= job.next_run_time <= NOW + SPREAD, source.name
    assert scheduler.state == STATE_PAUSED
    assert poll.sources == []


async def test_a_job_calls_poll_with_its_source(scheduler: AsyncIOScheduler) -> None:
    poll = Calls()
    schedule_sources(scheduler, THREE.sources, THREE.settings, poll, NOW, random.Random(1))
    job = scheduler.get_job("poll:tg")
    await job.func(*job.args)
    assert [s.name for s in poll.sources] == ["tg"]


async def test_first_runs_are_spread_over_thirty_seconds(scheduler: AsyncIOScheduler) -> None:
    many = config("".join(f'  - {{name: s{i}, url: "http://127.0.0.1:9/{i}.xml"}}\n' for i in range(40)))
    schedule_sources(scheduler, many.sources, many.settings, Calls(), NOW, random.Random(7))
    starts = sorted(job.next_run_time - NOW for job in poll_jobs(scheduler).values())
    assert len(starts) == 40
    assert timedelta(0) <= starts[0] and starts[-1] <= SPREAD
    assert starts[-1] - starts[0] > timedelta(seconds=15)  # spread out, not a thundering herd
    assert len(set(starts)) > 30


@pytest.mark.parametrize(
    ("settings", "jitter"),
    [
        pytest.param("interval: 5m\n  jitter: 0s", None, id="zero jitter is no jitter"),
        pytest.param("interval: 5m", 30, id="default jitter is 30s"),
        pytest.param("interval: 5m\n  jitter: 2m", 120, id="jitter in whole seconds"),
    ],
)
async def test_jitter_comes_from_settings(
    scheduler: AsyncIOScheduler, settings: str, jitter: int | None
) -> None:
    cfg = config('  - {name: wire, url: "http://127.0.0.1:9/wire.xml"}\n', settings)
    schedule_sources(scheduler, cfg.sources, cfg.settings, Calls(), NOW, random.Random(1))
    assert scheduler.get_job("poll:wire").trigger.jitter == jitter


async def test_rescheduling_replaces_every_poll_job_and_keeps_the_drain(scheduler: AsyncIOScheduler) -> None:
    schedule_drain(scheduler, timedelta(seconds=30), nothing, NOW)
    schedule_sources(scheduler, THREE.sources, THREE.settings, Calls(), NOW, random.Random(1))

    changed = config(
        '  - {name: wire, url: "http://127.0.0.1:9/wire.xml", interval: 10m}\n'
        '  - {name: new, url: "http://127.0.0.1:9/new.xml"}\n'
    )
    later = NOW + timedelta(hours=1)
    poll = Calls()
    schedule_sources(scheduler, changed.sources, changed.settings, poll, later, random.Random(2))
    jobs = poll_jobs(scheduler)
    assert set(jobs) == {"poll:wire", "poll:new"}  # fast and tg lost their jobs
    assert jobs["poll:wire"].trigger.interval == timedelta(minutes=10)
    assert jobs["poll:wire"].args == (changed.sources[0],) and jobs["poll:wire"].func is poll
    assert all(later <= j.next_run_time <= later + SPREAD for j in jobs.values())
    assert scheduler.get_job("outbox") is not None

    schedule_sources(scheduler, [], changed.settings, poll, later, random.Random(3))
    assert poll_jobs(scheduler) == {} and [j.id for j in scheduler.get_jobs()] == ["outbox"]


async def test_drain_job_runs_at_once_then_at_its_interval(scheduler: AsyncIOScheduler) -> None:
    schedule_drain(scheduler, timedelta(seconds=30), nothing, NOW)
    schedule_drain(scheduler, timedelta(seconds=45), nothing, NOW)  # replaced, not doubled
    [job] = scheduler.get_jobs()
    assert (job.id, job.func, job.args) == ("outbox", nothing, ())
    assert job.trigger.interval == timedelta(seconds=45) and job.next_run_time == NOW
    assert job.trigger.get_next_fire_time(NOW, NOW) == NOW + timedelta(seconds=45)


async def test_rescheduling_keeps_the_timer_of_an_unchanged_source(scheduler: AsyncIOScheduler) -> None:
    """A reload must not make every source poll again within 30 s (a SIGHUP loop would hammer feeds)."""
    schedule_sources(scheduler, THREE.sources, THREE.settings, Calls(), NOW, random.Random(1))
    before = {job_id: job.next_run_time for job_id, job in poll_jobs(scheduler).items()}

    moved = config(
        '  - {name: wire, url: "http://127.0.0.1:9/moved.xml"}\n'  # same interval, new URL
        '  - {name: fast, url: "http://127.0.0.1:9/fast.xml", interval: 90s}\n'  # new interval
        "  - {name: tg, type: telegram, channel: frontnews, interval: 2h}\n"
    )
    later = NOW + timedelta(minutes=3)
    schedule_sources(scheduler, moved.sources, moved.settings, Calls(), later, random.Random(2))
    jobs = poll_jobs(scheduler)
    assert jobs["poll:wire"].next_run_time == before["poll:wire"]
    assert jobs["poll:wire"].args[0].url == "http://127.0.0.1:9/moved.xml"  # the new source, old timer
    assert jobs["poll:tg"].next_run_time == before["poll:tg"]
    assert later <= jobs["poll:fast"].next_run_time <= later + SPREAD
    assert jobs["poll:fast"].trigger.interval == timedelta(seconds=90)


async def test_housekeeping_job_is_periodic(scheduler: AsyncIOScheduler) -> None:
    calls: list[int] = []
    schedule_housekeeping(scheduler, timedelta(minutes=15), lambda: calls.append(1))
    job = scheduler.get_job("housekeeping")
    assert job is not None and job.trigger.interval == timedelta(minutes=15)
    job.func()
    assert calls == [1]
