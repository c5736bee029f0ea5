"""The ops endpoint (monitor/web/ops.py) and the metrics behind it (monitor/metrics.py): a real SQLite context
polls loopback feeds (a good one and a failing one) and drains an alert to the ``log`` channel, then ``/metrics``
is scraped through Starlette's test client and parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from monitor.config import parse_text
from monitor.config.models import MetricsSettings
from monitor.errors import ConfigError
from monitor.metrics import Metrics, failure_kind, summary_lines
from monitor.models import PollReport
from monitor.outbox import drain
from monitor.store import counts as store_counts
from monitor.web import ops
from monitor.web.ops import make_ops_app, resolve_token
from tests.conftest import FakeClock
from tests.test_pipeline import (
    CONFIG,
    HTML,
    IZIUM,
    Env,
    FeedServer,
    Item,
    feed,
    neutral,
    pipeline_context,
    rss,
)

with warnings.catch_warnings():  # starlette 1.x prefers the httpx2 fork; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Env]:
    with FeedServer() as feeds:
        cfg = parse_text(CONFIG.format(dir=tmp_path, base=feeds.base), "t.yaml", environ={})
        async with pipeline_context(cfg, clock, f"sqlite:///{tmp_path}/t.db", seed=1) as ctx:
            ctx.metrics = Metrics(ctx.engine)
            yield Env(ctx, feeds, clock)


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_endpoint_scraped_and_parsed(env: Env) -> None:
    izium = Item("Ukrainian forces recaptured Izium", IZIUM, guid="g1", link="https://wire.example/izium")
    env.feeds.serve("/wire.xml", feed(rss(izium, neutral(1), neutral(2))))
    env.feeds.serve("/copy.xml", feed(b"<html><body>Please log in</body></html>", ctype=HTML))
    first, failed = await env.poll("wire"), await env.poll("copy")
    assert first.items == 3 and first.alerts == 1 and failed.error_kind == "not_a_feed"
    assert (await env.poll("wire")).not_modified  # the same body again
    env.clock.advance(seconds=42)
    assert (await drain(env.ctx)).sent == 1

    with TestClient(make_ops_app(env.ctx.engine, env.ctx.metrics)) as client:
        s = await asyncio.to_thread(scrape, client)

    assert value(s, "news_monitor_polls_total", source="wire", outcome="ok") == 1
    assert value(s, "news_monitor_polls_total", source="wire", outcome="not_modified") == 1
    assert value(s, "news_monitor_polls_total", source="copy", outcome="error") == 1
    assert value(s, "news_monitor_poll_failures_total", kind="not_a_feed") == 1
    assert value(s, "news_monitor_entries_total") == 3
    assert value(s, "news_monitor_stories_new_total") == first.new_stories == 3
    assert value(s, "news_monitor_alerts_queued_total") == 1
    assert value(s, "news_monitor_poll_seconds_count") == 3
    assert 0 < value(s, "news_monitor_poll_seconds_sum") < 30
    assert value(s, "news_monitor_deliveries_total", channel="log", result="sent") == 1
    assert value(s, "news_monitor_alert_latency_seconds_count") == 1
    assert value(s, "news_monitor_alert_latency_seconds_sum") == 42.0  # sent (fake clock) - created_at
    assert value(s, "news_monitor_alert_latency_seconds_bucket", le="30.0") == 0
    assert value(s, "news_monitor_alert_latency_seconds_bucket", le="60.0") == 1
    # the gauges, counted in the database at scrape time
    assert value(s, "news_monitor_database_up") == 1
    assert value(s, "news_monitor_stories") == 3
    assert value(s, "news_monitor_clusters") == 3
    assert value(s, "news_monitor_alerts", status="sent", channel="log") == 1
    assert value(s, "news_monitor_sources", health="ok") == 2


async def test_not_due_polls_are_not_counted(env: Env) -> None:
    env.feeds.serve("/wire.xml", feed(rss(neutral(1))))
    await env.poll("wire")
    assert await env.poll("wire", force=False) == PollReport(source="wire", notes=("not due",))
    with TestClient(make_ops_app(env.ctx.engine, env.ctx.metrics)) as client:
        s = await asyncio.to_thread(scrape, client)
    assert value(s, "news_monitor_polls_total", source="wire", outcome="ok") == 1
    assert value(s, "news_monitor_poll_seconds_count") == 1


async def test_healthz_answers_ok_then_503_when_the_database_is_broken(env: Env, tmp_path: Path) -> None:
    with TestClient(make_ops_app(env.ctx.engine, Metrics())) as client:
        ok = await asyncio.to_thread(client.get, "/healthz")
        head = await asyncio.to_thread(client.head, "/healthz")
        post = await asyncio.to_thread(client.post, "/metrics")
    assert (ok.status_code, ok.text.strip(), head.status_code) == (200, "ok", 200)
    assert post.status_code == 405

    broken = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with TestClient(make_ops_app(broken, Metrics(broken))) as client:
        down = client.get("/healthz")
        s = scrape(client)  # a scrape still answers; the database gauge says why it is thin
    assert down.status_code == 503 and "database error" in down.text
    assert value(s, "news_monitor_database_up") == 0 and ("news_monitor_stories", ()) not in s


def test_healthz_503_when_the_database_does_not_answer_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_counts, "ping", lambda engine: time.sleep(1.0))
    engine = create_engine("sqlite://")
    with TestClient(make_ops_app(engine, Metrics(), health_timeout=0.05)) as client:
        slow = client.get("/healthz")
    assert slow.status_code == 503 and "did not answer within 0.05s" in slow.text


def test_a_token_is_required_when_given() -> None:
    engine = create_engine("sqlite://")
    with TestClient(make_ops_app(engine, Metrics(), token="s3cret")) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/healthz", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/healthz", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert value(scrape(client, Authorization="Bearer s3cret"), "news_monitor_poll_seconds_count") == 0


def test_the_token_rules_follow_the_listen_address() -> None:
    assert resolve_token(MetricsSettings(), environ={"NEWS_MONITOR_METRICS_TOKEN": "x"}) is None
    assert resolve_token(MetricsSettings(listen="[::1]:9464"), environ={}) is None
    public = MetricsSettings(listen="0.0.0.0:9464")
    assert resolve_token(public, environ={"NEWS_MONITOR_METRICS_TOKEN": " t "}) == "t"
    with pytest.raises(ConfigError, match="NEWS_MONITOR_METRICS_TOKEN"):
        resolve_token(public, environ={})
    with pytest.raises(ConfigError, match="OPS_TOKEN"):
        resolve_token(MetricsSettings(listen="10.0.0.5:9100", token_env="OPS_TOKEN"), environ={})


def test_settings_metrics_is_off_by_default_and_parsed() -> None:
    assert parse_text("settings: {}\n", "t.yaml", environ={}).settings.metrics is None
    m = parse_text("settings: {metrics: {listen: '[::1]:9100'}}\n", "t.yaml", environ={}).settings.metrics
    assert m is not None and (m.host, m.port, m.token_env) == ("::1", 9100, "NEWS_MONITOR_METRICS_TOKEN")
    with pytest.raises(ConfigError):
        parse_text("settings: {metrics: {listen: 'nope'}}\n", "t.yaml", environ={})


def test_two_instances_do_not_clash_nor_touch_the_global_registry() -> None:
    before = {m.name for m in REGISTRY.collect()}
    a, b = Metrics(), Metrics(create_engine("sqlite://"))
    a.polled("wire", PollReport(source="wire", fetched=True, items=2), 0.1)
    a.delivered("log", "sent", 3.0)
    b.polled("wire", PollReport(source="wire", error_kind="some_new_kind"), 0.2)
    assert a.polls.labels(source="wire", outcome="ok")._value.get() == 1
    assert b.polls.labels(source="wire", outcome="ok")._value.get() == 0
    assert b.failures.labels(kind="other")._value.get() == 1
    assert {m.name for m in REGISTRY.collect()} == before
    assert failure_kind("timeout") == "timeout" and failure_kind("x" * 40) == "other"


async def test_run_ops_server_refuses_a_public_listener_without_its_token(env: Env) -> None:
    settings = env.ctx.config.settings.model_copy(update={"metrics": MetricsSettings(listen="0.0.0.0:0")})
    env.ctx.config = env.ctx.config.model_copy(update={"settings": settings})
    with pytest.raises(ConfigError, match="NEWS_MONITOR_METRICS_TOKEN"):
        await ops.run_ops_server(env.ctx, asyncio.Event(), environ={})


async def test_run_ops_server_serves_until_stopped(env: Env) -> None:
    import httpx

    port = _free_port()
    settings = env.ctx.config.settings.model_copy(update={"metrics": MetricsSettings(listen=f"127.0.0.1:{port}")})
    env.ctx.config = env.ctx.config.model_copy(update={"settings": settings})
    stop = asyncio.Event()
    server = asyncio.create_task(ops.run_ops_server(env.ctx, stop, environ={}))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            try:
                health = await client.get("/healthz")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.02)
        scraped = await client.get("/metrics")
    stop.set()
    await asyncio.wait_for(server, 10)
    assert health.status_code == 200 and "news_monitor_stories 0.0" in scraped.text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_summary_lines_for_the_status_command() -> None:
    counts = store_counts.Counts(stories=3, clusters=2, alerts={("sent", "log"): 1, ("dead", "slack"): 2,
                                                                 ("sent", "slack"): 4}, sources={"ok": 2})
    assert summary_lines(counts) == ["stories: 3", "clusters: 2", "sources: ok 2", "alerts dead: slack 2",
                                     "alerts sent: log 1, slack 4"]
    assert summary_lines(store_counts.Counts())[-2:] == ["sources: none polled yet", "alerts: none"]
