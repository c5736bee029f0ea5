"""Group commit: the store calls of concurrent polls that arrive together run as one batch, in one thread
hop and one transaction, and each caller gets its own result once that transaction has committed.

A poll still waits for its own write (so a lease released after the poll never precedes the poll's
result), but 64 polls in flight cost one transaction instead of 64 (bench/bench_pipeline.py, scenario a).
While one batch runs, new calls queue and form the next batch; at most ``limit`` calls go in one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[list[T]], Sequence[R]], list[T]], Awaitable[Sequence[R]]]


class GroupCommit(Generic[T, R]):
    """Batch calls of ``run`` (a synchronous store function over a list, returning one result per item),
    executed through ``runner`` (``Context.db``: off the event loop, database errors as StoreError). An
    error fails every call of its batch."""

    def __init__(self, run: Callable[[list[T]], Sequence[R]], runner: Runner[T, R], limit: int = 256) -> None:
        self._run, self._runner, self._limit = run, runner, limit
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next batch and wait for its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._drain())  # starts next tick: the tick's calls join
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._limit], self._pending[self._limit:]
            try:
                results = await self._runner(self._run, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 (handed to every caller of the batch)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
