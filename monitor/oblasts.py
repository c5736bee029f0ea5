"""Names of Ukraine's oblasts (and the Russian border oblasts the gazetteer covers) in the ways a watch or a
story writes them: English (KMU 2010 and older spellings), the Ukrainian and Russian adjectives, and the
Ukrainian colloquial names (Харківщина). ``oblast_key`` maps any of them to the gazetteer's English name.
"""

from __future__ import annotations

import re
import unicodedata

# English name -> other names (the gazetteer's ``Place.oblast`` is the English name).
OBLASTS: dict[str, tuple[str, ...]] = {
    "Cherkasy": ("Cherkasy", "Cherkaska", "Cherkassy", "Черкаська", "Черкасская", "Черкащина"),
    "Chernihiv": ("Chernihivska", "Chernigov", "Чернігівська", "Черниговская", "Чернігівщина"),
    "Chernivtsi": ("Chernivetska", "Chernovtsy", "Bukovina", "Чернівецька", "Черновицкая", "Буковина"),
    "Dnipropetrovsk": ("Dnipropetrovska", "Dnipro", "Dnepropetrovsk", "Дніпропетровська", "Днепропетровская",
                       "Дніпропетровщина", "Дніпровщина"),
    "Donetsk": ("Donetska", "Донецька", "Донецкая", "Донеччина", "Донетчина"),
    "Ivano-Frankivsk": ("Ivano-Frankivska", "Ivano-Frankovsk", "Івано-Франківська", "Ивано-Франковская",
                        "Прикарпаття"),
    "Kharkiv": ("Kharkivska", "Kharkov", "Харківська", "Харьковская", "Харківщина", "Харьковщина"),
    "Kherson": ("Khersonska", "Херсонська", "Херсонская", "Херсонщина"),
    "Khmelnytskyi": ("Khmelnytska", "Khmelnitsky", "Khmelnytskyy", "Хмельницька", "Хмельницкая", "Хмельниччина"),
    "Kirovohrad": ("Kirovohradska", "Kirovograd", "Kropyvnytskyi", "Кіровоградська", "Кировоградская",
                   "Кіровоградщина"),
    "Crimea": ("Krym", "Autonomous Republic of Crimea", "Автономна Республіка Крим", "Крим", "Крым"),
    "Kyiv City": ("Kyiv city", "Kiev City", "місто Київ", "Київ", "Киев"),
    "Kyiv": ("Kyivska", "Kiev", "Київська", "Киевская", "Київщина", "Киевщина"),
    "Luhansk": ("Luhanska", "Lugansk", "Луганська", "Луганская", "Луганщина"),
    "Lviv": ("Lvivska", "Lvov", "Львівська", "Львовская", "Львівщина"),
    "Mykolaiv": ("Mykolaivska", "Nikolaev", "Nikolayev", "Миколаївська", "Николаевская", "Миколаївщина"),
    "Odesa": ("Odeska", "Odessa", "Одеська", "Одесская", "Одещина"),
    "Poltava": ("Poltavska", "Полтавська", "Полтавская", "Полтавщина"),
    "Rivne": ("Rivnenska", "Rovno", "Рівненська", "Ровенская", "Рівненщина"),
    "Sevastopol": ("Sevastopol city", "місто Севастополь", "Севастополь"),
    "Sumy": ("Sumska", "Сумська", "Сумская", "Сумщина"),
    "Ternopil": ("Ternopilska", "Ternopol", "Тернопільська", "Тернопольская", "Тернопільщина"),
    "Vinnytsia": ("Vinnytska", "Vinnitsa", "Вінницька", "Винницкая", "Вінниччина"),
    "Volyn": ("Volynska", "Волинська", "Волынская", "Волинь"),
    "Zakarpattia": ("Zakarpatska", "Transcarpathia", "Закарпатська", "Закарпатская", "Закарпаття"),
    "Zaporizhzhia": ("Zaporizka", "Zaporizhia", "Zaporozhye", "Запорізька", "Запорожская", "Запоріжжя"),
    "Zhytomyr": ("Zhytomyrska", "Zhitomir", "Житомирська", "Житомирская", "Житомирщина"),
    "Belgorod": ("Bilhorod", "Бєлгородська", "Белгородская", "Белгородчина", "Білгородська"),
    "Kursk": ("Курська", "Курская", "Курщина"),
    "Bryansk": ("Брянська", "Брянская", "Брянщина"),
}  # fmt: skip

_SUFFIX = re.compile(r"\s+(?:oblast|obl|region|province|область|обл|регіон|край)\.?$")


def _key(text: str) -> str:
    """Case-, apostrophe-, hyphen- and diacritic-insensitive form of an oblast name, without "oblast"."""
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
    text = " ".join(text.casefold().replace("-", " ").replace("'", "").replace("\u2019", "").split())
    return _SUFFIX.sub("", text)


_INDEX = {_key(alias): name for name, aliases in OBLASTS.items() for alias in (name, *aliases)}
_INDEX.update({_key(name): name for name in OBLASTS})  # the English name wins a clash (Kyiv, not Kyiv City)


def oblast_key(name: str) -> str | None:
    """The gazetteer's English oblast name for ``name`` in any listed spelling ("Харківська область",
    "kharkiv oblast", "Харківщина" -> "Kharkiv"); None when it names no known oblast."""
    return _INDEX.get(_key(name))
