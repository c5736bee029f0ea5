"""Read-only bulk access to the stored dedup signatures: the window's signatures in numpy chunks (the index
rebuild at start) and the signatures of a few stories by id (the candidates of a look-up)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, String, func, select, type_coerce

from monitor.dedupe import ClusterIndex, stored_ranges, unpack
from monitor.store.engine import reading
from monitor.store.schema import naive, stories

CHUNK = 8_192  # rows per chunk: a few MB in flight (the peak RSS of a rebuild)


@dataclass(frozen=True)
class Chunk:
    """Stories of the window: ids, cluster ids, first-seen times (microseconds since the epoch, UTC) and two
    byte ranges of each one's ``Signature.to_bytes()`` (``dedupe.stored_ranges``)."""

    ids: npt.NDArray[np.int64]
    clusters: npt.NDArray[np.int64]
    seen_us: npt.NDArray[np.int64]
    heads: list[bytes]
    ledes: list[bytes]


def window_chunks(engine: Engine, since: datetime, ranges: tuple[tuple[int, int], tuple[int, int]], *,
                  chunk: int = CHUNK) -> Iterator[Chunk]:
    """The stories first seen at or after ``since``, in chunks of ``chunk`` rows, by one streamed query that
    reads only the signature's byte ``ranges`` (offset, length). Times come as SQLite's stored text (parsed
    by numpy, not row by row) or as the driver's datetimes."""
    (head_at, head_len), (lede_at, lede_len) = ranges
    query = select(stories.c.id, stories.c.cluster_id, type_coerce(stories.c.first_seen_at, String),
                   func.substr(stories.c.signature, head_at + 1, head_len),
                   func.substr(stories.c.signature, lede_at + 1, lede_len),
                   ).where(stories.c.first_seen_at >= naive(since))
    # The driver's own cursor (plain tuples: SQLAlchemy's rows would double the cost of 1M rows), server-side
    # where the driver has one (PostgreSQL), on SQL with the time rendered in as SQLAlchemy stores it.
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with reading(engine) as conn:
        driver = conn.connection.driver_connection
        assert driver is not None  # a live connection from the pool
        cursor = driver.cursor() if engine.dialect.name == "sqlite" else driver.cursor(name="news_monitor_window")
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            ids, clusters, seen, heads, ledes = zip(*rows, strict=True)
            yield Chunk(np.array(ids, dtype=np.int64), np.array(clusters, dtype=np.int64),
                        np.array(seen, dtype="datetime64[us]").astype(np.int64), list(heads), list(ledes))
        cursor.close()


def load_index(index: ClusterIndex, engine: Engine, since: datetime) -> int:
    """Fill an empty ``index`` with the stories first seen at or after ``since`` (vectorised: one query,
    chunks decoded with numpy, band tables built once at the end); returns how many were read."""
    ranges = stored_ranges(index.num_perm, *index.load_widths)
    with reading(engine) as conn:  # sized first: growing the arrays would touch twice their size
        expected = conn.execute(select(func.count()).where(stories.c.first_seen_at >= naive(since))).scalar_one()
    index.reserve(expected)
    count = 0
    for chunk in window_chunks(engine, since, ranges):
        sizes, values = unpack(chunk.heads, chunk.ledes, index.num_perm)
        index.load(chunk.ids, chunk.clusters, chunk.seen_us, sizes, values)
        count += len(chunk.ids)
    index.finish_load()
    return count


def fetch(engine: Engine, ids: Sequence[int]) -> Mapping[int, bytes]:
    """Signature bytes of the stories ``ids`` (those still stored), by id."""
    if not ids:
        return {}
    with reading(engine) as conn:
        rows = conn.execute(select(stories.c.id, stories.c.signature).where(stories.c.id.in_(list(ids))))
        return {sid: bytes(sig) for sid, sig in rows}
