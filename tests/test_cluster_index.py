"""Tests of monitor.cluster_index / monitor.lsh_bands: the compact dedup index decides as a brute-force comparison
does, across merges of its add buffer, evictions (tombstones, compaction) and a rebuild from a real SQLite file."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from monitor.cluster_index import ClusterIndex
from monitor.context import load_gazetteer, open_context
from monitor.daemon import load_config
from monitor.dedupe import Signature, signature, stored_ranges, unpack
from monitor.lsh_bands import BandTable, band_hashes
from monitor.store import engine as store_engine
from monitor.store import signatures as store_signatures
from monitor.store.schema import clusters, naive, sources, stories

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = timedelta(hours=72)
P = 128


def sig_of(values: np.ndarray, size: int) -> Signature:
    return Signature(values[:P].astype("<u8").tobytes(), size, values[P:].astype("<u8").tobytes())


def members_and_queries(n: int, queries: int, seed: int = 0) -> tuple[list[Signature], list[Signature]]:
    """``n`` distinct random signatures, and queries: new ones and copies with 0..70 % of their values changed."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**32, size=(n, 2 * P), dtype=np.uint64).astype(np.uint32)
    sizes = rng.integers(5, 1500, size=n)
    members = [sig_of(values[i], int(sizes[i])) for i in range(n)]
    out = []
    for q in range(queries):
        if q % 2:
            m = int(rng.integers(0, n))
            v = values[m].copy()
            changed = rng.random(2 * P) < rng.uniform(0.0, 0.7)
            v[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64).astype(np.uint32)
            out.append(sig_of(v, int(sizes[m])))
        else:
            out.append(sig_of(rng.integers(0, 2**32, size=2 * P, dtype=np.uint64).astype(np.uint32), 900))
    return members, out


def _values(sig: Signature) -> np.ndarray:
    return np.concatenate([np.frombuffer(sig.hashvalues, "<u8"), np.frombuffer(sig.lede, "<u8")]).astype(np.uint32)


def brute_force(members: list[Signature], query: Signature, rule: ClusterIndex) -> int | None:
    """``rule``'s accept rule applied to every member (no LSH): the best member's index, or None."""
    q = _values(query)
    best: tuple[float, int] | None = None
    for k, m in enumerate(members):
        score = rule._score(q, query.size, _values(m), m.size)
        if score is not None and (best is None or score > best[0]):
            best = (score, k)
    return best[1] if best else None


def test_same_decisions_as_brute_force() -> None:
    members, queries = members_and_queries(400, 120)
    index = ClusterIndex(window=WINDOW, merge_at=64)
    for k, sig in enumerate(members):
        index.add(k, k, sig, T0)
    decisions = [index.find(q, T0) for q in queries]
    assert decisions == [brute_force(members, q, index) for q in queries]
    assert 20 < sum(d is not None for d in decisions) < 60  # the sample holds both matches and misses


def test_buffer_merges_do_not_change_answers() -> None:
    members, queries = members_and_queries(300, 60, seed=1)
    merged_often, never = ClusterIndex(window=WINDOW, merge_at=7), ClusterIndex(window=WINDOW, merge_at=10**6)
    for k, sig in enumerate(members):
        merged_often.add(k, k, sig, T0)
        never.add(k, k, sig, T0)
    assert [merged_often.find(q, T0) for q in queries] == [never.find(q, T0) for q in queries]


def test_eviction_tombstones_then_compaction() -> None:
    members, _ = members_and_queries(200, 0, seed=2)
    index = ClusterIndex(window=WINDOW, merge_at=16)
    for k, sig in enumerate(members):
        index.add(k, k, sig, T0 + timedelta(minutes=k))
    assert index.evict(T0 + timedelta(minutes=20)) == 20  # 10 % dead: tombstones only
    assert len(index) == 180 and index.find(members[5], T0) is None and index.find(members[25], T0) == 25
    assert index.evict(T0 + timedelta(minutes=100)) == 80  # half dead: compacted, rows renumbered
    assert len(index) == 100 and index.nbytes() < ClusterIndex(window=WINDOW).nbytes() + 100 * 1200
    assert [index.find(members[k], T0) for k in (50, 99, 100, 150, 199)] == [None, None, 100, 150, 199]
    index.add(1000, 7, members[60], T0)  # rows added after a compaction are found too
    assert index.find(members[60], T0) == 7


def test_window_and_readd_after_compaction() -> None:
    members, _ = members_and_queries(50, 0, seed=3)
    index = ClusterIndex(window=WINDOW)
    for k, sig in enumerate(members):
        index.add(k, k, sig, T0)
    index.evict(T0 + timedelta(seconds=1))
    assert len(index) == 0
    index.add(3, 33, members[3], T0 + WINDOW)  # an id seen before, indexed again
    assert index.find(members[3], T0 + 2 * WINDOW) == 33
    assert index.find(members[3], T0 + 2 * WINDOW + timedelta(seconds=1)) is None


def test_band_table_widens_rows_past_16_bits() -> None:
    table = BandTable(3, merge_at=2)
    a, b, c = 0x1234_5678, 0xFFFF_0001, 0x0BAD_F00D
    for row, h in zip((5, 70_000, 1 << 20), [[a, b, c], [b, a, c], [a, c, c]], strict=True):
        table.add(row, np.array(h, dtype=np.uint32))  # the third add merges the buffer, widening to 21 row bits
    table.merge()
    assert sorted(table.lookup(np.array([a, 0, 0], np.uint32)).tolist()) == [5, 1 << 20]
    assert sorted(table.lookup(np.array([b, 0, c], np.uint32)).tolist()) == [5, 70_000, 70_000, 1 << 20]
    assert table.lookup(np.array([7, 7, 7], np.uint32)).tolist() == []


