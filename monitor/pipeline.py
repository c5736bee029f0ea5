"""One poll of one source, top to bottom: fetch -> parse -> normalize -> dedupe/diff -> match ->
alert drafts -> store (story, version and outbox rows in one transaction each).

``poll_source`` never raises for a broken source: the failure is classified, stored on the source
with its backoff, and returned in the ``PollReport``, so one bad feed never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from monitor import alerting, dedupe, diff, fetch, normalize, parse, telegram
from monitor.config import Source
from monitor.context import Context
from monitor.errors import FetchError, MonitorError, StoreError
from monitor.match import hits as match_hits
from monitor.match import match
from monitor.models import FetchResult, ParseResult, PollReport, RawItem, Story
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories

log = logging.getLogger("monitor.poll")
MAX_BACKOFF = timedelta(hours=6)


async def poll_source(ctx: Context, source: Source, *, force: bool = False) -> PollReport:
    """Poll ``source`` once (unless it is backing off and not ``force``) and store what is new."""
    now = ctx.clock()
    state = await ctx.db(store_sources.ensure, ctx.engine, source.name, source.fetch_url)
    if not force and state.backing_off(now):
        return PollReport(source=source.name, notes=("backing off",))
    try:
        async with ctx.host_lock(state.url):
            result = await fetch.fetch(
                ctx.client, state.url, etag=state.etag, last_modified=state.last_modified,
                max_bytes=ctx.config.settings.max_bytes,
                deadline=ctx.config.settings.fetch_timeout.total_seconds(), source=source.name)
        if result.not_modified:
            await ctx.db(store_sources.record_success, ctx.engine, state.id, now,
                         etag=result.etag or state.etag, last_modified=result.last_modified or state.last_modified)
            report = PollReport(source=source.name, fetched=True, not_modified=True)
            log.info("poll source=%s status=304 new=0 alerts=0", source.name)
            return report
        parsed = await ctx.cpu(_parse, source, result, ctx.config.settings.max_items)
        report = await _store_items(ctx, state.id, source, parsed, now, cut_off=_cut_off(result.body))
        gap = _telegram_gap(source, parsed, state.last_post_id)
        # Validators are kept only when every entry was stored, so a refused entry is fetched again.
        complete = report.failed_items == 0
        await ctx.db(store_sources.record_success, ctx.engine, state.id, now,
                     etag=result.etag if complete else None,
                     last_modified=result.last_modified if complete else None,
                     last_post_id=_max_post_id(source, parsed), partial=parsed.partial)
    except MonitorError as exc:
        return await _record_failure(ctx, source, state.id, state.error_count, exc, now)
    except Exception as exc:  # a bug on one feed's input must not stop the others or hot-loop this one
        log.exception("poll source=%s internal error", source.name)
        bug = MonitorError(f"{type(exc).__name__}: {exc}", kind="internal_error")
        return await _record_failure(ctx, source, state.id, state.error_count, bug, now)
    report = replace(report, possible_gap=gap)
    _log_report(report)
    return report


def _parse(source: Source, result: FetchResult, max_items: int) -> ParseResult:
    if source.type == "telegram" and result.content_type.startswith("text/html"):
        return telegram.parse(result.body, channel=source.telegram_channel, url=result.url)
    return parse.parse(result.body, content_type=result.content_type, url=result.url, max_items=max_items)


async def _store_items(
    ctx: Context, source_id: int, source: Source, parsed: ParseResult, now: datetime, *, cut_off: bool
) -> PollReport:
    counts = {"new": 0, "version": 0, "duplicate": 0, "alerts": 0, "same": 0, "failed": 0}
    items = _complete_items(parsed) if cut_off else parsed.items
    notes = ("cut-off last entry held back",) if len(items) < len(parsed.items) else ()
    # Oldest first, so a story and its later copies in the same fetch cluster in order.
    for item in reversed(items):
        story = normalize.normalize(item)
        try:
            # One story at a time across sources: look-up, dedup, outbox rows and index stay consistent,
            # so two copies polled at the same moment cannot both alert.
            async with ctx.story_lock:
                outcome, alerts = await _store_story(ctx, source_id, source.name, story, now)
        except StoreError as exc:  # one entry the database refuses must not sink the whole feed...
            if exc.kind != "store_data":
                raise  # ...but a locked, full or missing database fails the poll, with its backoff
            log.warning("item source=%s key=%s not stored: %s", source.name, story.key[:80], _one_line(str(exc)))
            outcome, alerts = "failed", 0
        counts[outcome] += 1
        counts["alerts"] += alerts
    return PollReport(
        source=source.name, fetched=True, items=len(items), new_stories=counts["new"] + counts["duplicate"],
        new_versions=counts["version"], duplicates=counts["duplicate"], alerts=counts["alerts"],
        failed_items=counts["failed"], partial=parsed.partial, notes=notes)


_ITEM_FIELDS = ("guid", "link", "title", "html", "published")


_DOCUMENT_ENDS = (b"</rss>", b"</feed>", b"</rdf:rdf>", b"</html>")


def _cut_off(body: bytes) -> bool:
    """True when the document does not end with the closing tag of a feed (or page): it was cut."""
    return not body.rstrip().lower().endswith(_DOCUMENT_ENDS)


def _complete_items(parsed: ParseResult) -> tuple[RawItem, ...]:
    """The items, without the last one of a cut-off feed when it lacks a field the others have.

    feedparser drops the text of an element the cut went through, so the entry at the cut of a truncated
    document comes without its GUID, link, body or date. Stored, it would be a phantom story under a title
    hash (alerted again once the whole entry arrives) or a version that deletes the text. The next complete
    fetch brings it whole. Only for a document that really ends early (``_cut_off``): a merely malformed
    feed (``&nbsp;``) keeps all its entries.
    """
    items = parsed.items
    if not parsed.partial or len(items) < 2:
        return items
    last = items[-1]
    if any(getattr(other, f) and not getattr(last, f) for other in items[:-1] for f in _ITEM_FIELDS):
        return items[:-1]
    return items


async def _store_story(ctx: Context, source_id: int, source: str, story: Story, now: datetime) -> tuple[str, int]:
    known = await ctx.db(store_stories.find, ctx.engine, source_id, story.key)
    if known is None:
        return await _store_new(ctx, source_id, source, story, now)
    if known.fingerprint == story.fingerprint:
        return "same", 0
    change = diff.compare(known.title, known.text, story.title, story.text, is_place=ctx.is_place)
    matches = match(ctx.watchlist, story.title, story.text)
    previous = match(ctx.watchlist, known.title, known.text)
    alerted = await ctx.db(store_stories.alerted_hits, ctx.engine, known.cluster_id)
    names = await ctx.db(store_stories.cluster_sources, ctx.engine, known.cluster_id)
    added = match_hits(ctx.watchlist, "\n".join(change.added)) if change else {}
    drafts = alerting.plan_update(story, change, matches, previous, alerted, names, added_hits=added, now=now,
                                  max_age=ctx.config.settings.max_age)
    created = await ctx.db(store_stories.insert_version, ctx.engine, known, story, drafts, now)
    log.debug("version source=%s key=%s alerts=%d", source, story.key, created)
    return "version", created


async def _store_new(ctx: Context, source_id: int, source: str, story: Story, now: datetime) -> tuple[str, int]:
    sig = dedupe.signature(story.title, story.text)
    cluster_id = ctx.index.find(sig, now)
    names = [source]
    if cluster_id is not None:
        names = await ctx.db(store_stories.cluster_sources, ctx.engine, cluster_id)
        names = [*names, source] if source not in names else names
    drafts = alerting.plan_new(story, match(ctx.watchlist, story.title, story.text), names, now=now,
                               max_age=ctx.config.settings.max_age)
    story_id, cluster_id_new, created = await ctx.db(
        store_stories.insert_new, ctx.engine, source_id, story, sig.to_bytes(), cluster_id, drafts, now)
    ctx.index.add(story_id, cluster_id_new, sig, now)
    return ("new" if cluster_id is None else "duplicate"), created


async def _record_failure(
    ctx: Context, source: Source, source_id: int, errors: int, exc: MonitorError, now: datetime
) -> PollReport:
    interval = source.interval or ctx.config.settings.interval
    delay = min(interval * (2 ** min(errors, 16)), MAX_BACKOFF)
    retry_after = exc.retry_after if isinstance(exc, FetchError) else None
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_BACKOFF))
    delay += timedelta(seconds=ctx.rng.uniform(0, ctx.config.settings.jitter.total_seconds()))
    await ctx.db(store_sources.record_failure, ctx.engine, source_id, now, exc.kind, str(exc), now + delay)
    log.warning("poll source=%s error=%s failures=%d retry_in=%ds detail=%s",
                source.name, exc.kind, errors + 1, delay.total_seconds(), _one_line(str(exc)))
    return PollReport(source=source.name, error_kind=exc.kind, error=str(exc))


def _post_ids(source: Source, parsed: ParseResult) -> list[int]:
    if source.type != "telegram":
        return []
    ids = []
    for item in parsed.items:
        tail = (item.guid or "").rsplit("/", 1)[-1]
        if tail.isdigit():
            ids.append(int(tail))
    return ids


def _max_post_id(source: Source, parsed: ParseResult) -> int | None:
    ids = _post_ids(source, parsed)
    return max(ids) if ids else None


def _telegram_gap(source: Source, parsed: ParseResult, last_seen: int | None) -> bool:
    """True when every visible post is newer than the last one seen and ids were skipped."""
    ids = _post_ids(source, parsed)
    if not ids or last_seen is None:
        return False
    gap = min(ids) > last_seen + 1
    if gap:
        log.warning("poll source=%s possible_gap=true last_seen=%d oldest_visible=%d "
                    "(posts between them were not visible; poll this channel more often)",
                    source.name, last_seen, min(ids))
    return gap


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _log_report(r: PollReport) -> None:
    log.info("poll source=%s items=%d new=%d duplicates=%d versions=%d alerts=%d%s", r.source, r.items,
             r.new_stories - r.duplicates, r.duplicates, r.new_versions, r.alerts,
             " partial=true" if r.partial else "")
