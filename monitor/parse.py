"""Parse stage: feed bytes in, a classified ``ParseResult`` of ``RawItem``s out (fastfeedparser for well-formed
feeds, feedparser for the rest; bytes only).

Raises ``ParseError`` (``empty_body``, ``xml_dtd_rejected``, ``not_a_feed``); a recovered broken feed is
``partial``.
"""

from __future__ import annotations

import html as html_mod
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor import parse_fast
from monitor.errors import ParseError
from monitor.models import ParseResult, RawItem

_HEAD = 256 * 1024  # the internal DTD subset must precede the root element
_MAX_TITLE = 1_000
_MAX_HTML = 200_000
_YEARS = range(1990, 2101)
_MAX_TTL_MINUTES = 7 * 24 * 60  # a longer <ttl> is a typo or a joke, not a polling hint
_TTL = re.compile(r"[0-9]{1,6}")
_MARKERS = tuple(
    "<!entity".encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
# Start of the root element in the same encoding (feedparser's own prolog end is ``<\w``).
_ROOTS = (
    re.compile(rb"<\w"),
    re.compile(rb"<\x00\w\x00"),
    re.compile(rb"\x00<\x00\w"),
    re.compile(rb"<\x00\x00\x00\w\x00\x00\x00"),
    re.compile(rb"\x00\x00\x00<\x00\x00\x00\w"),
)
_PREFIXED_ITEM = re.compile(rb"<rss:item[\s>]")
_PREFIX_TAG = re.compile(rb"(</?)rss:")
_PREFIX_ATTR = re.compile(rb"(\s)rss:(?=[\w-]+=)")
_BROKEN_DECL = re.compile(rb"<\?xml\?xml[^>]*>")
# Notices that leave the parse complete (a charset override, a text/html content type).
_HARMLESS = feedparser.ThingsNobodyCaresAboutButMe


def parse(
    body: bytes, *, content_type: str = "", url: str = "", max_items: int = 200, fast_path: bool = True
) -> ParseResult:
    """Turn one fetched feed body into items; use for RSS/Atom/RDF and JSON Feed sources (Telegram pages:
    ``telegram``). A well-formed feed goes through fastfeedparser (``parse_fast``; ``fast_path=False``:
    feedparser only, for comparisons), anything else through feedparser.

    ``ttl_seconds`` is the feed's RSS ``<ttl>`` in seconds (None if absent or absurd).
    """
    if not isinstance(body, bytes):
        raise TypeError(f"parse() takes bytes, not {type(body).__name__} (feedparser opens str as path/URL)")
    _guard(body, url)
    if body.lstrip()[:1] == b"{":
        return _parse_json(body, url, max_items)
    fast = parse_fast.entries(body) if fast_path else None
    if fast is not None:  # fastfeedparser read it; everything else goes through feedparser, as before
        entries, title, ttl = fast
        return ParseResult(items=tuple(_items(entries, url, max_items)), title=title[:_MAX_TITLE],
                           ttl_seconds=_ttl_seconds(ttl))
    result = _feedparser(body, content_type)
    items = tuple(_items(result.get("entries", []), url, max_items))
    if not items and _PREFIXED_ITEM.search(body) and b"xmlns:rss" not in body:
        result = _feedparser(_unprefixed(body), content_type)  # <rss:item> with no namespace declared
        items = tuple(_items(result.get("entries", []), url, max_items))
    partial = _classify(result, bool(items), url)
    feed = result.get("feed", {})
    title = _text(feed.get("title"))[:_MAX_TITLE]
    return ParseResult(items=items, partial=partial, title=title, ttl_seconds=_ttl_seconds(feed.get("ttl")))


def _feedparser(body: bytes, content_type: str) -> Any:
    # BytesIO, never the bytes themselves: feedparser tries ``open(bytes)``, so b"/etc/passwd" reads a file.
    # No content-location: feedparser would resolve a relative <guid> ("wire-17") against it, and a feed
    # that moves would change every story's identity. Relative links are resolved here instead.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": content_type} if content_type else {},
        sanitize_html=False,  # normalize strips all markup later; sanitizing triples the parse time
        resolve_relative_uris=False,
    )


def _unprefixed(body: bytes) -> bytes:
    """A feed written with an undeclared ``rss:`` prefix on every element, and a mangled XML declaration
    (a real 2026 generator does this), as the plain RSS it means."""
    body = _BROKEN_DECL.sub(b"", body)
    return _PREFIX_ATTR.sub(rb"\1", _PREFIX_TAG.sub(rb"\1", body))


