"""The scenarios of bench_pipeline.py, each driving the real daemon code (poll_source, run_once, Daemon) on a
fresh database (SQLite in a temporary folder, or a PostgreSQL URL whose public schema is reset)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import farm_server
from farm_server import FarmProcess
from receiver import Receiver
from sqlalchemy import Engine, create_engine, insert, select, text

from monitor import daemon, dedupe
from monitor.config import Config, parse_text
from monitor.context import Context, compile_for, load_gazetteer, open_context
from monitor.models import PollReport
from monitor.pipeline import poll_source
from monitor.store import sources as store_sources
from monitor.store.schema import alerts, clusters, stories
from monitor.systemd import Notifier

CONFIG = """\
database: {database}
settings:
  alerts_file: null
  max_polls: {max_polls}
  max_age: 1000h
channels:
  hook: "{hook}"
watches:
  - {{name: bulletin, any: ["bulletin"], notify: [hook]}}
sources:
{sources}
"""


@dataclass
class Database:
    """Where the scenarios store: a new SQLite file per use, or the PostgreSQL URL reset per use."""

    pg: str | None = None

    @property
    def kind(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    def fresh(self, folder: str) -> str:
        if not self.pg:
            return f"sqlite:///{folder}/bench-{time.monotonic_ns()}.db"
        engine = create_engine(self.pg.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        return self.pg


def config(base: str, feeds: list[int], database: str, *, hook: str = "json://127.0.0.1:9/none",
           max_polls: int = 16) -> Config:
    sources = "\n".join(f'  - {{name: f{i}, url: "{base}/feed/{i}.xml"}}' for i in feeds)
    return parse_text(CONFIG.format(database=database, sources=sources, hook=hook, max_polls=max_polls),
                      "bench.yaml", environ={})


async def _gather(ctx: Context, limit: int) -> list[PollReport]:
    gate = asyncio.Semaphore(limit)
    ctx.host_locks["127.0.0.1"] = asyncio.Semaphore(limit)  # the farm is one host; real feeds are many

    async def one(source: Any) -> PollReport:
        async with gate:
            return await poll_source(ctx, source, force=True)

    return list(await asyncio.gather(*(one(s) for s in ctx.config.sources)))


def _seed(engine: Engine, names: list[tuple[str, str]], etags: list[str], now: datetime) -> None:
    """The steady state of feeds polled before: each source known with its ETag (no stories)."""
    states = store_sources.ensure_many(engine, names)
    outcomes = [store_sources.Outcome(s.id, now, lambda w, d, tag=tag: store_sources.Success(
        etag=tag, last_modified=None, next_poll_at=now, interval_s=600.0), (0, 0)) for s, tag in zip(
        states, etags, strict=True)]
    store_sources.record_successes(engine, outcomes)


async def unchanged(farm: FarmProcess, feeds: list[int], runs: int, limit: int, db: Database) -> dict[str, Any]:
    """(a): every feed answers 304; ``poll_source`` ``limit`` at once, then ``run_once`` (leases, health)."""
    gazetteer = load_gazetteer()
    with tempfile.TemporaryDirectory(prefix="bench-a-") as folder:
        cfg = config(farm.base, feeds, db.fresh(folder), max_polls=limit)
        async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), gazetteer=gazetteer) as ctx:
            pairs = [(s.name, s.fetch_url) for s in cfg.sources]
            await asyncio.to_thread(_seed, ctx.engine, pairs, [farm_server.etag(i, 0) for i in feeds], ctx.clock())
            await _gather(ctx, limit)  # warm-up: connections open
            results = []
            for _ in range(runs):
                direct = await _timed(lambda: _gather(ctx, limit))
                once = await _timed(lambda: _run_once(ctx))
                assert direct[2] == len(feeds), f"not all 304: {direct[2]}"
                results.append({"polls_per_s": len(feeds) / direct[0], "cpu_ms_per_poll": direct[1] / len(feeds) * 1e3,
                                "run_once_polls_per_s": len(feeds) / once[0],
                                "run_once_cpu_ms_per_poll": once[1] / len(feeds) * 1e3})
    return {"median": {k: statistics.median(r[k] for r in results) for k in results[0]}, "runs": results}


async def _run_once(ctx: Context) -> list[PollReport]:
    return (await daemon.run_once(ctx))[0]


async def _timed(work: Any) -> tuple[float, float, int]:
    cpu0, start = time.process_time(), time.perf_counter()
    reports = await work()
    return time.perf_counter() - start, time.process_time() - cpu0, sum(1 for r in reports if r.not_modified)


async def ingest(farm: FarmProcess, feeds: list[int], limit: int, db: Database) -> dict[str, float]:
    """(b): a fresh database; every entry of every feed is new; alerts are queued in the outbox."""
    gazetteer = load_gazetteer()
    with tempfile.TemporaryDirectory(prefix="bench-b-") as folder:
        cfg = config(farm.base, feeds, db.fresh(folder), max_polls=limit)
        async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), gazetteer=gazetteer) as ctx:
            cpu0, start = time.process_time(), time.perf_counter()
            reports = await _gather(ctx, limit)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
            queued = await ctx.db(_count, ctx.engine)
    entries = sum(r.new_stories for r in reports)
    return {"entries": entries, "entries_per_s": entries / wall, "cpu_ms_per_entry": cpu / max(entries, 1) * 1e3,
            "alerts": queued, "errors": sum(1 for r in reports if r.error_kind)}


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(alerts.c.id)).all())


class _Clock:
    """The daemon's clock, moved on 2 h per round so every source is due again."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def latency(farm: FarmProcess, feeds: list[int], rounds: int, max_polls: int, db: Database) -> dict[str, Any]:
    """(c): the real Daemon dispatches every source each round; the farm's "changed" ones have a new matching
    item (slow and failing ones are among the others)."""
    gazetteer, receiver, clock = load_gazetteer(), await Receiver().start(), _Clock()
    with tempfile.TemporaryDirectory(prefix="bench-c-") as folder:
        cfg = config(farm.base, feeds, db.fresh(folder), hook=receiver.url, max_polls=max_polls)
        async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), gazetteer=gazetteer, clock=clock) as ctx:
            ctx.host_locks["127.0.0.1"] = asyncio.Semaphore(max_polls)
            runner = daemon.Daemon(ctx=ctx, config_path=Path(folder) / "none.yaml", gazetteer=gazetteer,
                                   notifier=Notifier({}))
            await _round(runner, clock, farm, 0)  # warm-up: every entry new
            late, from_dispatch, count = [], [], 0
            for n in range(1, rounds + 1):
                before = len(receiver.got)
                dispatched = await _round(runner, clock, farm, n)
                served = await asyncio.to_thread(farm.served)
                await _settle(receiver, before + len(served))
                for at, body in receiver.got[before:]:
                    feed = _feed_of(body, n)
                    if feed in served:
                        late.append(at - served[feed])
                        from_dispatch.append(at - dispatched)
                        count += 1
    await receiver.close()
    q = statistics.quantiles(late, n=100) if len(late) > 1 else late * 99
    d = statistics.quantiles(from_dispatch, n=100) if len(from_dispatch) > 1 else from_dispatch * 99
    return {"sources": len(feeds), "changed": sum(1 for i in feeds if farm_server.kind_of(i) == "changed"),
            "alerts": count, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3,
            "dispatch_p99_ms": d[98] * 1e3, "max_polls": max_polls}


