"""OPML stage: an OPML subscription list (bytes) <-> our sources.

Pure. ``parse`` reads Feedly / Inoreader / Miniflux / NetNewsWire exports (feeds nested in category
folders) with defusedxml, so entity declarations (billion laughs) and external entities are refused with a
``ConfigError`` naming the file; ``to_sources`` names the feeds (unique slugs of their titles); ``emit``
writes OPML 2.0. A ``https://t.me/s/<channel>`` feed is a ``type: telegram`` source with ``channel:``.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from monitor.config import Source
from monitor.errors import ConfigError

MAX_NAME = 64
_MAX_URL = 2048
_TELEGRAM = re.compile(r"^https?://(?:www\.)?(?:t|telegram)\.me/s/([A-Za-z][A-Za-z0-9_]{3,31})/?$", re.IGNORECASE)
_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")
_DASHES = re.compile(r"[-_.]*-[-_.]*")  # "bbc news - europe" -> "bbc-news-europe"
# Ukrainian (national system) and Russian letters, so Cyrillic titles give readable names.
_CYRILLIC = dict(zip("абвгґдеєжзиіїйклмнопрстуфхцчшщьюяыэёъ", [
    "a", "b", "v", "h", "g", "d", "e", "ie", "zh", "z", "y", "i", "i", "i", "k", "l", "m", "n", "o", "p", "r",
    "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia", "y", "e", "e", ""], strict=True))


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription: its title, feed URL, site URL and category folder ("" at the top level)."""

    title: str
    xml_url: str
    html_url: str
    category: str


class ParsedOpml(NamedTuple):
    """The usable feeds and one warning line per outline that was ignored."""

    feeds: list[OpmlFeed]
    warnings: list[str]


def parse(data: bytes, *, filename: str = "OPML") -> ParsedOpml:
    """Every outline with an ``xmlUrl``, in document order; ConfigError if ``data`` is not safe OPML."""
    try:
        root = DET.fromstring(data)
    except DefusedXmlException as exc:
        raise ConfigError(f"{filename}: refused: the file declares XML entities or a DTD feature "
                          f"({type(exc).__name__}); an OPML file needs none") from None
    except ET.ParseError as exc:
        raise ConfigError(f"{filename}: not well-formed XML ({exc})") from None
    if _local(root.tag) != "opml" or (body := _child(root, "body")) is None:
        raise ConfigError(f"{filename}: not an OPML file (root element <{_local(root.tag)}>, expected "
                          "<opml> with a <body>)")
    feeds: list[OpmlFeed] = []
    warnings: list[str] = []
    for outline, category in _outlines(body):
        attrs = {k.lower(): v.strip() for k, v in outline.attrib.items()}
        url = attrs.get("xmlurl", "")
        if not url:
            continue
        title = attrs.get("title") or attrs.get("text") or ""
        problem = _url_problem(url)
        if problem:
            warnings.append(f"ignored {title or '(untitled)'!r}: {problem}: {url[:200]!r}")
            continue
        feeds.append(OpmlFeed(title, url, attrs.get("htmlurl", ""), category))
    return ParsedOpml(feeds, warnings)


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2].lower()


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in parent if _local(c.tag) == name), None)


def _outlines(body: ET.Element) -> Iterator[tuple[ET.Element, str]]:
    """Each ``<outline>`` with its folder path ("News / Ukraine"), depth first, without recursion."""
    stack: list[tuple[ET.Element, str]] = [(c, "") for c in reversed(list(body))]
    while stack:
        node, folder = stack.pop()
        if _local(node.tag) != "outline":
            continue
        yield node, folder
        name = (node.get("title") or node.get("text") or "").strip()
        inner = f"{folder} / {name}" if folder and name else folder or name
        stack.extend((c, inner) for c in reversed(list(node)))


def _url_problem(url: str) -> str | None:
    if not url.startswith(("http://", "https://")):  # as the config's own check (lower-case)
        return "not http(s)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a usable URL"
    if not parts.hostname or len(url) > _MAX_URL or any(ch.isspace() or not ch.isprintable() for ch in url):
        return "not a usable URL"
    if "${" in url:  # the loader would expand it from the environment (a secret sent to that host)
        return "contains ${...}"
    return None


def telegram_channel(url: str) -> str | None:
    """The channel of a ``https://t.me/s/<channel>`` URL, else None."""
    m = _TELEGRAM.match(url)
    return m.group(1) if m else None


def slug(title: str) -> str:
    """A source name from a title: lower-case ASCII letters, digits and ``-_.``, at most 64 characters."""
    text = "".join(_CYRILLIC.get(ch, ch) for ch in title.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _DASHES.sub("-", _NOT_NAME.sub("-", text)).strip("-_.")[:MAX_NAME].rstrip("-_.")


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, else ``base-2``, ``base-3``... (shortened to fit), not in ``taken`` (compared lower-case)."""
    n = 1
    name = base
    while name.lower() in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)].rstrip("-_.") + suffix
    return name


def to_source(feed: OpmlFeed, taken: set[str]) -> Source:
    """The source for ``feed``, named after its title (else its host) and not in ``taken``."""
    host = urlsplit(feed.xml_url).hostname or ""
    base = slug(feed.title) or slug(host.removeprefix("www.")) or "feed"
    name = unique_name(base, taken)
    channel = telegram_channel(feed.xml_url)
    if channel:
        return Source(name=name, type="telegram", channel=channel)
    return Source(name=name, url=feed.xml_url, channel=None)


def feed_url(source: Source) -> str:
    """The URL a source is listed under: its t.me/s page for a Telegram channel, else its URL."""
    return f"https://t.me/s/{source.channel}" if source.channel else source.fetch_url


def same_url_key(url: str) -> str:
    """``url`` compared case-insensitively in scheme, host and Telegram channel, without a trailing slash."""
    channel = telegram_channel(url)
    if channel:
        return f"telegram:{channel.lower()}"
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl().rstrip("/")


def emit(sources: Sequence[Source], *, title: str) -> bytes:
    """OPML 2.0: one ``<outline type="rss">`` per source, Telegram channels as their t.me/s page."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for outline in _outline_attrs(sources):
        ET.SubElement(body, "outline", outline)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _outline_attrs(sources: Iterable[Source]) -> Iterator[dict[str, str]]:
    for source in sources:
        url = feed_url(source)
        parts = urlsplit(url)
        html = f"https://t.me/{source.channel}" if source.channel else f"{parts.scheme}://{parts.netloc}/"
        yield {"type": "rss", "text": source.name, "title": source.name, "xmlUrl": url, "htmlUrl": html}
