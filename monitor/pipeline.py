"""One poll of one source, top to bottom: due? -> fetch (conditional; moved/gone handled) -> same body? ->
parse -> Telegram backfill -> ingest (normalize, dedupe/diff, match, outbox) -> next poll time.

``poll_source`` never raises for a broken source: the failure is classified, stored on the source with
its backoff, and returned in the ``PollReport``, so one bad feed never stops the others. ``check_health``
turns the sources' stored state into operator notices.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta

from monitor import fetch, health, ingest, parse, retraction, telegram
from monitor.cadence import Cadence, backoff, interval_for, with_jitter
from monitor.config import Source
from monitor.context import Context
from monitor.errors import FetchError, MonitorError
from monitor.models import Alert, FetchResult, ParseResult, PollReport
from monitor.store import health as store_health
from monitor.store import sources as store_sources
from monitor.store.sources import SourceState, Success

log = logging.getLogger("monitor.poll")
MAX_BACKOFF = timedelta(hours=6)
NOTICE_WATCH = "source-health"


async def poll_source(ctx: Context, source: Source, *, force: bool = False) -> PollReport:
    """Poll ``source`` once (unless it is not due and not ``force``, or was disabled by a 410) and store
    what is new."""
    now = ctx.clock()
    state = await ctx.poll_state.state(source.name, source.fetch_url)  # batched with concurrent polls
    if state.disabled_at is not None:
        return PollReport(source=source.name, notes=("gone (HTTP 410): not polled until its url changes",))
    if not force and state.backing_off(now):
        return PollReport(source=source.name, notes=("not due",))
    started = time.perf_counter()  # a duration for the metrics, not the injected wall clock
    report = await _attempt(ctx, source, state, now)
    if ctx.metrics is not None:
        ctx.metrics.polled(source.name, report, time.perf_counter() - started)
    return report


async def _attempt(ctx: Context, source: Source, state: SourceState, now: datetime) -> PollReport:
    """Poll once; a failure is classified and stored on the source, never raised."""
    try:
        report = await _poll(ctx, source, state, now)
    except FetchError as exc:
        if exc.status == 410:
            return await _record_gone(ctx, source, state, exc, now)
        return await _record_failure(ctx, source, state, exc, now)
    except MonitorError as exc:
        return await _record_failure(ctx, source, state, exc, now)
    except Exception as exc:  # a bug on one feed's input must not stop the others or hot-loop this one
        log.exception("poll source=%s internal error", source.name)
        bug = MonitorError(f"{type(exc).__name__}: {exc}", kind="internal_error")
        return await _record_failure(ctx, source, state, bug, now)
    _log_report(report)
    return report


async def _poll(ctx: Context, source: Source, state: SourceState, now: datetime) -> PollReport:
    result = await _fetch(ctx, source, state.url, etag=state.etag, last_modified=state.last_modified)
    if result.permanent_url and result.permanent_url != state.url:
        log.warning("poll source=%s moved permanently to %s; polling it there from now on (update the "
                    "watchlist)", source.name, result.permanent_url)
        await ctx.db(store_sources.move, ctx.engine, state.id, result.permanent_url)
    digest = hashlib.sha256(result.body).hexdigest() if not result.not_modified else state.body_hash
    if result.not_modified or digest == state.body_hash:
        await _record_success(ctx, source, state, now, result, hint=result.cache_seconds, body_hash=digest,
                              changed=False)
        log.info("poll source=%s status=%d unchanged", source.name, result.status)
        return PollReport(source=source.name, fetched=True, not_modified=True)
    parsed = await ctx.cpu(_parse, source, result, ctx.config.settings.max_items)
    page = parsed  # the fetched page itself, before older pages are added: what retractions compare
    parsed, missing = await _backfill(ctx, source, state, parsed)
    fresh, skipped = ctx.poll_state.unseen(state.id, parsed)  # entries unchanged since the last poll: skipped
    cut = ingest.cut_off(result.body)
    report = await ingest.store_items(ctx, state.id, source, fresh, now, cut_off=cut)
    ctx.poll_state.remember(state.id, parsed, whole=report.failed_items == 0)
    report = replace(report, items=report.items + skipped)
    if report.failed_items == 0 and not cut:  # a fetch stored whole: what is gone?
        await retraction.check(ctx, state.id, source, page, now)
    gap = missing is not None if source.type == "telegram" else _gap(source, parsed, state.last_post_id)
    complete = report.failed_items == 0  # validators are kept only when every entry was stored
    hint = max(result.cache_seconds or 0.0, parsed.ttl_seconds or 0.0) or None
    await _record_success(ctx, source, state, now, result if complete else None, hint=hint, gap=gap,
                          body_hash=digest if complete and not parsed.partial else None,
                          last_post_id=_max_post_id(parsed), partial=parsed.partial)
    if missing:
        await ctx.db(store_sources.record_gap, ctx.engine, state.id, now, *missing)
        await _tell_missing(ctx, source, missing, now)
    notes = report.notes + ((f"posts {missing[0]}-{missing[1]} could not be recovered",) if missing else ())
    return replace(report, possible_gap=gap, notes=notes)


async def _fetch(
    ctx: Context, source: Source, url: str, *, etag: str | None = None, last_modified: str | None = None
) -> FetchResult:
    s = ctx.config.settings
    async with ctx.host_lock(url):
        return await fetch.fetch(ctx.client, url, etag=etag, last_modified=last_modified, max_bytes=s.max_bytes,
                                 deadline=s.fetch_timeout.total_seconds(), source=source.name)


def _parse(source: Source, result: FetchResult, max_items: int) -> ParseResult:
    if source.type == "telegram" and result.content_type.startswith("text/html"):
        return telegram.parse(result.body, channel=source.telegram_channel, url=result.url)
    return parse.parse(result.body, content_type=result.content_type, url=result.url, max_items=max_items)


async def _backfill(
    ctx: Context, source: Source, state: SourceState, parsed: ParseResult
) -> tuple[ParseResult, tuple[int, int] | None]:
    """For a t.me/s page whose oldest post is newer than the last one seen plus one, read older pages
    (``?before=``, up to ``telegram_backfill_pages``) until one reaches a post already seen. Ids can be
    missing for good (deleted posts, an album's extra ids), so only not reaching the last seen post means
    posts were lost; their id range is returned."""
    last, ids = state.last_post_id, _post_ids(parsed)
    if source.type != "telegram" or last is None or not ids or min(ids) <= last + 1:
        return parsed, None
    items, oldest = list(parsed.items), min(ids)
    for _ in range(ctx.config.settings.telegram_backfill_pages):
        try:
            result = await _fetch(ctx, source, telegram.page_url(state.url, before=oldest))
            page = await ctx.cpu(_parse, source, result, ctx.config.settings.max_items)
        except MonitorError as exc:
            log.warning("poll source=%s backfill before=%d failed: %s", source.name, oldest, _one_line(str(exc)))
            break
        page_ids = [pid for i in page.items if (pid := telegram.post_id(i)) is not None and pid < oldest]
        items += [i for i in page.items if last < (telegram.post_id(i) or 0) < oldest]
        if not page_ids or min(page_ids) <= last:  # reached what was seen (or the channel's start)
            return replace(parsed, items=tuple(items)), None
        oldest = min(page_ids)
    log.warning("poll source=%s possible_gap=true last_seen=%d oldest_reached=%d (older pages did not reach "
                "the last post seen; polling this source more often)", source.name, last, oldest)
    return replace(parsed, items=tuple(items)), (last + 1, oldest - 1)


async def _record_success(
    ctx: Context, source: Source, state: SourceState, now: datetime, result: FetchResult | None, *,
    hint: float | None, body_hash: str | None, gap: bool = False, last_post_id: int | None = None,
    partial: bool = False, changed: bool = True,
) -> None:
    """Store the validators (``result`` None: forget them, the fetch was not processed whole) and the next
    poll time from the source's posting rate (batched with concurrent polls; ``changed``: stories were
    stored, so the post counts are read afresh)."""
    cadence = Cadence.of(source, ctx.config.settings)
    previous = timedelta(seconds=state.interval_s) if state.interval_s else None
    jitter = with_jitter(cadence, ctx.rng)

    def decide(week: int, day: int) -> Success:
        interval = interval_for(cadence, week, day, previous=previous, gap=gap, hint=hint)
        return Success(
            etag=result.etag if result else None, last_modified=result.last_modified if result else None,
            next_poll_at=now + interval + jitter, interval_s=interval.total_seconds(),
            body_hash=body_hash, last_post_id=last_post_id, partial=partial)

    await ctx.poll_state.success(state.id, now, decide, changed=changed)


async def _record_failure(
    ctx: Context, source: Source, state: SourceState, exc: MonitorError, now: datetime
) -> PollReport:
    cadence = Cadence.of(source, ctx.config.settings)
    retry_after = exc.retry_after if isinstance(exc, FetchError) else None
    interval = timedelta(seconds=state.interval_s) if state.interval_s else None
    delay = backoff(cadence, state.error_count, interval=interval, retry_after=retry_after, rng=ctx.rng)
    await ctx.db(store_sources.record_failure, ctx.engine, state.id, now, exc.kind, str(exc), now + delay)
    log.warning("poll source=%s error=%s failures=%d retry_in=%ds detail=%s",
                source.name, exc.kind, state.error_count + 1, delay.total_seconds(), _one_line(str(exc)))
    return PollReport(source=source.name, error_kind=exc.kind, error=str(exc))


async def _record_gone(
    ctx: Context, source: Source, state: SourceState, exc: FetchError, now: datetime
) -> PollReport:
    await ctx.db(store_sources.disable, ctx.engine, state.id, now, exc.kind, str(exc))
    log.error("poll source=%s gone (HTTP 410): no longer polled; remove it or change its url: %s",
              source.name, _one_line(str(exc)))
    return PollReport(source=source.name, error_kind=exc.kind, error=str(exc), notes=("disabled: HTTP 410",))


async def _tell_missing(ctx: Context, source: Source, missing: tuple[int, int], now: datetime) -> None:
    """Posts that neither the page nor its older pages showed: logged, and told to the operator."""
    first, last = missing
    line = (f"{source.name}: posts {first}-{last} ({last - first + 1}) were published between two polls and "
            f"could not be recovered from older pages; the source is now polled more often.")
    log.warning("poll source=%s missing_posts=%d-%d not recovered", source.name, first, last)
    await _notify(ctx, f"news-monitor: {source.name} missed posts", (line,), (source.name,), now, plan=None)


async def check_health(ctx: Context) -> health.Plan:
    """Evaluate the health of every configured source; state changes go out as one notice."""
    s, now = ctx.config.settings, ctx.clock()
    names = [src.name for src in ctx.config.sources]
    states, outage = await ctx.db(store_health.read, ctx.engine, names, now)
    policy = health.Policy(failures=s.failures_before_notice, silence_factor=s.silence_factor,
                           silence_min=s.silence_min)
    plan = health.evaluate(states, outage=outage, now=now, policy=policy)
    if plan.changes or plan.outage != outage:
        names_changed = tuple(sorted(st.name for st in states if st.id in plan.changes))
        await _notify(ctx, plan.title, plan.lines, names_changed, now, plan=plan)
    return plan


async def _notify(
    ctx: Context, title: str, lines: tuple[str, ...], names: tuple[str, ...], now: datetime,
    plan: health.Plan | None,
) -> None:
    """Log the notice and queue it for ``settings.ops_channel`` when one is set; store ``plan``'s states."""
    for line in lines:
        log.warning("health %s", line)
    channel = ctx.config.settings.ops_channel
    notice = None
    if channel and lines:
        notice = Alert(alert_id="", channel=channel, kind="notice", title=title, link=None, sources=names,
                       watch=NOTICE_WATCH, terms=(), places=(), excerpt="\n".join(lines))
    if plan is not None:
        await ctx.db(store_health.apply, ctx.engine, plan, now, notice)
    elif notice is not None:
        await ctx.db(store_health.queue, ctx.engine, now, notice, lines)


def _post_ids(parsed: ParseResult) -> list[int]:
    return [pid for item in parsed.items if (pid := telegram.post_id(item)) is not None]


def _max_post_id(parsed: ParseResult) -> int | None:
    ids = _post_ids(parsed)
    return max(ids) if ids else None


def _gap(source: Source, parsed: ParseResult, last_seen: int | None) -> bool:
    """For an RSS mirror of a channel, which shows only its newest posts and no older pages: True when
    every visible post is newer than the last one seen and ids were skipped."""
    ids = _post_ids(parsed)
    if not ids or last_seen is None or min(ids) <= last_seen + 1:
        return False
    log.warning("poll source=%s possible_gap=true last_seen=%d oldest_visible=%d (posts between them were "
                "not visible; polling this source more often)", source.name, last_seen, min(ids))
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _log_report(r: PollReport) -> None:
    log.info("poll source=%s items=%d new=%d duplicates=%d versions=%d alerts=%d%s", r.source, r.items,
             r.new_stories - r.duplicates, r.duplicates, r.new_versions, r.alerts,
             " partial=true" if r.partial else "")
