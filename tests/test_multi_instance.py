"""Several instances on one database (issue 7): source leases, cross-instance dedup, idempotent alerts.

PostgreSQL: three ``news-monitor run`` processes poll 200 loopback feeds that grow new matching items; one is
killed with SIGKILL mid-run and restarted. Every alert is delivered (at most one twice per kill), each feed is
fetched about once per interval (not once per instance), and the dead instance's feeds are polled again once
its leases lapse. SQLite: ``once`` beside a running ``run`` on one file neither corrupts it nor sends twice.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from monitor.store.schema import alerts, stories
from tests.loopback import WebhookReceiver
from tests.test_delivery_crash import reap, received_ids

ROOT = Path(__file__).resolve().parent.parent
FEEDS = 200
INTERVAL = 30.0  # settings.interval (adaptive off)
ITEM_EVERY = 30.0  # each feed grows a new item this often (offset per feed)
RUN_FOR = 105.0  # seconds from the first start to SIGTERM
KILL_AT = 25.0
FETCH_TIMEOUT = 5.0
LEASE = FETCH_TIMEOUT * 2 + INTERVAL  # daemon.poll_lease with these settings
WORDS = tuple(f"{a}{b}{c}" for a in ("ka", "lo", "mi", "ne", "pu", "ri", "so", "tu") for b in "aeiou" for c in "lmnrst")


@dataclass
class Farm:
    """Feeds ``/feed/<i>.xml`` whose item ``k`` appears at ``start + (i % 15) * 2 + k * ITEM_EVERY``; counts
    requests per feed (with their times) and the items every 200 response carried."""

    start: float = field(default_factory=time.monotonic)
    hits: dict[int, list[float]] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def items(self, i: int, now: float) -> int:
        return 1 + max(0, int((now - self.start - (i % 15) * 2) // ITEM_EVERY))

    def body(self, i: int) -> bytes:
        now = time.monotonic()
        count = self.items(i, now)
        keep = range(max(0, count - 10), count)
        with self.lock:
            self.hits.setdefault(i, []).append(now)
            self.served.update(f"f{i}-{k}" for k in keep)
        entries = "".join(item(i, k) for k in reversed(keep))
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {i}</title>'
                f"<link>http://127.0.0.1/{i}</link><description>farm</description>{entries}</channel></rss>").encode()


def item(i: int, k: int) -> str:
    rng = random.Random(i * 100_003 + k)
    title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
    text = " ".join(rng.choice(WORDS) for _ in range(50))
    return (f"<item><title>{title} counteroffensive {i}-{k}</title><guid isPermaLink='false'>f{i}-{k}</guid>"
            f"<pubDate>{formatdate(usegmt=True)}</pubDate><description>The counteroffensive: {text}</description>"
            "</item>")


@pytest.fixture
def farm() -> Iterator[tuple[Farm, str]]:
    state = Farm()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            name = self.path.rsplit("/", 1)[-1].removesuffix(".xml")
            if not self.path.startswith("/feed/") or not name.isdigit():
                self.send_error(404)
                return
            body = state.body(int(name))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(path: Path, database: str, feeds: str, hook: int, count: int = FEEDS) -> Path:
    sources = "".join(f"  - {{name: f{i}, url: '{feeds}/feed/{i}.xml'}}\n" for i in range(count))
    path.write_text(
        f"database: '{database}'\n"
        f"settings: {{alerts_file: null, interval: {INTERVAL:g}s, adaptive: false, jitter: 2s, "
        f"fetch_timeout: {FETCH_TIMEOUT:g}s, outbox_interval: 2s, max_polls: 16}}\n"
        f"channels: {{hook: 'json://127.0.0.1:{hook}/alerts'}}\n"
        f"sources:\n{sources}"
        "watches: [{name: push, any: [counteroffensive], notify: [hook]}]\n", encoding="utf-8")
    return path


def start(config: Path, log: Path, command: str = "run") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), command], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)


def wait_ready(log: Path, runs: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while log.read_text(encoding="utf-8", errors="replace").count("running sources=") < runs:
        assert time.monotonic() < deadline, f"the daemons did not start; see {log}"
        time.sleep(0.2)  # inherent: waiting for other processes


def stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=40))
        except subprocess.TimeoutExpired:
            codes.append(reap(proc))
    return codes


def outbox(database: str) -> tuple[dict[str, str], set[str]]:
    """(alert uid -> status of every alert row, keys of the stored stories)."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            rows = {uid: status for uid, status in conn.execute(select(alerts.c.alert_uid, alerts.c.status))}
            keys = set(conn.execute(select(stories.c.key)).scalars())
    finally:
        engine.dispose()
    return rows, keys


