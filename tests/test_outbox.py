"""The outbox relay: the pure retry policy, and draining against a real database and webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Settings, parse_text
from monitor.context import compile_for, load_gazetteer, open_context
from monitor.models import Alert, AlertDraft, Delivery, Story
from monitor.outbox import drain, next_attempt
from monitor.store import alerts as store_alerts
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
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
