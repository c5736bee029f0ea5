"""reliability.md 2.3 (N01-N20) and 2.4 (D01-D16), case by case, through the real outbox.

Each test drains real outbox rows (``outbox.drain`` with a FakeClock) to real Apprise pointed at loopback
receivers (a JSON webhook, Slack's plugin on loopback per recipe 4.4, aiosmtpd per recipe 4.3) and asserts
what the row says afterwards: status, attempts, next_attempt_at, last_error. Cases about the database run
real SQLite (and PostgreSQL when the throwaway cluster can start) in child processes killed by PID.

Covered elsewhere, so not repeated here: N05 (tests/test_outbox.py, the hung channel), N08-N11 (the Slack payload
tests of tests/test_deliver.py, tests/test_render.py's link filter, tests/test_golden.py's hostile feed), N17
(tests/test_deliver.py header injection, tests/test_render.py one-line titles), D02/D13 (tests/test_delivery_crash.py),
D03 (tests/test_store.py). D10 (power loss) cannot be produced on loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apprise.plugins.slack import NotifySlack
from sqlalchemy import Engine, event, func, insert, select, update

from monitor.config import Config, parse_text
from monitor.context import Context, compile_for, load_gazetteer, open_context
from monitor.errors import StoreError
from monitor.gazetteer import Gazetteer
from monitor.outbox import PERMANENT_ATTEMPTS, DrainReport, drain
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import alerts, clusters, stories
from tests.conftest import FakeClock
from tests.crash_worker import draft, sig, story
from tests.loopback import Reply, SmtpSink, WebhookReceiver
from tests.test_delivery_crash import reap, wait_for_line

ROOT = Path(__file__).resolve().parent.parent
SLACK_TOKEN = "TIiajkdnlazkcOXrIdevi7"
SLACK_URL = f"slack://T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}/"
FOOTER = re.compile(r"alert-id: (nm-[0-9a-f]{20})")
BASE = timedelta(seconds=30)  # Settings().retry_base


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """Apprise's real Slack plugin, its webhook host pointed at a loopback receiver (recipe 4.4)."""
    with WebhookReceiver() as receiver:
        monkeypatch.setattr(NotifySlack, "webhook_url", f"{receiver.url}/services")  # test-only
        # apprise spaces one Slack plugin's posts 1.2 s apart (Slack's rate); these tests send a few in a row
        monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def config(tmp_path: Path, channels: dict[str, str], settings: str = "") -> Config:
    body = ", ".join(f"{name}: '{url}'" for name, url in channels.items())
    return parse_text(f"database: sqlite:///{tmp_path}/c.db\nsettings: {{alerts_file: null{settings}}}\n"
                      f"channels: {{{body}}}\n", "t.yaml", environ={})


@asynccontextmanager
async def context(cfg: Config, clock: FakeClock, gazetteer: Gazetteer) -> AsyncIterator[Context]:
    async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), clock=clock, gazetteer=gazetteer,
                            database_url=cfg.database) as ctx:
        yield ctx


def queue(engine: Engine, now: datetime, *channels: str, **changes: Any) -> list[int]:
    """One story per entry of ``channels`` with one alert for it; returns the outbox row ids in order."""
    src = store_sources.ensure(engine, "s", "https://example.org/")
    with engine.connect() as conn:
        start = conn.execute(select(func.count()).select_from(stories)).scalar() or 0
    ids = []
    for i, channel in enumerate(channels, start):
        d = draft(channel, f"t{i}")
        d = dataclasses.replace(d, alert=dataclasses.replace(d.alert, **changes))
        store_stories.insert_new(engine, src.id, story(f"k{i}"), sig(), None, [d], now)
        with engine.connect() as conn:
            ids.append(conn.execute(select(func.max(alerts.c.id))).scalar())
    return ids


def row(engine: Engine, row_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(alerts).where(alerts.c.id == row_id)).mappings().one()
    out = dict(found)
    for key in ("next_attempt_at", "lease_until", "sent_at", "created_at"):
        if out[key] is not None:
            out[key] = out[key].replace(tzinfo=UTC)
    return out


