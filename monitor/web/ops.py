"""The ops endpoint: ``/healthz`` and Prometheus ``/metrics`` (``monitor/metrics.py``), a small Starlette app
the daemon serves when ``settings.metrics`` is given (127.0.0.1:9464 by default).

``/healthz`` answers 200 ``ok`` when the database answers ``SELECT 1`` within ``HEALTH_TIMEOUT`` seconds, else 503
with the reason. ``/metrics`` is the text exposition (format 0.0.4) of the daemon's own registry; the database
gauges are counted at each scrape, in a worker thread. GET and HEAD only; on a listener that is not loopback a
token is required (``Authorization: Bearer <token>``, from the variable ``settings.metrics.token_env`` names),
through the status pages' ``Guard``."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitor.config.models import MetricsSettings, WebSettings
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.store import counts as store_counts
from monitor.web.auth import Guard, is_loopback
from monitor.web.serve import address, serve_web

if TYPE_CHECKING:
    from monitor.context import Context

log = logging.getLogger("monitor.web.ops")
HEALTH_TIMEOUT = 2.0  # seconds the database gets to answer SELECT 1
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8


async def healthz(request: Request) -> Response:
    """200 ``ok`` when the database answers in time, else 503 with the reason."""
    engine: store_counts.Engine = request.app.state.engine
    timeout: float = request.app.state.health_timeout
    try:
        await asyncio.wait_for(asyncio.to_thread(store_counts.ping, engine), timeout)
    except TimeoutError:
        return PlainTextResponse(f"unavailable: the database did not answer within {timeout:g}s\n", 503)
    except store_counts.DatabaseError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        return PlainTextResponse(f"unavailable: database error: {reason}\n", 503)
    return PlainTextResponse("ok\n")


async def metrics(request: Request) -> Response:
    """The registry in the Prometheus text format (the database gauges are counted off the event loop)."""
    registry = request.app.state.metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE)


def make_ops_app(engine: store_counts.Engine, metrics_: Metrics, *, token: str | None = None,
                 health_timeout: float = HEALTH_TIMEOUT) -> Starlette:
    """``/healthz`` and ``/metrics`` over ``engine`` and ``metrics_``; ``token`` None: every client is trusted."""
    routes = [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/metrics", metrics, methods=["GET", "HEAD"])]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)])
    app.state.engine = engine
    app.state.metrics = metrics_
    app.state.health_timeout = health_timeout
    return app


def resolve_token(settings: MetricsSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The token clients must present: None on a loopback listener; elsewhere the value of ``token_env``
    (ConfigError naming the variable when it is unset or empty)."""
    if is_loopback(settings.host):
        return None
    token = (os.environ if environ is None else environ).get(settings.token_env, "").strip()
    if not token:
        raise ConfigError(f"settings.metrics: the metrics endpoint listens on {settings.listen}, not a loopback "
                          f"address, so it needs a token: set the environment variable {settings.token_env}")
    return token


async def run_ops_server(ctx: Context, stop: asyncio.Event, *, environ: Mapping[str, str] | None = None) -> None:
    """Serve ``/healthz`` and ``/metrics`` on ``settings.metrics.listen`` until ``stop`` is set (returns at once
    when ``settings.metrics`` is not given). Sets ``ctx.metrics`` to a new ``Metrics`` over ``ctx.engine`` when
    it is None. Raises ConfigError (token needed, variable unset) or WebServeError (cannot bind)."""
    settings = ctx.config.settings.metrics
    if settings is None:
        return
    token = resolve_token(settings, environ)
    if ctx.metrics is None:
        ctx.metrics = Metrics(ctx.engine)
    app = make_ops_app(ctx.engine, ctx.metrics, token=token)
    log.info("ops endpoint on http://%s/metrics and /healthz%s", address(settings.host, settings.port),
             " (token required)" if token else "")
    await serve_web(app, WebSettings(listen=settings.listen), stop)
