"""Lifecycle: load config -> open context (migrate) -> schedule -> READY -> the status pages (when
``settings.web`` is set); signals (SIGTERM stop, SIGHUP reload), watchdog pings only while the database
answers, and ``run_once`` (burst mode)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor import config as config_mod
from monitor import deliver
from monitor.config import Config, Source
from monitor.context import Clock, Context, compile_for, load_gazetteer, open_context, utc_now
from monitor.errors import ConfigError, DeliveryConfigError, MonitorError
from monitor.gazetteer import Gazetteer
from monitor.group_commit import GroupCommit
from monitor.match import CompiledWatchlist
from monitor.models import PollReport
from monitor.outbox import DrainReport, drain
from monitor.pipeline import check_health, poll_source
from monitor.scheduler import make_scheduler, schedule_dispatch, schedule_drain, schedule_health, schedule_housekeeping
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.systemd import Notifier
from monitor.watchfile import ConfigWatcher, FileWatch
from monitor.web.sidecar import SideServers

log = logging.getLogger("monitor.daemon")
STOP_GRACE = 25.0
LATE_CANCEL_WAIT = 2.0  # seconds for work cancelled at the end of the grace period to unwind
# Settings read once when the context is built (engine, dedup index, HTTP client) or the status pages start
# (``web``: listen address, token, and the public URL alert links use): a reload cannot apply them.
RESTART_ONLY = ("dedup_window", "dedup_threshold", "dedup_containment", "user_agent", "web", "metrics")
LEASE_MARGIN = timedelta(minutes=2)  # a source lease: 2 x fetch_timeout + this (or the interval if shorter)
CLAIM_ROUNDS = 8  # dispatch leases at most this many x max_polls sources at once (the rest wait in the store)


def load_config(path: Path, gazetteer: Gazetteer) -> tuple[Config, CompiledWatchlist]:
    """Load and validate the watchlist, building each channel and compiling its watches;
    ConfigError lists every problem (bad channels and bad watches together)."""
    compiled: list[CompiledWatchlist] = []

    def check(cfg: Config) -> None:
        problems = channel_problems(cfg.channel_urls())
        try:
            compiled.append(compile_for(cfg, gazetteer))
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems)

    cfg = config_mod.load(path, check=check)
    return cfg, compiled[0]


def story_base(cfg: Config) -> str | None:
    """Where alerts link to their story page (``settings.web.public_url``), or None."""
    return cfg.settings.web.public_url if cfg.settings.web is not None else None


def build_channels(cfg: Config, *, links_from: Config | None = None) -> dict[str, deliver.Channel]:
    """Every channel of ``cfg``, linking alerts to the story pages of ``links_from`` (default ``cfg``)."""
    alerts_file = Path(cfg.settings.alerts_file) if cfg.settings.alerts_file else None
    return deliver.make_channels(cfg.channel_urls(), alerts_file=alerts_file,
                                 story_base=story_base(links_from or cfg))


def channel_problems(channels: Mapping[str, str]) -> list[str]:
    """One ``channels.<name>: message`` line per channel URL that cannot be built (none are sent to)."""
    problems = []
    for name, url in channels.items():
        if not url.strip():
            problems.append(f"channels.{name}: empty URL (is the environment variable set and non-empty?)")
            continue
        try:
            deliver.make_channels({name: url}, alerts_file=None)
        except DeliveryConfigError as exc:
            problems.append(f"channels.{name}: {str(exc).removeprefix(f'channel {name!r}: ')}")
    return problems


def poll_lease(cfg: Config) -> timedelta:
    """How long an instance holds a source it polls: two fetch timeouts and a margin, at most the poll interval
    (its lease then lapses, e.g. when the instance died, and another instance takes the source over)."""
    return cfg.settings.fetch_timeout * 2 + min(LEASE_MARGIN, cfg.settings.interval)


async def run_once(ctx: Context) -> tuple[list[PollReport], DrainReport]:
    """Burst mode: poll every source once (bounded concurrency), check their health, then send every due
    alert and notice. A source another instance (a running daemon) is polling is skipped."""
    limit = asyncio.Semaphore(ctx.config.settings.max_polls)
    owner = store_sources.instance_id()
    # Leases taken and given back together by the polls of one moment (one transaction each way).
    claims: GroupCommit[tuple[str, str, datetime], bool] = GroupCommit(functools.partial(
        store_sources.claim_each, ctx.engine, owner=owner, lease=poll_lease(ctx.config)), ctx.db)
    releases: GroupCommit[str, None] = GroupCommit(functools.partial(
        store_sources.release_each, ctx.engine, owner=owner), ctx.db)

    async def one(source: Source) -> PollReport:
        async with limit:
            if not await claims.submit((source.name, source.fetch_url, ctx.clock())):
                return PollReport(source=source.name, notes=("being polled by another instance",))
            try:
                return await poll_source(ctx, source, force=True)
            finally:
                await releases.submit(source.name)

    results = await asyncio.gather(*(one(s) for s in ctx.config.sources), return_exceptions=True)
    reports = []
    for source, result in zip(ctx.config.sources, results, strict=True):
        if isinstance(result, BaseException):  # e.g. the database failed while recording the failure
            log.error("poll source=%s failed: %s", source.name, result)
            result = PollReport(source=source.name, error_kind=getattr(result, "kind", "internal_error"),
                                error=str(result))
        reports.append(result)
    try:
        await check_health(ctx)
    except MonitorError as exc:
        log.error("health check failed: %s", exc)
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
    polling: set[str] = field(default_factory=set)  # sources with a poll started (waiting or in flight)
    poll_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    poll_slots: asyncio.Semaphore | None = None
    last_poll: str = "never"
    stopping: bool = False  # set when stopping begins: jobs then start no new work
    side: SideServers | None = None  # the status pages and /metrics (built in serve)
    owner: str = field(default_factory=store_sources.instance_id)  # this instance's name on source leases
    watcher: ConfigWatcher | None = None  # hot reload: the watchlist file's changes and SIGHUP (built in serve)

    async def dispatch_job(self) -> None:
        """Start a poll for every configured source that is due and not already being polled, leasing each
        to this instance (others on the same database skip it until the poll released it or the lease ran
        out). At most a few rounds of ``max_polls`` are leased at once, so leases do not lapse in the queue."""
        if self.stopping:
            return
        sources = [s for s in self.ctx.config.sources if s.name not in self.polling]
        room = self.ctx.config.settings.max_polls * CLAIM_ROUNDS - len(self.polling)
        try:
            due = await self.ctx.db(store_sources.claim_due, self.ctx.engine, [s.name for s in sources],
                                    self.ctx.clock(), owner=self.owner, lease=poll_lease(self.ctx.config),
                                    limit=room, urls={s.name: s.fetch_url for s in sources})
        except MonitorError as exc:
            log.error("dispatch: cannot lease the sources that are due: %s", exc)
            return
        for source in sources:
            if source.name in due and source.name not in self.polling:
                self.polling.add(source.name)
                task = asyncio.ensure_future(self.poll_job(source))
                self.poll_tasks.add(task)
                task.add_done_callback(self.poll_tasks.discard)

    async def poll_job(self, source: Source) -> None:
        """Poll one source (at most ``settings.max_polls`` at once), then send its alerts."""
        try:
            if self.poll_slots is None:
                self.poll_slots = asyncio.Semaphore(self.ctx.config.settings.max_polls)
            async with self.poll_slots:
                if self.stopping:
                    return
                report = await self._tracked(poll_source(self.ctx, source))
        finally:
            self.polling.discard(source.name)
            await self._release(source.name)
        if report is None:  # cancelled at the end of the stop grace period
            return
        self.last_poll = f"{source.name} at {self.ctx.clock().strftime('%H:%M:%S')}"
        if report.alerts and not self.stopping:  # when stopping, the final drain sends them
            await self.drain_job()

    async def _release(self, name: str) -> None:
        """Give the source's lease back (a failure leaves it to expire)."""
        try:
            await self.ctx.db(store_sources.release, self.ctx.engine, name, self.owner)
        except MonitorError as exc:
            log.warning("poll source=%s: cannot release its lease (it expires): %s", name, exc)

    async def drain_job(self) -> None:
        if self.stopping:
            return
        async with self.drain_lock:
            if not self.stopping:
                await self._tracked(drain(self.ctx))

    async def health_job(self) -> None:
        if self.stopping:
            return
        try:
            plan = await self._tracked(check_health(self.ctx))
        except MonitorError as exc:
            log.error("health check failed: %s", exc)
            return
        if plan is not None and plan.lines and self.ctx.config.settings.ops_channel:
            await self.drain_job()

    def housekeeping(self) -> None:
        """Keep the dedup index bounded by the window (it is rebuilt from the database at start)."""
        if not self.ctx.index_loaded():  # still being rebuilt, in a thread
            return
        now = self.ctx.clock()
        dropped = self.ctx.index.evict(now - self.ctx.config.settings.dedup_window)
        log.info("housekeeping index=%d evicted=%d", len(self.ctx.index), dropped)

    async def _tracked(self, coro: Any) -> Any:
        """Run ``coro`` as a task in ``inflight``; None when ``_stop`` cancelled it after the grace period
        (so the scheduler job ends quietly instead of logging a CancelledError)."""
        task = asyncio.ensure_future(coro)
        self.inflight.add(task)
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:  # the job itself was cancelled: take its work down with it
            task.cancel()
            raise
        finally:
            self.inflight.discard(task)
        return None if task.cancelled() else task.result()

    def reload(self) -> list[str] | None:
        """SIGHUP or an edited file: validate the file, then swap; a broken file keeps the running config
        and its problems are returned (None: reloaded, or ignored while stopping)."""
        if self.stopping:  # a reload during shutdown would tell systemd READY=1 after STOPPING=1
            log.warning("reload ignored: the daemon is stopping")
            return None
        self.notifier.reloading()
        problems = None
        try:
            cfg, compiled = load_config(self.config_path, self.gazetteer)
            channels = build_channels(cfg, links_from=self.ctx.config)  # settings.web is restart-only
        except Exception as exc:  # ConfigError or DeliveryConfigError: keep the old config
            log.error("reload failed, keeping the running config:\n%s", exc)
            problems = list(exc.problems) if isinstance(exc, ConfigError) else [str(exc)]
        else:
            self._swap(cfg, compiled, channels)
        self.notifier.ready(self.status_line())
        return problems

    def _swap(self, cfg: Config, compiled: CompiledWatchlist, channels: dict[str, deliver.Channel]) -> None:
        old = self.ctx.config
        restart_only = restart_only_changes(old, cfg)
        if restart_only:
            log.warning("reload: %s changed; this takes effect on restart", ", ".join(restart_only))
        self.ctx.config, self.ctx.watchlist, self.ctx.channels = cfg, compiled, channels
        if self.side is not None:
            self.side.refresh(cfg)
        if cfg.settings.max_polls != old.settings.max_polls:
            self.poll_slots = asyncio.Semaphore(cfg.settings.max_polls)  # polls in flight keep the old one
        if cfg.settings.outbox_interval != old.settings.outbox_interval:
            schedule_drain(self.scheduler, cfg.settings.outbox_interval, self.drain_job, self.ctx.clock())
        log.info("reloaded config=%s sources=%d watches=%d", self.config_path, len(cfg.sources), len(cfg.watches))

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
        self.side = SideServers(self.ctx, self.gazetteer, self.stop_event)
        self.side.build()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
        if self.watcher is None:  # ``serve()`` builds it before loading the config
            self.watcher = ConfigWatcher(FileWatch.start(self.config_path), self.reload, self.ctx, self.drain_job)
        loop.add_signal_handler(signal.SIGHUP, self.watcher.sighup)
        self.scheduler = make_scheduler()
        now = self.ctx.clock()
        self.watcher.schedule(self.scheduler)
        schedule_dispatch(self.scheduler, self.dispatch_job, now)
        schedule_drain(self.scheduler, self.ctx.config.settings.outbox_interval, self.drain_job, now)
        schedule_health(self.scheduler, self.health_job)
        schedule_housekeeping(self.scheduler, self.housekeeping)
        self.scheduler.start()
        self.notifier.ready(self.status_line())
        log.info("running sources=%d watches=%d channels=%s", len(self.ctx.config.sources),
                 len(self.ctx.config.watches), ",".join(sorted(self.ctx.channels)))
        watchdog = asyncio.create_task(self.watchdog())
        self.side.start()
        await self.stop_event.wait()
        await self._stop(watchdog)

    async def _stop(self, watchdog: asyncio.Task[None]) -> None:
        """Start no new work, let what is in flight finish, send what is due, then shut down,
        all within STOP_GRACE; work still running then is cancelled (its alerts stay leased)."""
        self.stopping = True
        self.notifier.stopping()
        self.scheduler.pause()
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        log.info("stopping: waiting for %d polls and sends in flight", len(self.inflight))
        if await self._settle(deadline):
            await self._final_drain(deadline)
        self.scheduler.shutdown(wait=False)
        await watchdog
        if self.side is not None:
            await self.side.close()

    async def _settle(self, deadline: float) -> bool:
        """Wait until nothing is in flight (work may start work: re-check); False if the grace ran out."""
        loop = asyncio.get_running_loop()
        while self.inflight:
            _, late = await asyncio.wait(set(self.inflight), timeout=max(deadline - loop.time(), 0.0))
            if late:
                log.warning("stop grace period over: cancelling %d polls and sends", len(late))
                for task in late:  # claimed alerts stay leased and are retried after the lease
                    task.cancel()
                await asyncio.wait(late, timeout=LATE_CANCEL_WAIT)
                return False
        return True

    async def _final_drain(self, deadline: float) -> None:
        """Send the alerts that became due while stopping (e.g. from a poll that was in flight)."""
        try:
            async with asyncio.timeout_at(deadline):
                sent = await drain(self.ctx)
        except TimeoutError:
            log.warning("stop grace period over during the final send; the rest are sent after restart")
        except MonitorError as exc:
            log.error("final send failed; unsent alerts stay queued: %s", exc)
        else:
            if sent.sent or sent.retried or sent.dead:
                log.info("final send sent=%d retry=%d dead=%d", sent.sent, sent.retried, sent.dead)


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """The changed settings a reload cannot apply (they are built into the running context)."""
    changed = ["database"] if old.database_url() != new.database_url() else []
    return changed + [f"settings.{name}" for name in RESTART_ONLY
                      if getattr(old.settings, name) != getattr(new.settings, name)]


async def serve(config_path: Path, *, clock: Clock = utc_now, notifier: Notifier | None = None,
                on_ready: Callable[[Daemon], None] | None = None) -> None:
    """``news-monitor run``: the daemon until SIGTERM/SIGINT."""
    gazetteer = load_gazetteer()
    file = FileWatch.start(config_path)  # before loading: an edit made while starting is then reloaded
    cfg, compiled = load_config(config_path, gazetteer)
    async with open_context(cfg, watchlist=compiled, clock=clock, gazetteer=gazetteer) as ctx:
        daemon = Daemon(ctx=ctx, config_path=config_path, gazetteer=gazetteer, notifier=notifier or Notifier())
        daemon.watcher = ConfigWatcher(file, daemon.reload, ctx, daemon.drain_job)
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


__all__ = ["ConfigError", "Daemon", "build_channels", "channel_problems", "load_config", "once",
           "restart_only_changes", "run_once", "serve", "story_base"]
