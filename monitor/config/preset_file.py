"""Reading a preset data file (``monitor/data/presets/*.yaml``): YAML stays inside ``monitor.config``."""

from __future__ import annotations

from pathlib import Path

import yaml


def _flat(groups: object, path: Path, key: str) -> tuple[str, ...]:
    """The strings of a ``{language: [term, ...]}`` mapping, in file order, each once."""
    if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
        raise ValueError(f"{path}: {key} must map languages to lists of terms")
    terms = [str(t) for language in groups.values() for t in language]
    return tuple(dict.fromkeys(terms))


def read_preset(path: Path) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(name, terms, cues, excluded phrases, languages) of one preset file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError(f"{path}: a preset file needs name: and terms:")
    terms = data.get("terms")
    return (data["name"], _flat(terms, path, "terms"), _flat(data.get("cues") or {}, path, "cues"),
            _flat(data.get("exclude") or {}, path, "exclude"), tuple(terms) if isinstance(terms, dict) else ())
