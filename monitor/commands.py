"""The small one-shot commands behind the CLI: check, db upgrade, test-notify, status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor import deliver
from monitor.context import load_gazetteer
from monitor.daemon import load_config
from monitor.errors import ConfigError, MonitorError
from monitor.models import Alert
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources


def check(path: Path) -> int:
    """Validate the config; print every problem as file:line:col: path: message."""
    try:
        cfg, _ = load_config(path, load_gazetteer())
    except ConfigError as exc:
        for line in exc.problems:
            print(line)
        return 1
    print(f"{path}: ok ({len(cfg.sources)} sources, {len(cfg.watches)} watches, "
          f"channels: {', '.join(sorted(set(cfg.channels) | {'log'}))})")
    return 0


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
    alerts_file = Path(cfg.settings.alerts_file) if cfg.settings.alerts_file else None
    channels = deliver.make_channels(cfg.channel_urls(), alerts_file=alerts_file)
    if name not in channels:
        raise MonitorError(f"unknown channel {name!r}; known: {', '.join(sorted(channels))}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    alert = Alert(alert_id=f"test-{stamp}", channel=name, kind="new", title="news-monitor test alert",
                  link=None, sources=("news-monitor",), watch="test", terms=(), places=(),
                  excerpt="If you can read this, alerts reach this channel.")
    result = await deliver.send(channels[name], alert)
    print(f"{name}: {'sent' if result.ok else 'FAILED: ' + result.detail}")
    return 0 if result.ok else 1


def status(path: Path) -> int:
    """Print each source's health and the outbox counts."""
    cfg, _ = load_config(path, load_gazetteer())
    engine = store_engine.make_engine(cfg.database_url())
    if not store_engine.is_current(engine):
        raise MonitorError("the database is not migrated; run: news-monitor db upgrade")
    for row in store_sources.all_states(engine):
        print(f"{row['name']:<24} {_health(row):<22} last success: {row['last_success_at'] or 'never'}"
              f"{_timing(row)}")
    counts = store_alerts.counts(engine)
    print("alerts: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("pending", "sending", "sent", "dead")))
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
