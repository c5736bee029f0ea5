"""Telegram page reader: the markup of a ``t.me/s`` page -> one ``PagePost`` per ``div.tgme_widget_message``.

Pure and stdlib-only (``html.parser``). ``telegram.parse`` turns the records into ``RawItem``s; this module
only knows the markup: which element holds the text, the forward origin, the reply header, the poll, the
"edited" mark and the date. An album is one message element, so it is one record.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

_YEARS = range(1990, 2101)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
_BLOCK = frozenset({"blockquote", "div", "p", "pre"})
_SPACES = re.compile(r"\s+")
# Class of the first media element of a post, and the label a media-only post's title gets.
_MEDIA = (
    ("tgme_widget_message_grouped_wrap", "album"),
    ("tgme_widget_message_photo_wrap", "photo"),
    ("tgme_widget_message_video_player", "video"),
    ("tgme_widget_message_roundvideo_player", "video"),
    ("tgme_widget_message_sticker_wrap", "sticker"),
    ("tgme_widget_message_poll", "poll"),
    ("tgme_widget_message_document_wrap", "file"),
    ("tgme_widget_message_voice_player", "voice"),
    ("tgme_widget_message_location_wrap", "location"),
)
# Class -> what the element's text is collected as. "skip" hides a subtree: the quoted post of a reply,
# the preview of a linked page, the author signature next to the date.
_CAPTURES = (
    ("tgme_widget_message_reply", "skip"),
    ("tgme_widget_message_link_preview", "skip"),
    ("tgme_widget_message_from_author", "skip"),
    ("tgme_widget_message_forwarded_from_name", "forward"),
    ("tgme_widget_message_document_title", "caption"),
    ("tgme_widget_message_poll_question", "question"),
    ("tgme_widget_message_poll_option_text", "option"),
    ("tgme_widget_message_meta", "meta"),
    ("tgme_widget_message_date", "date"),
)


@dataclass(frozen=True, slots=True)
class PagePost:
    """One post as the page shows it; ``html``/``text`` are the message text only (no quote, no preview)."""

    data_post: str  # "channel/123" as given
    number: int
    html: str  # the message text as HTML; only <a href> keeps an attribute
    text: str  # the same as plain text, "\n" where <br> or a block breaks a line
    media: str  # label of the first media element ("album", "photo", "poll", ...), "" for none
    caption: str  # document name or poll question, whitespace collapsed
    poll: tuple[str, ...]  # poll question, then the options (never the changing percentages)
    published: datetime | None
    forwarded_from: str | None  # origin name as shown after "Forwarded from"
    reply_href: str | None  # href of the reply header: the answered post
    edited: bool


@dataclass(frozen=True, slots=True)
class Page:
    """What a t.me/s page holds: its posts in page order, the og:title, whether a channel header is shown."""

    posts: tuple[PagePost, ...]
    title: str
    channel_info: bool


def read_page(markup: str) -> Page:
    """Read decoded t.me/s markup; use through ``telegram.parse``, which checks the input and builds items."""
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return Page(posts=tuple(reader.posts), title=reader.title, channel_info=reader.channel_info)


@dataclass
class _Draft:
    """A post while it is being read."""

    data_post: str
    number: int
    level: int  # <div> count at which the post's element opened
    html: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)
    poll: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    meta: list[str] = field(default_factory=list)
    media: str = ""
    text_done: bool = False
    published: datetime | None = None
    reply_href: str | None = None

    def add(self, kind: str, data: str) -> None:
        """Keep text read inside a capture of ``kind`` ("skip" and "date" keep nothing)."""
        if kind == "text":
            self.html.append(html.escape(data, quote=False))
            self.text.append(_SPACES.sub(" ", data))  # source newlines are spaces; only <br> breaks
        elif kind in ("question", "option"):
            self.poll[-1] += data
        if kind in ("caption", "question"):
            self.caption.append(data)
        elif kind == "forward":
            self.forward.append(data)
        elif kind == "meta":
            self.meta.append(data)

    def post(self) -> PagePost:
        def line(parts: list[str]) -> str:
            return " ".join("".join(parts).split())

        return PagePost(
            data_post=self.data_post, number=self.number, html="".join(self.html).strip(), text="".join(self.text),
            media=self.media, caption=line(self.caption), poll=tuple(" ".join(p.split()) for p in self.poll),
            published=self.published, forwarded_from=line(self.forward) or None, reply_href=self.reply_href,
            edited=any(ch.isalpha() for ch in "".join(self.meta)),  # "edited", in whatever language
        )


@dataclass(frozen=True, slots=True)
class _Capture:
    """An open element whose text goes to ``kind`` until the ``tag`` count drops below ``level``."""

    kind: str
    tag: str
    level: int


class _Reader(HTMLParser):
    """Walks the page; open-tag counts per name tell where a post, its text or a captured element ends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.posts: list[PagePost] = []
        self.channel_info = False
        self.title = ""
        self._open: dict[str, int] = {}
        self._draft: _Draft | None = None
        self._captures: list[_Capture] = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # <br/>: no end tag follows

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = frozenset(attr.get("class", "").split())
        if tag == "meta" and attr.get("property") == "og:title":
            self.title = attr.get("content", "")[:1_000]
        self.channel_info = self.channel_info or "tgme_channel_info" in classes
        if tag not in _VOID:
            self._open[tag] = self._open.get(tag, 0) + 1
        top = self._captures[-1].kind if self._captures else ""
        if top == "text":
            self._copy_start(tag, attr)
        elif self._draft is None:
            if tag == "div" and "tgme_widget_message" in classes:
                self._start_post(attr.get("data-post", ""))
        elif top != "skip" and tag not in _VOID:
            self._inside_post(tag, classes, attr, top)

    def handle_endtag(self, tag: str) -> None:
        level = self._open.get(tag, 0)
        closing = next((i for i, c in enumerate(self._captures) if c.tag == tag and c.level == level), None)
        if closing is not None:
            if self._captures[closing].kind == "text" and self._draft is not None:
                self._draft.text_done = True
            del self._captures[closing:]
        elif self._captures and self._captures[-1].kind == "text" and tag not in _VOID:
            self._copy_end(tag)
        if self._draft is not None and tag == "div" and level == self._draft.level:
            self.posts.append(self._draft.post())
            self._draft, self._captures = None, []
        if tag not in _VOID:
            self._open[tag] = max(level - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._draft is not None and self._captures:
            self._draft.add(self._captures[-1].kind, data)

    def _start_post(self, data_post: str) -> None:
        name, _, number = data_post.strip().rpartition("/")
        # A service message without data-post is skipped, and so is a malformed one ("c/abc", "c/²", 50 digits).
        if name and number.isascii() and number.isdigit() and len(number) <= 18:
            self._draft = _Draft(data_post=data_post.strip(), number=int(number), level=self._open["div"])

    def _inside_post(self, tag: str, classes: frozenset[str], attr: dict[str, str], top: str) -> None:
        draft = self._draft
        assert draft is not None
        draft.media = draft.media or next((label for cls, label in _MEDIA if cls in classes), "")
        if tag == "time" and top == "date" and draft.published is None:
            draft.published = _utc(attr.get("datetime", ""))
        if tag == "a" and "tgme_widget_message_reply" in classes and attr.get("href"):
            draft.reply_href = attr["href"]
        is_text = "tgme_widget_message_text" in classes and "js-message_reply_text" not in classes
        kind = "text" if tag == "div" and is_text and not draft.text_done else ""
        kind = kind or next((k for cls, k in _CAPTURES if cls in classes), "")
        if kind == "forward" and draft.forward:
            return  # the first origin name only
        if kind in ("question", "option"):
            draft.poll.append("")
        if kind:
            self._captures.append(_Capture(kind, tag, self._open[tag]))

    def _copy_start(self, tag: str, attr: dict[str, str]) -> None:
        """Re-emit a tag inside the message text: only ``href`` survives; ``<br>`` ends a line."""
        assert self._draft is not None
        if tag == "br" or tag in _BLOCK:
            self._draft.text.append("\n")
        href = f' href="{html.escape(attr["href"])}"' if tag == "a" and attr.get("href") else ""
        self._draft.html.append(f"<{tag}{href}>" + ("\n" if tag == "br" else ""))

    def _copy_end(self, tag: str) -> None:
        assert self._draft is not None
        if tag in _BLOCK:
            self._draft.text.append("\n")
        self._draft.html.append(f"</{tag}>")


def _utc(value: str) -> datetime | None:
    """An ISO 8601 ``datetime`` attribute as aware UTC; None if unparsable or outside 1990..2100."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed if parsed.year in _YEARS else None
