"""Cluster-index scale benchmark: insert + query time per story and index memory per story with 10k, 100k and 1M
stories in the window, against a brute-force comparison (the index's accept rule applied to every member) at 10k,
in one run; then the daemon's configuration (signatures in SQLite, fetched for candidates): the start-up rebuild
of 100k and 1M stored stories timed in a fresh process, with its RSS. Markdown out, JSON to
bench/results/clusters.json.

Signatures of the window are generated directly (random 32-bit MinHash values: distinct stories), so building a
1M window takes seconds, not the ~13 min that ``signature()`` would; the real ``signature()`` cost is measured
separately on synthetic 300-word texts. Queries are half new stories (misses) and half copies of members with a
share of their hash values changed (estimated Jaccard spread over 0.3..1.0, around the 0.5 threshold); each query
is added after its look-up, as ingest does.

Run: .venv/bin/python bench/bench_clusters.py [--quick] [--queries 2000]   (full: ~10 min, ~3 GB RAM, 1.6 GB disk)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from cluster_startup import NOW, WINDOW, rss_mb

from monitor.cluster_index import ClusterIndex, micros
from monitor.dedupe import Signature, signature

HERE = Path(__file__).resolve().parent
P = 128
VOCAB = [f"w{n}" for n in range(20_000)]


def sig_of(values: np.ndarray, size: int) -> Signature:
    return Signature(values[:P].astype("<u8").tobytes(), size, values[P:].astype("<u8").tobytes())


class Window:
    """``n`` random members (values: full | lede uint32, sizes) and the queries to run against them."""

    def __init__(self, n: int, queries: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.values = rng.integers(0, 2**32, size=(n, 2 * P), dtype=np.uint64).astype(np.uint32)
        self.sizes = rng.integers(100, 1500, size=n).astype(np.uint32)
        self.queries: list[tuple[np.ndarray, int]] = []
        for q in range(queries):
            if q % 2 == 0:
                values = rng.integers(0, 2**32, size=2 * P, dtype=np.uint64).astype(np.uint32)
                self.queries.append((values, int(rng.integers(100, 1500))))
            else:
                m = int(rng.integers(0, n))
                values = self.values[m].copy()
                changed = rng.random(2 * P) < rng.uniform(0.0, 0.7)
                values[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64).astype(np.uint32)
                self.queries.append((values, int(self.sizes[m])))


def build(window: Window) -> tuple[ClusterIndex, dict[str, float]]:
    """The window bulk-loaded (as at start-up), timed, with its memory."""
    n = len(window.sizes)
    before = rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    index = ClusterIndex(window=WINDOW)
    ids = np.arange(n, dtype=np.int64)
    seen = np.full(n, micros(NOW), dtype=np.int64)
    for a in range(0, n, 65_536):
        b = min(a + 65_536, n)
        index.load(ids[a:b], ids[a:b], seen[a:b], window.sizes[a:b], window.values[a:b])
    index.finish_load()
    load_s, load_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    grown = rss_mb() - before
    return index, {"bulk_load_s": load_s, "bulk_load_cpu_s": load_cpu_s, "rss_delta_bytes_per_story": grown * 2**20 / n,
                   "array_bytes_per_story": index.nbytes() / n}


def add_us(window: Window, count: int = 10_000) -> float:
    """µs per ``add()`` of one story into a fresh index (the path of a story stored while running)."""
    index = ClusterIndex(window=WINDOW)
    sigs = [sig_of(window.values[i], int(window.sizes[i])) for i in range(min(count, len(window.sizes)))]
    start = time.perf_counter()
    for i, sig in enumerate(sigs):
        index.add(i, i, sig, NOW)
    return (time.perf_counter() - start) / len(sigs) * 1e6


def query(index: ClusterIndex, window: Window) -> tuple[dict[str, float], list[int | None]]:
    """find() then add() per query, as ingest does for a new story: ms per story and the answers."""
    find_ms, total_ms, answers = [], [], []
    next_id = len(window.sizes)
    for values, size in window.queries:
        sig = sig_of(values, size)
        t0 = time.perf_counter()
        found = index.find(sig, NOW)
        t1 = time.perf_counter()
        index.add(next_id, next_id if found is None else found, sig, NOW)
        t2 = time.perf_counter()
        find_ms.append((t1 - t0) * 1000)
        total_ms.append((t2 - t0) * 1000)
        answers.append(found)
        next_id += 1
    return {"find_ms_mean": float(np.mean(find_ms)), "find_ms_p95": float(np.percentile(find_ms, 95)),
            "find_add_ms_mean": float(np.mean(total_ms)), "found_share": float(np.mean([a is not None
                                                                                          for a in answers]))}, answers


def brute_scores(members: np.ndarray, sizes: np.ndarray, q: np.ndarray, size: int) -> np.ndarray:
    """ClusterIndex's accept rule against every member at once: the score, or -1 where it rejects."""
    jaccard = (members[:, :P] == q[:P]).mean(axis=1)
    lede = (members[:, P:] == q[P:]).mean(axis=1)
    q_small = (size <= sizes)[:, None]

    def contained(m: np.ndarray, v: np.ndarray) -> np.ndarray:
        below = np.where(q_small, v <= m, m <= v).sum(axis=1)
        return np.where(below > 0, (m == v).sum(axis=1) / np.maximum(below, 1), 1.0)

    both = np.minimum(contained(members[:, P:], q[P:]), contained(members[:, :P], q[:P]))
    ok = (jaccard >= 0.8) | ((jaccard >= 0.5) & (lede >= 0.35))
    score = np.where(ok, jaccard, np.where(both >= 0.8, both, -1.0))
    return np.where(np.minimum(sizes, size) < 15, np.where(jaccard >= 0.8, jaccard, -1.0), score)


