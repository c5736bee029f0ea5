"""The daemon's side servers: the status pages (``settings.web``) and /metrics + /healthz (``settings.metrics``).

Built before READY (so a missing token stops the start like any config error), served beside the polling after
READY, closed after the daemon's own work; a server that fails is logged and polling goes on. Starlette, Jinja2
and prometheus-client are imported only when a server is configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from monitor.config import Config
from monitor.context import Context
from monitor.gazetteer import Gazetteer

log = logging.getLogger("monitor.daemon")
STOP_WAIT = 10.0  # seconds the servers get to close after the daemon stopped its work
CANCEL_WAIT = 2.0  # seconds a server cancelled after STOP_WAIT gets to unwind


@dataclass
class SideServers:
    """The side servers of one daemon; ``stop`` is the daemon's stop event (setting it closes them)."""

    ctx: Context
    gazetteer: Gazetteer
    stop: asyncio.Event
    web_app: Any = None  # the status pages' Starlette app
    web_task: asyncio.Task[None] | None = None
    ops_task: asyncio.Task[None] | None = None

    def build(self) -> None:
        """Before READY: the status pages' app, and the metrics registry (so the first poll counts)."""
        settings = self.ctx.config.settings
        if settings.web is not None:
            from monitor.web.app import make_app

            self.web_app = make_app(self.ctx.engine, self.ctx.config, gazetteer=self.gazetteer,
                                    clock=self.ctx.clock)
        if settings.metrics is not None:
            from monitor.metrics import Metrics
            from monitor.web.ops import resolve_token

            resolve_token(settings.metrics)  # ConfigError naming the variable, like the status pages
            self.ctx.metrics = Metrics(self.ctx.engine)

    def start(self) -> None:
        """After READY: serve what was built."""
        web, metrics = self.ctx.config.settings.web, self.ctx.config.settings.metrics
        if self.web_app is not None and web is not None and self.web_task is None:
            from monitor.web.serve import serve_web

            self.web_task = asyncio.create_task(_logged(serve_web(self.web_app, web, self.stop), "the status pages"))
        if metrics is not None and self.ops_task is None:
            from monitor.web.ops import run_ops_server

            self.ops_task = asyncio.create_task(_logged(run_ops_server(self.ctx, self.stop), "/metrics and /healthz"))

    def refresh(self, cfg: Config) -> None:
        """After a reload the pages show the new sources and watches (their own settings.web is restart-only)."""
        if self.web_app is None:
            return
        from monitor.web.pages import Site

        site = getattr(self.web_app.state, "site", None)
        if isinstance(site, Site):
            self.web_app.state.site = dataclasses.replace(site, config=cfg)

    async def close(self) -> None:
        """Let the servers close (open requests get uvicorn's grace), cancelling them if they hang."""
        tasks = [t for t in (self.web_task, self.ops_task) if t is not None]
        if not tasks:
            return
        self.stop.set()
        _, late = await asyncio.wait(tasks, timeout=STOP_WAIT)
        for task in late:
            log.warning("web: a side server did not close in %gs; cancelling it", STOP_WAIT)
            task.cancel()
            await asyncio.wait([task], timeout=CANCEL_WAIT)


async def _logged(server: Awaitable[None], what: str) -> None:
    """Serve until stopped; a failure (the port is taken, a crash) is logged and polling goes on."""
    try:
        await server
    except Exception as exc:
        log.error("web: %s are down (polling goes on): %s", what, exc)
