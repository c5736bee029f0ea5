"""The log levels a CLI run or the demo tunes (``cli._setup_logging``), put back afterwards so one test's
``-v`` or the demo's quiet mode does not leak into the next test."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

TUNED = ("monitor", "apprise", "urllib3", "httpx", "httpcore", "apscheduler", "apscheduler.executors", "alembic",
         "uvicorn")


@contextlib.contextmanager
def levels_kept() -> Iterator[None]:
    """Restore the levels of the ``TUNED`` loggers on exit."""
    levels = {name: logging.getLogger(name).level for name in TUNED}
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
