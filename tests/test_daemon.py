"""The daemon as a real process under a fake systemd notify socket: readiness after config and
database, watchdog pings, reload with a good and a broken file, clean stop on SIGTERM (also while a
poll is in flight). In process: what a reload applies at once and what waits for a restart, and the
end of the stop grace period."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor import daemon as daemon_mod
from monitor.config import Source
from monitor.context import load_gazetteer, open_context
from monitor.daemon import Daemon, load_config, restart_only_changes
from monitor.demo import FixtureServer, demo_config
from monitor.models import PollReport
from monitor.scheduler import make_scheduler, schedule_drain
from monitor.store import sources as store_sources
from monitor.systemd import Notifier

ROOT = Path(__file__).resolve().parent.parent


class NotifySocket:
    """A bound AF_UNIX datagram socket that collects sd_notify messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        """Read messages until one contains ``needle`` (bounded by ``timeout`` per read)."""
        self.sock.settimeout(timeout)
        for _ in range(200):
            msg = self.sock.recv(4096).decode()
            self.messages.append(msg)
            if needle in msg:
                return msg
        raise AssertionError(f"{needle!r} never arrived: {self.messages}")

    def wait_event(self, event: threading.Event, timeout: float) -> bool:
        """Wait for ``event`` while reading messages: an unread socket fills up (10 datagrams) and then
        blocks the daemon's sd_notify, and with it its event loop."""
        self.sock.settimeout(0.1)
        deadline = time.monotonic() + timeout
        while not event.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.sock.recv(4096).decode())
        return event.is_set()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.sock.close()


def child_env(notify: NotifySocket) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWS_MONITOR_DATABASE_URL"}
    env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="400000", PYTHONPATH=str(ROOT))
    return env


@pytest.fixture
def daemon_env(tmp_path: Path, notify: NotifySocket) -> Iterator[tuple[Path, NotifySocket, dict[str, str]]]:
    with FixtureServer().running() as feeds:
        config = tmp_path / "watchlist.yaml"
        config.write_text(demo_config(feeds.base, tmp_path), encoding="utf-8")
        yield config, notify, child_env(notify)


