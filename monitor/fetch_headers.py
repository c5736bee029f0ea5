"""Response-header arithmetic for the fetch stage: ``Retry-After`` and cache freshness, in seconds.

Pure functions over header values (strings), so they need no HTTP client: ``fetch`` passes the values in.
No clock is read: an HTTP date only counts against the response's own ``Date`` header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP = 6 * 3600.0
CACHE_CAP = 24 * 3600.0


def retry_after(value: str, date: str) -> float | None:
    """Seconds from a ``Retry-After`` value (delta, or HTTP date against ``date``), capped at 6 h; None if unusable."""
    value = value.strip()
    if _is_delta(value):
        return _capped(value, RETRY_AFTER_CAP)
    return _until(value, date, RETRY_AFTER_CAP)


def cache_seconds(cache_control: str, expires: str, date: str) -> float | None:
    """The freshness a response asks for, in seconds, capped at 24 h; None when it asks for nothing usable.

    ``Cache-Control`` wins: ``no-store`` or a bare ``no-cache`` -> 0, else ``max-age`` (``s-maxage`` is for shared
    caches and ignored; a malformed ``max-age`` counts as absent). Without a usable ``max-age``: ``Expires`` minus
    ``Date`` (no ``Date`` or an unparsable date: None; in the past: 0).
    """
    directives = _directives(cache_control)
    if "no-store" in directives or directives.get("no-cache") == "":
        return 0.0
    max_age = directives.get("max-age", "")
    if _is_delta(max_age):
        return _capped(max_age, CACHE_CAP)
    return _until(expires, date, CACHE_CAP) if expires.strip() else None


def http_date(value: str) -> datetime | None:
    """An HTTP date (RFC 9110 IMF-fixdate or an obsolete form) as aware UTC; None if it is not one."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _directives(cache_control: str) -> dict[str, str]:
    """``Cache-Control`` as {lower-case name: unquoted value}; the first occurrence of a name wins."""
    found: dict[str, str] = {}
    for part in cache_control.split(","):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name and name not in found:
            found[name] = value.strip().strip('"')
    return found


def _is_delta(value: str) -> bool:
    """A delta-seconds value: ASCII digits only (no sign, no fraction, no exponent)."""
    return value.isascii() and value.isdigit()


def _capped(digits: str, cap: float) -> float:
    """Delta-seconds capped, without int() on a huge digit string (Python refuses over 4300 digits)."""
    digits = digits.lstrip("0") or "0"
    return cap if len(digits) > len(str(int(cap))) else min(float(digits), cap)


def _until(when: str, date: str, cap: float) -> float | None:
    """Seconds from ``date`` to ``when`` (both HTTP dates), at least 0 and at most ``cap``; None if either is bad."""
    end, now = http_date(when), http_date(date)
    if end is None or now is None:
        return None
    return min(max((end - now).total_seconds(), 0.0), cap)
