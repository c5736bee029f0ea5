"""Ingest: the entries of one parsed fetch -> stories. Per entry: normalize -> (known? diff : dedupe) ->
match -> alert drafts -> store (story, version and outbox rows in one transaction each)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from monitor import alerting, article, dedupe, diff, fetch, normalize
from monitor.config import Source
from monitor.context import Context
from monitor.errors import MonitorError, StoreError
from monitor.match import hits as match_hits
from monitor.match import match
from monitor.models import Change, ParseResult, PollReport, RawItem, Story
from monitor.store import stories as store_stories

log = logging.getLogger("monitor.poll")


async def store_items(
    ctx: Context, source_id: int, source: Source, parsed: ParseResult, now: datetime, *, cut_off: bool
) -> PollReport:
    """Store every entry of ``parsed`` (oldest first) and count what became of them. An entry the database
    refuses is counted in ``failed_items`` and retried on the next poll; a database that fails raises."""
    counts = {"new": 0, "version": 0, "duplicate": 0, "alerts": 0, "same": 0, "failed": 0}
    items = _complete_items(parsed) if cut_off else parsed.items
    notes = ("cut-off last entry held back",) if len(items) < len(parsed.items) else ()
    # Oldest first, so a story and its later copies in the same fetch cluster in order.
    for item in reversed(items):
        story = normalize.normalize(item)
        try:
            if source.fetch_article:  # outside the story lock: a page fetch must not hold up other sources
                story = await _with_article(ctx, source_id, source.name, story)
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


async def _with_article(ctx: Context, source_id: int, source: str, story: Story) -> Story:
    """For a ``fetch_article`` source: the story with its linked page's article text, when that is longer than
    the feed's. Fetched once per version: an entry the feed still gives unchanged (same fingerprint) is not
    fetched again, and the fingerprint stays the feed entry's, so the next poll recognises it. Through the
    same bounded fetcher and per-host limit as feeds; a page that fails leaves the feed's text."""
    if not story.url:
        return story
    known = await ctx.db(store_stories.find, ctx.engine, source_id, story.key)
    if known is not None and known.fingerprint == story.fingerprint:
        return story
    s = ctx.config.settings
    try:
        async with ctx.host_lock(story.url):
            page = await fetch.fetch(ctx.client, story.url, max_bytes=s.max_bytes,
                                     deadline=s.fetch_timeout.total_seconds(), source=source)
        text = await ctx.cpu(article.extract, page.body, url=page.url)
    except MonitorError as exc:
        log.warning("article source=%s url=%s not fetched: %s", source, story.url, _one_line(str(exc)))
        return story
    return replace(story, text=text) if len(text) > len(story.text) else story


_ITEM_FIELDS = ("guid", "link", "title", "html", "published")


_DOCUMENT_ENDS = (b"</rss>", b"</feed>", b"</rdf:rdf>", b"</html>")


def cut_off(body: bytes) -> bool:
    """True when the document does not end with the closing tag of a feed (or page): it was cut."""
    return not body.rstrip().lower().endswith(_DOCUMENT_ENDS)


def _complete_items(parsed: ParseResult) -> tuple[RawItem, ...]:
    """The items, without the last one of a cut-off feed when it lacks a field the others have.

    feedparser drops the text of an element the cut went through, so the entry at the cut of a truncated
    document comes without its GUID, link, body or date. Stored, it would be a phantom story under a title
    hash (alerted again once the whole entry arrives) or a version that deletes the text. The next complete
    fetch brings it whole. Only for a document that really ends early (``cut_off``): a merely malformed
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
    drafts = alerting.plan_update(story, change, matches, previous, alerted, names, added_hits=added,
                                  new_figures=_new_figures(ctx, change, known.title, known.text), now=now,
                                  max_age=ctx.config.settings.max_age)
    created = await ctx.db(store_stories.insert_version, ctx.engine, known, story, drafts, now)
    log.debug("version source=%s key=%s alerts=%d", source, story.key, created)
    return "version", created


def _new_figures(ctx: Context, change: Change | None, title: str, text: str) -> dict[str, frozenset[str]]:
    """Per watch, figures next to its terms in the added sentences that the previous version did not have."""
    if change is None or not change.added:
        return {}

    def term_hits(sentence: str) -> dict[str, frozenset[str]]:
        return match_hits(ctx.watchlist, sentence)

    now = alerting.figures(change.added, term_hits)
    if not now:
        return {}
    before = alerting.figures([title, *diff.sentences(text)], term_hits)
    return {w: fresh for w, found in now.items() if (fresh := found - before.get(w, frozenset()))}


_SHARED_KEYS = ("t.me/", "link:")  # identities that mean the same thing in any source


async def _same_identity(ctx: Context, key: str, now: datetime) -> int | None:
    """A story keyed by a Telegram post or an article link joins a cluster holding that key elsewhere, even
    when the texts differ (a mirror's shortened copy, an outlet's two feeds)."""
    if not key.startswith(_SHARED_KEYS):
        return None
    since = now - ctx.config.settings.dedup_window
    return await ctx.db(store_stories.cluster_of_key, ctx.engine, key, since)


async def _store_new(ctx: Context, source_id: int, source: str, story: Story, now: datetime) -> tuple[str, int]:
    sig = dedupe.signature(story.title, story.text)
    for attempt in range(STORE_ATTEMPTS):
        await _refresh_index(ctx, now)
        cluster_id = await _same_identity(ctx, story.key, now) or ctx.index.find(sig, now)
        names = [source]
        if cluster_id is not None:
            names = await ctx.db(store_stories.cluster_sources, ctx.engine, cluster_id)
            names = [*names, source] if source not in names else names
        drafts = alerting.plan_new(story, match(ctx.watchlist, story.title, story.text), names, now=now,
                                   max_age=ctx.config.settings.max_age)
        # Stored only if no other instance stored a story since the look-up; else look again with it.
        seen_up_to = ctx.index.last_id if attempt < STORE_ATTEMPTS - 1 else None
        stored = await ctx.db(store_stories.insert_new, ctx.engine, source_id, story, sig.to_bytes(), cluster_id,
                              drafts, now, seen_up_to)
        if stored is not None:
            story_id, cluster_id_new, created = stored
            ctx.index.add(story_id, cluster_id_new, sig, now)
            return ("new" if cluster_id is None else "duplicate"), created
    raise AssertionError("the last attempt stores unconditionally")  # pragma: no cover


STORE_ATTEMPTS = 5  # look-ups of a new story raced by other instances' stores before it is stored regardless


async def _refresh_index(ctx: Context, now: datetime) -> None:
    """Add to the dedup index the stories other instances (on the same database) stored since it last looked."""
    since = now - ctx.config.settings.dedup_window
    for story_id, cluster_id, sig, seen in await ctx.db(store_stories.signatures_after, ctx.engine,
                                                         ctx.index.last_id, since):
        if sig is None:
            ctx.index.mark(story_id)
        else:
            ctx.index.add(story_id, cluster_id, dedupe.Signature.from_bytes(sig), seen)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
