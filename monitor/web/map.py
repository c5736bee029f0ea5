"""The Map page's picture: settlements named in alerted stories, drawn as one self-contained inline SVG.

The country is drawn from the gazetteer itself (every settlement a faint dot, merged into a small grid so 5,500+
places stay a few tens of KB), projected equirectangularly with cos(mean latitude) scaling. Nothing is fetched,
there is no script, no link and no ``style`` (presentation attributes only, so a strict CSP still renders it).

``counts`` keys are place names as alert hits carry them ("Izium", or "Kamianka, Cherkasy" to pick an oblast),
resolved with :meth:`Gazetteer.resolve`; an ambiguous name takes its first (most populous) place, an unknown name
is not drawn. Keys naming the same place are merged. Output is deterministic for the same input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape

from monitor.gazetteer import Gazetteer, Place

MARGIN = 24
DOT_CELL = 4  # px grid the settlement dots are merged into
LAND_CELL = 12  # coarser grid of the pale land silhouette under the dots
TOP_LABELS = 15
MAX_RADIUS = 24.0
HIT_COLOUR = "#d62728"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class _Projection:
    lon0: float
    lat1: float
    kx: float  # pixels per degree of longitude
    ky: float  # pixels per degree of latitude
    x0: float
    y0: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return self.x0 + (lon - self.lon0) * self.kx, self.y0 + (self.lat1 - lat) * self.ky


_Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class _Hit:
    label: str
    place: Place
    count: int


def _clean(value: str) -> str:
    """Data text without the characters XML cannot carry (escaping does not help those), whitespace collapsed."""
    return " ".join(_NOT_XML.sub("", value).split())


def _text(value: str) -> str:
    """Data text made safe for XML character data and attribute values."""
    return escape(_clean(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _projection(places: list[Place], width: int, height: int) -> _Projection:
    lats, lons = [p.lat for p in places], [p.lon for p in places]
    cos = math.cos(math.radians(sum(lats) / len(lats)))
    span_x, span_y = max(max(lons) - min(lons), 1e-6) * cos, max(max(lats) - min(lats), 1e-6)
    scale = min((width - 2 * MARGIN) / span_x, (height - 2 * MARGIN) / span_y)
    x0 = (width - span_x * scale) / 2
    y0 = (height - span_y * scale) / 2
    return _Projection(min(lons), max(lats), scale * cos, scale, x0, y0)


def _grid_path(points: Iterable[tuple[float, float]], cell: int, width: float, colour: str) -> str:
    """One path of round dots, one per occupied ``cell`` x ``cell`` square, in row order."""
    cells = sorted({(int(y // cell), int(x // cell)) for x, y in points})
    half = cell / 2
    d = "".join(f"M{_num(cx * cell + half)} {_num(cy * cell + half)}h0" for cy, cx in cells)
    return f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{_num(width)}" stroke-linecap="round"/>'


def _oblast_labels(places: list[Place], proj: _Projection) -> list[str]:
    """An oblast's name at the mean of its settlements; skipped when it would crowd a bigger oblast's label."""
    groups: dict[str, list[Place]] = {}
    for place in places:
        groups.setdefault(place.oblast, []).append(place)
    placed: list[tuple[float, float]] = []
    out = []
    for name, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        x, y = proj.xy(sum(p.lat for p in members) / len(members), sum(p.lon for p in members) / len(members))
        if not name or any(abs(x - px) < 60 and abs(y - py) < 14 for px, py in placed):
            continue
        placed.append((x, y))
        out.append(
            f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="middle" font-size="10" fill="#8a8f98">{_text(name)}</text>'
        )
    return out


def _resolve(gazetteer: Gazetteer, key: str) -> Place | None:
    name, _, oblast = key.partition(",")
    found = gazetteer.resolve(name.strip(), oblast.strip() or None) if name.strip() else []
    return found[0] if found else None


def _hits(gazetteer: Gazetteer, counts: Mapping[str, int]) -> list[_Hit]:
    """Known places with a positive count, keys naming one place merged (labelled by the key with most alerts),
    largest first."""
    merged: dict[int, list[tuple[int, str, Place]]] = {}
    for key in sorted(counts):
        count = int(counts[key])
        place = _resolve(gazetteer, key) if count > 0 and _clean(key) else None
        if place is not None:
            merged.setdefault(place.geonameid, []).append((count, key, place))
    hits = []
    for entries in merged.values():
        _, label, place = min(entries, key=lambda e: (-e[0], e[1]))
        hits.append(_Hit(_clean(label), place, sum(e[0] for e in entries)))
    return sorted(hits, key=lambda h: (-h.count, h.label, h.place.geonameid))


def _radius(count: int) -> float:
    return min(MAX_RADIUS, 2.5 + 2.0 * math.sqrt(count))


def _stories(count: int) -> str:
    return f"{count} story" if count == 1 else f"{count} stories"


def _circle(hit: _Hit, x: float, y: float) -> str:
    return (
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(_radius(hit.count))}" fill="{HIT_COLOUR}" '
        f'fill-opacity="0.55" stroke="#8b0000" stroke-width="1">'
        f"<title>{_text(hit.label)}: {_stories(hit.count)}</title></circle>"
    )


def _label(hit: _Hit, x: float, y: float, width: int, taken: list[_Box], *, avoid: list[_Box]) -> str | None:
    """A label right of the circle, else left of it (left only near the right edge); None when both would overlap
    another label or one of the ``avoid`` boxes (the other places' circles)."""
    text, r = _text(hit.label), _radius(hit.count)
    w = 6.6 * len(hit.label)
    sides = [(True, (x + r + 2, y - 9, x + r + 2 + w, y + 5)), (False, (x - r - 2 - w, y - 9, x - r - 2, y + 5))]
    if x + r + 2 > width - w - 2:  # near the right edge: left only
        sides = sides[1:]
    free = [(right, box) for right, box in sides if box[0] >= 0 and not any(
        box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in (*taken, *avoid))]
    if not free:
        return None
    right, box = free[0]
    taken.append(box)
    anchor = "start" if right else "end"
    return (
        f'<text x="{_num(box[0] if right else box[2])}" y="{_num(y + 4)}" text-anchor="{anchor}" '
        f'font-size="12" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">{text}</text>'
    )


def _hit_marks(hits: list[_Hit], proj: _Projection, width: int) -> list[str]:
    """Labels for the first ``TOP_LABELS`` that fit without overlapping (by count, so a crowded front keeps its
    busiest names), then the circles over them, largest first so small ones stay on top: no place is ever hidden
    under another's label."""
    spots = [(hit, *proj.xy(hit.place.lat, hit.place.lon)) for hit in hits]
    labels: list[str] = []
    taken: list[_Box] = []  # the labels placed so far
    for i, (hit, x, y) in enumerate(spots):
        if len(labels) >= TOP_LABELS:
            break
        others = [_circle_box(h, hx, hy) for j, (h, hx, hy) in enumerate(spots) if j != i]  # never cover a place
        label = _label(hit, x, y, width, taken, avoid=others)
        if label is not None:
            labels.append(label)
    return labels + [_circle(hit, x, y) for hit, x, y in spots]


def _circle_box(hit: _Hit, x: float, y: float) -> _Box:
    r = _radius(hit.count)
    return (x - r, y - r, x + r, y + r)


def _legend_values(top: int) -> list[int]:
    """Up to three round sizes from 1 to the largest count (just [1] when nothing exceeds one alert)."""
    nice = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500) if v <= top]
    return sorted({1, nice[len(nice) // 2], nice[-1]})


def _legend(hits: list[_Hit], width: int, height: int) -> list[str]:
    """Sample circles side by side in the bottom-right corner, each with its count underneath."""
    values = _legend_values(hits[0].count if hits else 1)
    x = width - MARGIN - sum(2 * _radius(v) + 12 for v in values) + 12
    base = height - MARGIN - 14
    out = [f'<text x="{_num(x)}" y="{_num(base - 2 * MAX_RADIUS - 6)}" font-size="11" fill="#444">Stories</text>']
    for value in values:
        r = _radius(value)
        out.append(
            f'<circle cx="{_num(x + r)}" cy="{_num(base - r)}" r="{_num(r)}" fill="{HIT_COLOUR}" '
            f'fill-opacity="0.55" stroke="#8b0000" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_num(x + r)}" y="{_num(base + 13)}" text-anchor="middle" font-size="10" '
            f'fill="#444">{value}</text>'
        )
        x += 2 * r + 12
    return out


def render_map(gazetteer: Gazetteer, counts: Mapping[str, int], *, width: int = 900, height: int = 600) -> str:
    """A complete ``<svg>`` of Ukraine (and the gazetteer's Belgorod/Kursk places) with a red circle, radius
    growing with sqrt(alerts), per place named in ``counts``; a ``<title>`` tooltip on each, labels on the top
    15, a size legend and an "N places, M stories" caption."""
    places = sorted((p for p in gazetteer if not p.approximate), key=lambda p: p.geonameid)  # ~5k dots
    if not places or width <= 4 * MARGIN or height <= 4 * MARGIN:
        raise ValueError(f"cannot draw a {width}x{height} map of {len(places)} places")
    proj = _projection(places, width, height)
    points = [proj.xy(p.lat, p.lon) for p in places]
    hits = _hits(gazetteer, counts)
    caption = f"{len(hits)} place{'' if len(hits) == 1 else 's'}, {_stories(sum(h.count for h in hits))}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="Map of places named in alerts: {caption}" '
        'font-family="sans-serif">',
        f"<title>Places named in alerts: {caption}</title>",
        f'<rect width="{width}" height="{height}" fill="#f7f9fb"/>',
        _grid_path(points, LAND_CELL, LAND_CELL * 2.0, "#e6eaef"),
        _grid_path(points, DOT_CELL, 2, "#b9c0c9"),
        *_oblast_labels(places, proj),
        *_hit_marks(hits, proj, width),
        *_legend(hits, width, height),
        f'<text x="{MARGIN}" y="{height - MARGIN}" font-size="12" fill="#333">{caption}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
