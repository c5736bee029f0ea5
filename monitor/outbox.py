"""The outbox relay: claim due alert rows -> pace them -> ``deliver`` -> sent, retry with backoff, or dead.

At-least-once: a row is marked sent only after the remote accepted it, so a crash in between can
resend it once (every message carries its stable alert id so the rare duplicate is recognisable).

One drain: first the channel circuits (``monitor/circuit.py``: broken channels hold their rows and are
probed every 30 min), then rounds of claims. A claim takes due rows and due digests (whole) as batches
(``monitor/digest.py``); per channel, in order, each single row goes through ``pacing.route`` (held to the
end of quiet hours, folded into a digest, or sent), then each batch is sent as one message and recorded.

Channels are drained concurrently; batches of one channel go one at a time and in order. A transient
failure pauses that channel for the rest of the drain: its other claimed rows are released
unattempted (their retry budget untouched) until the failed row's retry time, so a hung webhook
costs one timeout per drain instead of one per row, and never delays the other channels. Once a
channel delivers again, its released rows are due at once (next claim round, in id order) instead of
waiting for the failed row's backoff; rows that were attempted keep their own backoff.

Retry-After: apprise surfaces no response header (it returns a bool, and logs the status); for a 429 the
next attempt is at least ``RATE_LIMITED_MIN`` (30 s) away, whatever the backoff says.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor import circuit, digest
from monitor.config import Settings
from monitor.context import Context
from monitor.digest import Batch
from monitor.models import Delivery
from monitor.store import alerts as store_alerts
from monitor.store import health as store_health

log = logging.getLogger("monitor.outbox")
LEASE = timedelta(minutes=5)
PERMANENT_ATTEMPTS = 3
MAX_ROUNDS = 100
RATE_LIMITED_MIN = timedelta(seconds=30)
_RATE_LIMITED = re.compile(r"\berror=429\b|Too Many Requests", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a row after an attempt: "sent", "retry" (at ``at``) or "dead"."""

    action: str
    at: datetime | None = None


def next_attempt(attempts: int, created_at: datetime, now: datetime, delivery: Delivery,
                 settings: Settings) -> Decision:
    """Pure retry policy: exponential backoff (base x 2^n, capped; at least 30 s after a 429), dead after
    the attempt budget or the age budget (counted from ``created_at``), and sooner for permanent failures."""
    if delivery.ok:
        return Decision("sent")
    if attempts >= settings.max_attempts or now - created_at >= settings.retry_budget:
        return Decision("dead")
    if delivery.permanent and attempts >= PERMANENT_ATTEMPTS:
        return Decision("dead")
    delay = min(settings.retry_base * (2 ** min(attempts - 1, 20)), settings.retry_max)
    if _RATE_LIMITED.search(delivery.detail):
        delay = max(delay, RATE_LIMITED_MIN)
    return Decision("retry", now + delay)


