"""Tables: sources, clusters, stories, story_versions, the alert outbox, channel_states and monitor_state."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are naive UTC everywhere (the store boundary converts), so SQLite and PostgreSQL agree.


def naive(t: datetime | None) -> datetime | None:
    """Aware -> naive UTC, the form every timestamp is stored in."""
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


def aware(t: datetime) -> datetime:
    """A stored (naive UTC) timestamp -> aware UTC, the form the rest of the program uses."""
    return t.replace(tzinfo=UTC)


sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", DateTime),
    Column("last_success_at", DateTime),
    Column("next_poll_at", DateTime),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error_kind", String(32)),
    Column("last_error", Text),
    Column("last_post_id", Integer),  # Telegram: highest message id seen, for gap detection
    Column("config_url", Text),  # the URL the config gave; ``url`` differs after a permanent redirect
    Column("body_hash", String(64)),  # sha256 of the last body processed whole: the same body is not parsed again
    Column("interval_s", Float),  # the adaptive poll interval in force (seconds)
    Column("disabled_at", DateTime),  # set by 410 Gone; cleared when the config gives a new URL
    Column("health", String(16), nullable=False, default="ok"),  # ok | failing | silent | gone
    Column("health_since", DateTime),
    Column("gap_count", Integer, nullable=False, default=0),  # Telegram: times posts could not be recovered
    Column("missed_posts", Integer, nullable=False, default=0),  # ...and how many post ids in all
    Column("last_gap", Text),  # the last such report, e.g. "posts 116-143 (28) at 2026-11-26T08:00Z"
    Column("lease_owner", String(128)),  # the instance polling it now ("host:pid:random"), see sources.claim_due
    Column("lease_until", DateTime),  # ...until then; an expired lease (a dead instance) is taken over
)

# Small daemon-wide facts that must survive a restart (e.g. "an outage notice was sent").
monitor_state = Table(
    "monitor_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("member_count", Integer, nullable=False, default=1),
    # independent sources (copies of one text count once, monitor/corroboration.py); NULL before migration 0006
    Column("independent_count", Integer),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(512), nullable=False, index=True),  # indexed alone: one post or link across sources
    Column("cluster_id", Integer, ForeignKey("clusters.id"), nullable=False, index=True),
    Column("url", Text),
    Column("title", Text, nullable=False),
    Column("published_at", DateTime),
    Column("first_seen_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("fingerprint", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("retracted_at", DateTime),  # the post was deleted, or the story vanished from its feed's window
    Column("retraction", String(16)),  # "deleted" (Telegram) | "vanished" (a feed), see monitor/retraction.py
    UniqueConstraint("source_id", "key", name="uq_stories_source_key"),
)

story_versions = Table(
    "story_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("seen_at", DateTime, nullable=False),
    Column("alerted", Boolean, nullable=False, default=False),
    UniqueConstraint("story_id", "version", name="uq_story_versions_story_version"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_uid", String(40), nullable=False, unique=True),
    Column("cluster_id", Integer, ForeignKey("clusters.id")),  # NULL for operator notices
    Column("story_id", Integer, ForeignKey("stories.id")),  # NULL for operator notices
    Column("watch", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    # "new", "update", "notice" (source health, to ops), "sources" (later sources, for the digest),
    # "followup" (a later source, sent as a short follow-up) or "retraction"
    Column("kind", String(16), nullable=False),
    Column("version_ref", Integer, nullable=False),  # 0 for "new", story_versions.id for "update"
    Column("payload", Text, nullable=False),  # JSON of the Alert fields
    Column("hits", Text, nullable=False),  # JSON list of matched terms and places
    # pending|sending|sent|dead, "digest" (folded into the digest ``digest_key``, due at its slot) or
    # "held" (its channel's circuit is open: not attempted until the channel recovers)
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_until", DateTime),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("sent_at", DateTime),
    Column("digest_key", String(96), index=True),  # "<channel>|<slot>": the digest this row is folded into
    Column("budget_from", DateTime),  # the age budget counts from here (NULL: created_at); set when it waited
    UniqueConstraint("cluster_id", "watch", "channel", "kind", "version_ref", name="uq_alerts_identity"),
)
Index("ix_alerts_due", alerts.c.status, alerts.c.next_attempt_at)

# One row per channel that ever failed permanently: its circuit (monitor/circuit.py).
channel_states = Table(
    "channel_states",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("state", String(16), nullable=False, default="ok"),  # ok | broken
    Column("failures", Integer, nullable=False, default=0),  # permanent failures in a row
    Column("last_error", Text),
    Column("url_hash", String(64)),  # of the URL that broke; another URL (a reload) closes the circuit
    Column("broken_at", DateTime),
    Column("probe_at", DateTime),  # when a broken channel is next tried with one held row
)