def _parse_json(body: bytes, url: str, max_items: int) -> ParseResult:
    """A JSON Feed (jsonfeed.org 1.0/1.1), which feedparser 6 does not read, through the same item rules."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ParseError(f"not a feed (invalid JSON: {exc}): {url or 'feed'}", kind="not_a_feed") from exc
    raw = doc.get("items") if isinstance(doc, dict) and "jsonfeed.org" in str(doc.get("version")) else None
    if not isinstance(raw, list):
        raise ParseError(f"not a feed (JSON, but no JSON Feed): {url or 'feed'}", kind="not_a_feed")
    entries = [_json_entry(e) for e in raw if isinstance(e, dict)]
    title = _text(doc.get("title"))[:_MAX_TITLE]
    return ParseResult(items=tuple(_items(entries, url, max_items)), title=title)


def _json_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Feed item in the shape of a feedparser entry."""
    html = _text(item.get("content_html")) or html_mod.escape(_text(item.get("content_text")))
    guid = item.get("id")
    return {
        "id": str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
        "link": item.get("url"),
        "title": item.get("title"),
        "summary": html or html_mod.escape(_text(item.get("summary"))),
        "published_parsed": _iso_time(item.get("date_published") or item.get("date_modified")),
    }


def _iso_time(value: object) -> tuple[int, ...] | None:
    try:
        parsed = datetime.fromisoformat(_text(value).strip())
    except ValueError:
        return None
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return tuple(aware.astimezone(UTC).utctimetuple())


def _guard(body: bytes, url: str) -> None:
    """Reject what must never reach feedparser: nothing at all, or an internal DTD with entities."""
    if not body.strip():
        raise ParseError(f"empty body from {url or 'feed'}", kind="empty_body")
    if _declares_entities(body):
        raise ParseError(f"<!ENTITY declaration rejected in {url or 'feed'}", kind="xml_dtd_rejected")


def _declares_entities(body: bytes) -> bool:
    """True if ``<!ENTITY`` (any case, UTF-8/16/32) is in the first 256 KiB or anywhere before the root."""
    lowered = body.lower()  # ASCII-only lowering: the UTF-16/32 forms of the marker survive it
    for marker, root in zip(_MARKERS, _ROOTS, strict=True):
        at = lowered.find(marker)
        if at == -1:
            continue
        start = root.search(lowered)
        if at < _HEAD or start is None or at < start.start():
            return True
    return False


def _classify(result: Mapping[str, Any], has_items: bool, url: str) -> bool:
    """Raise ``not_a_feed`` for bodies with no items that are no feed; return whether the parse is partial."""
    exc = result.get("bozo_exception")
    broken = bool(result.get("bozo")) and exc is not None and not isinstance(exc, _HARMLESS)
    if has_items:
        return broken
    if result.get("version") in ("", None):
        raise ParseError(f"not a feed (no entries, unknown format): {url or 'feed'}", kind="not_a_feed")
    if broken:
        raise ParseError(f"broken feed with no entries ({exc}): {url or 'feed'}", kind="not_a_feed")
    return False


def _ttl_seconds(value: object) -> float | None:
    """RSS ``<ttl>`` (whole minutes) in seconds; None when absent, not a whole number, or over 7 days."""
    match = _TTL.fullmatch(_text(value).strip())
    if match is None or int(match.group()) > _MAX_TTL_MINUTES:
        return None
    return int(match.group()) * 60.0


def _items(entries: Sequence[Mapping[str, Any]], base: str, max_items: int) -> Iterator[RawItem]:
    """The first ``max_items`` entries in document order as ``RawItem``s; a repeated GUID keeps the first."""
    seen: set[str] = set()
    count = 0
    for entry in entries:
        if count >= max_items:
            return
        item = _item(entry, base)
        if not (item.guid or item.link or item.title or item.html):
            continue  # an empty shell, e.g. the <item> a truncated feed was cut inside
        if item.guid is not None:
            if item.guid in seen:
                continue
            seen.add(item.guid)
        count += 1
        yield item


def _item(entry: Mapping[str, Any], base: str) -> RawItem:
    """One feedparser entry as a ``RawItem`` with bounded fields."""
    content = entry.get("content") or []
    html = _text(content[0].get("value")) if content else _text(entry.get("summary"))
    return RawItem(
        guid=_text(entry.get("id")) or None,
        # A link copied from a permalink <guid> ("guidislink") is used only if the guid is already absolute.
        link=_http_link(entry.get("link"), "" if entry.get("guidislink") else base),
        title=_text(entry.get("title"))[:_MAX_TITLE],
        html=_clip_html(html),
        published=_published(entry),
    )


def _clip_html(html: str) -> str:
    """At most ``_MAX_HTML`` characters, never ending inside a tag (its remains would be read as text)."""
    if len(html) <= _MAX_HTML:
        return html
    cut = html[:_MAX_HTML]
    opened = cut.rfind("<")
    return cut[:opened] if opened > cut.rfind(">") else cut


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _http_link(value: object, base: str) -> str | None:
    """The link resolved against the feed URL if it is http(s), else None (``javascript:``, ``data:``)."""
    link = _text(value).strip()
    try:
        link = urljoin(base, link) if base and link else link
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    """Publication (else update) time as aware UTC; None when absent or outside 1990..2100."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not isinstance(parsed, tuple) or len(parsed) < 6 or parsed[0] not in _YEARS:  # a time.struct_time
        return None
    try:
        year, month, day, hour, minute, second = (int(x) for x in parsed[:6])
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
