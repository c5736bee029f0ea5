"""Stories, their versions and clusters, written together with their outbox rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, bindparam, case, func, insert, select, update

from monitor.corroboration import MAX_MEMBERS, Member
from monitor.followups import FirstAlert
from monitor.models import AlertDraft, Story
from monitor.store.engine import reading
from monitor.store.schema import alerts, aware, clusters, naive, sources, stories, story_versions


@dataclass(frozen=True, slots=True)
class KnownStory:
    """The stored current version of a story, for diffing against a new fetch."""

    id: int
    cluster_id: int
    version: int
    fingerprint: str
    title: str
    text: str
    retracted_at: datetime | None = None


# Statements run once or more per new story, built once with bound parameters: SQLAlchemy then computes their
# cache keys once, not per call (which cost more than the query itself).
_KNOWN = (
    select(stories.c.id, stories.c.cluster_id, stories.c.version, stories.c.fingerprint,
           story_versions.c.title, story_versions.c.text, stories.c.retracted_at, stories.c.key)
    .join(story_versions, (story_versions.c.story_id == stories.c.id)
          & (story_versions.c.version == stories.c.version))
)
_FIND = _KNOWN.where(stories.c.source_id == bindparam("source_id"), stories.c.key == bindparam("key"))
_FIND_EACH = _KNOWN.where(stories.c.source_id == bindparam("source_id"),
                          stories.c.key.in_(bindparam("keys", expanding=True)))
_RECENT = stories.c.first_seen_at >= bindparam("since")
_SIGNATURES_AFTER = (
    select(stories.c.id, stories.c.cluster_id, case((_RECENT, stories.c.signature), else_=None),
           stories.c.first_seen_at)
    .where(stories.c.id > bindparam("after"))
    .order_by(stories.c.id)
)
_NEWER = select(stories.c.id).where(stories.c.id > bindparam("after")).limit(1)


def find(engine: Engine, source_id: int, key: str) -> KnownStory | None:
    """The stored story with this identity in this source, with its newest text."""
    with reading(engine) as conn:
        row = conn.execute(_FIND, {"source_id": source_id, "key": key}).first()
    return None if row is None else KnownStory(*row[:-1])


def find_each(engine: Engine, source_id: int, keys: list[str]) -> dict[str, KnownStory]:
    """``find`` for many identities of one source in one query: the stored ones by key (absent: not stored)."""
    out: dict[str, KnownStory] = {}
    with reading(engine) as conn:
        for at in range(0, len(keys), 500):  # bounded IN lists
            for row in conn.execute(_FIND_EACH, {"source_id": source_id, "keys": keys[at : at + 500]}):
                out[row[-1]] = KnownStory(*row[:-1])
    return out


def cluster_of_key(engine: Engine, key: str, since: datetime) -> int | None:
    """The cluster of a story with this exact identity in any source, first seen since ``since`` (the same
    Telegram post direct and through a mirror, or the same article link in two feeds)."""
    query = (
        select(stories.c.cluster_id)
        .where(stories.c.key == key, stories.c.first_seen_at >= naive(since))
        .order_by(stories.c.id)
        .limit(1)
    )
    with reading(engine) as conn:
        return conn.execute(query).scalar()


def alerted_hits(engine: Engine, cluster_id: int) -> dict[str, frozenset[str]]:
    """Per watch, every term and place already alerted for this cluster."""
    out: dict[str, set[str]] = {}
    with reading(engine) as conn:
        for watch, hits in conn.execute(
            select(alerts.c.watch, alerts.c.hits).where(alerts.c.cluster_id == cluster_id)
        ):
            out.setdefault(watch, set()).update(json.loads(hits))
    return {w: frozenset(h) for w, h in out.items()}


def cluster_sources(engine: Engine, cluster_id: int) -> list[str]:
    """Names of the sources whose stories are in this cluster, first seen first."""
    query = (
        select(sources.c.name)
        .join(stories, stories.c.source_id == sources.c.id)
        .where(stories.c.cluster_id == cluster_id)
        .order_by(stories.c.first_seen_at, stories.c.id)
    )
    with reading(engine) as conn:
        names = [r[0] for r in conn.execute(query)]
    return list(dict.fromkeys(names))


def cluster_members(engine: Engine, cluster_id: int) -> list[Member]:
    """The cluster's stories not retracted, first seen first (at most ``MAX_MEMBERS``), for corroboration."""
    query = (
        select(stories.c.id, sources.c.name, stories.c.key, stories.c.first_seen_at, stories.c.signature)
        .join(sources, stories.c.source_id == sources.c.id)
        .where(stories.c.cluster_id == cluster_id, stories.c.retracted_at.is_(None))
        .order_by(stories.c.first_seen_at, stories.c.id)
        .limit(MAX_MEMBERS)
    )
    with reading(engine) as conn:
        return [Member(sid, name, key, aware(seen), sig) for sid, name, key, seen, sig in conn.execute(query)]


