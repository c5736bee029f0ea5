"""Read-only queries for the rule author's tools: stored stories in their latest version, for ``backtest``
(every story first seen in a period) and ``explain`` (one story)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select

from monitor.backtest import StoredStory
from monitor.store.engine import reading
from monitor.store.schema import aware, naive, sources, stories, story_versions

BATCH = 500  # rows fetched at a time: a week of stories is streamed, not held in memory


def _latest() -> Select[Any]:
    return (
        select(stories.c.id, stories.c.cluster_id, sources.c.name, story_versions.c.title, story_versions.c.text,
               stories.c.url, stories.c.published_at, stories.c.first_seen_at)
        .join(sources, sources.c.id == stories.c.source_id)
        .join(story_versions, (story_versions.c.story_id == stories.c.id)
              & (story_versions.c.version == stories.c.version))
    )


def _story(row: Any) -> StoredStory:
    sid, cid, source, title, text, url, published, first_seen = row
    return StoredStory(id=sid, cluster_id=cid, source=source, title=title, text=text, url=url,
                       published=aware(published) if published is not None else None, first_seen=aware(first_seen))


def since(engine: Engine, start: datetime, end: datetime | None = None) -> Iterator[StoredStory]:
    """Stories first seen from ``start`` (up to ``end``), first seen first, each in its latest version."""
    query = _latest().where(stories.c.first_seen_at >= naive(start))
    if end is not None:
        query = query.where(stories.c.first_seen_at <= naive(end))
    query = query.order_by(stories.c.first_seen_at, stories.c.id)
    with reading(engine) as conn:
        for row in conn.execution_options(yield_per=BATCH).execute(query):
            yield _story(row)


def one(engine: Engine, story_id: int) -> StoredStory | None:
    """One story in its latest version, or None."""
    with reading(engine) as conn:
        row = conn.execute(_latest().where(stories.c.id == story_id)).first()
    return None if row is None else _story(row)
