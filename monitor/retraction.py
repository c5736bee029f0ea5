"""Retractions: after a complete fetch, the stored stories of the source that it should show but does not.

* **Telegram** (every entry is a post ``t.me/<channel>/<id>``): a post id seen before that lies strictly between the
  oldest and the newest post of the page, and is not on it, was deleted. Posts outside the page's range are not
  looked at (the page shows only the newest ~20), and an album's extra ids were never stored (its post carries the
  first id), so neither counts.
* **Feeds**: a story stored after the oldest entry the feed still shows (so inside the feed's window: newer and
  older entries are present) whose entry is gone has vanished. A feed that drops more than half of its window at
  once has most likely changed its ids (a new GUID scheme), which is no retraction: nothing is recorded, a
  warning is logged.

Only a fetch processed whole counts: a partial parse, a cut-off document or an entry the database refused never
implies a deletion. A retracted story is recorded (``stories.retracted_at``, shown by ``news-monitor story``) and
alerted (kind "retraction", quoting the first alert) only for watches with ``on_retraction: true`` whose alert for
that story was sent. A retracted story that reappears is restored.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from monitor import corroboration, followups, normalize
from monitor.config import Source
from monitor.context import Context
from monitor.models import ParseResult
from monitor.store import retractions as store
from monitor.store import stories as store_stories

log = logging.getLogger("monitor.poll")
MAX_RANGE = 1000  # post ids checked per page at most
MIN_SUSPICIOUS = 3  # a feed may drop this many entries at once whatever its size


def _keys(page: ParseResult) -> list[str]:
    """The entries' identities (as ingest keyed them; the body plays no part in a key, so it is not converted)."""
    return [normalize.normalize(replace(item, html="")).key for item in page.items]


def telegram_missing(keys: list[str]) -> set[str] | None:
    """For a page of one channel's posts (every key ``t.me/<channel>/<id>``): the keys of the ids strictly inside
    its range that it does not show; None when the keys are not such a page."""
    posts: dict[str, set[int]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "t.me" or not parts[2].isdigit():
            return None
        posts.setdefault(parts[1], set()).add(int(parts[2]))
    if len(posts) != 1:
        return None
    (channel, ids), = posts.items()
    low, high = min(ids), max(ids)
    return {f"t.me/{channel}/{n}" for n in range(max(low + 1, high - MAX_RANGE), high) if n not in ids}


async def check(ctx: Context, source_id: int, source: Source, page: ParseResult, now: datetime) -> int:
    """Record the stories ``page`` (a fetch stored whole) no longer shows; returns how many were retracted."""
    if page.partial or len(page.items) < 2:
        return 0
    keys = await ctx.cpu(_keys, page)
    missing = telegram_missing(keys)
    if missing is not None:
        gone, why = await ctx.db(store.absent_keys, ctx.engine, source_id, missing), "deleted"
    else:
        ids = await ctx.db(store.ids_of, ctx.engine, source_id, set(keys))
        if not ids:
            return 0
        gone = await ctx.db(store.absent_after, ctx.engine, source_id, min(ids.values()), set(keys))
        why = "vanished"
        if len(gone) > max(MIN_SUSPICIOUS, len(ids) // 2):
            log.warning("poll source=%s %d stored entries missing from the feed at once: not taken as retractions "
                        "(changed ids?)", source.name, len(gone))
            return 0
    for story in gone:
        sent = await ctx.db(store.sent_alerts, ctx.engine, story.id)
        drafts = followups.plan_retraction(ctx.config, sent, source.name, why)
        created = await ctx.db(store.retract, ctx.engine, story, why, drafts, now)
        log.info("retraction source=%s key=%s why=%s alerts=%d", source.name, story.key[:80], why, created)
        members = await ctx.db(store_stories.cluster_members, ctx.engine, story.cluster_id)
        if members:  # a retracted story corroborates nothing any more
            count = (await ctx.cpu(corroboration.group, members)).count
            await ctx.db(store_stories.set_independent, ctx.engine, story.cluster_id, count)
    return len(gone)
