"""Cluster-index scale benchmark: insert + query time per story and index memory per story with 100k (and, with
``--million``, 1M) stories in the window, against a brute-force comparison with every member at 10k, in one run.
Markdown out.

Signatures of the window are generated directly (random 32-bit MinHash values: distinct stories), so building a
1M window takes seconds, not the ~13 min that ``signature()`` would; the real ``signature()`` cost is measured
separately on synthetic 300-word texts. Queries are half new stories (misses) and half copies of members with a
share of their hash values changed (estimated Jaccard spread over 0.3..1.0, around the 0.5 threshold).

Run: .venv/bin/python bench/bench_clusters.py [--million] [--queries 2000]  (default 10k + 100k: ~70 s, ~3 GB)
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.dedupe import ClusterIndex, Signature, signature

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FOREVER = timedelta(days=36500)
NUM_PERM = 128
VOCAB = [f"w{n}" for n in range(20_000)]


def random_values(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**32, size=(n, NUM_PERM), dtype=np.uint64)


def make_sig(full: np.ndarray, lede: np.ndarray, size: int) -> Signature:
    return Signature(full.astype("<u8").tobytes(), size, lede.astype("<u8").tobytes())


def perturb(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.copy()
    changed = rng.random(NUM_PERM) < share
    out[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64)
    return out


class Window:
    """``n`` random member signatures (full, lede, sizes) and the queries to run against them."""

    def __init__(self, n: int, queries: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.full, self.lede = random_values(rng, n), random_values(rng, n)
        self.sizes = rng.integers(100, 1500, size=n)
        self.queries: list[tuple[Signature, int | None]] = []
        new_full, new_lede = random_values(rng, queries // 2), random_values(rng, queries // 2)
        for i in range(queries // 2):
            self.queries.append((make_sig(new_full[i], new_lede[i], int(rng.integers(100, 1500))), None))
        for m in rng.integers(0, n, size=queries - queries // 2):
            share = float(rng.uniform(0.0, 0.7))
            sig = make_sig(perturb(rng, self.full[m], share), perturb(rng, self.lede[m], share), int(self.sizes[m]))
            self.queries.append((sig, int(m)))

    def sig(self, i: int) -> Signature:
        return make_sig(self.full[i], self.lede[i], int(self.sizes[i]))


def build(window: Window, *, trace: bool) -> tuple[ClusterIndex, float, float]:
    """(index, seconds per add, traced bytes per story)."""
    sigs = [window.sig(i) for i in range(len(window.sizes))]
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    index = ClusterIndex(window=FOREVER)
    for i, sig in enumerate(sigs):
        index.add(i, i, sig, NOW)
    elapsed = time.perf_counter() - start
    used = tracemalloc.get_traced_memory()[0] if trace else 0
    if trace:
        tracemalloc.stop()
    return index, elapsed / len(sigs), used / len(sigs)


def query(index: ClusterIndex, window: Window) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
    """Per query: find ms, find + add ms (the production path for a new story), and the answers."""
    find_ms, total_ms, answers = [], [], []
    next_id = len(window.sizes)
    for sig, _ in window.queries:
        t0 = time.perf_counter()
        found = index.find(sig, NOW)
        t1 = time.perf_counter()
        index.add(next_id, next_id if found is None else found, sig, NOW)
        t2 = time.perf_counter()
        find_ms.append((t1 - t0) * 1000)
        total_ms.append((t2 - t0) * 1000)
        answers.append(found)
        next_id += 1
    return np.array(find_ms), np.array(total_ms), answers


def brute_force(window: Window, threshold: float = 0.5, containment: float = 0.8) -> tuple[np.ndarray, list[set[int]]]:
    """The index's accept rule applied to every member (no LSH): ms per query and the accepted members."""
    full, lede = window.full.astype(np.uint32), window.lede.astype(np.uint32)
    times, accepted = [], []
    for sig, _ in window.queries:
        qf = np.frombuffer(sig.hashvalues, "<u8").astype(np.uint32)
        ql = np.frombuffer(sig.lede, "<u8").astype(np.uint32)
        t0 = time.perf_counter()
        jaccard = (full == qf).mean(axis=1)
        q_small = (sig.size <= window.sizes)[:, None]

        def contained(members: np.ndarray, q: np.ndarray, q_small: np.ndarray = q_small) -> np.ndarray:
            below = np.where(q_small, q <= members, members <= q).sum(axis=1)
            same = (members == q).sum(axis=1)
            return np.where(below > 0, same / np.maximum(below, 1), 1.0)

        ok = (jaccard >= threshold) | (np.minimum(contained(lede, ql), contained(full, qf)) >= containment)
        accepted.append(set(np.flatnonzero(ok).tolist()))
        times.append((time.perf_counter() - t0) * 1000)
    return np.array(times), accepted


def signature_ms(texts: int = 500) -> float:
    rng = random.Random(0)
    docs = [" ".join(rng.choices(VOCAB, k=300)) for _ in range(texts)]
    start = time.perf_counter()
    for doc in docs:
        signature("A title", doc)
    return (time.perf_counter() - start) / texts * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--million", action="store_true", help="add a 1M window (~20 GB RAM, ~15 min)")
    parser.add_argument("--queries", type=int, default=2000, help="queries per window size")
    args = parser.parse_args()
    sizes = [10_000, 100_000, *([1_000_000] if args.million else [])]
    rows: dict[str, list[str]] = {}
    for n in sizes:
        window = Window(n, args.queries)
        _, _, per_story = build(window, trace=True)
        index, add_s, _ = build(window, trace=False)
        find_ms, total_ms, answers = query(index, window)
        col = {
            "build: add() per story (µs)": f"{add_s * 1e6:.1f}",
            "find() per story, ms (mean / p95)": f"{find_ms.mean():.3f} / {np.percentile(find_ms, 95):.3f}",
            "find() + add() per new story, ms (mean)": f"{total_ms.mean():.3f}",
            "index heap per story (tracemalloc)": f"{per_story / 1024:.1f} KB",
            "index heap total": f"{per_story * n / 2**20:,.0f} MB",
        }
        if n == 10_000:
            bf_ms, accepted = brute_force(window)
            lsh = [a is not None for a in answers]
            brute = [bool(s) for s in accepted]
            agree = sum(a == b for a, b in zip(lsh, brute, strict=True))
            missed = sum(b and not a for a, b in zip(lsh, brute, strict=True))
            col["brute force: all members per query, ms (mean)"] = f"{bf_ms.mean():.3f}"
            col["LSH vs brute force: same decision"] = f"{agree}/{len(lsh)} ({agree / len(lsh):.4f})"
            col["brute force accepts, LSH misses"] = str(missed)
            col["LSH accepts, brute force does not"] = str(sum(a and not b for a, b in zip(lsh, brute, strict=True)))
        for name, value in col.items():
            rows.setdefault(name, ["–"] * len(sizes))[sizes.index(n)] = value
        print(f"... {n:,} done", flush=True)
    print(f"\nsignature() on a 300-word text: {signature_ms():.3f} ms (real cost, measured separately)\n")
    print("| measure | " + " | ".join(f"{n:,} in window" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
