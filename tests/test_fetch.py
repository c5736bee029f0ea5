"""fetch.fetch against real loopback servers on 127.0.0.1 (rows H01-H18 of the reliability contract)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from monitor.errors import FetchError, PermanentFetchError, TransientFetchError
from monitor.fetch import fetch, make_client

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
MiB = 2**20


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
    """A handler for a well-formed response; ``Content-Length`` is added unless given."""
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    hdrs.setdefault("Content-Length", str(len(body)))

    async def handler(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        writer.write(_head(status, hdrs) + body)

    return handler


def raw(data: bytes) -> Handler:
    async def handler(req: Request, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        writer.write(data)

    return handler


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """50 MiB of zeros, gzip- and zlib-compressed (about 50 KB each)."""
    zeros = bytes(50 * MiB)
    return {"gzip": gzip.compress(zeros, 9), "deflate": zlib.compress(zeros, 9)}


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


async def test_304_conditional_round_trip(server: Server, client: httpx.AsyncClient) -> None:
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
    server: Server, client: httpx.AsyncClient, bombs: dict[str, bytes]
) -> None:
    # httpx's own redirect following would aread() this 50 MiB bomb with its unbounded decoder.
    server.routes["/old"] = respond("302 Found", body=bombs["gzip"], Location="/new", Content_Encoding="gzip")
    server.routes["/new"] = respond(body=FEED)
    result = await fetch(client, server.url("/old"), max_bytes=MiB)
    assert result.body == FEED


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
    max_bytes: int = MiB
    deadline: float = 5.0


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


def _status(status: str, body: bytes = b"") -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: respond(status, body=body)


def _bytes(data: bytes) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: raw(data)


def _encoded(encoding: str, body: bytes) -> Callable[[dict[str, bytes]], Handler]:
    return lambda b: respond(body=body, Content_Encoding=encoding)


FAULTS = {
    "gzip bomb": Fault(_gzip_bomb, "too_large", False),
    "deflate bomb": Fault(_deflate_bomb, "too_large", False),
    "br refused": Fault(_encoded("br", b"\x0b\x02\x80hello\x03"), "bad_encoding", False),
    "stacked gzip, gzip": Fault(_stacked, "bad_encoding", False),
    "unknown x-evil": Fault(_encoded("x-evil", b"evil"), "bad_encoding", False),
    "corrupt gzip": Fault(_encoded("gzip", b"\x1f\x8b not really gzip"), "bad_encoding", False),
    "Content-Length 99999999999": Fault(
        _bytes(_head("200 OK", {"Content-Length": "99999999999"}) + b"x" * 10), "too_large", False),
    "plain body over cap": Fault(lambda b: respond(body=b"a" * (MiB + 1)), "too_large", False),
    "endless chunked body": Fault(lambda b: _endless_chunks, "too_large", False),
    "slow drip beyond deadline": Fault(lambda b: _slow_drip, "timeout", True, deadline=0.5),
    "accepts, never answers": Fault(lambda b: _never_answer, "timeout", True, deadline=0.5),
    "truncated body (CL 1000, 10 bytes)": Fault(
        _bytes(_head("200 OK", {"Content-Length": "1000"}) + b"0123456789"), "http_error", True),
    "non-HTTP bytes": Fault(_bytes(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), "http_error", True),
    "200 kB response header": Fault(_bytes(_head("200 OK", {"X-Big": "a" * 200_000})), "http_error", True),
    "500 server error": Fault(_status("500 Internal Server Error"), "http_status", True),
    "503 with HTML": Fault(_status("503 Service Unavailable", b"<html>wait</html>"), "http_status", True),
    "408 request timeout": Fault(_status("408 Request Timeout"), "http_status", True),
    "404 not found": Fault(_status("404 Not Found", b"gone"), "http_status", False),
    "410 gone": Fault(_status("410 Gone"), "http_status", False),
    "300 without Location": Fault(_status("300 Multiple Choices"), "http_status", False),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_is_classified(
    server: Server, client: httpx.AsyncClient, bombs: dict[str, bytes], name: str
) -> None:
    fault = FAULTS[name]
    server.routes["/feed"] = fault.handler(bombs)
    url = server.url("/feed")
    with pytest.raises(FetchError) as info:
        await fetch(client, url, max_bytes=fault.max_bytes, deadline=fault.deadline, source="src-1")
    err = info.value
    assert err.kind == fault.kind, err
    assert isinstance(err, TransientFetchError if fault.transient else PermanentFetchError)
    assert (err.url, err.source) == (url, "src-1")
    assert url in str(err)


async def test_read_timeout_also_bounds_a_silent_server(server: Server) -> None:
    server.routes["/feed"] = _never_answer
    async with make_client(user_agent="ua", timeout=0.3) as short:
        with pytest.raises(TransientFetchError) as info:
            await fetch(short, server.url("/feed"), deadline=5.0)
    assert info.value.kind == "timeout"


async def test_redirect_loop_is_too_many_redirects(server: Server, client: httpx.AsyncClient) -> None:
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
        pytest.param("file:///etc/passwd", id="file scheme"),
        pytest.param("ftp://127.0.0.1/feed", id="ftp scheme"),
        pytest.param("javascript:alert(1)", id="javascript scheme"),
    ],
)
async def test_redirect_to_other_scheme_is_bad_url(
    server: Server, client: httpx.AsyncClient, location: str
) -> None:
    server.routes["/feed"] = respond("302 Found", Location=location)
    with pytest.raises(PermanentFetchError) as info:
        await fetch(client, server.url("/feed"))
    assert info.value.kind in ("bad_url", "http_error")
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
        pytest.param("429 Too Many Requests", {"Retry-After": "120"}, 120.0, id="429 delta 120"),
        pytest.param("503 Service Unavailable", _retry_headers("Tue, 24 Sep 2024 10:05:00 GMT"), 300.0,
                     id="503 http-date against Date"),
        pytest.param("429 Too Many Requests", {"Retry-After": "2787"}, 2787.0, id="rsshub wait 2787"),
        pytest.param("429 Too Many Requests", {"Retry-After": "999999"}, 6 * 3600.0, id="capped at 6h"),
        pytest.param("503 Service Unavailable", _retry_headers("Mon, 23 Sep 2024 10:00:00 GMT"), 0.0,
                     id="date in the past"),
        pytest.param("429 Too Many Requests", {"Retry-After": "soon"}, None, id="garbage"),
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


async def test_connection_refused_is_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientFetchError) as info:
        await fetch(client, f"http://127.0.0.1:{port}/feed")
    assert info.value.kind == "connect_error"


async def test_tls_handshake_failure_is_tls_error(client: httpx.AsyncClient) -> None:
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
