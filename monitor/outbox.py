"""The outbox relay: claim due alert rows -> ``deliver.send`` -> sent, retry with backoff, or dead.

At-least-once: a row is marked sent only after the remote accepted it, so a crash in between can
resend it once (every message carries its stable alert id so the rare duplicate is recognisable).

Channels are drained concurrently; rows of one channel go one at a time and in order. A transient
failure pauses that channel for the rest of the drain: its other claimed rows are released
unattempted (their retry budget untouched) until the failed row's retry time, so a hung webhook
costs one timeout per drain instead of one per row, and never delays the other channels. Once a
channel delivers again, its released rows are due at once (next claim round, in id order) instead of
waiting for the failed row's backoff; rows that were attempted keep their own backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor import deliver
from monitor.config import Settings
from monitor.context import Context
from monitor.models import Alert, Delivery
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
    """Counts of one drain; ``released`` rows were handed back unattempted behind a failing channel."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0


async def drain(ctx: Context, *, limit: int = 20) -> DrainReport:
    """Send every due row (bounded rounds), channels concurrently; one failing channel or row never
    holds back the others."""
    totals: Counter[str] = Counter()
    paused: set[str] = set()
    hastened: set[str] = set()
    for _ in range(MAX_ROUNDS):
        claimed = await ctx.db(store_alerts.claim_due, ctx.engine, ctx.clock(), lease=LEASE, limit=limit,
                               exclude_channels=frozenset(paused))
        if not claimed:
            break
        by_channel: dict[str, list[store_alerts.Claimed]] = {}
        for row in claimed:
            by_channel.setdefault(row.alert.channel, []).append(row)
        results = await asyncio.gather(*(_drain_channel(ctx, rows, hastened) for rows in by_channel.values()),
                                       return_exceptions=True)
        for name, result in zip(by_channel, results, strict=True):
            if isinstance(result, BaseException):
                raise result  # a store error: every channel has finished its rows first
            counts, stopped = result
            totals.update(counts)
            if stopped:
                paused.add(name)
    return DrainReport(sent=totals["sent"], retried=totals["retry"], dead=totals["dead"],
                       released=totals["released"])


async def _drain_channel(ctx: Context, rows: list[store_alerts.Claimed],
                         hastened: set[str]) -> tuple[Counter[str], bool]:
    """One channel's claimed rows, in order; a transient failure releases the rest and pauses the
    channel (the flag) for the rest of the drain. Its first success of the drain hastens its
    released rows (``hastened``: the channels already done)."""
    counts: Counter[str] = Counter()
    for i, row in enumerate(rows):
        delivery, channel_fault = await _attempt(ctx, row.alert)
        decision = await _record(ctx, row, delivery)
        counts[decision.action] += 1
        if delivery.ok and row.alert.channel not in hastened:
            hastened.add(row.alert.channel)
            await _hasten(ctx, row.alert.channel)
        if channel_fault and not delivery.ok and not delivery.permanent:
            rest = rows[i + 1:]
            until = decision.at or ctx.clock() + ctx.config.settings.retry_base
            for later in rest:
                await ctx.db(store_alerts.release, ctx.engine, later.id, until)
            if rest:
                log.warning("channel paused channel=%s released=%d until=%s", row.alert.channel,
                            len(rest), until.isoformat(timespec="seconds"))
            counts["released"] += len(rest)
            return counts, True
    return counts, False


async def _hasten(ctx: Context, channel: str) -> None:
    """The channel delivers again: rows released while it was paused are due now."""
    n = await ctx.db(store_alerts.hasten, ctx.engine, channel, ctx.clock())
    if n:
        log.info("channel recovered channel=%s hastened=%d", channel, n)


async def _attempt(ctx: Context, alert: Alert) -> tuple[Delivery, bool]:
    """Send one alert; the flag says whether a failure is the channel's (False: this row's own, e.g. a
    poison alert whose send raised, which must not hold back the channel's other rows)."""
    channel = ctx.channels.get(alert.channel)
    if channel is None:
        return Delivery(ok=False, detail=f"channel {alert.channel!r} is not configured"), True
    try:
        return await deliver.send(channel, alert), True
    except Exception as exc:  # a poison alert must not stop the relay
        return Delivery(ok=False, detail=f"{type(exc).__name__}: {exc}"), False


async def _record(ctx: Context, row: store_alerts.Claimed, delivery: Delivery) -> Decision:
    """Apply the retry policy to one attempt and store its outcome."""
    alert = row.alert
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
        decision = Decision("dead")
    return decision
