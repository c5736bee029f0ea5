"""Hot reload (monitor/watchfile.py): a real watchlist file edited in place, saved by renaming a temporary file,
deleted and restored; a good edit is applied at the next settled poll, a bad one keeps the running config
and is told to the ops channel once per distinct content (SIGHUP included). Polls are called directly: no
sleeps, no timers."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.context import load_gazetteer, open_context
from monitor.daemon import Daemon, load_config
from monitor.scheduler import CONFIG_WATCH_EVERY, make_scheduler, schedule_drain
from monitor.store.schema import alerts
from monitor.systemd import Notifier
from monitor.watchfile import NOTICE_WATCH, ConfigWatcher, FileWatch
from tests.conftest import FakeClock

BASE = """\
database: sqlite:///{dir}/reload.db
settings:
  alerts_file: {dir}/alerts.jsonl
  ops_channel: log
watches:
{watches}"""
ONE = "  - {name: push, any: [counteroffensive]}\n"
TWO = ONE + "  - {name: izium, places: [Izium]}\n"
BAD = ONE + "  - {name: broken, places: [Atlantis-on-Sea]}\n"
WORSE = ONE + "  - {name: broken, places: [Atlantis-on-Sea, El Dorado]}\n"


def write(path: Path, watches: str, *, mtime: int | None = None) -> None:
    """Write the watchlist in place; ``mtime`` (seconds) pins the timestamp so a stamp change is certain."""
    path.write_text(BASE.format(dir=path.parent, watches=watches), encoding="utf-8")
    if mtime is not None:
        os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def save_by_rename(path: Path, watches: str) -> None:
    """How vim, emacs and ``sed -i`` save: write a temporary file, rename it over the original."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(BASE.format(dir=path.parent, watches=watches), encoding="utf-8")
    os.replace(tmp, path)


# -- FileWatch on its own -------------------------------------------------------------------------------------

