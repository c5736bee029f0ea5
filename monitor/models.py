"""Plain frozen values that flow between the pipeline stages (no I/O, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What ``fetch.fetch`` got: the body of a 200, or ``not_modified`` for a 304."""

    url: str  # final URL after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    permanent_url: str | None = None  # final URL when every redirect hop was permanent (301/308)
    cache_seconds: float | None = None  # freshness the server asked for (Cache-Control max-age / Expires)


@dataclass(frozen=True, slots=True)
class RawItem:
    """One entry of a feed or one Telegram post, as the source gave it."""

    guid: str | None
    link: str | None
    title: str
    html: str  # content if present, else summary; HTML or plain text
    published: datetime | None = None  # timezone-aware UTC, None when absent or absurd
    forwarded_from: str | None = None  # Telegram: the channel or person a forwarded post came from
    reply_to: str | None = None  # Telegram: link of the post this one answers
    edited: bool = False  # Telegram: the page marks the post as edited


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Entries of one fetch; ``partial`` when the parser recovered from broken XML."""

    items: tuple[RawItem, ...]
    partial: bool = False
    title: str = ""
    possible_gap: bool = False  # Telegram: every visible post is new, older ones may be missed
    ttl_seconds: float | None = None  # RSS <ttl>: how long the publisher asks readers to wait


@dataclass(frozen=True, slots=True)
class Story:
    """A normalized item: identity within its source, clean text and a cosmetic-proof fingerprint."""

    key: str  # guid, else canonical link, else hash of title and date
    url: str | None  # canonical http(s) link, tracking parameters dropped
    title: str
    text: str  # plain text, paragraphs separated by "\n"
    published: datetime | None
    fingerprint: str  # equal for versions that differ only in whitespace, punctuation or case


@dataclass(frozen=True, slots=True)
class Change:
    """Sentences added to and removed from a story between two versions."""

    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Match:
    """A watch that matched a story, with what it found (canonical term patterns and places)."""

    watch: str
    terms: tuple[str, ...]
    places: tuple[str, ...]
    notify: tuple[str, ...]
    severity: str = "high"

    @property
    def hits(self) -> frozenset[str]:
        """Terms and places as one set, for 'what does this version add' questions."""
        return frozenset(self.terms) | frozenset(f"place:{p}" for p in self.places)


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to one channel, as stored in the outbox and handed to ``deliver``."""

    alert_id: str  # stable across retries and restarts
    channel: str
    kind: str  # "new" or "update"
    title: str
    link: str | None
    sources: tuple[str, ...]
    watch: str
    terms: tuple[str, ...]
    places: tuple[str, ...]
    excerpt: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    severity: str = "high"  # "info" | "high" | "critical", from the watch
    story_id: int | None = None  # set when read back from the outbox: the status page's /stories/<id>


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered alert: what Apprise is asked to send."""

    title: str
    body: str
    html: str | None = None  # email: the HTML alternative of ``body``


@dataclass(frozen=True, slots=True)
class Delivery:
    """Outcome of one send; ``permanent`` failures will not fix themselves by retrying."""

    ok: bool
    permanent: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll of one source did; ``error_kind`` is set when it failed."""

    source: str
    fetched: bool = False
    not_modified: bool = False
    items: int = 0
    new_stories: int = 0
    new_versions: int = 0
    duplicates: int = 0
    alerts: int = 0
    failed_items: int = 0  # entries that could not be stored this time (retried on the next poll)
    error_kind: str | None = None
    error: str | None = None
    partial: bool = False
    possible_gap: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert planned for the outbox; the store assigns ``alert.alert_id`` from its identity."""

    alert: Alert
    hits: tuple[str, ...]
