"""Feed-farm benchmark: thousands of feeds on 127.0.0.1 (most unchanged, some slow, failing or changing) polled by our
real ingest path, against a naive sequential ``feedparser.parse(url)`` loop over the same feeds in the same run.

Reports polls/s (wall) and client CPU per poll (``time.process_time``: every thread of this process; the farm runs in
its own process) for the baseline, our first round and our steady state, with default and raised per-host limits,
and the ratio ours / baseline. Then a cProfile of one steady-state round over the unchanged feeds (all threads).

Run: .venv/bin/python bench/bench_farm.py [--feeds 300] [--rounds 2] [--baseline 100] [--concurrency 64]
The defaults take about 2 minutes, most of it the first round (every item new); the numbers for the README:
--feeds 2000 --rounds 3 --baseline 200 (about 10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import platform
import pstats
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import farm_server
import feedparser
import httpx
import sqlalchemy
from farm_server import FarmProcess

from monitor import daemon
from monitor.config import Config, Source, parse_text
from monitor.context import Context, compile_for, load_gazetteer, open_context
from monitor.errors import MonitorError
from monitor.models import PollReport
from monitor.parse import parse as parse_feed
from monitor.pipeline import poll_source

CONFIG = """\
database: sqlite:///{dir}/farm.db
settings:
  alerts_file: {dir}/alerts.jsonl
watches:
  - {{name: farm-never, any: ["zzqfarmnevermatches"], notify: [log]}}