def set_independent(engine: Engine, cluster_id: int, count: int) -> None:
    """Store the cluster's independent sources (after a member was retracted)."""
    with engine.begin() as conn:
        conn.execute(update(clusters).where(clusters.c.id == cluster_id).values(independent_count=count))


def first_alerts(engine: Engine, cluster_id: int) -> list[FirstAlert]:
    """The cluster's "new" alerts, one per watch and channel: what follow-ups refer to."""
    query = (select(alerts.c.watch, alerts.c.channel, alerts.c.alert_uid, alerts.c.payload, alerts.c.status,
                    alerts.c.story_id)
             .where(alerts.c.cluster_id == cluster_id, alerts.c.kind == "new").order_by(alerts.c.id))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    return [first_alert(r) for r in rows]


def first_alert(r: Any) -> FirstAlert:
    """A row of (watch, channel, alert_uid, payload, status, story_id) as a FirstAlert."""
    payload = json.loads(r[3])
    link = payload.get("link")
    return FirstAlert(watch=r[0], channel=r[1], alert_uid=r[2], title=str(payload.get("title") or ""),
                      link=link if isinstance(link, str) else None, severity=str(payload.get("severity") or "high"),
                      status=r[4], story_id=r[5])


STORY_LOCK = 0x6E6D5354  # PostgreSQL advisory lock key ("nmST"): new stories are stored one at a time


def insert_new(
    engine: Engine,
    source_id: int,
    story: Story,
    signature: bytes,
    cluster_id: int | None,
    drafts: list[AlertDraft],
    now: datetime,
    seen_up_to: int | None = None,
    independent: int | None = None,
) -> tuple[int, int, int] | None:
    """Store a new story (a new cluster unless ``cluster_id``), version 1 and its alerts, atomically.

    Returns (story id, cluster id, alert rows created); None, storing nothing, when ``seen_up_to`` is given
    and a story with a higher id exists: another instance stored one since the caller's dedup look-up, which
    the caller must see first (so two copies polled by two instances cannot start two clusters). New stories
    are stored one at a time across instances (PostgreSQL: a transaction advisory lock; SQLite: BEGIN
    IMMEDIATE), so story ids are committed in order and ``id > seen_up_to`` misses none. ``independent``: the
    cluster's independent sources with this story (monitor/corroboration.py).
    """
    t = naive(now)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(STORY_LOCK)))
        if seen_up_to is not None and conn.execute(_NEWER, {"after": seen_up_to}).first() is not None:
            return None
        if cluster_id is None:
            cluster_id = _new_id(conn.execute(insert(clusters), dict(
                first_seen_at=t, last_seen_at=t, member_count=1, independent_count=independent or 1)))
        else:
            more: dict[str, Any] = {} if independent is None else {"independent_count": independent}
            conn.execute(update(clusters).where(clusters.c.id == cluster_id).values(
                last_seen_at=t, member_count=clusters.c.member_count + 1, **more))
        story_id = _new_id(conn.execute(insert(stories), dict(
            source_id=source_id, key=story.key, cluster_id=cluster_id, url=story.url, title=story.title,
            published_at=naive(story.published), first_seen_at=t, updated_at=t, version=1,
            fingerprint=story.fingerprint, signature=signature,
        )))
        _insert_version(conn, story_id, 1, story, t)
        created = insert_alerts(conn, cluster_id, story_id, 0, drafts, t)
    return story_id, cluster_id, created


def insert_version(
    engine: Engine, known: KnownStory, story: Story, drafts: list[AlertDraft], now: datetime
) -> int:
    """Store a new version of a known story and its update alerts, atomically; returns rows created."""
    t = naive(now)
    version = known.version + 1
    with engine.begin() as conn:
        version_id = _insert_version(conn, known.id, version, story, t)
        conn.execute(update(stories).where(stories.c.id == known.id).values(
            version=version, fingerprint=story.fingerprint, title=story.title, url=story.url, updated_at=t))
        return insert_alerts(conn, known.cluster_id, known.id, version_id, drafts, t)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None  # single-row INSERT
    return int(key[0])


