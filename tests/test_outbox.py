"""The outbox relay: the pure retry policy, and draining against a real database and webhook."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.config import Config, Settings, parse_text
from monitor.context import compile_for, load_gazetteer, open_context
from monitor.models import Alert, AlertDraft, Delivery, Story
from monitor.outbox import DrainReport, drain, next_attempt
from monitor.store import alerts as store_alerts
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import alerts
from tests.conftest import FakeClock
from tests.loopback import Reply, WebhookReceiver

T0 = datetime(2022, 9, 11, tzinfo=UTC)
S = Settings()
FAIL = Delivery(ok=False, detail="HTTP 500")
GONE = Delivery(ok=False, permanent=True, detail="404 no_service")


@pytest.mark.parametrize(
    ("attempts", "age", "delivery", "action", "delay"),
    [
        pytest.param(1, timedelta(0), Delivery(ok=True), "sent", None, id="accepted"),
        pytest.param(1, timedelta(0), FAIL, "retry", timedelta(seconds=30), id="first retry after 30s"),
        pytest.param(3, timedelta(0), FAIL, "retry", timedelta(seconds=120), id="doubles"),
        pytest.param(12, timedelta(0), FAIL, "retry", timedelta(hours=1), id="capped at 1h"),
        pytest.param(20, timedelta(0), FAIL, "dead", None, id="attempt budget spent"),
        pytest.param(2, timedelta(hours=24), FAIL, "dead", None, id="age budget spent"),
        pytest.param(1, timedelta(0), GONE, "retry", timedelta(seconds=30), id="permanent: a few tries"),
        pytest.param(3, timedelta(0), GONE, "dead", None, id="permanent: then dead"),
    ],
)
def test_next_attempt(attempts: int, age: timedelta, delivery: Delivery, action: str,
                      delay: timedelta | None) -> None:
    decision = next_attempt(attempts, T0, T0 + age, delivery, S)
    assert decision.action == action
    assert decision.at == (None if delay is None else T0 + age + delay)


def _draft(channel: str, title: str) -> AlertDraft:
    alert = Alert(alert_id="", channel=channel, kind="new", title=title, link=None, sources=("a",),
                  watch="w", terms=("withdrew",), places=("Izium",), excerpt="…")
    return AlertDraft(alert=alert, hits=("withdrew",))


async def test_a_failing_row_never_blocks_the_others_and_ends_dead(tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver(default=Reply(status=500, body=b"no")) as bad, WebhookReceiver() as good:
        cfg = parse_text(
            f"database: sqlite:///{tmp_path}/o.db\nsettings: {{max_attempts: 3, alerts_file: null}}\n"
            f"channels: {{bad: 'json://127.0.0.1:{bad.port}/x', good: 'json://127.0.0.1:{good.port}/y'}}\n",
            "t.yaml", environ={})
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            src = store_sources.ensure(ctx.engine, "s", "https://example.org/")
            for i, channel in enumerate(["bad", "good", "nowhere", "good"]):
                story = Story(key=f"k{i}", url=None, title=f"t{i}", text="x", published=None, fingerprint=str(i))
                store_stories.insert_new(ctx.engine, src.id, story, b"", None, [_draft(channel, f"t{i}")], clock())
            first = await drain(ctx)
            assert (first.sent, first.retried) == (2, 2)
            assert sorted(r.json["title"] for r in good.requests) == ["t1", "t3"]
            for _ in range(3):
                clock.advance(hours=2)
                await drain(ctx)
            assert store_alerts.counts(ctx.engine) == {"sent": 2, "dead": 2}
            assert len(bad.requests) == 3


def _config(tmp_path: Path, **urls: str) -> Config:
    channels = ", ".join(f"{name}: '{url}'" for name, url in urls.items())
    return parse_text(f"database: sqlite:///{tmp_path}/o.db\nsettings: {{alerts_file: null}}\n"
                      f"channels: {{{channels}}}\n", "t.yaml", environ={})


def _queue(engine: Engine, now: datetime, *channels: str) -> None:
    """One pending alert per entry of ``channels``, titled ``<channel><n>``, inserted in that order."""
    src = store_sources.ensure(engine, "s", "https://example.org/")
    for i, channel in enumerate(channels):
        title = f"{channel}{sum(1 for c in channels[:i] if c == channel)}"
        story = Story(key=f"k{i}", url=None, title=title, text="x", published=None, fingerprint=str(i))
        store_stories.insert_new(engine, src.id, story, b"", None, [_draft(channel, title)], now)


def _rows(engine: Engine, channel: str) -> list[tuple[str, int, datetime]]:
    """(status, attempts, next_attempt_at) of one channel's rows, in id order."""
    with engine.connect() as conn:
        rows = conn.execute(select(alerts.c.status, alerts.c.attempts, alerts.c.next_attempt_at)
                            .where(alerts.c.channel == channel).order_by(alerts.c.id)).all()
    return [(status, attempts, at.replace(tzinfo=UTC)) for status, attempts, at in rows]


