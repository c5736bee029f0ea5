"""``make_app``: the read-only status pages as a Starlette app (served by the daemon when ``settings.web`` is
set, or by ``news-monitor web``). Pages are rendered on the server by Jinja2 with autoescaping, so feed text is
always text; there is no script on any page and nothing is fetched from elsewhere. The template filters (times
as UTC ISO minutes, intervals as short spans, feed links only when plain http(s), long text clipped) return
plain text, which Jinja2 then escapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from monitor.config.models import Config
from monitor.context import utc_now
from monitor.gazetteer import Gazetteer
from monitor.render_parts import safe_link
from monitor.store.views import Engine
from monitor.web import pages
from monitor.web.auth import Guard, resolve_token

HERE = Path(__file__).resolve().parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"
_SPAN_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def when(t: datetime | None) -> str:
    """``2022-09-11T16:10Z`` (naive times are taken as UTC); empty for None."""
    if t is None:
        return ""
    aware = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%MZ")


def span(seconds: float | None) -> str:
    """``90`` -> ``1m30s``, ``5400`` -> ``1h30m``: the two largest units; empty for None."""
    if seconds is None:
        return ""
    left = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in _SPAN_UNITS:
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def clip(text: str | None, limit: int = 200) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def environment() -> Environment:
    """The template environment: every ``{{ }}`` escaped, unknown names an error, the filters above."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    # http_link: the URL when it is an absolute http(s) link without spaces or quotes, else None (``javascript:``,
    # ``data:``, relative or malformed links are never made clickable)
    env.filters.update(when=when, span=span, http_link=safe_link, clip=clip)
    return env


def routes() -> list[Route | Mount]:
    return [
        Route("/", pages.alerts, methods=["GET"], name="alerts"),
        Route("/stories/{id:int}", pages.story, methods=["GET"], name="story"),
        Route("/sources", pages.sources, methods=["GET"], name="sources"),
        Route("/watches", pages.watches, methods=["GET"], name="watches"),
        Route("/map", pages.map_page, methods=["GET"], name="map"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def make_app(engine: Engine, config: Config, *, gazetteer: Gazetteer | None = None,
             clock: Callable[[], datetime] = utc_now, require_token: bool | None = None) -> Starlette:
    """The status pages over ``engine``'s database. ``require_token`` None: a token is required iff
    ``settings.web.listen`` is not a loopback address; it is read now from the variable ``token_env`` names
    (ConfigError when required and unset). ``gazetteer`` None loads the shipped one (for the map)."""
    token = resolve_token(config, require_token)
    site = pages.Site(engine=engine, config=config, gazetteer=gazetteer or Gazetteer.load(), clock=clock,
                      templates=Jinja2Templates(env=environment()))
    app = Starlette(routes=routes(), middleware=[Middleware(Guard, token=token)],
                    exception_handlers={HTTPException: pages.error})
    app.state.site = site
    return app
