"""The outbox's delivery policy against real SQLite (PostgreSQL for the digest queries), real apprise and
loopback receivers, with an injected clock and sleep: channel circuits (hold, probe, recover), quiet hours,
digests, rate limits, Slack pacing and the 429 floor."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apprise.plugins.slack import NotifySlack
from sqlalchemy import Engine, select

from monitor import deliver
from monitor.circuit import BREAK_AFTER, PROBE_EVERY, is_channel_failure
from monitor.config import Config, parse_text
from monitor.context import Context, compile_for, load_gazetteer, open_context
from monitor.digest import digest_id, digest_key
from monitor.models import Alert, AlertDraft, Delivery, Story
from monitor.outbox import drain
from monitor.store import alerts as store_alerts
from monitor.store import circuits as store_circuits
from monitor.store import digests as store_digests
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import alerts
from tests.conftest import FakeClock
from tests.loopback import Reply, WebhookReceiver

SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/"
NO_SERVICE = Reply(status=404, body=b"no_service")
FOOTER_IDS = re.compile(r"alert-ids?: (.+)")


class Sleeps:
    """The injected sleep: records every wait, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def config(tmp_path: Path, channels: str, settings: str = "") -> Config:
    return parse_text(f"database: sqlite:///{tmp_path}/p.db\nsettings: {{alerts_file: null{settings}}}\n"
                      f"channels: {{{channels}}}\n", "t.yaml", environ={})


@asynccontextmanager
async def context(cfg: Config, clock: FakeClock, sleeps: Sleeps | None = None) -> AsyncIterator[Context]:
    async with open_context(cfg, watchlist=compile_for(cfg, load_gazetteer()), clock=clock,
                            database_url=cfg.database, sleep=sleeps or Sleeps()) as ctx:
        yield ctx


def queue(engine: Engine, now: datetime, channel: str, *titles: str, severity: str = "high") -> list[str]:
    """One pending alert per title on ``channel``; returns their alert ids."""
    src = store_sources.ensure(engine, "s", "https://example.org/")
    for title in titles:
        alert = Alert(alert_id="", channel=channel, kind="new", title=title, link=None, sources=("a",), watch="w",
                      terms=("withdrew",), places=("Izium",), excerpt="…", severity=severity)
        story = Story(key=title, url=None, title=title, text="x", published=None, fingerprint=title)
        store_stories.insert_new(engine, src.id, story, b"", None, [AlertDraft(alert=alert, hits=("withdrew",))], now)
    with engine.connect() as conn:
        rows = conn.execute(select(alerts.c.alert_uid, alerts.c.payload).where(alerts.c.channel == channel)).all()
    return [uid for uid, payload in rows if any(f'"title": "{t}"' in payload for t in titles)]


def statuses(engine: Engine, channel: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(s, n) for s, n in conn.execute(select(alerts.c.status, alerts.c.attempts)
                                                .where(alerts.c.channel == channel).order_by(alerts.c.id))]


def message(request: object) -> str:
    """The text a json:// or Slack receiver got."""
    data = getattr(request, "json", None) or {}
    return str(data.get("message") or data)


# -- the channel circuit -----------------------------------------------------------------------------------


def point_slack_at(monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver) -> None:
    """Test-only (recipe 4.4): apprise's Slack plugin posts to the receiver, and its own blocking 1.2 s
    throttle (``request_rate_per_sec``, a real ``time.sleep`` in the send thread) is off, so only the
    relay's injected sleep paces the sends."""
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{receiver.url}/services")
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(default=NO_SERVICE) as receiver:
        point_slack_at(monkeypatch, receiver)
        yield receiver


