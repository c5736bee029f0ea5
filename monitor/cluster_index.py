"""The dedup index: near-duplicate clusters of the stories seen within a time window, in flat numpy arrays.

Candidates come from two LSH band sets over a story's MinHash signatures (monitor.dedupe), kept in
``BandTable``s: the full text (12 bands x 5 rows: J 0.7 / 0.8 / 0.9 -> p 0.89 / 0.99 / 1.00) and the lede
(16 x 2). A candidate is accepted by the same rule as before (estimated Jaccard, openings that agree, or
containment); below J 0.8 a match needs openings that agree, which the lede bands find, so datasketch's
25 x 5 for the full text gave the same precision and recall on the labelled set (0.988, 1.000) at 13 more bands.
Per story the index holds 28 band entries (4 bytes each) plus id, cluster, time and size (28 bytes). The
signatures are either kept in RAM (1 KB per story, the default) or, given ``signatures``, fetched for the
few candidates of a look-up from where they are stored (the database): 1M stories then take ~0.15 GB.
Eviction marks rows dead (tombstones); once a quarter of the rows are dead, the arrays are compacted.
State, but no I/O of its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from monitor.lsh_bands import BandTable, band_hashes, trim_heap

if TYPE_CHECKING:
    from monitor.dedupe import Signature

_FULL_BANDS = (12, 5)
_LEDE_BANDS = (16, 2)  # a short summary's lede is a subset of the article's: J 0.3 / 0.4 / 0.5 -> p 0.78 / 0.94 / 0.99
_MIN_CONTAINED = 15  # below this many shingles, only near-identical texts match (J >= _TINY_JACCARD)
_TINY_JACCARD = 0.8
_SURE_JACCARD = 0.8  # at or above, the same text whatever its opening
_LEDE_AGREE = 0.35  # below _SURE_JACCARD, the openings (~60 words) must share this estimated Jaccard
_DEAD = np.iinfo(np.int64).min  # seen_at of an evicted row
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
SignatureSource = Callable[[Sequence[int]], Mapping[int, bytes]]  # story ids -> Signature.to_bytes()


def micros(t: datetime) -> int:
    """``t`` as integer microseconds since the epoch (how the index stores times)."""
    return (t - _EPOCH) // _US


def contained(small: U32, large: U32) -> float:
    """Estimated |S & L| / |S|: of the permutations whose minimum over S | L lies in S, the share where it
    lies in L too (1.0 if none); exact for a true subset however small the Jaccard is."""
    from_small = int(np.count_nonzero(small <= large))
    return int(np.count_nonzero(small == large)) / from_small if from_small else 1.0


class ClusterIndex:
    """Near-duplicate clusters of the stories seen within ``window``; rebuild it from stored signatures at
    start (``load``, or ``add`` each), call ``find`` before ``add`` for a new story, ``evict`` periodically."""

    def __init__(self, *, window: timedelta, threshold: float = 0.5, containment: float = 0.8,
                 num_perm: int = 128, signatures: SignatureSource | None = None, merge_at: int = 4096) -> None:
        self.window = window
        self.threshold = threshold
        self.containment = containment
        self.num_perm = num_perm
        (fb, fr), (lb, lr) = _FULL_BANDS, _LEDE_BANDS
        self._layout = ((0, min(fb, num_perm // fr), fr), (num_perm, min(lb, num_perm // lr), lr))
        (_, fb, fr), (_, lb, lr) = self._layout
        # Values of the full and lede signatures a rebuild needs: all when kept here, else the bands' prefixes.
        self.load_widths = (num_perm, num_perm) if signatures is None else (fb * fr, lb * lr)
        self._bands = BandTable(sum(b for _, b, _ in self._layout), merge_at=merge_at)
        self._fetch = signatures
        self._loads = 0  # load() calls
        self._n = 0  # rows used (alive or dead)
        self._dead = 0
        self._ids = np.empty(0, np.int64)
        self._clusters = np.empty(0, np.int64)
        self._seen = np.empty(0, np.int64)  # microseconds since the epoch; _DEAD once evicted
        self._sizes = np.empty(0, np.uint32)
        self._sigs = np.empty((0, 2 * num_perm), np.uint32)  # full | lede per row, unless fetched
        # The highest story id this index has seen (indexed or not): stories another instance stored after it
        # are fetched with ``id > last_id`` before a look-up (ingest's refresh).
        self.last_id = 0

    def __len__(self) -> int:
        return self._n - self._dead

    def nbytes(self) -> int:
        """Bytes held in the index's arrays (capacity included)."""
        meta = (self._ids, self._clusters, self._seen, self._sizes, self._sigs)
        return self._bands.nbytes() + sum(a.nbytes for a in meta)

    def _values(self, sig: Signature) -> U32:
        full = np.frombuffer(sig.hashvalues, dtype="<u8")
        lede = np.frombuffer(sig.lede, dtype="<u8")
        if len(full) != self.num_perm or len(lede) != self.num_perm:
            raise ValueError(f"signature has {len(full)} permutations, index expects {self.num_perm}")
        return np.concatenate([full, lede]).astype(np.uint32)

    def find(self, sig: Signature, now: datetime) -> int | None:
        """Cluster id of the best near-duplicate seen in ``[now - window, ...]``, or None."""
        if sig.size == 0 or not len(self):
            return None
        values = self._values(sig)
        rows = np.unique(self._bands.lookup(band_hashes(values, self._layout)))
        rows = rows[self._seen[rows] >= micros(now - self.window)]
        if not len(rows):
            return None
        best: tuple[float, int] | None = None
        for row, member in zip(rows.tolist(), self._member_values(rows), strict=True):
            if member is None:
                continue
            score = self._score(values, sig.size, member, int(self._sizes[row]))
            if score is not None and (best is None or score > best[0]):
                best = (score, int(self._clusters[row]))
        return best[1] if best else None

    def _member_values(self, rows: npt.NDArray[np.uint32]) -> list[U32 | None]:
        if self._fetch is None:
            return list(self._sigs[rows])
        ids = self._ids[rows].tolist()
        blobs = self._fetch(ids)
        offset = 7  # dedupe's header: version, num_perm, size
        out: list[U32 | None] = []
        for member_id in ids:
            blob = blobs.get(member_id)  # None: deleted since (retention)
            ok = blob is not None and len(blob) == offset + 8 * self.num_perm
            out.append(np.frombuffer(blob, dtype="<u4", offset=offset) if blob is not None and ok else None)
        return out

    def _score(self, new: U32, new_size: int, old: U32, old_size: int) -> float | None:
        """Estimated Jaccard if it passes, else the containment of the smaller text in the larger."""
        p = self.num_perm
        jaccard = float(np.mean(new[:p] == old[:p]))
        if min(new_size, old_size) < _MIN_CONTAINED:
            return jaccard if jaccard >= max(self.threshold, _TINY_JACCARD) else None
        if jaccard >= _SURE_JACCARD or (jaccard >= self.threshold and np.mean(new[p:] == old[p:]) >= _LEDE_AGREE):
            return jaccard  # below _SURE_JACCARD the openings must agree: a follow-up that reuses half of a
            # story (a second TIME piece quoting the first) opens differently
        small, large = (new, old) if new_size <= old_size else (old, new)
        share = min(contained(small[p:], large[p:]), contained(small[:p], large[:p]))
        return share if share >= self.containment else None

    def add(self, member_id: int, cluster_id: int, sig: Signature, seen_at: datetime) -> None:
        """Index a story (``member_id``, unique) as part of ``cluster_id``; empty texts are not indexed."""
        if member_id <= self.last_id:
            self._forget(member_id)  # a re-add replaces the member
        self.mark(member_id)
        if sig.size == 0:
            return
        values = self._values(sig)
        row = self._append(1)
        self._ids[row], self._clusters[row] = member_id, cluster_id
        self._seen[row], self._sizes[row] = micros(seen_at), sig.size
        if self._fetch is None:
            self._sigs[row] = values
        self._bands.add(row, band_hashes(values, self._layout))

    def reserve(self, count: int) -> None:
        """Make room for ``count`` more rows (a rebuild that knows its size: no growth, no slack)."""
        self._append(count)
        self._n -= count
        self._bands.reserve(count)

    def load(self, ids: I64, clusters: I64, seen_us: I64, sizes: U32, values: U32) -> None:
        """Bulk-add stories (one chunk of a rebuild; call ``finish_load`` after the last): vectorised, for
        the start of a daemon with a big window. ``values`` holds the first ``load_widths`` values of the full
        signature, then of the lede, by row. Ids must be new to the index."""
        if len(ids):
            self.last_id = max(self.last_id, int(ids.max()))
        keep = sizes > 0  # empty texts are not indexed
        ids, clusters, seen_us, sizes, values = ids[keep], clusters[keep], seen_us[keep], sizes[keep], values[keep]
        first = self._append(len(ids))
        rows = slice(first, first + len(ids))
        self._ids[rows], self._clusters[rows], self._seen[rows], self._sizes[rows] = ids, clusters, seen_us, sizes
        if self._fetch is None:
            self._sigs[rows] = values
        width, _ = self.load_widths
        layout = [(at if at < self.num_perm else width, bands, per_band) for at, bands, per_band in self._layout]
        self._bands.stage(np.arange(first, first + len(ids), dtype=np.uint32), band_hashes(values, layout))
        self._loads += 1
        if self._loads % 8 == 0:
            trim_heap()  # keeps the rebuild's peak near its result (glibc keeps freed chunk temporaries)

    def finish_load(self) -> None:
        """Build the band tables of the rows given to ``load``."""
        trim_heap()  # the chunks' freed temporaries, before the build's own peak
        self._bands.build()
        self.shrink()
        trim_heap()

    def _append(self, count: int) -> int:
        first, self._n = self._n, self._n + count
        if self._n > len(self._ids):
            capacity = max(self._n, len(self._ids) * 5 // 4 + 1024)
            for name in ("_ids", "_clusters", "_seen", "_sizes"):
                getattr(self, name).resize(capacity, refcheck=False)
            if self._fetch is None:
                self._sigs.resize((capacity, 2 * self.num_perm), refcheck=False)
        return first

    def shrink(self) -> None:
        """Release spare capacity of the row arrays."""
        for name in ("_ids", "_clusters", "_seen", "_sizes"):
            getattr(self, name).resize(self._n, refcheck=False)
        if self._fetch is None:
            self._sigs.resize((self._n, 2 * self.num_perm), refcheck=False)

    def mark(self, member_id: int) -> None:
        """Note that story ``member_id`` has been seen (``last_id``), e.g. one too old to index."""
        self.last_id = max(self.last_id, member_id)

    def _forget(self, member_id: int) -> None:
        rows = np.flatnonzero((self._ids[: self._n] == member_id) & (self._seen[: self._n] != _DEAD))
        self._seen[rows] = _DEAD
        self._dead += len(rows)

    def evict(self, before: datetime) -> int:
        """Forget members seen before ``before`` (call with ``now - window``); returns how many."""
        seen = self._seen[: self._n]
        rows = np.flatnonzero((seen < micros(before)) & (seen != _DEAD))
        seen[rows] = _DEAD
        self._dead += len(rows)
        if self._dead and self._dead * 4 >= self._n:
            self._compact()
        return len(rows)

    def _compact(self) -> None:
        keep = self._seen[: self._n] != _DEAD
        self._bands.compact(keep)
        names = ["_ids", "_clusters", "_seen", "_sizes", *(["_sigs"] if self._fetch is None else [])]
        for name in names:
            array = getattr(self, name)
            kept = array[: self._n][keep]
            array[: len(kept)] = kept
        self._n, self._dead = int(keep.sum()), 0
        self.shrink()
