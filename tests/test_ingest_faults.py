"""Rows F01-F25 and H01-H18 of the reliability contract, end to end.

Each case runs the whole ingest path (``daemon.run_once``: fetch -> parse -> normalize -> store, every source
polled concurrently) against a real migrated SQLite file. A raw loopback HTTP server on 127.0.0.1 serves the
bad response for source ``bad`` while source ``good`` serves a valid feed. Every case checks:

* the bad source's classified error kind, in its ``PollReport`` and stored on its row with a backoff
  (``next_poll_at`` in the future), or, for the inputs the contract accepts, success and what was stored;
* that the healthy source's stories were stored all the same;
* bounded time, and for the bombs and huge bodies bounded memory (``tracemalloc`` peak of the poll, which
  sees every Python-level allocation in every thread: httpx/h11 buffers, zlib output, feedparser, expat);
* invariants over everything stored: http(s) links only, no control/zero-width/bidi characters, no content
  of a local file, and no request to a canary server that only feed content could point at.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import shutil
import socket
import ssl
import struct
import subprocess
import time
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from monitor import parse
from monitor.config import parse_text
from monitor.context import Context
from monitor.daemon import run_once
from monitor.models import PollReport
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.store.schema import sources, stories, story_versions
from tests.conftest import FakeClock
from tests.test_pipeline import neutral, pipeline_context, rss, tg_page

MiB = 2**20
MEMORY_BUDGET = 64 * MiB  # tracemalloc peak of one run_once over both sources
FETCH_TIMEOUT = 2.0  # settings.fetch_timeout: the total deadline of one fetch (H07, H08)
INTERVAL = timedelta(seconds=30)  # short, so that H16/F23 prove Retry-After (not the interval) set the backoff
RSS_TYPE = "application/rss+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
GOOD_ITEMS = 3
DATA = Path(__file__).parent / "data" / "ingest"

CONFIG = """\
database: sqlite:///{dir}/unused.db
settings:
  alerts_file: {dir}/alerts.jsonl
  interval: 30s
  jitter: 1s
  fetch_timeout: 2s
sources:
  - {bad}
  - {{name: good, url: "{good}"}}
watches:
  - {{name: ceasefire, any: [ceasefire], notify: [log]}}
"""

# Characters that must never be stored: C0 controls but "\n", DEL, C1, zero-width and bidi controls.
FORBIDDEN = frozenset(
    [chr(c) for c in range(32) if c != 10]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u200b\u200c\u200e\u200f\u2060\ufeff\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


# -- a raw loopback HTTP server ---------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Req, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _not_found(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(head(404, [("Content-Length", "9")]) + b"not found")


class Loopback:
    """HTTP/1.1 on 127.0.0.1:0 (optionally TLS); each path (query ignored) maps to a handler writing raw bytes."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Req] = []
        self._tls = tls
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Server | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path.split("?")[0] == path)

    async def __aenter__(self) -> Loopback:
        self._listener = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._listener is not None
        self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._listener.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = _parse_request(await reader.readuntil(b"\r\n\r\n"))
            self.requests.append(request)
            await self.routes.get(request.path.split("?")[0], _not_found)(request, reader, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self._tasks.discard(task)


def _parse_request(raw: bytes) -> Req:
    lines = raw.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return Req(method, path, headers)


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found",
            429: "Too Many Requests", 503: "Service Unavailable"}


def head(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(
    body: bytes = b"", *, status: int = 200, ctype: str | None = RSS_TYPE,
    headers: Sequence[tuple[str, str]] = (), chunked: bool = False,
) -> Handler:
    """A well-formed response; ``chunked`` streams the body in 64 KiB chunks without a Content-Length."""
    hdrs = [*((("Content-Type", ctype),) if ctype else ()), *headers]
    if chunked:
        hdrs.append(("Transfer-Encoding", "chunked"))
    elif not any(k.lower() == "content-length" for k, _ in hdrs):
        hdrs.append(("Content-Length", str(len(body))))

    async def handler(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, hdrs))
        if not chunked:
            writer.write(body)
            return
        view = memoryview(body)
        for at in range(0, len(body), 65536):  # bounded by the body
            piece = view[at : at + 65536]
            writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    return handler


def raw(data: bytes) -> Handler:
    async def handler(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)

    return handler


