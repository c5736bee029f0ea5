"""Parse fast path vs feedparser: every file of feedparser's test corpus and the 200 real feeds parsed both ways
(``monitor.parse.parse`` with and without ``fast_path``), items compared field by field and after
``normalize`` (story key, title, text, link, date), and the CPU time of each path.

Run: .venv/bin/python bench/compare_parsers.py [--json bench/results/parse_fastpath.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor import normalize, parse_fast
from monitor.errors import ParseError
from monitor.models import ParseResult
from monitor.parse import parse

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
FIELDS = ("guid", "link", "title", "html", "published")
STORY_FIELDS = ("key", "title", "text", "url", "published")


@dataclass
class Tally:
    """What one corpus gave."""

    files: int = 0
    fast: int = 0  # files the fast path took
    same: int = 0  # of those, identical items
    differ: dict[str, list[str]] = field(default_factory=dict)  # file -> differing fields
    story_differ: dict[str, list[str]] = field(default_factory=dict)  # file -> differing story fields
    cpu_fast: float = 0.0
    cpu_feedparser: float = 0.0
    items: int = 0


def _parse(body: bytes, fast: bool) -> tuple[ParseResult | str, float]:
    start = time.process_time()
    try:
        result: ParseResult | str = parse(body, url="http://example.com/feed", fast_path=fast)
    except ParseError as exc:
        result = f"ParseError {exc.kind}"
    return result, time.process_time() - start


def _diff(a: ParseResult, b: ParseResult) -> tuple[list[str], list[str]]:
    raw = ["count"] if len(a.items) != len(b.items) else []
    story: list[str] = []
    for x, y in zip(a.items, b.items, strict=False):
        raw += [f for f in FIELDS if getattr(x, f) != getattr(y, f) and f not in raw]
        sx, sy = normalize.normalize(x), normalize.normalize(y)
        story += [f for f in STORY_FIELDS if getattr(sx, f) != getattr(sy, f) and f not in story]
    if a.title != b.title:
        raw.append("feed title")
    if a.ttl_seconds != b.ttl_seconds:
        raw.append("ttl")
    return raw, story


def compare(bodies: list[tuple[str, bytes]]) -> Tally:
    tally = Tally()
    for name, body in bodies:
        tally.files += 1
        slow, cpu_slow = _parse(body, fast=False)
        fast, cpu_fast = _parse(body, fast=True)
        tally.cpu_feedparser += cpu_slow
        tally.cpu_fast += cpu_fast
        if parse_fast.entries(body) is None:
            continue
        tally.fast += 1
        if isinstance(slow, str) or isinstance(fast, str):
            tally.differ[name] = [f"outcome {slow if isinstance(slow, str) else 'items'} vs "
                                  f"{fast if isinstance(fast, str) else 'items'}"]
            continue
        tally.items += len(slow.items)
        raw, story = _diff(slow, fast)
        if raw:
            tally.differ[name] = raw
        if story:
            tally.story_differ[name] = story
        if not raw:
            tally.same += 1
    return tally


def feedparser_corpus() -> list[tuple[str, bytes]]:
    root = CORPORA / "feedparser-tests" / "tests"
    return [(str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def real_feeds() -> list[tuple[str, bytes]]:
    root = CORPORA / "fastfeedparser-feeds" / "benchmark_data"
    return [(p.name, gzip.decompress(p.read_bytes())) for p in sorted(root.glob("*.gz"))]


def summary(tally: Tally) -> dict[str, Any]:
    fields = Counter(f for fs in tally.differ.values() for f in fs)
    story_fields = Counter(f for fs in tally.story_differ.values() for f in fs)
    return {"files": tally.files, "fast_path_taken": tally.fast, "identical_items": tally.same,
            "items_compared": tally.items, "differing_files": len(tally.differ), "differing_fields": dict(fields),
            "differing_stories_files": len(tally.story_differ), "differing_story_fields": dict(story_fields),
            "cpu_s_feedparser_only": round(tally.cpu_feedparser, 3), "cpu_s_with_fast_path": round(tally.cpu_fast, 3),
            "differ": tally.differ, "story_differ": tally.story_differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "parse_fastpath.json")
    args = parser.parse_args()
    out = {}
    for label, load in (("feedparser-tests", feedparser_corpus), ("real-feeds-200", real_feeds)):
        bodies = load()
        if not bodies:
            print(f"{label}: corpus absent, skipped")
            continue
        out[label] = s = summary(compare(bodies))
        print(f"{label}: {s['files']} files, fast path took {s['fast_path_taken']}, identical items in "
              f"{s['identical_items']}; differing files {s['differing_files']} {s['differing_fields']}; after "
              f"normalize {s['differing_stories_files']} {s['differing_story_fields']}; CPU feedparser only "
              f"{s['cpu_s_feedparser_only']} s, with fast path {s['cpu_s_with_fast_path']} s")
        for name, fields in list(s["differ"].items())[:40]:
            print(f"  {name}: {', '.join(fields)}; story: {', '.join(s['story_differ'].get(name, [])) or 'same'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
