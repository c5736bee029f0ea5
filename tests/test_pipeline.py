"""pipeline.poll_source against a real migrated SQLite file and feeds served on 127.0.0.1.

Each test scripts what the loopback feed server answers per path, polls with an injected FakeClock,
and checks the PollReport together with what the store kept: the source's state (validators, error
count, backoff) and the outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import random
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select
from sqlalchemy.exc import DataError, OperationalError

from monitor.config import Config, Source, parse_text
from monitor.context import Context, compile_for, load_gazetteer, open_context
from monitor.gazetteer import Gazetteer
from monitor.group_commit import GroupCommit
from monitor.models import PollReport
from monitor.pipeline import MAX_BACKOFF, poll_source
from monitor.store import alerts as store_alerts
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import stories, story_versions
from tests.conftest import FakeClock
from tests.loopback import Reply, Request

RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"
INTERVAL = timedelta(minutes=5)
JITTER = timedelta(seconds=30)

CONFIG = """\
database: sqlite:///{dir}/unused.db
settings:
  alerts_file: {dir}/alerts.jsonl
  interval: 5m
  jitter: 30s
  adaptive: false
sources:
  - {{name: wire, url: "{base}/wire.xml"}}
  - {{name: copy, url: "{base}/copy.xml"}}
  - {{name: tg, type: telegram, channel: frontnews, url: "{base}/s/frontnews"}}
watches:
  - {{name: w, preset: territorial-gain, places: [Izium, Kharkiv], notify: [log]}}
"""

IZIUM = (
    "Ukrainian forces recaptured the city of Izium on Saturday after Russian troops withdrew from "
    "positions around it, the general staff said in its evening briefing.\n"
    "Officials in Kharkiv said the retreat left behind armoured vehicles, ammunition depots and "
    "field hospitals, and that engineers were clearing mines from the main roads into the city.\n"
    "Residents who stayed through the occupation described months of shortages of food, medicine "
    "and fuel, and said most of the centre had been damaged by months of artillery fire."
)


# -- a scriptable feed server -----------------------------------------------------------------------------


class FeedServer:
    """HTTP on 127.0.0.1: per path, the scripted replies in order (the last one repeats); else 404."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def serve(self, path: str, *replies: Reply) -> None:
        """Replace the script for ``path``."""
        with self._lock:
            self.routes[path] = list(replies)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self.routes.get(request.path)
            if not queue:
                return Reply(status=404, body=b"not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._reply(Request("GET", self.path, headers, b""))
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.status != 304:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.status != 304:
                self.wfile.write(reply.body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


# -- feed builders ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    title: str
    body: str = ""
    guid: str | None = None
    link: str | None = None
    date: str | None = None  # RFC 822 pubDate


def rss(*items: Item) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>t</title>'
        "<link>https://wire.example/</link><description>d</description>"
    ]
    for it in items:
        parts.append("<item>")
        parts.append(f"<title>{html.escape(it.title)}</title>")
        if it.guid is not None:
            parts.append(f'<guid isPermaLink="false">{html.escape(it.guid)}</guid>')
        if it.link is not None:
            parts.append(f"<link>{html.escape(it.link)}</link>")
        if it.body:
            parts.append(f"<description>{html.escape(it.body)}</description>")
        if it.date:
            parts.append(f"<pubDate>{it.date}</pubDate>")
        parts.append("</item>\n")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def feed(
    body: bytes,
    *,
    ctype: str = RSS,
    etag: str | None = None,
    status: int = 200,
    extra: tuple[tuple[str, str], ...] = (),
) -> Reply:
    headers = (("Content-Type", ctype),) + ((("ETag", etag),) if etag else ()) + extra
    return Reply(status=status, body=body, headers=headers)


WORDS = [
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "glade",
    "harbor",
    "island",
    "juniper",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchard",
    "pebble",
    "quarry",
    "river",
    "saddle",
    "timber",
    "upland",
    "valley",
    "willow",
    "yarrow",
    "zephyr",
]


def neutral(n: int) -> Item:
    """A distinct story that matches no watch."""
    words = " ".join(WORDS[(n * 7 + i) % len(WORDS)] for i in range(12))
    return Item(
        title=f"Item {n} {WORDS[n % len(WORDS)]}",
        guid=f"t-{n}",
        link=f"https://t.example.org/{n}",
        body=f"Body of item {n}: {words}. Number {n} again, {words.upper()}.",
    )


def tg_page(channel: str, ids: range) -> bytes:
    posts = "".join(
        f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message js-widget_message" '
        f'data-post="{channel}/{n}"><div class="tgme_widget_message_bubble">'
        f'<div class="tgme_widget_message_text js-message_text">Bulletin {n}: '
        f"{' '.join(WORDS[(n + i) % len(WORDS)] for i in range(8))} {n * 37}</div>"
        f'<a class="tgme_widget_message_date" href="https://t.me/{channel}/{n}">'
        f'<time datetime="2022-09-11T09:00:00+00:00">09:00</time></a></div></div></div>'
        for n in ids
    )
    return (
        f'<!DOCTYPE html><html><head><meta property="og:title" content="{channel}"></head><body>'
        f'<div class="tgme_channel_info"></div><section>{posts}</section></body></html>'
    ).encode()


# -- the environment --------------------------------------------------------------------------------------


@functools.cache
def gazetteer() -> Gazetteer:
    return load_gazetteer()


@dataclass
class Env:
    ctx: Context
    feeds: FeedServer
    clock: FakeClock

    def source(self, name: str) -> Source:
        return next(s for s in self.ctx.config.sources if s.name == name)

    async def poll(self, name: str = "wire", *, force: bool = True) -> PollReport:
        """Poll now (``force``: whether or not the source is due, as the tests step the clock freely)."""
        return await poll_source(self.ctx, self.source(name), force=force)

    def state(self, name: str = "wire") -> store_sources.SourceState:
        s = self.source(name)
        return store_sources.ensure(self.ctx.engine, s.name, s.fetch_url)

    def outbox(self) -> dict[str, int]:
        return store_alerts.counts(self.ctx.engine)

    def stories(self) -> list[dict[str, Any]]:
        with self.ctx.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(stories).order_by(stories.c.id)).mappings()]

    def versions(self) -> list[tuple[int, int, str]]:
        query = select(story_versions.c.story_id, story_versions.c.version, story_versions.c.title)
        with self.ctx.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query.order_by(story_versions.c.id))]

    def naive_now(self) -> datetime:
        return self.clock().replace(tzinfo=None)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@contextlib.asynccontextmanager
