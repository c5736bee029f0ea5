"""The store on a real SQLite file migrated by Alembic: stories, versions, outbox identity, claims."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect

from monitor.errors import StoreError
from monitor.models import Alert, AlertDraft, Story
from monitor.store import alerts as store_alerts
from monitor.store import engine as store_engine
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.schema import metadata
from monitor.store.schema import sources as sources_table
from tests.conftest import FakeClock


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/var/test.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = store_engine.make_engine(url)
    store_engine.upgrade(eng)
    yield eng
    eng.dispose()


def story(text: str = "Russian forces withdrew from Izyum.", key: str = "guid:1") -> Story:
    return Story(key=key, url="https://example.org/a", title="Gains", text=text, published=None,
                 fingerprint=str(hash(text)))


def draft(channel: str = "slack", kind: str = "new", hits: tuple[str, ...] = ("place:Izium",)) -> AlertDraft:
    alert = Alert(alert_id="", channel=channel, kind=kind, title="Gains", link=None, sources=("axios",),
                  watch="kharkiv", terms=("withdrew",), places=("Izium",), excerpt="Russian forces …")
    return AlertDraft(alert=alert, hits=hits)


def test_migrations_up_down_up_and_match_the_models(engine: Engine) -> None:
    assert store_engine.is_current(engine)
    assert {"sources", "clusters", "stories", "story_versions", "alerts"} <= set(inspect(engine).get_table_names())
    cfg = store_engine._alembic_config(engine)
    command.downgrade(cfg, "base")
    assert not store_engine.is_current(engine)
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_database_files_are_private(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("file modes apply to SQLite only")
    store_sources.ensure(engine, "axios", "https://example.org/feed")
    for path in (tmp_path / "var").glob("test.db*"):
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path


def test_sqlite_runs_in_wal_mode(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL is SQLite's")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_source_state_round_trip_and_url_change(engine: Engine, clock: FakeClock) -> None:
    s = store_sources.ensure(engine, "axios", "https://example.org/feed")
    ok = store_sources.Success(etag='"e1"', last_modified="Sun", next_poll_at=clock() + timedelta(minutes=4),
                               interval_s=240.0, body_hash="ab" * 32, last_post_id=7)
    store_sources.record_success(engine, s.id, clock(), ok)
    store_sources.record_failure(engine, s.id, clock(), "timeout", "slow", clock() + timedelta(minutes=10))
    again = store_sources.ensure(engine, "axios", "https://example.org/feed")
    assert (again.etag, again.error_count, again.last_error_kind, again.last_post_id) == ('"e1"', 1, "timeout", 7)
    assert (again.interval_s, again.body_hash) == (240.0, "ab" * 32)
    moved = store_sources.ensure(engine, "axios", "https://example.org/new-feed")
    assert (moved.url, moved.etag, moved.body_hash, moved.error_count) == ("https://example.org/new-feed", None,
                                                                          None, 0)


def test_a_permanent_redirect_sticks_until_the_config_names_another_url(engine: Engine) -> None:
    s = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_sources.move(engine, s.id, "https://example.org/moved")
    assert store_sources.ensure(engine, "axios", "https://example.org/feed").url == "https://example.org/moved"
    assert store_sources.ensure(engine, "axios", "https://example.org/v2").url == "https://example.org/v2"


def test_a_gone_source_is_not_due_until_its_url_changes(engine: Engine, clock: FakeClock) -> None:
    s = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_sources.ensure(engine, "other", "https://example.org/other")
    store_sources.disable(engine, s.id, clock(), "http_status", "HTTP 410")
    assert store_sources.due(engine, ["axios", "other", "brand-new"], clock()) == {"other", "brand-new"}
    assert store_sources.ensure(engine, "axios", "https://example.org/feed").disabled_at is not None
    store_sources.ensure(engine, "axios", "https://example.org/feed2")
    assert store_sources.due(engine, ["axios"], clock()) == {"axios"}


def test_due_follows_next_poll_at(engine: Engine, clock: FakeClock) -> None:
    s = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_sources.record_failure(engine, s.id, clock(), "timeout", "slow", clock() + timedelta(minutes=10))
    assert store_sources.due(engine, ["axios"], clock() + timedelta(minutes=9)) == set()
    assert store_sources.due(engine, ["axios"], clock() + timedelta(minutes=10)) == {"axios"}


def test_post_counts_use_the_publication_date_so_a_backlog_is_no_burst(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    now = clock()
    dates = [now - timedelta(hours=2), now - timedelta(days=3), now - timedelta(days=30), None]
    for i, published in enumerate(dates):
        st = dataclasses.replace(story(), key=f"guid:{i}", published=published)
        store_stories.insert_new(engine, src.id, st, b"sig", None, [], now)
    # 2 h and 3 days ago count for the week, the 30-day-old entry not at all, the undated one as first seen.
    assert store_sources.post_counts_of(engine, src.id, now) == (3, 2)


def test_new_story_version_and_alert_identity(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    sid, cid, created = store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft(), draft("email")],
                                                 clock())
    assert created == 2
    known = store_stories.find(engine, src.id, "guid:1")
    assert known is not None and (known.version, known.cluster_id) == (1, cid)
    # A copy in another source joins the cluster; its "new" alerts collide with the first ones.
    other = store_sources.ensure(engine, "scraper", "https://scraper.example/feed")
    _, cid2, created2 = store_stories.insert_new(engine, other.id, story(), b"sig", cid, [draft()], clock())
    assert (cid2, created2) == (cid, 0)
    assert store_stories.cluster_sources(engine, cid) == ["axios", "scraper"]
    upd = draft(kind="update", hits=("place:Izium", "place:Chkalovske"))
    assert store_stories.insert_version(engine, known, story("More text."), [upd], clock()) == 1
    assert store_stories.find(engine, src.id, "guid:1").version == 2
    assert store_stories.alerted_hits(engine, cid) == {"kharkiv": frozenset({"place:Izium", "place:Chkalovske"})}


def test_claims_are_leased_and_outcomes_recorded(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft(), draft("email")], clock())
    first = store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))
    assert [c.alert.channel for c in first] == ["slack", "email"]
    assert first[0].alert.alert_id.startswith("nm-") and first[0].attempts == 1
    assert store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5)) == []  # leased
    store_alerts.mark_sent(engine, first[0].id, clock())
    store_alerts.mark_retry(engine, first[1].id, clock() + timedelta(seconds=30), "HTTP 500")
    assert store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5)) == []  # not due yet
    clock.advance(seconds=31)
    retry = store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))
    assert [(c.alert.channel, c.attempts, c.alert.alert_id) for c in retry] == [
        ("email", 2, first[1].alert.alert_id)]
    store_alerts.mark_dead(engine, retry[0].id, "gave up")
    assert store_alerts.counts(engine) == {"sent": 1, "dead": 1}


def test_expired_lease_is_claimed_again(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft()], clock())
    assert len(store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))) == 1
    clock.advance(minutes=6)  # the worker died holding the row
    again = store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))
    assert len(again) == 1 and again[0].attempts == 2


def test_a_failure_inside_the_poll_transaction_leaves_nothing_behind(engine: Engine, clock: FakeClock) -> None:
    """D03: the story, its version, its cluster and its alerts are written together or not at all."""
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    poison = draft()
    poison = AlertDraft(alert=dataclasses.replace(poison.alert, excerpt=object()), hits=poison.hits)  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # json.dumps fails after the story and version rows were inserted
        store_stories.insert_new(engine, src.id, story(), b"sig", None, [poison], clock())
    assert store_stories.find(engine, src.id, "guid:1") is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM clusters").scalar() == 0
    _, _, created = store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft()], clock())
    assert created == 1 and store_alerts.counts(engine) == {"pending": 1}


def test_release_hands_a_claimed_row_back_without_spending_an_attempt(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft(), draft("email")], clock())
    first = store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))
    assert [(c.alert.channel, c.attempts) for c in first] == [("slack", 1), ("email", 1)]
    store_alerts.mark_retry(engine, first[0].id, clock() + timedelta(seconds=30), "timeout")
    store_alerts.release(engine, first[1].id, clock() + timedelta(seconds=30))
    assert store_alerts.counts(engine) == {"pending": 2}
    assert store_alerts.next_due(engine) == clock() + timedelta(seconds=30)
    assert store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5)) == []  # not due yet
    clock.advance(seconds=31)
    again = store_alerts.claim_due(engine, clock(), lease=timedelta(minutes=5))
    assert [(c.alert.channel, c.attempts) for c in again] == [("slack", 2), ("email", 1)]
    store_alerts.mark_sent(engine, again[1].id, clock())
    store_alerts.release(engine, again[1].id, clock())  # only a claimed row can be released
    assert store_alerts.counts(engine) == {"sending": 1, "sent": 1}


def test_claims_can_skip_paused_channels(engine: Engine, clock: FakeClock) -> None:
    src = store_sources.ensure(engine, "axios", "https://example.org/feed")
    store_stories.insert_new(engine, src.id, story(), b"sig", None, [draft(), draft("email"), draft("ops")],
                             clock())
    lease = timedelta(minutes=5)
    only = store_alerts.claim_due(engine, clock(), lease=lease, exclude_channels={"slack", "ops"})
    assert [c.alert.channel for c in only] == ["email"]
    assert store_alerts.claim_due(engine, clock(), lease=lease, exclude_channels={"slack", "email", "ops"}) == []
    rest = store_alerts.claim_due(engine, clock(), lease=lease, exclude_channels=())
    assert [c.alert.channel for c in rest] == ["slack", "ops"]


def test_reads_do_not_queue_behind_the_writer(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    store_sources.ensure(engine, "axios", "https://example.org/feed")
    with engine.begin() as writer:  # BEGIN IMMEDIATE: holds the write lock
        writer.execute(insert(sources_table).values(name="other", url="https://example.org/2", error_count=0))
        started = time.monotonic()
        assert [row["name"] for row in store_sources.all_states(engine)] == ["axios"]  # the committed snapshot
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("postgres://news@127.0.0.1/news", "postgresql+psycopg", id="postgres:// gets psycopg"),
        pytest.param("postgresql://news@127.0.0.1/news", "postgresql+psycopg", id="postgresql:// gets psycopg"),
        pytest.param("mysql://u:secret@127.0.0.1/x", "unusable database URL mysql://u:***@127.0.0.1/x",
                     id="a driver we do not ship"),
        pytest.param("not a url", "unusable database URL", id="nonsense"),
    ],
)
def test_database_urls(url: str, expected: str) -> None:
    try:
        eng = store_engine.make_engine(url)
    except StoreError as exc:
        assert str(exc).startswith(expected) and "secret" not in str(exc)
    else:
        assert eng.url.drivername == expected
        eng.dispose()


LEASE = timedelta(minutes=3)


def test_two_owners_claim_due_sources_disjointly(engine: Engine, clock: FakeClock) -> None:
    names = [f"s{i}" for i in range(6)]
    urls = {n: f"https://example.org/{n}" for n in names}
    first = store_sources.claim_due(engine, names, clock(), owner="a", lease=LEASE, limit=4, urls=urls)
    second = store_sources.claim_due(engine, names, clock(), owner="b", lease=LEASE, limit=4, urls=urls)
    assert len(first) == 4 and second == set(names) - first  # unknown names were inserted, then leased
    assert store_sources.claim_due(engine, names, clock(), owner="c", lease=LEASE, limit=10) == set()
    assert store_sources.ensure(engine, "s0", urls["s0"]).url == urls["s0"]
    released = sorted(first)[0]
    store_sources.release(engine, released, "b")  # not b's lease: kept
    assert store_sources.claim_due(engine, names, clock(), owner="c", lease=LEASE, limit=10) == set()
    store_sources.release(engine, released, "a")
    assert store_sources.claim_due(engine, names, clock(), owner="c", lease=LEASE, limit=10) == {released}


def test_an_expired_source_lease_is_taken_over(engine: Engine, clock: FakeClock) -> None:
    assert store_sources.claim_due(engine, ["axios"], clock(), owner="dead", lease=LEASE, limit=1) == {"axios"}
    assert store_sources.claim_due(engine, ["axios"], clock() + LEASE, owner="b", lease=LEASE, limit=1) == set()
    later = clock() + LEASE + timedelta(seconds=1)
    assert store_sources.claim_due(engine, ["axios"], later, owner="b", lease=LEASE, limit=1) == {"axios"}
    store_sources.release(engine, "axios", "dead")  # the old owner's late release leaves b's lease alone
    assert store_sources.claim_due(engine, ["axios"], later, owner="c", lease=LEASE, limit=1) == set()


def test_disabled_or_not_due_sources_are_not_claimed_unless_forced(engine: Engine, clock: FakeClock) -> None:
    gone = store_sources.ensure(engine, "gone", "https://example.org/gone")
    store_sources.disable(engine, gone.id, clock(), "http_status", "HTTP 410")
    waiting = store_sources.ensure(engine, "waiting", "https://example.org/waiting")
    store_sources.record_failure(engine, waiting.id, clock(), "timeout", "slow", clock() + timedelta(minutes=10))
    store_sources.ensure(engine, "due", "https://example.org/due")
    names = ["gone", "waiting", "due"]
    assert store_sources.claim_due(engine, names, clock(), owner="a", lease=LEASE, limit=10) == {"due"}
    assert store_sources.claim_due(engine, names, clock(), owner="b", lease=LEASE, limit=10, force=True) == {
        "gone", "waiting"}  # burst mode: due or not, only live leases count
    later = clock() + timedelta(minutes=10)
    store_sources.release(engine, "waiting", "b")
    assert store_sources.claim_due(engine, names, later, owner="c", lease=LEASE, limit=10) == {"waiting", "due"}