sources:
{sources}
"""
# Parts of the stack, by a mark in the profiled function's file path (first match wins).
AREAS = (
    ("httpx, httpcore, h11, anyio", ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/sniffio/")),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("asyncio, threads, selectors", ("/asyncio/", "/concurrent/", "threading.py", "selectors.py", "queue.py")),
    ("monitor", ("/monitor/",)),
)
Work = Callable[[], Awaitable[tuple[list[PollReport], list[float]]]]


@dataclass
class Round:
    """One or more measured rounds, summed."""

    label: str
    polls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    farm_cpu: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Round) -> None:
        self.polls, self.wall, self.cpu = self.polls + other.polls, self.wall + other.wall, self.cpu + other.cpu
        self.farm_cpu += other.farm_cpu
        self.outcomes.update(other.outcomes)
        self.latencies.extend(other.latencies)


# -- the feeds ------------------------------------------------------------------------------------------------


def feed_bodies(corpus: Path) -> tuple[list[bytes], str]:
    """The corpus feeds our parser accepts (a rejected one would be re-fetched and re-parsed every round, so it
    is no "unchanged" feed), else generated 20-item RSS; and a line saying which."""
    bodies = farm_server.load_bodies(corpus)
    if not bodies:
        print(f"corpus {corpus} absent: serving generated 20-item RSS instead")
        return [farm_server.generated_body(n) for n in range(50)], "50 generated 20-item RSS feeds"
    kept, start = [], time.process_time()
    for body in bodies:
        try:
            parse_feed(body, url="http://127.0.0.1/")
        except MonitorError:
            continue
        kept.append(body)
    parse_ms = (time.process_time() - start) / len(bodies) * 1000
    sizes = sorted(len(b) for b in kept)
    return kept, (f"{len(kept)} of {len(bodies)} real feeds from {corpus.parent.name} ({len(bodies) - len(kept)} "
                  f"rejected by monitor.parse), median {sizes[len(sizes) // 2] / 1024:.0f} KiB, mean "
                  f"{sum(sizes) / len(sizes) / 1024:.0f} KiB; monitor.parse alone {parse_ms:.1f} ms CPU/feed")


def make_config(base: str, feeds: int, folder: str) -> Config:
    sources = "\n".join(f'  - {{name: f{i}, url: "{base}/feed/{i}.xml"}}' for i in range(feeds))
    return parse_text(CONFIG.format(dir=folder, sources=sources), "farm.yaml")


# -- the farm alone and the baseline --------------------------------------------------------------------------


async def _hammer(port: int, requests: list[tuple[str, str]], connections: int) -> None:
    async def worker(chunk: list[tuple[str, str]]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path, tag in chunk:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: farm\r\nIf-None-Match: {tag}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
        writer.close()

    await asyncio.gather(*(worker(requests[k::connections]) for k in range(connections)))


def farm_alone(farm: FarmProcess, feeds: int, n: int = 4000, connections: int = 16) -> str:
    """Conditional GETs answered 304 by the farm to a minimal raw-socket client: its ceiling."""
    unchanged = [i for i in range(feeds) if farm_server.kind_of(i) == "unchanged"]
    requests = [(f"/feed/{i}.xml", farm_server.etag(i, 0)) for i in (unchanged * (n // len(unchanged) + 1))[:n]]
    cpu0, start = farm.cpu()[0], time.perf_counter()
    asyncio.run(_hammer(farm.port, requests, connections))
    wall, cpu = time.perf_counter() - start, farm.cpu()[0] - cpu0
    return f"{n / wall:,.0f} req/s (304, {connections} keep-alive connections), farm CPU {cpu / n * 1000:.3f} ms/req"


def baseline(farm: FarmProcess, feeds: int) -> tuple[Round, Round]:
    """``for url in urls: feedparser.parse(url)`` over the first ``feeds`` feeds: (all of them, unchanged only)."""
    everything, unchanged = Round("baseline: feedparser.parse(url), sequential"), Round("baseline, unchanged feeds")
    farm_cpu0 = farm.cpu()[0]
    for i in range(feeds):
        cpu0, start = time.process_time(), time.perf_counter()
        try:
            result = feedparser.parse(f"{farm.base}/feed/{i}.xml")
            outcome = str(result.get("status", "error"))
        except Exception as exc:  # noqa: BLE001 (a reset surfaces as a raw OSError; the naive loop goes on)
            outcome = type(exc).__name__
        one = Round("", 1, time.perf_counter() - start, time.process_time() - cpu0, 0.0, Counter([outcome]))
        one.latencies.append(one.wall)
        everything.add(one)
        if farm_server.kind_of(i) == "unchanged":
            unchanged.add(one)
    everything.farm_cpu = farm.cpu()[0] - farm_cpu0
    return everything, unchanged


# -- our side -------------------------------------------------------------------------------------------------


def outcome(report: PollReport) -> str:
    if report.error_kind:
        return f"error {report.error_kind}"
    return "304" if report.not_modified else ("200" if report.fetched else "not polled")


async def via_run_once(ctx: Context) -> tuple[list[PollReport], list[float]]:
    """``daemon.run_once``: every source once, then the outbox drained (no per-poll latency visible)."""
    result = await daemon.run_once(ctx)
    return list(result[0] if isinstance(result, tuple) else result), []


async def via_gather(ctx: Context, sources: list[Source], limit: int) -> tuple[list[PollReport], list[float]]:
    """``poll_source`` for ``sources`` under ``asyncio.gather``, ``limit`` at a time, timing each poll."""
    gate, latencies = asyncio.Semaphore(limit), []

    async def one(source: Source) -> PollReport:
        async with gate:
            start = time.perf_counter()
            try:
                return await poll_source(ctx, source, force=True)
            finally:
                latencies.append(time.perf_counter() - start)

    results = await asyncio.gather(*(one(s) for s in sources), return_exceptions=True)
    reports = [r if isinstance(r, PollReport) else PollReport(source="?", error_kind=f"raised {type(r).__name__}")
               for r in results]
    return reports, latencies


def raise_host_limit(ctx: Context, limit: int) -> str:
    """Let ``limit`` requests run at once to the farm's host (the default is 2 per host, and the farm is one
    host): ``settings.per_host`` if the config has it, else the context's per-host semaphore is pre-seeded."""
    settings, locks = ctx.config.settings, getattr(ctx, "host_locks", None)
    if "per_host" in type(settings).model_fields:
        ctx.config = ctx.config.model_copy(update={"settings": settings.model_copy(update={"per_host": limit})})
        if isinstance(locks, dict):
            locks.clear()
        return f"settings.per_host={limit}"
    if not isinstance(locks, dict):
        return "nothing (no settings.per_host, no ctx.host_locks): per-host limit NOT raised"
    locks.clear()
    locks["127.0.0.1"] = asyncio.Semaphore(limit)
    return f"ctx.host_locks['127.0.0.1'] = Semaphore({limit}) (there is no per_host setting)"


@dataclass
class Bench:
    """Measured rounds against the farm through one context; each round first moves the farm on."""

    ctx: Context
    farm: FarmProcess
    rounds: int
    round_numbers: Iterator[int] = field(default_factory=lambda: count(1))

    async def once(self, label: str, work: Work) -> Round:
        await asyncio.to_thread(self.farm.set_round, next(self.round_numbers))
        farm_cpu0 = self.farm.cpu()[0]
        cpu0, start = time.process_time(), time.perf_counter()
        reports, latencies = await work()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        outcomes = Counter(outcome(r) for r in reports)
        outcomes["alerts (must stay 0)"] += sum(r.alerts for r in reports)
        return Round(label, len(reports), wall, cpu, self.farm.cpu()[0] - farm_cpu0, outcomes, latencies)

    async def repeat(self, label: str, work: Work) -> Round:
        total = Round(label)
        for _ in range(self.rounds):
            total.add(await self.once(label, work))
        return total

    def unchanged(self) -> list[Source]:
        return [s for i, s in enumerate(self.ctx.config.sources) if farm_server.kind_of(i) == "unchanged"]


