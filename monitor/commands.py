"""The small commands behind the CLI: check, db upgrade, test-notify, status, alerts (list, retry), story, web."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from monitor import deliver
from monitor.config import Config
from monitor.config.models import WebSettings
from monitor.context import load_gazetteer
from monitor.daemon import build_channels, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.models import Alert
from monitor.store import alerts as store_alerts
from monitor.store import circuits as store_circuits
from monitor.store import counts as store_counts
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.store import views


def check(path: Path) -> int:
    """Validate and lint the config (``monitor.author_cmd.check``)."""
    from monitor import author_cmd

    return author_cmd.check(path)


def db_upgrade(path: Path) -> int:
    """Migrate the configured database to the newest schema."""
    cfg, _ = load_config(path, load_gazetteer())
    engine = store_engine.make_engine(cfg.database_url())
    store_engine.upgrade(engine)
    print(f"database at the newest revision: {engine.url.render_as_string(hide_password=True)}")
    return 0


async def test_notify(path: Path, name: str) -> int:
    """Send one test alert to channel ``name`` directly (not through the outbox)."""
    cfg, _ = load_config(path, load_gazetteer())
    channels = build_channels(cfg)
    if name not in channels:
        raise MonitorError(f"unknown channel {name!r}; known: {', '.join(sorted(channels))}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    alert = Alert(alert_id=f"test-{stamp}", channel=name, kind="new", title="news-monitor test alert",
                  link=None, sources=("news-monitor",), watch="test", terms=(), places=(),
                  excerpt="If you can read this, alerts reach this channel.")
    result = await deliver.send(channels[name], alert)
    print(f"{name}: {'sent' if result.ok else 'FAILED: ' + result.detail}")
    return 0 if result.ok else 1


def _require_migrated(current: bool) -> None:
    if not current:
        raise MonitorError("the database is not migrated; run: news-monitor db upgrade")


def status(path: Path) -> int:
    """Print each source's health and the outbox counts (held and digest rows when there are any)."""
    cfg, _ = load_config(path, load_gazetteer())
    engine = store_engine.make_engine(cfg.database_url())
    _require_migrated(store_engine.is_current(engine))
    for row in store_sources.all_states(engine):
        print(f"{row['name']:<24} {_health(row):<22} last success: {row['last_success_at'] or 'never'}"
              f"{_timing(row)}")
    totals = store_counts.read(engine)  # the same figures /metrics exports
    health = ", ".join(f"{state} {n}" for state, n in sorted(totals.sources.items())) or "none polled yet"
    print(f"stories: {totals.stories}, clusters: {totals.clusters}; sources: {health}")
    counts = store_alerts.counts(engine)
    shown = ["pending", "sending", "sent", "dead"] + [k for k in ("digest", "held") if counts.get(k)]
    print("alerts: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in shown))
    broken = sorted(name for name, state in store_circuits.load(engine).items() if state.broken)
    if broken:
        print("broken channels: " + ", ".join(broken) + " (news-monitor alerts retry --channel NAME)")
    return 0


def _timing(row: dict[str, object]) -> str:
    """When it is polled next and every how often; where a permanent redirect moved it."""
    parts = []
    if row["next_poll_at"] and not row["disabled_at"]:
        parts.append(f"next: {row['next_poll_at']:%Y-%m-%d %H:%M:%S}")
    if isinstance(row["interval_s"], float):
        parts.append(f"every {row['interval_s'] / 60:.0f} min")
    if row["config_url"] and row["url"] != row["config_url"]:
        parts.append(f"moved to {row['url']}")
    return "  " + ", ".join(parts) if parts else ""


def _health(row: dict[str, object]) -> str:
    """``gone``; ``silent``; ``ok``, ``ok (parse_partial)`` for a warning on a working source; or
    ``<kind> x<failures>``."""
    if row["disabled_at"]:
        return "gone (HTTP 410)"
    if row["health"] == "silent" and not row["error_count"]:
        return "silent"
    if row["error_count"]:
        return f"{row['last_error_kind']} x{row['error_count']}"
    return f"ok ({row['last_error_kind']})" if row["last_error_kind"] else "ok"


STATUSES = ("pending", "sending", "sent", "dead", "digest", "held")


def alerts_list(path: Path, *, status: str | None = None, channel: str | None = None, limit: int = 50) -> int:
    """Print the newest outbox rows first: id, created, channel, kind, severity, status, attempts, last
    error, title."""
    if status is not None and status not in STATUSES:
        raise MonitorError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
    if limit < 1:
        raise MonitorError("--limit must be at least 1")
    cfg, _ = load_config(path, load_gazetteer())
    engine = store_engine.make_engine(cfg.database_url())
    _require_migrated(store_engine.is_current(engine))
    rows = store_alerts.recent(engine, limit=limit, status=status, channel=channel)
    if not rows:
        print("no alerts" + (f" with status {status}" if status else "") + (f" on {channel}" if channel else ""))
        return 0
    width = max(7, *(len(r.channel) for r in rows))
    print(f"{'ID':>6}  {'CREATED (UTC)':<16}  {'CHANNEL':<{width}}  {'KIND':<6}  {'SEVERITY':<8}  {'STATUS':<7}  "
          f"{'ATT':>3}  {'LAST ERROR':<30}  TITLE")
    for r in rows:
        print(f"{r.id:>6}  {r.created_at:%Y-%m-%d %H:%M}  {r.channel:<{width}}  {r.kind:<6}  {r.severity:<8}  "
              f"{r.status:<7}  {r.attempts:>3}  {_cell(r.last_error or '-', 30):<30}  {_cell(r.title, 80)}")
    return 0


def _cell(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def alerts_retry(path: Path, *, ref: str | None = None, channel: str | None = None) -> int:
    """Requeue one dead or held alert (``ref``: its id or alert id), or close ``channel``'s circuit and
    requeue its held alerts."""
    if (ref is None) == (channel is None):
        raise MonitorError("give an alert id or --channel NAME (one of them)")
    cfg, _ = load_config(path, load_gazetteer())
    engine = store_engine.make_engine(cfg.database_url())
    _require_migrated(store_engine.is_current(engine))
    now = datetime.now(UTC)
    if channel is not None:
        reopened = store_circuits.reopen(engine, channel, now)
        if reopened is None:
            raise MonitorError(f"no alerts and no circuit for channel {channel!r}")
        what = "circuit closed" if reopened.was_broken else "circuit was not broken"
        print(f"channel {channel}: {what}; {reopened.requeued} held alerts requeued")
        return 0
    assert ref is not None
    found = store_alerts.requeue(engine, int(ref) if ref.isdigit() else ref, now)
    if found is None:
        raise MonitorError(f"no alert with id {ref!r}")
    if not found.requeued:
        raise MonitorError(f"alert {found.id} is {found.status}; only dead or held alerts can be retried")
    print(f"alert {found.id} requeued (was {found.status}) for channel {found.channel}")
    state = store_circuits.load(engine).get(found.channel)
    if state is not None and state.broken:
        print(f"note: channel {found.channel} is broken, so the alert is held again until it recovers "
              f"(news-monitor alerts retry --channel {found.channel})")
    return 0


def story(path: Path, ref: str) -> int:
    """``news-monitor story ID``: a story's versions with their diffs, its cluster and its alerts. ``ref``: a
    story id (as in ``/stories/<id>``), an alert id (``nm-...``) or a link (the stored story of that link)."""
    from monitor import history
    from monitor.render_parts import one_line

    gazetteer = load_gazetteer()
    cfg, _ = load_config(path, gazetteer)
    engine = store_engine.make_engine(cfg.database_url())
    try:
        _require_migrated(store_engine.is_current(engine))
        story_id = find_story(engine, ref)
        page = None if story_id is None else views.story_page(engine, story_id)
        if page is None:
            raise MonitorError(f"no story {one_line(ref, 200)}")
        found = views.cluster_alerts(engine, page.cluster_id)
    finally:
        engine.dispose()

    def is_place(word: str) -> bool:  # as the pipeline: replacing a place name is news, not a typo
        return bool(word[:1].isupper() and gazetteer.resolve(word))

    sys.stdout.write(history.story_text(page, found, is_place=is_place))
    return 0


def find_story(engine: views.Engine, ref: str) -> int | None:
    """The story ``ref`` names: a story id, an alert id (``nm-...``) or a link (canonicalised as stored)."""
    from monitor.normalize import canonical_url

    key = ref.strip()
    if not key.isdigit() and not key.startswith("nm-"):
        key = canonical_url(key) or ""
    return views.find_story(engine, key) if key else None


def web_settings(cfg: Config, listen: str | None) -> WebSettings:
    """``settings.web`` (its defaults when absent), listening on ``listen`` when given."""
    web = cfg.settings.web or WebSettings()
    if listen is None:
        return web
    try:
        return WebSettings.model_validate({**web.model_dump(), "listen": listen})
    except ValueError as exc:  # pydantic's ValidationError
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8787") from exc


def with_web(cfg: Config, web: WebSettings) -> Config:
    """``cfg`` with ``settings.web`` replaced (the pages check the listen address they really serve on)."""
    return cfg.model_copy(update={"settings": cfg.settings.model_copy(update={"web": web})})


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while inside (the loop's handlers, removed afterwards)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def web(path: Path, *, listen: str | None = None) -> int:
    """``news-monitor web``: the status pages on the configured database, no polling, until SIGINT/SIGTERM."""
    from monitor.web.app import make_app  # starlette and jinja2 only for the pages
    from monitor.web.serve import serve_web

    gazetteer = load_gazetteer()
    cfg, _ = load_config(path, gazetteer)
    settings = web_settings(cfg, listen)
    cfg = with_web(cfg, settings)
    engine = store_engine.make_engine(cfg.database_url())
    try:
        _require_migrated(store_engine.is_current(engine))
        app = make_app(engine, cfg, gazetteer=gazetteer)
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await serve_web(app, settings, stop)
    finally:
        engine.dispose()
    return 0
