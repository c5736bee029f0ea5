"""Channel circuits: a channel that fails permanently ``BREAK_AFTER`` times in a row (a revoked Slack webhook's
404 ``no_service``, an SMTP 550) is marked broken instead of burning its alerts' retries.

Broken: the operator is told on ``settings.ops_channel`` (a notice row; when that is unset or is the broken
channel itself, only the ERROR log line tells), and the channel's rows are **held**: never attempted, no budget
spent, never dead by age; nothing is deleted. Every ``PROBE_EVERY`` one held row (the oldest, paced like any
other) is sent as a probe. The circuit closes when a probe gets through ("recovered" notice), when a reload
gives the channel another URL, or on ``news-monitor alerts retry --channel NAME``; its held rows are then
due at once with a fresh budget (their failures were the channel's, not theirs).

Only failures that are the channel's count: a transient failure neither counts nor breaks the run, a
success ends it, and a failure that is the alert's own (render error, a send that raised) is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from monitor import digest
from monitor.context import Context
from monitor.models import Alert, Delivery
from monitor.store import alerts as store_alerts
from monitor.store import circuits as store_circuits
from monitor.store.circuits import ChannelState

log = logging.getLogger("monitor.circuit")
BREAK_AFTER = 3
PROBE_EVERY = timedelta(minutes=30)
NOTICE_WATCH = "channel-health"
_OWN_FAULTS = ("render_error", "unexpected:")  # deliver's details for failures that are the alert's own


def url_hash(url: str) -> str:
    """What the store keeps of a channel URL (a secret): enough to notice that a reload changed it."""
    return hashlib.sha256(url.encode()).hexdigest()


def is_channel_failure(delivery: Delivery, channel_fault: bool) -> bool:
    """A permanent failure that is the channel's, not the alert's own."""
    return (not delivery.ok and delivery.permanent and channel_fault
            and not delivery.detail.startswith(_OWN_FAULTS))


@dataclass
class Circuits:
    """The circuits during one drain: as stored, updated as attempts finish (each channel by its own task)."""

    states: dict[str, ChannelState] = field(default_factory=dict)
    probes_sent: int = 0

    @property
    def broken(self) -> set[str]:
        return {name for name, state in self.states.items() if state.broken}

    async def observe(self, ctx: Context, name: str, delivery: Delivery, channel_fault: bool) -> bool:
        """Count one attempt's outcome; True when it breaks the channel."""
        state = self.states.get(name) or ChannelState(channel=name, broken=False, failures=0)
        if delivery.ok:
            if state.failures:
                await ctx.db(store_circuits.reset, ctx.engine, name)
                self.states[name] = dataclasses.replace(state, failures=0)
            return False
        if not is_channel_failure(delivery, channel_fault):
            return False
        failures = await ctx.db(store_circuits.count_failure, ctx.engine, name, delivery.detail)
        broken = failures >= BREAK_AFTER
        self.states[name] = dataclasses.replace(state, failures=failures, broken=broken, last_error=delivery.detail)
        return broken


async def load(ctx: Context, *, lease: timedelta) -> Circuits:
    """The stored circuits at the start of a drain; each broken one is closed when its URL changed, else its
    new rows are held and, when due, probed."""
    circuits = Circuits(await ctx.db(store_circuits.load, ctx.engine))
    for state in list(circuits.states.values()):
        if state.broken and not await _still_broken(ctx, circuits, state, lease):
            circuits.states[state.channel] = dataclasses.replace(state, broken=False, failures=0)
    return circuits


async def _still_broken(ctx: Context, circuits: Circuits, state: ChannelState, lease: timedelta) -> bool:
    channel = ctx.channels.get(state.channel)
    if channel is not None and state.url_hash != url_hash(channel.url):
        await close(ctx, state.channel, "its URL changed")
        return False
    await ctx.db(store_circuits.hold, ctx.engine, state.channel)
    if channel is None or (state.probe_at is not None and state.probe_at > ctx.clock()):
        return True
    if await _probe(ctx, state.channel, lease):
        circuits.probes_sent += 1
        return False
    return True


