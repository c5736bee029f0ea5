"""Pacing (monitor/pacing.py): urgent bypass, quiet hours, digest slots, rate-limit overflow, DST.

Explicit datetimes only, no clock. Europe/Kyiv is UTC+2 in winter and UTC+3 in summer; in 2025 it springs
forward on 30 March at 01:00 UTC (03:00 -> 04:00 local, so 03:00-03:59 never happens) and falls back on
26 October at 01:00 UTC (04:00 -> 03:00 local, so 03:00-03:59 happens twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config import ChannelSpec
from monitor.pacing import Route, is_urgent, next_digest_at, quiet_until, rate_window, route

KYIV = ZoneInfo("Europe/Kyiv")


def spec(**fields: Any) -> ChannelSpec:
    return ChannelSpec(url="json://127.0.0.1/x", **fields)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def kyiv(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=KYIV)


def assert_utc(at: datetime | None) -> None:
    assert at is not None and at.tzinfo is UTC


# --- severity -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("urgent", "severity", "expected"), [
    ("critical", "critical", True),
    ("critical", "high", False),
    ("critical", "info", False),
    ("high", "critical", True),
    ("high", "high", True),
    ("high", "info", False),
    ("info", "info", True),
    (None, "critical", False),
    ("high", "severe", True),       # unknown counts as high
    ("critical", "severe", False),
    ("high", "", True),
    ("critical", "CRITICAL", True),  # case and spaces do not matter
], ids=lambda v: repr(v))
def test_is_urgent(urgent: str | None, severity: str, expected: bool) -> None:
    assert is_urgent(spec(urgent=urgent), severity) is expected


# --- quiet hours ----------------------------------------------------------------------------------

NIGHT = "22:00-07:00"


@pytest.mark.parametrize(("zone", "quiet", "now", "until"), [
    pytest.param("UTC", NIGHT, utc(2025, 1, 15, 23), utc(2025, 1, 16, 7), id="UTC before midnight"),
    pytest.param("UTC", NIGHT, utc(2025, 1, 16, 3), utc(2025, 1, 16, 7), id="UTC after midnight"),
    pytest.param("UTC", NIGHT, utc(2025, 1, 15, 22), utc(2025, 1, 16, 7), id="UTC start is quiet"),
    pytest.param("UTC", NIGHT, utc(2025, 1, 16, 7), None, id="UTC end is not quiet"),
    pytest.param("UTC", NIGHT, utc(2025, 1, 15, 21, 59), None, id="UTC just before"),
    pytest.param("UTC", NIGHT, utc(2025, 1, 16, 5, 30), utc(2025, 1, 16, 7), id="UTC 05:30 quiet"),
    pytest.param("Europe/Kyiv", NIGHT, utc(2025, 1, 16, 5, 30), None, id="Kyiv 07:30 local not quiet"),
    pytest.param("Europe/Kyiv", NIGHT, utc(2025, 1, 15, 20, 30), utc(2025, 1, 16, 5), id="Kyiv 22:30 winter"),
    pytest.param("Europe/Kyiv", NIGHT, utc(2025, 1, 16, 1), utc(2025, 1, 16, 5), id="Kyiv 03:00 winter"),
    pytest.param("Europe/Kyiv", NIGHT, utc(2025, 7, 1, 0), utc(2025, 7, 1, 4), id="Kyiv 03:00 summer"),
    pytest.param("Europe/Kyiv", NIGHT, utc(2025, 1, 15, 19, 30), None, id="Kyiv 21:30 not quiet"),
    pytest.param("Europe/Kyiv", NIGHT, datetime(2025, 1, 15, 18, tzinfo=ZoneInfo("America/New_York")),
                 utc(2025, 1, 16, 5), id="now in another zone"),
    pytest.param("UTC", "12:00-13:00", utc(2025, 1, 15, 12, 30), utc(2025, 1, 15, 13), id="same-day period"),
    pytest.param("UTC", "12:00-13:00", utc(2025, 1, 15, 13, 30), None, id="after a same-day period"),
    pytest.param("UTC", None, utc(2025, 1, 15, 3), None, id="no quiet hours"),
    # DST: the night that loses an hour ends at 07:00 summer time, the night that gains one at 07:00 winter time.
    pytest.param("Europe/Kyiv", NIGHT, kyiv(2025, 3, 29, 23), utc(2025, 3, 30, 4), id="spring-forward night"),
    pytest.param("Europe/Kyiv", NIGHT, kyiv(2025, 10, 25, 23), utc(2025, 10, 26, 5), id="fall-back night"),
    # an end skipped by the spring-forward moves later by the gap: 03:30 -> 04:30 summer time
    pytest.param("Europe/Kyiv", "02:30-03:30", utc(2025, 3, 30, 0, 40), utc(2025, 3, 30, 1, 30), id="end in gap"),
    pytest.param("Europe/Kyiv", "02:30-03:30", utc(2025, 3, 30, 1, 30), None, id="after an end in the gap"),
    pytest.param("Europe/Kyiv", "03:15-03:45", utc(2025, 3, 30, 1, 20), utc(2025, 3, 30, 1, 45), id="all in gap"),
    pytest.param("Europe/Kyiv", "03:15-03:45", utc(2025, 3, 30, 1, 0), None, id="before a gap period"),
    pytest.param("Europe/Berlin", "01:30-02:30", utc(2025, 3, 30, 0, 45), utc(2025, 3, 30, 1, 30),
                 id="Berlin 01:30-02:30 skipping 02:00-03:00"),
    # an end in the repeated hour means its first pass
    pytest.param("Europe/Kyiv", "01:00-03:30", utc(2025, 10, 26, 0, 10), utc(2025, 10, 26, 0, 30), id="ambiguous end"),
    pytest.param("Europe/Kyiv", "01:00-03:30", utc(2025, 10, 26, 1, 10), None, id="second pass not quiet"),
])
def test_quiet_until(zone: str, quiet: str | None, now: datetime, until: datetime | None) -> None:
    got = quiet_until(spec(timezone=zone, quiet_hours=quiet), now)
    assert got == until
    if until is not None:
        assert_utc(got)


# --- digest slots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("digest", "zone", "now", "slot"), [
    pytest.param("hourly", "UTC", utc(2025, 1, 15, 10, 15), utc(2025, 1, 15, 11), id="hourly"),
    pytest.param("hourly", "UTC", utc(2025, 1, 15, 10), utc(2025, 1, 15, 11), id="hourly strictly after"),
    pytest.param("hourly", "UTC", utc(2025, 1, 15, 23, 59), utc(2025, 1, 16, 0), id="hourly over midnight"),
    pytest.param("hourly", "Asia/Kolkata", utc(2025, 1, 15, 10, 15), utc(2025, 1, 15, 10, 30), id="hourly +05:30"),
    pytest.param("daily 08:00", "Europe/Kyiv", kyiv(2025, 1, 15, 7), kyiv(2025, 1, 15, 8), id="daily later today"),
    pytest.param("daily 08:00", "Europe/Kyiv", kyiv(2025, 1, 15, 8), kyiv(2025, 1, 16, 8), id="daily tomorrow"),
    pytest.param("daily 08:00", "UTC", kyiv(2025, 1, 15, 9), utc(2025, 1, 15, 8), id="daily in UTC, now in Kyiv"),
    pytest.param("every 30m", "UTC", utc(2025, 1, 15, 10, 15), utc(2025, 1, 15, 10, 30), id="every 30m"),
    pytest.param("every 30m", "UTC", utc(2025, 1, 15, 10, 30), utc(2025, 1, 15, 11), id="every 30m on a slot"),
    pytest.param("every 30m", "UTC", utc(2025, 1, 15, 23, 45), utc(2025, 1, 16, 0), id="every 30m midnight"),
    pytest.param("every 90m", "UTC", utc(2025, 1, 15, 23), utc(2025, 1, 16, 0), id="every 90m restarts at 0:00"),
    pytest.param("every 90m", "UTC", utc(2025, 1, 15, 1), utc(2025, 1, 15, 1, 30), id="every 90m"),
    pytest.param("every 7m", "UTC", utc(2025, 1, 15, 23, 55), utc(2025, 1, 16, 0), id="every 7m last slot"),
    pytest.param("every 2h", "Europe/Kyiv", kyiv(2025, 1, 15, 9, 5), kyiv(2025, 1, 15, 10), id="every 2h local"),
    pytest.param("every 24h", "Europe/Kyiv", kyiv(2025, 1, 15, 9), kyiv(2025, 1, 16, 0), id="every 24h"),
    # DST: daily 08:00 stays 08:00 local on both change days.
    pytest.param("daily 08:00", "Europe/Kyiv", kyiv(2025, 3, 29, 9), utc(2025, 3, 30, 5), id="daily spring"),
    pytest.param("daily 08:00", "Europe/Kyiv", utc(2025, 3, 30, 0), utc(2025, 3, 30, 5), id="daily spring night"),
    pytest.param("daily 08:00", "Europe/Kyiv", kyiv(2025, 10, 25, 9), utc(2025, 10, 26, 6), id="daily fall"),
    pytest.param("daily 08:00", "Europe/Kyiv", utc(2025, 10, 26, 2), utc(2025, 10, 26, 6), id="daily fall night"),
    # a skipped daily time moves later by the gap; a repeated one fires once, on its first pass
    pytest.param("daily 03:30", "Europe/Kyiv", utc(2025, 3, 29, 22), utc(2025, 3, 30, 1, 30), id="daily in gap"),
    pytest.param("daily 03:30", "Europe/Kyiv", utc(2025, 10, 25, 22), utc(2025, 10, 26, 0, 30), id="daily repeated"),
    pytest.param("daily 03:30", "Europe/Kyiv", utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30), id="daily once"),
    # hourly: the skipped 03:00 is 04:00 summer time; the repeated 03:00 comes twice
    pytest.param("hourly", "Europe/Kyiv", utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 1), id="hourly spring"),
    pytest.param("hourly", "Europe/Kyiv", utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1), id="hourly second 03:00"),
    pytest.param("hourly", "Europe/Kyiv", utc(2025, 10, 26, 1), utc(2025, 10, 26, 2), id="hourly after it"),
    pytest.param("every 30m", "Europe/Kyiv", utc(2025, 10, 26, 0, 10), utc(2025, 10, 26, 0, 30), id="30m first pass"),
    pytest.param("every 30m", "Europe/Kyiv", utc(2025, 10, 26, 1, 10), utc(2025, 10, 26, 1, 30), id="30m second"),
    pytest.param("every 45m", "Europe/Kyiv", utc(2025, 3, 30, 0, 15), utc(2025, 3, 30, 1), id="45m over the gap"),
    pytest.param("daily 00:00", "America/Sao_Paulo", utc(2018, 11, 3, 12), utc(2018, 11, 4, 3),
                 id="skipped midnight is 01:00"),
])
def test_next_digest_at(digest: str, zone: str, now: datetime, slot: datetime) -> None:
    got = next_digest_at(spec(mode="digest", digest=digest, timezone=zone), now)
    assert got == slot
    assert_utc(got)


@pytest.mark.parametrize(("rate", "expected"), [
    ("10/h", (10, timedelta(hours=1))),
    ("1/m", (1, timedelta(minutes=1))),
    ("500/d", (500, timedelta(days=1))),
    (None, None),
])
def test_rate_window(rate: str | None, expected: tuple[int, timedelta] | None) -> None:
    assert rate_window(spec(rate_limit=rate)) == expected


# --- route ----------------------------------------------------------------------------------------

QUIET_KYIV = {"timezone": "Europe/Kyiv", "quiet_hours": NIGHT}
THREE_AM = kyiv(2025, 1, 16, 3)  # quiet; the quiet period ends at 07:00 local = 05:00 UTC
SEVEN_AM = utc(2025, 1, 16, 5)

ROUTES = [
    # urgent bypasses everything
    pytest.param({**QUIET_KYIV}, "critical", THREE_AM, 0, Route("send"), id="critical at 03:00 in quiet hours"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "rate_limit": "1/h"}, "critical", THREE_AM, 9, Route("send"),
                 id="critical bypasses digest and rate limit"),
    pytest.param({**QUIET_KYIV, "urgent": "high"}, "high", THREE_AM, 0, Route("send"), id="urgent: high"),
    pytest.param({**QUIET_KYIV, "urgent": "high"}, "severe", THREE_AM, 0, Route("send"), id="unknown is high"),
    pytest.param({**QUIET_KYIV}, "severe", THREE_AM, 0, Route("hold", SEVEN_AM), id="unknown is not critical"),
    pytest.param({**QUIET_KYIV, "urgent": None}, "critical", THREE_AM, 0, Route("hold", SEVEN_AM),
                 id="urgent: null never bypasses"),
    # quiet hours
    pytest.param({**QUIET_KYIV}, "high", THREE_AM, 0, Route("hold", SEVEN_AM), id="immediate held to 07:00"),
    pytest.param({"quiet_hours": NIGHT}, "high", kyiv(2025, 1, 16, 8), 0, Route("hold", utc(2025, 1, 16, 7)),
                 id="08:00 Kyiv is 06:00 UTC: quiet in UTC"),
    pytest.param({**QUIET_KYIV}, "info", kyiv(2025, 1, 16, 8), 0, Route("send"), id="after quiet hours"),
    pytest.param({**QUIET_KYIV, "mode": "digest"}, "high", THREE_AM, 0, Route("digest", SEVEN_AM),
                 id="hourly digest at the quiet end"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "quiet_hours": "22:00-07:15"}, "high", THREE_AM, 0,
                 Route("digest", kyiv(2025, 1, 16, 8)), id="first slot after the quiet end"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "digest": "daily 08:00"}, "info", THREE_AM, 0,
                 Route("digest", kyiv(2025, 1, 16, 8)), id="daily 08:00 after quiet hours"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "digest": "daily 08:00", "quiet_hours": "07:00-09:00"}, "info",
                 kyiv(2025, 1, 16, 7, 30), 0, Route("digest", kyiv(2025, 1, 16, 9)), id="every slot quiet"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "digest": "daily 08:00", "quiet_hours": "07:00-09:00"}, "info",
                 kyiv(2025, 1, 16, 6), 0, Route("digest", kyiv(2025, 1, 16, 9)), id="next slot quiet"),
    pytest.param({**QUIET_KYIV, "mode": "digest"}, "info", kyiv(2025, 1, 15, 21, 30), 0,
                 Route("digest", SEVEN_AM), id="slot at the quiet start moves to the end"),
    pytest.param({**QUIET_KYIV, "mode": "digest", "digest": "every 30m"}, "info", kyiv(2025, 1, 15, 21, 40), 0,
                 Route("digest", SEVEN_AM), id="every 30m before quiet hours"),
    # digests
    pytest.param({"mode": "digest"}, "high", utc(2025, 1, 15, 10, 15), 0, Route("digest", utc(2025, 1, 15, 11)),
                 id="hourly digest"),
    pytest.param({"mode": "digest", "rate_limit": "1/h"}, "high", utc(2025, 1, 15, 10, 15), 5,
                 Route("digest", utc(2025, 1, 15, 11)), id="digest channel ignores the rate count"),
    # rate limit overflow: folded into a digest at the next window start, never dropped
    pytest.param({}, "info", utc(2025, 1, 15, 10, 15), 10**6, Route("send"), id="no limit"),
    pytest.param({"rate_limit": "10/h"}, "info", utc(2025, 1, 15, 10, 15), 9, Route("send"), id="under the limit"),
    pytest.param({"rate_limit": "10/h"}, "info", utc(2025, 1, 15, 10, 15), 10,
                 Route("digest", utc(2025, 1, 15, 11)), id="10/h overflow -> next full hour"),
    pytest.param({"rate_limit": "10/h", "timezone": "Asia/Kolkata"}, "info", utc(2025, 1, 15, 10, 15), 11,
                 Route("digest", utc(2025, 1, 15, 10, 30)), id="full hour on the channel clock"),
    pytest.param({"rate_limit": "5/m"}, "info", utc(2025, 1, 15, 10, 15, 30), 5,
                 Route("digest", utc(2025, 1, 15, 10, 16)), id="5/m overflow -> next minute"),
    pytest.param({"rate_limit": "100/d", "timezone": "Europe/Kyiv"}, "info", kyiv(2025, 1, 15, 14), 100,
                 Route("digest", kyiv(2025, 1, 16, 0)), id="100/d overflow -> local midnight"),
    pytest.param({**QUIET_KYIV, "rate_limit": "10/h"}, "info", kyiv(2025, 1, 15, 21, 30), 10,
                 Route("digest", SEVEN_AM), id="overflow into quiet hours waits for the end"),
    pytest.param({"rate_limit": "10/h", "timezone": "Europe/Kyiv"}, "info", utc(2025, 10, 26, 0, 30), 10,
                 Route("digest", utc(2025, 10, 26, 1)), id="overflow in the repeated hour"),
    # DST in route
    pytest.param({**QUIET_KYIV, "mode": "digest", "digest": "daily 08:00"}, "high", kyiv(2025, 3, 30, 2), 0,
                 Route("digest", utc(2025, 3, 30, 5)), id="spring-forward night digest at 08:00 summer time"),
    pytest.param({**QUIET_KYIV}, "high", kyiv(2025, 10, 26, 2), 0, Route("hold", utc(2025, 10, 26, 5)),
                 id="fall-back night held to 07:00 winter time"),
]


@pytest.mark.parametrize(("fields", "severity", "now", "sent", "expected"), ROUTES)
def test_route(fields: dict[str, Any], severity: str, now: datetime, sent: int, expected: Route) -> None:
    got = route(spec(**fields), severity, now, sent_in_window=sent)
    assert got == expected
    if got.action == "send":
        assert got.at is None
    else:
        assert_utc(got.at)


SWEEP_SPECS = [
    {"quiet_hours": quiet, "mode": mode, "digest": digest, "rate_limit": "3/h"}
    for quiet in ("22:00-07:00", "01:30-02:30", "02:30-03:30", "03:15-03:45", "23:30-00:30")
    for mode, digest in (("immediate", "hourly"), ("digest", "daily 03:30"), ("digest", "every 45m"))
]


@pytest.mark.parametrize(("zone", "day"), [
    ("Europe/Kyiv", utc(2025, 3, 29)),
    ("Europe/Kyiv", utc(2025, 10, 25)),
    ("Europe/Berlin", utc(2025, 3, 29)),
    ("America/Sao_Paulo", utc(2018, 11, 3)),    # sprang forward at midnight: 00:00-00:59 skipped
    ("Australia/Lord_Howe", utc(2025, 4, 5)),   # falls back by 30 minutes
], ids=["Kyiv March", "Kyiv October", "Berlin March", "Sao Paulo midnight gap", "Lord Howe 30m"])
def test_sweep_across_dst_never_loops_or_goes_back(zone: str, day: datetime) -> None:
    """Every 15 minutes over two days: the answer is in the future, in UTC, and never inside quiet hours."""
    for fields in SWEEP_SPECS:
        channel = spec(timezone=zone, **fields)
        for step in range(0, 48 * 60, 15):
            now = day + timedelta(minutes=step)
            assert next_digest_at(channel, now) > now
            end = quiet_until(channel, now)
            assert end is None or end > now
            got = route(channel, "info", now, sent_in_window=3)
            assert got.at is not None and got.at > now and got.at.tzinfo is UTC
            assert quiet_until(channel, got.at) is None, (fields, now, got)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        route(spec(quiet_hours=NIGHT), "info", datetime(2025, 1, 15, 3))


def test_route_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Route("send").action = "hold"  # type: ignore[misc]
