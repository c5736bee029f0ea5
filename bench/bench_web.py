"""Status-page benchmark: each page's server time with N stories (and as many alerts) in SQLite, median of
several runs, against the same page with 100 stories in the same run. Markdown out.

Run: .venv/bin/python bench/bench_web.py [--stories 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient

from monitor.config import parse_text
from monitor.gazetteer import Gazetteer
from monitor.store import engine as store_engine
from monitor.store.schema import alerts, clusters, naive, sources, stories, story_versions
from monitor.web.app import make_app

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PLACES = ("Izium", "Kupiansk", "Balakliia", "Kharkiv", "Lyman", "Pokrovsk", "Kherson", "Bakhmut")
WATCHES = ("kharkiv-gains", "donbas", "south")
TEXT = ("Ukrainian forces recaptured the village after Russian troops withdrew from positions nearby, "
        "the general staff said. ") * 6


def fill(engine: Engine, n: int, rng: random.Random) -> None:
    """``n`` stories in ``n // 3`` clusters over 12 sources, two versions for a tenth, one alert each."""
    with engine.begin() as conn:
        conn.execute(insert(sources), [{"name": f"src{i}", "url": f"https://s{i}.example/feed", "error_count": 0,
                                        "health": "ok", "config_url": f"https://s{i}.example/feed"}
                                       for i in range(12)])
        source_ids = [r[0] for r in conn.execute(select(sources.c.id))]
        conn.execute(insert(clusters), [_cluster(i) for i in range(n // 3 + 1)])
        conn.execute(insert(stories), [_story(i, rng.choice(source_ids)) for i in range(1, n + 1)])
        versions = [_version(i, 1) for i in range(1, n + 1)] + [_version(i, 2) for i in range(1, n + 1, 10)]
        conn.execute(insert(story_versions), versions)
        conn.execute(insert(alerts), [_alert(i, rng) for i in range(1, n + 1)])


def _seen(i: int) -> datetime | None:
    return naive(NOW - timedelta(minutes=i))


def _cluster(i: int) -> dict[str, object]:
    return {"id": i + 1, "first_seen_at": _seen(3 * i), "last_seen_at": _seen(3 * i), "member_count": 3}


def _story(i: int, source_id: int) -> dict[str, object]:
    return {"id": i, "source_id": source_id, "key": f"guid:{i}", "cluster_id": i // 3 + 1,
            "url": f"https://news.example/{i}", "title": f"Story {i}: forces recapture {PLACES[i % len(PLACES)]}",
            "published_at": _seen(i), "first_seen_at": _seen(i), "updated_at": _seen(i),
            "version": 2 if i % 10 == 1 else 1, "fingerprint": f"f{i}", "signature": b""}


def _version(i: int, version: int) -> dict[str, object]:
    extra = " Officials confirmed the flag was raised over the council building." if version == 2 else ""
    return {"story_id": i, "version": version, "title": f"Story {i}", "text": TEXT + extra,
            "fingerprint": f"f{i}.{version}", "seen_at": _seen(i), "alerted": version == 1}


def _alert(i: int, rng: random.Random) -> dict[str, object]:
    place = PLACES[i % len(PLACES)]
    payload = {"channel": "desk", "kind": "new", "title": f"Story {i}", "link": f"https://news.example/{i}",
               "sources": ["src1"], "watch": WATCHES[i % 3], "terms": ["recaptur*"], "places": [place],
               "excerpt": TEXT[:200], "severity": rng.choice(["info", "high", "critical"])}
    return {"alert_uid": f"nm-{i:020d}", "cluster_id": i // 3 + 1, "story_id": i, "watch": WATCHES[i % 3],
            "channel": "desk", "kind": "new", "version_ref": 0, "payload": json.dumps(payload),
            "hits": json.dumps(["recaptur*", f"place:{place}"]), "status": rng.choice(["sent", "sent", "pending"]),
            "attempts": 1, "next_attempt_at": _seen(i), "created_at": _seen(i), "sent_at": _seen(i)}


def timings(client: TestClient, paths: list[str], runs: int) -> dict[str, float]:
    """Median milliseconds per path (one warm-up request first)."""
    out = {}
    for path in paths:
        assert client.get(path).status_code == 200, path
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, path
        out[path] = statistics.median(samples)
    return out


def measure(n: int, runs: int, gazetteer: Gazetteer, workdir: Path) -> dict[str, float]:
    engine = store_engine.make_engine(f"sqlite:///{workdir}/web-{n}.db")
    store_engine.upgrade(engine)
    fill(engine, n, random.Random(n))
    config = parse_text("settings: {web: {}}\n", "bench.yaml", environ={})
    app = make_app(engine, config, gazetteer=gazetteer, clock=lambda: NOW)
    paths = ["/", f"/stories/{n // 2 + 1}", "/sources", "/watches", "/map?days=30"]
    with TestClient(app) as client:
        result = timings(client, paths, runs)
    engine.dispose()
    return {path.split("?")[0] if not path.startswith("/stories") else "/stories/{id}": ms
            for path, ms in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    gazetteer = Gazetteer.load()
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(100, args.runs, gazetteer, Path(tmp))
        big = measure(args.stories, args.runs, gazetteer, Path(tmp))
    print(f"## Status pages: server time per page (median of {args.runs}, SQLite, in-process ASGI client)\n")
    print(f"| page | 100 stories | {args.stories:,} stories | ratio | under 200 ms |")
    print("|---|---|---|---|---|")
    for page, ms in big.items():
        verdict = "yes" if ms < 200 else "NO"
        print(f"| `{page}` | {small[page]:.1f} ms | {ms:.1f} ms | {ms / small[page]:.1f}x | {verdict} |")


if __name__ == "__main__":
    main()