async def pipeline_context(
    cfg: Config, clock: FakeClock, database_url: str, *, seed: int = 1234, **options: Any
) -> AsyncIterator[Context]:
    """``open_context`` on the shared gazetteer with seeded jitter: what the pipeline tests run on."""
    async with open_context(cfg, watchlist=compile_for(cfg, gazetteer()), clock=clock, database_url=database_url,
                            gazetteer=gazetteer(), **options) as ctx:
        ctx.rng = random.Random(seed)
        yield ctx


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock, feeds: FeedServer) -> AsyncIterator[Env]:
    cfg = parse_text(CONFIG.format(dir=tmp_path, base=feeds.base), "t.yaml", environ={})
    async with pipeline_context(cfg, clock, f"sqlite:///{tmp_path}/t.db") as ctx:
        yield Env(ctx, feeds, clock)


# -- conditional GET --------------------------------------------------------------------------------------


async def test_304_sends_the_stored_etag_skips_the_parse_and_resets_the_error_count(env: Env) -> None:
    env.feeds.serve(
        "/wire.xml",
        feed(rss(neutral(1)), etag='"v1"'),
        feed(b"", status=500),
        Reply(status=304, body=b"", headers=(("ETag", '"v1"'),)),
    )
    first = await env.poll()
    assert (first.fetched, first.new_stories, first.error_kind) == (True, 1, None)
    assert env.state().etag == '"v1"'

    env.clock.advance(minutes=5)
    failed = await env.poll(force=True)
    assert failed.error_kind == "http_status"
    assert (env.state().error_count, env.state().etag) == (1, '"v1"')  # a failure keeps the validators

    env.clock.advance(minutes=5)
    report = await env.poll(force=True)
    assert report == PollReport(source="wire", fetched=True, not_modified=True)  # no items: nothing parsed
    assert env.feeds.hits("/wire.xml")[-1].headers.get("if-none-match") == '"v1"'
    state = env.state()
    assert (state.error_count, state.last_error_kind) == (0, None)
    assert INTERVAL <= _delay(state, env.naive_now()) <= INTERVAL + JITTER  # due again after the interval
    assert state.etag == '"v1"'
    assert state.last_success_at == env.naive_now()
    assert len(env.stories()) == 1


async def test_first_poll_sends_no_validators(env: Env) -> None:
    env.feeds.serve("/wire.xml", feed(rss(neutral(1))))
    await env.poll()
    headers = env.feeds.hits("/wire.xml")[0].headers
    assert "if-none-match" not in headers and "if-modified-since" not in headers
    assert env.state().etag is None


# -- failures, backoff and recovery -----------------------------------------------------------------------


def _delay(state: store_sources.SourceState, now: datetime) -> timedelta:
    assert state.next_poll_at is not None
    return state.next_poll_at - now


