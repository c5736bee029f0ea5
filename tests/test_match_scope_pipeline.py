"""A watch's ``sources`` / ``source_tags`` scope through the real pipeline: ingest passes the polling source's
name and configured tags to ``match`` (real migrated SQLite, feeds on 127.0.0.1, an injected FakeClock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.config import parse_text
from monitor.store.schema import alerts
from tests.conftest import FakeClock
from tests.test_pipeline import Env, FeedServer, Item, feed, pipeline_context, rss

CONFIG = """\
database: sqlite:///{dir}/unused.db
settings: {{alerts_file: {dir}/alerts.jsonl, jitter: 0s}}
sources:
  - {{name: genstaff, url: "{base}/genstaff.xml", tags: [official]}}
  - {{name: blog, url: "{base}/blog.xml", tags: [media]}}
watches:
  - {{name: official-only, preset: territorial-gain, places: [Izium], source_tags: [official], notify: [log]}}
  - {{name: blog-only, preset: territorial-gain, places: [Izium], sources: [blog], notify: [log]}}
"""


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Env]:
    with FeedServer() as feeds:
        cfg = parse_text(CONFIG.format(dir=tmp_path, base=feeds.base), "t.yaml", environ={})
        async with pipeline_context(cfg, clock, f"sqlite:///{tmp_path}/t.db", seed=1) as ctx:
            yield Env(ctx, feeds, clock)


async def test_source_and_tag_scope_decide_which_watch_alerts(env: Env) -> None:
    env.feeds.serve("/genstaff.xml", feed(rss(Item("Ukrainian forces recaptured Izium", "Officials confirmed it.",
                                                   guid="g1"))))
    env.feeds.serve("/blog.xml", feed(rss(Item("Russian troops withdrew from Izium overnight", "A blog post.",
                                               guid="b1"))))
    assert (await env.poll("genstaff")).alerts == 1
    assert (await env.poll("blog")).alerts == 1
    with env.ctx.engine.connect() as conn:
        rows = conn.execute(select(alerts.c.payload).where(alerts.c.kind == "new")).scalars().all()
    assert sorted((json.loads(row)["watch"], json.loads(row)["title"]) for row in rows) == [
        ("blog-only", "Russian troops withdrew from Izium overnight"),
        ("official-only", "Ukrainian forces recaptured Izium"),
    ]
