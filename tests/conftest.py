"""Shared fixtures: paths to the shared corpora (tests skip when they are absent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPORA = SHARED / "corpora"
SEED = SHARED / "fixtures" / "seed-story.txt"


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    return CORPORA


@pytest.fixture
def seed_text() -> str:
    if not SEED.is_file():
        pytest.skip(f"seed story not found at {SEED}")
    return SEED.read_text(encoding="utf-8")


class FakeClock:
    """An injected clock the test advances explicitly (tests never sleep)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2022, 9, 11, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