def start(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], env=env,
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _output(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    with proc.stdout:
        return proc.stdout.read().decode()


def test_ready_watchdog_reload_and_stop(daemon_env: tuple[Path, NotifySocket, dict[str, str]]) -> None:
    config, notify, env = daemon_env
    proc = start(config, env)
    try:
        assert "STATUS=4 sources" in notify.wait_for("READY=1")
        assert "alerts pending" in notify.wait_for("WATCHDOG=1")
        good = config.read_text(encoding="utf-8")
        config.write_text(good + "  - {name: broken, places: [Atlantis-on-Sea]}\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        assert "MONOTONIC_USEC=" in notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert proc.poll() is None  # the broken file was refused; the daemon runs on
        config.write_text(good, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = _output(proc)
    assert "reload failed, keeping the running config" in output
    assert "unknown place 'Atlantis-on-Sea'" in output and "watchlist.yaml:" in output


def test_an_edited_watchlist_reloads_without_a_signal(daemon_env: tuple[Path, NotifySocket, dict[str, str]]) -> None:
    """Hot reload in the real process: a save by rename is noticed by the config-watch job (no SIGHUP)."""
    config, notify, env = daemon_env
    proc = start(config, env)
    try:
        notify.wait_for("READY=1")
        tmp = config.with_name("watchlist.yaml.tmp")
        tmp.write_text(config.read_text(encoding="utf-8") + "  - {name: second, any: [counteroffensive]}\n",
                       encoding="utf-8")
        tmp.replace(config)
        assert "MONOTONIC_USEC=" in notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = _output(proc)
    assert "changed; reloading" in output and "reloaded config=" in output and "watches=2" in output


def test_bad_config_fails_before_ready(daemon_env: tuple[Path, NotifySocket, dict[str, str]]) -> None:
    config, notify, env = daemon_env
    config.write_text("sources:\n  - {name: x, urll: http://example.org}\n", encoding="utf-8")
    proc = start(config, env)
    assert proc.wait(timeout=30) == 1
    output = _output(proc)
    assert "watchlist.yaml:2:" in output and "urll" in output
    notify.sock.settimeout(0.01)
    with pytest.raises(TimeoutError):
        notify.sock.recv(4096)


# -- SIGTERM while a poll is in flight ----------------------------------------------------------------------

HELD = 20.0  # upper bound on how long the feed server holds a body back (the test releases it sooner)
SLOW_SOURCES = 24  # first polls are spread over 30 s: with 24 sources one starts within a few seconds


class SlowFeed:
    """A loopback feed whose responses send their headers at once and their body only on ``release``:
    ``requested`` is set once a poll is in flight."""

    def __init__(self) -> None:
        self.requested, self.release = threading.Event(), threading.Event()
        self.answered: list[str] = []
        fresh = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
        self.body = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>wire</title>
<item><title>Counteroffensive retakes the river crossing</title><link>https://example.org/crossing</link>
<guid>crossing-1</guid><pubDate>{fresh}</pubDate>
<description>The counteroffensive retook the river crossing overnight, officials said.</description></item>
</channel></rss>""".encode()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.flush()
                feed.requested.set()
                feed.release.wait(HELD)
                self.wfile.write(feed.body)
                feed.answered.append(self.path)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        return Handler

    def config(self, tmp_path: Path) -> str:
        base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        sources = "".join(f'  - {{name: s{i}, url: "{base}/f{i}.xml"}}\n' for i in range(SLOW_SOURCES))
        return (f"database: sqlite:///{tmp_path}/slow.db\nsettings: {{alerts_file: {tmp_path}/alerts.jsonl}}\n"
                f"sources:\n{sources}watches:\n  - {{name: push, any: [counteroffensive]}}\n")

    def __enter__(self) -> SlowFeed:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def finish(proc: subprocess.Popen[bytes]) -> str:
    """The child's whole output, killing it first if it still runs (and printed: shown on failure)."""
    if proc.poll() is None:
        proc.kill()
    output = _output(proc)
    proc.wait(timeout=30)
    print(output)
    return output


@pytest.mark.timeout(120)  # two child processes; each wait below is bounded on its own
def test_sigterm_during_a_poll_finishes_it_and_sends_its_alert(tmp_path: Path, notify: NotifySocket) -> None:
    """The poll completes after stopping began: its alert is sent before exit, not left leased, and no
    job is cancelled under the scheduler (no CancelledError, no traceback)."""
    with SlowFeed() as feed:
        config = tmp_path / "watchlist.yaml"
        config.write_text(feed.config(tmp_path), encoding="utf-8")
        proc = start(config, child_env(notify))
        try:
            notify.wait_for("READY=1")
            assert notify.wait_event(feed.requested, 40), "no poll started"
            proc.send_signal(signal.SIGTERM)
            notify.wait_for("STOPPING=1")
            feed.release.set()  # the body arrives only now, after stopping began
            assert proc.wait(timeout=30) == 0
        finally:
            output = finish(proc)
    assert "CancelledError" not in output and "Traceback" not in output
    assert feed.answered
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert alerts and {a["title"] for a in alerts} == {"Counteroffensive retakes the river crossing"}
    status = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "status"], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env=child_env(notify), check=False)
    assert status.stdout.splitlines()[-1] == f"alerts: pending 0, sending 0, sent {len(alerts)}, dead 0"


# -- in process: reload and the end of the grace period ------------------------------------------------------

RELOAD_BASE = """\
database: sqlite:///{dir}/reload.db
settings:
  alerts_file: {dir}/alerts.jsonl
{extra}watches:
  - {{name: push, any: [counteroffensive]}}
"""


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Daemon]:
    """A Daemon on a real context with a paused scheduler holding the outbox job (nothing runs)."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(RELOAD_BASE.format(dir=tmp_path, extra=""), encoding="utf-8")
    gazetteer = load_gazetteer()
    cfg, compiled = load_config(path, gazetteer)
    async with open_context(cfg, watchlist=compiled) as ctx:
        d = Daemon(ctx=ctx, config_path=path, gazetteer=gazetteer, notifier=Notifier(environ={}))
        d.scheduler = make_scheduler()
        d.scheduler.start(paused=True)
        schedule_drain(d.scheduler, cfg.settings.outbox_interval, d.drain_job, ctx.clock())
        try:
            yield d
        finally:
            if d.scheduler.running:
                d.scheduler.shutdown(wait=False)


def reload_with(d: Daemon, extra: str) -> None:
    d.config_path.write_text(RELOAD_BASE.format(dir=d.config_path.parent, extra=extra), encoding="utf-8")
    d.reload()


async def test_reload_reschedules_the_outbox_and_names_restart_only_settings(
    live: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    reload_with(live, "  outbox_interval: 45s\n  user_agent: test/2\n  dedup_window: 24h\n  retry_base: 1m\n")
    job = live.scheduler.get_job("outbox")
    assert job.trigger.interval == timedelta(seconds=45) and job.func == live.drain_job
    assert live.ctx.config.settings.retry_base == timedelta(minutes=1)  # applied at once
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["reload: settings.dedup_window, settings.user_agent changed; this takes effect on restart"]

    caplog.clear()
    before = job.next_run_time
    reload_with(live, "  outbox_interval: 45s\n  user_agent: test/2\n  dedup_window: 24h\n")
    assert live.scheduler.get_job("outbox").next_run_time == before  # unchanged interval: not rescheduled
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_restart_only_changes_lists_database_and_built_in_settings(tmp_path: Path) -> None:
    gazetteer = load_gazetteer()
    path = tmp_path / "w.yaml"

    def cfg(text: str) -> Any:
        path.write_text(text, encoding="utf-8")
        return load_config(path, gazetteer)[0]

    old = cfg("settings: {interval: 5m}\n")
    new = cfg(f"database: sqlite:///{tmp_path}/other.db\nsettings: {{interval: 10m, dedup_threshold: 0.6, "
              "dedup_containment: 0.9, jitter: 5s, max_age: 1d}\n")
    assert restart_only_changes(old, new) == ["database", "settings.dedup_threshold",
                                              "settings.dedup_containment"]
    assert restart_only_changes(old, old) == []


async def nothing() -> None:
    """A task that ends at once."""


async def test_stop_cancels_work_still_running_after_the_grace_period(
    live: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A poll that outlives STOP_GRACE is cancelled; its scheduler job ends quietly (no CancelledError)."""
    started, never = asyncio.Event(), asyncio.Event()

    async def stuck(ctx: object, source: Source) -> PollReport:
        started.set()
        await never.wait()
        return PollReport(source=source.name)

    monkeypatch.setattr(daemon_mod, "poll_source", stuck)
    monkeypatch.setattr(daemon_mod, "STOP_GRACE", 0.2)
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    source = Source.model_validate({"name": "s", "url": "http://127.0.0.1:9/f.xml"})
    job = asyncio.create_task(live.poll_job(source))
    async with asyncio.timeout(10):
        await started.wait()
        await live._stop(asyncio.create_task(nothing()))  # stands in for the watchdog task
        await job  # returns quietly: no CancelledError reaches the scheduler
    assert not live.inflight and live.stopping
    assert "stop grace period over: cancelling 1 polls and sends" in caplog.text
    polled: list[Source] = []
    monkeypatch.setattr(daemon_mod, "poll_source", lambda ctx, s: polled.append(s))
    await live.poll_job(source)  # stopping: starts nothing
    assert polled == [] and not live.inflight


