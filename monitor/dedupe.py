"""Dedupe stage: MinHash signatures of story text and a time-windowed index of near-duplicate clusters
(full-text LSH for copies, lede LSH + containment for truncated summaries). State, but no I/O."""

from __future__ import annotations

import heapq
import re
import struct
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from datasketch import LeanMinHash, MinHash, MinHashLSH

_SEED = 1  # fixed: signatures must be comparable across processes and restarts
_SCHEME = "affine32"  # datasketch 2.x permutation scheme; hash values fit in 32 bits
_SHINGLE = 5  # words per shingle
_LEDE_WORDS = 60  # the lede signature covers the first this-many tokens
_SHORT_TEXT_WORDS = 20  # below this, the title is prepended to the text
_MIN_CONTAINED = 15  # below this many shingles, only near-identical texts match (J >= _TINY_JACCARD)
_TINY_JACCARD = 0.8
_SURE_JACCARD = 0.8  # at or above, the same text whatever its opening
_LEDE_AGREE = 0.35  # below _SURE_JACCARD, the openings (~60 words) must share this estimated Jaccard
# Lede LSH bands x rows: a short summary's lede is a subset of the article's, so its Jaccard is low
# (25 words of 60: J ~0.37). 16 x 2 makes J 0.3 / 0.4 / 0.5 candidates with p ~0.78 / 0.94 / 0.99 at
# ~1.3 KB per story less than datasketch's own choice for threshold 0.3 (37 x 3), with equal recall.
_LEDE_BANDS = (16, 2)
_FORMAT = 1  # to_bytes() version
_HEADER = struct.Struct("<BHI")  # version, num_perm, size; then 2 x num_perm uint32 (full, lede)
_APOSTROPHES = str.maketrans(dict.fromkeys("’‘ʼʹ`´′＇", "'"))
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class Signature:
    """MinHash of a story's word 5-shingles (``hashvalues``) and of its lede (``lede``), as
    ``num_perm`` little-endian uint64 each; ``size`` is the number of distinct shingles."""

    hashvalues: bytes
    size: int
    lede: bytes

    def to_bytes(self) -> bytes:
        """Compact, versioned form for the database (values packed as uint32)."""
        full = np.frombuffer(self.hashvalues, dtype="<u8")
        lede = np.frombuffer(self.lede, dtype="<u8")
        if len(full) != len(lede) or int(max(full.max(initial=0), lede.max(initial=0))) > 0xFFFFFFFF:
            raise ValueError("not a signature made by dedupe.signature()")
        header = _HEADER.pack(_FORMAT, len(full), self.size)
        return header + full.astype("<u4").tobytes() + lede.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Inverse of ``to_bytes``; raises ValueError on an unknown version or a truncated buffer."""
        if len(data) < _HEADER.size:
            raise ValueError("signature too short")
        version, num_perm, size = _HEADER.unpack_from(data)
        if version != _FORMAT or len(data) != _HEADER.size + 8 * num_perm:
            raise ValueError(f"unsupported signature (version {version}, {len(data)} bytes)")
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype("<u8")
        return cls(values[:num_perm].tobytes(), size, values[num_perm:].tobytes())


def _tokens(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return _TOKEN.findall(folded)


def _shingles(tokens: list[str]) -> set[bytes]:
    if len(tokens) < _SHINGLE:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + _SHINGLE]).encode() for i in range(len(tokens) - _SHINGLE + 1)}


def _minhash(shingles: set[bytes], num_perm: int) -> bytes:
    mh = MinHash(num_perm=num_perm, seed=_SEED, scheme=_SCHEME)
    mh.update_batch(shingles)
    return np.asarray(mh.hashvalues).astype("<u8").tobytes()


def signature(title: str, text: str, *, num_perm: int = 128) -> Signature:
    """Signature of a story's text (title + text when the text has < 20 words); stable across runs."""
    tokens = _tokens(text)
    if len(tokens) < _SHORT_TEXT_WORDS:
        tokens = _tokens(title) + tokens
    shingles = _shingles(tokens)
    lede = _shingles(tokens[:_LEDE_WORDS])
    return Signature(_minhash(shingles, num_perm), len(shingles), _minhash(lede, num_perm))


def _contained(small: _U32, large: _U32) -> float:
    """Estimated |S & L| / |S| from two signatures: of the permutations whose minimum over S | L lies
    in S, the share where it lies in L too (1.0 if none). Unlike J*(|S|+|L|)/((1+J)|S|), this stays
    exact for a true subset however small the Jaccard is."""
    from_small = int(np.count_nonzero(small <= large))
    return int(np.count_nonzero(small == large)) / from_small if from_small else 1.0


def _lean(values: _U32) -> LeanMinHash:
    return LeanMinHash(seed=_SEED, hashvalues=values.astype(np.uint32), scheme=_SCHEME)


