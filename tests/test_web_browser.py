"""The status pages in a real browser: Debian's headless Chromium driven by Playwright (never ``playwright
install``: no browser is downloaded). The golden scenario's database (``news-monitor demo --keep``) is served on
127.0.0.1; each page shows what the scenario left, and no request leaves 127.0.0.1.

``NEWS_MONITOR_SCREENSHOTS=1`` writes the screenshots to docs/web-*.png (the README's), otherwise to tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from monitor import demo
from monitor.config import parse_text
from monitor.config.models import WebSettings
from monitor.store import engine as store_engine
from monitor.web.serve import serve_web
from tests.loopback import free_port

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e .[test])")

from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SCENE_END = datetime(2022, 9, 11, 16, 40, tzinfo=UTC)  # just after the demo's last phase
AXIOS_TITLE = "Ukraine furthers gains in Kharkiv region following major breakthrough"
pytestmark = pytest.mark.timeout(180)


def chromium() -> Path:
    """Debian's Chromium; installed with apt-get when missing (as root, with the apt source reachable), else a
    skip saying why."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        if done.returncode == 0 and CHROMIUM.exists():
            return CHROMIUM
    pytest.skip(f"{CHROMIUM} is missing and apt-get could not install it (is the apt source reachable?): "
                f"{done.stderr.strip()[-300:]}")


def shots_dir(tmp_path: Path) -> Path:
    return ROOT / "docs" if os.environ.get("NEWS_MONITOR_SCREENSHOTS") == "1" else tmp_path


@dataclass
class Served:
    """The app on 127.0.0.1 in a thread of its own (its own event loop), until ``stop``."""

    app: Any
    port: int = field(default_factory=free_port)
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop_event: asyncio.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _main(self) -> None:
        self.loop, self.stop_event = asyncio.get_running_loop(), asyncio.Event()
        self.started.set()
        await serve_web(self.app, WebSettings(listen=f"127.0.0.1:{self.port}"), self.stop_event)

    def start(self) -> None:
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="web", daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.thread is not None:
            self.thread.join(10)
            assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The golden scenario's database behind the status pages, with the scenario's clock."""
    from monitor.web.app import make_app

    kept = tmp_path_factory.mktemp("demo")
    assert asyncio.run(demo.run(keep=kept)) == 0
    cfg = parse_text(demo.demo_config("http://127.0.0.1:9", kept), "demo.yaml", environ={})  # no polling here
    engine = store_engine.make_engine(f"sqlite:///{kept}/demo.db")
    served = Served(make_app(engine, cfg, clock=lambda: SCENE_END))
    served.start()
    try:
        yield served.base
    finally:
        served.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as pw:
        yield _launch(pw, path)


def _launch(pw: Playwright, path: Path) -> Browser:
    return pw.chromium.launch(executable_path=str(path), headless=True, args=ARGS)


@dataclass
class Outside:
    """Every request the page tried to make beyond 127.0.0.1 (each was aborted)."""

    urls: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.urls.append(route.request.url)
            route.abort()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Outside]]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
    outside = Outside()
    context.route("**/*", outside.route)
    seen: list[str] = []
    context.on("request", lambda request: seen.append(request.url))
    tab = context.new_page()
    try:
        yield tab, outside
    finally:
        context.close()
    assert outside.urls == []
    assert seen and all(urlsplit(url).hostname == "127.0.0.1" for url in seen), seen


def test_alerts_and_story_pages(site: str, page: tuple[Page, Outside], tmp_path: Path) -> None:
    tab, _ = page
    tab.goto(f"{site}/")
    expect(tab).to_have_title("Alerts · news-monitor")
    expect(tab.locator("a.title", has_text=AXIOS_TITLE).first).to_be_visible()
    assert tab.locator("a.title").count() == 3  # the golden scenario's three alerts
    assert tab.evaluate("[...document.styleSheets].map(s => s.cssRules.length)")[0] > 0  # style.css loaded
    tab.screenshot(path=shots_dir(tmp_path) / "web-alerts.png", full_page=True)

    tab.locator("a.title", has_text=AXIOS_TITLE).first.click()  # the newest alert: the update
    tab.wait_for_url("**/stories/*")
    expect(tab.locator("h1")).to_have_text(AXIOS_TITLE)
    added = tab.locator("ul.diff li.added").first
    expect(added).to_be_visible()
    expect(added.locator(".mark")).to_have_text("+")
    expect(tab.locator("section.version")).to_have_count(3)  # two bullets added, then a typo fixed
    tab.screenshot(path=shots_dir(tmp_path) / "web-story.png", full_page=True)


def test_sources_and_watches_pages(site: str, page: tuple[Page, Outside], tmp_path: Path) -> None:
    tab, _ = page
    tab.goto(f"{site}/sources")
    for name in ("axios", "newsbreak-today", "ohio-local", "genstaff"):
        expect(tab.get_by_text(name, exact=True).first).to_be_visible()
    tab.screenshot(path=shots_dir(tmp_path) / "web-sources.png", full_page=True)
    tab.goto(f"{site}/watches")
    expect(tab.get_by_text("kharkiv-gains").first).to_be_visible()


def test_map_page(site: str, page: tuple[Page, Outside], tmp_path: Path) -> None:
    tab, _ = page
    tab.goto(f"{site}/map")
    expect(tab.locator("figure.map svg")).to_be_visible()
    titles = tab.locator("figure.map svg circle title").all_text_contents()
    assert any(title.startswith("Izium") for title in titles), titles
    izium = tab.locator("figure.map svg circle", has=tab.locator("title", has_text="Izium")).first
    box = izium.bounding_box()
    assert box is not None and box["width"] > 0  # drawn, inside the picture
    tab.screenshot(path=shots_dir(tmp_path) / "web-map.png", full_page=True)
