"""Fetch stage: one bounded conditional GET of a source URL -> ``FetchResult``; the only httpx importer.

Every failure becomes a ``TransientFetchError`` or ``PermanentFetchError`` whose ``kind`` names the cause.
The client keeps httpx's API on aiohttp's connection handling (``httpx-aiohttp``): less client CPU per
request than httpx's own pool on the bench farm (README, Performance); decoding, deadlines and redirects stay
ours either way.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from monitor.errors import FetchError, PermanentFetchError, TransientFetchError
from monitor.fetch_headers import cache_seconds, retry_after
from monitor.models import FetchResult

_SCHEMES = ("http", "https")
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # decompressobj wbits: auto-detect a gzip or zlib header
_TRANSIENT_STATUS = frozenset({408, 425, 429})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_LEGACY_IPV4 = frozenset("0123456789abcdefx.")  # characters of inet_aton forms: "2130706433", "0x7f.1", "127.1"
# httpx errors in match order: (type, kind, transient). ConnectError with an SSL cause becomes tls_error.
_HTTPX_ERRORS: tuple[tuple[type[Exception], str, bool], ...] = (
    (httpx.TimeoutException, "timeout", True),
    (httpx.ConnectError, "connect_error", True),
    (httpx.UnsupportedProtocol, "bad_url", False),
    (httpx.InvalidURL, "bad_url", False),
)
# aiohttp errors the transport passes through unmapped (a malformed response, a payload cut mid-body).
_AIOHTTP_ERRORS = (aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError)


def make_client(
    *,
    user_agent: str,
    timeout: float = 10.0,
    connect_timeout: float = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Build the one shared client (``Context`` owns and closes it) on the aiohttp transport; ``transport``
    replaces it (tests, a proxy)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        cookies=_no_cookies(),
        transport=transport or aiohttp_transport(),
    )


def aiohttp_transport(connections: int = 100) -> httpx.AsyncBaseTransport:
    """httpx's API on aiohttp's pool. The session is built on first use (inside the event loop), keeps no
    cookies and never decompresses (our bounded decoder does). Proxies from the environment stay httpx's
    (the client mounts its own proxy transports); aiohttp's ``trust_env`` would re-read the environment and
    ~/.netrc on every request, a third of an unchanged poll's CPU."""

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                     cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    return AiohttpTransport(client=session)


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: the one client is shared by every source, so a cookie one feed sets must
    never be sent to another (nor a session cookie tie our polls together)."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


@dataclass(frozen=True, slots=True)
class _Job:
    """The URL and source of one fetch, to build errors that name them."""

    url: str
    source: str

    def error(
        self, kind: str, detail: str, *, transient: bool = False, status: int | None = None,
        retry_after: float | None = None,
    ) -> FetchError:
        cls = TransientFetchError if transient else PermanentFetchError
        return cls(f"{kind} fetching {self.url}: {detail}", kind=kind, url=self.url, source=self.source,
                   status=status, retry_after=retry_after)


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 5 * 2**20,
    deadline: float = 30.0,
    source: str = "",
) -> FetchResult:
    """GET ``url`` once, conditionally, within ``deadline`` seconds and ``max_bytes`` decoded bytes.

    Use for every source poll. A 304 returns ``FetchResult(not_modified=True)``; failures raise
    ``FetchError``. Both a 2xx and a 304 carry ``cache_seconds`` (the freshness the server asked for) and
    ``permanent_url`` (the final URL when every redirect hop was a 301/308, else None).
    """
    job = _Job(url, source)
    _check_url(url, job)
    headers = _conditional_headers(etag, last_modified)
    try:
        async with asyncio.timeout(deadline):
            response, moved = await _follow(client, client.build_request("GET", url, headers=headers), job)
            try:
                return await _result(response, etag, last_modified, max_bytes, job, moved)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise job.error("timeout", f"no complete response within {deadline:g}s", transient=True) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _translate(exc, job) from exc
    except _AIOHTTP_ERRORS as exc:
        raise job.error("http_error", str(exc) or type(exc).__name__, transient=True) from exc


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from stored validators; one that cannot be sent as ASCII is dropped."""
    pairs = (("If-None-Match", etag), ("If-Modified-Since", last_modified))
    return {name: value for name, value in pairs if value and value.isascii() and value.isprintable()}


def _check_url(url: str, job: _Job) -> None:
    """Only absolute http(s) URLs, for the source URL and every redirect target."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise job.error("bad_url", f"invalid URL {url!r}") from exc
    if parsed.scheme not in _SCHEMES or not parsed.host:
        raise job.error("bad_url", f"only absolute http(s) URLs are fetched, not {url!r}")


