"""The dedup index with a big database, as the daemon runs it: a SQLite file with N stories' signatures (synthetic,
random MinHash values), then, in a fresh process, the start-up rebuild (``store.signatures.load_index``, the call in
``context.build_index``) timed, with the process's RSS, and find + add per new story with signatures fetched from the
database for the candidates. Used by bench_clusters.py; run alone:

  .venv/bin/python bench/cluster_startup.py --build DB --stories 1000000
  .venv/bin/python bench/cluster_startup.py --load DB --window 1000000 --queries 2000   (prints JSON)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

NOW = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = timedelta(hours=72)
NUM_PERM = 128
HEADER = np.array([1, NUM_PERM & 0xFF, NUM_PERM >> 8], dtype=np.uint8)  # dedupe's to_bytes(): version, num_perm


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent that forked it)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def blobs(values: np.ndarray, sizes: np.ndarray) -> list[bytes]:
    """``Signature.to_bytes()`` of rows of (full | lede) uint32 values, vectorised."""
    n = len(values)
    raw = np.empty((n, 7 + 8 * NUM_PERM), dtype=np.uint8)
    raw[:, :3] = HEADER
    raw[:, 3:7] = sizes.astype("<u4").view(np.uint8).reshape(n, 4)
    raw[:, 7:] = values.astype("<u4").view(np.uint8).reshape(n, -1)
    return [r.tobytes() for r in raw]


def seen_at(story_id: int, stories: int) -> datetime:
    """Story ids 1..N spread evenly over the 72 h before NOW (the newest at NOW)."""
    return NOW - (WINDOW - timedelta(minutes=1)) * ((stories - story_id) / stories)


def build(path: str, stories: int, seed: int = 0) -> float:
    """A migrated SQLite database at ``path`` with one source, ``stories`` clusters and stories; seconds taken."""
    from monitor.store import engine as store_engine
    from monitor.store.schema import naive, sources

    start = time.perf_counter()
    engine = store_engine.make_engine(f"sqlite:///{path}")
    store_engine.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(sources).values(id=1, name="bench", url="http://127.0.0.1/feed"))
    engine.dispose()
    rng = np.random.default_rng(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    for first in range(1, stories + 1, 100_000):
        ids = range(first, min(first + 100_000, stories + 1))
        values = rng.integers(0, 2**32, size=(len(ids), 2 * NUM_PERM), dtype=np.uint64).astype(np.uint32)
        sigs = blobs(values, rng.integers(100, 1500, size=len(ids)))
        times = [str(naive(seen_at(i, stories))) for i in ids]
        db.executemany("INSERT INTO clusters (id, first_seen_at, last_seen_at, member_count) VALUES (?, ?, ?, 1)",
                       [(i, t, t) for i, t in zip(ids, times, strict=True)])
        db.executemany(
            "INSERT INTO stories (id, source_id, key, cluster_id, url, title, first_seen_at, updated_at, version,"
            " fingerprint, signature) VALUES (?, 1, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [(i, f"guid:{i}", i, f"https://example.org/news/{i}", f"Story number {i} of the benchmark", t, t,
              f"{i:064x}", s) for i, t, s in zip(ids, times, sigs, strict=True)])
        db.commit()
    db.close()
    return time.perf_counter() - start


def load_and_query(path: str, window: int, stories: int, queries: int, seed: int = 1) -> dict[str, float]:
    """In this (fresh) process: RSS with the daemon's modules imported, the rebuild of the newest ``window`` of
    ``stories`` stored stories (time and RSS), then ``queries`` new stories (half copies of stored ones)."""
    from monitor import daemon  # noqa: F401 - the daemon's modules, for a realistic baseline RSS
    from monitor.dedupe import ClusterIndex, Signature
    from monitor.store import engine as store_engine
    from monitor.store import signatures as store_signatures

    base = rss_mb()
    engine = store_engine.make_engine(f"sqlite:///{path}")
    index = ClusterIndex(window=WINDOW, signatures=functools.partial(store_signatures.fetch, engine))
    since = seen_at(stories - window + 1, stories)
    t0, c0 = time.perf_counter(), time.process_time()
    loaded = store_signatures.load_index(index, engine, since)
    load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    after, peak = rss_mb(), peak_rss_mb()
    rng = np.random.default_rng(seed + window)  # each run its own new stories (they stay in the file)
    db = sqlite3.connect(path)
    first_new = db.execute("SELECT max(id) FROM stories").fetchone()[0] + 1
    find_ms, total_ms, found = [], [], 0
    for q in range(queries):
        if q % 2:
            member = int(rng.integers(stories - window + 1, stories + 1))
            blob = store_signatures.fetch(engine, [member])[member]
            values = np.frombuffer(blob, "<u4", offset=7).copy()
            changed = rng.random(2 * NUM_PERM) < rng.uniform(0.0, 0.5)
            values[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64).astype(np.uint32)
            size = int.from_bytes(blob[3:7], "little")
        else:
            values, size = rng.integers(0, 2**32, size=2 * NUM_PERM, dtype=np.uint64).astype(np.uint32), 800
        sig = Signature(values[:NUM_PERM].astype("<u8").tobytes(), size, values[NUM_PERM:].astype("<u8").tobytes())
        story_id = first_new + q
        t1 = time.perf_counter()
        cluster = index.find(sig, NOW)
        t2 = time.perf_counter()
        t = str(NOW.replace(tzinfo=None))
        db.execute("INSERT INTO stories (id, source_id, key, cluster_id, title, first_seen_at, updated_at,"
                   " version, fingerprint, signature) VALUES (?, 1, ?, ?, '', ?, ?, 1, '', ?)",
                   (story_id, f"q:{story_id}", cluster or 1, t, t, sig.to_bytes()))
        db.commit()  # stored first, as ingest does, so later look-ups can fetch it
        t3 = time.perf_counter()
        index.add(story_id, cluster or story_id, sig, NOW)
        t4 = time.perf_counter()
        find_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t1 + t4 - t3) * 1000)
        found += cluster is not None
    return {"stories_loaded": loaded, "indexed": len(index), "load_s": load_s, "load_cpu_s": load_cpu_s,
            "rss_imports_mb": base,
            "rss_after_load_mb": after, "rss_peak_mb": peak,
            "index_rss_bytes_per_story": (after - base) * 2**20 / loaded,
            "index_array_bytes_per_story": index.nbytes() / len(index), "find_ms_mean": float(np.mean(find_ms)),
            "find_ms_p95": float(np.percentile(find_ms, 95)), "find_add_ms_mean": float(np.mean(total_ms)),
            "found_share": found / max(queries, 1)}


def ready(path: str) -> dict[str, float]:
    """The daemon's own start path on this file: ``open_context`` (migrations checked, index rebuild started in
    the background) until it yields, which is when the daemon says READY, then until the index is complete."""
    import asyncio
    import tempfile

    from monitor.context import load_gazetteer, open_context
    from monitor.daemon import load_config

    async def run(config: str) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg, compiled = load_config(Path(config), load_gazetteer())
        async with open_context(cfg, watchlist=compiled, clock=lambda: NOW) as ctx:
            yielded = time.perf_counter() - t0
            await ctx.index_ready()
            return {"config_and_context_s": yielded, "index_ready_s": time.perf_counter() - t0,
                    "indexed": len(ctx.index), "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "watchlist.yaml"
        config.write_text(f"database: sqlite:///{path}\nwatches:\n  - {{name: w, any: [counteroffensive]}}\n",
                          encoding="utf-8")
        return asyncio.run(run(str(config)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--build", help="create this SQLite file")
    parser.add_argument("--load", help="load the index from this SQLite file and query it (JSON out)")
    parser.add_argument("--stories", type=int, default=1_000_000, help="stories stored (--build, --load)")
    parser.add_argument("--window", type=int, default=None, help="newest stories in the window (default: all)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--ready", help="time the daemon's start (open_context) on this SQLite file (JSON out)")
    args = parser.parse_args()
    if args.build:
        print(json.dumps({"build_s": build(args.build, args.stories)}))
    if args.ready:
        print(json.dumps(ready(args.ready)))
    if args.load:
        print(json.dumps(load_and_query(args.load, args.window or args.stories, args.stories, args.queries)))


if __name__ == "__main__":
    main()
