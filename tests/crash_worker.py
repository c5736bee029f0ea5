"""Child-process entry points for the crash and concurrency tests (the parent kills them by PID).

Run as ``python -m tests.crash_worker MODE ...`` from the repository root:

``drain CONFIG [--lease-seconds S]``
    Open the context of CONFIG and drain the outbox (real ``outbox.drain``, real clock) until no row is
    pending or sending. Prints ``ready`` once the context is open, ``done sent=N`` at the end.
    ``--lease-seconds`` shortens ``monitor.outbox.LEASE`` (5 min) in this process only: the row a killed
    worker held must come back within the test's time, and the lease length is the one knob that decides
    when. The alternative, a clock pushed minutes ahead, would also move every ``next_attempt_at`` and
    ``created_at`` the worker writes, so the rows would no longer say what really happened.
``commit DB_URL``
    D01: insert one story with its alert per transaction (``stories.insert_new``), printing each key
    after its COMMIT returned, until killed (bounded by count and time).
``fsize DB_URL LIMIT_BYTES``
    D08: under RLIMIT_FSIZE (SIGXFSZ ignored) insert stories until a write fails, then lift the limit and
    insert once more. Prints ``ok KEY``, ``failed KEY ERROR``, ``recovered KEY``.
``insert DB_URL INSTANCE N``
    D14: one "instance" inserts the "new" alerts of the same N clusters (its own source and stories), as
    two daemons that detected the same stories would. Prints ``created N``.
``claim DB_URL``
    D07/D11: claim rows one at a time (``alerts.claim_due``, limit 1) and mark them sent until none is
    due. Prints ``claimed ID`` per row.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(ROOT))

from monitor.errors import StoreError  # noqa: E402
from monitor.models import Alert, AlertDraft, Story  # noqa: E402
from monitor.store import alerts as store_alerts  # noqa: E402
from monitor.store import engine as store_engine  # noqa: E402
from monitor.store import sources as store_sources  # noqa: E402
from monitor.store import stories as store_stories  # noqa: E402

DEADLINE = 90.0  # seconds: no child outlives a test that forgot it


def say(line: str) -> None:
    print(line, flush=True)


def draft(channel: str, title: str) -> AlertDraft:
    alert = Alert(alert_id="", channel=channel, kind="new", title=title, link=None, sources=("s",),
                  watch="w", terms=("withdrew",), places=("Izium",), excerpt="Russian forces withdrew.")
    return AlertDraft(alert=alert, hits=("withdrew",))


def story(key: str) -> Story:
    return Story(key=key, url=None, title=key, text="x" * 400, published=None, fingerprint=key)


STORE_ONLY_SIG = b"sig"  # the store-only modes: no context is ever opened on their databases (saves 0.4 s each)


@functools.cache
def sig() -> bytes:
    """A real dedup signature (``open_context`` rebuilds its index from the stored ones)."""
    from monitor.dedupe import signature

    return signature("t", "x" * 400).to_bytes()


async def drain_until_empty(config_path: str, lease_seconds: float | None) -> int:
    from monitor import outbox
    from monitor.config import load
    from monitor.context import compile_for, load_gazetteer, open_context

    if lease_seconds is not None:
        outbox.LEASE = timedelta(seconds=lease_seconds)
    cfg = load(config_path, environ={})
    gazetteer = load_gazetteer()
    async with open_context(cfg, watchlist=compile_for(cfg, gazetteer), gazetteer=gazetteer, migrate=False,
                            database_url=cfg.database) as ctx:
        say("ready")
        sent = 0
        stop = time.monotonic() + DEADLINE
        while time.monotonic() < stop:
            report = await outbox.drain(ctx)
            sent += report.sent
            counts = await ctx.db(store_alerts.counts, ctx.engine)
            if not counts.get("pending") and not counts.get("sending"):
                say(f"done sent={sent}")
                return 0
            if not (report.sent or report.retried or report.dead):
                # Inherent wait: rows a killed worker leased come back only when their lease expires.
                await asyncio.sleep(0.05)
        say(f"gave up sent={sent} counts={counts}")
        return 1


def commit_forever(url: str) -> int:
    engine = store_engine.make_engine(url)
    src = store_sources.ensure(engine, "s", "https://example.org/")
    stop = time.monotonic() + DEADLINE
    now = datetime(2022, 9, 11, tzinfo=UTC)
    for n in range(1_000_000):
        if time.monotonic() > stop:
            break
        key = f"{src.id}-{time.monotonic_ns()}-{n}"  # unique across the rounds of one test
        store_stories.insert_new(engine, src.id, story(key), STORE_ONLY_SIG, None, [draft("log", key)], now)
        say(key)
    return 0


def fill_disk(url: str, limit: int) -> int:
    engine = store_engine.make_engine(url)
    src = store_sources.ensure(engine, "s", "https://example.org/")
    now = datetime(2022, 9, 11, tzinfo=UTC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    failed = False
    for n in range(100_000):
        key = f"k{n}"
        try:
            store_stories.insert_new(engine, src.id, story(key), STORE_ONLY_SIG, None, [draft("log", key)], now)
        except Exception as exc:  # SQLAlchemy's OperationalError: "disk I/O error" or "database or disk is full"
            say(f"failed {key} {type(exc).__name__}: {str(exc).splitlines()[0]}")
            failed = True
            break
        say(f"ok {key}")
    if not failed:
        say("never failed")
        return 1
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    engine.dispose()  # a connection that saw an I/O error is not trusted again
    key = "after"
    store_stories.insert_new(engine, src.id, story(key), STORE_ONLY_SIG, None, [draft("log", key)], now)
    say(f"recovered {key}")
    return 0


def insert_same(url: str, instance: int, n: int) -> int:
    from sqlalchemy import select

    from monitor.store.schema import clusters

    engine = store_engine.make_engine(url)
    src = store_sources.ensure(engine, f"instance{instance}", f"https://example.org/{instance}")
    with engine.connect() as conn:
        cluster_ids = [r[0] for r in conn.execute(select(clusters.c.id).order_by(clusters.c.id).limit(n))]
    now = datetime(2022, 9, 11, tzinfo=UTC)
    created = 0
    for i, cid in enumerate(cluster_ids):
        drafts = [draft("hook", f"t{i}")]
        _, _, made = store_stories.insert_new(engine, src.id, story(f"story{i}"), STORE_ONLY_SIG, cid, drafts, now)
        created += made
    say(f"created {created}")
    return 0


def claim_one_by_one(url: str) -> int:
    engine = store_engine.make_engine(url)
    now = datetime(2022, 9, 11, 12, tzinfo=UTC)
    stop = time.monotonic() + DEADLINE
    while time.monotonic() < stop:
        try:
            rows = store_alerts.claim_due(engine, now, lease=timedelta(minutes=5), limit=1)
        except Exception as exc:
            say(f"error {type(exc).__name__}: {str(exc).splitlines()[0]}")
            return 1
        if not rows:
            return 0
        store_alerts.mark_sent(engine, rows[0].id, now)
        say(f"claimed {rows[0].id}")
    return 1


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s pid={os.getpid()} %(name)s %(levelname)s %(message)s")
    try:
        if mode == "drain":
            lease = float(args[2]) if len(args) > 2 and args[1] == "--lease-seconds" else None
            return asyncio.run(drain_until_empty(args[0], lease))
        if mode == "commit":
            return commit_forever(args[0])
        if mode == "fsize":
            return fill_disk(args[0], int(args[1]))
        if mode == "insert":
            return insert_same(args[0], int(args[1]), int(args[2]))
        if mode == "claim":
            return claim_one_by_one(args[0])
    except StoreError as exc:
        say(f"store error: {exc}")
        return 3
    say(f"unknown mode {mode!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
