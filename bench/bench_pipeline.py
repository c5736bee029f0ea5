"""Pipeline benchmark (issue 8): scenarios that drive the real daemon code against a loopback feed farm, each
next to the baselines measured in the same run (a naive ``feedparser.parse(url)`` loop, rss2email), median of
``--runs`` runs, written to bench/results/pipeline-<sqlite|postgresql>.json.

(a) unchanged cycle: N feeds answering 304 to our conditional GET, through ``poll_source`` (C at once) and
    ``daemon.run_once`` (leases included); (b) new entries end to end: fetch -> parse -> normalize -> dedupe
    -> match -> store -> alert rows in the outbox, fresh database each run; (c) alert latency: the real
    ``Daemon`` dispatching polls of S sources, 10 % of them with a new matching item each round, delivering to a
    loopback receiver through Apprise ``json://``: from the farm sending the item to the receiver getting the
    alert; (e) start-up: ``news-monitor run`` to systemd READY with a database of K stories.
(d) memory with 1M stories is bench/bench_dedupe.py / the dedup index's bench.

Run: .venv/bin/python bench/bench_pipeline.py [--runs 5] [--pg URL] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import farm_server
import peers
import scenarios

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"a_polls_per_s": 3000, "a_vs_naive": 50, "b_entries_per_s": 5000, "c_p99_ms": 200, "e_ready_s": 3.0}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else {}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg()[0]}


def repeat(runs: int, one: Callable[[], dict[str, float]]) -> dict[str, Any]:
    results = [one() for _ in range(runs)]
    return {"median": median_of(results), "runs": results}


def scenario_a(args: argparse.Namespace, db: scenarios.Database) -> dict[str, Any]:
    feeds = [i for i in range(args.feeds * 2) if farm_server.kind_of(i) == "unchanged"][: args.feeds]
    bodies = ([] if args.smoke else farm_server.load_bodies()) or [farm_server.generated_body(n) for n in range(50)]
    farm = farm_server.start(bodies, max(feeds) + 1, 0.2)  # the real feeds: what the naive loop downloads
    try:
        urls = [f"{farm.base}/feed/{i}.xml" for i in feeds]
        ours = asyncio.run(scenarios.unchanged(farm, feeds, args.runs, args.concurrency, db))
        base = [peers.naive_loop(urls[: args.baseline]) for _ in range(max(1, args.runs // 2))]
        naive = {"polls_per_s": statistics.median(p / w for p, _, w, _ in base),
                 "cpu_ms_per_poll": statistics.median(c / p * 1000 for p, _, _, c in base)}
        r2e = _r2e_cycles(urls[: args.baseline], args.runs) if args.r2e else None
    finally:
        farm.stop()
    return {"feeds": len(feeds), "ours": ours, "naive": naive, "rss2email": r2e}


def _r2e_cycles(urls: list[str], runs: int) -> dict[str, float] | None:
    if not peers.r2e_available():
        return None
    r2e = peers.Rss2email(urls)
    try:
        r2e.run()  # first run: every entry new (seen from then on)
        cycles = [r2e.run() for _ in range(max(1, runs // 2))]
    finally:
        r2e.close()
    return {"polls_per_s": statistics.median(len(urls) / w for w, _ in cycles),
            "cpu_ms_per_poll": statistics.median(c / len(urls) * 1000 for _, c in cycles)}


def scenario_b(args: argparse.Namespace, db: scenarios.Database) -> dict[str, Any]:
    n = args.ingest_feeds
    bodies = [farm_server.generated_body(i, items=args.items, words=args.words) for i in range(n * 2)]
    feeds = [i for i in range(n * 2) if farm_server.kind_of(i) == "unchanged"][:n]
    farm = farm_server.start(bodies, max(feeds) + 1, 0.2, distinct=True)
    try:
        urls = [f"{farm.base}/feed/{i}.xml" for i in feeds]
        ours = repeat(args.runs, lambda: asyncio.run(scenarios.ingest(farm, feeds, args.concurrency, db)))
        base = [peers.naive_loop(urls) for _ in range(max(1, args.runs // 2))]
        naive = {"entries_per_s": statistics.median(e / w for _, e, w, _ in base)}
        r2e = None
        if args.r2e and peers.r2e_available():
            first = []
            for _ in range(max(1, args.runs // 2)):
                r = peers.Rss2email(urls)
                first.append(r.run())
                r.close()
            entries = base[0][1]
            r2e = {"entries_per_s": statistics.median(entries / w for w, _ in first)}
    finally:
        farm.stop()
    return {"feeds": len(feeds), "items_per_feed": args.items, "ours": ours, "naive": naive, "rss2email": r2e}


def scenario_c(args: argparse.Namespace, db: scenarios.Database) -> dict[str, Any]:
    changed = [i for i in range(args.latency_sources * 20) if farm_server.kind_of(i) == "changed"]
    others = [i for i in range(args.latency_sources * 20) if farm_server.kind_of(i) != "changed"]
    feeds = sorted(changed[: args.latency_changed] + others[: args.latency_sources - args.latency_changed])
    bodies = [farm_server.generated_body(i, items=1) for i in range(max(feeds) + 1)]
    farm = farm_server.start(bodies, max(feeds) + 1, 0.2, distinct=True)
    try:
        return asyncio.run(scenarios.latency(farm, feeds, args.runs, args.max_polls, db))
    finally:
        farm.stop()


def scenario_e(args: argparse.Namespace, db: scenarios.Database) -> dict[str, Any]:
    return scenarios.startup(args.startup_stories, args.startup_sources, args.runs, db)


def summary(out: dict[str, Any]) -> list[str]:
    """The README table rows: what, ours, naive, rss2email, target, met."""
    rows = []
    a = out.get("a")
    if a:
        m, n, r = a["ours"]["median"], a["naive"], a["rss2email"] or {}
        ratio = m["polls_per_s"] / n["polls_per_s"]
        rows.append(f"| (a) unchanged cycle, {a['feeds']} feeds, poll_source x{out['args']['concurrency']} | "
                    f"{m['polls_per_s']:,.0f} polls/s, {m['cpu_ms_per_poll']:.2f} ms CPU/poll | "
                    f"{n['polls_per_s']:,.1f} polls/s ({ratio:.0f}x) | {r.get('polls_per_s', 0):,.1f} polls/s | "
                    f">= 3,000 polls/s, >= 50x | {_met(m['polls_per_s'] >= 3000 and ratio >= 50)} |")
        rows.append(f"| (a) same, through daemon.run_once (leases) | {m['run_once_polls_per_s']:,.0f} polls/s, "
                    f"{m['run_once_cpu_ms_per_poll']:.2f} ms CPU/poll | | | | |")
    b = out.get("b")
    if b:
        m, n, r = b["ours"]["median"], b["naive"], b["rss2email"] or {}
        rows.append(f"| (b) new entries end to end, {b['feeds']} feeds x {b['items_per_feed']} | "
                    f"{m['entries_per_s']:,.0f} entries/s ({m['alerts']:.0f} alerts queued) | "
                    f"{n['entries_per_s']:,.0f} entries/s parsed only | {r.get('entries_per_s', 0):,.0f} entries/s "
                    f"| >= 5,000 entries/s | {_met(m['entries_per_s'] >= 5000)} |")
    c = out.get("c")
    if c:
        rows.append(f"| (c) alert latency, {c['sources']} sources ({c['changed']} with a new item per round), "
                    f"fetched -> received | p50 {c['p50_ms']:.0f} ms, "
                    f"p99 {c['p99_ms']:.0f} ms ({c['alerts']} alerts; dispatch -> received p99 "
                    f"{c['dispatch_p99_ms']:.0f} ms) | | | poll wait + <= 200 ms p99 | {_met(c['p99_ms'] <= 200)} |")
    e = out.get("e")
    if e:
        m = e["median"]
        rows.append(f"| (e) start-up to READY, {e['stories']:,} stories | {m['ready_s']:.2f} s | | | <= 3 s | "
                    f"{_met(m['ready_s'] <= 3)} |")
    return rows


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per scenario (median reported)")
    p.add_argument("--feeds", type=int, default=2000, help="(a) unchanged feeds")
    p.add_argument("--concurrency", type=int, default=64, help="(a)(b) polls at once (and per host)")
    p.add_argument("--baseline", type=int, default=200, help="(a) feeds in the naive loop and rss2email")
    p.add_argument("--ingest-feeds", type=int, default=200, help="(b) feeds, all new")
    p.add_argument("--items", type=int, default=20, help="(b) entries per feed")
    p.add_argument("--words", type=int, default=120, help="(b) words per entry")
    p.add_argument("--latency-sources", type=int, default=1000, help="(c) sources")
    p.add_argument("--latency-changed", type=int, default=10, help="(c) of those, with a new item every round")
    p.add_argument("--max-polls", type=int, default=16, help="(c) settings.max_polls (the default; per host alike)")
    p.add_argument("--startup-stories", type=int, default=100_000, help="(e) stories in the database")
    p.add_argument("--startup-sources", type=int, default=1000, help="(e) sources in the config")
    p.add_argument("--scenarios", help="which scenarios to run (default abce; --smoke: abc)")
    p.add_argument("--pg", metavar="URL", help="run against this PostgreSQL database (its public schema is reset)")
    p.add_argument("--no-r2e", dest="r2e", action="store_false", help="skip rss2email")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one run (tests/test_bench_smoke.py)")
    p.add_argument("--json", type=Path, help="where to write the results")
    args = p.parse_args(argv)
    if args.smoke:
        args.runs, args.feeds, args.baseline, args.ingest_feeds, args.items = 1, 40, 10, 6, 5
        args.latency_sources, args.startup_stories, args.startup_sources, args.concurrency = 40, 500, 20, 16
        args.latency_changed = 4
        args.max_polls, args.r2e = 16, False
    args.scenarios = args.scenarios or ("abc" if args.smoke else "abce")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    db = scenarios.Database(args.pg)
    out: dict[str, Any] = {"machine": machine(), "database": db.kind, "args": vars(args) | {"json": None}}
    started = time.perf_counter()
    for key, run in (("a", scenario_a), ("b", scenario_b), ("c", scenario_c), ("e", scenario_e)):
        if key in args.scenarios:
            out[key] = run(args, db)
            print(f"scenario {key} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    out["table"] = summary(out)
    print(f"machine: {out['machine']}; database: {db.kind}; median of {args.runs} runs\n")
    print("| scenario | ours | naive feedparser.parse(url) loop | rss2email 3.14 | target | |")
    print("|---|---|---|---|---|---|")
    print("\n".join(out["table"]))
    path = args.json or RESULTS / f"pipeline-{db.kind}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