def state(engine: Engine, row_id: int) -> tuple[str, int]:
    r = row(engine, row_id)
    return r["status"], r["attempts"]


def slack_ids(receiver: WebhookReceiver) -> list[str]:
    """The alert id of each Slack message (wherever the payload layout puts the footer)."""
    return [FOOTER.findall(r.body.decode())[0] for r in receiver.requests]


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON payload."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# --- 2.3 Notification side ----------------------------------------------------------------------------------


async def test_N01_slack_500_stays_pending_and_backs_off_exponentially(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver) -> None:
    slack.default = Reply(500, b"rollup_error")
    async with context(config(tmp_path, {"desk": SLACK_URL}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "desk")
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        assert "error=500" in r["last_error"]
        clock.advance(seconds=31)
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 2, clock() + 2 * BASE)
        clock.advance(seconds=61)
        slack.default = Reply()
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["last_error"], r["sent_at"]) == ("sent", 3, None, clock())
    assert len(slack.requests) == 3


async def test_N02_slack_429_backs_off_at_least_30s_even_with_a_short_retry_base(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver) -> None:
    slack.script(Reply(429, b"rate_limited", (("Retry-After", "30"),)))
    cfg = config(tmp_path, {"desk": SLACK_URL}, ", retry_base: 1s")
    async with context(cfg, clock, gazetteer) as ctx:
        first, second = queue(ctx.engine, clock(), "desk", "desk")
        await drain(ctx)
        assert len(slack.requests) == 1  # the channel pauses: the second row is released, not sent
        assert [state(ctx.engine, i) for i in (first, second)] == [("pending", 1), ("pending", 0)]
        assert "error=429" in row(ctx.engine, first)["last_error"]
        for rid in (first, second):
            assert row(ctx.engine, rid)["next_attempt_at"] >= clock() + timedelta(seconds=30)


async def test_N03_slack_200_not_ok_is_retried_and_its_duplicate_shows_as_attempts_2(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver) -> None:
    slack.script(Reply(200, b"invalid_payload"))  # Slack may well have posted it (apprise#195)
    async with context(config(tmp_path, {"desk": SLACK_URL}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "desk")
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        assert "error=200" in r["last_error"]
        clock.advance(seconds=31)
        await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 2)
        uid = row(ctx.engine, rid)["alert_uid"]
    assert slack_ids(slack) == [uid, uid]  # the possible duplicate carries the same id


async def test_N04_a_revoked_slack_webhook_holds_the_channel_and_tells_ops(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver, hook: WebhookReceiver) -> None:
    slack.default = Reply(404, b"no_service")
    cfg = config(tmp_path, {"desk": SLACK_URL, "ops": f"json://127.0.0.1:{hook.port}/ops"}, ", ops_channel: ops")
    async with context(cfg, clock, gazetteer) as ctx:
        ids = queue(ctx.engine, clock(), *["desk"] * 5)
        await drain(ctx)
        assert len(slack.requests) == 3  # three consecutive permanent failures, then the channel is broken
        assert [state(ctx.engine, i)[1] for i in ids[:3]] == [1, 1, 1]
        for rid in ids[3:]:
            status, attempts = state(ctx.engine, rid)
            assert status in ("pending", "held") and attempts == 0
        with ctx.engine.connect() as conn:
            notices = conn.execute(select(alerts.c.channel).where(alerts.c.kind == "notice")).scalars().all()
        assert notices == ["ops"]
        clock.advance(minutes=5)
        await drain(ctx)
        assert len(slack.requests) == 3  # still held: nothing more goes to the revoked webhook
        assert [state(ctx.engine, i)[1] for i in ids[3:]] == [0, 0]