async def test_html_login_page_is_not_a_feed_and_backs_off_until_recovery(env: Env) -> None:
    login = (Path(__file__).parent / "data" / "feeds" / "login.html").read_bytes()
    env.feeds.serve("/wire.xml", feed(login, ctype=HTML))

    report = await env.poll(force=False)
    assert report.error_kind == "not_a_feed" and not report.fetched and report.new_stories == 0
    state = env.state()
    assert (state.error_count, state.last_error_kind) == (1, "not_a_feed")
    assert INTERVAL <= _delay(state, env.naive_now()) <= INTERVAL + JITTER

    # Still backing off: no request at all.
    requests = len(env.feeds.requests)
    env.clock.advance(minutes=1)
    skipped = await env.poll(force=False)
    assert skipped == PollReport(source="wire", notes=("not due",))
    assert len(env.feeds.requests) == requests and env.state().error_count == 1

    # force polls anyway (burst mode); the second failure doubles the delay.
    forced = await env.poll(force=True)
    assert forced.error_kind == "not_a_feed" and len(env.feeds.requests) == requests + 1
    state = env.state()
    assert state.error_count == 2
    assert 2 * INTERVAL <= _delay(state, env.naive_now()) <= 2 * INTERVAL + JITTER


async def test_backoff_doubles_up_to_six_hours_and_never_parks_the_feed(env: Env) -> None:
    """S11: three days of failures, polled whenever due; the delay caps at 6 h and a good answer resets it."""
    env.feeds.serve("/wire.xml", feed(b"<html><body>Service unavailable</body></html>", ctype=HTML))
    delays = []
    for _ in range(40):  # bounded: the loop ends after ~3 days of fake time
        if env.clock() - FakeClock().now > timedelta(days=3):
            break
        report = await env.poll(force=False)
        assert report.error_kind == "not_a_feed"
        state = env.state()
        delays.append(_delay(state, env.naive_now()))
        env.clock.now = state.next_poll_at.replace(tzinfo=env.clock.now.tzinfo) + timedelta(seconds=1)
    assert len(delays) < 40
    for n, delay in enumerate(delays):
        base = min(INTERVAL * 2**n, MAX_BACKOFF)
        assert base <= delay <= base + JITTER, (n, delay)
    assert delays[-1] >= MAX_BACKOFF and env.state().error_count == len(delays)

    env.feeds.serve("/wire.xml", feed(rss(neutral(1))))
    recovered = await env.poll(force=False)  # the clock is past next_poll_at
    assert recovered.error_kind is None and recovered.new_stories == 1
    state = env.state()
    assert (state.error_count, state.last_error_kind) == (0, None)
    assert INTERVAL <= _delay(state, env.naive_now()) <= INTERVAL + JITTER  # reset to the interval


@pytest.mark.parametrize(
    ("reply", "kind", "at_least"),
    [
        pytest.param(feed(b""), "empty_body", INTERVAL, id="empty 200 body is empty_body"),
        pytest.param(feed(b" \n\t \n"), "empty_body", INTERVAL, id="whitespace-only body is empty_body"),
        pytest.param(
            feed(b'{"error": "rate limited"}', ctype="application/json"),
            "not_a_feed",
            INTERVAL,
            id="json error body is not_a_feed",
        ),
        pytest.param(
            Reply(status=429, body=b"slow down", headers=(("Retry-After", "600"),)),
            "http_status",
            timedelta(seconds=600),
            id="429 honours Retry-After 600",
        ),
        pytest.param(
            Reply(status=503, body=b"<html>wait</html>", headers=(("Retry-After", "99999"),)),
            "http_status",
            MAX_BACKOFF,
            id="503 Retry-After is capped at 6h",
        ),
        pytest.param(Reply(status=500, body=b"boom"), "http_status", INTERVAL, id="500 is http_status"),
        pytest.param(Reply(status=404, body=b"gone"), "http_status", INTERVAL, id="404 is http_status"),
    ],
)
async def test_bad_responses_are_classified_and_back_off(
    env: Env, reply: Reply, kind: str, at_least: timedelta
) -> None:
    env.feeds.serve("/wire.xml", feed(rss(neutral(1))), reply)
    await env.poll()
    env.clock.advance(minutes=5)
    report = await env.poll()
    assert (report.error_kind, report.fetched, report.new_stories) == (kind, False, 0)
    assert report.error and "/wire.xml" in report.error
    state = env.state()
    assert (state.error_count, state.last_error_kind) == (1, kind)
    assert at_least <= _delay(state, env.naive_now()) <= at_least + JITTER
    assert len(env.stories()) == 1  # a failure never deletes what was stored


