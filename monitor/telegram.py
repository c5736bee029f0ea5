"""Telegram stage: a public ``t.me/s/<channel>`` preview page (bytes) in, a ``ParseResult`` of posts out.

Pure and stdlib-only (``html.parser``); raises ``ParseError`` (``empty_body``, ``not_a_feed``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

from monitor.errors import ParseError
from monitor.models import ParseResult, RawItem

_TITLE_LEN = 140
_MAX_HTML = 200_000
_MAX_POSTS = 200
_YEARS = range(1990, 2101)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
_BLOCK = frozenset({"blockquote", "div", "p", "pre"})
# Class of the element that marks a media-only post, and the label its title gets.
_MEDIA = (
    ("tgme_widget_message_photo_wrap", "photo"),
    ("tgme_widget_message_video_player", "video"),
    ("tgme_widget_message_roundvideo_player", "video"),
    ("tgme_widget_message_sticker_wrap", "sticker"),
    ("tgme_widget_message_poll", "poll"),
    ("tgme_widget_message_document_wrap", "file"),
    ("tgme_widget_message_voice_player", "voice"),
    ("tgme_widget_message_location_wrap", "location"),
)
_SPACES = re.compile(r"\s+")
_CAPTIONS = frozenset({"tgme_widget_message_poll_question", "tgme_widget_message_document_title"})


def parse(body: bytes, *, channel: str, url: str = "") -> ParseResult:
    """Parse one t.me/s page; posts come newest first. Use for ``kind: telegram`` sources."""
    if not isinstance(body, bytes):
        raise TypeError(f"telegram.parse() takes bytes, not {type(body).__name__}")
    where = url or f"t.me/s/{channel}"
    if not body.strip():
        raise ParseError(f"empty body from {where}", kind="empty_body")
    page = _PageParser()
    page.feed(body.decode("utf-8", errors="replace"))
    page.close()
    if not page.posts and not page.channel_info:
        raise ParseError(f"not a Telegram channel page (no posts, no channel info): {where}",
                         kind="not_a_feed")
    posts = sorted(page.posts, key=lambda p: p.number, reverse=True)[:_MAX_POSTS]
    return ParseResult(items=tuple(p.item() for p in posts), title=page.title)


@dataclass
class _Post:
    """One ``div.tgme_widget_message`` while it is being read."""

    guid: str  # data-post as given, "channel/123"
    number: int
    html: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)
    media: str = ""
    published: datetime | None = None

    def item(self) -> RawItem:
        name = self.guid.rsplit("/", 1)[0]
        caption = " ".join("".join(self.caption).split())
        body = "".join(self.html).strip() or html.escape(caption, quote=False)
        return RawItem(
            guid=self.guid,
            link=f"https://t.me/{name}/{self.number}",
            title=_title("".join(self.text)) or f"[{self.media or 'post'}] {caption}".strip(),
            html=body[:_MAX_HTML],
            published=self.published,
        )


class _PageParser(HTMLParser):
    """Collects posts: text as HTML and plain text, date, media kind; ``div`` depth marks where blocks end."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.posts: list[_Post] = []
        self.channel_info = False
        self.title = ""
        self._depth = 0  # open <div>s
        self._post: _Post | None = None
        self._post_depth = 0
        self._text_depth = 0  # > 0 while inside the post's message text
        self._text_done = False
        self._caption_depth = 0
        self._in_date = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # <br/>: no end tag follows

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = set(attr.get("class", "").split())
        if tag == "meta" and attr.get("property") == "og:title":
            self.title = attr.get("content", "")[:1_000]
        if "tgme_channel_info" in classes:
            self.channel_info = True
        if self._text_depth:
            self._copy_start(tag, attr)
        if tag == "div":
            self._depth += 1
            self._open_div(classes, attr)
        elif self._post is not None:
            self._inside_post(tag, classes, attr)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_date = False
        if self._text_depth and tag not in _VOID and (tag != "div" or self._depth > self._text_depth):
            self._copy_end(tag)
        if tag == "div":
            self._close_div()
            self._depth = max(self._depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._post is None:
            return
        if self._text_depth:
            self._post.html.append(html.escape(data, quote=False))
            self._post.text.append(_SPACES.sub(" ", data))  # source newlines are spaces; only <br> breaks
        if self._caption_depth:
            self._post.caption.append(data)

    def _open_div(self, classes: set[str], attr: dict[str, str]) -> None:
        if "tgme_widget_message" in classes and self._post is None:
            self._start_post(attr.get("data-post", ""))
        elif self._post is not None:
            self._inside_post("div", classes, attr)

    def _start_post(self, data_post: str) -> None:
        name, _, number = data_post.strip().rpartition("/")
        # A service message without data-post is skipped, and so is a malformed one ("c/abc", "c/²", 50 digits).
        if name and number.isascii() and number.isdigit() and len(number) <= 18:
            self._post = _Post(guid=data_post.strip(), number=int(number))
            self._post_depth = self._depth
            self._text_done = False

    def _inside_post(self, tag: str, classes: set[str], attr: dict[str, str]) -> None:
        assert self._post is not None
        is_text = "tgme_widget_message_text" in classes and "js-message_reply_text" not in classes
        if tag == "div" and is_text and not self._text_done and not self._text_depth:
            self._text_depth = self._depth
        if tag == "div" and classes & _CAPTIONS and not self._caption_depth:
            self._caption_depth = self._depth
        if not self._post.media:
            self._post.media = next((label for cls, label in _MEDIA if cls in classes), "")
        if tag == "a" and "tgme_widget_message_date" in classes:
            self._in_date = True
        if tag == "time" and self._in_date and self._post.published is None:
            self._post.published = _utc(attr.get("datetime", ""))

    def _close_div(self) -> None:
        if self._text_depth == self._depth:
            self._text_depth, self._text_done = 0, True
        if self._caption_depth == self._depth:
            self._caption_depth = 0
        if self._post is not None and self._depth == self._post_depth:
            self.posts.append(self._post)
            self._post = None

    def _copy_start(self, tag: str, attr: dict[str, str]) -> None:
        """Re-emit a tag inside the message text: only ``href`` survives; ``<br>`` ends a line."""
        assert self._post is not None
        if tag == "br" or tag in _BLOCK:
            self._post.text.append("\n")
        href = f' href="{html.escape(attr["href"])}"' if tag == "a" and attr.get("href") else ""
        self._post.html.append(f"<{tag}{href}>" + ("\n" if tag == "br" else ""))

    def _copy_end(self, tag: str) -> None:
        assert self._post is not None
        if tag in _BLOCK:
            self._post.text.append("\n")
        self._post.html.append(f"</{tag}>")


def _title(text: str) -> str:
    """The first non-empty line, whitespace collapsed, cut at a word boundary near 140 chars with "…"."""
    line = next((" ".join(ln.split()) for ln in text.split("\n") if ln.strip()), "")
    if len(line) <= _TITLE_LEN:
        return line
    cut = line[:_TITLE_LEN]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-–—") + "…"


def _utc(value: str) -> datetime | None:
    """An ISO 8601 ``datetime`` attribute as aware UTC; None if unparsable or outside 1990..2100."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed if parsed.year in _YEARS else None