async def _follow(
    client: httpx.AsyncClient, request: httpx.Request, job: _Job
) -> tuple[httpx.Response, str | None]:
    """Send and follow redirects ourselves: httpx's own follow reads each 3xx body with unbounded decoders.

    Returns the final response and its URL if every hop was permanent (301/308), else None.
    """
    response = await client.send(request, stream=True, follow_redirects=False)
    permanent: bool | None = None  # None: no redirect followed yet
    for _ in range(client.max_redirects):
        target = response.next_request
        if target is None:
            break
        permanent = permanent is not False and response.status_code in _PERMANENT_REDIRECTS
        await response.aclose()  # the redirect body is never read
        _check_redirect(str(target.url), job)
        response = await client.send(target, stream=True, follow_redirects=False)
    if response.next_request is not None:
        await response.aclose()
        raise job.error("too_many_redirects", f"more than {client.max_redirects} redirects")
    moved = permanent and response.url != request.url
    return response, str(response.url) if moved else None


def _check_redirect(target: str, job: _Job) -> None:
    """A redirect target must be http(s), and may not lead from a public source into internal address space."""
    _check_url(target, job)
    if not _redirect_allowed(job.url, target):
        raise job.error("redirect_blocked", f"redirect to internal address {target!r} refused")


def _redirect_allowed(origin_url: str, target_url: str) -> bool:
    """SSRF guard (H11): only a source that is itself internal (a LAN feed the user configured) may redirect
    into internal address space. No DNS is resolved: a public name that resolves inward is not caught."""
    origin, target = _host(origin_url), _host(target_url)
    if target is None:
        return False  # an unparsable target is never followed
    return (origin is not None and _is_internal(origin)) or not _is_internal(target)


def _host(url: str) -> str | None:
    """The URL's host, lower-case and without a trailing dot; None if httpx cannot parse the URL."""
    try:
        return httpx.URL(url).host.rstrip(".").lower()
    except (httpx.InvalidURL, TypeError):
        return None


