"""Ingest: the entries of one parsed fetch -> stories. Per entry: normalize -> (known? diff : dedupe) ->
match -> alert drafts -> store (story, version and outbox rows in one transaction each).

A new member of a cluster is weighed by corroboration (copies of one text are one source): watches alert once the
cluster reaches their ``min_sources``, and a new independent source of an alerted cluster gets the follow-ups its
watches ask for. A version alerts on new watched terms or places, changed figures, or a headline that changed
meaning."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from monitor import alerting, article, corroboration, dedupe, diff, fetch, followups, headline, normalize
from monitor.config import Source
from monitor.context import Context
from monitor.errors import MonitorError, StoreError
from monitor.match import hits as match_hits
from monitor.match import match
from monitor.models import AlertDraft, Change, Match, ParseResult, PollReport, RawItem, Story
from monitor.store import retractions as store_retractions
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
    # Oldest first, so a story and its later copies in the same fetch cluster in order. Normalizing (HTML to text:
    # ~1 ms an entry of a real feed) runs for the whole fetch at once in the worker thread, off the event loop.
    ordered = await ctx.cpu(_normalize_all, items[::-1]) if items else []
    # The stored versions of the whole fetch in one query (a source is polled by one poll at a time: its lease).
    # An identity twice in one fetch: the second must see the first, so those are looked up one by one.
    keys = [story.key for story in ordered]
    unique = bool(keys) and len(set(keys)) == len(keys)
    prefetched = await ctx.db(store_stories.find_each, ctx.engine, source_id, keys) if unique else None
    for story in ordered:
        try:
            if source.fetch_article:  # outside the story lock: a page fetch must not hold up other sources
                story = await _with_article(ctx, source_id, source.name, story)
            # One story at a time across sources: look-up, dedup, outbox rows and index stay consistent,
            # so two copies polled at the same moment cannot both alert.
            async with ctx.story_lock:
                outcome, alerts = await _store_story(ctx, source_id, source.name, story, now, prefetched)
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


def _normalize_all(items: tuple[RawItem, ...]) -> list[Story]:
    return [normalize.normalize(item) for item in items]


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
    return not body.rstrip()[-16:].lower().endswith(_DOCUMENT_ENDS)  # the tail only: bodies run to megabytes


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


async def _store_story(ctx: Context, source_id: int, source: str, story: Story, now: datetime,
                       prefetched: dict[str, store_stories.KnownStory] | None = None) -> tuple[str, int]:
    known = (prefetched.get(story.key) if prefetched is not None
             else await ctx.db(store_stories.find, ctx.engine, source_id, story.key))
    if known is None:
        return await _store_new(ctx, source_id, source, story, now)
    if known.retracted_at is not None:  # it is back: it was not retracted after all
        await ctx.db(store_retractions.restore, ctx.engine, known.id)
    if known.fingerprint == story.fingerprint:
        return "same", 0
    change = diff.compare(known.title, known.text, story.title, story.text, is_place=ctx.is_place)
    tags = _source_tags(ctx, source)  # for a watch's sources / source_tags scope
    matches = match(ctx.watchlist, story.title, story.text, source=source, tags=tags)
    previous = match(ctx.watchlist, known.title, known.text, source=source, tags=tags)
    alerted = await ctx.db(store_stories.alerted_hits, ctx.engine, known.cluster_id)
    corr = await ctx.cpu(corroboration.group, await ctx.db(store_stories.cluster_members, ctx.engine,
                                                           known.cluster_id))
    new_headline = headline.labels(known.title, story.title, lambda t: match_hits(ctx.watchlist, t),
                                   [m.watch for m in matches])
    if new_headline:  # the headline changed meaning: it is a change even when the diff calls it a spelling fix
        change = _with_titles(change, known.title, story.title)
    added = match_hits(ctx.watchlist, "\n".join(change.added)) if change else {}
    drafts = alerting.plan_update(story, change, _enough(ctx, matches, corr.count), previous, alerted,
                                  corr.names or (source,), added_hits=added,
                                  new_figures=_merge(_new_figures(ctx, change, known.title, known.text), new_headline),
                                  now=now, max_age=ctx.config.settings.max_age)
    created = await ctx.db(store_stories.insert_version, ctx.engine, known, story, drafts, now)
    log.debug("version source=%s key=%s alerts=%d", source, story.key, created)
    return "version", created


def _source_tags(ctx: Context, source: str) -> tuple[str, ...]:
    """The configured tags of ``source`` (what a watch's ``source_tags`` scope reads)."""
    return next((tuple(s.tags) for s in ctx.config.sources if s.name == source), ())


def _with_titles(change: Change | None, old_title: str, new_title: str) -> Change:
    """``change`` with the old headline removed and the new one added (when the diff did not have them)."""
    added, removed = (change.added, change.removed) if change else ((), ())
    return Change(added=added if new_title in added else (new_title, *added),
                  removed=removed if old_title in removed else (old_title, *removed))


def _merge(*found: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for labels in found:
        for watch, hits in labels.items():
            out[watch] = out.get(watch, frozenset()) | hits
    return out


def _enough(ctx: Context, matches: list[Match], count: int) -> list[Match]:
    """The matches whose watch's ``min_sources`` the cluster's ``count`` independent sources reach."""
    return [m for m in matches if followups.policy(ctx.config, m.watch).min_sources <= count]


def _new_figures(ctx: Context, change: Change | None, title: str, text: str) -> dict[str, frozenset[str]]:
    """Per watch, figures next to its terms in the added sentences that the previous version did not have. Time
    stamps and "UPDATE 1-" markers are no figures (``headline.core`` drops them)."""
    if change is None or not change.added:
        return {}

    def term_hits(sentence: str) -> dict[str, frozenset[str]]:
        return match_hits(ctx.watchlist, sentence)

    now = alerting.figures([headline.core(s) for s in change.added], term_hits)
    if not now:
        return {}
    before = alerting.figures([headline.core(s) for s in (title, *diff.sentences(text))], term_hits)
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
    await ctx.index_ready()  # the start-up rebuild of the dedup index runs after READY
    for attempt in range(STORE_ATTEMPTS):
        await _refresh_index(ctx, now)
        cluster_id = await _same_identity(ctx, story.key, now) or ctx.index.find(sig, now)
        corr, drafts = await _plan_new(ctx, cluster_id, source, story, sig, now)
        # Stored only if no other instance stored a story since the look-up; else look again with it.
        seen_up_to = ctx.index.last_id if attempt < STORE_ATTEMPTS - 1 else None
        stored = await ctx.db(store_stories.insert_new, ctx.engine, source_id, story, sig.to_bytes(), cluster_id,
                              drafts, now, seen_up_to, corr.count)
        if stored is not None:
            story_id, cluster_id_new, created = stored
            ctx.index.add(story_id, cluster_id_new, sig, now)
            return ("new" if cluster_id is None else "duplicate"), created
    raise AssertionError("the last attempt stores unconditionally")  # pragma: no cover


_NEW_ID = 2**62  # the story being stored, before it has an id: after every stored one


async def _plan_new(ctx: Context, cluster_id: int | None, source: str, story: Story, sig: dedupe.Signature,
                    now: datetime) -> tuple[corroboration.Corroboration, list[AlertDraft]]:
    """The cluster's corroboration with the new story, and its drafts: "new" alerts for the watches it matches
    whose ``min_sources`` the cluster now reaches (the alert fires when the Nth independent source joins), and,
    when it is a new independent source of an alerted cluster, the follow-ups its watches ask for."""
    me = corroboration.Member(_NEW_ID, source, story.key, now, sig.to_bytes())
    members = [] if cluster_id is None else await ctx.db(store_stories.cluster_members, ctx.engine, cluster_id)
    # up to ~0.1 s for a 500-member cluster, off the loop; a story alone (a new cluster) needs no thread hop
    corr = corroboration.group([me]) if not members else await ctx.cpu(corroboration.group, [*members, me])
    tags = _source_tags(ctx, source)
    matches = _enough(ctx, match(ctx.watchlist, story.title, story.text, source=source, tags=tags), corr.count)
    drafts = alerting.plan_new(story, matches, corr.names, now=now, max_age=ctx.config.settings.max_age,
                               independent=corr.count)
    mine = corr.groups[corr.group_of(_NEW_ID) or 0]
    if cluster_id is not None and len(mine.members) == 1:  # a text of its own: a new independent source
        firsts = await ctx.db(store_stories.first_alerts, ctx.engine, cluster_id)
        drafts += followups.plan_sources(ctx.config, firsts, story, mine.label, corr.count)
    return corr, drafts


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