async def test_a_failure_is_logged_with_its_kind(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.feeds.serve("/wire.xml", feed(b""))
    with caplog.at_level(logging.WARNING, logger="monitor.poll"):
        await env.poll()
    assert any("error=empty_body" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


# -- feed content -----------------------------------------------------------------------------------------


async def test_truncated_feed_processes_new_entries_and_deletes_nothing(env: Env) -> None:
    """F12: a feed cut off mid-document is a partial success."""
    env.feeds.serve("/wire.xml", feed(rss(*(neutral(n) for n in reversed(range(10))))))
    first = await env.poll()
    assert (first.new_stories, first.partial) == (10, False)

    whole = rss(*(neutral(n) for n in reversed(range(20))))
    cut = whole.index(b"<description>", whole.index(b">t-10<")) + 30  # inside item 10's body
    env.feeds.serve("/wire.xml", feed(whole[:cut]))
    env.clock.advance(minutes=5)
    report = await env.poll()
    assert report.partial and report.error_kind is None
    assert (report.items, report.new_stories, report.new_versions) == (9, 9, 0)  # items 19..11
    assert report.notes == ("cut-off last entry held back",)  # item 10 came without its body
    keys = {s["key"] for s in env.stories()}
    assert keys == {f"guid:t-{n}" for n in range(20) if n != 10}  # nothing from the full fetch is gone
    state = env.state()
    assert (state.error_count, state.last_error_kind) == (0, "parse_partial")
    assert INTERVAL <= _delay(state, env.naive_now()) <= INTERVAL + JITTER  # a success: polled at the interval

    env.feeds.serve("/wire.xml", feed(whole))
    env.clock.advance(minutes=5)
    healed = await env.poll()
    assert (healed.partial, healed.new_stories, healed.new_versions) == (False, 1, 0)
    assert env.state().last_error_kind is None
    assert len(env.stories()) == 20 and len(env.versions()) == 20


IZIUM_ITEM = Item("Ukrainian forces recaptured Izium", IZIUM, guid="g1", link="https://wire.example/izium")
CUT_FEED = rss(neutral(1), IZIUM_ITEM, neutral(2))


def _cut_after(marker: bytes) -> bytes:
    at = CUT_FEED.index(b"recaptured Izium")
    return CUT_FEED[: CUT_FEED.index(marker, at) + len(marker)]


@pytest.mark.parametrize(
    "truncated",
    [
        pytest.param(_cut_after(b"</title>"), id="cut after the title: no phantom story under a title hash"),
        pytest.param(_cut_after(b"</guid>"), id="cut after the guid"),
        pytest.param(_cut_after(b"<description>Ukrainian forces"), id="cut inside the body"),
    ],
)
@pytest.mark.parametrize("known", [pytest.param(False, id="unseen"), pytest.param(True, id="known")])
async def test_entry_at_the_cut_is_held_back_until_a_complete_fetch(env: Env, truncated: bytes, known: bool) -> None:
    """A cut-off entry never becomes a phantom story (a second alert later) or a text-deleting version."""
    if known:
        env.feeds.serve("/wire.xml", feed(CUT_FEED))
        assert (await env.poll()).alerts == 1
        env.clock.advance(minutes=5)
    env.feeds.serve("/wire.xml", feed(truncated))
    report = await env.poll()
    assert report.partial and (report.items, report.new_versions, report.alerts) == (1, 0, 0)
    assert "guid:g1" not in {s["key"] for s in env.stories()} or known
    assert not any(s["key"].startswith("hash:") for s in env.stories())

    env.feeds.serve("/wire.xml", feed(CUT_FEED))
    env.clock.advance(minutes=5)
    await env.poll()
    assert {s["key"] for s in env.stories()} == {"guid:t-1", "guid:g1", "guid:t-2"}
    assert len(env.versions()) == 3 and env.outbox() == {"pending": 1}


async def test_complete_last_entry_of_a_malformed_feed_is_kept(env: Env) -> None:
    """An undefined entity (&nbsp;) makes every parse partial; its complete last entry must still count."""
    body = rss(neutral(1), IZIUM_ITEM).replace(b"<title>Item 1", b"<title>Item&nbsp;1")
    env.feeds.serve("/wire.xml", feed(body))
    report = await env.poll()
    assert report.partial and (report.items, report.new_stories, report.alerts) == (2, 2, 1)
    assert report.notes == () and env.state().last_error_kind == "parse_partial"


async def test_duplicate_and_missing_guids_give_one_story_per_identity(env: Env) -> None:
    """F19: a repeated GUID keeps its first item; items without GUID fall back to link, then title."""
    env.feeds.serve(
        "/wire.xml",
        feed(
            rss(
                Item("one", guid="same", link="https://dup.example.org/1"),
                Item("two", guid="same", link="https://dup.example.org/2"),
                Item("three, neither guid nor link"),
                Item("four, no guid", link="https://dup.example.org/4?utm_source=x"),
                Item("five, shares a link", guid="g5", link="https://dup.example.org/shared"),
                Item("six, shares the same link", guid="g6", link="https://dup.example.org/shared"),
            )
        ),
    )
    report = await env.poll()
    assert (report.items, report.new_stories, report.duplicates) == (5, 5, 0)
    by_key = {s["key"]: s["title"] for s in env.stories()}
    assert by_key["guid:same"] == "one"
    assert by_key["link:https://dup.example.org/4"] == "four, no guid"
    assert (by_key["guid:g5"], by_key["guid:g6"]) == ("five, shares a link", "six, shares the same link")
    assert [t for k, t in by_key.items() if k.startswith("hash:")] == ["three, neither guid nor link"]

    env.clock.advance(minutes=5)
    again = await env.poll()  # the same feed again: every identity is stable
    assert (again.new_stories, again.new_versions) == (0, 0)
    assert len(env.stories()) == 5


async def test_edited_title_is_a_version_without_a_second_alert(env: Env) -> None:
    """F24: same GUID, edited title -> a version row; a punctuation/whitespace-only edit -> nothing."""
    title = "Ukrainian forces recaptured Izium"
    env.feeds.serve("/wire.xml", feed(rss(Item(title, IZIUM, guid="g1", link="https://wire.example/izium"))))
    first = await env.poll()
    assert (first.new_stories, first.alerts) == (1, 1)
    assert env.outbox() == {"pending": 1}

    edited = "Ukrainian forces recaptured Izium, officials say"
    env.feeds.serve("/wire.xml", feed(rss(Item(edited, IZIUM, guid="g1", link="https://wire.example/izium"))))
    env.clock.advance(minutes=5)
    report = await env.poll()
    assert (report.new_stories, report.new_versions, report.alerts) == (0, 1, 0)
    assert [(v, t) for _, v, t in env.versions()] == [(1, title), (2, edited)]
    assert env.outbox() == {"pending": 1}
    assert env.stories()[0]["title"] == edited

    cosmetic = "  “Ukrainian   forces recaptured IZIUM — officials say!”  "
    spaced = IZIUM.replace(". ", ".  ").replace(",", " ,")
    env.feeds.serve("/wire.xml", feed(rss(Item(cosmetic, spaced, guid="g1", link=IZIUM_ITEM.link))))
    env.clock.advance(minutes=5)
    same = await env.poll()
    assert (same.new_stories, same.new_versions, same.alerts) == (0, 0, 0)
    assert len(env.versions()) == 2 and env.outbox() == {"pending": 1}


@pytest.mark.parametrize(
    "guid", [pytest.param(None, id="identity from link"), pytest.param("g1", id="identity from guid")]
)
async def test_tracking_parameter_change_is_neither_a_story_nor_a_version(env: Env, guid: str | None) -> None:
    link = "https://wire.example/izium?id=7&utm_source=rss&utm_medium=feed"
    env.feeds.serve("/wire.xml", feed(rss(Item(IZIUM_ITEM.title, IZIUM, guid=guid, link=link))))
    await env.poll()
    moved = "https://wire.example/izium?utm_campaign=tg&id=7&fbclid=abc#top"
    env.feeds.serve("/wire.xml", feed(rss(Item(IZIUM_ITEM.title, IZIUM, guid=guid, link=moved))))
    env.clock.advance(minutes=5)
    report = await env.poll()
    assert (report.new_stories, report.new_versions, report.alerts) == (0, 0, 0)
    [story] = env.stories()
    assert story["url"] == "https://wire.example/izium?id=7"
    assert len(env.versions()) == 1 and env.outbox() == {"pending": 1}


@pytest.mark.parametrize(
    ("second", "gap"),
    [
        pytest.param(range(140, 156), True, id="ids 100-115 then 140-155 is a possible gap"),
        pytest.param(range(110, 126), False, id="overlapping pages are no gap"),
        pytest.param(range(116, 132), False, id="adjacent pages are no gap"),
        pytest.param(range(100, 116), False, id="the same page is no gap"),
    ],
)
async def test_telegram_gap_between_polls(env: Env, caplog: pytest.LogCaptureFixture, second: range, gap: bool) -> None:
    """F22: a t.me/s page shows only the latest posts; a jump past the last seen id is flagged."""
    env.feeds.serve("/s/frontnews", feed(tg_page("frontnews", range(100, 116)), ctype=HTML))
    first = await env.poll("tg")
    assert (first.items, first.new_stories, first.possible_gap) == (16, 16, False)
    assert env.state("tg").last_post_id == 115

    env.feeds.serve("/s/frontnews", feed(tg_page("frontnews", second), ctype=HTML))
    env.clock.advance(minutes=5)
    with caplog.at_level(logging.WARNING, logger="monitor.poll"):
        report = await env.poll("tg")
    assert report.possible_gap is gap and report.error_kind is None
    assert env.state("tg").last_post_id == max(second)
    warned = [r for r in caplog.records if "possible_gap=true" in r.getMessage()]
    assert [r.levelno for r in warned] == ([logging.WARNING] if gap else [])
    assert len(env.stories()) == len(set(range(100, 116)) | set(second))


# -- clustering and matching ------------------------------------------------------------------------------


COPY = Item(
    "Russian troops withdraw as Ukraine retakes Izium",
    IZIUM + "\nRead more\nShare this article",
    guid="copy-9",
    link="https://copy.example/izium",
)


@pytest.mark.parametrize(
    ("later", "duplicates", "alerts"),
    [
        pytest.param(timedelta(hours=1), 1, 0, id="copy within the window joins the cluster"),
        pytest.param(timedelta(hours=73), 0, 1, id="copy after the 72h window is a new story"),
    ],
)
async def test_near_duplicate_in_another_source(env: Env, later: timedelta, duplicates: int, alerts: int) -> None:
    env.feeds.serve(
        "/wire.xml",
        feed(rss(Item("Ukrainian forces recaptured Izium", IZIUM, guid="g1", link="https://wire.example/izium"))),
    )
    env.feeds.serve("/copy.xml", feed(rss(COPY)))
    original = await env.poll("wire")
    assert original.alerts == 1

    env.clock.now += later
    report = await env.poll("copy")
    assert (report.new_stories, report.duplicates, report.alerts) == (1, duplicates, alerts)
    assert env.outbox() == {"pending": 1 + alerts}
    clusters = [s["cluster_id"] for s in env.stories()]
    assert (clusters[0] == clusters[1]) is bool(duplicates)


async def test_prisoner_recaptured_in_ohio_creates_no_alert(env: Env) -> None:
    env.feeds.serve(
        "/wire.xml",
        feed(
            rss(
                Item(
                    "Police recaptured an escaped prisoner in Ohio",
                    "Police in Ohio recaptured an escaped prisoner on Sunday after a two-day search; officers said he "
                    "withdrew from a hiding place near the river when a helicopter crew spotted him.",
                    guid="ohio-1",
                    link="https://ohio.example/prisoner",
                )
            )
        ),
    )
    report = await env.poll()
    assert (report.new_stories, report.alerts) == (1, 0)
    assert env.outbox() == {}


async def test_matching_story_queues_one_alert_per_channel(env: Env) -> None:
    env.feeds.serve(
        "/wire.xml",
        feed(
            rss(
                Item("Ukrainian forces recaptured Izium", IZIUM, guid="g1", link="https://wire.example/izium"),
                neutral(2),
            )
        ),
    )
    report = await env.poll()
    assert (report.items, report.new_stories, report.alerts) == (2, 2, 1)
    assert env.outbox() == {"pending": 1}
    env.clock.advance(minutes=5)
    again = await env.poll()
    assert (again.new_stories, again.alerts) == (0, 0) and env.outbox() == {"pending": 1}


@pytest.mark.parametrize(("date", "alerts"), [
    pytest.param("Sun, 11 Sep 2022 15:00:00 GMT", 1, id="published an hour ago: alerts"),
    pytest.param("Thu, 01 Sep 2022 15:00:00 GMT", 0, id="ten days old on first sight: stored, no alert"),
])
async def test_a_new_feeds_backlog_does_not_alert(env: Env, date: str, alerts: int) -> None:
    env.feeds.serve("/wire.xml", feed(rss(Item("Izium recaptured", IZIUM, guid="g-1", date=date))))
    report = await env.poll()
    assert (report.new_stories, report.alerts) == (1, alerts)


@pytest.mark.parametrize("n", range(4))
async def test_copies_polled_at_the_same_moment_alert_once(env: Env, n: int) -> None:
    """Two sources carrying one story, polled concurrently (as `once` and the scheduler do)."""
    wire = Item(f"Ukrainian forces recaptured Izium ({n})", IZIUM, guid=f"w{n}")
    copy = Item(f"Izium retaken, officials say ({n}) - Copy Site", IZIUM + "\nRead more", guid=f"c{n}")
    env.feeds.serve("/wire.xml", feed(rss(wire)))
    env.feeds.serve("/copy.xml", feed(rss(copy)))
    reports = await asyncio.gather(env.poll("wire"), env.poll("copy"))
    assert sorted(r.duplicates for r in reports) == [0, 1]
    assert sum(r.alerts for r in reports) == 1, reports
    assert env.outbox() == {"pending": 1}


@pytest.mark.parametrize(
    ("error", "skipped"),
    [
        pytest.param(DataError("INSERT", {}, Exception("value too long")), True, id="refused data: entry skipped"),
        pytest.param(OperationalError("INSERT", {}, Exception("disk I/O error")), False,
                     id="database failure: the poll fails"),
    ],
)
async def test_an_entry_the_database_refuses_does_not_sink_the_feed(
    env: Env, monkeypatch: pytest.MonkeyPatch, error: Exception, skipped: bool
) -> None:
    good = Item("Ukrainian forces recaptured Izium", IZIUM, guid="good")
    bad = Item("Kharkiv: Russian troops withdrew from two villages", "Russian troops withdrew from "
               "two villages north of Kharkiv, the regional governor said on Sunday evening.", guid="bad")
    env.feeds.serve("/wire.xml", feed(rss(good, bad), etag='"v1"'))
    real = store_stories.insert_new

    def refuse_bad(engine: Any, source_id: int, story: Any, *args: Any) -> Any:
        if story.key == "guid:bad":
            raise error
        return real(engine, source_id, story, *args)

    monkeypatch.setattr(store_stories, "insert_new", refuse_bad)
    report = await env.poll()
    if skipped:
        assert (report.new_stories, report.failed_items, report.alerts, report.error_kind) == (1, 1, 1, None)
        assert env.state().etag is None  # not kept: the next poll must fetch the refused entry again
    else:
        assert report.error_kind == "store" and env.state().error_count == 1
        assert env.state().next_poll_at is not None
    monkeypatch.setattr(store_stories, "insert_new", real)
    env.clock.advance(hours=1)
    again = await env.poll()
    assert (again.failed_items, again.error_kind) == (0, None)
    assert env.outbox() == {"pending": 2}  # both stories alerted exactly once in the end
    assert env.state().etag == '"v1"'


def test_a_very_long_guid_is_stored_as_its_hash() -> None:
    from monitor.models import RawItem
    from monitor.normalize import normalize

    story = normalize(RawItem(guid="x" * 600, link=None, title="t", html="b"))
    assert story.key.startswith("guid-sha256:") and len(story.key) <= 256


async def test_an_edit_to_an_old_backlog_story_never_alerts(env: Env) -> None:
    old = "Thu, 01 Sep 2022 15:00:00 GMT"  # ten days before the clock: backlog
    env.feeds.serve("/wire.xml", feed(rss(Item("Izium recaptured", IZIUM, guid="g-old", date=old))))
    assert (await env.poll()).alerts == 0
    env.clock.advance(minutes=5)
    edited = IZIUM.replace("evening briefing", "evening briefing on Telegram")
    env.feeds.serve("/wire.xml", feed(rss(Item("Izium recaptured", edited, guid="g-old", date=old))))
    report = await env.poll()
    assert (report.new_versions, report.alerts) == (1, 0)


async def test_correcting_the_spelling_of_a_place_is_no_update(env: Env) -> None:
    base = "Russian troops withdrew from positions near Kharkiv, the general staff said on Sunday."
    v1 = base + "\nUkrainian units entered the city of Izuym on Saturday."
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v1, guid="g-sp"))))
    assert (await env.poll()).alerts == 1
    env.clock.advance(minutes=5)
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v1.replace("Izuym", "Izyum"), guid="g-sp"))))
    report = await env.poll()
    assert (report.new_versions, report.alerts) == (1, 0)
    env.clock.advance(minutes=5)
    v3 = v1.replace("Izuym", "Izyum") + "\nUkrainian forces also recaptured the village of Chkalovske."
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v3, guid="g-sp"))))
    assert (await env.poll()).alerts == 1  # a real addition still alerts


