"""Dedupe benchmark on real feeds: the near-duplicates flagged in the 200 fastfeedparser feeds (printed for a
human to judge), recall on synthetic copies of the seed story and of 200 real entries, timings. Markdown out.

Run: .venv/bin/python bench/bench_dedupe.py [--configs 0.5/0.8,0.6/0.9] [--quiet]
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import random
import time
import tracemalloc
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import numpy as np

from monitor.dedupe import ClusterIndex, Signature, signature
from monitor.models import RawItem
from monitor.normalize import html_to_text, normalize, strip_boilerplate

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FEEDS = SHARED / "corpora" / "fastfeedparser-feeds" / "benchmark_data"
SEED = SHARED / "fixtures" / "seed-story.txt"
UNDATED = datetime(2026, 2, 1, tzinfo=UTC)
FOREVER = timedelta(days=36500)
WINDOW = timedelta(hours=48)
SCRAPER_BOILERPLATE = (
    "Go deeper:\nRead More\nRelated Articles\nLeave a Reply\nYour email address will not be published.\n"
    "Back to top button\nAdblock Detected\nPlease consider supporting us by disabling your ad blocker"
)
ADDED = "Officials said on Monday that the situation would be reviewed again later this week by a panel."
EXTRA = "Another sentence was added at the end by the editors tonight."
KINDS = ("boilerplate", "title suffix", "truncated", "sentence added", "edited copy", "edited summary")


@dataclass(frozen=True)
class Entry:
    outlet: str
    title: str
    text: str
    when: datetime


def _when(entry: feedparser.FeedParserDict) -> datetime:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    when = datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else UNDATED
    return when if 1990 <= when.year <= 2030 else UNDATED  # absurd dates count as undated


def load_entries() -> list[Entry]:
    """Every entry of every feed, normalized; entries repeating an earlier story key are skipped."""
    entries: list[Entry] = []
    keys: set[str] = set()
    for path in sorted(FEEDS.glob("*.gz")):
        parsed = feedparser.parse(gzip.decompress(path.read_bytes()))
        outlet = parsed.feed.get("title", path.stem)
        for e in parsed.entries:
            body = e.content[0].value if e.get("content") else e.get("summary", "")
            story = normalize(RawItem(e.get("id"), e.get("link"), e.get("title", ""), body))
            if story.key not in keys:
                keys.add(story.key)
                entries.append(Entry(outlet, story.title, story.text, _when(e)))
    return entries


def seed_entry() -> Entry:
    lines = strip_boilerplate(html_to_text(SEED.read_text(encoding="utf-8"))).split("\n")
    return Entry("seed (Axios via scraper)", lines[0], "\n".join(lines[1:]), UNDATED)


def _truncate(text: str) -> str:
    """Leading paragraphs (at least two, at least 40 words), at most half of the words."""
    paras, words = text.split("\n"), text.split()
    for n in range(2, len(paras)):
        head = "\n".join(paras[:n])
        if len(head.split()) >= 40:
            return head if len(head.split()) <= len(words) // 2 else " ".join(words[: len(words) // 2])
    return " ".join(words[: len(words) // 2])


def _edit(text: str, words_changed: int) -> str:
    """``text`` with some words replaced, at positions fixed by the text itself (reproducible)."""
    rng = random.Random(zlib.crc32(text.encode()))
    words = text.split(" ")
    for _ in range(words_changed):
        words[rng.randrange(len(words))] = "changed"
    return " ".join(words)


def variant(entry: Entry, kind: str) -> tuple[str, str]:
    """A synthetic copy; boilerplate is appended NOT stripped, to test dedupe on its own. "edited copy":
    3 words changed, a sentence added after the first paragraph and one at the end, boilerplate appended;
    "edited summary": the truncated copy with one word changed."""
    if kind == "edited copy":
        paras = _edit(entry.text, 3).split("\n")
        return entry.title, "\n".join([paras[0], ADDED, *paras[1:], EXTRA, SCRAPER_BOILERPLATE])
    if kind == "edited summary":
        return entry.title, _edit(_truncate(entry.text), 1)
    if kind == "boilerplate":
        return entry.title, entry.text + "\n" + SCRAPER_BOILERPLATE
    if kind == "title suffix":
        return entry.title + " - Scraper News", entry.text
    if kind == "truncated":
        return entry.title, _truncate(entry.text)
    paras = entry.text.split("\n")
    return entry.title, "\n".join([paras[0], ADDED, *paras[1:]])


def estimates(a: Signature, b: Signature) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller in the larger)."""
    x, y = np.frombuffer(a.hashvalues, "<u8"), np.frombuffer(b.hashvalues, "<u8")
    small, large = (x, y) if a.size <= b.size else (y, x)
    below = np.count_nonzero(small <= large)
    return float(np.mean(x == y)), (np.count_nonzero(x == y) / below if below else 1.0)


def index_bytes(sigs: list[Signature], config: tuple[float, float]) -> float:
    """Python heap used by a ClusterIndex holding ``sigs``, per indexed story (tracemalloc)."""
    tracemalloc.start()
    index = ClusterIndex(window=FOREVER, threshold=config[0], containment=config[1])
    for member_id, sig in enumerate(sigs):
        index.add(member_id, member_id, sig, UNDATED)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return used / len(index)


@dataclass
class Run:
    index: ClusterIndex
    sigs: list[Signature] = field(default_factory=list)
    cluster_of: list[int] = field(default_factory=list)
    sig_s: float = 0.0
    find_ms: list[float] = field(default_factory=list)
    total_s: float = 0.0


