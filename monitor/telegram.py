"""Telegram stage: a public ``t.me/s/<channel>`` preview page (bytes) in, a ``ParseResult`` of posts out.

Pure and stdlib-only; raises ``ParseError`` (``empty_body``, ``not_a_feed``). The markup is read by
``telegram_page``; this module turns posts into ``RawItem``s (guid and link ``https://t.me/<channel>/<id>``,
the identity ``normalize`` gives the same post reached through an RSSHub or RSS-Bridge mirror) and holds the
small helpers of gap backfill: ``post_id`` and ``page_url``.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from monitor.errors import ParseError
from monitor.models import ParseResult, RawItem
from monitor.telegram_page import PagePost, read_page

_TITLE_LEN = 140
_MAX_HTML = 200_000
_MAX_POSTS = 200
# A link to one post: t.me or telegram.me, optional /s/, channel, id; a query (?single) or fragment may follow.
# Kept in step with ``normalize.telegram_identity`` (pure stages do not import each other).
_POST_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?([A-Za-z0-9_]{1,64})/([0-9]{1,18})/?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_PAGE_PARAMS = frozenset({"before", "after"})


def parse(body: bytes, *, channel: str, url: str = "") -> ParseResult:
    """Parse one t.me/s page; posts come newest first. Use for ``kind: telegram`` sources."""
    if not isinstance(body, bytes):
        raise TypeError(f"telegram.parse() takes bytes, not {type(body).__name__}")
    where = url or f"t.me/s/{channel}"
    if not body.strip():
        raise ParseError(f"empty body from {where}", kind="empty_body")
    page = read_page(body.decode("utf-8", errors="replace"))
    if not page.posts and not page.channel_info:
        raise ParseError(f"not a Telegram channel page (no posts, no channel info): {where}",
                         kind="not_a_feed")
    posts = sorted(page.posts, key=lambda p: p.number, reverse=True)[:_MAX_POSTS]
    return ParseResult(items=tuple(_item(p) for p in posts), title=page.title)


def post_id(item: RawItem) -> int | None:
    """The message id (>= 1) of a Telegram post, from its guid, else its link; None for anything else.

    Use to compare what a poll saw with the last id seen: ids are sequential per channel (an album uses
    one id per photo or video, its item carries the first).
    """
    for value in (item.guid, item.link):
        found = _POST_LINK.fullmatch(value.strip()) if value else None
        if found:
            return int(found.group(2)) or None
    return None


def page_url(url: str, *, before: int) -> str:
    """The page of ``url`` that shows the posts older than message ``before`` (``?before=<id>``).

    Use to backfill a gap: any http(s) page URL (t.me/s, a mirror, a loopback server) keeps its path and
    other query parameters; an earlier ``before``/``after`` is replaced and the fragment dropped.
    Raises ``ValueError`` for a non-http(s) URL or an id below 1.
    """
    if isinstance(before, bool) or not isinstance(before, int) or before < 1:
        raise ValueError(f"before must be a message id >= 1, not {before!r}")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in _PAGE_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join([*kept, f"before={before}"]), ""))


def _item(post: PagePost) -> RawItem:
    link = f"https://t.me/{post.data_post}"
    body = post.html
    if post.poll:
        options = "".join(f"<li>{html.escape(o, quote=False)}</li>" for o in post.poll[1:] if o)
        body += f"<p>{html.escape(post.poll[0], quote=False)}</p>" + (f"<ul>{options}</ul>" if options else "")
    elif not body and post.caption:
        body = html.escape(post.caption, quote=False)
    return RawItem(
        guid=link,
        link=link,
        title=_title(post.text) or f"[{post.media or 'post'}] {post.caption}".strip(),
        html=body[:_MAX_HTML],
        published=post.published,
        forwarded_from=post.forwarded_from,
        reply_to=_reply_link(post.reply_href),
        edited=post.edited,
    )


def _reply_link(href: str | None) -> str | None:
    """``https://t.me/<channel>/<id>`` of the answered post, when the reply header links one."""
    found = _POST_LINK.fullmatch(href.strip()) if href else None
    return f"https://t.me/{found.group(1)}/{int(found.group(2))}" if found else None


def _title(text: str) -> str:
    """The first non-empty line, whitespace collapsed, cut at a word boundary near 140 chars with "…"."""
    line = next((" ".join(ln.split()) for ln in text.split("\n") if ln.strip()), "")
    if len(line) <= _TITLE_LEN:
        return line
    cut = line[:_TITLE_LEN]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-–—") + "…"
