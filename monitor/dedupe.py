"""Dedupe stage: MinHash signatures of story text (full text and lede) and their stored form; the time-windowed
index of near-duplicate clusters over them is monitor.cluster_index.ClusterIndex (re-exported here). No I/O."""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_SEED = 1  # fixed: signatures must be comparable across processes and restarts
_SCHEME = "affine32"  # datasketch 2.x permutation scheme; hash values fit in 32 bits
_SHINGLE = 5  # words per shingle
_LEDE_WORDS = 60  # the lede signature covers the first this-many tokens
_SHORT_TEXT_WORDS = 20  # below this, the title is prepended to the text
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


def _shingles(tokens: list[str]) -> list[bytes]:
    """The word 5-shingles in text order (a text of < 5 tokens is one shingle), repeats kept."""
    if len(tokens) < _SHINGLE:
        return [" ".join(tokens).encode()] if tokens else []
    return [" ".join(tokens[i : i + _SHINGLE]).encode() for i in range(len(tokens) - _SHINGLE + 1)]


@functools.cache
def _permutations(num_perm: int) -> tuple[_U32, _U32]:
    """datasketch 2's affine32 permutations for ``_SEED`` (a_k odd, b_k), drawn as it draws them, so the values
    equal ``datasketch.MinHash(num_perm, seed=1, scheme="affine32")``'s (tests/test_dedupe.py compares them).
    Not imported from datasketch: ``import datasketch`` loads its LSH classes and with them scipy (37 MB, 0.26 s
    of start-up) for nothing the daemon uses."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _hashes(shingles: list[bytes]) -> _U32:
    """datasketch's input hash of each shingle (the first 4 bytes of its SHA-1, little-endian), pre-mixed
    with the MurmurHash3 32-bit finalizer as its affine32 scheme does."""
    hv = np.frombuffer(b"".join([hashlib.sha1(s).digest()[:4] for s in shingles]), dtype="<u4").astype(np.uint32)
    hv ^= hv >> np.uint32(16)
    hv *= np.uint32(0x85EBCA6B)
    hv ^= hv >> np.uint32(13)
    hv *= np.uint32(0xC2B2AE35)
    hv ^= hv >> np.uint32(16)
    return hv


def _minhash(hv: _U32, num_perm: int) -> bytes:
    """The MinHash values (as datasketch's ``MinHash.update_batch`` computes them) of pre-mixed hashes."""
    a, b = _permutations(num_perm)
    if not len(hv):
        return np.full(num_perm, 0xFFFFFFFF, dtype="<u8").tobytes()
    values: _U32 = (hv[:, None] * a + b).min(axis=0)
    return values.astype("<u8").tobytes()


def signature(title: str, text: str, *, num_perm: int = 128) -> Signature:
    """Signature of a story's text (title + text when the text has < 20 words); stable across runs.

    The values are datasketch ``MinHash(num_perm, seed=1, scheme="affine32")`` over the distinct shingles
    (tests/test_dedupe.py checks that), computed here in one numpy step; the lede's shingles are the first
    ones of the text's, so each shingle is hashed once."""
    tokens = _tokens(text)
    if len(tokens) < _SHORT_TEXT_WORDS:
        tokens = _tokens(title) + tokens
    shingles = _shingles(tokens)
    hv = _hashes(shingles)
    lede = hv if len(tokens) < _SHINGLE else hv[: max(0, min(len(tokens), _LEDE_WORDS) - _SHINGLE + 1)]
    return Signature(_minhash(hv, num_perm), len(set(shingles)), _minhash(lede, num_perm))


def stored_ranges(num_perm: int, full: int, lede: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(offset, length) in ``to_bytes()`` of the header with the first ``full`` values of the full
    signature, and of the first ``lede`` values of the lede: what a rebuild of the index reads."""
    return (0, _HEADER.size + 4 * full), (_HEADER.size + 4 * num_perm, 4 * lede)


def unpack(heads: list[bytes], ledes: list[bytes], num_perm: int = 128) -> tuple[npt.NDArray[np.uint32], _U32]:
    """Sizes and values of many stored signatures at once (a rebuild of the index), from the two
    ``stored_ranges`` of each: one row per signature, the full values then the lede values. Raises
    ValueError if one is not a version-1 signature of ``num_perm`` permutations."""
    if not heads:
        return np.empty(0, np.uint32), np.empty((0, 0), np.uint32)
    width, lede_width = len(heads[0]), len(ledes[0])
    if any(len(h) != width for h in heads) or any(len(b) != lede_width for b in ledes):
        raise ValueError(f"signatures of {num_perm} permutations have {_HEADER.size + 8 * num_perm} bytes")
    raw = np.frombuffer(b"".join(heads), dtype=np.uint8).reshape(len(heads), width)
    header = raw[:, : _HEADER.size].copy()
    if (header[:, 0] != _FORMAT).any() or (header[:, 1:3].copy().view("<u2")[:, 0] != num_perm).any():
        raise ValueError("unsupported signature version or permutation count")
    sizes = header[:, 3:7].copy().view("<u4")[:, 0].astype(np.uint32)
    lede = np.frombuffer(b"".join(ledes), dtype="<u4").reshape(len(heads), lede_width // 4)
    return sizes, np.hstack([raw[:, _HEADER.size :].copy().view("<u4"), lede]).astype(np.uint32)


from monitor.cluster_index import ClusterIndex  # noqa: E402 - re-exported: the index lives in its own module

__all__ = ["ClusterIndex", "Signature", "signature", "stored_ranges", "unpack"]