async def _probe(ctx: Context, name: str, lease: timedelta) -> bool:
    """Send the oldest held row; True when it got through (the circuit is then closed)."""
    row = await ctx.db(store_circuits.claim_probe, ctx.engine, name, ctx.clock(), lease=lease)
    if row is None:  # nothing held: probe again later (a new alert will be held meanwhile)
        await ctx.db(store_circuits.reschedule_probe, ctx.engine, name, ctx.clock() + PROBE_EVERY)
        return False
    route = digest.plan(ctx, row.alert, await digest.sent_in_window(ctx, name))
    if route.action != "send" and route.at is not None:  # a probe keeps quiet hours and the rate limit
        await ctx.db(store_circuits.reschedule_probe, ctx.engine, name, route.at, row_id=row.id)
        return False
    delivery, _ = await digest.send(ctx, digest.Batch(name, (row,)))
    if not delivery.ok:
        await ctx.db(store_circuits.reschedule_probe, ctx.engine, name, ctx.clock() + PROBE_EVERY, row_id=row.id,
                     error=delivery.detail)
        log.warning("channel still broken channel=%s probe=%s detail=%s", name, row.alert.alert_id, delivery.detail)
        return False
    await ctx.db(store_alerts.mark_sent, ctx.engine, row.id, ctx.clock())
    log.info("alert sent id=%s channel=%s kind=%s watch=%s attempts=%d (probe)", row.alert.alert_id, name,
             row.alert.kind, row.alert.watch, row.attempts)
    await close(ctx, name, "a probe got through")
    return True


async def trip(ctx: Context, name: str, delivery: Delivery, attempted_ids: Collection[int],
               claimed_ids: Collection[int]) -> int:
    """Break the channel: hold its rows (``attempted_ids``: the batch whose failure broke it; ``claimed_ids``:
    rows this drain claimed and never attempted) and tell the operator. Returns how many rows are held."""
    channel = ctx.channels.get(name)
    now = ctx.clock()
    lines = (f"channel {name}: {BREAK_AFTER} permanent failures in a row (last: {delivery.detail}).",
             f"Its alerts are held, not dropped; one is retried every {PROBE_EVERY.seconds // 60} min.",
             f"Fix its URL and reload, or run: news-monitor alerts retry --channel {name}")
    held = await ctx.db(store_circuits.trip, ctx.engine, name, now, url_hash=url_hash(channel.url if channel else ""),
                        probe_at=now + PROBE_EVERY, claimed_ids=claimed_ids, attempted_ids=attempted_ids,
                        notice=operator_notice(ctx, name, f"news-monitor: channel {name} is broken", lines))
    log.error("channel broken channel=%s held=%d detail=%s", name, held, delivery.detail)
    return held


async def close(ctx: Context, name: str, reason: str) -> int:
    """Close the channel's circuit; its held rows are requeued. Returns how many."""
    lines = (f"channel {name} delivers again ({reason}); its held alerts are being sent.",)
    notice = operator_notice(ctx, name, f"news-monitor: channel {name} recovered", lines, level=logging.WARNING)
    requeued = await ctx.db(store_circuits.close, ctx.engine, name, ctx.clock(), notice=notice)
    log.warning("channel recovered channel=%s reason=%s requeued=%d", name, reason, requeued)
    return requeued


def operator_notice(ctx: Context, name: str, title: str, lines: tuple[str, ...], *,
            level: int = logging.ERROR) -> store_circuits.Notice | None:
    """A notice for the operator channel; None (the log line is all) when it is unset or is ``name``."""
    ops = ctx.config.settings.ops_channel
    if not ops or ops == name:
        log.log(level, "no other channel to tell the operator: %s", " ".join(lines))
        return None
    alert = Alert(alert_id="", channel=ops, kind="notice", title=title, link=None, sources=(), watch=NOTICE_WATCH,
                  terms=(), places=(), excerpt="\n".join(lines), severity="critical")
    return store_circuits.Notice(alert=alert, lines=(title, *lines))
