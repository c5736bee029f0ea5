"""A time and memory bound for a block of test code (tracemalloc peak, deterministic unlike RSS)."""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from collections.abc import Iterator

MiB = 2**20


@contextlib.contextmanager
def bounded(*, max_seconds: float, max_mib: float | None = None) -> Iterator[None]:
    """Fail unless the block ends within ``max_seconds`` and (if given) allocates at most ``max_mib`` at peak.

    Memory is tracemalloc's peak of Python allocations during the block (deterministic, unlike RSS); tracing
    slows allocation-heavy code several times, so it is only switched on when a bound is asked for.
    """
    tracing = max_mib is not None and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1] - base
        if tracing:
            tracemalloc.stop()
    assert elapsed < max_seconds, f"took {elapsed:.2f}s (bound {max_seconds}s)"
    assert max_mib is None or peak < max_mib * MiB, f"peak {peak / MiB:.1f} MiB (bound {max_mib} MiB)"