async def test_replacing_one_town_by_another_is_news(env: Env) -> None:
    """Replacing a town's name by a watched one in an existing sentence alerts (the rule itself:
    ``test_spelling_fix_rule_knows_place_names``)."""
    base = "Russian troops withdrew from positions near Kharkiv, the general staff said on Sunday."
    v1 = base + "\nUkrainian units pushed back the enemy near Pokrovske on Saturday."
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v1, guid="g-pk"))))
    assert (await env.poll()).alerts == 1
    env.clock.advance(minutes=5)
    v2 = v1.replace("Pokrovske", "Izium")  # not three letters: plainly news
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v2, guid="g-pk"))))
    assert (await env.poll()).alerts == 1


def test_spelling_fix_rule_knows_place_names() -> None:
    from monitor.diff import compare

    g = gazetteer()
    is_place = lambda w: bool(w[:1].isupper() and g.resolve(w))  # noqa: E731
    before = "Lede.\nUkrainian units pushed back the enemy near Pokrovske on Saturday."
    after = before.replace("Pokrovske", "Pokrovsk")
    assert compare("T", before, "T", after) is None  # without a gazetteer: looks like a typo
    change = compare("T", before, "T", after, is_place=is_place)
    assert change is not None and change.added == ("Ukrainian units pushed back the enemy near Pokrovsk on Saturday.",)
    typo = before.replace("Pokrovske", "Pokrvoske")
    assert compare("T", typo, "T", before, is_place=is_place) is None  # an unknown word corrected: a typo


