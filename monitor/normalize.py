"""Normalize stage: ``RawItem`` -> ``Story`` (clean one-paragraph-per-line text, canonical URL,
stable key, cosmetic-proof fingerprint). Pure: no I/O, no clock."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

from monitor.models import RawItem, Story

# Elements that end a line (a paragraph) when they open or close.
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
# Elements whose content is never text.
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg"})
_HTML_HINT = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*[\s/>]|/[a-zA-Z]|!--)")

# C0 (but \t, \n), DEL, C1, soft hyphen, zero-width and bidi controls -> deleted; odd spaces -> " ".
_DELETE = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32), *range(0x7F, 0xA0)]))
_DELETE += "\u00ad\u061c\u180e\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
_DELETE += "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
_SPACES = "\t\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_SPACES += "\u202f\u205f\u3000"
_CLEAN = str.maketrans({**dict.fromkeys(_DELETE), **dict.fromkeys(_SPACES, " ")})
_RUN_OF_SPACES = re.compile(r" {2,}")
_BULLET = re.compile(r"^(?:[•●▪■◦‣·∙▸►*]|-(?= ))\s*")

# Boilerplate lines, matched (case-insensitively) against a whole stripped line: (pattern, short_only).
# short_only rules remove only lines of <= 12 words, so prose that merely starts like a rule is kept;
# the others are exact enough ("Read more: <headline>", cookie banners) to remove a line of any length.
_SHORT_LINE_WORDS = 12
_BOILERPLATE: tuple[tuple[str, bool], ...] = (
    # scraper sites (the seed story): hit counter, link lists, comment forms, ad-block nags
    (r"free counter", False),
    (r"(?:read|see) more\W*|continue reading\W*|read the (?:full|original) (?:story|article)\W*", False),
    (r"(?:read|see) (?:more|also)\s*:.{0,200}", False),
    (r"(?:читать|читати) (?:далее|далі|повністю|полностью)\W*|(?:детальніше|подробнее)\W*", False),
    (r"related (?:articles?|posts?|stories|news|content)\W*|go deeper\W*|more on this story\W*", False),
    (r"leave a (?:reply|comment)\W*|\d* ?comments?\W*|cancel reply", False),
    (r"your email address will not be published\.?(?: required fields are marked \*?)?", False),
    (r"back to top(?: button)?\W*|adblock detected\W*|ad ?block(?:er)? detected\W*", False),
    (r"please consider supporting us by disabling your ad ?blocker\W*", False),
    # share bars, lone social-network buttons, newsletter and follow prompts
    (r"share this(?: article| story)?\W*|click to (?:share|email|print) .*|share on \w+\W*", True),
    (
        r"(?:share|tweet|print|email|subscribe|copy link|facebook|twitter|x|x/twitter|whatsapp|telegram"
        r"|viber|vk|linkedin|reddit|instagram|threads|bluesky|mastodon|youtube|pinterest|flipboard)\W*",
        False,
    ),
    (r"email address\s*\*|\*\s*indicates required", False),
    (r"(?:subscribe|sign up) (?:to|for) (?:our|the) .*newsletter.*", True),
    (r"follow us on .*|like this:?|loading\W*|like loading\W*", True),
    # ads and cookie notices
    (r"advertisement\W*(?:scroll to continue.*)?|sponsored content\W*", False),
    (r"(?:we|this (?:web)?site|our (?:web)?site) uses? cookies\b.*", False),
    (r"cookie (?:policy|settings|preferences|notice|consent)\W*", False),
    (r"(?:accept|allow|reject) (?:all )?cookies\W*", False),
    # Ukrainian / Russian cross-links and channel prompts
    (r"читайте (?:також|также)\b.{0,200}", False),
    (r"(?:подписывайтесь|підписуйтесь|підписуйтеся) на .{0,200}", False),
    # WordPress feed footer
    (r"the post .+ appeared first on .+", False),
)
_BOILERPLATE_RES = tuple((re.compile(p, re.IGNORECASE), short) for p, short in _BOILERPLATE)
# WordPress/page-builder shortcodes left in feed text ("[time-brightcove not-tgx=”true”]",
# "[fusion_builder_row]"): closing tags, names with "_"/"-", or tags with attributes. "[video]", "[1]" stay.
# Possessive scans that stop at the next "[" keep this linear on hostile input.
_SHORTCODE = re.compile(
    r"\[/[a-z][\w-]*\]|\[[a-z]\w*[_-][\w-]*(?:\s[^\[\]\n]*+)?\]|\[[a-z][\w-]*\s(?=[^\[\]\n]*=)[^\[\]\n]*+\]",
    re.IGNORECASE,
)
# A trailing run of lines this short and without a sentence end is taken for link lists / tags.
_TRAILING_MAX_WORDS = 6
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)]*$")

_TRACKING_PARAMS = frozenset(
    [
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "yclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "cmpid",
        "ocid",
        "_ga",
        "_gl",
        "igshid",
        "igsh",
        "smid",
        "smtyp",
        "guccounter",
        "__twitter_impression",
        "wt.mc_id",
        "s_cid",
        "ito",
    ]
)
_TRACKING_PREFIXES = ("utm_", "at_", "mtm_", "pk_", "hsa_")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_SQUASH_CATEGORIES = frozenset("PZC")  # punctuation (incl. quotes), separators, controls
_SQUASH_TABLE = dict.fromkeys(cp for cp in range(0x3040) if unicodedata.category(chr(cp))[0] in _SQUASH_CATEGORIES)
_NON_WORD = re.compile(r"[\W_]")


class _TextCollector(HTMLParser):
    """Collects text, turning block boundaries into line breaks and skipping script-like content."""

    def __init__(self, keep_newlines: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._keep_newlines = keep_newlines

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data if self._keep_newlines else data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """HTML or plain text -> clean text, one paragraph per line, no empty lines. Use on any feed field."""
    if "<" in html or "&" in html:  # else there is no markup and no reference: the text is the parser's output
        looks_html = _HTML_HINT.search(html) is not None
        collector = _TextCollector(keep_newlines=not looks_html)
        collector.feed(html)
        collector.close()
        html = "".join(collector.parts)
    text = unicodedata.normalize("NFC", html.translate(_CLEAN))
    lines = (_BULLET.sub("", _RUN_OF_SPACES.sub(" ", line).strip()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _is_boilerplate(line: str) -> bool:
    short = len(line.split()) <= _SHORT_LINE_WORDS
    return any((short or not short_only) and rx.fullmatch(line) for rx, short_only in _BOILERPLATE_RES)


def _drop_trailing_short(lines: list[str]) -> list[str]:
    prose = [i for i, line in enumerate(lines) if len(line.split()) > _SHORT_LINE_WORDS]
    if not prose:
        return lines
    end = len(lines)
    while end > prose[-1] + 1:
        tail = lines[end - 1]
        if len(tail.split()) > _TRAILING_MAX_WORDS or _SENTENCE_END.search(tail):
            break
        end -= 1
    return lines[:end]


def strip_boilerplate(text: str) -> str:
    """Remove boilerplate lines (table ``_BOILERPLATE``), shortcodes and trailing link/tag lines."""
    stripped = (" ".join(_SHORTCODE.sub(" ", line).split()) for line in text.split("\n"))
    lines = [line for line in stripped if line and not _is_boilerplate(line)]
    return "\n".join(_drop_trailing_short(lines))


def _keep_param(pair: str) -> bool:
    name = pair.split("=", 1)[0].lower()
    return bool(pair) and name not in _TRACKING_PARAMS and not name.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str | None:
    """Canonical http(s) URL (lowercase scheme/host, no fragment, no tracking params), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = parts.netloc.rpartition("@")[2].lower()
    netloc = netloc.removesuffix(_DEFAULT_PORTS[scheme])
    query = "&".join(p for p in parts.query.split("&") if _keep_param(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _squash(text: str) -> str:
    """Text reduced for equality tests: NFKC, casefolded, punctuation/quotes/whitespace removed.

    Only a non-word character (regex ``_NON_WORD``) can be punctuation, a separator or a control (checked over all of
    Unicode in tests/test_normalize.py): those below U+3040 go by one table, the rarer others are looked up
    once per distinct character."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_SQUASH_TABLE)
    rest = set(_NON_WORD.findall(folded))
    drop = {ord(ch): None for ch in rest if unicodedata.category(ch)[0] in _SQUASH_CATEGORIES}
    return folded.translate(drop) if drop else folded


def fingerprint(title: str, text: str) -> str:
    """Hex sha256 equal for versions differing only in whitespace, punctuation, quotes or case."""
    return hashlib.sha256(_squash(title + "\n" + text).encode("utf-8")).hexdigest()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


MAX_KEY = 500  # the stories.key column holds 512; longer identities are stored as their hash


def _bounded_key(kind: str, value: str) -> str:
    if len(value) + len(kind) + 1 <= MAX_KEY:
        return f"{kind}:{value}"
    return f"{kind}-sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


# A link to one Telegram post: t.me or telegram.me, optional /s/, channel, id; a query (?single) or fragment may
# follow. Kept in step with ``telegram._POST_LINK`` (pure stages do not import each other).
_TELEGRAM_POST = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?([A-Za-z0-9_]{1,64})/([0-9]{1,18})/?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)


def telegram_identity(value: str | None) -> str | None:
    """``t.me/<channel>/<id>`` (channel lower-cased) for a link to one Telegram post, else None.

    Use on a guid or link to give a post the same identity whether it came from the t.me/s page or an RSSHub or
    RSS-Bridge mirror: ``https://t.me/s/Chan/5``, ``http://t.me/chan/5?single`` and ``telegram.me/chan/5`` agree.
    """
    found = _TELEGRAM_POST.fullmatch(value.strip()) if value else None
    return f"t.me/{found.group(1).lower()}/{int(found.group(2))}" if found else None


def _story_key(guid: str | None, url: str | None, title: str, item: RawItem) -> str:
    telegram = telegram_identity(guid) or telegram_identity(url)
    if telegram:
        return telegram  # no "kind:" prefix: the same post keys alike through a guid or a link
    if guid and guid.strip():
        return _bounded_key("guid", guid.strip())
    if url:
        return _bounded_key("link", url)
    stamp = item.published.isoformat() if item.published else ""
    return "hash:" + hashlib.sha256((title + stamp).encode("utf-8")).hexdigest()[:32]


def normalize(item: RawItem, *, max_title: int = 300, max_text: int = 20000) -> Story:
    """Turn one feed entry or post into a ``Story``; call once per ``RawItem``."""
    title = _truncate(" ".join(html_to_text(item.title).split()), max_title)
    lines = strip_boilerplate(html_to_text(item.html)).split("\n")
    if lines and title and _squash(lines[0]) == _squash(title):
        lines = lines[1:]
    text = _truncate("\n".join(lines).strip(), max_text)
    url = canonical_url(item.link)
    return Story(
        key=_story_key(item.guid, url, title, item),
        url=url,
        title=title,
        text=text,
        published=item.published,
        fingerprint=fingerprint(title, text),
    )
