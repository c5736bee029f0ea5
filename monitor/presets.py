"""Named term lists a watch can use with ``preset:`` (terms in the watch-term syntax of ``match.py``).

Every term is one a report of territorial change uses; generic words ("advance", "attack") stay out. Some
(liberat*, withdrew, pushed back) also occur in unrelated news, so use the preset with ``places``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Syntax reminder: case-insensitive whole words; "a b" is a phrase (any whitespace between the words);
# a word-final "*" is a prefix wildcard (at least 3 letters before it); a hyphen matches "-", a space or
# nothing ("de-occup*" also finds "deoccupation"); a final "." is optional ("кв. км" = "кв км" = "кв.км").

TERRITORIAL_GAIN_EN: tuple[str, ...] = (
    # taking ground back
    "recaptur*",  # recapture, recaptured, recapturing (not "unrecaptured": a wildcard only extends the end)
    "retook",
    "retake*",  # retake, retakes, retaken, retaking
    "liberat*",  # liberate, liberated, liberating, liberation (not "liberal")
    "de-occup*",  # de-occupation, deoccupied, de occupying
    "regained control",
    "regain control",
    "regaining control",
    "back under ukrainian control",
    "returned to ukrainian control",
    "returned to the control",  # "returned to the control of Ukraine"
    # the other side giving ground
    "withdrew",
    "withdrawn from",
    "pushed back",
    "pushed out of",
    "driven out of",
    "retreated from",
    # entering or taking a settlement
    "entered the city",
    "entered the town",
    "entered the village",
    "raised the flag",
    "took control",
    "taken control",
    "taking control",
    "seized control",
    # the size of the change
    "square kilometers",
    "square kilometres",
    "sq. km",  # also "sq km", "sq.km"
)

TERRITORIAL_GAIN_UK: tuple[str, ...] = (
    "звільн*",  # звільнили, звільнено, звільнення (also "dismissed": places keep it on topic)
    "деокуп*",  # деокупація, деокупували
    "відступ*",  # відступили, відступ
    "відійшли",
    "повернуто",  # "повернуто під контроль", "повернуто понад 3000 кв. км"
    "повернули під контроль",
    "взяли під контроль",
    "узяли під контроль",
    "увійшли в",
    "увійшли у",
    "увійшли до",
    "зайшли в",
    "зайшли у",
    "зайшли до",
    "підняли прапор",
    "підняли український прапор",
    "кв. км",  # also "кв км", "кв.км"
    "квадратних кілометрів",
)

TERRITORIAL_GAIN_RU: tuple[str, ...] = (
    "освобожд*",  # освобождение, освобождён, освобождены
    "освободи*",  # освободили, освободить
    "деоккуп*",  # деоккупация
    "отступ*",  # отступили, отступление
    "отошли",
    "перегруппиров*",  # the Russian MoD's word for the 2022 Kharkiv-oblast withdrawal
    "взяли под контроль",
    "взяли под свой контроль",
    "установили контроль",
    "установлен контроль",
    "перешел под контроль",
    "перешли под контроль",
    "вошли в",
    "зашли в",
    "кв. км",  # listed in Ukrainian too; PRESETS keeps one copy
    "квадратных километров",
)

PRESETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Reports of territory changing hands in the war in Ukraine, in English, Ukrainian and Russian.
        "territorial-gain": tuple(
            dict.fromkeys(TERRITORIAL_GAIN_EN + TERRITORIAL_GAIN_UK + TERRITORIAL_GAIN_RU)  # one "кв. км"
        ),
    }
)
