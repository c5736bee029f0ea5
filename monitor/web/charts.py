"""Inline SVG charts, pure functions: a sparkline (stories per day of a source) and a bar chart (alerts per day
of a watch). Each carries its numbers as text too: a ``<title>`` (tooltip, screen readers) and a visible total,
so the page says the same without SVG. Labels are escaped; no ``style`` attributes (the CSP forbids them):
colours come from classes in style.css."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape


def day_keys(now: datetime, days: int) -> list[str]:
    """The x axis: the last ``days`` UTC dates, oldest first, as ``YYYY-MM-DD`` (today last)."""
    today = now.astimezone(UTC).date() if now.tzinfo else now.date()
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def _summary(label: str, values: Sequence[int], days: Sequence[str]) -> str:
    span = f"{days[0]} to {days[-1]}" if days else f"{len(values)} days"
    return f"{label}: {sum(values)} from {span} (per day: {', '.join(str(v) for v in values)})"


def sparkline(values: Sequence[int], *, label: str, days: Sequence[str] = (), width: int = 140,
              height: int = 28) -> Markup:
    """A line of ``values`` (oldest first) scaled to the largest, then the total as text."""
    summary = escape(_summary(label, values, days))
    peak = max(values, default=0) or 1
    step = width / max(len(values) - 1, 1)
    usable = height - 4
    points = " ".join(f"{i * step:.1f},{2 + usable - v / peak * usable:.1f}" for i, v in enumerate(values))
    svg = (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{summary}"><title>{summary}</title>'
           f'<polyline points="{points}" fill="none" stroke-width="1.5"/></svg>')
    return Markup(f'<span class="chart">{svg} <span class="total">{sum(values)}</span></span>')


def bars(values: Sequence[int], *, label: str, days: Sequence[str] = (), width: int = 420,
         height: int = 90) -> Markup:
    """One bar per day (oldest first, each with its own ``<title>``), the first and last day under the axis,
    then the total as text."""
    summary = escape(_summary(label, values, days))
    peak = max(values, default=0) or 1
    axis = height - 16
    slot = width / max(len(values), 1)
    shapes = []
    for i, value in enumerate(values):
        tall = value / peak * (axis - 4)
        tip = escape(f"{days[i] if i < len(days) else f'day {i + 1}'}: {value}")
        shapes.append(f'<rect x="{i * slot + 1:.1f}" y="{axis - tall:.1f}" width="{max(slot - 2, 1):.1f}" '
                      f'height="{tall:.1f}"><title>{tip}</title></rect>')
    ticks = ""
    if days:
        ticks = (f'<text x="0" y="{height - 3}" font-size="10">{escape(days[0][5:])}</text>'
                 f'<text x="{width}" y="{height - 3}" font-size="10" text-anchor="end">{escape(days[-1][5:])}</text>')
    svg = (f'<svg class="bars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{summary}"><title>{summary}</title>'
           f'<line x1="0" y1="{axis}" x2="{width}" y2="{axis}" stroke-width="1"/>{"".join(shapes)}{ticks}</svg>')
    return Markup(f'<span class="chart">{svg} <span class="total">{sum(values)}</span></span>')
