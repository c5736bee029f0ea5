"""Claimed rows -> messages: batches, pacing and digests.

A batch is what one message carries: one due row, or every row of a due digest (claimed whole). Before a
single row is sent, ``pacing.route`` decides: "send"; "hold" (released unattempted until ``at``, e.g. the end
of quiet hours); or "digest" (folded into the digest of (channel, slot ``at``), whose membership is then
fixed: every retry sends the same rows as one message with the same digest id). Urgent rows and operator
notices always go at once; quiet hours never stop evaluation, rows are created as always and only wait. A
"sources" row (later sources of an alerted story, ``followups: digest``) always waits for the channel's next digest
slot (``digest`` period, hourly by default), even on an immediate channel.

Slack takes about one message per second per webhook: a Slack channel's sends are spaced by waiting
(``ctx.sleep``) at least ``SLACK_GAP`` apart, never by failing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor import deliver, pacing
from monitor.config.models import ChannelSpec
from monitor.context import Context
from monitor.models import Alert, Delivery
from monitor.store import alerts as store_alerts
from monitor.store import digests as store_digests

SLACK_GAP = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Batch:
    """Claimed rows that go out as one message: one row (``key`` None) or a whole digest."""

    channel: str
    rows: tuple[store_alerts.Claimed, ...]
    key: str | None = None

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]

    @property
    def ident(self) -> str:
        """The alert id, or the digest id, the message carries."""
        return self.rows[0].alert.alert_id if self.key is None else digest_id(self.key)


def digest_key(channel: str, slot: datetime) -> str:
    """The digest of ``channel`` due at ``slot`` (aware UTC)."""
    return f"{channel}|{slot.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def digest_id(key: str) -> str:
    """The stable id a digest's message carries (``X-Alert-Id`` for email, the footer elsewhere)."""
    return "nm-digest-" + hashlib.sha256(key.encode()).hexdigest()[:20]


async def claim(ctx: Context, *, lease: timedelta, limit: int, exclude: Collection[str]) -> list[Batch]:
    """Lease due rows and due digests, as batches in id order (a channel's oldest first)."""
    now = ctx.clock()
    rows = await ctx.db(store_alerts.claim_due, ctx.engine, now, lease=lease, limit=limit,
                        exclude_channels=frozenset(exclude))
    digests = await ctx.db(store_digests.claim, ctx.engine, now, lease=lease, limit=limit,
                           exclude_channels=frozenset(exclude))
    batches = [Batch(row.alert.channel, (row,)) for row in rows]
    batches += [Batch(d.channel, d.rows, d.key) for d in digests]
    return sorted(batches, key=lambda b: b.rows[0].id)


async def sent_in_window(ctx: Context, channel: str) -> int:
    """Messages the channel got in its rate window (0 when it has no rate limit)."""
    window = pacing.rate_window(ctx.config.channel_spec(channel))
    if window is None:
        return 0
    return await ctx.db(store_alerts.sent_since, ctx.engine, channel, ctx.clock() - window[1])


def plan(ctx: Context, alert: Alert, sent: int) -> pacing.Route:
    """Pacing for one alert now; operator notices are never paced."""
    if alert.kind == "notice":
        return pacing.Route("send")
    if alert.kind == "sources":  # later sources of an alerted story (followups: digest) wait for a digest
        return pacing.Route("digest", sources_slot(ctx.config.channel_spec(alert.channel), ctx.clock()))
    return pacing.route(ctx.config.channel_spec(alert.channel), alert.severity, ctx.clock(), sent_in_window=sent)


def sources_slot(spec: ChannelSpec, now: datetime) -> datetime:
    """The channel's next digest slot (its ``digest`` period, ``hourly`` by default, even for an immediate
    channel), moved to the end of quiet hours when it falls in them."""
    slot = pacing.next_digest_at(spec, now)
    return pacing.quiet_until(spec, slot) or slot


async def gate(ctx: Context, batch: Batch, sent: int) -> str:
    """Apply pacing to a claimed batch: "send", or "hold"/"digest" after handing its rows back to wait."""
    if batch.key is not None:  # a due digest waits only for quiet hours (a retry can fall into them)
        end = pacing.quiet_until(ctx.config.channel_spec(batch.channel), ctx.clock())
        if end is None:
            return "send"
        await ctx.db(store_alerts.release, ctx.engine, batch.ids, end, wait=True)
        return "hold"
    row = batch.rows[0]
    route = plan(ctx, row.alert, sent)
    if route.action == "hold" and route.at is not None:
        await ctx.db(store_alerts.release, ctx.engine, row.id, route.at, wait=True)
    elif route.action == "digest" and route.at is not None:
        await ctx.db(store_digests.fold, ctx.engine, row.id, digest_key(batch.channel, route.at), route.at)
    else:
        return "send"
    return route.action


async def send(ctx: Context, batch: Batch) -> tuple[Delivery, bool]:
    """Send one batch as one message; the flag says whether a failure is the channel's (False: the
    batch's own, e.g. a poison alert whose send raised, which must not hold back the channel)."""
    channel = ctx.channels.get(batch.channel)
    if channel is None:
        return Delivery(ok=False, detail=f"channel {batch.channel!r} is not configured"), True
    await _space(ctx, channel)
    try:
        if batch.key is None:
            return await deliver.send(channel, batch.rows[0].alert), True
        alerts = [row.alert for row in batch.rows]
        return await deliver.send_digest(channel, alerts, digest_id(batch.key)), True
    except Exception as exc:  # a poison alert must not stop the relay
        return Delivery(ok=False, detail=f"{type(exc).__name__}: {exc}"), False
    finally:
        if channel.style == "slack":
            ctx.last_sent[channel.name] = ctx.clock()


async def _space(ctx: Context, channel: deliver.Channel) -> None:
    """Wait until ``SLACK_GAP`` has passed since the Slack channel's last send."""
    last = ctx.last_sent.get(channel.name)
    if channel.style != "slack" or last is None:
        return
    wait = SLACK_GAP - (ctx.clock() - last)
    if wait > timedelta(0):
        await ctx.sleep(min(wait, SLACK_GAP).total_seconds())
