"""``news-monitor demo``: the golden scenario, offline. Bundled fixture feeds are served on
127.0.0.1, the pipeline runs once per phase (before the update, after it, after a typo fix) and
the alerts it sends to the built-in log channel are printed."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from monitor import deliver
from monitor.config import parse_text
from monitor.context import compile_for, load_gazetteer, open_context
from monitor.daemon import run_once
from monitor.models import Alert

# path -> fixture file per phase (1: first poll, 2: the update and the scraper copy, 3: a typo fix)
ROUTES: dict[str, tuple[str, str, str]] = {
    "/axios.xml": ("axios-1.xml", "axios-2.xml", "axios-3.xml"),
    "/newsbreak.xml": ("scraper-1.xml", "scraper-2.xml", "scraper-2.xml"),
    "/ohio-local.xml": ("trap.xml", "trap.xml", "trap.xml"),
    "/s/GeneralStaffZSU": ("genstaff.html", "genstaff.html", "genstaff.html"),
}
PHASES = ("first poll", "Axios adds two bullets; a scraper copies the story", "Axios fixes a typo")

CONFIG = """\
database: sqlite:///{dir}/demo.db
settings:
  alerts_file: {dir}/alerts.jsonl
sources:
  - {{name: axios, url: "{base}/axios.xml"}}
  - {{name: newsbreak-today, url: "{base}/newsbreak.xml"}}
  - {{name: ohio-local, url: "{base}/ohio-local.xml"}}
  - {{name: genstaff, type: telegram, channel: GeneralStaffZSU, url: "{base}/s/GeneralStaffZSU"}}
channels:
{channels}
watches:
  - name: kharkiv-gains
    preset: territorial-gain
    none: [exercise, drill]
    places: [Kharkiv, Izium, Balakliia, Kupiansk, Chkalovske]
    notify: [{notify}]
"""


@dataclass
class _SceneClock:
    """The demo's time: the afternoon of the story (11 September 2022), ten minutes per phase."""

    now: datetime = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def fixture(name: str) -> bytes:
    """One bundled demo file."""
    return resources.files("monitor").joinpath("data", "demo", name).read_bytes()


@dataclass
class FixtureServer:
    """Serves ROUTES for the current ``phase`` on 127.0.0.1, with ETag / If-None-Match -> 304."""

    phase: int = 0
    requests: list[str] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def body(self, path: str) -> tuple[bytes, str] | None:
        files = ROUTES.get(path)
        if files is None:
            return None
        name = files[self.phase]
        ctype = "text/html; charset=utf-8" if name.endswith(".html") else "application/rss+xml"
        return fixture(name), ctype

    @contextmanager
    def running(self) -> Iterator[FixtureServer]:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)


def _handler(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server.requests.append(self.path)
            found = server.body(self.path)
            if found is None:
                self.send_error(404)
                return
            body, ctype = found
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def demo_config(base: str, directory: Path, channels: dict[str, str] | None = None) -> str:
    """The demo watchlist YAML; extra ``channels`` (name -> Apprise URL) are notified too."""
    extra = channels or {}
    lines = "\n".join(f'  {name}: "{url}"' for name, url in extra.items()) or "  {}"
    if not extra:
        lines = ""
    text = CONFIG.format(dir=directory, base=base, channels=lines, notify=", ".join(["log", *extra]))
    return text.replace("channels:\n\n", "channels: {}\n")


async def run(keep: Path | None = None) -> int:
    """Run the three phases and print every alert the log channel received."""
    logger = logging.getLogger("monitor")
    level = logger.level
    logger.setLevel(logging.WARNING)  # the demo prints its own summary
    try:
        return await _run(keep)
    finally:
        logger.setLevel(level)


async def _run(keep: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as tmp:
        directory = keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        with FixtureServer().running() as server:
            cfg = parse_text(demo_config(server.base, directory), "demo.yaml", environ={})
            watchlist = compile_for(cfg, load_gazetteer())
            clock = _SceneClock()
            async with open_context(cfg, watchlist=watchlist, clock=clock, database_url=cfg.database) as ctx:
                seen = 0
                for phase, label in enumerate(PHASES):
                    server.phase = phase
                    clock.now += timedelta(minutes=10)
                    reports, _ = await run_once(ctx)
                    print(f"\n=== phase {phase + 1}: {label} ===")
                    for r in reports:
                        print(f"  {r.source:<16} items={r.items} new={r.new_stories - r.duplicates} "
                              f"duplicates={r.duplicates} versions={r.new_versions} alerts={r.alerts}"
                              + (f" error={r.error_kind}" if r.error_kind else ""))
                    seen = _print_alerts(directory / "alerts.jsonl", seen)
    return 0


def _print_alerts(path: Path, seen: int) -> int:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if len(lines) == seen:
        print("  (no alerts)")
    for line in lines[seen:]:
        data = json.loads(line)
        for key in ("sources", "terms", "places", "added", "removed"):
            data[key] = tuple(data[key])
        message = deliver.render(Alert(**data), style="text")
        print(f"\n  ALERT  {message.title}")
        for body_line in message.body.splitlines():
            print(f"    {body_line}")
    return len(lines)