async def our_rounds(bench: Bench, concurrency: int) -> tuple[list[Round], str]:
    """First round (all new), then steady state: run_once with the default limits, then a raised per-host limit."""
    ctx, once_limit = bench.ctx, getattr(daemon, "ONCE_CONCURRENCY", 8)
    first = await bench.once("ours: first round, run_once (all new)", lambda: via_run_once(ctx))
    rows = [first,
            await bench.repeat("ours: steady, run_once, default limits", lambda: via_run_once(ctx)),
            await bench.repeat(f"ours: steady, unchanged only, {once_limit} at once, default per-host",
                               lambda: via_gather(ctx, bench.unchanged(), once_limit))]
    how = raise_host_limit(ctx, concurrency)
    rows.append(await bench.repeat(f"ours: steady, gather {concurrency} at once, per-host {concurrency}",
                                   lambda: via_gather(ctx, list(ctx.config.sources), concurrency)))
    rows.append(await bench.repeat(f"ours: steady, unchanged only, {concurrency} at once, per-host {concurrency}",
                                   lambda: via_gather(ctx, bench.unchanged(), concurrency)))
    return rows, how


# -- profile --------------------------------------------------------------------------------------------------


async def profiled(bench: Bench, concurrency: int) -> tuple[pstats.Stats, int]:
    """One steady round over the unchanged feeds under cProfile in every thread (CPU time per thread, so the
    event loop's idle waits and the executor's idle workers cost nothing)."""
    loop, profiles = asyncio.get_running_loop(), []

    def profile_thread() -> None:
        profiles.append(cProfile.Profile(time.thread_time))
        profiles[-1].enable()

    executor = ThreadPoolExecutor(min(32, (os.cpu_count() or 1) + 4), initializer=profile_thread)
    loop.set_default_executor(executor)
    main = cProfile.Profile(time.thread_time)
    sources = bench.unchanged()
    main.enable()
    try:
        await bench.once("profile", lambda: via_gather(bench.ctx, sources, concurrency))
    finally:
        main.disable()
        loop.set_default_executor(ThreadPoolExecutor())
        executor.shutdown(wait=True)
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    return stats, len(sources)


def _where(key: tuple[str, int, str]) -> str:
    path, line, name = key
    short = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", path)
    short = re.sub(r".*/(monitor|bench)/", r"\1/", short)
    return f"{short}:{line} {name}" if line else name


def area(path: str) -> str:
    """The part of the stack a profiled function belongs to (C functions are their own area)."""
    for name, marks in AREAS:
        if any(mark in path for mark in marks):
            return name
    return "C functions (sqlite3, sockets, zlib, built-ins)" if path == "~" else "other Python"


def print_areas(entries: dict[Any, Any], polls: int, total: float) -> None:
    own: Counter[str] = Counter()
    for key, (_, _, tt, _, _) in entries.items():
        own[area(key[0])] += tt
    print("\n| area, by own time | ms/poll | share |\n|---|---|---|")
    for name, tt in own.most_common():
        print(f"| {name} | {tt / polls * 1000:.3f} | {tt / total:.0%} |")


def print_profile(stats: pstats.Stats, polls: int, top: int = 10) -> None:
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values())
    print(f"\n### cProfile of one steady round of {polls} unchanged polls (all threads, thread CPU time): "
          f"{total / polls * 1000:.2f} ms CPU/poll under the profiler")
    print_areas(entries, polls, total)
    ours = sorted((k for k in entries if "/monitor/" in k[0]), key=lambda k: -entries[k][3])[:top]
    print("\n| our code, by cumulative | cum ms/poll | cum share | own ms/poll | calls/poll |\n|---|---|---|---|---|")
    for key in ours:
        _, nc, tt, ct, _ = entries[key]
        print(f"| `{_where(key)}` | {ct / polls * 1000:.3f} | {ct / total:.0%} | {tt / polls * 1000:.3f} "
              f"| {nc / polls:.1f} |")
    print("\n| anything, by own time | own ms/poll | share | calls/poll |\n|---|---|---|---|")
    for key in sorted(entries, key=lambda k: -entries[k][2])[:top]:
        _, nc, tt, _, _ = entries[key]
        print(f"| `{_where(key)}` | {tt / polls * 1000:.3f} | {tt / total:.1%} | {nc / polls:.1f} |")