def _titles(receiver: WebhookReceiver) -> list[str]:
    return [r.json["title"] for r in receiver.requests]


HUNG = Reply(delay=2.5, drop=True)  # never answers: longer than the hung channel's read timeout (rto=1)


async def test_a_hung_channel_costs_one_timeout_and_never_delays_the_others(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.outbox")
    with WebhookReceiver(default=HUNG) as hung, WebhookReceiver() as good:
        cfg = _config(tmp_path, hung=f"json://127.0.0.1:{hung.port}/h?rto=1&cto=1",
                      good=f"json://127.0.0.1:{good.port}/g")
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            _queue(ctx.engine, clock(), *["hung"] * 5, *["good"] * 5)  # the hung rows are claimed first
            started = time.monotonic()
            first = await drain(ctx)
            elapsed = time.monotonic() - started
            print(f"drain with a hung channel took {elapsed:.2f}s")
            assert elapsed < 3  # one read timeout (1 s), not five
            assert (first.sent, first.retried, first.dead, first.released) == (5, 1, 0, 4)
            assert _titles(good) == [f"good{i}" for i in range(5)]  # in order
            assert _titles(hung) == ["hung0"]  # attempted once, not five times
            # The good channel was done before the hung send even timed out.
            sent_at = [r.created for r in caplog.records if r.getMessage().startswith("alert sent")]
            retry_at = [r.created for r in caplog.records if r.getMessage().startswith("alert retry")]
            assert len(sent_at) == 5 and len(retry_at) == 1 and max(sent_at) < retry_at[0]
            due = clock() + S.retry_base
            assert _rows(ctx.engine, "hung") == [("pending", 1, due)] + [("pending", 0, due)] * 4
            # Nothing is due before the retry time: the next drain does not touch the hung channel.
            assert await drain(ctx) == DrainReport()
            hung.default = Reply()  # the channel answers again
            clock.advance(seconds=31)
            second = await drain(ctx)
            assert (second.sent, second.retried, second.released) == (5, 0, 0)
            assert _titles(hung) == ["hung0"] + [f"hung{i}" for i in range(5)]  # hung0 twice: N05's ambiguous send
            assert [(s, n) for s, n, _ in _rows(ctx.engine, "hung")] == [("sent", 2)] + [("sent", 1)] * 4
            assert store_alerts.counts(ctx.engine) == {"sent": 10}


async def test_a_paused_channel_is_not_claimed_again_in_later_rounds(tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver(default=Reply(status=503, body=b"busy")) as bad, WebhookReceiver() as good:
        cfg = _config(tmp_path, bad=f"json://127.0.0.1:{bad.port}/b", good=f"json://127.0.0.1:{good.port}/g")
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            _queue(ctx.engine, clock(), *["bad"] * 5, *["good"] * 3)
            report = await drain(ctx, limit=2)  # round 1: bad0 fails, bad1 released; bad2-4 never claimed
            assert (report.sent, report.retried, report.released) == (3, 1, 1)
            assert _titles(bad) == ["bad0"] and len(good.requests) == 3
            assert [(s, n) for s, n, _ in _rows(ctx.engine, "bad")] == [("pending", 1)] + [("pending", 0)] * 4


async def test_two_channels_fail_and_recover_independently(tmp_path: Path, clock: FakeClock) -> None:
    with (WebhookReceiver(HUNG) as slow, WebhookReceiver(default=Reply(status=500, body=b"no")) as down,
          WebhookReceiver() as good):
        cfg = _config(tmp_path, slow=f"json://127.0.0.1:{slow.port}/s?rto=1&cto=1",
                      down=f"json://127.0.0.1:{down.port}/d", good=f"json://127.0.0.1:{good.port}/g")
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            _queue(ctx.engine, clock(), *["slow", "down", "good"] * 3)
            first = await drain(ctx)
            assert (first.sent, first.retried, first.released) == (3, 2, 4)
            assert (_titles(slow), _titles(down), len(good.requests)) == (["slow0"], ["down0"], 3)
            clock.advance(seconds=31)  # slow answers again; down is still down
            second = await drain(ctx)
            assert (second.sent, second.retried, second.released) == (3, 1, 2)
            assert _titles(slow) == ["slow0", "slow0", "slow1", "slow2"]
            assert _titles(down) == ["down0", "down0"]
            assert [(s, n) for s, n, _ in _rows(ctx.engine, "down")] == [("pending", 2), ("pending", 0),
                                                                         ("pending", 0)]
            assert _rows(ctx.engine, "down")[0][2] == clock() + 2 * S.retry_base  # backoff doubled


async def test_a_permanent_failure_does_not_hold_back_the_channel(tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver(Reply(status=404, body=b"no_service")) as hook:
        cfg = _config(tmp_path, hook=f"json://127.0.0.1:{hook.port}/p")
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            _queue(ctx.engine, clock(), *["hook"] * 3)
            report = await drain(ctx)
            assert (report.sent, report.retried, report.released) == (2, 1, 0)
            assert _titles(hook) == ["hook0", "hook1", "hook2"]


async def test_released_rows_go_out_as_soon_as_the_channel_recovers(tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver(default=Reply(status=500, body=b"no")) as hook:
        cfg = _config(tmp_path, hook=f"json://127.0.0.1:{hook.port}/h")
        async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                                database_url=cfg.database) as ctx:
            t0 = clock()
            _queue(ctx.engine, t0, *["hook"] * 3)
            first = await drain(ctx)  # hook0 fails (retry at +30s); hook1, hook2 released until then
            assert (first.retried, first.released) == (1, 2)
            clock.advance(seconds=31)
            second = await drain(ctx)  # still down: hook0 backs off to +60s, the other two follow it
            assert (second.retried, second.released) == (1, 2)
            hook0_due = clock() + 2 * S.retry_base
            clock.advance(seconds=9)
            _queue_one(ctx.engine, clock(), "hook", "hook3")  # a newer alert fails on its own: +30s
            assert (await drain(ctx)).retried == 1
            hook.default = Reply()  # the channel answers again
            clock.advance(seconds=31)  # hook3's retry is due; hook0 and the released rows are not
            third = await drain(ctx)
            assert (third.sent, third.retried, third.released) == (3, 0, 0)
            assert _titles(hook)[-3:] == ["hook3", "hook1", "hook2"]  # the released rows in order
            assert _rows(ctx.engine, "hook")[0] == ("pending", 2, hook0_due)  # attempted: own backoff
            assert await drain(ctx) == DrainReport()
            clock.advance(seconds=20)
            assert (await drain(ctx)).sent == 1
            assert store_alerts.counts(ctx.engine) == {"sent": 4}


def _queue_one(engine: Engine, now: datetime, channel: str, title: str) -> None:
    src = store_sources.ensure(engine, "s", "https://example.org/")
    story = Story(key=title, url=None, title=title, text="x", published=None, fingerprint=title)
    store_stories.insert_new(engine, src.id, story, b"", None, [_draft(channel, title)], now)


def test_hasten_only_touches_the_channels_released_rows(tmp_path: Path) -> None:
    from monitor.store.engine import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path}/h.db")
    upgrade(engine)
    _queue(engine, T0, "a", "a", "a", "a", "b")
    lease = timedelta(minutes=5)
    rows = {c.alert.alert_id: c for c in store_alerts.claim_due(engine, T0, lease=lease, limit=10)}
    ids = sorted(c.id for c in rows.values())  # a0 a1 a2 a3 b0
    later = T0 + timedelta(hours=1)
    store_alerts.mark_retry(engine, ids[0], later, "HTTP 500")  # attempted: keeps its backoff
    store_alerts.release(engine, ids[1], later)  # released: hastened
    store_alerts.release(engine, ids[2], T0 - timedelta(seconds=1))  # released but already due: untouched
    # ids[3] stays "sending" (another worker's lease): untouched
    store_alerts.release(engine, ids[4], later)  # another channel: untouched
    now = T0 + timedelta(minutes=1)
    assert store_alerts.hasten(engine, "a", now) == 1
    assert [(s, n, at) for s, n, at in _rows(engine, "a")] == [
        ("pending", 1, later), ("pending", 0, now), ("pending", 0, T0 - timedelta(seconds=1)),
        ("sending", 1, T0)]
    assert _rows(engine, "b") == [("pending", 0, later)]
    assert store_alerts.hasten(engine, "a", now) == 0
    engine.dispose()


def test_a_429_backs_off_at_least_30_seconds_whatever_the_base() -> None:
    """N02: apprise does not surface Retry-After, so a 429 waits at least 30 s (Slack: ~1 message/s)."""
    fast = Settings(retry_base=timedelta(seconds=1))
    limited = Delivery(ok=False, detail="Failed to send JSON notification: Too Many Requests - error=429.")
    assert next_attempt(1, T0, T0, limited, fast).at == T0 + timedelta(seconds=30)
    assert next_attempt(1, T0, T0, FAIL, fast).at == T0 + timedelta(seconds=1)
    assert next_attempt(7, T0, T0, limited, fast).at == T0 + timedelta(seconds=64)  # longer backoffs stand
