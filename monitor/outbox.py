"""The outbox relay: claim due alert rows -> ``deliver.send`` -> sent, retry with backoff, or dead.

At-least-once: a row is marked sent only after the remote accepted it, so a crash in between can
resend it once (every message carries its stable alert id so the rare duplicate is recognisable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor import deliver
from monitor.config import Settings
from monitor.context import Context
from monitor.models import Delivery
from monitor.store import alerts as store_alerts

log = logging.getLogger("monitor.outbox")
LEASE = timedelta(minutes=5)
PERMANENT_ATTEMPTS = 3
MAX_ROUNDS = 100


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a row after an attempt: "sent", "retry" (at ``at``) or "dead"."""

    action: str
    at: datetime | None = None


def next_attempt(attempts: int, created_at: datetime, now: datetime, delivery: Delivery,
                 settings: Settings) -> Decision:
    """Pure retry policy: exponential backoff (base x 2^n, capped), dead after the attempt
    budget or the age budget, and sooner for permanent failures."""
    if delivery.ok:
        return Decision("sent")
    if attempts >= settings.max_attempts or now - created_at >= settings.retry_budget:
        return Decision("dead")
    if delivery.permanent and attempts >= PERMANENT_ATTEMPTS:
        return Decision("dead")
    delay = min(settings.retry_base * (2 ** min(attempts - 1, 20)), settings.retry_max)
    return Decision("retry", now + delay)


@dataclass(frozen=True, slots=True)
class DrainReport:
    """Counts of one drain."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


async def drain(ctx: Context, *, limit: int = 20) -> DrainReport:
    """Send every due row (bounded rounds); one failing row never blocks the others."""
    totals = {"sent": 0, "retry": 0, "dead": 0}
    for _ in range(MAX_ROUNDS):
        claimed = await ctx.db(store_alerts.claim_due, ctx.engine, ctx.clock(), lease=LEASE, limit=limit)
        if not claimed:
            break
        for row in claimed:
            totals[await _deliver_one(ctx, row)] += 1
    return DrainReport(sent=totals["sent"], retried=totals["retry"], dead=totals["dead"])


async def _deliver_one(ctx: Context, row: store_alerts.Claimed) -> str:
    alert = row.alert
    channel = ctx.channels.get(alert.channel)
    if channel is None:
        delivery = Delivery(ok=False, detail=f"channel {alert.channel!r} is not configured")
    else:
        try:
            delivery = await deliver.send(channel, alert)
        except Exception as exc:  # a poison alert must not stop the relay
            delivery = Delivery(ok=False, detail=f"{type(exc).__name__}: {exc}")
    now = ctx.clock()
    decision = next_attempt(row.attempts, row.created_at, now, delivery, ctx.config.settings)
    if decision.action == "sent":
        await ctx.db(store_alerts.mark_sent, ctx.engine, row.id, now)
        log.info("alert sent id=%s channel=%s kind=%s watch=%s attempts=%d",
                 alert.alert_id, alert.channel, alert.kind, alert.watch, row.attempts)
    elif decision.action == "retry" and decision.at is not None:
        await ctx.db(store_alerts.mark_retry, ctx.engine, row.id, decision.at, delivery.detail)
        log.warning("alert retry id=%s channel=%s attempts=%d next=%s detail=%s", alert.alert_id,
                    alert.channel, row.attempts, decision.at.isoformat(timespec="seconds"), delivery.detail)
    else:
        await ctx.db(store_alerts.mark_dead, ctx.engine, row.id, delivery.detail or "gave up")
        log.error("alert dead id=%s channel=%s attempts=%d detail=%s", alert.alert_id, alert.channel,
                  row.attempts, delivery.detail)
    return decision.action
