"""Places of a watch (compile stage, pure): ``places`` entries ("Izium", "Kamianka, Cherkasy" or
``{name: Kamianka, oblast: Kharkiv}``) and ``area`` geo-fences (``{near: Kupiansk, km: 30}``, ``{oblast: Kharkiv}``)
resolved through the gazetteer to labelled spelling regexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.gazetteer import Gazetteer, Place, place_regexes


def _get(item: Any, key: str) -> Any:
    """A key of a mapping (YAML as read) or an attribute of a model (config.PlaceRef, config.Area)."""
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _entry(entry: Any) -> tuple[str, str | None, str]:
    """(name, oblast, label) of a ``places`` entry: "Izium", "Kamianka, Cherkasy" or {name:, oblast:}."""
    if isinstance(entry, str):
        name, _, oblast = entry.partition(",")
        return name.strip(), oblast.strip() or None, entry.strip()
    name, oblast = str(_get(entry, "name") or "").strip(), _get(entry, "oblast")
    return name, oblast, f"{name}, {oblast}" if oblast else name


def place_entries(
    where: str, entries: Sequence[Any], gazetteer: Gazetteer, problems: list[str]
) -> dict[str, list[str]]:
    """Resolve ``places`` entries to spelling regexes by label; unknown ones become ``where.j`` problems."""
    found: dict[str, list[str]] = {}
    for j, entry in enumerate(entries):
        name, oblast, label = _entry(entry)
        places = gazetteer.resolve(name, oblast) if name else []
        if not places:
            extra = "" if isinstance(entry, str) or not oblast else f" in {oblast} oblast"
            problems.append(f"{where}.{j}: unknown place '{label if not extra else name}'{extra}")
            continue
        found.setdefault(label, place_regexes(places))
    return found


def area_places(gazetteer: Gazetteer, area: Any) -> tuple[list[Place], str | None]:
    """The settlements of an ``area`` ({near: Kupiansk, km: 30} or {oblast: Kharkiv}) and a problem, if any."""
    if _get(area, "oblast"):
        found = gazetteer.in_oblast(str(_get(area, "oblast")))
        return found, None if found else f"unknown oblast '{_get(area, 'oblast')}'"
    center = gazetteer.resolve(str(_get(area, "near") or ""))
    if not center:
        return [], f"unknown place '{_get(area, 'near')}'"
    km = float(_get(area, "km") or 25)
    return gazetteer.near(center[0].lat, center[0].lon, km), None


def area_regexes(where: str, area: Any, gazetteer: Gazetteer, problems: list[str]) -> dict[str, list[str]]:
    """The spelling regexes of every settlement of ``area``, labelled by the settlement's name."""
    if area is None:
        return {}
    places, problem = area_places(gazetteer, area)
    if problem or not places:
        problems.append(f"{where}: {problem or 'no settlement of the gazetteer in this area'}")
    by_name: dict[str, list[Place]] = {}
    for place in places:
        by_name.setdefault(place.name, []).append(place)
    # area=True: Latin names of small villages that are short or English words (Step, Hat, Bar) are left out
    return {name: place_regexes(group, area=True) for name, group in sorted(by_name.items())}
