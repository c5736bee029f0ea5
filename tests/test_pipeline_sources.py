"""pipeline.poll_source and check_health on what sources do over time: moved and gone feeds, unchanged bodies,
cache hints, adaptive intervals, Telegram backfill and mirrors, and the operator notices about all of it.

Real migrated SQLite, feeds on 127.0.0.1 (tests.test_pipeline's FeedServer), an injected FakeClock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.config import parse_text
from monitor.daemon import run_once
from monitor.pipeline import check_health
from monitor.store import sources as store_sources
from monitor.store.schema import alerts, stories, story_versions
from monitor.store.schema import alerts as alerts_table
from tests.conftest import FakeClock
from tests.loopback import Reply
from tests.test_pipeline import HTML, Env, FeedServer, Item, feed, neutral, pipeline_context, rss, tg_page

CONFIG = """\
database: sqlite:///{dir}/unused.db
settings:
  alerts_file: {dir}/alerts.jsonl
  interval: 5m
  min_interval: 2m
  max_interval: 1h
  jitter: 0s
  ops_channel: log
  telegram_backfill_pages: {pages}
sources:
  - {{name: wire, url: "{base}/wire.xml"}}
  - {{name: copy, url: "{base}/copy.xml"}}
  - {{name: tg, type: telegram, channel: frontnews, url: "{base}/s/frontnews"}}
  - {{name: mirror, url: "{base}/rsshub/frontnews"}}
watches:
  - {{name: w, preset: territorial-gain, places: [Izium, Kharkiv], notify: [log]}}
