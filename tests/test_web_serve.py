"""Serving the status pages: the daemon serves them beside its polling (and links its alerts to them), stops
them with itself, survives a port in use; ``news-monitor web`` serves them alone, until SIGTERM, and refuses a
public address without the token."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from monitor import daemon as daemon_mod
from monitor.config.models import WebSettings
from monitor.context import load_gazetteer
from monitor.daemon import Daemon
from monitor.demo import FixtureServer, demo_config
from monitor.errors import ConfigError
from monitor.systemd import Notifier
from monitor.web.serve import WebServeError, serve_web
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ENV = "NEWS_MONITOR_WEB_TOKEN"


def watchlist(tmp_path: Path, base: str, web: str) -> Path:
    """The demo watchlist (sources at ``base``) with ``web`` as its ``settings.web`` flow mapping; its stories
    (of September 2022) are not too old to alert on."""
    text = demo_config(base, tmp_path).replace("settings:\n", f"settings:\n  max_age: 36500d\n  web: {web}\n", 1)
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def feeds() -> Iterator[FixtureServer]:
    with FixtureServer().running() as server:
        yield server


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


async def start_daemon(path: Path) -> tuple[Daemon, asyncio.Task[None]]:
    """``news-monitor run`` in this loop; returns once the daemon object exists."""
    ready: list[Daemon] = []
    task = asyncio.create_task(daemon_mod.serve(path, notifier=Notifier(environ={}), on_ready=ready.append))
    while not ready:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    return ready[0], task


async def stop_daemon(daemon: Daemon, task: asyncio.Task[None]) -> None:
    daemon.stop_event.set()
    await asyncio.wait_for(task, 30)
    assert daemon.side is None or daemon.side.web_task is None or daemon.side.web_task.done()


# -- the daemon ---------------------------------------------------------------------------------------------


async def test_daemon_serves_the_pages_and_links_alerts_to_them(tmp_path: Path, feeds: FixtureServer) -> None:
    """The daemon polls the demo feeds, its alerts carry ``Story page: <public_url>/stories/<id>``, and that page
    (like ``/``) is served on the configured loopback port until the daemon stops."""
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    d, task = await start_daemon(watchlist(tmp_path, feeds.base, f"{{listen: '127.0.0.1:{port}', public_url: "
                                                                    f"'{site}/'}}"))
    try:
        assert {c.story_base for c in d.ctx.channels.values()} == {site}
        await until(lambda: answers(f"{site}/"))
        alerts_file = tmp_path / "alerts.jsonl"

        async def alerted() -> bool:
            return alerts_file.exists() and bool(alerts_file.read_text(encoding="utf-8").strip())

        await until(alerted)
        first = json.loads(alerts_file.read_text(encoding="utf-8").splitlines()[0])
        assert isinstance(first["story_id"], int)
        async with httpx.AsyncClient() as client:
            page = await client.get(f"{site}/stories/{first['story_id']}")
        assert page.status_code == 200 and first["title"] in page.text
    finally:
        await stop_daemon(d, task)
    assert not await answers(f"{site}/")  # the port is closed with the daemon


async def test_daemon_without_web_settings_serves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(demo_config("http://127.0.0.1:9", tmp_path), encoding="utf-8")
    d, task = await start_daemon(path)
    await asyncio.sleep(0.2)
    assert d.side is not None and d.side.web_app is None and d.side.web_task is None
    assert all(c.story_base is None for c in d.ctx.channels.values())
    await stop_daemon(d, task)


async def test_daemon_keeps_polling_when_the_port_is_taken(
    tmp_path: Path, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    d, task = await start_daemon(watchlist(tmp_path, "http://127.0.0.1:9", f"{{listen: '127.0.0.1:{busy_port}'}}"))
    try:
        side = d.side
        assert side is not None
        await until(lambda: asyncio.sleep(0, side.web_task is not None and side.web_task.done()))
        assert not task.done() and not d.stop_event.is_set()
        assert f"cannot listen on 127.0.0.1:{busy_port}: the address is already in use" in caplog.text
        assert "polling goes on" in caplog.text
    finally:
        await stop_daemon(d, task)


async def test_daemon_refuses_a_public_address_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = watchlist(tmp_path, "http://127.0.0.1:9", f"{{listen: '0.0.0.0:{free_port()}'}}")
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        await asyncio.wait_for(daemon_mod.serve(path, notifier=Notifier(environ={})), 30)


async def test_reload_shows_the_new_watches_and_keeps_the_web_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.daemon")
    port = free_port()
    path = watchlist(tmp_path, "http://127.0.0.1:9", f"{{listen: '127.0.0.1:{port}'}}")
    d, task = await start_daemon(path)
    try:
        await until(lambda: answers(f"http://127.0.0.1:{port}/watches"))
        text = path.read_text(encoding="utf-8").replace(f"web: {{listen: '127.0.0.1:{port}'}}",
                            f"web: {{listen: '127.0.0.1:{port}', public_url: 'https://m.example'}}")
        path.write_text(text.replace("- name: kharkiv-gains", "- name: izium-watch"), encoding="utf-8")
        d.reload()
        assert "reload: settings.web changed; this takes effect on restart" in caplog.text
        assert all(c.story_base is None for c in d.ctx.channels.values())  # links as before the reload
        async with httpx.AsyncClient() as client:
            page = await client.get(f"http://127.0.0.1:{port}/watches")
        assert "izium-watch" in page.text and "kharkiv-gains" not in page.text
    finally:
        await stop_daemon(d, task)


def test_web_settings_are_restart_only(tmp_path: Path) -> None:
    gazetteer = load_gazetteer()
    old, _ = daemon_mod.load_config(watchlist(tmp_path, "http://127.0.0.1:9", "{}"), gazetteer)
    new, _ = daemon_mod.load_config(watchlist(tmp_path, "http://127.0.0.1:9", "{public_url: 'https://m.example'}"),
                                    gazetteer)
    assert daemon_mod.restart_only_changes(old, new) == ["settings.web"]
    assert daemon_mod.story_base(new) == "https://m.example" and daemon_mod.story_base(old) is None
    kept = daemon_mod.build_channels(new, links_from=old)  # what a reload builds: links as before the reload
    assert all(c.story_base is None for c in kept.values())


# -- serve_web ----------------------------------------------------------------------------------------------


async def test_serve_web_names_the_address_in_use(busy_port: int) -> None:
    with pytest.raises(WebServeError, match=rf"cannot listen on 127\.0\.0\.1:{busy_port}: the address is already"):
        await serve_web(object(), WebSettings(listen=f"127.0.0.1:{busy_port}"), asyncio.Event())


async def test_serve_web_stops_when_told_and_keeps_the_signals(tmp_path: Path) -> None:
    """uvicorn's own SIGINT/SIGTERM handlers are never installed: the caller's stay in place."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("up"))])
    port, stop = free_port(), asyncio.Event()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    task = asyncio.create_task(serve_web(app, WebSettings(listen=f"127.0.0.1:{port}"), stop))
    await until(lambda: answers(f"http://127.0.0.1:{port}/"))
    assert {sig: signal.getsignal(sig) for sig in before} == before
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not await answers(f"http://127.0.0.1:{port}/")
    assert {sig: signal.getsignal(sig) for sig in before} == before