async def test_a_spelling_fix_beside_an_unrelated_addition_is_no_update(env: Env) -> None:
    """The fixed place counts only if it stands in a sentence the version really added."""
    base = "Russian troops withdrew from positions near Kharkiv, the general staff said on Sunday."
    v1 = base + "\nUkrainian units entered the city of Izuym on Saturday."
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v1, guid="g-add"))))
    assert (await env.poll()).alerts == 1
    env.clock.advance(minutes=5)
    v2 = v1.replace("Izuym", "Izyum") + "\nThe weather on Sunday was cold and wet across the region."
    env.feeds.serve("/wire.xml", feed(rss(Item("Kharkiv front", v2, guid="g-add"))))
    report = await env.poll()
    assert (report.new_versions, report.alerts) == (1, 0)


async def test_a_malformed_feed_whose_last_entry_lacks_a_link_keeps_it(env: Env) -> None:
    """Held back only when the document was cut: a complete feed with &nbsp; keeps a link-less last entry."""
    last = Item("Ukrainian forces recaptured Izium", IZIUM, guid="no-link")  # no <link>, unlike the first
    body = rss(neutral(1), last).replace(b"<title>Item 1", b"<title>Item&nbsp;1")
    env.feeds.serve("/wire.xml", feed(body))
    report = await env.poll()
    assert report.partial and (report.new_stories, report.alerts, report.notes) == (2, 1, ())


