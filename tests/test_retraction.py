"""Retractions end to end: a Telegram post deleted from its channel and a story that vanished from its feed's window
are recorded (``stories.retracted_at``, shown by ``news-monitor story``) and alerted only for watches with
``on_retraction: true`` whose alert for the story was sent. Posts outside the page's range, album ids, entries that
fell off the end of a feed and partial or cut-off fetches are no retractions."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from monitor import history
from monitor.retraction import telegram_missing
from monitor.store import views
from monitor.store.schema import stories
from tests.cluster_env import STORY, feeds, make_env, rows, send_all  # noqa: F401  (fixtures)
from tests.test_pipeline import HTML, Env, feed, neutral, rss

CHANNEL = "frontnews"


def tg(posts: dict[int, str]) -> bytes:
    """A t.me/s page of ``posts`` (id -> text), in the page's markup."""
    body = "".join(
        f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message js-widget_message" '
        f'data-post="{CHANNEL}/{n}"><div class="tgme_widget_message_bubble">'
        f'<div class="tgme_widget_message_text js-message_text">{text}</div>'
        f'<a class="tgme_widget_message_date" href="https://t.me/{CHANNEL}/{n}">'
        f'<time datetime="2022-09-11T15:00:00+00:00">15:00</time></a></div></div></div>'
        for n, text in sorted(posts.items()))
    return (f'<!DOCTYPE html><html><head><meta property="og:title" content="{CHANNEL}"></head><body>'
            f'<div class="tgme_channel_info"></div><section>{body}</section></body></html>').encode()


def bulletins(ids: range | list[int], special: dict[int, str] | None = None) -> dict[int, str]:
    return {n: (special or {}).get(n, f"Bulletin {n}: weather, roads and power supply in the region, part {n}.")
            for n in ids}


async def show(env: Env, posts: dict[int, str]) -> Any:
    env.feeds.serve(f"/s/{CHANNEL}", feed(tg(posts), ctype=HTML))
    return await env.poll("tg")


def retracted(env: Env) -> dict[str, str]:
    """key -> retraction of every retracted story."""
    with env.ctx.engine.connect() as conn:
        found = conn.execute(select(stories.c.key, stories.c.retraction).where(stories.c.retracted_at.is_not(None)))
        return {k: r for k, r in found}


def key(n: int) -> str:
    return f"t.me/{CHANNEL}/{n}"


# -- Telegram ---------------------------------------------------------------------------------------------------


async def test_a_deleted_post_inside_the_pages_range_is_recorded(make_env) -> None:  # noqa: F811
    env = await make_env()
    await show(env, bulletins(range(100, 111)))
    await show(env, bulletins([n for n in range(100, 111) if n != 105]))
    assert retracted(env) == {key(105): "deleted"}
    await show(env, bulletins([n for n in range(101, 113) if n != 105]))  # 100 left the page: not a deletion
    assert retracted(env) == {key(105): "deleted"}


async def test_album_ids_and_ids_never_seen_are_no_deletions(make_env) -> None:  # noqa: F811
    env = await make_env()
    album = [100, 101, 104, 105]  # 102 and 103 are the album's extra photos: never a post of their own
    await show(env, bulletins(album))
    await show(env, bulletins(album))
    assert retracted(env) == {}


def test_telegram_missing_is_the_ids_strictly_inside_the_range() -> None:
    assert telegram_missing([key(10), key(13), key(14)]) == {key(11), key(12)}
    assert telegram_missing([key(10), "guid:x"]) is None  # not a Telegram page
    assert telegram_missing([key(10), "t.me/other/11"]) is None  # two channels


async def test_a_post_that_comes_back_is_restored(make_env) -> None:  # noqa: F811
    env = await make_env()
    await show(env, bulletins(range(100, 106)))
    await show(env, bulletins([100, 101, 103, 104, 105]))
    assert retracted(env) == {key(102): "deleted"}
    await show(env, bulletins(range(100, 106)))
    assert retracted(env) == {}


# -- feeds ------------------------------------------------------------------------------------------------------