def brute_force(window: Window, answers: list[int | None]) -> dict[str, float]:
    """Every query against every member (and the earlier queries, added as the index adds them)."""
    n, total = len(window.sizes), len(window.sizes) + len(window.queries)
    members = np.empty((total, 2 * P), np.uint32)
    sizes = np.empty(total, np.uint32)
    clusters = np.arange(total)
    members[:n], sizes[:n] = window.values, window.sizes
    times, same, missed, extra = [], 0, 0, 0
    for k, ((values, size), found) in enumerate(zip(window.queries, answers, strict=True)):
        t0 = time.perf_counter()
        scores = brute_scores(members[: n + k], sizes[: n + k], values, size)
        best = int(np.argmax(scores))
        brute = int(clusters[best]) if scores[best] >= 0 else None
        times.append((time.perf_counter() - t0) * 1000)
        same += brute == found
        missed += brute is not None and found is None
        extra += brute is None and found is not None
        members[n + k], sizes[n + k] = values, size
        clusters[n + k] = n + k if found is None else found  # the index's decision, so both see the same clusters
    return {"members": n, "brute_ms_mean": float(np.mean(times)), "same_decision": same, "queries": len(answers),
            "brute_accepts_index_misses": missed, "index_accepts_brute_rejects": extra}


def signature_ms(texts: int = 300) -> float:
    rng = random.Random(0)
    docs = [" ".join(rng.choices(VOCAB, k=300)) for _ in range(texts)]
    start = time.perf_counter()
    for doc in docs:
        signature("A title", doc)
    return (time.perf_counter() - start) / texts * 1000


def startup(stored: int, windows: list[int], queries: int) -> dict[str, Any]:
    """A SQLite file of ``stored`` stories; per window size, a fresh process rebuilds the index and queries it."""
    out: dict[str, Any] = {}
    script = str(HERE / "cluster_startup.py")
    with tempfile.TemporaryDirectory(prefix="bench-clusters-") as tmp:
        db = os.path.join(tmp, "stories.db")
        built = subprocess.run([sys.executable, script, "--build", db, "--stories", str(stored)],  # noqa: S603
                               check=True, capture_output=True, text=True)
        out["build"] = json.loads(built.stdout)
        out["db_mb"] = os.path.getsize(db) / 2**20
        for n in windows:
            command = [sys.executable, script, "--load", db, "--stories", str(stored), "--window", str(n),
                       "--queries", str(queries)]
            run = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - our script
            out[str(n)] = json.loads(run.stdout)
            print(f"... database window {n:,} done", flush=True)
        command = [sys.executable, script, "--ready", db]  # the daemon's start path on the same file
        out["ready"] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)  # noqa: S603
    return out


