"""Per-watch ``followups: off | digest | thread`` and ``min_sources``, end to end: feeds on 127.0.0.1 polled by the
pipeline, rows through the real outbox, delivered by the built-in log channel."""

from __future__ import annotations

import logging

import pytest

from monitor.config import parse_text
from monitor.errors import ConfigError
from monitor.followups import Policy, policy
from tests.cluster_env import (  # noqa: F401  (fixtures)
    COPY,
    REWRITE_1,
    REWRITE_2,
    STORY,
    TITLE,
    feeds,
    make_env,
    publish,
    rows,
    send_all,
    story,
)
from tests.test_pipeline import Item


def sent_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "monitor.alerts"]


async def test_off_ignores_later_sources(make_env) -> None:  # noqa: F811
    env = await make_env(followups="off")
    await publish(env, "wire", story(STORY, "w-1"))
    await publish(env, "kyiv", story(REWRITE_1, "k-1"))
    await publish(env, "blog", story(REWRITE_2, "b-1"))
    assert [r["kind"] for r in rows(env)] == ["new"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


async def test_digest_collects_later_sources_into_the_next_digest(make_env, caplog, database) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    env = await make_env(database_url=database)  # followups: digest is the default
    await publish(env, "wire", story(STORY, "w-1"))
    await publish(env, "scraper", story(COPY, "s-1"))  # a copy: not a source of its own
    await publish(env, "kyiv", story(REWRITE_1, "k-1"))
    await send_all(env)  # the first alert goes out; the sources row waits for the hourly digest
    assert len(sent_messages(caplog)) == 1
    await publish(env, "blog", story(REWRITE_2, "b-1"))  # joins the waiting row
    [row] = rows(env, "sources")
    assert row["payload"]["sources"] == ["kyiv", "blog"] and row["status"] == "digest"
    assert "Now 3 independent sources." in row["payload"]["excerpt"]
    env.clock.advance(hours=1)
    await send_all(env)
    digest = sent_messages(caplog)[-1]
    assert "+2 sources: kyiv, blog — Ukraine recaptures Izium" in digest
    assert rows(env, "sources")[0]["status"] == "sent"
    assert len(sent_messages(caplog)) == 2  # one digest message, not one per source


async def test_a_source_after_the_digest_went_opens_a_new_row(make_env) -> None:  # noqa: F811
    env = await make_env()
    await publish(env, "wire", story(STORY, "w-1"))
    await publish(env, "kyiv", story(REWRITE_1, "k-1"))
    env.clock.advance(hours=1)
    await send_all(env)
    env.clock.advance(hours=1)
    await send_all(env)
    await publish(env, "blog", story(REWRITE_2, "b-1"))
    assert [(r["status"], r["payload"]["sources"]) for r in rows(env, "sources")] == [
        ("sent", ["kyiv"]), ("pending", ["blog"])]


async def test_thread_sends_a_short_follow_up_quoting_the_first_alert(make_env, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    env = await make_env(followups="thread")
    await publish(env, "wire", story(STORY, "w-1"))
    await send_all(env)
    await publish(env, "scraper", story(COPY, "s-1"))  # a copy: no follow-up
    await publish(env, "kyiv", story(REWRITE_1, "k-1"))
    [first] = rows(env, "new")
    [follow] = rows(env, "followup")
    assert follow["payload"]["link"] == "https://news.example.org/k-1"
    await send_all(env)
    message = sent_messages(caplog)[-1]
    assert "Follow-up: Ukraine recaptures Izium" in message
    assert "+1 source: kyiv (now 2 independent sources)." in message
    assert f"First alert: {TITLE} — https://news.example.org/w-1 ({first['alert_uid']})" in message
    assert len(sent_messages(caplog)) == 2


async def test_min_sources_alerts_when_the_nth_independent_source_joins(make_env) -> None:  # noqa: F811
    env = await make_env(min_sources=2)
    assert (await publish(env, "wire", story(STORY, "w-1"))).alerts == 0
    assert (await publish(env, "scraper", story(COPY, "s-1"))).alerts == 0  # copies do not corroborate
    report = await publish(env, "kyiv", story(REWRITE_1, "k-1"))
    assert report.alerts == 1
    [alert] = rows(env, "new")
    kyiv_story = 3
    assert alert["story_id"] == kyiv_story and alert["payload"]["sources"] == ["wire", "scraper", "kyiv"]
    await publish(env, "blog", story(REWRITE_2, "b-1"))
    assert len(rows(env, "new")) == 1 and len(rows(env, "sources")) == 1  # the third is a follow-up


async def test_min_sources_keeps_the_max_age_rule(make_env) -> None:  # noqa: F811
    env = await make_env(min_sources=2)
    await publish(env, "wire", story(STORY, "w-1"))
    old = Item(TITLE, REWRITE_1, guid="k-1", date="Mon, 29 Aug 2022 09:00:00 +0000")  # 13 days before the clock
    assert (await publish(env, "kyiv", old)).alerts == 0
    assert rows(env) == []


def test_watch_keys_are_validated_and_default() -> None:
    base = "watches:\n  - {name: w, any: [x]%s}\n"
    cfg = parse_text(base % "", "t.yaml", environ={})
    assert policy(cfg, "w") == Policy("digest", 1, False) and policy(cfg, "gone") == Policy()
    cfg = parse_text(base % ", followups: thread, min_sources: 3, on_retraction: true", "t.yaml", environ={})
    assert policy(cfg, "w") == Policy("thread", 3, True)
    for bad in (", followups: sometimes", ", min_sources: 0", ", on_retraction: maybe"):
        with pytest.raises(ConfigError):
            parse_text(base % bad, "t.yaml", environ={})