"""
MIN = timedelta(minutes=1)

EnvFactory = Callable[..., Any]


@pytest.fixture
async def make_env(tmp_path: Path, clock: FakeClock, feeds: FeedServer) -> AsyncIterator[EnvFactory]:
    """Build an Env from CONFIG with ``pages`` of Telegram backfill (and ``base`` for the URLs)."""
    async with contextlib.AsyncExitStack() as stack:

        async def build(pages: int = 5, base: str | None = None) -> Env:
            text = CONFIG.format(dir=tmp_path, base=base or feeds.base, pages=pages)
            cfg = parse_text(text, "t.yaml", environ={})
            ctx = await stack.enter_async_context(pipeline_context(cfg, clock, f"sqlite:///{tmp_path}/t.db", seed=1))
            return Env(ctx, feeds, clock)

        yield build


@pytest.fixture
async def env(make_env: EnvFactory) -> Env:
    built: Env = await make_env()
    return built


@pytest.fixture
def feeds() -> Any:
    with FeedServer() as server:
        yield server


def notices(env: Env) -> list[dict[str, Any]]:
    with env.ctx.engine.connect() as conn:
        rows = conn.execute(select(alerts.c.channel, alerts.c.payload).where(alerts.c.kind == "notice")
                            .order_by(alerts.c.id)).all()
    return [{"channel": r[0], **json.loads(r[1])} for r in rows]


def interval(env: Env, name: str = "wire") -> timedelta:
    state = env.state(name)
    assert state.next_poll_at is not None
    return state.next_poll_at - env.naive_now()


# -- moved and gone ---------------------------------------------------------------------------------------


async def test_a_permanent_redirect_moves_the_source(env: Env) -> None:
    env.feeds.serve("/wire.xml", Reply(status=301, headers=(("Location", "/v2/wire.xml"),)))
    env.feeds.serve("/v2/wire.xml", feed(rss(neutral(1))))
    assert (await env.poll()).new_stories == 1
    assert env.state().url == env.feeds.base + "/v2/wire.xml"
    env.feeds.serve("/v2/wire.xml", feed(rss(neutral(1), neutral(2))))
    assert (await env.poll()).new_stories == 1
    assert len(env.feeds.hits("/wire.xml")) == 1  # the old URL is asked no more


async def test_a_temporary_redirect_keeps_the_url(env: Env) -> None:
    env.feeds.serve("/wire.xml", Reply(status=302, headers=(("Location", "/tmp.xml"),)))
    env.feeds.serve("/tmp.xml", feed(rss(neutral(1))))
    await env.poll()
    assert env.state().url == env.feeds.base + "/wire.xml"


async def test_gone_disables_the_source_and_tells_the_operator_once(env: Env) -> None:
    env.feeds.serve("/wire.xml", Reply(status=410, body=b"gone"))
    report = await env.poll()
    assert report.error_kind == "http_status" and report.notes == ("disabled: HTTP 410",)
    assert env.state().disabled_at is not None
    again = await env.poll()  # even forced: no request, a clear note
    assert again.notes == ("gone (HTTP 410): not polled until its url changes",)
    assert len(env.feeds.hits("/wire.xml")) == 1
    await check_health(env.ctx)
    await check_health(env.ctx)
    [notice] = notices(env)
    assert notice["channel"] == "log" and notice["sources"] == ["wire"]
    assert notice["excerpt"].startswith(f"wire: gone (http_status fetching {env.feeds.base}/wire.xml: HTTP 410)")


async def test_a_new_url_in_the_config_revives_a_gone_source(make_env: EnvFactory, feeds: FeedServer) -> None:
    env = await make_env()
    feeds.serve("/wire.xml", Reply(status=410, body=b"gone"))
    await env.poll()
    new = await make_env(base=feeds.base + "/new")
    feeds.serve("/new/wire.xml", feed(rss(neutral(1))))
    assert (await new.poll()).new_stories == 1 and new.state().disabled_at is None


# -- unchanged bodies and politeness ----------------------------------------------------------------------


async def test_the_same_body_without_validators_is_not_parsed_again(env: Env) -> None:
    env.feeds.serve("/wire.xml", feed(rss(neutral(1), neutral(2))))
    first = await env.poll()
    assert first.items == 2
    second = await env.poll()
    assert second.not_modified and second.items == 0 and second.fetched
    env.feeds.serve("/wire.xml", feed(rss(neutral(1), neutral(2), neutral(3))))
    assert (await env.poll()).new_stories == 1


@pytest.mark.parametrize(
    ("headers", "body_extra", "at_least"),
    [
        pytest.param((), "", 15 * MIN, id="no hint"),
        pytest.param((("Cache-Control", "max-age=1800"),), "", 30 * MIN, id="Cache-Control max-age"),
        pytest.param((), "<ttl>45</ttl>", 45 * MIN, id="RSS ttl in minutes"),
        pytest.param((("Cache-Control", "max-age=604800"),), "", 60 * MIN, id="a week is capped at max_interval"),
    ],
)
async def test_server_freshness_is_a_lower_bound(
    env: Env, headers: tuple[tuple[str, str], ...], body_extra: str, at_least: timedelta
) -> None:
    # 48 undated stories first seen now: one every 30 min, polled every 15 min without a hint.
    body = rss(*(neutral(n) for n in range(48))).replace(b"<description>d</description>",
                                                         f"<description>d</description>{body_extra}".encode(), 1)
    env.feeds.serve("/wire.xml", feed(body, extra=headers))
    await env.poll()
    assert interval(env) == at_least


async def test_interval_adapts_to_the_posting_rate_within_the_day(env: Env) -> None:
    now = env.clock()
    daily = [Item(f"Daily {n}", f"Daily story number {n} " * 5, guid=f"d{n}",
                  date=format_datetime(now - timedelta(days=n, hours=1))) for n in range(7)]
    env.feeds.serve("/wire.xml", feed(rss(*daily)))
    await env.poll()
    assert interval(env) == 60 * MIN  # one a day: the maximum
    busy = [Item(f"Busy {n}", f"Busy story number {n} " * 5, guid=f"b{n}",
                 date=format_datetime(now - timedelta(minutes=10 * n))) for n in range(12)]
    env.feeds.serve("/wire.xml", feed(rss(*busy, *daily)))
    await env.poll()
    # 13 stories in the last day: a post every ~1.8 h -> polled every ~55 min; a burst of 12 in 2 h
    # registers as the day's rate, and the week's 19 do not dilute it.
    assert interval(env) < 60 * MIN
    env.clock.advance(hours=2)
    burst = [Item(f"Burst {n}", f"Burst story number {n} " * 5, guid=f"x{n}",
                  date=format_datetime(env.clock() - timedelta(minutes=n))) for n in range(100)]
    env.feeds.serve("/wire.xml", feed(rss(*burst, *busy, *daily)))
    await env.poll()
    # 113 posts today: one every 12.7 min -> two polls per gap, every 6.4 min.
    assert 6 * MIN < interval(env) < 7 * MIN


# -- Telegram: backfill through older pages, mirrors, gaps ----------------------------------------------------


def serve_pages(env: Env, pages: dict[str, range]) -> None:
    for query, ids in pages.items():
        env.feeds.serve("/s/frontnews" + query, feed(tg_page("frontnews", ids), ctype=HTML))


async def test_a_gap_is_backfilled_from_older_pages(env: Env) -> None:
    serve_pages(env, {"": range(100, 116)})
    await env.poll("tg")
    serve_pages(env, {"": range(140, 156), "?before=140": range(124, 140), "?before=124": range(108, 124)})
    report = await env.poll("tg")
    assert (report.possible_gap, report.new_stories, report.notes) == (False, 40, ())
    assert {s["key"] for s in env.stories()} == {f"t.me/frontnews/{n}" for n in range(100, 156)}
    assert [len(env.feeds.hits(p)) for p in ("/s/frontnews?before=140", "/s/frontnews?before=124")] == [1, 1]
    assert env.state("tg").last_post_id == 155 and notices(env) == []


async def test_ids_missing_for_good_are_no_gap(env: Env) -> None:
    """Deleted posts (and an album's extra ids) leave holes in the ids that no page will ever show."""
    serve_pages(env, {"": range(100, 116)})
    await env.poll("tg")
    env.feeds.serve("/s/frontnews", feed(tg_page("frontnews", range(130, 146)), ctype=HTML))  # 116-129 deleted
    env.feeds.serve("/s/frontnews?before=130", feed(tg_page("frontnews", range(100, 116)), ctype=HTML))
    report = await env.poll("tg")
    assert (report.possible_gap, report.notes, report.new_stories) == (False, (), 16)
    assert notices(env) == []


async def test_what_backfill_cannot_reach_is_reported_and_polled_faster(make_env: EnvFactory) -> None:
    env = await make_env(pages=1)
    serve_pages(env, {"": range(100, 116)})
    await env.poll("tg")
    before = interval(env, "tg")
    serve_pages(env, {"": range(160, 176), "?before=160": range(144, 160)})
    report = await env.poll("tg")
    assert report.possible_gap and report.notes == ("posts 116-143 could not be recovered",)
    assert interval(env, "tg") <= before / 2
    [notice] = notices(env)
    assert notice["excerpt"].startswith("tg: posts 116-143 (28) were published between two polls")
    assert notice["title"] == "news-monitor: tg missed posts"
    [row] = [r for r in store_sources.all_states(env.ctx.engine) if r["name"] == "tg"]
    assert (row["gap_count"], row["missed_posts"]) == (1, 28)  # kept on the source for status and the web page
    assert str(row["last_gap"]).startswith("posts 116-143 (28) at ")


async def test_an_rss_mirror_of_a_channel_reports_its_gap(env: Env) -> None:
    def mirror(ids: range) -> bytes:
        return rss(*(Item(f"Post {n}", f"Bulletin {n} " * 6, guid=f"https://t.me/frontnews/{n}") for n in ids))

    env.feeds.serve("/rsshub/frontnews", feed(mirror(range(100, 120))))
    await env.poll("mirror")
    env.feeds.serve("/rsshub/frontnews", feed(mirror(range(150, 170))))
    assert (await env.poll("mirror")).possible_gap


async def test_the_same_post_direct_and_through_a_mirror_is_one_story_cluster(env: Env) -> None:
    serve_pages(env, {"": range(100, 103)})
    await env.poll("tg")
    # RSSHub shortens and reformats the text; the post link makes it the same story.
    items = [Item(f"Mirror of {n}", f"Short {n}", link=f"https://t.me/frontnews/{n}?single") for n in range(100, 103)]
    env.feeds.serve("/rsshub/frontnews", feed(rss(*items)))
    report = await env.poll("mirror")
    assert report.duplicates == 3
    with env.ctx.engine.connect() as conn:
        clusters = conn.execute(select(stories.c.key, stories.c.cluster_id)).all()
    by_key: dict[str, set[int]] = {}
    for key, cluster in clusters:
        by_key.setdefault(key, set()).add(cluster)
    assert all(len(c) == 1 for c in by_key.values()) and len(by_key) == 3


# -- health notices end to end ----------------------------------------------------------------------------


async def test_five_failures_one_notice_then_one_recovery(env: Env) -> None:
    env.feeds.serve("/wire.xml", Reply(status=500, body=b"boom"))
    for source in ("copy", "tg", "mirror"):  # healthy neighbours, so this is no outage
        env.feeds.serve({"copy": "/copy.xml", "tg": "/s/frontnews", "mirror": "/rsshub/frontnews"}[source],
                        feed(rss(neutral(1))))
    for _ in range(7):
        await run_once(env.ctx)
        env.clock.advance(minutes=30)
    [failing] = notices(env)
    assert failing["title"] == "news-monitor: sources 1 failing"
    assert failing["excerpt"].startswith("wire: failing, 5 failures in a row, never fetched: http_status")
    env.feeds.serve("/wire.xml", feed(rss(neutral(1))))
    await run_once(env.ctx)
    await run_once(env.ctx)
    assert [n["excerpt"] for n in notices(env)][1:] == ["wire: recovered, fetching again."]


async def test_everything_failing_at_once_is_one_outage_notice(make_env: EnvFactory) -> None:
    env = await make_env(base="http://127.0.0.1:9")  # nothing listens on port 9: connection refused
    for _ in range(8):
        await run_once(env.ctx)
        env.clock.advance(hours=1)
    texts = [n["excerpt"] for n in notices(env)]
    assert len(texts) == 1 and texts[0].startswith("Outage: 4 of 4 sources are failing (connect_error 4).")


# -- update alerts about facts ----------------------------------------------------------------------------

GAIN = ("Ukrainian forces recaptured Izium on Saturday after Russian troops withdrew from the city.\n"
        "The general staff said more than 2,000 square kilometers had been returned to Ukrainian control.\n"
        "Officials in Kharkiv said engineers were clearing mines from the main roads into the region.")


@pytest.mark.parametrize(
    ("edit", "alerts"),
    [
        pytest.param(lambda t: t.replace("2,000", "3,000"), 1, id="a figure beside a watched term changed"),
        pytest.param(lambda t: t.replace("2,000", "2 000"), 0, id="the same figure written differently"),
        pytest.param(lambda t: t.replace("engineers", "enginers"), 0, id="a typo"),
        pytest.param(lambda t: "\n".join(reversed(t.split("\n"))), 0, id="paragraphs reordered"),
        pytest.param(lambda t: t + "\nRead more", 0, id="a Read more link added"),
        pytest.param(lambda t: t.replace("Saturday", "Sunday"), 0, id="a detail without a watched term"),
        pytest.param(lambda t: t + "\nUkrainian troops also patrolled Kharkiv's northern suburbs.", 0,
                     id="a place already alerted for the cluster"),
    ],
)
async def test_update_alerts_only_when_the_facts_changed(env: Env, edit: Any, alerts: int) -> None:
    env.feeds.serve("/wire.xml", feed(rss(Item("Izium retaken", GAIN, guid="gain-1"))))
    assert (await env.poll()).alerts == 1
    env.feeds.serve("/wire.xml", feed(rss(Item("Izium retaken", edit(GAIN), guid="gain-1"))))
    report = await env.poll()
    assert report.alerts == alerts
    if alerts:
        with env.ctx.engine.connect() as conn:
            hits = conn.execute(select(alerts_table.c.hits).where(alerts_table.c.kind == "update")).scalar_one()
        assert "figure:3000" in json.loads(hits)


# -- full text for summary-only feeds (fetch_article) ---------------------------------------------------------

ARTICLE_PAGE = """<!DOCTYPE html><html><head><title>Izium retaken</title></head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a></nav>
<article><h1>Ukrainian forces recapture Izium</h1>
<p>Ukrainian forces recaptured the city of Izium on Saturday after Russian troops withdrew from positions
around it, the general staff said in its evening briefing, adding that the advance continued overnight.</p>
<p>Officials in Kharkiv said the retreat left behind armoured vehicles, ammunition depots and field hospitals,
and that engineers were clearing mines from the main roads into the city before residents could return.</p>
<p>More than 3,000 square kilometers have been returned to Ukrainian control since the start of the month,
the defence ministry said, in the fastest advance since the spring.</p></article>
<aside>Read More</aside><footer>Related Articles · Adblock Detected · Subscribe to our newsletter</footer>
</body></html>"""


async def test_fetch_article_reads_the_linked_page_once_per_version(make_env: EnvFactory, feeds: FeedServer) -> None:
    env = await make_env()
    cfg = env.ctx.config
    source = cfg.sources[0].model_copy(update={"fetch_article": True})
    env.ctx.config = cfg.model_copy(update={"sources": [source, *cfg.sources[1:]]})
    link = f"{feeds.base}/articles/izium"
    feeds.serve("/articles/izium", Reply(body=ARTICLE_PAGE.encode(), headers=(("Content-Type", "text/html"),)))
    summary = [Item("Izium retaken", "Forces retake a city in the east.", guid="a-1", link=link)]
    feeds.serve("/wire.xml", feed(rss(*summary)))
    report = await env.poll()
    assert report.alerts == 1  # the summary alone names no watched term; the article does
    with env.ctx.engine.connect() as conn:
        text = conn.execute(select(story_versions.c.text)).scalar_one()
    assert "3,000 square kilometers" in text and "Adblock" not in text and "Sport" not in text
    await env.poll()  # the same body: nothing parsed, nothing fetched
    feeds.serve("/wire.xml", feed(rss(*summary).replace(b"</channel>", b"<!-- changed --></channel>")))
    await env.poll()  # a new body, the same entry: the page is not fetched again
    assert len(feeds.hits("/articles/izium")) == 1
    edited = [Item("Izium retaken", "Forces retake a city in the east; more follows.", guid="a-1", link=link)]
    feeds.serve("/wire.xml", feed(rss(*edited)))
    await env.poll()  # a new version of the entry: fetched once more
    assert len(feeds.hits("/articles/izium")) == 2


async def test_an_article_page_that_fails_keeps_the_feed_text(make_env: EnvFactory, feeds: FeedServer) -> None:
    env = await make_env()
    cfg = env.ctx.config
    env.ctx.config = cfg.model_copy(update={"sources": [cfg.sources[0].model_copy(update={"fetch_article": True}),
                                                        *cfg.sources[1:]]})
    feeds.serve("/articles/gone", Reply(status=500, body=b"oops"))
    gone = Item("Izium", "Summary about Izium.", guid="g", link=f"{feeds.base}/articles/gone")
    feeds.serve("/wire.xml", feed(rss(gone)))
    report = await env.poll()
    assert report.new_stories == 1 and report.error_kind is None
    with env.ctx.engine.connect() as conn:
        assert conn.execute(select(story_versions.c.text)).scalar_one() == "Summary about Izium."
