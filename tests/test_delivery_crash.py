"""D02 / D13: kill -9 the outbox worker (by its PID) at random moments while 300 alerts drain to a loopback
webhook, restart it, 15 times; then let a last worker finish.

The worker is a real child process (``tests/crash_worker.py drain``) running the real ``outbox.drain``
with the real clock and real Apprise (``json://`` to a WebhookReceiver in this process). Each send takes a
few milliseconds at the receiver, so most kills land between "the receiver has the message" and "the row
is marked sent": the ambiguous window P2.4 allows, at most one duplicate per kill.

The worker shortens ``monitor.outbox.LEASE`` from 5 min to 1 s (``--lease-seconds 1``): the rows a killed
worker held are claimed again by its successor after 1 s of real time instead of 5 min. That is the only
deviation from production; see crash_worker.py for why a shifted clock would be less honest.
"""

from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select as sql_select

from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import alerts
from tests.crash_worker import draft, sig, story
from tests.loopback import Reply, WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
ALERTS = 300
KILLS = 15
LEASE_SECONDS = 1
SEND_DELAY = 0.01  # seconds the receiver holds each request before answering
FOOTER = re.compile(r"^alert-id: (\S+)$", re.MULTILINE)


@dataclass
class Run:
    """What one crash run did, printed whole on failure (seed first: rerun with NM_CRASH_SEED=<seed>)."""

    seed: int
    kills: list[tuple[float, int]] = field(default_factory=list)  # (delay, requests received at the kill)
    children: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        delays = ", ".join(f"{d * 1000:.0f}ms@{n}" for d, n in self.kills)
        return f"seed={self.seed} children={self.children} {self.seconds:.1f}s kills=[{delays}]"


def seed_outbox(url: str, channel: str) -> list[str]:
    """A migrated database with ``ALERTS`` pending rows for ``channel``; returns their alert ids."""
    engine = store_engine.make_engine(url)
    try:
        store_engine.upgrade(engine)
        src = store_sources.ensure(engine, "s", "https://example.org/")
        now = datetime.now(UTC)
        for i in range(ALERTS):
            store_stories.insert_new(engine, src.id, story(f"k{i:03}"), sig(), None, [draft(channel, f"t{i:03}")], now)
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sql_select(alerts.c.alert_uid).order_by(alerts.c.id))]
    finally:
        engine.dispose()


def final_rows(url: str) -> dict[str, tuple[str, int]]:
    """alert id -> (status, attempts)."""
    engine = store_engine.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sql_select(alerts.c.alert_uid, alerts.c.status, alerts.c.attempts)).all()
    finally:
        engine.dispose()
    return {uid: (status, attempts) for uid, status, attempts in rows}


def received_ids(hook: WebhookReceiver) -> list[str]:
    """The alert id of every whole message the receiver got (a body cut short by a kill is no message)."""
    ids = []
    for request in list(hook.requests):
        message = request.json.get("message") if isinstance(request.json, dict) else None
        found = FOOTER.search(message or "")
        if found:
            ids.append(found[1])
    return ids


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", "drain", str(config), "--lease-seconds", str(LEASE_SECONDS)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_line(proc: subprocess.Popen[bytes], expected: str, within: float) -> str | None:
    """Read the child's stdout until a line starting with ``expected`` and return it (None: not within
    ``within`` seconds, or the child exited first)."""
    assert proc.stdout is not None
    stop = time.monotonic() + within
    while (left := stop - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            return None
        line = proc.stdout.readline()
        if not line:  # EOF: the child exited
            return None
        if line.decode().strip().startswith(expected):
            return line.decode().strip()
    return None


def reap(proc: subprocess.Popen[bytes]) -> int:
    """Kill the child if it still runs (by its PID: only the processes this test spawned), then wait."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    code = proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    return code


def crash_run(tmp_path: Path, url: str) -> tuple[Run, WebhookReceiver, list[str], Path]:
    seed = int(os.environ.get("NM_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    run = Run(seed)
    log = tmp_path / "workers.log"
    with WebhookReceiver(default=Reply(delay=SEND_DELAY)) as hook:
        ids = seed_outbox(url, "hook")
        config = tmp_path / "watchlist.yaml"
        config.write_text(f"database: '{url}'\nsettings: {{alerts_file: null}}\n"
                          f"channels: {{hook: 'json://127.0.0.1:{hook.port}/crash'}}\n", encoding="utf-8")
        started = time.monotonic()
        for _ in range(KILLS):
            hook.received.clear()  # set again by this worker's first request (the last one is dead and reaped)
            proc = start_worker(config, log)
            run.children += 1
            try:
                assert wait_for_line(proc, "ready", 30) is not None, f"worker never became ready ({run}); see {log}"
                # The random moment is counted from the worker's first send, so that even on a loaded machine
                # the kill lands while it drains, not while it starts.
                assert hook.received.wait(30), f"the worker sent nothing ({run}); see {log}"
                delay = rng.uniform(0.05, 0.25)  # ~15 kills x ~12 sends stays well inside 300 alerts
                time.sleep(delay)  # inherent: the random moment of the kill
                assert proc.poll() is None, f"the worker exited before its kill: the outbox drained too early ({run})"
                os.kill(proc.pid, signal.SIGKILL)
                run.kills.append((delay, len(hook.requests)))
            finally:
                reap(proc)
        last = start_worker(config, log)
        run.children += 1
        try:
            finished = wait_for_line(last, "done", 60) is not None
            if finished:
                last.wait(timeout=15)  # it closes its context and exits on its own
        finally:
            code = reap(last)
        run.seconds = time.monotonic() - started
        assert finished and code == 0, f"the last worker did not finish the outbox ({run}); see {log}"
    return run, hook, ids, log


def check(run: Run, hook: WebhookReceiver, ids: list[str], rows: dict[str, tuple[str, int]]) -> None:
    got = Counter(received_ids(hook))
    duplicated = {uid: n for uid, n in got.items() if n > 1}
    extra = sum(n - 1 for n in duplicated.values())
    attempts = Counter(a for _, a in rows.values())
    print(f"crash run: {run}; received {sum(got.values())} messages for {len(got)} ids, {extra} duplicates "
          f"on {len(duplicated)} ids; attempts per row {dict(sorted(attempts.items()))}")
    assert len(run.kills) == KILLS, run
    assert [uid for uid in ids if uid not in got] == [], f"alerts never received ({run})"
    assert set(got) <= set(ids), f"messages for unknown ids ({run})"
    assert extra <= KILLS, f"{extra} duplicates for {KILLS} kills ({run})"
    assert {uid: rows[uid] for uid in duplicated if rows[uid][1] <= 1} == {}, f"a duplicate with attempts 1 ({run})"
    assert Counter(status for status, _ in rows.values()) == {"sent": ALERTS}, run
    assert run.kills[-1][1] < ALERTS, f"the last kill came after the outbox was drained ({run})"


@pytest.mark.timeout(120)
def test_D02_kill_9_mid_drain_loses_nothing_and_duplicates_at_most_once_per_kill_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    run, hook, ids, _ = crash_run(tmp_path, url)
    check(run, hook, ids, final_rows(url))
    engine = store_engine.make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_D13_kill_9_mid_drain_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """The same on PostgreSQL (claims with FOR UPDATE SKIP LOCKED); skipped when no server can be started."""
    run, hook, ids, _ = crash_run(tmp_path, pg_url)
    check(run, hook, ids, final_rows(pg_url))