async def test_concurrent_unchanged_polls_share_their_transactions(env: Env) -> None:
    """The poll-state fast path: 12 unchanged polls at once read their states in one batch and record their
    results in one (each still waits for its own write), and every source's state is right afterwards."""
    srcs = [Source(name=f"s{k}", url=f"{env.feeds.base}/s{k}.xml") for k in range(12)]
    for k in range(12):
        env.feeds.serve(f"/s{k}.xml", feed(rss(neutral(k)), etag=f'"e{k}"'),
                        Reply(status=304, body=b"", headers=(("ETag", f'"e{k}"'),)))
    first = await asyncio.gather(*(poll_source(env.ctx, s, force=True) for s in srcs))
    assert [r.new_stories for r in first] == [1] * 12
    env.clock.advance(minutes=30)
    env.ctx.host_locks["127.0.0.1"] = asyncio.Semaphore(12)  # one loopback host stands for 12 hosts
    begins: list[object] = []
    count = begins.append  # one bound method, so the same listener is removed
    sqlalchemy_event.listen(env.ctx.engine, "begin", count)
    try:
        reports = await asyncio.gather(*(poll_source(env.ctx, s, force=True) for s in srcs))
    finally:
        sqlalchemy_event.remove(env.ctx.engine, "begin", count)
    assert all(r.not_modified and r.error_kind is None for r in reports)
    # One read for all 12 states, then one write per batch of the polls whose responses arrived together
    # (how many form a batch depends on the server's timing); it was 3 per poll, 36 here.
    assert len(begins) <= 1 + 12, len(begins)
    for k, s in enumerate(srcs):
        state = store_sources.ensure(env.ctx.engine, s.name, s.fetch_url)
        assert (state.etag, state.last_success_at, state.error_count) == (f'"e{k}"', env.naive_now(), 0)
        assert state.next_poll_at is not None and state.next_poll_at > env.naive_now()


