"""fetch.fetch against real loopback servers on 127.0.0.1.

Catalogue rows of reliability.md 2.2 (H01-H18) and the fetch side of 2.1 (F07, F08, F23, F25) appear in the test
names or param ids (``H05-...``). Nothing here talks to any address but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from monitor.errors import FetchError, ParseError, PermanentFetchError, TransientFetchError
from monitor.fetch import _redirect_allowed, fetch, make_client
from monitor.fetch_headers import cache_seconds, retry_after
from monitor.parse import parse
from tests.bounds import MiB, bounded

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
TLS = Path(__file__).parent / "data" / "tls"
FEEDS = Path(__file__).parent / "data" / "feeds"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamWriter, asyncio.StreamReader], Awaitable[None]]


@dataclass
class Server:
    """A raw HTTP/1.1 server on 127.0.0.1:0; each path maps to a handler that writes any bytes it likes."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request = _parse_request(head)
            self.requests.append(request)
            await self.routes[request.path](request, writer, reader)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.tasks.discard(task)


def _parse_request(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return Request(method, path, headers)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    listener = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        listener.close()
        await listener.wait_closed()
        for task in list(srv.tasks):
            task.cancel()
        await asyncio.gather(*srv.tasks, return_exceptions=True)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(user_agent="news-monitor-test/1.0", timeout=5.0, connect_timeout=2.0) as c:
        yield c


def _head(status: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(status: str = "200 OK", body: bytes = b"", **headers: str) -> Handler:
    """A handler for a well-formed response; ``Content-Length`` is added unless given.

    The body goes out in 64 KiB writes, so a large one never sits whole in the server's send buffer.
    """
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    hdrs.setdefault("Content-Length", str(len(body)))

    async def handler(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        writer.write(_head(status, hdrs))
        view = memoryview(body)
        for at in range(0, len(body), 65536):
            writer.write(view[at : at + 65536])
            await writer.drain()

    return handler


def raw(data: bytes) -> Handler:
    async def handler(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        writer.write(data)

    return handler


def _zeros_compressed(wbits: int, mib: int) -> bytes:
    """``mib`` MiB of zeros compressed at level 9 (wbits 31: gzip, 15: zlib), built 1 MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MiB)
    return b"".join([*(packer.compress(zeros) for _ in range(mib)), packer.flush()])


@pytest.fixture(scope="module")
def payloads() -> dict[str, bytes]:
    """Bodies built once per module: 256 MiB zero bombs (about 260 KB each) and two oversized feeds."""
    items = "".join(f"<item><title>Item number {i}</title><description>&lt;p&gt;Body of item {i}&lt;/p&gt;"
                    f"</description><guid>urn:item:{i:06d}</guid></item>\n" for i in range(100_000))
    return {
        "gzip": _zeros_compressed(31, 256),  # decodes to 4x the memory bound of the tests below
        "deflate": _zeros_compressed(15, 256),
        "feed100k": f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode(),
        "title20m": b'<rss version="2.0"><channel><title>t</title><item><title>' + b"A" * 20_000_000
        + b"</title></item></channel></rss>",
    }


# -- success paths -------------------------------------------------------------------------------------


async def test_200_with_etag_returns_body_and_validators(server: Server, client: httpx.AsyncClient) -> None:
    server.routes["/feed"] = respond(
        body=FEED,
        ETag='"v1"',
        Last_Modified="Tue, 24 Sep 2024 10:00:00 GMT",
        Content_Type="application/rss+xml",
    )
    result = await fetch(client, server.url("/feed"), source="wire")
    assert (result.status, result.body, result.not_modified) == (200, FEED, False)
    assert result.etag == '"v1"'
    assert result.last_modified == "Tue, 24 Sep 2024 10:00:00 GMT"
    assert result.content_type == "application/rss+xml"
    assert result.url == server.url("/feed")
    sent = server.requests[0].headers
    assert sent["user-agent"] == "news-monitor-test/1.0"
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in sent


async def test_F25_304_conditional_round_trip(server: Server, client: httpx.AsyncClient) -> None:
    modified = "Tue, 24 Sep 2024 10:00:00 GMT"

    async def conditional(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        if req.headers.get("if-none-match") == '"v1"' or req.headers.get("if-modified-since") == modified:
            writer.write(_head("304 Not Modified"))
        else:
            writer.write(_head("200 OK", {"ETag": '"v1"', "Last-Modified": modified,
                                          "Content-Length": str(len(FEED))}) + FEED)

    server.routes["/feed"] = conditional
    first = await fetch(client, server.url("/feed"))
    second = await fetch(client, server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.status == 304 and second.body == b""
    assert (second.etag, second.last_modified) == ('"v1"', modified)
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert server.requests[1].headers["if-modified-since"] == modified
    by_date = await fetch(client, server.url("/feed"), last_modified=modified)
    assert by_date.not_modified and by_date.etag is None and by_date.last_modified == modified
    # A 304 is a success with no body: the pipeline must not hand b"" to parse (that would be empty_body).


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        pytest.param("gzip", gzip.compress, id="gzip body"),
        pytest.param("x-gzip", gzip.compress, id="x-gzip body"),
        pytest.param("deflate", zlib.compress, id="deflate (zlib) body"),
        pytest.param("identity", lambda b: b, id="identity body"),
        pytest.param("GZIP", gzip.compress, id="upper-case gzip"),
    ],
)
async def test_compressed_body_is_decoded(
    server: Server, client: httpx.AsyncClient, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    server.routes["/feed"] = respond(body=compress(FEED * 100), Content_Encoding=encoding)
    result = await fetch(client, server.url("/feed"))
    assert result.body == FEED * 100


async def test_unsendable_stored_validators_are_dropped(server: Server, client: httpx.AsyncClient) -> None:
    server.routes["/feed"] = respond(body=FEED)
    result = await fetch(client, server.url("/feed"), etag='"caf\u00e9"', last_modified="Tue,\r\nX-Evil: 1")
    assert result.body == FEED
    sent = server.requests[0].headers
    assert "if-none-match" not in sent and "if-modified-since" not in sent and "x-evil" not in sent


async def test_relative_redirect_is_followed_and_final_url_reported(
    server: Server, client: httpx.AsyncClient
) -> None:
    server.routes["/old"] = respond("301 Moved Permanently", Location="/new")
    server.routes["/new"] = respond(body=FEED)
    result = await fetch(client, server.url("/old"))
    assert (result.status, result.body, result.url) == (200, FEED, server.url("/new"))


async def test_redirect_body_is_never_read(
    server: Server, client: httpx.AsyncClient, payloads: dict[str, bytes]
) -> None:
    # httpx's own redirect following would aread() this 256 MiB bomb with its unbounded decoder.
    server.routes["/old"] = respond("302 Found", body=payloads["gzip"], Location="/new", Content_Encoding="gzip")
    server.routes["/new"] = respond(body=FEED)
    with bounded(max_seconds=5.0, max_mib=64):
        result = await fetch(client, server.url("/old"), max_bytes=MiB)
    assert result.body == FEED


@pytest.mark.parametrize(
    ("statuses", "permanent"),
    [
        pytest.param(("301 Moved Permanently",), True, id="301"),
        pytest.param(("308 Permanent Redirect",), True, id="308"),
        pytest.param(("301 Moved Permanently", "308 Permanent Redirect"), True, id="301 then 308"),
        pytest.param(("301 Moved Permanently", "302 Found"), False, id="301 then 302"),
        pytest.param(("302 Found", "301 Moved Permanently"), False, id="302 then 301"),
        pytest.param(("307 Temporary Redirect",), False, id="307"),
        pytest.param(("303 See Other",), False, id="303"),
        pytest.param((), False, id="no redirect"),
    ],
)
async def test_permanent_url_only_when_every_hop_is_permanent(
    server: Server, client: httpx.AsyncClient, statuses: tuple[str, ...], permanent: bool
) -> None:
    for hop, status in enumerate(statuses):
        server.routes[f"/hop{hop}"] = respond(status, Location=server.url(f"/hop{hop + 1}"))
    final = server.url(f"/hop{len(statuses)}")
    server.routes[f"/hop{len(statuses)}"] = respond(body=FEED)
    result = await fetch(client, server.url("/hop0"))
    assert (result.status, result.body, result.url) == (200, FEED, final)
    assert result.permanent_url == (final if permanent else None)


async def test_permanent_url_is_reported_with_a_304(server: Server, client: httpx.AsyncClient) -> None:
    server.routes["/old"] = respond("308 Permanent Redirect", Location="/new")
    server.routes["/new"] = raw(_head("304 Not Modified", {"Cache-Control": "max-age=120"}))
    result = await fetch(client, server.url("/old"), etag='"v1"')
    assert (result.not_modified, result.etag, result.permanent_url) == (True, '"v1"', server.url("/new"))
    assert result.cache_seconds == 120.0


async def test_permanent_redirect_to_an_error_is_only_the_error(server: Server, client: httpx.AsyncClient) -> None:
    server.routes["/old"] = respond("301 Moved Permanently", Location="/new")
    server.routes["/new"] = respond("404 Not Found", body=b"gone")
    with pytest.raises(PermanentFetchError) as info:
        await fetch(client, server.url("/old"))
    assert (info.value.kind, info.value.status) == ("http_status", 404)


DATE = "Tue, 24 Sep 2024 10:00:00 GMT"
IN_5_MIN = "Tue, 24 Sep 2024 10:05:00 GMT"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Cache-Control": "max-age=600"}, 600.0, id="max-age"),
        pytest.param({"Cache-Control": "public, s-maxage=3600, max-age=60"}, 60.0, id="s-maxage ignored"),
        pytest.param({"Cache-Control": "s-maxage=3600"}, None, id="s-maxage alone"),
        pytest.param({"Cache-Control": 'max-age="120"'}, 120.0, id="quoted max-age"),
        pytest.param({"Cache-Control": "Public, MAX-AGE=30"}, 30.0, id="upper-case"),
        pytest.param({"Cache-Control": "no-cache"}, 0.0, id="no-cache"),
        pytest.param({"Cache-Control": "max-age=600, no-store"}, 0.0, id="no-store wins"),
        pytest.param({"Cache-Control": "max-age=0"}, 0.0, id="max-age=0"),
        pytest.param({"Cache-Control": "max-age=99999999"}, 86400.0, id="capped at 24h"),
        pytest.param({"Cache-Control": "max-age=-1", "Expires": IN_5_MIN, "Date": DATE}, 300.0,
                     id="malformed max-age falls back to Expires"),
        pytest.param({"Cache-Control": "max-age=60", "Expires": IN_5_MIN, "Date": DATE}, 60.0,
                     id="max-age beats Expires"),
        pytest.param({"Expires": IN_5_MIN, "Date": DATE}, 300.0, id="Expires minus Date"),
        pytest.param({"Expires": "Mon, 23 Sep 2024 10:00:00 GMT", "Date": DATE}, 0.0, id="Expires in the past"),
        pytest.param({"Expires": "Thu, 26 Sep 2024 10:00:00 GMT", "Date": DATE}, 86400.0, id="Expires capped"),
        pytest.param({"Expires": IN_5_MIN}, None, id="Expires without Date"),
        pytest.param({"Expires": "0", "Date": DATE}, None, id="unparsable Expires"),
        pytest.param({"Cache-Control": "public"}, None, id="no freshness directive"),
        pytest.param({}, None, id="no cache headers"),
    ],
)
async def test_cache_seconds_from_response_headers(
    server: Server, client: httpx.AsyncClient, headers: dict[str, str], expected: float | None
) -> None:
    server.routes["/feed"] = raw(_head("200 OK", {"Content-Length": str(len(FEED)), **headers}) + FEED)
    result = await fetch(client, server.url("/feed"))
    assert (result.body, result.cache_seconds) == (FEED, expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("max-age=" + "9" * 5000, "", ""), 86400.0, id="5000-digit max-age"),
        pytest.param(("max-age=0000000000000000005", "", ""), 5.0, id="leading zeros"),
        pytest.param(('no-cache="Set-Cookie", max-age=5', "", ""), 5.0, id="qualified no-cache"),
        pytest.param(("max-age=1.5", "", ""), None, id="fractional max-age"),
        pytest.param(("max-age=\u0661", "", ""), None, id="non-ascii digit"),
    ],
)
def test_cache_seconds_edge_values(args: tuple[str, str, str], expected: float | None) -> None:
    assert cache_seconds(*args) == expected


def test_retry_after_with_a_huge_delta_is_capped() -> None:
    assert retry_after("9" * 5000, "") == 6 * 3600.0


async def test_injected_transport_is_used() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=FEED, headers={"ETag": "mock"})

    async with make_client(user_agent="ua", transport=httpx.MockTransport(handler)) as mocked:
        result = await fetch(mocked, "https://feeds.example.org/rss")
    assert (result.body, result.etag) == (FEED, "mock")


# -- failures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    handler: Callable[[dict[str, bytes]], Handler]
    kind: str
    transient: bool
    status: int | None = None
    max_bytes: int = MiB
    deadline: float = 3.0


async def _endless_chunks(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
    writer.write(_head("200 OK", {"Transfer-Encoding": "chunked"}))
    chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
    for _ in range(4096):  # 256 MiB at most, if the client never stopped
        writer.write(chunk)
        await writer.drain()


async def _slow_drip(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
    writer.write(_head("200 OK", {"Content-Length": "100000"}))
    for _ in range(100):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.05)  # a slow server; the client's deadline is 0.5 s


async def _never_answer(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
    await reader.read()  # returns when the client gives up and closes


def _gzip_bomb(b: dict[str, bytes]) -> Handler:
    return respond(body=b["gzip"], Content_Encoding="gzip")


def _deflate_bomb(b: dict[str, bytes]) -> Handler:
    return respond(body=b["deflate"], Content_Encoding="deflate")


def _stacked(b: dict[str, bytes]) -> Handler:
    return respond(body=gzip.compress(b["gzip"]), Content_Encoding="gzip, gzip")


def _feed(name: str) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: respond(body=b[name], Content_Type="application/rss+xml")


def _status(status: str, body: bytes = b"", **headers: str) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: respond(status, body=body, **headers)


RSSHUB_ERROR = b"<html><body><h1>Looks like something went wrong</h1><p>A wait of 2787 seconds is required</p></html>"


def _bytes(data: bytes) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: raw(data)


def _encoded(encoding: str, body: bytes) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: respond(body=body, Content_Encoding=encoding)


FAULTS = {
    "H01-gzip bomb 256 MiB": Fault(_gzip_bomb, "too_large", False),
    "H02-deflate bomb 256 MiB": Fault(_deflate_bomb, "too_large", False),
    "H03-br refused": Fault(_encoded("br", b"\x0b\x02\x80hello\x03"), "bad_encoding", False),
    "H04-stacked gzip, gzip": Fault(_stacked, "bad_encoding", False),
    "H05-unknown x-evil": Fault(_encoded("x-evil", b"evil"), "bad_encoding", False),
    "corrupt gzip": Fault(_encoded("gzip", b"\x1f\x8b not really gzip"), "bad_encoding", False),
    "H15-Content-Length 99999999999": Fault(
        _bytes(_head("200 OK", {"Content-Length": "99999999999"}) + b"x" * 10), "too_large", False),
    "plain body over cap": Fault(lambda b: respond(body=b"a" * (MiB + 1)), "too_large", False),
    "F07-13.5 MB feed, 100k items": Fault(_feed("feed100k"), "too_large", False, max_bytes=5 * MiB),
    "F08-20 MB title": Fault(_feed("title20m"), "too_large", False, max_bytes=5 * MiB),
    "H06-endless chunked body": Fault(lambda b: _endless_chunks, "too_large", False),
    "H07-slow drip beyond deadline": Fault(lambda b: _slow_drip, "timeout", True, deadline=0.5),
    "H08-accepts, never answers": Fault(lambda b: _never_answer, "timeout", True, deadline=0.5),
    "H13-truncated body (CL 1000, 10 bytes)": Fault(
        _bytes(_head("200 OK", {"Content-Length": "1000"}) + b"0123456789"), "http_error", True),
    "H14-non-HTTP bytes": Fault(_bytes(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), "http_error", True),
    "H12-200 kB response header": Fault(_bytes(_head("200 OK", {"X-Big": "a" * 200_000})), "http_error", True),
    "500 server error": Fault(_status("500 Internal Server Error"), "http_status", True, 500),
    "F23-503 with an RSSHub error page": Fault(_status("503 Service Unavailable", RSSHUB_ERROR), "http_status",
                                               True, 503),
    "408 request timeout": Fault(_status("408 Request Timeout"), "http_status", True, 408),
    "404 not found": Fault(_status("404 Not Found", b"gone"), "http_status", False, 404),
    "410 gone": Fault(_status("410 Gone"), "http_status", False, 410),
    "300 without Location": Fault(_status("300 Multiple Choices"), "http_status", False, 300),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_is_classified(
    server: Server, client: httpx.AsyncClient, payloads: dict[str, bytes], name: str
) -> None:
    fault = FAULTS[name]
    server.routes["/feed"] = fault.handler(payloads)
    url = server.url("/feed")
    # Every fault ends by the deadline (plus slack for a loaded machine) and within a fixed memory budget;
    # a bomb decoded without a bound would need 256 MiB.
    with bounded(max_seconds=fault.deadline + 1.0, max_mib=64), pytest.raises(FetchError) as info:
        await fetch(client, url, max_bytes=fault.max_bytes, deadline=fault.deadline, source="src-1")
    err = info.value
    assert err.kind == fault.kind, err
    assert isinstance(err, TransientFetchError if fault.transient else PermanentFetchError)
    assert (err.url, err.source) == (url, "src-1")
    assert url in str(err)
    assert err.status == fault.status


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        pytest.param((FEEDS / "login.html").read_bytes(), "text/html; charset=utf-8", "not_a_feed",
                     id="F13-html login page"),
        pytest.param((FEEDS / "error.json").read_bytes(), "application/json", "not_a_feed", id="F14-json error"),
        pytest.param(b"", "application/rss+xml", "empty_body", id="F15-empty body"),
        pytest.param(b" \t\r\n  \n", "application/rss+xml", "empty_body", id="F16-whitespace body"),
        pytest.param(RSSHUB_ERROR, "text/html; charset=utf-8", "not_a_feed", id="F23-RSSHub error page"),
    ],
)
async def test_error_body_with_200_is_fetched_then_refused_by_parse(
    server: Server, client: httpx.AsyncClient, body: bytes, content_type: str, kind: str
) -> None:
    server.routes["/feed"] = respond(body=body, Content_Type=content_type)
    result = await fetch(client, server.url("/feed"))
    assert (result.status, result.body) == (200, body)
    with pytest.raises(ParseError) as info:
        parse(result.body, content_type=result.content_type, url=result.url)
    assert info.value.kind == kind


async def test_H08_read_timeout_also_bounds_a_silent_server(server: Server) -> None:
    server.routes["/feed"] = _never_answer
    async with make_client(user_agent="ua", timeout=0.3) as short:
        with pytest.raises(TransientFetchError) as info:
            await fetch(short, server.url("/feed"), deadline=5.0)
    assert info.value.kind == "timeout"


async def test_H09_redirect_loop_is_too_many_redirects(server: Server, client: httpx.AsyncClient) -> None:
    async def loop(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        hop = int(req.path.rsplit("/", 1)[1]) + 1
        writer.write(_head("302 Found", {"Location": f"/hop/{hop}", "Content-Length": "0"}))

    for i in range(20):
        server.routes[f"/hop/{i}"] = loop
    with pytest.raises(PermanentFetchError) as info:
        await fetch(client, server.url("/hop/0"))
    assert info.value.kind == "too_many_redirects"
    assert len(server.requests) == 6  # the first request and max_redirects=5 follow-ups


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("file:///etc/passwd", id="H10-file scheme"),
        pytest.param("ftp://127.0.0.1/feed", id="H10-ftp scheme"),
        pytest.param("javascript:alert(1)", id="H10-javascript scheme"),
    ],
)
async def test_redirect_to_other_scheme_is_bad_url(
    server: Server, client: httpx.AsyncClient, location: str
) -> None:
    server.routes["/feed"] = respond("302 Found", Location=location)
    with pytest.raises(PermanentFetchError) as info:
        await fetch(client, server.url("/feed"))
    assert info.value.kind == "bad_url"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("ftp://127.0.0.1/feed.xml", id="ftp"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("/relative/feed.xml", id="relative"),
        pytest.param("http://", id="no host"),
        pytest.param("http://[::1", id="malformed"),
    ],
)
async def test_source_url_must_be_http(client: httpx.AsyncClient, url: str) -> None:
    with pytest.raises(PermanentFetchError) as info:
        await fetch(client, url, source="s")
    assert info.value.kind == "bad_url"
    assert url in str(info.value)


def _retry_headers(value: str) -> dict[str, str]:
    return {"Retry-After": value, "Date": "Tue, 24 Sep 2024 10:00:00 GMT"}


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        pytest.param("429 Too Many Requests", {"Retry-After": "120"}, 120.0, id="H16-429 delta 120"),
        pytest.param("503 Service Unavailable", _retry_headers("Tue, 24 Sep 2024 10:05:00 GMT"), 300.0,
                     id="503 http-date against Date"),
        pytest.param("429 Too Many Requests", {"Retry-After": "2787"}, 2787.0, id="F23-rsshub wait 2787"),
        pytest.param("429 Too Many Requests", {"Retry-After": "999999"}, 6 * 3600.0, id="H16-capped at 6h"),
        pytest.param("503 Service Unavailable", _retry_headers("Mon, 23 Sep 2024 10:00:00 GMT"), 0.0,
                     id="date in the past"),
        pytest.param("429 Too Many Requests", {"Retry-After": "soon"}, None, id="garbage"),
        # "²".isdigit() is True but float("²") raised ValueError out of fetch before the fix
        pytest.param("429 Too Many Requests", {"Retry-After": "\u00b2"}, None, id="superscript digit"),
        pytest.param("500 Internal Server Error", {}, None, id="500 without header"),
    ],
)
async def test_retry_after(
    server: Server, client: httpx.AsyncClient, status: str, headers: dict[str, str], expected: float | None
) -> None:
    server.routes["/feed"] = raw(_head(status, {"Content-Length": "0", **headers}))
    with pytest.raises(TransientFetchError) as info:
        await fetch(client, server.url("/feed"))
    err = info.value
    assert err.kind == "http_status"
    assert err.status == int(status.split()[0])
    assert err.retry_after == expected


async def test_retry_after_http_date_without_date_header_is_ignored(
    server: Server, client: httpx.AsyncClient
) -> None:
    # h11-based servers always send Date; this raw one does not, so there is no reference time.
    when = format_datetime(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=1), usegmt=True)
    headers = {"Retry-After": when, "Content-Length": "0"}
    server.routes["/feed"] = raw(_head("503 Service Unavailable", headers))
    with pytest.raises(TransientFetchError) as info:
        await fetch(client, server.url("/feed"))
    assert info.value.retry_after is None


async def test_H17_connection_refused_is_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientFetchError) as info:
        await fetch(client, f"http://127.0.0.1:{port}/feed")
    assert info.value.kind == "connect_error"


async def test_H18_tls_handshake_answered_in_plain_text_is_tls_error(client: httpx.AsyncClient) -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # answers the ClientHello in plain text
        writer.write(_head("400 Bad Request", {"Content-Length": "0"}))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            await reader.read(65536)
        writer.close()

    listener = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PermanentFetchError) as info:
            await fetch(client, f"https://127.0.0.1:{port}/feed")
    finally:
        listener.close()
        await listener.wait_closed()
    assert info.value.kind == "tls_error"


async def test_H18_self_signed_certificate_is_tls_error(client: httpx.AsyncClient) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "selfsigned-cert.pem", TLS / "selfsigned-key.pem")  # CN/SAN 127.0.0.1

    async def feed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_head("200 OK", {"Content-Length": str(len(FEED))}) + FEED)  # never reached
        writer.close()

    listener = await asyncio.start_server(feed, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PermanentFetchError) as info:
            await fetch(client, f"https://127.0.0.1:{port}/feed")
    finally:
        listener.close()
        await listener.wait_closed()
    assert info.value.kind == "tls_error"
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


# -- SSRF guard for redirects (H11) ----------------------------------------------------------------------

PUBLIC = "https://feeds.example.org/rss"


@pytest.mark.parametrize(
    ("origin", "target", "allowed"),
    [
        pytest.param(PUBLIC, "https://cdn.example.net/rss", True, id="public to public"),
        pytest.param(PUBLIC, "http://93.184.215.14/rss", True, id="public to public IPv4"),
        pytest.param(PUBLIC, "http://[2606:4700::1111]/rss", True, id="public to public IPv6"),
        pytest.param(PUBLIC, "http://10.0.0.1.nip.example/", True, id="names are not resolved"),
        pytest.param(PUBLIC, "http://127.0.0.2:9/admin", False, id="H11-loopback 127.0.0.2"),
        pytest.param(PUBLIC, "http://10.1.2.3/", False, id="H11-private 10/8"),
        pytest.param(PUBLIC, "http://172.16.0.1/", False, id="H11-private 172.16/12"),
        pytest.param(PUBLIC, "http://192.168.1.1/", False, id="H11-private 192.168/16"),
        pytest.param(PUBLIC, "http://169.254.169.254/latest/meta-data/", False, id="H11-link-local metadata"),
        pytest.param(PUBLIC, "http://0.0.0.0:8080/", False, id="H11-unspecified IPv4"),
        pytest.param(PUBLIC, "http://100.64.0.1/", False, id="H11-shared CGNAT"),
        pytest.param(PUBLIC, "http://[::1]/", False, id="H11-loopback IPv6"),
        pytest.param(PUBLIC, "http://[::]/", False, id="H11-unspecified IPv6"),
        pytest.param(PUBLIC, "http://[fe80::1%25eth0]/", False, id="H11-link-local IPv6 with zone"),
        pytest.param(PUBLIC, "http://[fd00::1]/", False, id="H11-unique local IPv6"),
        pytest.param(PUBLIC, "http://[::ffff:127.0.0.1]/", False, id="H11-IPv4-mapped loopback"),
        pytest.param(PUBLIC, "http://localhost:8080/", False, id="H11-localhost"),
        pytest.param(PUBLIC, "http://LOCALHOST./", False, id="H11-localhost upper-case, trailing dot"),
        pytest.param(PUBLIC, "http://admin.localhost/", False, id="H11-subdomain of localhost"),
        pytest.param(PUBLIC, "http://2130706433/", False, id="H11-decimal IPv4"),
        pytest.param(PUBLIC, "http://0x7f.1/", False, id="H11-hex short IPv4"),
        pytest.param(PUBLIC, "http://127.1/", False, id="H11-short IPv4"),
        pytest.param(PUBLIC, "http://0177.0.0.1/", False, id="H11-octal IPv4 (unparsable)"),
        pytest.param("http://127.0.0.1:8080/feed", "http://127.0.0.2:9/x", True, id="loopback source stays inside"),
        pytest.param("http://192.168.1.10/feed", "http://10.0.0.1/feed", True, id="LAN source to LAN"),
        pytest.param("http://localhost/feed", "http://[::1]/feed", True, id="localhost source to loopback"),
        pytest.param("http://10.0.0.5/feed", PUBLIC, True, id="LAN source to public"),
    ],
)
def test_redirect_allowed(origin: str, target: str, allowed: bool) -> None:
    assert _redirect_allowed(origin, target) is allowed


@pytest.fixture
async def via_proxy(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose every request goes to the loopback server as an HTTP proxy, so a test can give a
    source a public host name while the only socket opened is to 127.0.0.1."""
    transport = httpx.AsyncHTTPTransport(proxy=server.url(""))
    async with make_client(user_agent="ua", timeout=5.0, connect_timeout=2.0, transport=transport) as c:
        yield c


async def test_H11_public_source_redirect_to_loopback_is_blocked(
    server: Server, via_proxy: httpx.AsyncClient
) -> None:
    server.routes["http://feeds.example.org/rss"] = respond("301 Moved Permanently",
                                                             Location="http://127.0.0.2:9/admin")
    with pytest.raises(PermanentFetchError) as info:
        await fetch(via_proxy, "http://feeds.example.org/rss", source="s")
    assert info.value.kind == "redirect_blocked"
    assert "127.0.0.2" in str(info.value)
    assert [r.path for r in server.requests] == ["http://feeds.example.org/rss"]


async def test_H11_public_source_may_move_to_another_public_host(
    server: Server, via_proxy: httpx.AsyncClient
) -> None:
    server.routes["http://feeds.example.org/rss"] = respond("301 Moved Permanently",
                                                             Location="http://cdn.example.net/rss")
    server.routes["http://cdn.example.net/rss"] = respond(body=FEED)
    result = await fetch(via_proxy, "http://feeds.example.org/rss")
    assert (result.body, result.permanent_url) == (FEED, "http://cdn.example.net/rss")


async def test_H11_loopback_source_may_redirect_within_loopback(server: Server, client: httpx.AsyncClient) -> None:
    server.routes["/old"] = respond("302 Found", Location=server.url("/new"))
    server.routes["/new"] = respond(body=FEED)
    result = await fetch(client, server.url("/old"))
    assert (result.body, result.permanent_url) == (FEED, None)


async def test_cookies_set_by_one_feed_are_never_sent_anywhere(server: Server, client: httpx.AsyncClient) -> None:
    """The client is shared by every source: a Set-Cookie must not follow us to the next request."""
    for path in ("/a.xml", "/b.xml"):
        server.routes[path] = respond(body=b"<rss/>", **{"Set-Cookie": "sid=abc; Path=/"})
    await fetch(client, server.url("/a.xml"))
    await fetch(client, server.url("/b.xml"))
    assert "cookie" not in server.requests[-1].headers and len(client.cookies) == 0
