"""Serving the status pages with uvicorn inside the caller's event loop (the daemon's, or ``news-monitor web``'s).

uvicorn 0.54 has no switch for its signal handling: ``Server.serve`` always wraps itself in ``capture_signals``,
which (in the main thread) replaces SIGINT/SIGTERM with its own handlers and re-raises them on exit. That would
take SIGTERM away from the daemon, so ``_Server`` turns ``capture_signals`` into a no-op: the caller owns the
signals and says when to stop by setting ``stop``. The socket is bound here, before uvicorn sees it, so a port in
use is a clear ``WebServeError`` naming the address instead of uvicorn's ``sys.exit(3)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from monitor.config.models import WebSettings
from monitor.errors import MonitorError

log = logging.getLogger("monitor.web")
SHUTDOWN_GRACE = 5.0  # seconds open requests get to finish once ``stop`` is set


class WebServeError(MonitorError):
    """The status pages cannot be served (the address is in use, or not ours to bind)."""

    kind = "web_serve"


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handlers (see the module doc)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def address(host: str, port: int) -> str:
    """``127.0.0.1:8787``, ``[::1]:8787``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket on ``host:port``; WebServeError names the address on failure."""
    where = address(host, port)
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise WebServeError(f"web: cannot resolve the listen address {where}: {exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does; a live listener still wins
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        reason = "the address is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise WebServeError(f"web: cannot listen on {where}: {reason}") from exc
    sock.setblocking(False)
    return sock


def make_server(app: Any) -> uvicorn.Server:
    """uvicorn for ``app``: warnings only, no access log, no logging config of its own (ours applies)."""
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=int(SHUTDOWN_GRACE), server_header=False)
    return _Server(config)


async def serve_web(app: Any, settings: WebSettings, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``settings.host:settings.port`` until ``stop`` is set; WebServeError when it cannot bind."""
    sock = bind(settings.host, settings.port)
    server = make_server(app)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    log.info("serving the status pages on http://%s/", address(settings.host, settings.port))
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits when it cannot start; never let that end the daemon
        raise WebServeError(f"web: the server on {address(settings.host, settings.port)} did not start") from exc
    finally:
        watcher.cancel()
        sock.close()