async def publish_items(env: Env, ns: list[int]) -> Any:
    """The wire feed with neutral items ``ns``, newest (highest) first."""
    env.feeds.serve("/wire.xml", feed(rss(*(neutral(n) for n in sorted(ns, reverse=True)))))
    return await env.poll("wire")


async def test_a_story_that_vanished_inside_the_feeds_window_is_recorded(make_env) -> None:  # noqa: F811
    env = await make_env()
    await publish_items(env, [1, 2, 3, 4, 5])
    await publish_items(env, [1, 2, 4, 5])
    assert retracted(env) == {"guid:t-3": "vanished"}
    await publish_items(env, [2, 4, 5, 6])  # 1 fell off the end of the feed: no retraction
    assert retracted(env) == {"guid:t-3": "vanished"}


async def test_a_cut_off_or_partial_fetch_implies_nothing(make_env) -> None:  # noqa: F811
    env = await make_env()
    await publish_items(env, [1, 2, 3, 4, 5])
    whole = rss(*(neutral(n) for n in (5, 4, 2, 1)))
    env.feeds.serve("/wire.xml", feed(whole[: whole.index(b"<item><title>Item 1")]))  # cut: 1 and the end lost
    await env.poll("wire")
    broken = rss(*(neutral(n) for n in (5, 4, 2, 1))).replace(b"<title>Item 4", b"<title>Item 4 &nbsp;")
    env.feeds.serve("/wire.xml", feed(broken))  # malformed (feedparser recovers): partial
    report = await env.poll("wire")
    assert report.partial
    assert retracted(env) == {}


async def test_a_feed_that_changed_its_ids_is_no_mass_retraction(make_env, caplog) -> None:  # noqa: F811
    env = await make_env()
    await publish_items(env, list(range(1, 9)))
    renamed = [neutral(8), *(type(neutral(n))(**{**neutral(n).__dict__, "guid": f"new-{n}"}) for n in range(7, 1, -1)),
               neutral(1)]
    env.feeds.serve("/wire.xml", feed(rss(*renamed)))
    with caplog.at_level(logging.WARNING, logger="monitor.poll"):
        await env.poll("wire")
    assert retracted(env) == {}
    assert any("not taken as retractions" in r.getMessage() for r in caplog.records)


# -- alerts and history -----------------------------------------------------------------------------------------

GAIN_POST = "Ukrainian forces recaptured Izium and entered the city of Kharkiv region villages, the general staff said."


@pytest.mark.parametrize(("on_retraction", "sent", "alerts"), [
    pytest.param(True, True, 1, id="asked, alert sent: one retraction alert"),
    pytest.param(True, False, 0, id="asked, alert not sent yet: recorded only"),
    pytest.param(False, True, 0, id="not asked: recorded only"),
])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_retraction_alerts_only_when_the_watch_asks_and_the_alert_was_sent(
        make_env, caplog, request, database: str, on_retraction: bool, sent: bool, alerts: int) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    url = request.getfixturevalue("pg_url") if database == "postgresql" else None
    env = await make_env(database_url=url, on_retraction=on_retraction)
    posts = bulletins(range(200, 206), {203: GAIN_POST})
    assert (await show(env, posts)).alerts == 1
    if sent:
        await send_all(env)
    await show(env, {n: t for n, t in posts.items() if n != 203})
    assert retracted(env) == {key(203): "deleted"}
    found = rows(env, "retraction")
    assert len(found) == alerts
    if alerts:
        [first] = rows(env, "new")
        text = found[0]["payload"]["excerpt"]
        assert "The post was deleted from the channel." in text and first["alert_uid"] in text
        await send_all(env)
        assert any("Retracted: " in r.getMessage() for r in caplog.records if r.name == "monitor.alerts")
    page = views.story_page(env.ctx.engine, 4)
    assert page is not None and page.retracted_at is not None
    out = history.story_text(page, views.cluster_alerts(env.ctx.engine, page.cluster_id))
    assert "  Retracted:  2022-09-11 16:00:00 UTC (deleted from the channel)" in out