# -- report ---------------------------------------------------------------------------------------------------


def _ms(values: list[float], q: int) -> str:
    return f"{statistics.quantiles(values, n=100)[q - 1] * 1000:.1f}" if len(values) > 1 else "–"


def _ratios(row: Round, base: Round) -> str:
    if row.label.startswith("baseline"):
        return "– | –"
    speed = (row.polls / row.wall) / (base.polls / base.wall)
    return f"{speed:.1f}x | {(row.cpu / row.polls) / (base.cpu / base.polls):.3f}"


def print_table(rows: list[Round], base_all: Round, base_unchanged: Round) -> None:
    print("\n| run | polls | wall s | polls/s | CPU ms/poll | p50 ms | p95 ms | farm CPU | polls/s ours/base "
          "| CPU/poll ours/base |\n|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        base = base_unchanged if "unchanged" in row.label else base_all
        print(f"| {row.label} | {row.polls} | {row.wall:.1f} | {row.polls / row.wall:,.1f} | "
              f"{row.cpu / row.polls * 1000:.2f} | {_ms(row.latencies, 50)} | {_ms(row.latencies, 95)} | "
              f"{row.farm_cpu / row.wall:.0%} | {_ratios(row, base)} |")
    print("\nOutcomes (all rounds of a row):")
    for row in rows:
        print(f"- {row.label}: " + ", ".join(f"{k} {v}" for k, v in sorted(row.outcomes.items())))


def print_header(args: argparse.Namespace, source_line: str, alone: str) -> None:
    kinds = Counter(farm_server.kind_of(i) for i in range(args.feeds))
    print(f"## Feed farm: {args.feeds} feeds on 127.0.0.1, {args.rounds} steady rounds per row\n")
    print(f"- machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {platform.platform()}, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    print(f"- versions: feedparser {feedparser.__version__}, httpx {httpx.__version__}, "
          f"SQLAlchemy {sqlalchemy.__version__}")
    print(f"- feeds: {source_line}")
    print(f"- kinds: {', '.join(f'{k} {kinds[k]}' for k in farm_server.KINDS)} (slow = {args.slow_ms:.0f} ms, "
          "fail = half 500, half connection reset; changed = a new item and ETag every round)")
    print(f"- farm alone: {alone}")


async def ours(args: argparse.Namespace, farm: FarmProcess) -> tuple[list[Round], str, pstats.Stats | None, int]:
    gazetteer = load_gazetteer()
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as folder:
        config = make_config(farm.base, args.feeds, folder)
        async with open_context(config, watchlist=compile_for(config, gazetteer), gazetteer=gazetteer,
                                migrate=True) as ctx:
            bench = Bench(ctx, farm, args.rounds)
            rows, how = await our_rounds(bench, args.concurrency)
            stats, polls = await profiled(bench, args.concurrency) if args.profile else (None, 0)
    return rows, how, stats, polls


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300,
                        help="feed paths served and polled (≤ 18,000; the first round costs ~0.15-0.2 s CPU per feed)")
    parser.add_argument("--rounds", type=int, default=2, help="steady-state rounds per row")
    parser.add_argument("--baseline", type=int, default=100, help="feeds in the sequential feedparser loop")
    parser.add_argument("--concurrency", type=int, default=64, help="polls at once (and per host) when raised")
    parser.add_argument("--slow-ms", type=float, default=200.0, help="delay of the slow feeds")
    parser.add_argument("--corpus", type=Path, default=farm_server.CORPUS, help="folder of *.gz feeds")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile round")
    args = parser.parse_args()
    started = time.perf_counter()
    logging.basicConfig(level=logging.ERROR)  # failing feeds are expected; their warnings would flood the table
    bodies, source_line = feed_bodies(args.corpus)
    farm = farm_server.start(bodies, args.feeds, args.slow_ms / 1000)  # forked before any thread exists
    try:
        print_header(args, source_line, farm_alone(farm, args.feeds))
        base_all, base_unchanged = baseline(farm, min(args.baseline, args.feeds))
        rows, how, stats, polls = asyncio.run(ours(args, farm))
    finally:
        farm.stop()
    print(f"- raised limit via {how}; default: {getattr(daemon, 'ONCE_CONCURRENCY', 8)} polls at once in run_once, "
          "2 per host")
    print_table([base_all, base_unchanged, *rows], base_all, base_unchanged)
    if stats is not None:
        print_profile(stats, polls)
    print(f"\n(whole benchmark: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