async def test_group_commit_batches_calls_of_one_moment_and_fails_a_batch_whole() -> None:
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(items)
        if -1 in items:
            raise OperationalError("stmt", {}, Exception("database is locked"))
        return [i * 10 for i in items]

    async def runner(fn: Any, items: list[int]) -> Any:
        return await asyncio.to_thread(fn, items)

    group: GroupCommit[int, int] = GroupCommit(run, runner, limit=4)
    assert await asyncio.gather(*(group.submit(i) for i in range(6))) == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2, 3], [4, 5]]  # one moment's calls together, at most ``limit`` per batch
    results = await asyncio.gather(group.submit(7), group.submit(-1), return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)  # the batch's transaction failed: every caller
    assert await group.submit(8) == 80  # and the next batch runs


async def test_a_changed_feed_processes_only_its_new_and_changed_entries(env: Env) -> None:
    """Entries unchanged since the last poll stored whole are not normalized and looked up again; a new one and
    an edited one are, and the report still counts every entry."""
    items = [neutral(n) for n in range(20)]
    env.feeds.serve("/wire.xml", feed(rss(*items)))
    assert (await env.poll()).new_stories == 20
    edited = Item(items[3].title, items[3].body + " A correction was added later.", guid="t-3", link=items[3].link)
    env.feeds.serve("/wire.xml", feed(rss(neutral(99), *items[:3], edited, *items[4:])))
    env.clock.advance(minutes=30)
    begins: list[object] = []
    count = begins.append
    sqlalchemy_event.listen(env.ctx.engine, "begin", count)
    try:
        report = await env.poll()
    finally:
        sqlalchemy_event.remove(env.ctx.engine, "begin", count)
    assert (report.items, report.new_stories, report.new_versions) == (21, 1, 1)
    assert len(begins) < 20  # the 19 unchanged entries cost no look-up each (was one transaction per entry)
    env.feeds.serve("/wire.xml", feed(rss(neutral(99), *items[:3], edited, *items[4:], neutral(100))))
    assert (await env.poll()).new_stories == 1
