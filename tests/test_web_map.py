"""The Map page's SVG (monitor/web/map.py) over the real shipped gazetteer: valid, self-contained, escaped,
placed sensibly, small, deterministic and fast."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from monitor.gazetteer import Gazetteer
from monitor.web.map import render_map

SVG = "{http://www.w3.org/2000/svg}"
COUNTS = {"Izium": 3, "Kupiansk": 1, "Pokrovsk": 12, "Kharkiv": 8, "Kyiv": 2, "Odesa": 2, "Nowhere-on-earth": 5}


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _circles(root: ET.Element) -> dict[str, ET.Element]:
    """Hit circles by their tooltip text."""
    out = {}
    for circle in root.iter(f"{SVG}circle"):
        title = circle.find(f"{SVG}title")
        if title is not None and title.text:
            out[title.text] = circle
    return out


def _centre(root: ET.Element, tooltip: str) -> tuple[float, float]:
    circle = _circles(root)[tooltip]
    return float(circle.attrib["cx"]), float(circle.attrib["cy"])


def test_svg_parses_and_is_self_contained(gazetteer: Gazetteer) -> None:
    svg = render_map(gazetteer, COUNTS)
    root = _parse(svg)
    assert root.attrib["role"] == "img"
    assert root.find(f"{SVG}title") is not None
    assert root.attrib["viewBox"] == "0 0 900 600"
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert not tags & {"script", "a", "image", "use", "foreignObject", "style", "iframe"}
    assert not re.search(r"href|url\(|<script|javascript:|\bon\w+=", svg, re.IGNORECASE)
    assert len(svg.encode()) < 150_000


def test_circles_carry_titles_and_unknown_names_are_skipped(gazetteer: Gazetteer) -> None:
    root = _parse(render_map(gazetteer, COUNTS))
    tooltips = set(_circles(root))
    assert {"Izium: 3 stories", "Kupiansk: 1 story", "Pokrovsk: 12 stories"} <= tooltips
    assert not any("Nowhere" in t for t in tooltips)
    assert len(tooltips) == 6
    izium, kupiansk = _circles(root)["Izium: 3 stories"], _circles(root)["Kupiansk: 1 story"]
    assert float(izium.attrib["r"]) > float(kupiansk.attrib["r"])
    labels = {el.text for el in root.iter(f"{SVG}text")}
    assert {"Izium", "Kupiansk", "Pokrovsk", "6 places, 28 stories"} <= labels


def test_radius_grows_with_count_and_is_bounded(gazetteer: Gazetteer) -> None:
    root = _parse(render_map(gazetteer, {"Izium": 1, "Kupiansk": 10_000, "Kyiv": 0, "Lviv": -3}))
    radii = {t: float(c.attrib["r"]) for t, c in _circles(root).items()}
    assert set(radii) == {"Izium: 1 story", "Kupiansk: 10000 stories"}  # no circle for zero or negative
    assert radii["Izium: 1 story"] < radii["Kupiansk: 10000 stories"] <= 24


def test_spellings_of_one_place_are_merged(gazetteer: Gazetteer) -> None:
    root = _parse(render_map(gazetteer, {"Izium": 3, "Ізюм": 2, "Kamianka, Cherkasy": 1}))
    tooltips = set(_circles(root))
    assert "Izium: 5 stories" in tooltips
    assert "Kamianka, Cherkasy: 1 story" in tooltips


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", '"&', "Izium</title><script>x</script>", "\x00\x0b"])
def test_hostile_names_cannot_inject(gazetteer: Gazetteer, hostile: str) -> None:
    svg = render_map(gazetteer, {hostile: 4, "Izium": 1})
    root = _parse(svg)
    assert "<script" not in svg
    assert not any(el.tag.endswith("script") for el in root.iter())
    assert set(_circles(root)) == {"Izium: 1 story"}


def test_characters_xml_cannot_carry_are_dropped(gazetteer: Gazetteer) -> None:
    # name_key() reads "\x0bIzium" as Izium; escaping alone would leave the control character and break the XML.
    svg = render_map(gazetteer, {"\x0bIzium\x1c": 2, "Kupiansk": 1})
    root = _parse(svg)
    assert "Izium: 2 stories" in _circles(root)


def test_positions_are_geographically_sane(gazetteer: Gazetteer) -> None:
    root = _parse(render_map(gazetteer, COUNTS))
    kyiv, kharkiv, odesa = (_centre(root, t) for t in ("Kyiv: 2 stories", "Kharkiv: 8 stories", "Odesa: 2 stories"))
    assert kyiv[0] < kharkiv[0]  # west
    assert kyiv[1] < odesa[1]  # north: smaller y
    assert abs(kyiv[1] - kharkiv[1]) < 60  # roughly the same latitude
    for x, y in (kyiv, kharkiv, odesa):
        assert 0 < x < 900 and 0 < y < 600


def test_custom_size_fits(gazetteer: Gazetteer) -> None:
    root = _parse(render_map(gazetteer, COUNTS, width=400, height=300))
    assert root.attrib["viewBox"] == "0 0 400 300"
    for x, y in (_centre(root, t) for t in _circles(root)):
        assert 0 < x < 400 and 0 < y < 300


def test_empty_counts_still_draw_the_country(gazetteer: Gazetteer) -> None:
    svg = render_map(gazetteer, {})
    root = _parse(svg)
    assert _circles(root) == {}
    assert len(svg.encode()) > 20_000  # the settlement dots
    assert "0 places, 0 stories" in svg


def test_deterministic_and_order_independent(gazetteer: Gazetteer) -> None:
    first = render_map(gazetteer, COUNTS)
    assert render_map(gazetteer, COUNTS) == first
    assert render_map(gazetteer, dict(reversed(list(COUNTS.items())))) == first


def test_fast(gazetteer: Gazetteer) -> None:
    many = {p.name: i % 7 + 1 for i, p in enumerate(list(gazetteer)[:5600]) if i % 20 == 0}  # 280 places
    started = time.perf_counter()
    svg = render_map(gazetteer, many)
    assert time.perf_counter() - started < 0.5
    _parse(svg)
    assert len(svg.encode()) < 150_000
