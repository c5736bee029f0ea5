"""Context: the long-lived objects (config, compiled watchlist, HTTP client, engine, channels,
dedup index, clock, sleep) built once by ``open_context`` and passed to every orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from monitor import deliver, fetch
from monitor.config import Config
from monitor.dedupe import ClusterIndex
from monitor.errors import StoreError
from monitor.gazetteer import Gazetteer
from monitor.match import CompiledWatchlist, compile_watches
from monitor.poll_state import PollState
from monitor.store import engine as store_engine
from monitor.store import signatures as store_signatures
from monitor.store import sources as store_sources

log = logging.getLogger("monitor.context")
P = ParamSpec("P")
T = TypeVar("T")
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The real clock (tests pass their own)."""
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything a poll or a delivery needs; swapped fields on reload are replaced whole."""

    config: Config
    watchlist: CompiledWatchlist
    client: Any  # the shared httpx.AsyncClient, built by fetch.make_client
    engine: Engine
    channels: dict[str, deliver.Channel]
    index: ClusterIndex
    clock: Clock = utc_now
    rng: random.Random = field(default_factory=random.Random)
    host_locks: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    story_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gazetteer: Gazetteer | None = None
    metrics: Any = None  # monitor.metrics.Metrics: counters and histograms of this daemon (None: not counted)
    sleep: Sleep = asyncio.sleep  # waits that pace sends (tests pass a recorder)
    last_sent: dict[str, datetime] = field(default_factory=dict)  # channel -> its last send (Slack pacing)
    poll_state: PollState = field(init=False)  # the sources' polling state, batched across concurrent polls
    index_loading: asyncio.Future[int] | None = None  # the start-up rebuild of ``index``, after READY

    async def index_ready(self) -> None:
        """Wait until the start-up rebuild of the dedup index is done (raises what it raised): a new story is
        looked up only in a complete index. READY does not wait (1M stories take a few seconds)."""
        if self.index_loading is not None:
            await asyncio.shield(self.index_loading)

    def index_loaded(self) -> bool:
        return self.index_loading is None or self.index_loading.done()

    def __post_init__(self) -> None:
        self.poll_state = PollState(functools.partial(store_sources.ensure_many, self.engine),
                                    functools.partial(store_sources.record_successes, self.engine), self.db)

    def is_place(self, word: str) -> bool:
        """True for a capitalised word that names a settlement (so replacing it is news, not a typo)."""
        return bool(word[:1].isupper() and self.gazetteer is not None and self.gazetteer.resolve(word))

    async def db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a synchronous store function off the event loop; database errors become StoreError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (IntegrityError, DataError) as exc:  # this row's data: the caller may skip the row
            raise StoreError(f"database refused the data: {exc}", kind="store_data") from exc
        except SQLAlchemyError as exc:  # the database itself (locked, disk full, gone)
            raise StoreError(f"database error: {exc}") from exc

    async def cpu(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU-bound parsing off the event loop (a thread: feedparser releases little, but
        the loop keeps its timers; a process pool is the planned upgrade)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def host_lock(self, url: str) -> asyncio.Semaphore:
        """At most two requests at a time to one host."""
        host = urlsplit(url).hostname or ""
        return self.host_locks.setdefault(host, asyncio.Semaphore(2))


def load_gazetteer() -> Gazetteer:
    """The shipped gazetteer of Ukrainian settlements."""
    return Gazetteer.load()


def compile_for(config: Config, gazetteer: Gazetteer) -> CompiledWatchlist:
    """Compile the config's watches (raises ConfigError with dotted paths)."""
    return compile_watches(config.watches, gazetteer)


def new_index(config: Config, engine: Engine) -> ClusterIndex:
    """An empty dedup index; its signatures stay in the database, fetched for the few candidates of a look-up
    (bounded memory: ~0.15 KB a story). ``store.signatures.load_index`` fills it with the window."""
    s = config.settings
    return ClusterIndex(window=s.dedup_window, threshold=s.dedup_threshold, containment=s.dedup_containment,
                        signatures=functools.partial(_fetch_signatures, engine))


def _fetch_signatures(engine: Engine, ids: Sequence[int]) -> Mapping[int, bytes]:
    """The index's candidates' signatures (a point read, on the loop: ~0.1 ms); errors become StoreError."""
    try:
        return store_signatures.fetch(engine, ids)
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc


def build_index(config: Config, engine: Engine, now: datetime) -> ClusterIndex:
    """A dedup index holding the stories of the last window, rebuilt from the database."""
    index = new_index(config, engine)
    store_signatures.load_index(index, engine, now - config.settings.dedup_window)
    return index


def release_free_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc's ``malloc_trim``; elsewhere nothing): parsing at
    start (the watchlist's YAML, the gazetteer's JSON, the index rebuild) leaves ~10 MB of them behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _log_index_loaded(started: float, done: asyncio.Future[int]) -> None:
    """Say when the start-up rebuild of the dedup index ended (bench/bench_memory.py waits for this line)."""
    if not done.cancelled() and done.exception() is None:
        release_free_memory()
        log.info("dedup index loaded stories=%d in %.1fs", done.result(), time.monotonic() - started)


@asynccontextmanager
async def open_context(
    config: Config,
    *,
    watchlist: CompiledWatchlist,
    clock: Clock = utc_now,
    transport: Any = None,
    migrate: bool = True,
    database_url: str | None = None,
    gazetteer: Gazetteer | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[Context]:
    """Build the context (migrating the database first) and close it afterwards."""
    engine = store_engine.make_engine(database_url or config.database_url())
    if migrate:
        await asyncio.to_thread(store_engine.upgrade, engine)
    s = config.settings
    alerts_file = Path(s.alerts_file) if s.alerts_file else None
    story_base = config.settings.web.public_url if config.settings.web is not None else None
    channels = deliver.make_channels(config.channel_urls(), alerts_file=alerts_file, story_base=story_base)
    index = new_index(config, engine)
    client = fetch.make_client(user_agent=s.user_agent, transport=transport)
    ctx = Context(config=config, watchlist=watchlist, client=client, engine=engine, channels=channels,
                  index=index, clock=clock, gazetteer=gazetteer or load_gazetteer(), sleep=sleep)
    # Rebuilt in the background: READY comes first, new stories wait for it (ctx.index_ready).
    ctx.index_loading = asyncio.ensure_future(
        ctx.db(store_signatures.load_index, index, engine, clock() - s.dedup_window))
    ctx.index_loading.add_done_callback(functools.partial(_log_index_loaded, time.monotonic()))
    release_free_memory()  # what loading the config and the gazetteer freed
    try:
        yield ctx
    finally:
        with contextlib.suppress(Exception):  # a failed rebuild was reported to the stories that waited
            await ctx.index_loading  # its thread cannot be cancelled: let it end before the engine goes
        await client.aclose()
        engine.dispose()