def index_all(entries: list[Entry], config: tuple[float, float], window: timedelta, order: list[int]) -> Run:
    """Run entries through one index in ``order``, at their own time (``window`` < FOREVER evicts)."""
    run = Run(ClusterIndex(window=window, threshold=config[0], containment=config[1]))
    run.cluster_of = list(range(len(entries)))
    run.sigs = [Signature(b"", 0, b"")] * len(entries)
    start = time.perf_counter()
    for member_id in order:
        entry = entries[member_id]
        now = entry.when if window < FOREVER else UNDATED
        t0 = time.perf_counter()
        sig = signature(entry.title, entry.text)
        t1 = time.perf_counter()
        found = run.index.find(sig, now)
        t2 = time.perf_counter()
        run.cluster_of[member_id] = member_id if found is None else found
        run.index.add(member_id, run.cluster_of[member_id], sig, now)
        if window < FOREVER:
            run.index.evict(now - window)
        run.sigs[member_id], run.sig_s = sig, run.sig_s + t1 - t0
        run.find_ms.append((t2 - t1) * 1000)
    run.total_s = time.perf_counter() - start
    return run


def recall(run: Run, originals: list[int], entries: list[Entry]) -> dict[str, float]:
    hits = dict.fromkeys(KINDS, 0)
    for member_id in originals:
        for kind in KINDS:
            found = run.index.find(signature(*variant(entries[member_id], kind)), UNDATED)
            hits[kind] += found == run.cluster_of[member_id]
    return {kind: hits[kind] / len(originals) for kind in KINDS}


def flagged_pairs(run: Run, order: list[int]) -> list[tuple[int, int]]:
    """(most similar earlier member, member) for every story that joined an existing cluster."""
    rank = {member_id: n for n, member_id in enumerate(order)}
    members: dict[int, list[int]] = defaultdict(list)
    for member_id, cluster in enumerate(run.cluster_of):
        members[cluster].append(member_id)
    pairs = []
    for cluster, ids in members.items():
        for member_id in (i for i in ids if i != cluster):
            earlier = [i for i in ids if rank[i] < rank[member_id]]
            best = max(earlier, key=lambda i: max(estimates(run.sigs[i], run.sigs[member_id])))
            pairs.append((best, member_id))
    return sorted(pairs)


def print_pairs(run: Run, entries: list[Entry], pairs: list[tuple[int, int]]) -> None:
    for a, b in pairs:
        j, c = estimates(run.sigs[a], run.sigs[b])
        print(f"\n**[{a}] ~ [{b}]** J={j:.2f} C={c:.2f} sizes={run.sigs[a].size}/{run.sigs[b].size}")
        for i in (a, b):
            e = entries[i]
            print(f"  - `{e.outlet[:32]}` {e.when:%Y-%m-%d %H:%M} — {e.title[:100]}")
            print(f"    > {e.text[:150]!r}")


def measure(
    entries: list[Entry], config: tuple[float, float], sample: list[int], quiet: bool
) -> dict[str, str]:
    seed_id = len(entries) - 1
    run = index_all(entries, config, FOREVER, list(range(len(entries))))
    pairs = flagged_pairs(run, list(range(len(entries))))
    by_time = sorted(range(len(entries)), key=lambda i: (entries[i].when, i))
    windowed = index_all(entries, config, WINDOW, by_time)
    in_window = flagged_pairs(windowed, by_time)
    if not quiet:
        print(f"\n### Flagged pairs, threshold/containment {config[0]}/{config[1]}, no window")
        print_pairs(run, entries, pairs)
        print(f"\n### Of which flagged with a {WINDOW} window on published time: {in_window}")
    find = np.array(run.find_ms)
    return {
        "entries (unique keys, incl. seed)": str(len(entries)),
        "flagged pairs, no window": str(len(pairs)),
        "flagged pairs, 48 h window on published time": str(len(in_window)),
        **{f"seed recall: {k}": f"{v:.2f}" for k, v in recall(run, [seed_id], entries).items()},
        **{f"real recall ({len(sample)}): {k}": f"{v:.3f}" for k, v in recall(run, sample, entries).items()},
        "signature ms (mean)": f"{run.sig_s / len(entries) * 1000:.3f}",
        "find ms (mean / p95)": f"{find.mean():.3f} / {np.percentile(find, 95):.3f}",
        "stories/s (signature + find + add)": f"{len(entries) / run.total_s:,.0f}",
        "index heap per story (tracemalloc)": f"{index_bytes([s for s in run.sigs if s.size], config):,.0f}B",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--configs", default="0.5/0.8,0.6/0.9", help="threshold/containment pairs")
    parser.add_argument("--quiet", action="store_true", help="do not print the flagged pairs")
    args = parser.parse_args()
    configs = [(float(t), float(c)) for t, c in (pair.split("/") for pair in args.configs.split(","))]
    entries = [*load_entries(), seed_entry()]
    eligible = [i for i, e in enumerate(entries[:-1]) if len(e.text.split()) >= 80]
    sample = sorted(random.Random(0).sample(eligible, min(200, len(eligible))))
    results = [measure(entries, config, sample, args.quiet) for config in configs]
    print("\n| measure | " + " | ".join(f"t={t} / c={c}" for t, c in configs) + " |")
    print("|---|" + "---|" * len(configs))
    for name in results[0]:
        print(f"| {name} | " + " | ".join(r[name] for r in results) + " |")


if __name__ == "__main__":
    main()