async def test_dispatch_polls_each_due_source_once_and_skips_the_rest(
    live: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher asks the store which sources are due; a source with a poll in flight is not started
    again, and one whose next poll is in the future waits."""
    reload_with(live, 'sources:\n  - {name: a, url: "http://127.0.0.1:9/a"}\n'
                      '  - {name: b, url: "http://127.0.0.1:9/b"}\n  - {name: c, url: "http://127.0.0.1:9/c"}\n')
    ctx = live.ctx
    later = ctx.clock() + timedelta(hours=1)
    state = store_sources.ensure(ctx.engine, "c", "http://127.0.0.1:9/c")
    store_sources.record_failure(ctx.engine, state.id, ctx.clock(), "timeout", "slow", later)
    release, both = asyncio.Event(), asyncio.Event()
    polled: list[str] = []

    async def held(ctx: object, source: Source) -> PollReport:
        polled.append(source.name)
        if len(polled) == 2:
            both.set()
        await release.wait()
        return PollReport(source=source.name)

    monkeypatch.setattr(daemon_mod, "poll_source", held)
    async with asyncio.timeout(10):
        await live.dispatch_job()
        await live.dispatch_job()  # a and b are still in flight: nothing new starts
        await both.wait()
        assert sorted(polled) == ["a", "b"] and live.polling == {"a", "b"}
        release.set()
        await asyncio.gather(*live.poll_tasks)
    assert live.polling == set() and sorted(polled) == ["a", "b"]


async def test_the_watchdog_is_withheld_while_the_database_hangs(
    live: Daemon, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """WATCHDOG=1 comes only from the working loop and only after the database answered: a hung database (a
    ping that never returns) means no ping, so systemd restarts the service; once it answers, pings resume."""
    live.notifier = Notifier(environ={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "200000"})
    answer, third_try = threading.Event(), threading.Event()
    tries: list[int] = []

    def hung_ping(engine: object) -> bool:
        tries.append(1)
        if len(tries) >= 3:
            third_try.set()
        return answer.wait(5)

    monkeypatch.setattr(daemon_mod.store_engine, "ping", hung_ping)
    notify.sock.setblocking(False)
    task = asyncio.create_task(live.watchdog())
    assert await asyncio.to_thread(third_try.wait, 5)  # three watchdog intervals with the database hung
    received = []
    with contextlib.suppress(BlockingIOError):
        while True:
            received.append(notify.sock.recv(4096).decode())
    assert not [m for m in received if "WATCHDOG=1" in m]
    assert "database does not answer; withholding the watchdog ping" in caplog.text
    answer.set()
    notify.sock.setblocking(True)
    msg = await asyncio.to_thread(notify.wait_for, "WATCHDOG=1", 5.0)
    assert "alerts pending" in msg
    live.stop_event.set()
    await asyncio.wait_for(task, 5)