@dataclass(frozen=True)
class _Member:
    cluster_id: int
    seen_at: datetime
    full: _U32
    lede: _U32
    size: int


class ClusterIndex:
    """Near-duplicate clusters of the stories seen within ``window``; rebuild it from stored signatures
    at start (``add`` each), call ``find`` before ``add`` for a new story, ``evict`` periodically."""

    def __init__(
        self, *, window: timedelta, threshold: float = 0.5, containment: float = 0.8, num_perm: int = 128
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.containment = containment
        self.num_perm = num_perm
        self._full = MinHashLSH(threshold=threshold, num_perm=num_perm)
        bands, rows = _LEDE_BANDS
        self._lede = MinHashLSH(num_perm=num_perm, params=(min(bands, num_perm // rows), rows))
        self._members: dict[int, _Member] = {}
        self._by_time: list[tuple[datetime, int]] = []  # heap; entries may be stale after re-adds
        # The highest story id this index has seen (indexed or not): stories another instance stored after it
        # are fetched with ``id > last_id`` before a look-up (ingest's refresh).
        self.last_id = 0

    def __len__(self) -> int:
        return len(self._members)

    def _arrays(self, sig: Signature) -> tuple[_U32, _U32]:
        full = np.frombuffer(sig.hashvalues, dtype="<u8")
        lede = np.frombuffer(sig.lede, dtype="<u8")
        if len(full) != self.num_perm or len(lede) != self.num_perm:
            raise ValueError(f"signature has {len(full)} permutations, index expects {self.num_perm}")
        return full.astype(np.uint32), lede.astype(np.uint32)

    def find(self, sig: Signature, now: datetime) -> int | None:
        """Cluster id of the best near-duplicate seen in ``[now - window, ...]``, or None."""
        if sig.size == 0 or not self._members:
            return None
        full, lede = self._arrays(sig)
        keys = set(self._full.query(_lean(full))) | set(self._lede.query(_lean(lede)))
        oldest = now - self.window
        best: tuple[float, int] | None = None
        for key in keys:
            member = self._members[key]
            if member.seen_at < oldest:
                continue
            score = self._score(_Member(0, now, full, lede, sig.size), member)
            if score is not None and (best is None or score > best[0]):
                best = (score, member.cluster_id)
        return best[1] if best else None

    def _score(self, new: _Member, old: _Member) -> float | None:
        """Estimated Jaccard if it passes, else the containment of the smaller text in the larger."""
        jaccard = float(np.mean(new.full == old.full))
        if min(new.size, old.size) < _MIN_CONTAINED:
            return jaccard if jaccard >= max(self.threshold, _TINY_JACCARD) else None
        if jaccard >= _SURE_JACCARD or (jaccard >= self.threshold and self._ledes_agree(new, old)):
            return jaccard  # below _SURE_JACCARD the openings must agree: a follow-up that reuses half of a
            # story (a second TIME piece quoting the first) opens differently
        small, large = (new, old) if new.size <= old.size else (old, new)
        contained = min(_contained(small.lede, large.lede), _contained(small.full, large.full))
        return contained if contained >= self.containment else None

    @staticmethod
    def _ledes_agree(new: _Member, old: _Member) -> bool:
        return float(np.mean(new.lede == old.lede)) >= _LEDE_AGREE

    def add(self, member_id: int, cluster_id: int, sig: Signature, seen_at: datetime) -> None:
        """Index a story (``member_id``, unique) as part of ``cluster_id``; empty texts are not indexed."""
        self.mark(member_id)
        if sig.size == 0:
            return
        if member_id in self._members:
            self._remove(member_id)
        full, lede = self._arrays(sig)
        self._full.insert(member_id, _lean(full), check_duplication=False)
        self._lede.insert(member_id, _lean(lede), check_duplication=False)
        self._members[member_id] = _Member(cluster_id, seen_at, full, lede, sig.size)
        heapq.heappush(self._by_time, (seen_at, member_id))

    def mark(self, member_id: int) -> None:
        """Note that story ``member_id`` has been seen (``last_id``), e.g. one too old to index."""
        self.last_id = max(self.last_id, member_id)

    def _remove(self, member_id: int) -> None:
        del self._members[member_id]
        self._full.remove(member_id)
        self._lede.remove(member_id)

    def evict(self, before: datetime) -> int:
        """Forget members seen before ``before`` (call with ``now - window``); returns how many."""
        removed = 0
        while self._by_time and self._by_time[0][0] < before:
            seen_at, member_id = heapq.heappop(self._by_time)
            member = self._members.get(member_id)
            if member is not None and member.seen_at == seen_at:
                self._remove(member_id)
                removed += 1
        return removed
