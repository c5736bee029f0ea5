"""Article text from a fetched page (for sources with ``fetch_article: true``). Pure: never fetches anything.

The extractor is trafilatura (``favor_recall=True``, no comments), chosen on ``bench/bench_extract.py``; its
plain-text output is cleaned line by line and the scraper-site boilerplate of ``monitor.normalize`` is removed.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from monitor.normalize import strip_boilerplate

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 2_000_000  # HTML beyond this is cut off before parsing (an article page is far smaller)
MAX_TEXT_CHARS = 20_000  # same bound as normalize(max_text=...)
_BULLET = re.compile(r"^(?:[-•●▪■◦‣·∙▸►*]\s+)")
# C0/C1 controls (except \n), zero-width and bidi marks; other space characters become a plain space.
_DROP = dict.fromkeys([*range(0, 10), *range(11, 32), *range(0x7F, 0xA0), 0xAD, 0x200B, 0x200E, 0x200F, 0xFEFF])
_DROP.update(dict.fromkeys([0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]))


def _bounded_input(html: bytes | str) -> bytes | str:
    if isinstance(html, bytes | bytearray | memoryview):
        return bytes(html[:MAX_HTML_BYTES])
    return html[:MAX_HTML_BYTES]


def _clean(text: str) -> str:
    """One paragraph per line: NFC, controls dropped, runs of whitespace squeezed, list bullets removed."""
    text = unicodedata.normalize("NFC", text.translate(_DROP))
    lines = (_BULLET.sub("", " ".join(line.split())) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _truncate(text: str, limit: int) -> str:
    """Cut at the last line break (or else space) before ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for sep in ("\n", " "):
        at = cut.rfind(sep)
        if at > limit // 2:
            return cut[:at].rstrip()
    return cut


def extract(html: bytes | str, *, url: str | None = None) -> str:
    """The article's plain text (paragraphs separated by "\\n", boilerplate removed, <= 20,000 chars), or "".

    ``html`` is the page as fetched (bytes are decoded by trafilatura's charset detection) and is cut to
    2 MB first. ``url`` only helps link/metadata resolution; nothing is downloaded. Never raises on bad input.
    """
    if not html:
        return ""
    import trafilatura  # lazy: only sources with fetch_article need it

    try:
        text = trafilatura.extract(
            _bounded_input(html),
            url=url,
            include_comments=False,
            favor_recall=True,
            include_images=False,
            include_links=False,
            output_format="txt",
        )
    except Exception:  # noqa: BLE001 - hostile pages must not take the poller down
        log.warning("article extraction failed for %s", url or "<page>", exc_info=True)
        return ""
    if not text:
        return ""
    return _truncate(strip_boilerplate(_clean(text)), MAX_TEXT_CHARS)