def test_a_change_is_read_once_it_has_settled(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    write(path, ONE, mtime=1000)
    watch = FileWatch.start(path)
    assert watch.poll() is None  # nothing changed
    write(path, TWO, mtime=1001)
    assert watch.poll() is None  # changed since the last poll: maybe still being written
    new = watch.poll()
    assert new is not None and new == watch.loaded
    assert watch.poll() is None and watch.poll() is None  # reported once


def test_touch_and_same_content_reload_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    write(path, ONE, mtime=1000)
    watch = FileWatch.start(path)
    os.utime(path, ns=(2000 * 10**9, 2000 * 10**9))
    assert [watch.poll() for _ in range(3)] == [None, None, None]
    save_by_rename(path, ONE)  # a new inode, the same bytes
    assert [watch.poll() for _ in range(3)] == [None, None, None]


def test_rename_save_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    write(path, ONE)
    watch = FileWatch.start(path)
    save_by_rename(path, TWO)
    assert watch.poll() is None
    assert watch.poll() is not None


def test_deleted_then_restored(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    write(path, ONE, mtime=1000)
    watch = FileWatch.start(path)
    path.unlink()
    assert watch.poll() is None and watch.missing
    assert watch.poll() is None and watch.missing
    write(path, ONE, mtime=1000)  # the same content back
    assert [watch.poll() for _ in range(3)] == [None, None, None] and not watch.missing
    path.unlink()
    watch.poll()
    write(path, TWO)
    assert watch.poll() is None
    assert watch.poll() is not None


# -- the daemon's reload through the watcher --------------------------------------------------------------

@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    """A Daemon on a real context and database, its watcher built as ``serve`` builds it, scheduler paused."""
    path = tmp_path / "watchlist.yaml"
    write(path, ONE, mtime=1000)
    gazetteer = load_gazetteer()
    cfg, compiled = load_config(path, gazetteer)
    async with open_context(cfg, watchlist=compiled, clock=FakeClock()) as ctx:
        d = Daemon(ctx=ctx, config_path=path, gazetteer=gazetteer, notifier=Notifier(environ={}))
        d.scheduler = make_scheduler()
        d.scheduler.start(paused=True)
        schedule_drain(d.scheduler, cfg.settings.outbox_interval, d.drain_job, ctx.clock())
        d.watcher = ConfigWatcher(FileWatch.start(path), d.reload, d.ctx, d.drain_job)
        try:
            yield d
        finally:
            d.scheduler.shutdown(wait=False)


async def poll(d: Daemon, times: int = 2) -> None:
    assert d.watcher is not None
    for _ in range(times):
        await d.watcher.poll()


def watch_names(d: Daemon) -> list[str]:
    return [w.name for w in d.ctx.config.watches]


def notices(d: Daemon) -> list[dict[str, str]]:
    """The config notices the outbox holds, and what the log channel received (the alerts file)."""
    with d.ctx.engine.connect() as conn:
        rows = conn.execute(select(alerts.c.payload).where(alerts.c.watch == NOTICE_WATCH)).scalars().all()
    return [json.loads(r) for r in rows]


def sent(d: Daemon) -> list[dict[str, str]]:
    file = d.config_path.parent / "alerts.jsonl"
    lines = file.read_text(encoding="utf-8").splitlines() if file.exists() else []
    return [a for a in map(json.loads, lines) if a.get("kind") == "notice"]


async def test_the_watch_job_is_scheduled(daemon: Daemon) -> None:
    assert daemon.watcher is not None
    daemon.watcher.schedule(daemon.scheduler)
    job = daemon.scheduler.get_job("config-watch")
    assert job.func == daemon.watcher.poll and job.trigger.interval == CONFIG_WATCH_EVERY
    assert job.next_run_time is not None  # scheduled, not added paused


async def test_a_good_edit_is_applied(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    write(daemon.config_path, TWO, mtime=1001)
    await poll(daemon, 1)
    assert watch_names(daemon) == ["push"]  # not yet: it may still be being written
    await poll(daemon, 1)
    assert watch_names(daemon) == ["push", "izium"]
    assert [w.name for w in daemon.ctx.watchlist.watches] == ["push", "izium"]
    assert any("reloaded config=" in r.getMessage() for r in caplog.records)
    assert not notices(daemon)


async def test_a_bad_edit_keeps_the_config_and_is_reported_once(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = daemon.ctx.config
    write(daemon.config_path, BAD, mtime=1001)
    await poll(daemon, 5)
    assert daemon.ctx.config is running
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "unknown place 'Atlantis-on-Sea'" in errors[0]
    found = notices(daemon)
    assert len(found) == 1 and found[0]["channel"] == "log"
    assert "refused, the running config is kept" in found[0]["title"]
    assert "watchlist.yaml:7:" in found[0]["excerpt"] and "Atlantis-on-Sea" in found[0]["excerpt"]
    assert len(sent(daemon)) == 1  # drained at once to the ops channel

    assert daemon.watcher is not None
    daemon.watcher.sighup()  # the same bad content again: logged, not told again
    await next(iter(daemon.watcher.tasks))
    assert len(notices(daemon)) == 1
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2

    assert isinstance(daemon.ctx.clock, FakeClock)
    daemon.ctx.clock.advance(minutes=1)
    write(daemon.config_path, WORSE, mtime=1002)  # another bad content: told
    await poll(daemon, 3)
    assert len(notices(daemon)) == 2 and "El Dorado" in notices(daemon)[1]["excerpt"]
    write(daemon.config_path, TWO, mtime=1003)  # fixed
    await poll(daemon)
    assert watch_names(daemon) == ["push", "izium"] and len(notices(daemon)) == 2


async def test_a_rename_save_is_applied(daemon: Daemon) -> None:
    save_by_rename(daemon.config_path, TWO)
    await poll(daemon)
    assert watch_names(daemon) == ["push", "izium"]


async def test_deleted_then_restored_keeps_running(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    text = daemon.config_path.read_text(encoding="utf-8")
    daemon.config_path.unlink()
    await poll(daemon, 4)
    assert watch_names(daemon) == ["push"]
    missing = [r for r in caplog.records if "is missing" in r.getMessage()]
    assert len(missing) == 1 and missing[0].levelno == logging.WARNING
    assert not notices(daemon)  # a missing file is not a refused edit

    daemon.config_path.write_text(text, encoding="utf-8")  # the same content back: nothing to reload
    await poll(daemon, 3)
    assert not any("reloaded" in r.getMessage() for r in caplog.records)
    assert any("is back" in r.getMessage() for r in caplog.records)

    daemon.config_path.unlink()
    await poll(daemon)
    save_by_rename(daemon.config_path, TWO)  # back with new content: loaded
    await poll(daemon)
    assert watch_names(daemon) == ["push", "izium"]


async def test_sighup_reloads_whatever_the_stamps_say(daemon: Daemon) -> None:
    write(daemon.config_path, TWO, mtime=1000)  # same mtime as before: SIGHUP does not care
    assert daemon.watcher is not None
    daemon.watcher.sighup()
    await next(iter(daemon.watcher.tasks))
    assert watch_names(daemon) == ["push", "izium"]
    await poll(daemon, 3)  # and the watcher does not load it a second time
    assert watch_names(daemon) == ["push", "izium"]


async def test_no_ops_channel_only_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(BASE.format(dir=tmp_path, watches=ONE).replace("  ops_channel: log\n", ""), encoding="utf-8")
    gazetteer = load_gazetteer()
    cfg, compiled = load_config(path, gazetteer)
    async with open_context(cfg, watchlist=compiled) as ctx:
        d = Daemon(ctx=ctx, config_path=path, gazetteer=gazetteer, notifier=Notifier(environ={}))
        d.watcher = ConfigWatcher(FileWatch.start(path), d.reload, d.ctx, d.drain_job)
        path.write_text(path.read_text(encoding="utf-8") + "  - {name: b, places: [Nowhereville]}\n",
                        encoding="utf-8")
        await poll(d, 3)
        assert d.ctx.config is cfg and not notices(d)
        assert any("Nowhereville" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


async def test_a_bad_edit_after_a_good_one_is_told_again(daemon: Daemon) -> None:
    assert isinstance(daemon.ctx.clock, FakeClock)
    write(daemon.config_path, BAD, mtime=1001)
    await poll(daemon)
    write(daemon.config_path, TWO, mtime=1002)
    await poll(daemon)
    daemon.ctx.clock.advance(minutes=1)
    write(daemon.config_path, BAD, mtime=1003)  # the same mistake again, after a good file ran
    await poll(daemon)
    assert watch_names(daemon) == ["push", "izium"] and len(notices(daemon)) == 2
