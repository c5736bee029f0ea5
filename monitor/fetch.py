"""Fetch stage: one bounded conditional GET of a source URL -> ``FetchResult``; the only httpx importer.

Every failure becomes a ``TransientFetchError`` or ``PermanentFetchError`` whose ``kind`` names the cause.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.errors import FetchError, PermanentFetchError, TransientFetchError
from monitor.models import FetchResult

_SCHEMES = ("http", "https")
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # decompressobj wbits: auto-detect a gzip or zlib header
_TRANSIENT_STATUS = frozenset({408, 425, 429})
_RETRY_AFTER_CAP = 6 * 3600.0
# httpx errors in match order: (type, kind, transient). ConnectError with an SSL cause becomes tls_error.
_HTTPX_ERRORS: tuple[tuple[type[Exception], str, bool], ...] = (
    (httpx.TimeoutException, "timeout", True),
    (httpx.ConnectError, "connect_error", True),
    (httpx.UnsupportedProtocol, "bad_url", False),
    (httpx.InvalidURL, "bad_url", False),
)


def make_client(
    *,
    user_agent: str,
    timeout: float = 10.0,
    connect_timeout: float = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Build the one shared client (``Context`` owns and closes it); ``transport`` is for tests."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        transport=transport,
    )


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
    ``FetchError``.
    """
    job = _Job(url, source)
    _check_url(url, job)
    headers = _conditional_headers(etag, last_modified)
    try:
        async with asyncio.timeout(deadline):
            response = await _follow(client, client.build_request("GET", url, headers=headers), job)
            try:
                return await _result(response, etag, last_modified, max_bytes, job)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise job.error("timeout", f"no complete response within {deadline:g}s", transient=True) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _translate(exc, job) from exc


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


async def _follow(client: httpx.AsyncClient, request: httpx.Request, job: _Job) -> httpx.Response:
    """Send and follow redirects ourselves: httpx's own follow reads each 3xx body with unbounded decoders."""
    response = await client.send(request, stream=True, follow_redirects=False)
    for _ in range(client.max_redirects):
        target = response.next_request
        if target is None:
            return response
        await response.aclose()  # the redirect body is never read
        _check_url(str(target.url), job)
        response = await client.send(target, stream=True, follow_redirects=False)
    if response.next_request is None:
        return response
    await response.aclose()
    raise job.error("too_many_redirects", f"more than {client.max_redirects} redirects")


async def _result(
    response: httpx.Response, etag: str | None, last_modified: str | None, max_bytes: int, job: _Job
) -> FetchResult:
    """The final response as a ``FetchResult``: 304, or a 2xx body read under the cap."""
    new_etag = response.headers.get("etag")
    new_modified = response.headers.get("last-modified")
    if response.status_code == 304:
        return FetchResult(url=str(response.url), status=304, not_modified=True,
                           etag=new_etag or etag, last_modified=new_modified or last_modified)
    if not response.is_success:
        raise _status_error(response, job)
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise job.error("too_large", f"Content-Length {declared} exceeds {max_bytes} bytes")
    # A body built in memory (httpx.MockTransport with content=...) is already decoded.
    decoder = None if response.is_stream_consumed else _decoder(response, job)
    body = await _read(response, decoder, max_bytes, job)
    return FetchResult(url=str(response.url), status=response.status_code, body=body,
                       content_type=response.headers.get("content-type", ""),
                       etag=new_etag, last_modified=new_modified)


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
    """408/425/429/5xx are transient (with ``retry_after``); every other non-2xx status is permanent."""
    status = response.status_code
    transient = status in _TRANSIENT_STATUS or status >= 500
    retry_after = _retry_after(response) if transient else None
    return job.error(
        "http_status", f"HTTP {status}", transient=transient, status=status, retry_after=retry_after
    )


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (delta, or HTTP date against the response's ``Date``), capped at 6 h."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return min(float(value), _RETRY_AFTER_CAP)
    when = _http_date(value)
    now = _http_date(response.headers.get("date", ""))  # no clock is read here; no Date header, no delay
    if when is None or now is None:
        return None
    return min(max((when - now).total_seconds(), 0.0), _RETRY_AFTER_CAP)


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _translate(exc: Exception, job: _Job) -> FetchError:
    """Map an httpx exception to our kinds; protocol and network errors are ``http_error``."""
    for exc_type, kind, transient in _HTTPX_ERRORS:
        if isinstance(exc, exc_type):
            if kind == "connect_error" and _caused_by_tls(exc):
                return job.error("tls_error", str(exc) or type(exc).__name__)
            return job.error(kind, str(exc) or type(exc).__name__, transient=transient)
    return job.error("http_error", str(exc) or type(exc).__name__, transient=True)


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