def _insert_version(conn: Connection, story_id: int, version: int, story: Story, t: Any) -> int:
    result = conn.execute(insert(story_versions), dict(
        story_id=story_id, version=version, title=story.title, text=story.text,
        fingerprint=story.fingerprint, seen_at=t, alerted=False))
    return _new_id(result)


def alert_uid(cluster_id: int, watch: str, channel: str, kind: str, version_ref: int) -> str:
    """The stable id every message carries (``X-Alert-Id``), derived from the outbox identity."""
    raw = f"{cluster_id}\x1f{watch}\x1f{channel}\x1f{kind}\x1f{version_ref}".encode()
    return "nm-" + hashlib.sha256(raw).hexdigest()[:20]


_PER_STORY = frozenset({"sources", "followup", "retraction"})  # kinds keyed by the story they are about


def insert_alerts(
    conn: Connection, cluster_id: int, story_id: int, version_ref: int, drafts: list[AlertDraft], t: Any
) -> int:
    """Insert outbox rows for ``drafts`` (a row with the same identity is left alone); returns rows created. A
    "sources" draft joins the waiting (unclaimed) "sources" row of its cluster, watch and channel if there is one,
    so the digest lists every later source once ("+3 sources: ...")."""
    created = 0
    for draft in drafts:
        a = draft.alert
        if a.kind == "sources" and _join_waiting(conn, cluster_id, a):
            continue
        # one "new" alert per cluster, watch and channel; follow-ups and retractions once per story
        ref = 0 if a.kind == "new" else story_id if a.kind in _PER_STORY else version_ref
        uid = alert_uid(cluster_id, a.watch, a.channel, a.kind, ref)
        # Alert's fields are flat (str, int, tuples of str): a shallow copy dumps as asdict()'s deep one would
        payload = {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if f.name != "alert_id"}
        row = dict(
            alert_uid=uid, cluster_id=cluster_id, story_id=story_id, watch=a.watch, channel=a.channel,
            kind=a.kind, version_ref=ref, payload=json.dumps(payload, ensure_ascii=False),
            hits=json.dumps(sorted(draft.hits), ensure_ascii=False), status="pending", attempts=0,
            next_attempt_at=t, created_at=t)
        # values as parameters, not in the statement: its compiled form is cached (no cache key per value)
        stmt = _insert_ignore(conn, alerts).returning(alerts.c.id)
        created += len(conn.execute(stmt, row).all())  # rowcount is -1 on PostgreSQL; RETURNING is exact
    if created and version_ref:
        conn.execute(update(story_versions).where(story_versions.c.id == version_ref).values(alerted=True))
    return created


def _join_waiting(conn: Connection, cluster_id: int, a: Any) -> bool:
    """Add ``a``'s sources to the cluster's unclaimed "sources" row for its watch and channel; False if none waits."""
    row = conn.execute(select(alerts.c.id, alerts.c.payload).where(
        alerts.c.cluster_id == cluster_id, alerts.c.watch == a.watch, alerts.c.channel == a.channel,
        alerts.c.kind == "sources", alerts.c.status.in_(("pending", "digest")), alerts.c.attempts == 0,
    ).order_by(alerts.c.id.desc()).limit(1)).first()
    if row is None:
        return False
    payload = json.loads(row[1])
    payload["sources"] = list(dict.fromkeys([*(payload.get("sources") or ()), *a.sources]))
    payload["excerpt"] = a.excerpt
    result = conn.execute(update(alerts).where(alerts.c.id == row[0], alerts.c.attempts == 0,
                                               alerts.c.status.in_(("pending", "digest")))
                          .values(payload=json.dumps(payload, ensure_ascii=False)))
    return bool(result.rowcount)


def _insert_ignore(conn: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def signatures_after(
    engine: Engine, after: int, since: datetime
) -> list[tuple[int, int, bytes | None, datetime]]:
    """(story id, cluster id, signature, first seen) of the stories with an id above ``after``, by id: those
    another instance stored since this one last looked. The signature is None for a story first seen before
    ``since`` (outside the dedup window: only its id counts)."""
    with reading(engine) as conn:
        rows = conn.execute(_SIGNATURES_AFTER, {"after": after, "since": naive(since)})
        return [(sid, cid, sig, aware(seen)) for sid, cid, sig, seen in rows]
