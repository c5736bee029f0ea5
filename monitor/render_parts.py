"""Pure building blocks of rendering: feed text made safe (one line, capped, no controls), links checked,
and ``View``, the cleaned fields of one ``Alert`` that every style (text, Slack, HTML) lays out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.models import Alert

TITLE_MAX, LINE_MAX, EXCERPT_MAX, CHANGES_MAX, BODY_MAX = 250, 300, 1000, 20, 3000
NOTICE_MAX = BODY_MAX - 200  # an operator notice is all text
SUBJECT_PREFIX = "[news-monitor]"
DIGEST_ITEMS, DIGEST_EXCERPT = 50, 200  # alerts listed in one digest; excerpt characters per listed alert
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


@dataclass(frozen=True, slots=True)
class View:
    """One alert's fields, each a clean single line (the excerpt: lines, "" between paragraphs)."""

    kind: str  # "new" | "update" | "notice" | "sources" | "followup" | "retraction"
    severity: str
    title: str  # with "Update: " for an update (``title_prefix``)
    link: str | None  # passed ``safe_link``
    sources: str
    watch: str
    terms: str
    places: str
    excerpt: tuple[str, ...]
    changes: tuple[tuple[str, str], ...]  # ("+" | "-" | "…", sentence or "N more changed sentences")
    alert_id: str
    story: str | None = None  # the alert's story page on the status pages (passed ``safe_link``)

    @property
    def host(self) -> str:
        """The link's host, shown beside a linked title so a title cannot pose as another site."""
        return (urlsplit(self.link).hostname or "") if self.link else ""


@dataclass(frozen=True, slots=True)
class DigestView:
    """A digest: how many alerts (and critical ones), the first ``DIGEST_ITEMS`` as views, every alert id."""

    count: int
    critical: int
    items: tuple[View, ...]
    digest_id: str
    alert_ids: tuple[str, ...]

    @property
    def amount(self) -> str:
        """``12 alerts``."""
        return f"{self.count} alert{'' if self.count == 1 else 's'}"

    @property
    def summary(self) -> str:
        """``12 alerts (2 critical)``."""
        return self.amount + (f" ({self.critical} critical)" if self.critical else "")

    @property
    def headline(self) -> str:
        return f"Digest: {self.summary}"


def digest_view(alerts: Sequence[Alert], digest_id: str, *, story_base: str | None = None) -> DigestView:
    return DigestView(
        count=len(alerts),
        critical=sum(1 for alert in alerts if one_line(alert.severity, 20).lower() == "critical"),
        items=tuple(view(a, excerpt_max=DIGEST_EXCERPT, story_base=story_base) for a in alerts[:DIGEST_ITEMS]),
        digest_id=one_line(digest_id, 200),
        alert_ids=tuple(one_line(alert.alert_id, 200) for alert in alerts),
    )


def view(alert: Alert, *, excerpt_max: int = EXCERPT_MAX, story_base: str | None = None) -> View:
    """Clean every field of ``alert`` once; raises (TypeError, AttributeError) on a malformed alert.
    ``story_base``: the status pages' public URL, for the link to the alert's story page."""
    notice = alert.kind == "notice"
    return View(
        kind=one_line(alert.kind, 20),
        severity=one_line(alert.severity, 20).lower() or "high",
        title=one_line(title_prefix(alert) + (one_line(alert.title, TITLE_MAX) or "(untitled)"), TITLE_MAX),
        link=safe_link(alert.link),
        sources=joined(alert.sources),
        watch=one_line(alert.watch, LINE_MAX),
        terms=joined(alert.terms),
        places=joined(alert.places),
        excerpt=tuple(excerpt_lines(alert.excerpt, NOTICE_MAX if notice else excerpt_max)),
        changes=change_pairs(alert) if alert.kind == "update" else (),
        alert_id=one_line(alert.alert_id, 200),
        story=story_page(story_base, alert.story_id),
    )


def title_prefix(alert: Alert) -> str:
    """``Update: ``, ``+3 sources: Reuters, Kyiv Independent, t.me/GeneralStaffZSU — `` (later sources, for a
    digest), ``Follow-up: `` or ``Retracted: ``; nothing for a new story or a notice."""
    if alert.kind == "sources":
        n = len(alert.sources)
        return f"+{n} source{'' if n == 1 else 's'}: {joined(alert.sources)} — "
    return _PREFIXES.get(alert.kind, "")


_PREFIXES = {"update": "Update: ", "followup": "Follow-up: ", "retraction": "Retracted: "}


def story_page(base: str | None, story_id: int | None) -> str | None:
    """``{base}/stories/{story_id}`` when both are known and the result is a safe link (a notice has no story)."""
    if not base or not isinstance(story_id, int) or isinstance(story_id, bool) or story_id < 1:
        return None
    return safe_link(f"{base.rstrip('/')}/stories/{story_id}")


def one_line(text: str, limit: int) -> str:
    """Whitespace (CR, LF, tab, U+2028, ...) becomes one space; controls and bidi overrides are dropped."""
    return cap(_INVISIBLE.sub("", " ".join(text.split())).strip(), limit)


def cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def joined(items: Sequence[str]) -> str:
    return one_line(", ".join(one_line(item, LINE_MAX) for item in items), LINE_MAX)


def safe_link(link: str | None) -> str | None:
    """Only an absolute http(s) URL with no whitespace, controls or angle brackets is shown."""
    if not link or len(link) > 2000 or _INVISIBLE.search(link):
        return None
    if any(c.isspace() or c in '<>"`' for c in link):
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def excerpt_lines(excerpt: str, limit: int) -> list[str]:
    """Lines of the excerpt, each one clean line, paragraphs kept by one "" line, the whole capped."""
    lines: list[str] = []
    for raw in excerpt.splitlines():
        line = one_line(raw, limit)
        if line or (lines and lines[-1]):
            lines.append(line)
    return cap("\n".join(lines).strip(), limit).splitlines()


def change_pairs(alert: Alert) -> tuple[tuple[str, str], ...]:
    marked = [("+", s) for s in alert.added] + [("-", s) for s in alert.removed]
    pairs = [(mark, text) for mark, text in ((m, one_line(s, LINE_MAX)) for m, s in marked) if text]
    if len(pairs) > CHANGES_MAX:
        pairs = [*pairs[: CHANGES_MAX - 1], ("…", f"{len(pairs) - CHANGES_MAX + 1} more changed sentences")]
    return tuple(pairs)


def matched(item: View) -> str:
    """``strike, shelling · places: Izium`` (empty when nothing matched)."""
    parts = [item.terms] if item.terms else []
    if item.places:
        parts.append("places: " + item.places)
    return " · ".join(parts)


def fit(blocks: Sequence[str], budget: int, sep: str = "\n\n") -> list[str]:
    """The leading blocks whose join with ``sep`` stays within ``budget`` characters."""
    kept: list[str] = []
    used = 0
    for block in blocks:
        cost = len(block) + (len(sep) if kept else 0)
        if used + cost > budget:
            break
        kept.append(block)
        used += cost
    return kept


def id_list(ids: Sequence[str], budget: int) -> str:
    """``a, b, c`` within ``budget`` characters, ``… (+N)`` for the ids left out."""
    shown = fit(ids, budget - 12, ", ")
    rest = len(ids) - len(shown)
    return ", ".join(shown) + (f" … (+{rest})" if rest else "")
