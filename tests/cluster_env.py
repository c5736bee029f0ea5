"""Shared by the corroboration, follow-up, headline and retraction tests: a loopback environment with several
sources (a wire feed, a scraper copy, two independent rewrites, a Telegram channel) and one watch whose cluster
options each test sets, plus texts measured to fall on each side of the thresholds.

The texts: ``STORY`` (six sentences about Izium); ``COPY`` is it with a scraper's boilerplate (estimated Jaccard
0.84: the same text); ``REWRITE_1`` and ``REWRITE_2`` each replace one sentence by a reporter's own (Jaccard 0.65
and 0.70 with ``STORY``: the same story, so one cluster, but independent reports; 0.48 with each other).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.config import parse_text
from monitor.outbox import drain
from monitor.store.schema import alerts, clusters, stories
from tests.conftest import FakeClock
from tests.test_pipeline import Env, FeedServer, Item, feed, pipeline_context, rss

STORY = (
    "Ukrainian forces recaptured Izium on Saturday after Russian troops withdrew from the city and the surrounding "
    "villages. The general staff said more than 2,000 square kilometers had been returned to Ukrainian control since "
    "the start of September. Officials in Kharkiv said engineers were clearing mines from the main roads into the "
    "region before residents could return home. Armoured vehicles, ammunition depots and field hospitals were left "
    "behind by the retreating units, according to local volunteers. The defence ministry described the advance as "
    "the fastest since the spring and promised further operations in the east. Residents who stayed through the "
    "occupation described months of shortages of food, water and medicine in the city.")
COPY = STORY + (" Subscribe to our newsletter for more news. Follow us on social media. Advertisement. Related "
                "articles: more war news from the front.")
REWRITE_1 = STORY.replace(
    "Residents who stayed through the occupation described months of shortages of food, water and medicine in the "
    "city.", "A local priest told us that about half of the population had left before the fighting reached the "
    "outskirts in spring.")
REWRITE_2 = STORY.replace(
    "Armoured vehicles, ammunition depots and field hospitals were left behind by the retreating units, according "
    "to local volunteers.", "Our correspondent saw burned trucks and abandoned trenches along the highway north of "
    "the city on Sunday morning.")
TITLE = "Ukraine recaptures Izium"

CONFIG = """\
database: sqlite:///{dir}/unused.db
settings:
  alerts_file: {dir}/alerts.jsonl
  jitter: 0s
  telegram_backfill_pages: 0
sources:
  - {{name: wire, url: "{base}/wire.xml"}}
  - {{name: scraper, url: "{base}/scraper.xml"}}
  - {{name: kyiv, url: "{base}/kyiv.xml"}}
  - {{name: blog, url: "{base}/blog.xml"}}
  - {{name: tg, type: telegram, channel: frontnews, url: "{base}/s/frontnews"}}
watches:
  - {{name: w, preset: territorial-gain, places: [Izium, Kharkiv, Lyman], notify: [log]{options}}}
"""

EnvFactory = Callable[..., Any]


@pytest.fixture
def feeds() -> Any:
    with FeedServer() as server:
        yield server


@pytest.fixture
async def make_env(tmp_path: Path, clock: FakeClock, feeds: FeedServer) -> AsyncIterator[EnvFactory]:
    """``await make_env(followups="thread", min_sources=2)``: an Env whose watch ``w`` has those options (on SQLite,
    or on ``database_url``)."""
    async with contextlib.AsyncExitStack() as stack:

        async def build(database_url: str | None = None, **options: Any) -> Env:
            extra = "".join(f", {k}: {json.dumps(v)}" for k, v in options.items())
            cfg = parse_text(CONFIG.format(dir=tmp_path, base=feeds.base, options=extra), "t.yaml", environ={})
            url = database_url or f"sqlite:///{tmp_path}/t.db"
            ctx = await stack.enter_async_context(pipeline_context(cfg, clock, url, seed=1))
            return Env(ctx, feeds, clock)

        yield build


async def publish(env: Env, source: str, *items: Item) -> Any:
    """Serve ``items`` as the feed of ``source`` and poll it once."""
    env.feeds.serve(f"/{source}.xml", feed(rss(*items)))
    return await env.poll(source)


def story(text: str, guid: str, title: str = TITLE) -> Item:
    return Item(title, text, guid=guid, link=f"https://news.example.org/{guid}")


def rows(env: Env, kind: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows (optionally of one kind), oldest first, with their payload decoded."""
    query = select(alerts).order_by(alerts.c.id)
    if kind is not None:
        query = query.where(alerts.c.kind == kind)
    with env.ctx.engine.connect() as conn:
        found = [dict(r) for r in conn.execute(query).mappings()]
    return [{**r, "payload": json.loads(r["payload"])} for r in found]


def independent(env: Env, cluster_id: int) -> int:
    with env.ctx.engine.connect() as conn:
        return int(conn.execute(select(clusters.c.independent_count).where(clusters.c.id == cluster_id)).scalar_one())


def cluster_ids(env: Env) -> list[int]:
    with env.ctx.engine.connect() as conn:
        return [int(c) for c in conn.execute(select(stories.c.cluster_id).order_by(stories.c.id)).scalars()]


async def send_all(env: Env) -> None:
    """Drain the outbox now (what is due goes out; digests wait for their slot)."""
    await drain(env.ctx)