async def _round(runner: daemon.Daemon, clock: _Clock, farm: FarmProcess, n: int) -> float:
    """Move the farm and the clock on, then dispatch until every due source was polled."""
    await asyncio.to_thread(farm.set_round, n)
    clock.now += timedelta(hours=2)
    started = time.time()
    for _ in range(10_000):
        await runner.dispatch_job()
        if not runner.poll_tasks:
            break
        await asyncio.wait(set(runner.poll_tasks), return_when=asyncio.FIRST_COMPLETED)
    return started


async def _settle(receiver: Receiver, expected: int, within: float = 30.0) -> None:
    """Until ``expected`` alerts arrived in all, or ``within`` seconds passed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while len(receiver.got) < expected:
                receiver.arrived.clear()
                await receiver.arrived.wait()


def _feed_of(body: bytes, round_no: int) -> int | None:
    marker = body.find(b"farm-")
    if marker < 0:
        return None
    parts = body[marker + 5: marker + 40].split(b"-", 2)
    try:
        feed, rnd = int(parts[0]), int(bytes(c for c in parts[1] if 48 <= c <= 57))
    except (ValueError, IndexError):
        return None
    return feed if rnd == round_no else None


def startup(stories_n: int, sources_n: int, runs: int, db: Database) -> dict[str, Any]:
    """(e): ``news-monitor run`` until it sends systemd READY, with ``stories_n`` stories in the window."""
    with tempfile.TemporaryDirectory(prefix="bench-e-") as folder:
        url = db.fresh(folder)
        cfg_text = CONFIG.format(database=url, max_polls=16, hook="json://127.0.0.1:9/none", sources="\n".join(
            f'  - {{name: s{i}, url: "http://127.0.0.1:9/feed/{i}.xml"}}' for i in range(sources_n)))
        path = Path(folder) / "bench.yaml"
        path.write_text(cfg_text)
        asyncio.run(_migrate(parse_text(cfg_text, "bench.yaml", environ={})))
        _fill(url, stories_n)
        results = [{"ready_s": _ready(path, folder)} for _ in range(runs)]
    return {"stories": stories_n, "sources": sources_n, "median": {"ready_s": statistics.median(
        r["ready_s"] for r in results)}, "runs": results}


async def _migrate(cfg: Config) -> None:
    gazetteer = load_gazetteer()
    async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), gazetteer=gazetteer):
        pass


def _fill(url: str, n: int, batch: int = 5000) -> None:
    """``n`` stories first seen within the last day (all in the dedup window), 200 distinct signatures."""
    rng = random.Random(1)
    words = [f"w{k}" for k in range(3000)]
    sigs = [dedupe.signature("t", " ".join(rng.choice(words) for _ in range(80))).to_bytes() for _ in range(200)]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        source_id = conn.execute(text("SELECT id FROM sources LIMIT 1")).scalar() or _one_source(conn)
        for start in range(0, n, batch):
            size = min(batch, n - start)
            seen = [now - timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(size)]
            ids = [conn.execute(insert(clusters).values(first_seen_at=s, last_seen_at=s, member_count=1)
                                .returning(clusters.c.id)).scalar_one() for s in seen]
            conn.execute(insert(stories), [
                {"source_id": source_id, "key": f"guid:bench-{start + k}", "cluster_id": ids[k], "url": None,
                 "title": f"story {start + k}", "published_at": seen[k], "first_seen_at": seen[k],
                 "updated_at": seen[k], "version": 1, "fingerprint": f"{start + k:064x}",
                 "signature": sigs[k % len(sigs)]} for k in range(size)])
    engine.dispose()


def _one_source(conn: Any) -> int:
    conn.execute(text("INSERT INTO sources (name, url, config_url, error_count, health) "
                      "VALUES ('s0', 'http://127.0.0.1:9/feed/0.xml', 'http://127.0.0.1:9/feed/0.xml', 0, 'ok')"))
    return int(conn.execute(text("SELECT id FROM sources WHERE name = 's0'")).scalar_one())


def _ready(config_path: Path, folder: str, timeout: float = 120.0) -> float:
    """Seconds from starting ``news-monitor run`` to its READY=1 on our NOTIFY_SOCKET."""
    address = f"{folder}/notify-{time.monotonic_ns()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(timeout)
    env = {**os.environ, "NOTIFY_SOCKET": address}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config_path), "run"], env=env,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        sock.close()
