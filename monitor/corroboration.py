"""Corroboration stage: a cluster's members -> its independent sources. Pure (no I/O).

A cluster holds every story about one event; some are copies of one text (an AP wire piece on twenty sites, a
scraper copy of an Axios story), which confirm nothing the first copy did not. Members are grouped by **text
identity**, not by outlet: two members are one source when their stored MinHash signatures estimate a Jaccard
similarity >= ``SAME_TEXT`` (0.8), or when the shorter text is >= ``CONTAINED`` (0.9) contained in the longer (a
truncated copy of the wire piece), or when they share an identity key (the same Telegram post direct and through a
mirror), or come from the same source (an outlet does not corroborate itself). The corroboration count is the
number of groups; each group is named by the source that carried its text first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from monitor.cluster_index import contained
from monitor.dedupe import Signature

SAME_TEXT = 0.8  # estimated Jaccard at or above which two texts are copies of one (near-identical text)
CONTAINED = 0.9  # share of a shorter text inside a longer one that makes it a copy (a truncated wire piece)
MIN_SHINGLES = 15  # below this many shingles containment is not trusted (a headline-only post)
MAX_MEMBERS = 500  # members compared at most (the oldest first): bounded work per story


@dataclass(frozen=True, slots=True)
class Member:
    """One story of a cluster, as ``store.stories.cluster_members`` reads it."""

    story_id: int
    source: str
    key: str
    first_seen_at: datetime
    signature: bytes  # ``Signature.to_bytes()``


@dataclass(frozen=True, slots=True)
class Group:
    """One independent source: the members that carry one text (first seen first)."""

    members: tuple[Member, ...]

    @property
    def source(self) -> str:
        return self.members[0].source

    @property
    def first_seen_at(self) -> datetime:
        return self.members[0].first_seen_at

    @property
    def label(self) -> str:
        """``ap-wire`` or ``ap-wire (also abc-news, nbc)`` for a text several outlets carried."""
        copies = list(dict.fromkeys(m.source for m in self.members[1:] if m.source != self.source))
        return self.source + (f" (also {', '.join(copies)})" if copies else "")


@dataclass(frozen=True, slots=True)
class Corroboration:
    """The independent sources of a cluster, first seen first."""

    groups: tuple[Group, ...]

    @property
    def count(self) -> int:
        return len(self.groups)

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per independent source: ``ap-wire (also abc-news)``, ``reuters``."""
        return tuple(g.label for g in self.groups)

    @property
    def names(self) -> tuple[str, ...]:
        """Every source that carried the story, once each, first seen first (what an alert's ``Source:`` lists)."""
        members = sorted((m for g in self.groups for m in g.members), key=lambda m: (m.first_seen_at, m.story_id))
        return tuple(dict.fromkeys(m.source for m in members))

    def group_of(self, story_id: int) -> int | None:
        """The index of the group holding ``story_id`` (None when it is not a member)."""
        for i, group in enumerate(self.groups):
            if any(m.story_id == story_id for m in group.members):
                return i
        return None


_Parsed = tuple[np.ndarray, int] | None


def _values(sig: bytes) -> _Parsed:
    try:
        parsed = Signature.from_bytes(sig)
    except ValueError:
        return None
    return np.frombuffer(parsed.hashvalues, dtype="<u8"), parsed.size


def _same(a: _Parsed, b: _Parsed) -> bool:
    if a is None or b is None:
        return False
    (va, sa), (vb, sb) = a, b
    if sa == 0 or sb == 0 or len(va) != len(vb):
        return False
    if float(np.mean(va == vb)) >= SAME_TEXT:
        return True
    if min(sa, sb) < MIN_SHINGLES:
        return False
    small, large = (va, vb) if sa <= sb else (vb, va)
    return contained(small, large) >= CONTAINED


def same_text(a: bytes, b: bytes) -> bool:
    """Whether two stored signatures are copies of one text (near-identical, or one a truncation of the other)."""
    return _same(_values(a), _values(b))


def _matrix(ordered: Sequence[Member]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The members' MinHash values as rows, their shingle counts, and which rows are usable."""
    parsed = [_values(m.signature) for m in ordered]
    widths = [len(p[0]) for p in parsed if p is not None]
    width = max(set(widths), key=widths.count) if widths else 0
    values = np.zeros((len(ordered), width), dtype=np.uint64)
    sizes = np.zeros(len(ordered), dtype=np.int64)
    for i, p in enumerate(parsed):
        if p is not None and p[1] > 0 and len(p[0]) == width:
            values[i], sizes[i] = p
    return values, sizes, sizes > 0


def _copies(values: np.ndarray, sizes: np.ndarray, usable: np.ndarray, j: int) -> np.ndarray:
    """Which of the members before ``j`` carry ``j``'s text (``_same`` of row j against rows 0..j-1 at once)."""
    if not usable[j] or j == 0:
        return np.zeros(j, dtype=bool)
    before, row = values[:j], values[j]
    equal = before == row
    same = equal.mean(axis=1) >= SAME_TEXT
    from_j = np.count_nonzero(row <= before, axis=1)  # j the smaller text
    from_i = np.count_nonzero(before <= row, axis=1)
    from_small = np.where(sizes[j] <= sizes[:j], from_j, from_i)
    contained = np.where(from_small > 0, np.count_nonzero(equal, axis=1) / np.maximum(from_small, 1), 1.0)
    same |= (np.minimum(sizes[:j], sizes[j]) >= MIN_SHINGLES) & (contained >= CONTAINED)
    result: np.ndarray = same & usable[:j]
    return result


def group(members: Sequence[Member]) -> Corroboration:
    """Group ``members`` (any order) into independent sources; groups ordered by first sighting."""
    ordered = sorted(members, key=lambda m: (m.first_seen_at, m.story_id))[:MAX_MEMBERS]
    parent = list(range(len(ordered)))
    values, sizes, usable = _matrix(ordered)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)

    first_of: dict[tuple[str, str], int] = {}
    for j, m in enumerate(ordered):
        for ident in (("source", m.source), ("key", m.key)):
            join(first_of.setdefault(ident, j), j)
        for copy in np.flatnonzero(_copies(values, sizes, usable, j)).tolist():
            join(copy, j)
    found: dict[int, list[Member]] = {}
    for n, member in enumerate(ordered):
        found.setdefault(root(n), []).append(member)
    return Corroboration(tuple(Group(tuple(ms)) for _, ms in sorted(found.items())))
