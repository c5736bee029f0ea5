"""Matching speed: MB/s of real news text matched with 10 and with 1,000 watches (every gazetteer place in some
watch), against one big compiled regular expression of the same term and place patterns, in the same run.

    .venv/bin/python bench/bench_match.py [--repeat 3]

Text: title + summary of every item of the 200 real feeds in ../shared/corpora/fastfeedparser-feeds (tags
stripped), plus the seed story. Each watch uses the territorial-gain preset, some places, and two terms of its
own (so the number of distinct terms grows with the watches too). The baseline only *finds* occurrences (two
alternations: terms on lower-cased text, place spellings on folded text); ``match`` also decides every watch.
Writes bench/results/match.json and prints it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402

from monitor.gazetteer import BOUNDARY, Gazetteer, fold  # noqa: E402
from monitor.match import CompiledWatchlist, compile_watches, match  # noqa: E402

FEEDS = ROOT.parent / "shared" / "corpora" / "fastfeedparser-feeds" / "benchmark_data"
SEED = ROOT.parent / "shared" / "fixtures" / "seed-story.txt"
RESULTS = ROOT / "bench" / "results" / "match.json"
_TAGS = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[^\W\d_]{6,}")


@dataclass
class Watch:
    name: str
    places: list[str]
    any: list[str]
    preset: str | None = "territorial-gain"
    all: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)
    notify: list[str] = field(default_factory=lambda: ["log"])
    severity: str = "high"


def stories() -> list[tuple[str, str]]:
    out = []
    for path in sorted(FEEDS.glob("*.gz")):
        parsed = feedparser.parse(gzip.decompress(path.read_bytes()))
        for entry in parsed.entries:
            text = _TAGS.sub(" ", str(entry.get("summary", "")))
            out.append((str(entry.get("title", "")), " ".join(text.split())))
    title, _, body = SEED.read_text(encoding="utf-8").strip().partition("\n")
    return [*out, (title, body)]


def watches(n: int, gazetteer: Gazetteer, vocabulary: list[str]) -> list[Watch]:
    """``n`` watches: 10 over the 50 largest places, or 1,000 covering every place of the gazetteer (each
    once; names several places share are left out, they would need an oblast)."""
    unique = [p for p in gazetteer if len(gazetteer.resolve(p.name)) == 1]
    if n < 100:  # 10 watches: the 50 largest places, 5 each
        names = [p.name for p in sorted(unique, key=lambda p: -p.population)[: 5 * n]]
    else:  # 1,000 watches: every place
        names = sorted({p.name for p in unique})
    per = -(-len(names) // n)
    return [Watch(f"w{i}", names[i * per : (i + 1) * per] or names[:1], vocabulary[2 * i : 2 * i + 2])
            for i in range(n)]


def baseline(compiled: CompiledWatchlist) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """One alternation of every term regex and one of every place spelling regex, the shared word boundary
    hoisted in front (without that, ``re`` tries every alternative at every position: 40x slower)."""

    def alternation(sources: list[str]) -> re.Pattern[str]:
        return re.compile(BOUNDARY + "(?:" + "|".join(s.removeprefix(BOUNDARY) for s in sources) + ")")

    return (alternation([p.source for p in compiled.patterns if not p.on_folded]),
            alternation([p.source for p in compiled.patterns if p.on_folded]))


def timed(run: Any, items: list[tuple[str, str]], repeat: int, budget: float) -> tuple[float, float, int]:
    """(best seconds, MB processed, result count): all stories, or as many as ``budget`` seconds allow."""
    best, mb, found = float("inf"), 0.0, 0
    for _ in range(repeat):
        start, mb, found = time.perf_counter(), 0.0, 0
        for title, text in items:
            found += run(title, text)
            mb += len(f"{title}\n{text}".encode()) / 1e6
            if time.perf_counter() - start > budget:
                break
        best = min(best, time.perf_counter() - start)
    return best, mb, found


def measure(n: int, gazetteer: Gazetteer, items: list[tuple[str, str]], vocabulary: list[str],
            repeat: int) -> dict[str, Any]:
    start = time.perf_counter()
    compiled = compile_watches(watches(n, gazetteer, vocabulary), gazetteer)  # type: ignore[arg-type]
    compile_s = time.perf_counter() - start

    def automaton(title: str, text: str) -> int:
        return len(match(compiled, title, text))

    def big_regex(title: str, text: str) -> int:
        folded = fold(f"{title}\n{text}")
        return sum(1 for _ in terms_rx.finditer(folded.lower())) + sum(1 for _ in places_rx.finditer(folded))

    ac_s, ac_mb, matched = timed(automaton, items, repeat, budget=600)
    start = time.perf_counter()
    terms_rx, places_rx = baseline(compiled)
    regex_compile_s = time.perf_counter() - start
    rx_s, rx_mb, occurrences = timed(big_regex, items, 1, budget=60)  # a sample when it is slow
    return {"watches": n, "patterns": len(compiled.patterns), "unanchored": len(compiled.unanchored),
            "compile_s": round(compile_s, 2), "automaton_text_mb": round(ac_mb, 2),
            "automaton_mb_s": float(f"{ac_mb / ac_s:.3g}"), "matches": matched,
            "big_regex_compile_s": round(regex_compile_s, 2), "big_regex_text_mb": round(rx_mb, 3),
            "big_regex_mb_s": float(f"{rx_mb / rx_s:.3g}"), "big_regex_occurrences": occurrences}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gazetteer = Gazetteer.load()
    items = stories()
    vocabulary = sorted({w.lower() for t, x in items[:3000] for w in _WORD.findall(f"{t} {x}")})[::7]
    rows = [measure(n, gazetteer, items, vocabulary, args.repeat) for n in (10, 1000)]
    result = {"stories": len(items), "python": sys.version.split()[0], "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