def _is_internal(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and IP literals that are not globally routable: private,
    loopback, link-local, unspecified, shared (CGNAT) and documentation ranges, IPv4-mapped IPv6 included."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _ip_literal(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and not address.is_global


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP-literal host names, including the legacy IPv4 forms the C resolver accepts
    ("2130706433", "0x7f.1", "0177.0.0.1" are all 127.0.0.1); None for a host name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id ("fe80::1%eth0") is dropped
    except ValueError:
        pass
    if not host or not set(host) <= _LEGACY_IPV4:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


async def _result(
    response: httpx.Response, etag: str | None, last_modified: str | None, max_bytes: int, job: _Job,
    moved: str | None,
) -> FetchResult:
    """The final response as a ``FetchResult``: 304, or a 2xx body read under the cap."""
    headers = response.headers
    url, status = str(response.url), response.status_code
    fresh = cache_seconds(headers.get("cache-control", ""), headers.get("expires", ""), headers.get("date", ""))
    if status == 304:
        return FetchResult(url=url, status=304, not_modified=True, etag=headers.get("etag") or etag,
                           last_modified=headers.get("last-modified") or last_modified,
                           permanent_url=moved, cache_seconds=fresh)
    if not response.is_success:
        raise _status_error(response, job)
    body = await _body(response, max_bytes, job)
    return FetchResult(url=url, status=status, body=body, content_type=headers.get("content-type", ""),
                       etag=headers.get("etag"), last_modified=headers.get("last-modified"),
                       permanent_url=moved, cache_seconds=fresh)


async def _body(response: httpx.Response, max_bytes: int, job: _Job) -> bytes:
    """The decoded body of a 2xx, refused early if its ``Content-Length`` already exceeds the cap."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise job.error("too_large", f"Content-Length {declared} exceeds {max_bytes} bytes")
    # A body built in memory (httpx.MockTransport with content=...) is already decoded.
    decoder = None if response.is_stream_consumed else _decoder(response, job)
    return await _read(response, decoder, max_bytes, job)


def _decoder(response: httpx.Response, job: _Job) -> zlib._Decompress | None:
    """A bounded zlib decoder for one gzip/deflate layer; anything else (br, stacked, unknown) is refused."""
    raw = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in raw.split(",") if c.strip()]
    if codings in ([], ["identity"]):
        return None
    if codings in (["gzip"], ["x-gzip"], ["deflate"]):
        return zlib.decompressobj(_GZIP_OR_ZLIB)
    raise job.error("bad_encoding", f"refused Content-Encoding {raw!r}")


async def _read(
    response: httpx.Response, decoder: zlib._Decompress | None, max_bytes: int, job: _Job
) -> bytes:
    """Read raw network chunks (each one a deadline checkpoint) and decode at most ``max_bytes + 1`` bytes."""
    out = bytearray()
    try:
        async for raw in _chunks(response):
            out += raw if decoder is None else decoder.decompress(raw, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise job.error("too_large", f"body exceeds {max_bytes} bytes")
        if decoder is not None:
            out += decoder.flush()
    except zlib.error as exc:
        raise job.error("bad_encoding", f"corrupt compressed body ({exc})") from exc
    if len(out) > max_bytes:
        raise job.error("too_large", f"body exceeds {max_bytes} bytes")
    return bytes(out)


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """Raw network reads; ``aiter_raw()`` without a chunk size, since httpx would buffer a slow drip."""
    if response.is_stream_consumed:
        yield response.content
        return
    async for raw in response.aiter_raw():
        yield raw


def _status_error(response: httpx.Response, job: _Job) -> FetchError:
    """408/425/429/5xx are transient (with ``retry_after``); every other non-2xx status (410 too) is permanent."""
    status = response.status_code
    transient = status in _TRANSIENT_STATUS or status >= 500
    headers = response.headers
    delay = retry_after(headers.get("retry-after", ""), headers.get("date", "")) if transient else None
    return job.error("http_status", f"HTTP {status}", transient=transient, status=status, retry_after=delay)


def _translate(exc: Exception, job: _Job) -> FetchError:
    """Map an httpx exception to our kinds; protocol and network errors are ``http_error``."""
    cause = _aiohttp_cause(exc)
    if cause is not None:  # the transport's own mapping calls a refused connection a ConnectTimeout
        return _from_aiohttp(cause, exc, job)
    for exc_type, kind, transient in _HTTPX_ERRORS:
        if isinstance(exc, exc_type):
            if kind == "connect_error" and _caused_by_tls(exc):
                return job.error("tls_error", str(exc) or type(exc).__name__)
            return job.error(kind, str(exc) or type(exc).__name__, transient=transient)
    return job.error("http_error", str(exc) or type(exc).__name__, transient=True)


def _aiohttp_cause(exc: BaseException) -> BaseException | None:
    """The aiohttp error an httpx error was mapped from, if any."""
    cause = exc.__cause__
    return cause if isinstance(cause, _AIOHTTP_ERRORS) else None


def _from_aiohttp(cause: BaseException, exc: Exception, job: _Job) -> FetchError:
    detail = str(cause) or str(exc) or type(cause).__name__
    if _caused_by_tls(cause) or isinstance(cause, aiohttp.ClientSSLError):
        return job.error("tls_error", detail)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return job.error("connect_error", detail, transient=True)
    if isinstance(cause, TimeoutError):  # aiohttp's socket timeouts are TimeoutErrors
        return job.error("timeout", detail, transient=True)
    return job.error("http_error", detail, transient=True)


def _caused_by_tls(exc: BaseException) -> bool:
    """True if an ``ssl.SSLError`` is in the cause/context chain (httpx wraps it twice)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False