@dataclass(frozen=True, slots=True)
class DrainReport:
    """Rows handled by one drain: ``released`` were handed back unattempted behind a failing channel,
    ``held`` are held by a channel that broke, ``waiting`` were paced (held to later or folded into a digest)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    held: int = 0
    waiting: int = 0


@dataclass
class _Run:
    """What the channels of one drain share."""

    circuits: circuit.Circuits
    hastened: set[str] = field(default_factory=set)  # channels that delivered (their released rows hastened)
    totals: Counter[str] = field(default_factory=Counter)


async def drain(ctx: Context, *, limit: int = 20) -> DrainReport:
    """Send every due row and digest (bounded rounds), channels concurrently; one failing channel or row
    never holds back the others."""
    run = _Run(await circuit.load(ctx, lease=LEASE))
    run.totals["sent"] += run.circuits.probes_sent
    paused = run.circuits.broken
    for _ in range(MAX_ROUNDS):
        batches = await digest.claim(ctx, lease=LEASE, limit=limit, exclude=paused)
        if not batches:
            break
        by_channel: dict[str, list[Batch]] = {}
        for batch in batches:
            by_channel.setdefault(batch.channel, []).append(batch)
        results = await asyncio.gather(*(_drain_channel(ctx, name, items, run) for name, items in by_channel.items()),
                                       return_exceptions=True)
        for name, result in zip(by_channel, results, strict=True):
            if isinstance(result, BaseException):
                raise result  # a store error: every channel has finished its rows first
            if result:
                paused.add(name)
    t = run.totals
    return DrainReport(sent=t["sent"], retried=t["retry"], dead=t["dead"], released=t["released"], held=t["held"],
                       waiting=t["hold"] + t["digest"])


async def _drain_channel(ctx: Context, name: str, batches: list[Batch], run: _Run) -> bool:
    """One channel's claimed batches, in order; True when the channel stops for the rest of the drain
    (a transient failure paused it, or it broke)."""
    sent = await digest.sent_in_window(ctx, name)
    for i, batch in enumerate(batches):
        action = await digest.gate(ctx, batch, sent)
        if action != "send":
            run.totals[action] += len(batch.rows)
            continue
        delivery, channel_fault = await digest.send(ctx, batch)
        if await run.circuits.observe(ctx, name, delivery, channel_fault):
            unattempted = [row_id for later in batches[i + 1:] for row_id in later.ids]
            run.totals["held"] += await circuit.trip(ctx, name, delivery, batch.ids, unattempted)
            return True
        decision = await _record(ctx, batch, delivery)
        run.totals[decision.action] += len(batch.rows)
        if delivery.ok:
            sent += 1
            await _hasten(ctx, name, run)
        elif channel_fault and not delivery.permanent:
            await _pause(ctx, name, batches[i + 1:], decision, run)
            return True
    return False


async def _pause(ctx: Context, name: str, rest: list[Batch], decision: Decision, run: _Run) -> None:
    """Release the channel's other claimed rows, unattempted, until the failed batch's retry time."""
    until = decision.at or ctx.clock() + ctx.config.settings.retry_base
    ids = [row_id for batch in rest for row_id in batch.ids]
    if ids:
        await ctx.db(store_alerts.release, ctx.engine, ids, until)
        log.warning("channel paused channel=%s released=%d until=%s", name, len(ids),
                    until.isoformat(timespec="seconds"))
    run.totals["released"] += len(ids)


async def _hasten(ctx: Context, channel: str, run: _Run) -> None:
    """The channel delivers again (first success of the drain): rows released while it was paused are due now."""
    if channel in run.hastened:
        return
    run.hastened.add(channel)
    n = await ctx.db(store_alerts.hasten, ctx.engine, channel, ctx.clock())
    if n:
        log.info("channel recovered channel=%s hastened=%d", channel, n)


async def _record(ctx: Context, batch: Batch, delivery: Delivery) -> Decision:
    """Apply the retry policy to one attempt and store its outcome (a digest's rows together)."""
    now = ctx.clock()
    attempts = max(row.attempts for row in batch.rows)
    since = min(row.since for row in batch.rows)
    decision = next_attempt(attempts, since, now, delivery, ctx.config.settings)
    what = _describe(batch)
    if decision.action == "sent":
        await ctx.db(store_alerts.mark_sent, ctx.engine, batch.ids, now)
        log.info("%s sent %s attempts=%d", what[0], what[1], attempts)
    elif decision.action == "retry" and decision.at is not None:
        await ctx.db(store_alerts.mark_retry, ctx.engine, batch.ids, decision.at, delivery.detail)
        log.warning("%s retry %s attempts=%d next=%s detail=%s", what[0], what[1], attempts,
                    decision.at.isoformat(timespec="seconds"), delivery.detail)
    else:
        await ctx.db(store_alerts.mark_dead, ctx.engine, batch.ids, delivery.detail or "gave up")
        log.error("%s dead %s attempts=%d detail=%s", what[0], what[1], attempts, delivery.detail)
        await _tell_dead(ctx, batch, delivery, attempts)
        decision = Decision("dead")
    if ctx.metrics is not None:
        for row in batch.rows:
            latency = (now - row.created_at).total_seconds() if decision.action == "sent" else None
            ctx.metrics.delivered(batch.channel, decision.action, latency)
    return decision


async def _tell_dead(ctx: Context, batch: Batch, delivery: Delivery, attempts: int) -> None:
    """A dead alert (or digest) is told to the operator over the other channel (P1.2); a dead notice is not."""
    if all(row.alert.kind == "notice" for row in batch.rows):
        return
    kind, what = _describe(batch)
    lines = (f"{kind} {what} is dead after {attempts} attempts: {delivery.detail or 'gave up'}.",
             f"It stays in the database; `news-monitor alerts retry {batch.rows[0].id}` sends it again.")
    notice = circuit.operator_notice(ctx, batch.channel, f"news-monitor: an alert to {batch.channel} is dead", lines)
    if notice is not None:
        await ctx.db(store_health.queue, ctx.engine, ctx.clock(), notice.alert, notice.lines)


def _describe(batch: Batch) -> tuple[str, str]:
    """("alert", "id=... channel=... kind=... watch=...") or ("digest", "id=... channel=... alerts=N")."""
    if batch.key is not None:
        return "digest", f"id={batch.ident} channel={batch.channel} alerts={len(batch.rows)}"
    alert = batch.rows[0].alert
    return "alert", f"id={alert.alert_id} channel={alert.channel} kind={alert.kind} watch={alert.watch}"