async def test_a_revoked_webhook_breaks_the_channel_holds_its_alerts_and_recovers_by_probe(
        tmp_path: Path, clock: FakeClock, slack: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    with WebhookReceiver() as ops, WebhookReceiver() as good:
        cfg = config(tmp_path, f"desk: '{SLACK_URL}', ops: 'json://127.0.0.1:{ops.port}/o', "
                               f"good: 'json://127.0.0.1:{good.port}/g'", ", ops_channel: ops")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "desk", "d0", "d1", "d2", "d3")
            queue(ctx.engine, clock(), "good", "g0")
            first = await drain(ctx)
            assert len(slack.requests) == BREAK_AFTER  # d0-d2 failed permanently; d3 never attempted
            assert (first.sent, first.held) == (2, 4)  # g0 and the notice; all four desk alerts held
            assert statuses(ctx.engine, "desk") == [("held", 1)] * 3 + [("held", 0)]  # d3: claimed, not tried
            assert [r.json["title"] for r in good.requests] == ["g0"]
            [notice] = ops.requests
            assert notice.json["title"] == "news-monitor: channel desk is broken"
            assert "404" in notice.json["message"] and "alerts retry --channel desk" in notice.json["message"]
            assert "channel broken channel=desk held=4" in caplog.text

            queue(ctx.engine, clock(), "desk", "d4")  # a new alert for a broken channel: held at once
            for _ in range(25):  # a day later: still held (no attempts spent, not dead by age), probed
                clock.advance(hours=1)
                assert (await drain(ctx)).dead == 0
            assert {s for s, _ in statuses(ctx.engine, "desk")} == {"held"}
            assert len(slack.requests) == BREAK_AFTER + 25  # one probe per drain (every 30 min at most)
            assert len(ops.requests) == 1

            slack.default = Reply()  # the webhook works again
            clock.advance(minutes=10)
            assert await drain(ctx) == type(first)()  # the next probe is not due yet
            clock.advance(minutes=20)
            recovered = await drain(ctx)
            assert recovered.sent == 6  # the probe (d0), d1-d4 and the "recovered" notice
            assert [s for s, _ in statuses(ctx.engine, "desk")] == ["sent"] * 5
            assert ops.requests[-1].json["title"] == "news-monitor: channel desk recovered"
            assert not store_circuits.load(ctx.engine)["desk"].broken


async def test_a_reload_with_another_url_closes_the_circuit(
        tmp_path: Path, clock: FakeClock, slack: WebhookReceiver) -> None:
    with WebhookReceiver() as fixed:
        cfg = config(tmp_path, f"desk: '{SLACK_URL}'")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "desk", *(f"d{i}" for i in range(4)))
            await drain(ctx)
            assert {s for s, _ in statuses(ctx.engine, "desk")} == {"held"}
            clock.advance(hours=30)
            ctx.channels = deliver.make_channels({"desk": f"json://127.0.0.1:{fixed.port}/new"}, alerts_file=None)
            fixed.script(Reply(status=500, body=b"warming up"))  # the first send after the fix fails: retried
            report = await drain(ctx)
            assert (report.sent, report.retried, report.dead, report.released) == (0, 1, 0, 3)
            clock.advance(seconds=31)
            assert (await drain(ctx)).sent == 4
            assert statuses(ctx.engine, "desk") == [("sent", 2)] + [("sent", 1)] * 3


async def test_with_no_other_channel_the_operator_is_told_in_the_log(
        tmp_path: Path, clock: FakeClock, slack: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path, f"desk: '{SLACK_URL}'", ", ops_channel: desk")
    async with context(cfg, clock) as ctx:
        queue(ctx.engine, clock(), "desk", "d0", "d1", "d2")
        await drain(ctx)
        assert [r.levelname for r in caplog.records if "no other channel to tell" in r.getMessage()] == ["ERROR"]
        assert store_alerts.counts(ctx.engine) == {"held": 3}  # no notice row for the broken channel itself


async def test_transient_and_own_failures_do_not_break_a_channel(tmp_path: Path, clock: FakeClock) -> None:
    assert is_channel_failure(Delivery(ok=False, permanent=True, detail="error=404"), True)
    assert not is_channel_failure(Delivery(ok=False, permanent=True, detail="render_error: KeyError"), True)
    assert not is_channel_failure(Delivery(ok=False, permanent=True, detail="unexpected: OSError"), True)
    assert not is_channel_failure(Delivery(ok=False, permanent=True, detail="ValueError: x"), False)
    assert not is_channel_failure(Delivery(ok=False, detail="error=500"), True)
    with WebhookReceiver(default=Reply(status=500, body=b"no")) as hook:
        cfg = config(tmp_path, f"hook: 'json://127.0.0.1:{hook.port}/h'")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "hook", "h0")
            for _ in range(6):
                await drain(ctx)
                clock.advance(hours=1)
            assert statuses(ctx.engine, "hook") == [("pending", 6)]
            assert "hook" not in store_circuits.load(ctx.engine)