# -- news-monitor web ---------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden scenario's database (``news-monitor demo --keep``) and a watchlist on it."""
    kept = tmp_path_factory.mktemp("demo") / "kept"
    done = subprocess.run([sys.executable, "-m", "monitor", "demo", "--keep", str(kept)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    path = kept / "watchlist.yaml"
    path.write_text(demo_config("http://127.0.0.1:9", kept), encoding="utf-8")
    return path


def test_web_command_serves_until_sigterm(demo_db: Path) -> None:
    port = free_port()
    proc = cli("-c", str(demo_db), "web", "--listen", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert page.status_code == 200 and "Ukraine furthers gains in Kharkiv region" in page.text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"serving the status pages on http://127.0.0.1:{port}/" in err


def test_web_command_port_in_use(demo_db: Path, busy_port: int) -> None:
    proc = cli("-c", str(demo_db), "web", "--listen", f"127.0.0.1:{busy_port}")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert (f"news-monitor: web: cannot listen on 127.0.0.1:{busy_port}: the address is already in use"
            in err.splitlines()), err


def test_web_command_refuses_a_public_address_without_the_token(demo_db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    port = free_port()
    proc = cli("-c", str(demo_db), "web", "--listen", f"0.0.0.0:{port}", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    [line] = [line for line in err.splitlines() if line.startswith("news-monitor: ")]
    assert line.startswith("news-monitor: settings.web: ") and f"0.0.0.0:{port}" in line and TOKEN_ENV in line, err


def test_web_command_bad_listen(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(demo_config("http://127.0.0.1:9", tmp_path), encoding="utf-8")
    proc = cli("-c", str(path), "web", "--listen", "no-port-here")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "--listen 'no-port-here': expected HOST:PORT" in err


async def test_daemon_serves_metrics_and_healthz_counting_its_polls(tmp_path: Path, feeds: FixtureServer) -> None:
    """settings.metrics: the daemon counts from its first poll and serves /metrics and /healthz on loopback."""
    port = free_port()
    path = watchlist(tmp_path, feeds.base, "null")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  web: null\n", f"  metrics: {{listen: '127.0.0.1:{port}'}}\n", 1), encoding="utf-8")
    d, task = await start_daemon(path)
    try:
        assert d.ctx.metrics is not None
        await until(lambda: answers(f"http://127.0.0.1:{port}/healthz"))

        async def polled() -> bool:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            return 'news_monitor_polls_total{outcome="ok",source="axios"} 1.0' in text

        await until(polled)
    finally:
        await stop_daemon(d, task)
    assert d.side is not None and d.side.ops_task is not None and d.side.ops_task.done()