async def test_N06_a_connection_closed_without_a_response_is_retried(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, hook: WebhookReceiver) -> None:
    hook.script(Reply(drop=True))
    async with context(config(tmp_path, {"hook": f"json://127.0.0.1:{hook.port}/h"}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "hook")
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        assert r["last_error"]
        clock.advance(seconds=31)
        await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 2)
    assert len(hook.requests) == 2


async def test_N07_the_outbox_owns_retries_one_request_per_attempt(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, hook: WebhookReceiver) -> None:
    hook.default = Reply(500, b"no")
    async with context(config(tmp_path, {"hook": f"json://127.0.0.1:{hook.port}/h"}), clock, gazetteer) as ctx:
        assert "retry=0" in ctx.channels["hook"].url
        [rid] = queue(ctx.engine, clock(), "hook")
        for n in range(1, 4):
            await drain(ctx)
            assert (len(hook.requests), state(ctx.engine, rid)) == (n, ("pending", n))  # never multiplied
            clock.advance(hours=1)


async def test_N12_smtp_one_message_per_alert_carrying_its_stable_id(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, sink: SmtpSink) -> None:
    async with context(config(tmp_path, {"mail": sink.url(extra="cto=2&rto=2")}), clock, gazetteer) as ctx:
        ids = queue(ctx.engine, clock(), "mail", "mail", "mail")
        await drain(ctx)
        clock.advance(minutes=10)
        await drain(ctx)
        assert [state(ctx.engine, i) for i in ids] == [("sent", 1)] * 3
        uids = [row(ctx.engine, i)["alert_uid"] for i in ids]
    assert sorted(m.message["X-Alert-Id"] for m in sink.messages) == sorted(uids)
    assert len({m.message["Message-ID"] for m in sink.messages}) == 3


async def test_N13_smtp_451_on_data_is_retried_with_backoff_under_the_same_id(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, sink: SmtpSink) -> None:
    sink.fail_data()
    async with context(config(tmp_path, {"mail": sink.url(extra="cto=2&rto=2")}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "mail")
        await drain(ctx)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        assert r["last_error"] and sink.messages == []
        sink.fail_data(None)
        clock.advance(seconds=31)
        await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 2)
        uid = row(ctx.engine, rid)["alert_uid"]
    assert [m.message["X-Alert-Id"] for m in sink.messages] == [uid]


