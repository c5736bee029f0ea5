"""Lifecycle: load config -> open context (migrate) -> schedule -> READY; signals (SIGTERM stop,
SIGHUP reload), watchdog pings only while the database answers, and ``run_once`` (burst mode)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor import config as config_mod
from monitor import deliver
from monitor.config import Config, Source
from monitor.context import Clock, Context, compile_for, load_gazetteer, open_context, utc_now
from monitor.errors import ConfigError, MonitorError
from monitor.gazetteer import Gazetteer
from monitor.match import CompiledWatchlist
from monitor.models import PollReport
from monitor.outbox import DrainReport, drain
from monitor.pipeline import poll_source
from monitor.scheduler import make_scheduler, schedule_drain, schedule_housekeeping, schedule_sources
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.systemd import Notifier

log = logging.getLogger("monitor.daemon")
STOP_GRACE = 25.0
ONCE_CONCURRENCY = 8
HOUSEKEEPING = timedelta(minutes=15)


def load_config(path: Path, gazetteer: Gazetteer) -> tuple[Config, CompiledWatchlist]:
    """Load and validate the watchlist, compiling its watches; ConfigError lists every problem."""
    compiled: list[CompiledWatchlist] = []
    cfg = config_mod.load(path, check=lambda c: compiled.append(compile_for(c, gazetteer)))
    return cfg, compiled[0]


async def run_once(ctx: Context) -> tuple[list[PollReport], DrainReport]:
    """Burst mode: poll every source once (bounded concurrency), then send every due alert."""
    limit = asyncio.Semaphore(ONCE_CONCURRENCY)

    async def one(source: Source) -> PollReport:
        async with limit:
            return await poll_source(ctx, source, force=True)

    results = await asyncio.gather(*(one(s) for s in ctx.config.sources), return_exceptions=True)
    reports = []
    for source, result in zip(ctx.config.sources, results, strict=True):
        if isinstance(result, BaseException):  # e.g. the database failed while recording the failure
            log.error("poll source=%s failed: %s", source.name, result)
            result = PollReport(source=source.name, error_kind=getattr(result, "kind", "internal_error"),
                                error=str(result))
        reports.append(result)
    return reports, await drain(ctx)


@dataclass
class Daemon:
    """The long-running service around one Context."""

    ctx: Context
    config_path: Path
    gazetteer: Gazetteer
    notifier: Notifier
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    drain_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    scheduler: Any = None
    last_poll: str = "never"

    async def poll_job(self, source: Source) -> None:
        report = await self._tracked(poll_source(self.ctx, source))
        self.last_poll = f"{source.name} at {self.ctx.clock().strftime('%H:%M:%S')}"
        if report.alerts:
            await self.drain_job()

    async def drain_job(self) -> None:
        async with self.drain_lock:
            await self._tracked(drain(self.ctx))

    def housekeeping(self) -> None:
        """Keep the dedup index bounded by the window (it is rebuilt from the database at start)."""
        now = self.ctx.clock()
        dropped = self.ctx.index.evict(now - self.ctx.config.settings.dedup_window)
        log.info("housekeeping index=%d evicted=%d", len(self.ctx.index), dropped)

    async def _tracked(self, coro: Any) -> Any:
        task = asyncio.ensure_future(coro)
        self.inflight.add(task)
        try:
            return await task
        finally:
            self.inflight.discard(task)

    def reload(self) -> None:
        """SIGHUP: validate the file, then swap; a broken file keeps the running config."""
        self.notifier.reloading()
        try:
            cfg, compiled = load_config(self.config_path, self.gazetteer)
            alerts_file = Path(cfg.settings.alerts_file) if cfg.settings.alerts_file else None
            channels = deliver.make_channels(cfg.channels, alerts_file=alerts_file)
        except Exception as exc:  # ConfigError or DeliveryConfigError: keep the old config
            log.error("reload failed, keeping the running config:\n%s", exc)
        else:
            if cfg.database_url() != self.ctx.config.database_url():
                log.warning("reload: the database setting changed; it takes effect on restart")
            self.ctx.config, self.ctx.watchlist, self.ctx.channels = cfg, compiled, channels
            schedule_sources(self.scheduler, cfg.sources, cfg.settings, self.poll_job, self.ctx.clock(),
                             self.ctx.rng)
            log.info("reloaded config=%s sources=%d watches=%d", self.config_path, len(cfg.sources),
                     len(cfg.watches))
        self.notifier.ready(self.status_line())

    def status_line(self) -> str:
        return f"{len(self.ctx.config.sources)} sources, last poll {self.last_poll}"

    async def _pending_if_healthy(self, within: float) -> int | None:
        """Pending alert count when the database answers within ``within`` seconds, else None."""
        try:
            async with asyncio.timeout(within):
                if not await asyncio.to_thread(store_engine.ping, self.ctx.engine):
                    return None
                return (await self.ctx.db(store_alerts.counts, self.ctx.engine)).get("pending", 0)
        except (TimeoutError, MonitorError):
            return None

    async def watchdog(self) -> None:
        """Ping systemd only after the database answered, from the loop that does the work."""
        interval = self.notifier.watchdog_interval or 30.0
        while not self.stop_event.is_set():
            pending = await self._pending_if_healthy(interval)
            if pending is not None:
                self.notifier.notify(f"WATCHDOG=1\nSTATUS={self.status_line()}, {pending} alerts pending")
            else:
                log.error("database does not answer; withholding the watchdog ping")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), interval)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.scheduler = make_scheduler()
        now = self.ctx.clock()
        schedule_sources(self.scheduler, self.ctx.config.sources, self.ctx.config.settings, self.poll_job,
                         now, self.ctx.rng)
        schedule_drain(self.scheduler, self.ctx.config.settings.outbox_interval, self.drain_job, now)
        schedule_housekeeping(self.scheduler, HOUSEKEEPING, self.housekeeping)
        self.scheduler.start()
        self.notifier.ready(self.status_line())
        log.info("running sources=%d watches=%d channels=%s", len(self.ctx.config.sources),
                 len(self.ctx.config.watches), ",".join(sorted(self.ctx.channels)))
        watchdog = asyncio.create_task(self.watchdog())
        await self.stop_event.wait()
        await self._stop(watchdog)

    async def _stop(self, watchdog: asyncio.Task[None]) -> None:
        self.notifier.stopping()
        log.info("stopping: waiting for %d polls and sends in flight", len(self.inflight))
        self.scheduler.pause()
        if self.inflight:
            _, late = await asyncio.wait(set(self.inflight), timeout=STOP_GRACE)
            for task in late:  # claimed alerts stay leased and are retried after the lease
                task.cancel()
        self.scheduler.shutdown(wait=False)
        await watchdog


async def serve(config_path: Path, *, clock: Clock = utc_now, notifier: Notifier | None = None,
                on_ready: Callable[[Daemon], None] | None = None) -> None:
    """``news-monitor run``: the daemon until SIGTERM/SIGINT."""
    gazetteer = load_gazetteer()
    cfg, compiled = load_config(config_path, gazetteer)
    async with open_context(cfg, watchlist=compiled, clock=clock) as ctx:
        daemon = Daemon(ctx=ctx, config_path=config_path, gazetteer=gazetteer, notifier=notifier or Notifier())
        if on_ready is not None:
            on_ready(daemon)
        await daemon.serve()


async def once(config_path: Path, *, clock: Clock = utc_now, transport: Any = None) -> list[PollReport]:
    """``news-monitor once``: poll every source, deliver, return the reports."""
    cfg, compiled = load_config(config_path, load_gazetteer())
    async with open_context(cfg, watchlist=compiled, clock=clock, transport=transport) as ctx:
        reports, sent = await run_once(ctx)
    log.info("once sources=%d failed=%d alerts_sent=%d retry=%d dead=%d", len(reports),
             sum(1 for r in reports if r.error_kind), sent.sent, sent.retried, sent.dead)
    return reports


__all__ = ["ConfigError", "Daemon", "load_config", "once", "run_once", "serve"]
