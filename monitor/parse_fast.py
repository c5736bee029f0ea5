"""The parse fast path: fastfeedparser (a Rust/lxml feed parser, 50-80x faster than feedparser on real
feeds) for the documents it reads exactly as feedparser does; ``None`` sends the rest to feedparser.

Taken only for a well-formed XML document (pyexpat, C speed) with no markup inside a ``<title>`` and no
XHTML content, because there fastfeedparser's recovery is lossy (it drops a bare ``&``, and the text of
child elements of a title). Its entries are returned in feedparser's shape, so ``monitor.parse`` applies
the same item rules to both. The differences measured on feedparser's test corpus and 200 real feeds are
listed in the README (Performance) and checked by tests/test_fastpath.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from fastfeedparser import parse as fast_parse

# A <title> holding markup (not CDATA): fastfeedparser keeps only the text before the first child element.
_MARKUP_IN_TITLE = re.compile(rb"<(?:\w+:)?title\b[^>]*>[^<]*<(?!/|!\[CDATA\[)")
_TTL = re.compile(rb"<ttl>\s*([^<]{0,16}?)\s*</ttl>")
_XHTML = re.compile(rb"""type\s*=\s*["']xhtml["']""")
_FIRST_ENTRY = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>/]")
_ENTRY_TAGS = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>/]")
_ID_TEXT = re.compile(rb"<(?:\w+:)?(?:guid|id)\b[^>]*>\s*([^<]*?)\s*</")
_DATE_TAG = re.compile(rb"<(?:\w+:)?(?:pubDate|published|updated|date|issued|modified|created)[\s>]")
_ABSOLUTE = re.compile(r"https?://", re.I)
_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf:RDF")


def entries(body: bytes) -> tuple[list[dict[str, Any]], str, str | None] | None:
    """(feedparser-shaped entries, feed title, RSS ``<ttl>`` text) from fastfeedparser, or None when the
    document must go through feedparser (not well-formed, a shape the fast path gets wrong, no entries)."""
    if not _eligible(body):
        return None
    try:
        doc = fast_parse(body, include_tags=False, include_media=False, include_enclosures=False)
    except Exception:  # noqa: BLE001 (anything it rejects is feedparser's to read, or to classify)
        return None
    found = [_entry(e) for e in doc.get("entries", [])]
    if not found or not _complete(body, found):
        return None
    head = body[: m.start()] if (m := _FIRST_ENTRY.search(body)) else body
    ttl = _TTL.search(head)
    title = doc.get("feed", {}).get("title")
    return found, title if isinstance(title, str) else "", ttl.group(1).decode("ascii", "replace") if ttl else None


def _complete(body: bytes, found: list[dict[str, Any]]) -> bool:
    """The checks that catch fastfeedparser reading a document differently from feedparser: every entry
    element became an entry; each has a link (it drops relative ones) that is absolute when it equals the id
    (feedparser may have copied it from the guid, or resolved it), a text (it misses some media-only ones),
    and an id only when an element of the entry holds it as text (it makes ids up from links); a date only
    from a date element (it makes dates up from other text)."""
    first = _FIRST_ENTRY.search(body)
    chunks = _ENTRY_TAGS.split(body[first.start():])[1:] if first else []
    if len(chunks) != len(found):
        return False
    for entry, chunk in zip(found, chunks, strict=True):
        if not _DATE_TAG.search(chunk):
            entry["published_parsed"] = None  # it makes dates up from other text ("Item 1" -> 1 November)
        link = entry["link"]
        if not link or not (entry["content"] or entry["summary"]):
            return False
        guid = entry["id"] if isinstance(entry["id"], str) else None
        if guid and (guid.encode() not in _ID_TEXT.findall(chunk) or (link == guid and not _ABSOLUTE.match(link))):
            return False  # an id not written as an element's text (made up, escaped or in CDATA): feedparser
    return True


def _eligible(body: bytes) -> bool:
    """A well-formed RSS/Atom/RDF document without the shapes fastfeedparser reads differently."""
    start = body[:4096].lower()
    if not any(root in start for root in (r.lower() for r in _FEED_ROOTS)):
        return False
    if _MARKUP_IN_TITLE.search(body) or _XHTML.search(body):
        return False
    parser = expat.ParserCreate()
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, ValueError, LookupError):  # malformed, or an encoding expat lacks
        return False
    return True


def _entry(e: Mapping[str, Any]) -> dict[str, Any]:
    """A fastfeedparser entry in the shape ``monitor.parse._item`` reads."""
    guid, link = e.get("id"), e.get("link")
    return {
        "id": guid,
        "link": link,
        "guidislink": bool(link) and link == guid,  # as feedparser: a link copied from the guid is not resolved
        "title": e.get("title"),
        "content": _content(e.get("content")),
        "summary": e.get("description"),
        "published_parsed": _time(e.get("published") or e.get("updated")),
    }


def _content(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        return []
    return [dict(c) for c in value if isinstance(c, Mapping) and isinstance(c.get("value"), str) and c.get("value")]


def _time(value: object) -> tuple[int, ...] | None:
    """An ISO 8601 time as a UTC time tuple (feedparser's ``*_parsed`` shape); None when absent or odd."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return tuple(aware.astimezone(UTC).utctimetuple())
