"""Named term lists a watch can use with ``preset:``, read from the data files in ``monitor/data/presets/``
(one commented YAML file per preset: its terms by language and its attribution/negation cues).

Loaded once at import: the files ship with the package and never change while the daemon runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from monitor.config.preset_file import read_preset

PRESET_DIR = Path(__file__).resolve().parent / "data" / "presets"


def _load(directory: Path) -> dict[str, tuple[tuple[str, ...], ...]]:
    presets = {}
    for path in sorted(directory.glob("*.yaml")):
        name, *lists = read_preset(path)
        presets[name] = tuple(lists)
    return presets


_PRESETS = _load(PRESET_DIR)
PRESETS: Mapping[str, tuple[str, ...]] = MappingProxyType({k: v[0] for k, v in _PRESETS.items()})
PRESET_CUES: Mapping[str, tuple[str, ...]] = MappingProxyType({k: v[1] for k, v in _PRESETS.items()})
PRESET_EXCLUDES: Mapping[str, tuple[str, ...]] = MappingProxyType({k: v[2] for k, v in _PRESETS.items()})
PRESET_LANGUAGES: Mapping[str, tuple[str, ...]] = MappingProxyType({k: v[3] for k, v in _PRESETS.items()})