RAM_ROWS = [  # (label, format of one result column)
    ("find() per story, ms (mean / p95)", "{find_ms_mean:.3f} / {find_ms_p95:.3f}"),
    ("find() + add() per new story, ms (mean)", "{find_add_ms_mean:.3f}"),
    ("add() alone, µs", "{add_us:.1f}"),
    ("queries that found a cluster", "{found_share:.3f}"),
    ("bulk load (the start-up path), s wall / CPU", "{bulk_load_s:.2f} / {bulk_load_cpu_s:.2f}"),
    ("index bytes per story: arrays / RSS delta", "{array_bytes_per_story:,.0f} / {rss_delta_bytes_per_story:,.0f}"),
]
DB_ROWS = [
    ("rebuild from the database (after READY), s wall / CPU", "{load_s:.2f} / {load_cpu_s:.2f}"),
    ("RSS: daemon modules imported / after the rebuild / peak, MB",
     "{rss_imports_mb:.0f} / {rss_after_load_mb:.0f} / {rss_peak_mb:.0f}"),
    ("index bytes per story: arrays / RSS delta",
     "{index_array_bytes_per_story:,.0f} / {index_rss_bytes_per_story:,.0f}"),
    ("find() per story, ms (mean / p95)", "{find_ms_mean:.3f} / {find_ms_p95:.3f}"),
    ("find() + add() per new story, ms (mean)", "{find_add_ms_mean:.3f}"),
    ("queries that found a cluster", "{found_share:.3f}"),
]


def print_table(title: str, columns: dict[str, dict[str, float]], rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}\n")
    print("| measure | " + " | ".join(f"{int(n):,} in window" for n in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label, fmt in rows:
        print(f"| {label} | " + " | ".join(fmt.format(**col) for col in columns.values()) + " |")


def report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(f"\n{m['cpus']} CPUs, Python {m['python']}; load average {m['load_average_at_start'][0]:.1f} at the start, "
          f"{m['load_average_at_end'][0]:.1f} at the end (other processes share the machine: CPU times are steadier)")
    print(f"\nsignature() on a 300-word text: {results['signature_ms_300_words']:.3f} ms (measured separately)")
    print_table("Signatures kept in RAM (ClusterIndex's default):", results["ram"], RAM_ROWS)
    b = results["brute_force"]
    print(f"\nbrute force at {b['members']:,}: {b['brute_ms_mean']:.2f} ms per query; same decision (same cluster or "
          f"none) {b['same_decision']}/{b['queries']}; brute force accepts, index misses "
          f"{b['brute_accepts_index_misses']}; index accepts, brute force rejects {b['index_accepts_brute_rejects']}")
    db = {n: col for n, col in results["database"].items() if n.isdigit()}
    print_table("Daemon configuration (signatures in SQLite, fetched for candidates), a fresh process each:", db,
                DB_ROWS)
    r = results["database"]["ready"]
    print(f"\nThe daemon's start on the {max(int(n) for n in db):,}-story file (config, gazetteer, open_context): "
          f"context ready (READY) after {r['config_and_context_s']:.2f} s, index complete after "
          f"{r['index_ready_s']:.2f} s ({r['indexed']:,} stories); RSS then {r['rss_mb']:.0f} MB, "
          f"peak {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k in RAM, a 20k database (~1 min)")
    parser.add_argument("--queries", type=int, default=2000, help="queries per window size")
    parser.add_argument("--out", default=str(HERE / "results" / "clusters.json"))
    args = parser.parse_args()
    queries = 200 if args.quick else args.queries
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    stored, windows = (20_000, [20_000]) if args.quick else (1_000_000, [100_000, 1_000_000])
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_start": os.getloadavg()},
        "queries": queries, "signature_ms_300_words": signature_ms(), "ram": {}}
    ram = results["ram"]
    for n in sizes:
        window = Window(n, queries)
        index, col = build(window)
        col["add_us"] = add_us(window)
        timing, answers = query(index, window)
        col.update(timing)
        ram[str(n)] = col
        if n == sizes[0]:
            results["brute_force"] = brute_force(window, answers)
        del index, window
        print(f"... {n:,} in RAM done", flush=True)
    results["database"] = startup(stored, windows, queries)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    report(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