async def _endless_chunks(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(head(200, [("Content-Type", RSS_TYPE), ("Transfer-Encoding", "chunked")]))
    chunk = b"%x\r\n%s\r\n" % (65000, b"<" * 65000)
    for _ in range(4096):  # 266 MB at most, should the client never stop reading
        writer.write(chunk)
        await writer.drain()


async def _slow_drip(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Faster than any idle/read timeout could notice: only a total deadline stops it.
    writer.write(head(200, [("Content-Type", RSS_TYPE), ("Content-Length", "100000")]))
    for _ in range(120):  # 60 s at most
        writer.write(b"<")
        await writer.drain()
        await asyncio.sleep(0.5)  # an inherently slow server


async def _never_answer(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # returns when the client gives up and closes


async def _redirect_loop(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    hop = int(req.path.partition("?")[2] or 0) + 1
    writer.write(head(302, [("Location", f"/bad?{hop}"), ("Content-Length", "0")]))


# -- payloads -----------------------------------------------------------------------------------------------

PROLOG = '<?xml version="1.0" encoding="utf-8"?>\n'


def feed_xml(items: str, *, prolog: str = PROLOG, doctype: str = "") -> str:
    return (f'{prolog}{doctype}<rss version="2.0"><channel><title>bad feed</title><link>https://bad.example/</link>'
            f"<description>d</description>\n{items}</channel></rss>\n")


def item_xml(title: str, guid: str, *, description: str = "", link: str = "", date: str = "") -> str:
    parts = [f"<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>"]
    if link:
        parts.append(f"<link>{link}</link>")
    if description:
        parts.append(f"<description>{description}</description>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "".join(parts) + "</item>\n"


def billion_laughs(*, one_line: bool) -> bytes:
    decls = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    ]
    sep = "" if one_line else "\n"
    doctype = f"<!DOCTYPE rss [{sep}{sep.join(decls)}{sep}]>\n"
    return feed_xml(item_xml("&lol9;", "laughs-1"), doctype=doctype).encode()


def quadratic(encoding: str = "utf-8") -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY a "{"a" * 40_000}">]>\n'
    doc = feed_xml(item_xml("blowup", "quad-1", description="&a;" * 25_000),
                   prolog=f'<?xml version="1.0" encoding="{encoding}"?>\n', doctype=doctype)
    return doc.encode(encoding)  # "utf-16" writes a BOM


def many_items(n: int) -> bytes:
    items = "".join(
        item_xml(f"Item {i} of the flood", f"flood-{i}", description=f"&lt;p&gt;Body of flood item {i}&lt;/p&gt;")
        for i in range(n)
    )
    return feed_xml(items).encode()


def huge_title(chars: int) -> bytes:
    return feed_xml(item_xml("A" * chars, "huge-title-1", description="a story under a huge title")).encode()


def zeros_bomb(container: str, gib: int = 1) -> bytes:
    """``gib`` GiB of zeros, gzip or zlib, built from one full-flushed deflate block (0.4 s, not 2 s of level 9).

    After Z_FULL_FLUSH the compressor starts from an empty window, so every 1 MiB block compresses to the same
    bytes; the container's check value is computed over the real uncompressed data.
    """
    chunk = bytes(MiB)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    deflate = block * (1024 * gib) + comp.flush()
    if container == "gzip":
        crc = 0
        for _ in range(1024 * gib):
            crc = zlib.crc32(chunk, crc)
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflate + struct.pack("<II", crc, (gib << 30) % 2**32)
    # Adler-32 of n zero bytes: A stays 1, B adds A once per byte.
    adler = (((gib << 30) % 65521) << 16) | 1
    return b"\x78\xda" + deflate + struct.pack(">I", adler)


@dataclass(frozen=True)
class Payloads:
    gzip_bomb: bytes
    deflate_bomb: bytes
    stacked_bomb: bytes
    brotli_bomb: bytes
    quadratic: bytes
    quadratic_utf16: bytes
    flood: bytes
    huge_title: bytes


@pytest.fixture(scope="module")
def payloads() -> Payloads:
    gz = zeros_bomb("gzip")
    # Sanity: a real bomb (1 GiB declared in the gzip trailer; the first 8 MiB decode to zeros).
    assert len(gz) < 1_100_000 and struct.unpack("<I", gz[-4:])[0] == 2**30
    assert zlib.decompressobj(47).decompress(gz, 8 * MiB) == bytes(8 * MiB)
    deflate = zeros_bomb("zlib")
    assert zlib.decompressobj(47).decompress(deflate, 8 * MiB) == bytes(8 * MiB)
    flood = many_items(100_000)
    assert len(flood) > 13 * 10**6
    return Payloads(
        gzip_bomb=gz,
        deflate_bomb=deflate,
        stacked_bomb=gzip.compress(gz, 9),  # the gzip bomb gzipped again: 2.5 kB for 1 GiB
        # 1 GiB of zeros, brotli quality 5 (1,617 bytes; see tests/data/ingest/README.md).
        brotli_bomb=(DATA / "zeros-1gib.br").read_bytes(),
        quadratic=quadratic(),
        quadratic_utf16=quadratic("utf-16"),
        flood=flood,
        huge_title=huge_title(20_000_000),
    )


# -- the environment ------------------------------------------------------------------------------------------


@dataclass
class Kit:
    """What a case's handlers may point at: the payloads, a canary server and a local secret file."""

    payloads: Payloads
    server: Loopback
    canary: Loopback
    secret: str  # a marker that must never be stored
    secret_file: Path  # a valid local RSS file whose only item title holds ``secret``


@dataclass
class Env:
    ctx: Context
    kit: Kit
    clock: FakeClock
    runs: list[dict[str, PollReport]] = field(default_factory=list)

    async def run(self) -> tuple[dict[str, PollReport], float]:
        start = time.monotonic()
        reports, _ = await run_once(self.ctx)
        elapsed = time.monotonic() - start
        by_name = {r.source: r for r in reports}
        self.runs.append(by_name)
        return by_name, elapsed

    def state(self, name: str) -> dict[str, Any]:
        with self.ctx.engine.connect() as conn:
            return dict(conn.execute(select(sources).where(sources.c.name == name)).mappings().one())

    def stories(self, name: str | None = None) -> list[dict[str, Any]]:
        query = (select(stories.c.id, stories.c.key, stories.c.url, stories.c.title, stories.c.published_at,
                        stories.c.first_seen_at, stories.c.version, sources.c.name.label("source"))
                 .join(sources, sources.c.id == stories.c.source_id).order_by(stories.c.id))
        if name is not None:
            query = query.where(sources.c.name == name)
        with self.ctx.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def versions(self) -> list[dict[str, Any]]:
        query = select(story_versions.c.story_id, story_versions.c.version, story_versions.c.title,
                       story_versions.c.text).order_by(story_versions.c.id)
        with self.ctx.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def naive_now(self) -> datetime:
        return self.clock().replace(tzinfo=None)


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once by the real migrations; each test polls into a copy of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = store_engine.make_engine(f"sqlite:///{path}")
    store_engine.upgrade(engine)
    engine.dispose()
    return path


@contextlib.asynccontextmanager
async def ingest_env(
    tmp_path: Path, clock: FakeClock, payloads: Payloads, bad: Callable[[Kit], str], *, telegram: bool = False,
    tls: ssl.SSLContext | None = None, template: Path | None = None,
) -> AsyncIterator[Env]:
    """Servers up, a migrated SQLite context with sources ``bad`` (URL from ``bad(kit)``) and ``good``;
    ``template``: a migrated database to copy instead of migrating a new one."""
    secret = f"LOCAL-SECRET-{uuid.uuid4().hex}"
    secret_file = tmp_path / "secret-feed.xml"
    secret_file.write_bytes(feed_xml(item_xml(secret, "secret-1", description=secret)).encode())
    async with Loopback() as server, Loopback() as canary, Loopback(tls) as tls_server:
        canary.routes.update({p: reply(f"<!ENTITY x '{secret}'>".encode(), ctype="application/xml-dtd")
                              for p in ("/xxe", "/pe", "/dtd")})
        canary.routes["/admin"] = reply(f"<html><body><h1>Admin</h1><p>{secret}</p></body></html>".encode(),
                                        ctype=HTML_TYPE)
        server.routes["/good.xml"] = reply(rss(*(neutral(n) for n in range(1, GOOD_ITEMS + 1))))
        kit = Kit(payloads, tls_server if tls else server, canary, secret, secret_file)
        url = bad(kit)
        source = (f'{{name: bad, type: telegram, channel: frontnews, url: "{url}"}}' if telegram
                  else f'{{name: bad, url: "{url}"}}')
        cfg = parse_text(CONFIG.format(dir=tmp_path, bad=source, good=server.url("/good.xml")), "t.yaml", environ={})
        if template is not None:
            shutil.copyfile(template, tmp_path / "t.db")
        async with pipeline_context(cfg, clock, f"sqlite:///{tmp_path}/t.db", migrate=template is None) as ctx:
            yield Env(ctx, kit, clock)


def bad_path(kit: Kit) -> str:
    return kit.server.url("/bad")


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yields a list that receives the tracemalloc peak (bytes) of the block, above what was traced before."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out: list[int] = []
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1] - base)
        if not was_tracing:
            tracemalloc.stop()


async def test_peak_memory_sees_allocations_in_worker_threads() -> None:
    """The memory bound above is only as good as its probe: a 96 MiB buffer built in a thread must show."""
    with peak_memory() as peak:
        await asyncio.to_thread(lambda: len(bytearray(96 * MiB)))
    assert peak[0] >= 96 * MiB > MEMORY_BUDGET


# -- shared checks ----------------------------------------------------------------------------------------------


def assert_good_source_stored(env: Env, reports: dict[str, PollReport]) -> None:
    good = reports["good"]
    assert good.error_kind is None, good
    assert len(env.stories("good")) == GOOD_ITEMS
    assert env.state("good")["error_count"] == 0


def assert_stored_is_safe(env: Env) -> None:
    """Invariants over every stored row, whatever the case."""
    rows = env.stories()
    texts = [r["title"] for r in rows] + [v["title"] for v in env.versions()] + [v["text"] for v in env.versions()]
    for r in rows:
        assert r["url"] is None or r["url"].startswith(("http://", "https://")), r["url"]
    for text in texts:
        bad_chars = sorted({f"U+{ord(c):04X}" for c in text if c in FORBIDDEN})
        assert not bad_chars, (bad_chars, text[:200])
        assert env.kit.secret not in text, "local file content was stored"
    assert env.kit.canary.requests == [], "feed content made the daemon contact the canary"


def assert_failed(env: Env, report: PollReport, kind: str) -> None:
    """The bad source failed with ``kind``: in its report and on its row, with a backoff in the future."""
    assert report.error_kind == kind, report
    assert not report.fetched and report.new_stories == 0
    state = env.state("bad")
    assert state["last_error_kind"] == kind, state
    assert state["error_count"] >= 1
    assert state["next_poll_at"] is not None and state["next_poll_at"] > env.naive_now(), state


def assert_succeeded(env: Env, report: PollReport, *, partial: bool = False) -> None:
    assert report.error_kind is None and report.fetched, report
    assert report.partial is partial, report
    state = env.state("bad")
    assert state["error_count"] == 0, state  # no backoff: next_poll_at, if set, is the regular next poll
    assert state["last_error_kind"] == ("parse_partial" if partial else None), state
    assert state["last_success_at"] == env.naive_now()


# -- failures: classified, backed off, the other source still polled ---------------------------------------------


@dataclass(frozen=True)
class Fault:
    handler: Callable[[Kit], Handler]
    kind: str
    memory: bool = False  # bound the tracemalloc peak
    url: Callable[[Kit], str] = bad_path
    prime: bool = False  # poll a valid feed first: the stories it stored must survive the failure
    max_seconds: float = 10.0
    extra: Callable[[Env, PollReport], None] | None = None
    canary_target: bool = False  # H11: the redirect target is the canary itself


def _dtd_feed(doctype: str) -> Callable[[Kit], Handler]:
    def make(kit: Kit) -> Handler:
        dt = doctype.format(port=kit.canary.port, secret_file=kit.secret_file)
        return reply(feed_xml(item_xml("X&xxe;X", "xxe-1"), doctype=dt).encode())

    return make


def _closed_port(kit: Kit) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/feed.xml"  # bound a moment ago, closed now: nobody listens


def _retry_after_at_least(seconds: int) -> Callable[[Env, PollReport], None]:
    def check(env: Env, report: PollReport) -> None:
        delay = env.state("bad")["next_poll_at"] - env.naive_now()
        assert timedelta(seconds=seconds) <= delay <= timedelta(seconds=seconds) + timedelta(minutes=1), delay
        assert delay > 2 * INTERVAL  # the interval alone would have given ~30 s

    return check


def _hits(path: str, n: int) -> Callable[[Env, PollReport], None]:
    def check(env: Env, report: PollReport) -> None:
        assert env.kit.server.hits(path) == n, [r.path for r in env.kit.server.requests]

    return check


def _truncated_body(kit: Kit) -> Handler:
    body = feed_xml(item_xml("Half a story", "trunc-1", description="must not be parsed")).encode()
    return raw(head(200, [("Content-Type", RSS_TYPE), ("Content-Length", str(len(body) + 990))]) + body)


def _drip_deadline(env: Env, report: PollReport) -> None:
    assert "2s" in (report.error or ""), report.error


def _str_parse_is_refused(env: Env, report: PollReport) -> None:
    with pytest.raises(TypeError):
        parse.parse(str(env.kit.secret_file))  # type: ignore[arg-type]


LOGIN = (b"<!doctype html><html><head><title>Sign in</title><script>var x = 1;</script></head>"
         b"<body><h1>Please log in</h1><form><input name=user></form></body></html>")
RSSHUB_ERROR = (b"<!DOCTYPE html><html><head><title>RSSHub</title></head><body><h1>Looks like something went "
                b"wrong</h1><p>A wait of 2787 seconds is required</p></body></html>")

FAULTS: dict[str, Fault] = {
    "F01-billion-laughs-multiline": Fault(lambda k: reply(billion_laughs(one_line=False)), "xml_dtd_rejected",
                                          memory=True),
    "F02-billion-laughs-one-line": Fault(lambda k: reply(billion_laughs(one_line=True)), "xml_dtd_rejected",
                                         memory=True),
    "F03-quadratic-blowup": Fault(lambda k: reply(k.payloads.quadratic), "xml_dtd_rejected", memory=True,
                                  max_seconds=3.0),
    "F04-quadratic-blowup-utf16": Fault(lambda k: reply(k.payloads.quadratic_utf16, ctype="application/rss+xml"),
                                        "xml_dtd_rejected", memory=True, max_seconds=3.0),
    "F05-xxe-local-file": Fault(_dtd_feed('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>\n'),
                                "xml_dtd_rejected"),
    "F06-xxe-http-general-entity": Fault(
        _dtd_feed('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/xxe">]>\n'), "xml_dtd_rejected"),
    "F06-xxe-parameter-entity": Fault(
        _dtd_feed('<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/pe"> %p;]>\n'), "xml_dtd_rejected"),
    "F07-huge-feed-100k-items-13MB": Fault(lambda k: reply(k.payloads.flood, chunked=True), "too_large",
                                           memory=True),
    "F08-20MB-title": Fault(lambda k: reply(k.payloads.huge_title, chunked=True), "too_large", memory=True),
    "F13-html-login-page": Fault(lambda k: reply(LOGIN, ctype=HTML_TYPE), "not_a_feed", prime=True),
    "F14-json-error-body": Fault(lambda k: reply(b'{"error": "rate limited"}', ctype="application/json"),
                                 "not_a_feed"),
    "F15-empty-body": Fault(lambda k: reply(b""), "empty_body"),
    "F16-whitespace-body": Fault(lambda k: reply(b"  \n\t\r\n   \t\n"), "empty_body"),
    "F21-body-is-a-local-path": Fault(lambda k: reply(str(k.secret_file).encode()), "not_a_feed",
                                      extra=_str_parse_is_refused),
    "F21-body-is-a-file-url": Fault(lambda k: reply(k.secret_file.as_uri().encode()), "not_a_feed"),
    "F23-rsshub-503-retry-after": Fault(
        lambda k: reply(RSSHUB_ERROR, status=503, ctype=HTML_TYPE, headers=[("Retry-After", "2787")]),
        "http_status", extra=_retry_after_at_least(2787)),
    "F23-rsshub-200-error-page": Fault(lambda k: reply(RSSHUB_ERROR, ctype=HTML_TYPE), "not_a_feed"),
    "H01-gzip-bomb-1GiB": Fault(lambda k: reply(k.payloads.gzip_bomb, headers=[("Content-Encoding", "gzip")]),
                                "too_large", memory=True),
    "H02-deflate-bomb-1GiB": Fault(
        lambda k: reply(k.payloads.deflate_bomb, headers=[("Content-Encoding", "deflate")]), "too_large",
        memory=True),
    "H03-brotli-bomb-1GiB": Fault(lambda k: reply(k.payloads.brotli_bomb, headers=[("Content-Encoding", "br")]),
                                  "bad_encoding", memory=True),
    "H04-stacked-gzip-gzip": Fault(
        lambda k: reply(k.payloads.stacked_bomb, headers=[("Content-Encoding", "gzip, gzip")]), "bad_encoding",
        memory=True),
    "H05-unknown-content-encoding": Fault(lambda k: reply(b"evil", headers=[("Content-Encoding", "x-evil")]),
                                          "bad_encoding"),
    "H06-endless-chunked-body": Fault(lambda k: _endless_chunks, "too_large", memory=True),
    "H07-slow-drip": Fault(lambda k: _slow_drip, "timeout", max_seconds=FETCH_TIMEOUT + 2.0, extra=_drip_deadline),
    "H08-accepts-never-answers": Fault(lambda k: _never_answer, "timeout", max_seconds=FETCH_TIMEOUT + 2.0),
    "H09-redirect-loop": Fault(lambda k: _redirect_loop, "too_many_redirects", extra=_hits("/bad", 6)),
    "H10-redirect-to-file-url": Fault(
        lambda k: reply(status=302, ctype=None, headers=[("Location", "file:///etc/passwd")]), "bad_url",
        extra=_hits("/bad", 1)),
    # No SSRF policy (optional in the contract): the redirect to another (private) origin is followed once,
    # and what it answers (an admin page) is classified; nothing of it is stored.
    "H11-redirect-to-private-host": Fault(
        lambda k: reply(status=301, ctype=None, headers=[("Location", k.canary.url("/admin"))]), "not_a_feed",
        canary_target=True),
    "H12-200kB-response-header": Fault(lambda k: raw(head(200, [("X-Big", "a" * 200_000)])), "http_error"),
    "H13-short-body-then-close": Fault(_truncated_body, "http_error"),
    "H14-non-http-bytes": Fault(lambda k: raw(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), "http_error"),
    "H15-content-length-99999999999": Fault(
        lambda k: raw(head(200, [("Content-Type", RSS_TYPE), ("Content-Length", "99999999999")]) + b"<" * 10),
        "too_large"),
    "H16-429-retry-after-120": Fault(lambda k: reply(status=429, ctype=None, headers=[("Retry-After", "120")]),
                                     "http_status", extra=_retry_after_at_least(120)),
    "H17-connection-refused": Fault(lambda k: _not_found, "connect_error", url=_closed_port),
}


@pytest.mark.parametrize("case", list(FAULTS))
async def test_bad_response_is_classified_and_the_other_source_is_still_polled(
    tmp_path: Path, clock: FakeClock, payloads: Payloads, migrated_db: Path, case: str
) -> None:
    fault = FAULTS[case]
    async with ingest_env(tmp_path, clock, payloads, fault.url, template=migrated_db) as env:
        kit = env.kit
        primed = 0
        if fault.prime:
            kit.server.routes["/bad"] = reply(feed_xml(
                item_xml("Earlier story one", "prime-1", description="first stored story")
                + item_xml("Earlier story two", "prime-2", description="second stored story")).encode())
            first, _ = await env.run()
            assert first["bad"].error_kind is None and first["bad"].new_stories == 2, first["bad"]
            primed = 2
            clock.advance(minutes=5)
        kit.server.routes["/bad"] = fault.handler(kit)

        if fault.memory:
            with peak_memory() as peak:
                reports, elapsed = await env.run()
            assert peak[0] < MEMORY_BUDGET, f"tracemalloc peak {peak[0] / MiB:.1f} MiB"
        else:
            reports, elapsed = await env.run()

        assert elapsed < fault.max_seconds, f"{case} took {elapsed:.1f}s"
        assert_failed(env, reports["bad"], fault.kind)
        assert len(env.stories("bad")) == primed  # nothing from the bad response; nothing deleted
        assert_good_source_stored(env, reports)
        if fault.canary_target:
            assert kit.canary.hits("/admin") <= 1
            kit.canary.requests.clear()
        assert_stored_is_safe(env)
        if fault.extra is not None:
            fault.extra(env, reports["bad"])


# -- TLS: a self-signed certificate is refused -------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("case", ["H18-self-signed-certificate"])
async def test_tls_with_a_self_signed_certificate_is_refused(
    tmp_path: Path, clock: FakeClock, payloads: Payloads, self_signed: ssl.SSLContext, case: str
) -> None:
    async with ingest_env(tmp_path, clock, payloads, lambda k: k.server.url("/bad"), tls=self_signed) as env:
        env.kit.server.routes["/bad"] = reply(feed_xml(item_xml("Behind TLS", "tls-1")).encode())
        reports, elapsed = await env.run()
        assert elapsed < 10.0
        assert env.kit.server.url("/bad").startswith("https://127.0.0.1:")
        assert_failed(env, reports["bad"], "tls_error")
        assert env.stories("bad") == []
        assert_good_source_stored(env, reports)
        assert_stored_is_safe(env)


# -- accepted input: stored, and stored safely -----------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    steps: Callable[[Kit], list[Handler]]  # one handler per run_once, the clock advancing 5 min between
    check: Callable[[Env, list[PollReport]], None]
    telegram: bool = False
    memory: bool = False
    max_seconds: float = 10.0


def _serve(*bodies: bytes, ctype: str = RSS_TYPE) -> Callable[[Kit], list[Handler]]:
    return lambda kit: [reply(b, ctype=ctype) for b in bodies]


def _titles(env: Env) -> list[str]:
    return [r["title"] for r in env.stories("bad")]


def _text_of(env: Env) -> dict[str, str]:
    """Stored title -> newest stored text, for the bad source."""
    ids = {r["id"]: r["title"] for r in env.stories("bad")}
    return {ids[v["story_id"]]: v["text"] for v in env.versions() if v["story_id"] in ids}


# F06: an external DTD holds no <!ENTITY, so the guard lets it through; nothing may fetch it.
EXTERNAL_DTD = '<!DOCTYPE rss SYSTEM "http://127.0.0.1:{port}/dtd">\n'


def _external_dtd(kit: Kit) -> list[Handler]:
    dt = EXTERNAL_DTD.format(port=kit.canary.port)
    return [reply(feed_xml(item_xml("X&amp;Y dtd story", "dtd-1") + item_xml("X&xxe;X", "dtd-2"),
                           doctype=dt).encode())]


def _check_external_dtd(env: Env, reports: list[PollReport]) -> None:
    assert reports[0].error_kind is None and reports[0].new_stories >= 1
    assert "X&Y dtd story" in _titles(env)  # the canary (checked for every case) got no request


def _check_one_story(title: str) -> Callable[[Env, list[PollReport]], None]:
    def check(env: Env, reports: list[PollReport]) -> None:
        assert_succeeded(env, reports[0], partial=reports[0].partial)
        assert _titles(env) == [title]

    return check


def _deep_divs(kit: Kit) -> list[Handler]:
    return [reply(feed_xml(item_xml("Deep divs", "deep-1",
                                    description="<![CDATA[" + "<div>" * 100_000 + "bottom]]>")).encode())]


def _check_clean_deep_text(env: Env, reports: list[PollReport]) -> None:
    assert_succeeded(env, reports[0], partial=reports[0].partial)
    assert _text_of(env) == {"Deep elements": "bottom"}  # the description's only text, no markup left over


def _deep_elements(kit: Kit) -> list[Handler]:
    nested = "<x>" * 50_000 + "bottom" + "</x>" * 50_000
    return [reply(feed_xml(item_xml("Deep elements", "deep-2", description=nested)).encode())]


LATIN1 = feed_xml(item_xml("caf\xe9 na\xefve", "enc-1")).encode("latin-1")  # declared utf-8
BOGUS = feed_xml(item_xml("bogus encoding", "enc-2"), prolog='<?xml version="1.0" encoding="x-bogus-42"?>\n').encode()
UTF16LE = feed_xml(item_xml("Ünïcode wide", "enc-3"),
                   prolog='<?xml version="1.0" encoding="utf-16"?>\n').encode("utf-16-le")  # no BOM

CONTROL = feed_xml(
    item_xml("a\x00b\x01c\x1bd\u200b\u202ee\u2066f\u200fg\ufeffh", "ctl-1",
             description="\x0b\x0cbody\x7f \u2060text\u202a ok")
    + item_xml("second \u061cstory", "ctl-2", description="plain")
).encode()


def _check_control(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.error_kind is None and first.new_stories == 2, first
    assert sorted(_titles(env)) == ["abcdefgh", "second story"]
    assert _text_of(env)["abcdefgh"] == "body text ok"
    # No poison-retry loop: the same feed again is a quiet success with nothing new.
    assert second.error_kind is None and second.new_stories == 0 and second.new_versions == 0, second
    assert env.state("bad")["error_count"] == 0


TRUNCATED_ITEMS = [
    item_xml(f"Truncated story {n}", f"tr-{n}", link=f"https://bad.example/tr/{n}",
             description=f"Full text of truncated story number {n}, long enough to be cut.",
             date=f"Sun, 11 Sep 2022 {n:02d}:00:00 +0000")
    for n in range(10)
]
FULL_TEN = feed_xml("".join(TRUNCATED_ITEMS)).encode()
HALF_TEN = FULL_TEN[: len(FULL_TEN) // 2]


def _check_truncated_first(env: Env, reports: list[PollReport]) -> None:
    complete = HALF_TEN.count(b"</item>")
    assert 2 <= complete < 10
    assert_succeeded(env, reports[0], partial=True)
    titles = _titles(env)
    # Only whole entries: none cut in the middle (no phantom story, no story without its text).
    assert sorted(titles) == sorted(f"Truncated story {n}" for n in range(complete)), titles
    for title, text in _text_of(env).items():
        number = title.rsplit(" ", 1)[1]
        assert text == f"Full text of truncated story number {number}, long enough to be cut.", text


def _check_truncated_after_full(env: Env, reports: list[PollReport]) -> None:
    full, half = reports
    assert full.error_kind is None and full.new_stories == 10
    assert_succeeded(env, half, partial=True)
    assert half.new_stories == 0 and half.new_versions == 0, half  # no phantom edit of the cut entry
    assert len(env.stories("bad")) == 10  # no deletion inferred from absence


SCRIPT_SOUP_RSS = feed_xml(
    "<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Breaking &lt;img src=x onerror=alert(2)&gt; "
    "&lt;!here&gt; &lt;https://evil.example|click me&gt;</title>"
    "<link>javascript:alert(6)</link><guid isPermaLink=\"false\">xss-1</guid><description><![CDATA["
    '<p onclick="alert(3)">Para</p><script>alert(4)</script><iframe src="http://evil.example/"></iframe>'
    '<a href="javascript:alert(5)">js link</a> <a href="data:text/html,hi">data link</a><style>body{}</style>'
    '<img src="http://track.example/p.gif"><form action="http://evil.example/"><input name=q></form>'
    '<svg onload="alert(7)"><circle/></svg><object data="x.swf"></object>Tail text]]></description></item>\n'
).encode()
SCRIPT_SOUP_ATOM = (
    b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>a</title>'
    b"<id>urn:bad</id><updated>2022-09-11T00:00:00Z</updated><entry>"
    b'<title type="html">&lt;script&gt;alert(1)&lt;/script&gt;Atom title</title><id>urn:xss-2</id>'
    b'<updated>2022-09-11T00:00:00Z</updated><link href="javascript:alert(1)"/><content type="xhtml">'
    b'<div xmlns="http://www.w3.org/1999/xhtml"><p>Atom body</p><script>alert(2)</script>'
    b'<a href="javascript:alert(3)">clicky</a></div></content></entry></feed>\n'
)
SLACK_SYNTAX = feed_xml(item_xml(
    "Alert &lt;!channel&gt; &lt;https://evil.example|bank.com&gt; done", "slack-1",
    link="javascript:alert(9)", description="x &lt;!here&gt; &lt;!everyone&gt; y")).encode()


def _assert_no_markup(env: Env) -> None:
    import re

    tag = re.compile(r"<\s*[A-Za-z/!?]")  # an element, end tag, comment/declaration or Slack <!here>
    rows = env.stories("bad")
    assert rows
    for r in rows:
        assert r["url"] is None, r["url"]  # javascript: links are dropped, never stored
    for v in env.versions():
        for value in (v["title"], v["text"]):
            assert not tag.search(value), value
            assert "javascript:" not in value and "alert(" not in value and "onerror" not in value, value


def _check_markup(title: str, text: str) -> Callable[[Env, list[PollReport]], None]:
    def check(env: Env, reports: list[PollReport]) -> None:
        assert_succeeded(env, reports[0])
        _assert_no_markup(env)
        assert _text_of(env) == {title: text}

    return check


DUP_GUIDS = feed_xml(item_xml("one", "same") + item_xml("two", "same")
                     + "<item><title>three</title><description>no guid, no link</description></item>\n").encode()


def _check_dup_guids(env: Env, reports: list[PollReport]) -> None:
    assert_succeeded(env, reports[0])
    rows = env.stories("bad")
    # One story per identity per fetch (the first of a repeated GUID); the item without GUID or link
    # falls back to a title hash.
    assert [(r["title"], r["key"].split(":")[0]) for r in rows] == [("three", "hash"), ("one", "guid")], rows


BAD_DATES = feed_xml(item_xml("Impossible date", "date-1", date="Thu, 31 Feb 2099 25:61:61 +9999")
                     + item_xml("Huge date", "date-2", date="9" * 5000)).encode()


def _check_dates(env: Env, reports: list[PollReport]) -> None:
    assert_succeeded(env, reports[0])
    rows = env.stories("bad")
    assert len(rows) == 2
    for r in rows:
        assert r["published_at"] is None or r["published_at"] <= env.naive_now(), r
        assert r["first_seen_at"] == env.naive_now()


def _tme_channel(newest: int) -> Handler:
    """A t.me/s page of channel ``frontnews`` whose newest post is ``newest``; ``?before=N`` shows the 16 posts
    before N, as t.me does."""

    async def handler(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        query = parse_qs(urlsplit(req.path).query)
        before = int(query["before"][0]) if "before" in query else newest + 1
        body = tg_page("frontnews", range(max(1, before - 16), before))
        writer.write(head(200, [("Content-Type", HTML_TYPE), ("Content-Length", str(len(body)))]) + body)

    return handler


def _check_recovered(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.error_kind is None and first.new_stories == 16 and not first.possible_gap, first
    # 140-155 on the page, 116-139 from two older pages (?before=140, ?before=124): nothing lost.
    assert second.error_kind is None and second.new_stories == 40 and not second.possible_gap, second
    assert env.state("bad")["last_post_id"] == 155
    assert len(env.stories("bad")) == 56
    assert env.kit.server.hits("/bad") == 4


def _check_unrecoverable(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.error_kind is None and first.new_stories == 16, first
    # The page shows 1000-1015; five older pages (the backfill limit) reach 920: 116-919 are reported lost.
    assert second.error_kind is None and second.possible_gap, second
    assert second.new_stories == 16 + 5 * 16, second
    assert any("116-919" in note for note in second.notes), second.notes
    assert env.kit.server.hits("/bad") == 1 + 1 + 5  # bounded: no endless paging
    assert env.state("bad")["last_post_id"] == 1015


def _rss_mirror(ids: range) -> bytes:
    return feed_xml("".join(item_xml(f"Post {n} from the channel mirror", f"https://t.me/frontnews/{n}",
                                     link=f"https://t.me/frontnews/{n}", description=f"Bulletin {n}")
                            for n in reversed(ids))).encode()


def _check_rss_mirror(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.error_kind is None and first.new_stories == 16 and not first.possible_gap, first
    assert second.error_kind is None and second.new_stories == 16 and second.possible_gap, second
    assert len(env.stories("bad")) == 32


EDIT_V1 = feed_xml(item_xml("Ceasefire talks begin in Geneva", "edit-1", link="https://bad.example/edit",
                            description="Delegations met on Monday to discuss a ceasefire along the front.")).encode()
EDIT_V2 = feed_xml(item_xml("Ceasefire talks begin in Geneva, officials say", "edit-1",
                            link="https://bad.example/edit",
                            description="Delegations met on Monday to discuss a ceasefire along the front.")).encode()


def _check_edit(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.new_stories == 1 and first.alerts == 1, first
    assert second.error_kind is None and second.new_stories == 0 and second.new_versions == 1, second
    assert second.alerts == 0, second  # an edited title is a version, not a second alert
    assert sum(store_alerts.counts(env.ctx.engine).values()) == 1
    (row,) = env.stories("bad")
    assert row["version"] == 2 and row["title"] == "Ceasefire talks begin in Geneva, officials say"


def _conditional(kit: Kit) -> list[Handler]:
    body = feed_xml(item_xml("Cached story", "etag-1")).encode()
    modified = "Sun, 11 Sep 2022 15:00:00 GMT"

    async def handler(req: Req, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if req.headers.get("if-none-match") == '"v1"':
            writer.write(head(304, [("ETag", '"v1"')]))
        else:
            writer.write(head(200, [("Content-Type", RSS_TYPE), ("ETag", '"v1"'), ("Last-Modified", modified),
                                    ("Content-Length", str(len(body)))]) + body)

    return [handler, handler]


def _check_304(env: Env, reports: list[PollReport]) -> None:
    first, second = reports
    assert first.new_stories == 1
    assert second == PollReport(source="bad", fetched=True, not_modified=True)  # nothing parsed, no empty_body
    state = env.state("bad")
    assert (state["etag"], state["last_modified"]) == ('"v1"', "Sun, 11 Sep 2022 15:00:00 GMT")
    assert (state["error_count"], state["last_error_kind"], state["last_success_at"]) == (0, None, env.naive_now())
    polls = [r for r in env.kit.server.requests if r.path == "/bad"]
    assert len(polls) == 2 and polls[1].headers.get("if-none-match") == '"v1"'
    assert polls[1].headers.get("if-modified-since") == "Sun, 11 Sep 2022 15:00:00 GMT"
    assert _titles(env) == ["Cached story"]


def _check_capped(env: Env, reports: list[PollReport]) -> None:
    assert_succeeded(env, reports[0])
    assert reports[0].items == 200 and len(env.stories("bad")) == 200  # settings.max_items
    assert {r["title"] for r in env.stories("bad")} == {f"Item {i} of the flood" for i in range(200)}


def _check_long_title(env: Env, reports: list[PollReport]) -> None:
    assert_succeeded(env, reports[0])
    (row,) = env.stories("bad")
    assert len(row["title"]) <= 300 and row["title"].startswith("AAAA"), len(row["title"])
    assert all(len(v["title"]) <= 300 for v in env.versions())


ACCEPTED: dict[str, Accepted] = {
    "F06-external-dtd-not-fetched": Accepted(_external_dtd, _check_external_dtd),
    "F07-2000-items-capped-at-max-items": Accepted(_serve(many_items(2000)), _check_capped),
    "F08-4MB-title-truncated": Accepted(_serve(huge_title(4 * 10**6)), _check_long_title, memory=True),
    "F09-100k-unclosed-divs-in-cdata": Accepted(_deep_divs, _check_one_story("Deep divs")),
    "F09-50k-nested-elements": Accepted(_deep_elements, _check_one_story("Deep elements")),
    "F09-50k-nested-elements-stored-text-is-plain": Accepted(
        _deep_elements, _check_clean_deep_text),
    "F10-latin1-declared-utf8": Accepted(_serve(LATIN1), _check_one_story("café naïve")),
    "F10-bogus-encoding-name": Accepted(_serve(BOGUS), _check_one_story("bogus encoding")),
    "F10-utf16le-without-bom": Accepted(_serve(UTF16LE, ctype="application/rss+xml"),
                                        _check_one_story("Ünïcode wide")),
    "F11-nul-controls-zero-width-bidi": Accepted(_serve(CONTROL, CONTROL), _check_control),
    "F12-truncated-first-poll": Accepted(_serve(HALF_TEN), _check_truncated_first),
    "F12-truncated-after-full-feed": Accepted(_serve(FULL_TEN, HALF_TEN), _check_truncated_after_full),
    "F17-rss-script-soup": Accepted(_serve(SCRIPT_SOUP_RSS),
                                    _check_markup("Breaking", "Para\njs link data link\nTail text")),
    "F17-atom-script-soup": Accepted(_serve(SCRIPT_SOUP_ATOM, ctype="application/atom+xml"),
                                     _check_markup("Atom title", "Atom body\nclicky")),
    "F18-escaped-slack-syntax": Accepted(_serve(SLACK_SYNTAX), _check_markup("Alert done", "x y")),
    "F19-duplicate-and-missing-guids": Accepted(_serve(DUP_GUIDS), _check_dup_guids),
    "F20-impossible-and-huge-dates": Accepted(_serve(BAD_DATES), _check_dates),
    "F22-tme-gap-recovered-from-older-pages": Accepted(lambda k: [_tme_channel(115), _tme_channel(155)],
                                                       _check_recovered, telegram=True),
    "F22-tme-gap-beyond-backfill-limit": Accepted(lambda k: [_tme_channel(115), _tme_channel(1015)],
                                                  _check_unrecoverable, telegram=True),
    "F22-rss-mirror-window-overflow": Accepted(_serve(_rss_mirror(range(100, 116)), _rss_mirror(range(140, 156))),
                                               _check_rss_mirror),
    "F24-same-guid-edited-title": Accepted(_serve(EDIT_V1, EDIT_V2), _check_edit),
    "F25-304-with-stored-etag": Accepted(_conditional, _check_304),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
async def test_accepted_input_is_stored_safely_and_the_other_source_too(
    tmp_path: Path, clock: FakeClock, payloads: Payloads, migrated_db: Path, case: str
) -> None:
    spec = ACCEPTED[case]
    async with ingest_env(tmp_path, clock, payloads, bad_path, telegram=spec.telegram, template=migrated_db) as env:
        steps = spec.steps(env.kit)
        reports = []
        for n, handler in enumerate(steps):
            if n:
                clock.advance(minutes=5)
            env.kit.server.routes["/bad"] = handler
            if spec.memory:
                with peak_memory() as peak:
                    by_name, elapsed = await env.run()
                assert peak[0] < MEMORY_BUDGET, f"tracemalloc peak {peak[0] / MiB:.1f} MiB"
            else:
                by_name, elapsed = await env.run()
            assert elapsed < spec.max_seconds, f"{case} took {elapsed:.1f}s"
            assert_good_source_stored(env, by_name)
            reports.append(by_name["bad"])
        spec.check(env, reports)
        assert_stored_is_safe(env)
