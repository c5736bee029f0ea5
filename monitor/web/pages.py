"""The page handlers: read the query parameters, ask ``store.views`` (the only SQL), lay the result out with a
template (the story page adds each version's diff: ``monitor.diff.compare``, the rules of update alerts).
Handlers are plain functions: Starlette runs them in a worker thread, so the blocking reads never stall the
daemon's event loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from monitor.config.models import Config
from monitor.diff import compare
from monitor.gazetteer import Gazetteer
from monitor.store import views
from monitor.web.charts import bars, day_keys, sparkline
from monitor.web.map import render_map

STATUSES = ("pending", "sending", "sent", "dead", "digest", "held")
CHART_DAYS = 14
MAP_DAYS = (1, 7, 14, 30, 90)
ID_MAX = 2**63 - 1  # the largest database id (a larger number is no story)
PARAM_MAX = 64  # a watch or status name longer than this matches nothing anyway


@dataclass(frozen=True)
class Site:
    """What every handler reads: set once on ``app.state.site`` by ``make_app``."""

    engine: views.Engine
    config: Config
    gazetteer: Gazetteer
    clock: Callable[[], datetime]
    templates: Jinja2Templates

    def is_place(self, word: str) -> bool:
        return bool(self.gazetteer.resolve(word))


@dataclass(frozen=True, slots=True)
class VersionView:
    """One version and what changed since the previous one."""

    version: views.Version
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    first: bool = False  # the first version: nothing to compare with
    cosmetic: bool = False  # differs from the previous one only in spelling, punctuation or whitespace

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.version.text.split("\n") if p.strip())


def version_views(versions: Sequence[views.Version], *,
                  is_place: Callable[[str], bool] | None = None) -> list[VersionView]:
    """Every version (oldest first) with its change against the previous version."""
    out: list[VersionView] = []
    previous: views.Version | None = None
    for version in versions:
        if previous is None:
            out.append(VersionView(version, first=True))
        else:
            change = compare(previous.title, previous.text, version.title, version.text, is_place=is_place)
            if change is None:
                out.append(VersionView(version, cosmetic=True))
            else:
                out.append(VersionView(version, added=change.added, removed=change.removed))
        previous = version
    return out


def _site(request: Request) -> Site:
    site = request.app.state.site
    assert isinstance(site, Site)
    return site


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    site = _site(request)
    values = {"section": name.removesuffix(".html"), "now": site.clock(), **context}
    return site.templates.TemplateResponse(request, name, values, status_code=status_code)


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > PARAM_MAX:
        raise HTTPException(400, f"{name} is too long")
    return value or None


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise HTTPException(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def alerts(request: Request) -> Response:
    """``/``: the newest alerts, 50 a page, optionally of one watch or row status."""
    site = _site(request)
    watch, status = _text(request, "watch"), _text(request, "status")
    before = _int(request, "before", None, 1, ID_MAX)
    page = views.alert_page(site.engine, watch=watch, status=status, before=before)
    older = None
    if page.next_before is not None:
        params = {k: v for k, v in (("watch", watch), ("status", status)) if v}
        older = "/?" + urlencode({**params, "before": page.next_before})
    names = [w.name for w in site.config.watches]
    return render(request, "alerts.html", page=page, older=older, watch=watch, status=status, watches=names,
                  statuses=STATUSES, counts=views.status_counts(site.engine), paged=before is not None)


def story(request: Request) -> Response:
    """``/stories/{id}``: every version with its diff, the cluster's sources and the alerts sent."""
    site = _site(request)
    wanted = int(request.path_params["id"])
    found = views.story_page(site.engine, wanted) if wanted <= ID_MAX else None
    if found is None:
        raise HTTPException(404, "no story with this id")
    return render(request, "story.html", story=found, versions=version_views(found.versions, is_place=site.is_place))


def sources(request: Request) -> Response:
    """``/sources``: each source's health, errors, schedule, stories per day and Telegram gaps."""
    site = _site(request)
    days = day_keys(site.clock(), CHART_DAYS)
    rows = views.source_rows(site.engine, days)
    types = {s.name: s.type for s in site.config.sources}
    charts = {r.name: sparkline(r.posts, label=f"{r.name}: stories first seen", days=days) for r in rows}
    stored = {r.name for r in rows}
    never = [s for s in site.config.sources if s.name not in stored]
    return render(request, "sources.html", rows=rows, types=types, charts=charts, never=never, days=CHART_DAYS)


def watches(request: Request) -> Response:
    """``/watches``: alerts per day per watch (the config's watches first, then any others that alerted)."""
    site = _site(request)
    days = day_keys(site.clock(), CHART_DAYS)
    per_day = views.watch_days(site.engine, days)
    configured = {w.name: w for w in site.config.watches}
    names = list(configured) + [name for name in per_day if name not in configured]
    empty = (0,) * CHART_DAYS
    rows = [(name, configured.get(name), bars(per_day.get(name, empty), label=f"{name}: alerts", days=days))
            for name in names]
    return render(request, "watches.html", rows=rows, days=CHART_DAYS)


def map_page(request: Request) -> Response:
    """``/map?days=7``: settlements named in the stories alerted in the last N days."""
    site = _site(request)
    days = _int(request, "days", 7, 1, 365) or 7
    counts = views.place_counts(site.engine, site.clock() - timedelta(days=days))
    svg = render_map(site.gazetteer, counts)
    choices = sorted({*MAP_DAYS, days})
    return render(request, "map.html", svg=svg, counts=counts, days=days, choices=choices)


async def error(request: Request, exc: Exception) -> Response:
    """404s, 400s and the like as a page of the site."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return render(request, "error.html", status_code=code, code=code, detail=detail)
