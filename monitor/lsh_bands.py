"""Compact LSH band tables for the dedup index: per band, a multimap from a 32-bit hash of the band's MinHash
values to row numbers, in flat numpy arrays (4 bytes per row and band) instead of datasketch's dicts of sets
(~14 KB per story). State, but no I/O.

Layout per band: entries grouped by the top 16 bits of their hash (``_dir[b, k]`` = entries with a top below
``k``); an entry is one uint32 packing the row (the low ``row_bits``, just enough for the rows in use) and the
next ``32 - row_bits`` bits of the hash (at most 16). A look-up reads one bucket per band (on average
rows/65,536 entries) and keeps those whose bits agree: 28 of the 32 hash bits at 1M rows, so a story that
matches nothing gets a false candidate in ~0.1 of look-ups (the owner verifies every candidate). New rows
wait in a dict until ``merge_at`` of them are merged in one pass per band (``np.insert``), so an add costs a
few dict writes and each merge moves every entry once. Removing rows is the owner's business (tombstones);
``compact`` drops dead rows and renumbers the rest."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

_TOP = 16
_BUCKETS = 1 << _TOP
_KEYS = np.random.default_rng(20261126).integers(0, 2**63, size=16, dtype=np.uint64) * 2 + 1  # fixed: odd
_MIX = np.uint64(0xBF58476D1CE4E5B9)
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


def band_hashes(values: U32, layout: Iterable[tuple[int, int, int]]) -> U32:
    """32-bit hash of each band of ``values`` (one signature, or a matrix of them by row), for ``layout`` as
    (start column, bands, rows per band) blocks; equal band values give equal hashes."""
    matrix = np.atleast_2d(values)
    blocks = []
    for start, bands, rows in layout:  # multilinear hash mod 2^64 (high bits kept), then mixed
        block = matrix[:, start : start + bands * rows].astype(np.uint64).reshape(len(matrix), bands, rows)
        h = (block * _KEYS[:rows]).sum(axis=2, dtype=np.uint64)
        h ^= h >> np.uint64(29)
        blocks.append(((h * _MIX) >> np.uint64(32)).astype(np.uint32))
    out = np.concatenate(blocks, axis=1)
    return out[0] if values.ndim == 1 else out


def trim_heap() -> None:
    """Give the C heap's free pages back to the OS (glibc; elsewhere nothing): a rebuild's numpy temporaries
    are freed but glibc would keep ~60 MB of them, which counts against the daemon's RSS bound."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class BandTable:
    """Rows by band hash for ``nbands`` bands; ``add`` rows one at a time or ``load`` many, ``lookup`` a
    signature's band hashes."""

    def __init__(self, nbands: int, *, merge_at: int = 4096) -> None:
        self.nbands = nbands
        self.merge_at = merge_at
        self._dir = np.zeros((nbands, _BUCKETS + 1), dtype=np.uint32)
        self._entries = [np.empty(0, np.uint32) for _ in range(nbands)]
        self._row_bits = 16
        self._pending: dict[int, int | list[int]] = {}  # (band << 32 | hash) -> row(s), not merged yet
        self._pending_rows: list[int] = []
        self._pending_hashes: list[U32] = []
        self._staged = [np.empty(0, np.uint32) for _ in range(nbands)]  # stage() -> build()
        self._staged_rows = np.empty(0, np.uint32)
        self._staged_n = 0

    def nbytes(self) -> int:
        return self._dir.nbytes + sum(a.nbytes for a in self._entries)

    def __len__(self) -> int:
        return len(self._entries[0]) + len(self._pending_rows) if self.nbands else 0

    def _key(self, hashes: U32) -> U32:
        """The hash bits stored in an entry (above the row bits), for ``hashes``."""
        return ((hashes & 0xFFFF) >> (16 - min(16, 32 - self._row_bits))).astype(np.uint32)

    def _pack(self, hashes: U32, rows: U32) -> U32:
        return ((self._key(hashes) << self._row_bits) | rows).astype(np.uint32)

    def add(self, row: int, hashes: U32) -> None:
        """Index ``row`` under its band ``hashes`` (one per band); merged into the arrays every ``merge_at``."""
        pending = self._pending
        for band, h in enumerate(hashes.tolist()):
            key = band << 32 | h
            old = pending.get(key)
            if old is None:
                pending[key] = row
            elif isinstance(old, int):
                pending[key] = [old, row]
            else:
                old.append(row)
        self._pending_rows.append(row)
        self._pending_hashes.append(hashes)
        if len(self._pending_rows) >= self.merge_at:
            self.merge()

    def lookup(self, hashes: U32) -> U32:
        """Rows sharing at least one band hash with ``hashes`` (may repeat; dead rows included)."""
        bands = np.arange(self.nbands)
        top = hashes >> _TOP
        lo, hi = self._dir[bands, top].tolist(), self._dir[bands, top + 1].tolist()
        keys, shift, mask = self._key(hashes).tolist(), self._row_bits, (1 << self._row_bits) - 1
        found: list[npt.NDArray[np.uint32]] = []
        for band in range(self.nbands):
            a, b = lo[band], hi[band]
            if a < b:
                entries = self._entries[band][a:b]
                hit = entries[(entries >> shift) == keys[band]]
                if len(hit):
                    found.append(hit & mask)
        if self._pending:
            for band, h in enumerate(hashes.tolist()):
                rows = self._pending.get(band << 32 | h)
                if rows is not None:
                    found.append(np.array(rows if isinstance(rows, list) else [rows], dtype=np.uint32))
        return np.concatenate(found) if found else np.empty(0, np.uint32)

    def merge(self) -> None:
        """Move the pending rows into the sorted arrays: one pass over each band."""
        if not self._pending_rows:
            return
        hashes = np.stack(self._pending_hashes)
        rows = np.asarray(self._pending_rows, dtype=np.uint32)
        self._pending.clear()
        self._pending_rows, self._pending_hashes = [], []
        self._widen(int(rows.max()))
        for band in range(self.nbands):
            h = hashes[:, band]
            top = h >> _TOP
            order = np.argsort(top, kind="stable")
            at = self._dir[band, top[order] + 1].astype(np.intp)  # each new entry goes at its bucket's end
            self._entries[band] = np.insert(self._entries[band], at, self._pack(h[order], rows[order]))
            self._dir[band, 1:] += np.cumsum(np.bincount(top, minlength=_BUCKETS), dtype=np.uint32)

    def _widen(self, max_row: int) -> None:
        """Make room for row numbers up to ``max_row``: fewer hash bits per entry (dropping their lowest)."""
        row_bits = max(self._row_bits, max_row.bit_length())
        if row_bits == self._row_bits:
            return
        if row_bits > 31:
            raise ValueError("too many rows for a band table")
        old_key_bits, new_key_bits = min(16, 32 - self._row_bits), min(16, 32 - row_bits)
        mask = np.uint32((1 << self._row_bits) - 1)
        for band, entries in enumerate(self._entries):
            keys = (entries >> self._row_bits) >> (old_key_bits - new_key_bits)
            self._entries[band] = ((keys << row_bits) | (entries & mask)).astype(np.uint32)
        self._row_bits = row_bits

    def reserve(self, count: int) -> None:
        """Room to ``stage`` ``count`` more rows without growing (growth zero-fills: it would touch 2x)."""
        capacity = self._staged_n + count
        if capacity > len(self._staged_rows):
            for array in (self._staged_rows, *self._staged):
                array.resize(capacity, refcheck=False)

    def stage(self, rows: U32, hashes: U32) -> None:
        """Keep the band hashes (one row each) of many rows, a rebuild's chunk, until ``build``: in one growing
        array per band (realloc'd in place, so a 1M-row rebuild leaves no heap of small freed chunks)."""
        start, end = self._staged_n, self._staged_n + len(rows)
        if end > len(self._staged_rows):
            self.reserve(max(len(rows), self._staged_n))
        self._staged_rows[start:end] = rows
        for band, array in enumerate(self._staged):
            array[start:end] = hashes[:, band]
        self._staged_n = end

    def build(self) -> None:
        """Build an empty table from the staged rows, band by band, freeing each band's staging as it goes."""
        if len(self):
            raise ValueError("build() fills an empty table")
        n = self._staged_n
        rows = self._staged_rows[:n].copy()
        self._widen(int(rows.max(initial=0)))
        key_shift, row_bits = 16 - min(16, 32 - self._row_bits), self._row_bits
        for band in range(self.nbands):  # in place where numpy allows: a 1M-row band is 4 MB per temporary
            h = self._staged[band][:n]
            top = (h >> _TOP).astype(np.uint16)
            self._dir[band, 1:] = np.cumsum(np.bincount(top, minlength=_BUCKETS), dtype=np.uint32)
            order = np.argsort(top, kind="stable")
            del top
            entries = np.take(h, order)
            self._staged[band] = np.empty(0, np.uint32)
            np.bitwise_and(entries, 0xFFFF, out=entries)
            np.right_shift(entries, key_shift, out=entries)
            np.left_shift(entries, row_bits, out=entries)
            np.bitwise_or(entries, np.take(rows, order), out=entries)
            self._entries[band] = entries
            del order, entries
            trim_heap()
        self._staged_rows, self._staged_n = np.empty(0, np.uint32), 0

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the entries of rows where ``keep`` is False and renumber the rest densely (row order kept)."""
        self.merge()
        remap = (np.cumsum(keep) - 1).astype(np.uint32)
        mask = np.uint32((1 << self._row_bits) - 1)
        for band in range(self.nbands):
            entries = self._entries[band]
            alive = keep[entries & mask]
            counts = np.diff(self._dir[band].astype(np.int64))
            tops = np.repeat(np.arange(_BUCKETS, dtype=np.uint32), counts)[alive]
            entries = entries[alive]
            self._entries[band] = (entries & ~mask) | remap[entries & mask]
            self._dir[band, 1:] = np.cumsum(np.bincount(tops, minlength=_BUCKETS), dtype=np.uint32)