async def test_N14_smtp_550_on_rcpt_is_permanent_and_breaks_the_channel_without_losing_the_alert(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, sink: SmtpSink) -> None:
    """The reply code is read from apprise's per-send capture; three permanent refusals in a row mean the
    channel is misconfigured (the issue: an SMTP 550 marks the channel broken and holds its rows)."""
    sink.fail_rcpt()
    async with context(config(tmp_path, {"mail": sink.url(extra="cto=2&rto=2")}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "mail")
        for _ in range(PERMANENT_ATTEMPTS):
            await drain(ctx)
            clock.advance(hours=1)
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"]) == ("held", PERMANENT_ATTEMPTS)  # kept, not dead, no budget burnt
        assert "SMTP reply 550" in r["last_error"]
    assert sink.messages == []


async def test_N15_smtp_server_down_is_retried_then_delivered(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, sink: SmtpSink) -> None:
    sink.stop()
    async with context(config(tmp_path, {"mail": sink.url(extra="cto=2&rto=2")}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "mail")
        started = time.monotonic()
        await drain(ctx)
        assert time.monotonic() - started < 3
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        assert r["last_error"]
        with SmtpSink(port=sink.port) as back:  # aiosmtpd controllers cannot be restarted
            clock.advance(seconds=31)
            await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 2)
    assert len(back.messages) == 1


async def test_N16_a_silent_smtp_server_costs_one_bounded_timeout(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says 220
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"mailto://127.0.0.1:{port}?from=alerts@example.com&to=desk@example.com&mode=insecure&cto=1&rto=1"
        async with context(config(tmp_path, {"mail": url}), clock, gazetteer) as ctx:
            first, second = queue(ctx.engine, clock(), "mail", "mail")
            started = time.monotonic()
            await drain(ctx)
            elapsed = time.monotonic() - started
            assert [state(ctx.engine, i) for i in (first, second)] == [("pending", 1), ("pending", 0)]
            assert row(ctx.engine, first)["next_attempt_at"] == clock() + BASE
    assert elapsed < 4, f"one silent server took {elapsed:.1f}s"


async def test_N18_the_slack_token_is_in_no_log_line_and_no_stored_error(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack.script(Reply(404, b"no_service"), Reply(500, b"rollup_error"))
    async with context(config(tmp_path, {"desk": SLACK_URL}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "desk")
        for _ in range(3):
            await drain(ctx)
            r = row(ctx.engine, rid)
            assert SLACK_TOKEN not in (r["last_error"] or "")
            clock.advance(hours=1)
        assert state(ctx.engine, rid) == ("sent", 3)
    assert "alert retry" in caplog.text  # the capture saw the outbox's own records
    # pytest also hooks apprise's non-propagating logger; its DEBUG lines (token included) reach no handler of
    # ours: only its warnings are forwarded (monitor.deliver.setup_logging_guards).
    reach_us = [r for r in caplog.records if not r.name.startswith("apprise") or r.levelno >= logging.WARNING]
    assert not [r for r in reach_us if SLACK_TOKEN in r.getMessage()]


async def test_N19_one_row_per_channel_so_a_failing_target_never_fails_the_other(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver, sink: SmtpSink) -> None:
    slack.script(Reply(500, b"rollup_error"))
    cfg = config(tmp_path, {"desk": SLACK_URL, "mail": sink.url(extra="cto=2&rto=2")})
    async with context(cfg, clock, gazetteer) as ctx:
        src = store_sources.ensure(ctx.engine, "s", "https://example.org/")
        _, _, created = store_stories.insert_new(ctx.engine, src.id, story("k"), sig(), None,
                                                 [draft("desk", "t"), draft("mail", "t")], clock())
        assert created == 2
        with ctx.engine.connect() as conn:
            desk, mail = conn.execute(select(alerts.c.id).order_by(alerts.c.id)).scalars().all()
        await drain(ctx)
        assert (state(ctx.engine, desk), state(ctx.engine, mail)) == (("pending", 1), ("sent", 1))
        clock.advance(seconds=31)
        await drain(ctx)
        assert (state(ctx.engine, desk), state(ctx.engine, mail)) == (("sent", 2), ("sent", 1))
    assert len(sink.messages) == 1 and len(slack.requests) == 2  # the email is not sent again


async def test_N20_over_long_text_goes_out_as_one_capped_message(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, slack: WebhookReceiver) -> None:
    async with context(config(tmp_path, {"desk": SLACK_URL}), clock, gazetteer) as ctx:
        [rid] = queue(ctx.engine, clock(), "desk", title="Headline " * 150, excerpt="Sentence. " * 4000)
        await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 1)
        uid = row(ctx.engine, rid)["alert_uid"]
    [request] = slack.requests  # one message, not split by apprise (body_maxlen 35,000)
    assert max(len(text) for text in strings(request.json)) <= 3000  # Slack's limit for one text field
    assert len(request.body) < 8000
    assert slack_ids(slack) == [uid]  # the footer survived the cap


# --- 2.4 Delivery guarantees and durability -----------------------------------------------------------------


def worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.crash_worker", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def output(proc: subprocess.Popen[bytes], within: float = 60) -> tuple[int, list[str]]:
    """Wait for the child (bounded; killed by PID past ``within``) and return its code and whole lines."""
    try:
        out, _ = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    text = out.decode()
    lines = text.split("\n")[:-1]  # a line cut by SIGKILL has no newline: it was never acknowledged
    return proc.returncode, lines


def migrated(url: str) -> Engine:
    engine = store_engine.make_engine(url)
    store_engine.upgrade(engine)
    return engine


def integrity(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())


@pytest.mark.timeout(60)
def test_D01_kill_9_during_commits_loses_no_acknowledged_story_or_alert(tmp_path: Path) -> None:
    """Recipe 4.6 writer, on the project's engine (WAL, synchronous=NORMAL) and ``insert_new``; 5 rounds
    here (the catalogue measured 30) to keep the file fast."""
    url = f"sqlite:///{tmp_path}/d01.db"
    engine = migrated(url)
    seed = int(os.environ.get("NM_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    acknowledged: list[str] = []
    try:
        for _ in range(5):
            proc = worker("commit", url)
            try:
                first = wait_for_line(proc, "", 30)
                assert first is not None, f"seed={seed}: the writer never committed"
                acknowledged.append(first)
                time.sleep(rng.uniform(0.05, 0.4))  # inherent: the random moment of the kill
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                code, lines = output(proc)
                reap(proc)
            assert code == -signal.SIGKILL, f"seed={seed}: the writer ended before its kill ({lines[-1:]})"
            acknowledged += lines
        with engine.connect() as conn:
            keys = set(conn.execute(select(stories.c.key)).scalars())
            pairs = conn.execute(select(func.count()).select_from(stories).join(
                alerts, alerts.c.story_id == stories.c.id)).scalar()
            story_count = conn.execute(select(func.count()).select_from(stories)).scalar()
        print(f"D01 seed={seed}: {len(acknowledged)} acknowledged commits over 5 kills, {len(keys)} stored")
        assert len(acknowledged) > 50
        assert [k for k in acknowledged if k not in keys] == [], f"seed={seed}: acknowledged commits lost"
        assert pairs == story_count  # every stored story has its alert: no half-written poll
        assert integrity(engine) == "ok"
    finally:
        engine.dispose()


@pytest.mark.timeout(60)
async def test_D04_kill_after_the_remote_accepted_resends_once_under_the_same_id(
        tmp_path: Path, gazetteer: Gazetteer, hook: WebhookReceiver) -> None:
    hook.script(Reply(delay=30))  # holds the first message: the worker dies before it hears "200"
    cfg_path = tmp_path / "watchlist.yaml"
    cfg_path.write_text(f"database: sqlite:///{tmp_path}/c.db\nsettings: {{alerts_file: null}}\n"
                        f"channels: {{hook: 'json://127.0.0.1:{hook.port}/h'}}\n", encoding="utf-8")
    engine = migrated(f"sqlite:///{tmp_path}/c.db")
    try:
        [rid] = queue(engine, datetime.now(UTC), "hook")
    finally:
        engine.dispose()
    proc = worker("drain", str(cfg_path))  # the real 5-minute lease and the real clock
    try:
        received = await asyncio.to_thread(hook.received.wait, 30)
        assert received, "the worker never sent"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        output(proc)
        reap(proc)
    cfg = parse_text(cfg_path.read_text(encoding="utf-8"), "t.yaml", environ={})
    clock = FakeClock(datetime.now(UTC))
    async with context(cfg, clock, gazetteer) as ctx:
        r = row(ctx.engine, rid)
        assert (r["status"], r["attempts"]) == ("sending", 1)
        assert await drain(ctx) == DrainReport()  # leased: a restart does not resend at once
        clock.advance(minutes=6)  # the dead worker's lease has expired
        await drain(ctx)
        assert state(ctx.engine, rid) == ("sent", 2)  # the duplicate is visible as attempts 2
        uid = row(ctx.engine, rid)["alert_uid"]
    ids = [FOOTER.findall(r.json["message"])[0] for r in hook.requests]
    assert ids == [uid, uid]


def test_D05_a_write_transaction_waits_for_the_lock_instead_of_failing_on_a_stale_snapshot(tmp_path: Path) -> None:
    """A reads then writes in one transaction while B commits a write in between: with deferred BEGIN, A's
    upgrade fails at once with "database is locked"; the engine's BEGIN IMMEDIATE makes B wait instead."""
    engine = migrated(f"sqlite:///{tmp_path}/d05.db")
    try:
        first, second = queue(engine, datetime(2022, 9, 11, tzinfo=UTC), "hook", "hook")
        a_has_read = threading.Event()
        b_started = threading.Event()
        errors: list[BaseException] = []
        order: list[str] = []

        def b() -> None:
            assert a_has_read.wait(10)
            b_started.set()
            try:
                store_alerts.mark_sent(engine, second, datetime(2022, 9, 11, tzinfo=UTC))
                order.append("B")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=b)
        thread.start()
        try:
            with engine.begin() as conn:
                pending = conn.execute(select(func.count()).where(alerts.c.status == "pending")).scalar()
                a_has_read.set()
                assert b_started.wait(10)
                time.sleep(0.3)  # inherent: B tries to commit its write now, between A's read and A's write
                conn.execute(update(alerts).where(alerts.c.id == first).values(last_error=f"saw {pending}"))
            order.append("A")
        finally:
            thread.join(20)
        assert errors == []  # A's write did not fail on a stale snapshot (deferred BEGIN fails it at once)
        assert order == ["A", "B"]  # B queued behind A's lock (busy timeout) instead of committing in between
        assert state(engine, second) == ("sent", 0) and row(engine, first)["last_error"] == "saw 2"
    finally:
        engine.dispose()


async def test_D06_a_lock_held_past_the_busy_timeout_fails_the_drain_retryably_and_spends_no_attempt(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, hook: WebhookReceiver) -> None:
    async with context(config(tmp_path, {"hook": f"json://127.0.0.1:{hook.port}/h"}), clock, gazetteer) as ctx:
        ids = queue(ctx.engine, clock(), "hook", "hook")

        @event.listens_for(ctx.engine, "connect")
        def short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:  # after the engine's own 15 s
            dbapi_conn.execute("PRAGMA busy_timeout=200")

        ctx.engine.dispose()  # new connections get the short timeout
        other = sqlite3.connect(str(tmp_path / "c.db"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock for longer than the busy timeout
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked"):
                await drain(ctx)
            elapsed = time.monotonic() - started
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert 0.15 <= elapsed < 5
        assert [state(ctx.engine, i) for i in ids] == [("pending", 0)] * 2  # no attempt spent, nothing leased
        assert hook.requests == []
        report = await drain(ctx)  # the next run of the job
        assert report.sent == 2 and [state(ctx.engine, i) for i in ids] == [("sent", 1)] * 2


def bulk_rows(engine: Engine, n: int, channel: str) -> None:
    """``n`` pending outbox rows, inserted in one statement (notices: no story needed)."""
    at = datetime(2022, 9, 11)
    payload = json.dumps({k: v for k, v in dataclasses.asdict(draft(channel, "t").alert).items() if k != "alert_id"})
    with engine.begin() as conn:
        conn.execute(insert(alerts), [
            {"alert_uid": f"nm-bulk-{i:05}", "cluster_id": None, "story_id": None, "watch": "w", "channel": channel,
             "kind": "notice", "version_ref": 0, "payload": payload, "hits": "[]", "status": "pending", "attempts": 0,
             "next_attempt_at": at, "created_at": at} for i in range(n)])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path}/db.db"


@pytest.mark.timeout(60)
def test_D07_D11_D12_concurrent_workers_claim_every_row_exactly_once(db_url: str) -> None:
    """D07: 3 processes on SQLite (BEGIN IMMEDIATE). D11/D12: 4 processes on PostgreSQL, whose claim must
    lock (unlocked claims gave 725 extra sends) and skip locked rows (plain FOR UPDATE serialises)."""
    workers = 3 if db_url.startswith("sqlite") else 4
    engine = migrated(db_url)
    try:
        bulk_rows(engine, 400, "hook")
        procs = [worker("claim", db_url) for _ in range(workers)]
        results = [output(p) for p in procs]
        for p in procs:
            reap(p)
        claimed = [line.split()[1] for _, lines in results for line in lines if line.startswith("claimed ")]
        assert [(code, [x for x in lines if not x.startswith("claimed ")]) for code, lines in results] == [
            (0, [])] * workers  # no "database is locked", no other error
        assert len(claimed) == 400 and len(set(claimed)) == 400
        print("claims per worker:", [sum(x.startswith("claimed ") for x in lines) for _, lines in results])
        assert store_alerts.counts(engine) == {"sent": 400}
        if engine.dialect.name == "postgresql":
            statements: list[str] = []
            event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            assert store_alerts.claim_due(engine, datetime.now(UTC), lease=timedelta(minutes=5)) == []
            [claim] = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
            assert "FOR UPDATE SKIP LOCKED" in claim
    finally:
        engine.dispose()


@pytest.mark.timeout(60)
def test_D08_disk_full_fails_one_poll_whole_and_writes_resume_when_space_returns(tmp_path: Path) -> None:
    """RLIMIT_FSIZE as the disk-full stand-in (A.4: SQLite reports "disk I/O error"), in a child process."""
    url = f"sqlite:///{tmp_path}/d08.db"
    engine = migrated(url)
    engine.dispose()
    proc = worker("fsize", url, str(2**20))
    code, lines = output(proc)
    reap(proc)
    print("\n".join(lines[-3:]))
    assert code == 0, lines[-3:]
    ok = [line.split()[1] for line in lines if line.startswith("ok ")]
    [failed] = [line for line in lines if line.startswith("failed ")]
    assert lines[-1] == "recovered after"
    assert len(ok) >= 3 and re.search(r"disk I/O error|database or disk is full", failed), failed
    failed_key = failed.split()[1]
    engine = store_engine.make_engine(url)
    try:
        with engine.connect() as conn:
            keys = set(conn.execute(select(stories.c.key)).scalars())
            with_alert = set(conn.execute(select(stories.c.key).join(alerts, alerts.c.story_id == stories.c.id))
                             .scalars())
        assert set(ok) | {"after"} <= keys
        assert keys == with_alert  # no story stored without its alert: the failed poll left nothing half done
        assert failed_key not in keys or failed_key in with_alert
        assert integrity(engine) == "ok"
    finally:
        engine.dispose()


async def test_D09_an_unusable_database_path_fails_at_start_with_a_clear_message(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer) -> None:
    """The missing-directory half (a directory that cannot be created). The read-only half (chmod 444) is not
    tested: the suite may run as root, whom file modes do not stop."""
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    cfg = parse_text(f"database: sqlite:///{tmp_path}/blocker/state/c.db\nsettings: {{alerts_file: null}}\n",
                     "t.yaml", environ={})
    with pytest.raises(StoreError, match=r"cannot create the folder of the SQLite database .*blocker/state/c\.db"):
        async with context(cfg, clock, gazetteer):
            pass


@pytest.mark.timeout(60)
def test_D14_four_instances_inserting_the_same_alerts_create_each_once(db_url: str) -> None:
    engine = migrated(db_url)
    try:
        at = datetime(2022, 9, 11)
        with engine.begin() as conn:
            conn.execute(insert(clusters), [{"first_seen_at": at, "last_seen_at": at, "member_count": 1}] * 200)
        procs = [worker("insert", db_url, str(n), "200") for n in range(4)]
        results = [output(p) for p in procs]
        for p in procs:
            reap(p)
        assert [code for code, _ in results] == [0] * 4, results
        created = [int(lines[-1].split()[1]) for _, lines in results]
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(alerts)).scalar()
            story_rows = conn.execute(select(func.count()).select_from(stories)).scalar()
        assert (sum(created), rows, story_rows) == (200, 200, 800)
    finally:
        engine.dispose()


FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Front</title><link>https://example.org/</link><description>d</description>
<item><title>Counteroffensive retakes the river crossing</title><link>https://example.org/a/1</link><guid>g1</guid>
<pubDate>Sun, 11 Sep 2022 15:00:00 GMT</pubDate>
<description>Ukrainian forces pressed the counteroffensive and retook the crossing.</description></item>
</channel></rss>
"""


async def two_instances_poll_one_feed(tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, *,
                                      leased: bool = False) -> tuple[int, int]:
    """Two daemons (two contexts on one database) poll the same feed at the same moment; returns (fetches of
    the feed, alert rows). ``leased``: each runs its dispatcher (which leases what is due) instead of calling
    ``poll_source`` straight away."""
    from monitor.daemon import Daemon
    from monitor.pipeline import poll_source
    from monitor.systemd import Notifier

    feed = Reply(body=FEED, headers=(("Content-Type", "application/rss+xml"),), delay=0.3)
    with WebhookReceiver(default=feed) as server:
        cfg = parse_text(f"database: sqlite:///{tmp_path}/d15.db\nsettings: {{alerts_file: null}}\n"
                         f"sources: [{{name: front, url: '{server.url}/feed.xml'}}]\n"
                         "watches: [{name: push, any: [counteroffensive]}]\n", "t.yaml", environ={})
        async with context(cfg, clock, gazetteer) as first, context(cfg, clock, gazetteer) as second:
            source = cfg.sources[0]
            if leased:
                daemons = [Daemon(ctx=c, config_path=tmp_path / "d15.yaml", gazetteer=gazetteer,
                                  notifier=Notifier(environ={})) for c in (first, second)]
                await asyncio.gather(*(d.dispatch_job() for d in daemons))
                await asyncio.gather(*(t for d in daemons for t in d.poll_tasks))
            else:
                await asyncio.gather(poll_source(first, source), poll_source(second, source))
            fetches = len(server.requests)
            with first.engine.connect() as conn:
                rows = conn.execute(select(func.count()).select_from(alerts)).scalar() or 0
    return fetches, rows


async def test_D15_two_instances_polling_one_feed_queue_its_alert_once(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer) -> None:
    _, rows = await two_instances_poll_one_feed(tmp_path, clock, gazetteer)
    assert rows == 1  # P2.1 holds even when both fetched


async def test_D15_two_instances_fetch_a_due_feed_once(tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer) -> None:
    """Issue 7: the dispatcher leases a due source (sources.lease_owner/lease_until), so the other instance,
    finding it due at the same moment, skips it."""
    fetches, rows = await two_instances_poll_one_feed(tmp_path, clock, gazetteer, leased=True)
    assert (fetches, rows) == (1, 1)


async def test_D16_a_poison_alert_is_dead_lettered_and_later_alerts_still_go_out(
        tmp_path: Path, clock: FakeClock, gazetteer: Gazetteer, hook: WebhookReceiver) -> None:
    async with context(config(tmp_path, {"hook": f"json://127.0.0.1:{hook.port}/h"}), clock, gazetteer) as ctx:
        [poison] = queue(ctx.engine, clock(), "hook", title=None)  # stored fine; rendering it always raises
        later = queue(ctx.engine, clock(), "hook", "hook")
        report = await drain(ctx)
        assert (report.sent, report.retried) == (2, 1)  # no head-of-line blocking
        assert [state(ctx.engine, i) for i in later] == [("sent", 1)] * 2
        r = row(ctx.engine, poison)
        assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, clock() + BASE)
        for _ in range(PERMANENT_ATTEMPTS - 1):
            clock.advance(hours=1)
            await drain(ctx)
        r = row(ctx.engine, poison)
        assert (r["status"], r["attempts"], r["lease_until"]) == ("dead", PERMANENT_ATTEMPTS, None)
        assert re.fullmatch(r"render_error: \w+Error", r["last_error"]), r["last_error"]
        clock.advance(days=1)
        assert (await drain(ctx)).dead == 0  # dead stays dead, visible
        assert state(ctx.engine, poison) == ("dead", PERMANENT_ATTEMPTS)
    assert len(hook.requests) == 2
