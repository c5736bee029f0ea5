"""cadence.py: adaptive intervals, politeness hints, gap halving and backoff, as plain numbers."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from monitor.cadence import MAX_BACKOFF, Cadence, backoff, interval_for
from monitor.config import Settings, Source

M = timedelta(minutes=1)
H = timedelta(hours=1)
SETTINGS = Settings(interval=timedelta(minutes=5), min_interval=2 * M, max_interval=H, jitter=timedelta(0))
ADAPTIVE = Cadence.of(Source(name="s", url="http://127.0.0.1/f"), SETTINGS)


@pytest.mark.parametrize(
    ("week", "day", "expected"),
    [
        pytest.param(0, 0, H, id="no posts: the maximum"),
        pytest.param(7, 1, H, id="one a day: the maximum"),
        pytest.param(168, 24, 30 * M, id="one an hour: two polls per gap"),
        pytest.param(1008, 144, 5 * M, id="one every 10 min"),
        pytest.param(20000, 3000, 2 * M, id="a flood: the minimum"),
        pytest.param(7, 24, 30 * M, id="a quiet feed that got busy today reacts within the day"),
    ],
)
def test_interval_follows_the_posting_rate(week: int, day: int, expected: timedelta) -> None:
    assert interval_for(ADAPTIVE, week, day) == expected


def test_a_pinned_source_keeps_its_interval() -> None:
    pinned = Cadence.of(Source(name="s", url="http://127.0.0.1/f", interval=timedelta(minutes=7)), SETTINGS)
    assert interval_for(pinned, 20000, 3000) == interval_for(pinned, 0, 0) == 7 * M


def test_adaptive_off_uses_the_configured_interval() -> None:
    fixed = Cadence.of(Source(name="s", url="http://127.0.0.1/f"), SETTINGS.model_copy(update={"adaptive": False}))
    assert interval_for(fixed, 1008, 144) == 5 * M


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        pytest.param(None, 5 * M, id="no hint"),
        pytest.param(60.0, 5 * M, id="shorter hint: our interval"),
        pytest.param(900.0, 15 * M, id="max-age 15 min is a lower bound"),
        pytest.param(86400.0, H, id="a day is capped at the maximum interval"),
    ],
)
def test_server_freshness_is_a_lower_bound(hint: float | None, expected: timedelta) -> None:
    assert interval_for(ADAPTIVE, 1008, 144, hint=hint) == expected


def test_a_gap_halves_the_interval_down_to_the_minimum() -> None:
    assert interval_for(ADAPTIVE, 168, 24, previous=30 * M, gap=True) == 15 * M
    assert interval_for(ADAPTIVE, 168, 24, previous=3 * M, gap=True) == 2 * M


def test_backoff_doubles_from_the_interval_in_force_and_caps_at_six_hours() -> None:
    rng = random.Random(1)
    delays = [backoff(ADAPTIVE, n, interval=10 * M, rng=rng) for n in range(8)]
    assert delays[:4] == [10 * M, 20 * M, 40 * M, 80 * M]
    assert delays[-1] == MAX_BACKOFF == 6 * H
    assert backoff(ADAPTIVE, 100, rng=rng) == MAX_BACKOFF  # no overflow after many failures


def test_retry_after_is_a_floor_capped_at_six_hours() -> None:
    rng = random.Random(1)
    assert backoff(ADAPTIVE, 0, interval=5 * M, retry_after=1200.0, rng=rng) == 20 * M
    assert backoff(ADAPTIVE, 0, interval=5 * M, retry_after=10**9, rng=rng) == MAX_BACKOFF


def test_jitter_spreads_retries_within_its_bound() -> None:
    jittery = Cadence.of(Source(name="s", url="http://127.0.0.1/f"),
                         SETTINGS.model_copy(update={"jitter": timedelta(seconds=30)}))
    rng = random.Random(3)
    delays = {backoff(jittery, 0, interval=5 * M, rng=rng) for _ in range(50)}
    assert len(delays) > 40 and all(5 * M <= d <= 5 * M + timedelta(seconds=30) for d in delays)