# -- pacing: quiet hours, digests, rate limits, Slack ---------------------------------------------------------


async def test_quiet_hours_hold_a_high_alert_to_the_morning_and_let_a_critical_through(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2022, 9, 11, 20, 0, tzinfo=UTC))  # 23:00 in Kyiv (EEST)
    with WebhookReceiver() as hook:
        cfg = config(tmp_path, f"desk: {{url: 'json://127.0.0.1:{hook.port}/d', quiet_hours: '22:00-07:00', "
                               "timezone: Europe/Kyiv}")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "desk", "high one")
            queue(ctx.engine, clock(), "desk", "critical one", severity="critical")
            report = await drain(ctx)
            assert (report.sent, report.waiting) == (1, 1)
            assert [r.json["title"] for r in hook.requests] == ["critical one"]
            assert store_alerts.next_due(ctx.engine) == datetime(2022, 9, 12, 4, 0, tzinfo=UTC)  # 07:00 Kyiv
            assert statuses(ctx.engine, "desk") == [("pending", 0), ("sent", 1)]
            clock.now = datetime(2022, 9, 12, 3, 59, tzinfo=UTC)
            assert (await drain(ctx)).sent == 0
            clock.now = datetime(2022, 9, 12, 4, 0, tzinfo=UTC)
            assert (await drain(ctx)).sent == 1
            assert [r.json["title"] for r in hook.requests] == ["critical one", "high one"]