def test_band_hashes_equal_bands_only() -> None:
    v = np.arange(256, dtype=np.uint32)
    w = v.copy()
    w[7] += 1  # second band of the first block (rows 5..9)
    a, b = band_hashes(v, [(0, 12, 5), (128, 16, 2)]), band_hashes(w, [(0, 12, 5), (128, 16, 2)])
    assert len(a) == 28 and (a != b).tolist() == [False, True] + [False] * 26
    assert (band_hashes(np.stack([v, w]), [(0, 12, 5), (128, 16, 2)]) == np.stack([a, b])).all()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/s.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = store_engine.make_engine(url)
    store_engine.upgrade(eng)
    yield eng
    eng.dispose()


def _store(engine: Engine, sigs: list[Signature], times: list[datetime]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(sources).values(id=1, name="s", url="http://127.0.0.1/feed"))
        for k, (sig, t) in enumerate(zip(sigs, times, strict=True), start=1):
            conn.execute(insert(clusters).values(id=k, first_seen_at=naive(t), last_seen_at=naive(t)))
            conn.execute(insert(stories).values(id=k, source_id=1, key=f"k{k}", cluster_id=k, title="", fingerprint="",
                                                first_seen_at=naive(t), updated_at=naive(t), signature=sig.to_bytes()))


def test_rebuild_from_the_database_decides_as_adding(engine: Engine) -> None:
    members, queries = members_and_queries(300, 80, seed=4)
    members.append(signature("", ""))  # an empty text: counted in last_id, never indexed
    times = [T0 - WINDOW - timedelta(hours=1) if k < 30 else T0 - timedelta(minutes=k) for k in range(len(members))]
    _store(engine, members, times)
    loaded = ClusterIndex(window=WINDOW, signatures=functools.partial(store_signatures.fetch, engine))
    assert store_signatures.load_index(loaded, engine, T0 - WINDOW) == len(members) - 30
    added = ClusterIndex(window=WINDOW)
    for k, (sig, t) in enumerate(zip(members, times, strict=True), start=1):
        if k > 30:
            added.add(k, k, sig, t)
    assert len(loaded) == len(added) == len(members) - 31 and loaded.last_id == added.last_id == len(members)
    assert [loaded.find(q, T0) for q in queries] == [added.find(q, T0) for q in queries]
    assert loaded.find(members[40], T0) == 41 and loaded.find(members[10], T0) is None  # outside the window
    assert added.nbytes() - loaded.nbytes() >= 270 * 2 * P * 4  # no signatures held: fetched when needed


def test_fetched_signature_gone_is_no_match() -> None:
    members, _ = members_and_queries(3, 0, seed=5)
    stored = {k: sig.to_bytes() for k, sig in enumerate(members)}
    index = ClusterIndex(window=WINDOW, signatures=lambda ids: {i: stored[i] for i in ids if i in stored})
    for k, sig in enumerate(members):
        index.add(k, k, sig, T0)
    assert index.find(members[1], T0) == 1
    del stored[1]  # deleted from the database since (retention)
    assert index.find(members[1], T0) is None


def test_unpack_reads_the_stored_ranges() -> None:
    sig = signature("", "Ukrainian forces entered the city of Izyum on Saturday, CNN reported, citing officials.")
    data = sig.to_bytes()
    (h_at, h_len), (l_at, l_len) = stored_ranges(P, 60, 32)
    sizes, values = unpack([data[h_at : h_at + h_len]], [data[l_at : l_at + l_len]], P)
    assert sizes.tolist() == [sig.size] and values.shape == (1, 92)
    assert values[0, :60].tolist() == np.frombuffer(sig.hashvalues, "<u8")[:60].tolist()
    assert values[0, 60:].tolist() == np.frombuffer(sig.lede, "<u8")[:32].tolist()
    with pytest.raises(ValueError, match="version"):
        unpack([b"\x02" + data[1:h_len]], [data[l_at : l_at + l_len]], P)


async def test_open_context_rebuilds_the_index_in_the_background(tmp_path: Path) -> None:
    """The context (and so READY) does not wait for the rebuild; a new story's look-up does (ctx.index_ready)."""
    members, _ = members_and_queries(40, 0, seed=6)
    db = f"sqlite:///{tmp_path}/s.db"
    engine = store_engine.make_engine(db)
    store_engine.upgrade(engine)
    _store(engine, members, [T0 - timedelta(hours=k) for k in range(len(members))])
    engine.dispose()
    path = tmp_path / "watchlist.yaml"
    path.write_text(f"database: {db}\nwatches:\n  - {{name: w, any: [counteroffensive]}}\n", encoding="utf-8")
    cfg, compiled = load_config(path, load_gazetteer())
    async with open_context(cfg, watchlist=compiled, clock=lambda: T0, migrate=False) as ctx:
        assert ctx.index_loading is not None
        await ctx.index_ready()
        assert ctx.index_loaded() and len(ctx.index) == len(members) and ctx.index.last_id == len(members)
        assert ctx.index.find(members[3], T0) == 4
        assert ctx.index.find(members[0], T0 + WINDOW + timedelta(seconds=1)) is None