@pytest.mark.timeout(180)
def test_three_instances_share_the_feeds_and_survive_a_kill(
        tmp_path: Path, pg_url: str, farm: tuple[Farm, str]) -> None:
    state, feeds = farm
    log = tmp_path / "daemons.log"
    with WebhookReceiver() as hook:
        config = write_config(tmp_path / "watchlist.yaml", pg_url, feeds, hook.port)
        first = start(config, log)
        wait_ready(log, 1)  # one migrates the empty database; the others find it current
        procs = [first, start(config, log), start(config, log)]
        try:
            wait_ready(log, 3)
            time.sleep(max(0.0, state.start + KILL_AT - time.monotonic()))  # inherent: mid-run
            os.kill(procs[0].pid, signal.SIGKILL)
            reap(procs[0])
            killed_at = time.monotonic()
            procs[0] = start(config, log)
            time.sleep(max(0.0, state.start + RUN_FOR - time.monotonic()))
        finally:
            stopped_at = time.monotonic()
            codes = stop(procs)
        time.sleep(1.0)  # inherent: the last sends reach the receiver thread
        got = Counter(received_ids(hook))
    assert codes[1:] == [0, 0] and codes[0] == 0, f"exit codes {codes}; see {log}"
    rows, keys = outbox(pg_url)
    served = {f"guid:{k}" for k in state.served}
    missing_stories = served - keys
    assert not missing_stories, f"{len(missing_stories)} served items never stored, e.g. {sorted(missing_stories)[:3]}"
    # Rows the killed instance had claimed stay leased for the outbox lease (5 min), longer than this run.
    stuck = {uid for uid, status in rows.items() if status == "sending"}
    undelivered = set(rows) - set(got) - stuck
    duplicates = sum(n - 1 for n in got.values() if n > 1)
    duration = stopped_at - state.start
    per_feed = [len(state.hits.get(i, [])) for i in range(FEEDS)]
    last_gap = max(stopped_at - max(state.hits.get(i, [0.0])) for i in range(FEEDS))
    worst_gap = max(max(b - a for a, b in zip(h, h[1:], strict=False)) for h in state.hits.values() if len(h) > 1)
    print(f"\nstories={len(keys)} served={len(served)} alerts expected={len(rows)} delivered={len(set(got))} "
          f"stuck_with_dead={len(stuck)} duplicates={duplicates} requests/feed min={min(per_feed)} "
          f"max={max(per_feed)} mean={sum(per_feed) / FEEDS:.2f} duration={duration:.0f}s "
          f"worst_gap={worst_gap:.1f}s last_poll_before_stop<={last_gap:.1f}s killed_at={killed_at - state.start:.0f}s")
    assert len(rows) >= len(served)  # one alert per new story (every item matches, none are copies)
    assert not undelivered, f"{len(undelivered)} alerts never delivered"
    assert len(stuck) <= 20, "more rows stuck than one drain claims"
    assert duplicates <= 1
    assert max(per_feed) <= duration / INTERVAL * 1.5 + 2, per_feed
    assert min(per_feed) >= 2
    # After the dead instance's leases lapsed, every feed was polled within the last interval.
    assert killed_at + LEASE + INTERVAL < stopped_at
    assert last_gap <= INTERVAL + 2 + 5 + 5, "a feed was left unpolled"
    assert worst_gap <= INTERVAL + LEASE + 10


@pytest.mark.timeout(120)
def test_once_beside_a_running_daemon_on_one_sqlite_file(tmp_path: Path, farm: tuple[Farm, str]) -> None:
    state, feeds = farm
    log = tmp_path / "daemons.log"
    db = tmp_path / "var" / "news.db"
    with WebhookReceiver() as hook:
        config = write_config(tmp_path / "watchlist.yaml", f"sqlite:///{db}", feeds, hook.port, count=40)
        procs = [start(config, log)]
        try:
            wait_ready(log, 1)
            for _ in range(3):
                once = start(config, log, "once")
                assert once.wait(timeout=60) == 0, f"once failed; see {log}"
                time.sleep(2.0)  # inherent: the daemon works between the bursts
        finally:
            codes = stop(procs)
        time.sleep(0.5)  # inherent: the last sends reach the receiver thread
        got = Counter(received_ids(hook))
    assert codes == [0], f"see {log}"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows, keys = outbox(f"sqlite:///{db}")
    assert {f"guid:{k}" for k in state.served} <= keys
    assert set(got) == set(rows) and max(got.values()) == 1
    print(f"\nsqlite: stories={len(keys)} alerts={len(rows)} delivered={len(got)} "
          f"requests={sum(len(h) for h in state.hits.values())}")