async def test_a_digest_goes_out_once_at_its_slot_with_every_alert_and_is_retried_whole(
        tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver() as hook:
        cfg = config(tmp_path, f"desk: {{url: 'json://127.0.0.1:{hook.port}/d', mode: digest, digest: hourly}}")
        async with context(cfg, clock) as ctx:
            uids = []
            for i in range(5):  # 16:05 ... 16:45
                clock.advance(minutes=5 if i == 0 else 10)
                uids += queue(ctx.engine, clock(), "desk", f"d{i}")
                assert (await drain(ctx)).waiting == 1
            assert hook.requests == []
            hook.script(Reply(status=500, body=b"down"))
            clock.now = datetime(2022, 9, 11, 17, 0, tzinfo=UTC)
            first = await drain(ctx, limit=2)  # a claim limit smaller than the digest: still claimed whole
            assert (first.sent, first.retried) == (0, 5)
            clock.advance(seconds=10)
            late = queue(ctx.engine, clock(), "desk", "late")  # after the slot: the next digest, not this one
            assert (await drain(ctx)).waiting == 1
            clock.advance(seconds=30)
            second = await drain(ctx, limit=2)
            assert (second.sent, second.retried) == (5, 0)
            assert len(hook.requests) == 2
            key = digest_key("desk", datetime(2022, 9, 11, 17, 0, tzinfo=UTC))
            for request in hook.requests:  # the same five alerts, under the same digest id, each time
                text = message(request)
                assert f"digest-id: {digest_id(key)}" in text
                assert sorted(uid for uid in uids if uid in text) == sorted(uids) and late[0] not in text
            assert statuses(ctx.engine, "desk") == [("sent", 2)] * 5 + [("digest", 0)]
            clock.now = datetime(2022, 9, 11, 18, 0, tzinfo=UTC)
            assert (await drain(ctx)).sent == 1 and late[0] in message(hook.requests[-1])


async def test_a_rate_limit_sends_the_first_alerts_and_folds_the_overflow_into_one_digest(
        tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver() as hook:
        cfg = config(tmp_path, f"desk: {{url: 'json://127.0.0.1:{hook.port}/d', rate_limit: 3/h}}")
        async with context(cfg, clock) as ctx:
            uids = queue(ctx.engine, clock(), "desk", *(f"a{i}" for i in range(10)))
            report = await drain(ctx)
            assert (report.sent, report.waiting) == (3, 7)
            assert [r.json["title"] for r in hook.requests] == ["a0", "a1", "a2"]
            clock.now = datetime(2022, 9, 11, 17, 0, tzinfo=UTC)  # the next rate window
            assert (await drain(ctx)).sent == 7
            assert len(hook.requests) == 4
            text = message(hook.requests[-1])
            assert sorted(uid for uid in uids if uid in text) == sorted(uids[3:])
            assert store_alerts.sent_since(ctx.engine, "desk", clock() - timedelta(hours=1)) == 4


async def test_a_slack_channel_gets_at_most_one_message_a_second_by_waiting(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = Sleeps()
    with WebhookReceiver() as hook:
        point_slack_at(monkeypatch, hook)
        cfg = config(tmp_path, f"desk: '{SLACK_URL}'")
        async with context(cfg, clock, sleeps) as ctx:
            assert ctx.channels["desk"].style == "slack"
            queue(ctx.engine, clock(), "desk", *(f"s{i}" for i in range(5)))
            assert (await drain(ctx)).sent == 5
            assert len(hook.requests) == 5
            assert len(sleeps.waits) == 4 and all(w >= 1.0 for w in sleeps.waits)


async def test_a_429_waits_at_least_30_seconds(tmp_path: Path, clock: FakeClock) -> None:
    with WebhookReceiver(default=Reply(status=429, body=b"slow down", headers=(("Retry-After", "30"),))) as hook:
        cfg = config(tmp_path, f"hook: 'json://127.0.0.1:{hook.port}/h'", ", retry_base: 1s")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "hook", "h0")
            assert (await drain(ctx)).retried == 1
            assert store_alerts.next_due(ctx.engine) == clock() + timedelta(seconds=30)


# -- the digest queries on SQLite and PostgreSQL -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/d.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = store_engine.make_engine(url)
    store_engine.upgrade(eng)
    yield eng
    eng.dispose()


def test_digest_rows_are_claimed_whole_and_retried_together(engine: Engine, clock: FakeClock) -> None:
    lease, slot = timedelta(minutes=5), clock() + timedelta(hours=1)
    queue(engine, clock(), "desk", "a", "b", "c")
    queue(engine, clock(), "other", "o")
    rows = store_alerts.claim_due(engine, clock(), lease=lease)
    store_alerts.mark_sent(engine, rows[3].id, clock())
    key = digest_key("desk", slot)
    for row in rows[:3]:
        store_digests.fold(engine, row.id, key, slot)
    assert store_alerts.claim_due(engine, clock(), lease=lease) == []  # the folded rows wait for their slot
    assert store_digests.claim(engine, clock(), lease=lease) == []
    assert store_alerts.next_due(engine) == slot
    [digest] = store_digests.claim(engine, slot, lease=lease, limit=1)
    assert (digest.key, digest.channel, [r.attempts for r in digest.rows]) == (key, "desk", [1, 1, 1])
    assert [r.since for r in digest.rows] == [slot] * 3  # their age budget starts at the slot
    assert store_digests.claim(engine, slot, lease=lease) == []  # leased whole
    store_alerts.mark_retry(engine, [r.id for r in digest.rows], slot + timedelta(seconds=30), "HTTP 500")
    assert store_alerts.claim_due(engine, slot + timedelta(minutes=1), lease=lease) == []  # never split
    [again] = store_digests.claim(engine, slot + timedelta(minutes=1), lease=lease)
    assert [r.id for r in again.rows] == [r.id for r in digest.rows] and again.rows[0].attempts == 2
    store_alerts.mark_sent(engine, [r.id for r in again.rows], slot + timedelta(minutes=1))
    assert store_alerts.sent_since(engine, "desk", slot) == 1  # one message for three alerts
    assert store_alerts.counts(engine) == {"sent": 4}


def test_an_expired_digest_lease_is_claimed_again_whole(engine: Engine, clock: FakeClock) -> None:
    lease = timedelta(minutes=5)
    queue(engine, clock(), "desk", "a", "b")
    for row in store_alerts.claim_due(engine, clock(), lease=lease):
        store_digests.fold(engine, row.id, "desk|k", clock())
    assert len(store_digests.claim(engine, clock(), lease=lease)[0].rows) == 2
    clock.advance(minutes=6)  # the worker died holding the digest
    assert store_alerts.claim_due(engine, clock(), lease=lease) == []  # not as single rows
    [again] = store_digests.claim(engine, clock(), lease=lease)
    assert [r.attempts for r in again.rows] == [2, 2]


def test_a_held_channel_is_probed_with_its_oldest_row_and_closed(engine: Engine, clock: FakeClock) -> None:
    lease = timedelta(minutes=5)
    queue(engine, clock(), "desk", "a", "b")
    assert store_circuits.count_failure(engine, "desk", "404") == 1
    claimed = store_alerts.claim_due(engine, clock(), lease=lease)
    held = store_circuits.trip(engine, "desk", clock(), url_hash="h", probe_at=clock() + PROBE_EVERY,
                               claimed_ids=[c.id for c in claimed], notice=None)
    assert held == 2 and store_alerts.counts(engine) == {"held": 2}
    probe = store_circuits.claim_probe(engine, "desk", clock(), lease=lease)
    assert probe is not None and probe.id == claimed[0].id
    store_circuits.reschedule_probe(engine, "desk", clock() + PROBE_EVERY, row_id=probe.id, error="404")
    state = store_circuits.load(engine)["desk"]
    assert (state.broken, state.failures, state.probe_at) == (True, 1, clock() + PROBE_EVERY)
    assert store_circuits.close(engine, "desk", clock()) == 2
    assert statuses(engine, "desk") == [("pending", 0), ("pending", 0)]
    assert not store_circuits.load(engine)["desk"].broken


def test_a_second_worker_breaking_or_closing_the_channel_again_announces_nothing(
        engine: Engine, clock: FakeClock) -> None:
    notice = store_circuits.Notice(
        alert=Alert(alert_id="", channel="ops", kind="notice", title="t", link=None, sources=(), watch="n",
                    terms=(), places=(), excerpt="x"), lines=("x",))
    queue(engine, clock(), "desk", "a")
    for _ in range(2):  # two workers see the channel break
        store_circuits.trip(engine, "desk", clock(), url_hash="h", probe_at=clock(), claimed_ids=(), notice=notice)
        clock.advance(seconds=1)
    for _ in range(2):  # and both see a probe get through
        store_circuits.close(engine, "desk", clock(), notice=notice)
        clock.advance(seconds=1)
    assert [s for s, _ in statuses(engine, "ops")] == ["pending", "pending"]  # one "broken", one "recovered"


async def test_a_dead_alert_is_told_to_the_operator_on_the_other_channel(tmp_path: Path, clock: FakeClock) -> None:
    """P1.2: an alert whose budget runs out is kept (dead) and the operator hears of it elsewhere."""
    with WebhookReceiver(default=Reply(status=500, body=b"down")) as desk, WebhookReceiver() as ops:
        cfg = config(tmp_path, f"desk: 'json://127.0.0.1:{desk.port}/d', ops: 'json://127.0.0.1:{ops.port}/o'",
                     ", ops_channel: ops, max_attempts: 2, retry_base: 1s")
        async with context(cfg, clock) as ctx:
            queue(ctx.engine, clock(), "desk", "d0")
            await drain(ctx)
            clock.advance(minutes=1)
            await drain(ctx)
            assert statuses(ctx.engine, "desk") == [("dead", 2)]
            await drain(ctx)  # the notice goes out
    [notice] = ops.requests
    assert notice.json["title"] == "news-monitor: an alert to desk is dead"
    assert "is dead after 2 attempts" in notice.json["message"] and "alerts retry" in notice.json["message"]
