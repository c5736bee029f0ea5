"""Build-time word forms of place names: the case forms of Ukrainian and Russian spellings (pymorphy3 with
its uk/ru dictionaries, which also guesses the paradigm of a name it does not know from its ending), and the
Polish name of a place (transliterated from Ukrainian, or the traditional exonym) with its case forms by hand
rules (no maintained Polish morphology is packaged for pip; Snowball's Polish stemmer scored worse).

Only ``monitor.gazetteer_build`` uses this module; the generated forms are stored in the shipped gazetteer,
so matching at run time is exact-form lookup and needs no morphology library.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")  # not the vocative (Ізюме is also Russian Изюме)
_UK_ONLY = re.compile(r"[іїєґ'ʼ’]|[сцз]ьк", re.IGNORECASE)
_RU_ONLY = re.compile(r"[ыэъё]", re.IGNORECASE)
_CYRILLIC_WORD = re.compile(r"^[\u0400-\u04ff'ʼ’]+$")
_SEPARATORS = re.compile(r"([\s\-]+)")
_MAX_COMBINATIONS = 64  # forms of one multiword name (each word agreeing in case)


class Morphology:
    """The pymorphy3 analyzers for Ukrainian and Russian (loaded once per build: ~1 s and ~100 MB)."""

    def __init__(self) -> None:
        import pymorphy3  # build-time only: the gazetteer extra

        self.uk = pymorphy3.MorphAnalyzer(lang="uk")
        self.ru = pymorphy3.MorphAnalyzer(lang="ru")

    def analyzers(self, spelling: str) -> list[Any]:
        """Which languages a Cyrillic spelling may be: і/ї/є/ґ/apostrophe/-ськ say Ukrainian, ы/э/ъ/ё Russian;
        otherwise the languages whose dictionary knows its last word (Изюм: Russian), else both (Лиман)."""
        if _UK_ONLY.search(spelling):
            return [self.uk]
        if _RU_ONLY.search(spelling):
            return [self.ru]
        head = _SEPARATORS.split(spelling)[-1].lower()
        known = [a for a in (self.uk, self.ru) if a.word_is_known(head)]
        return known or [self.uk, self.ru]

    def forms(self, spelling: str, *, ukrainian: bool = False) -> set[str]:
        """The case forms (singular, or plural for plural names such as Суми) of a Cyrillic spelling, with
        the spelling's capitals; multiword names inflect every word in the same case (Кам'янці-Дніпровській).
        A word the dictionaries cannot read as a nominative noun or adjective stays as written.
        ``ukrainian``: the spelling is known to be Ukrainian (the official name), so Russian is not tried."""
        out = {spelling}
        for analyzer in [self.uk] if ukrainian else self.analyzers(spelling):
            out |= _name_forms(analyzer, spelling)
        return out


def _choose(analyzer: Any, word: str) -> Any | None:
    """The nominative noun or adjective reading of ``word``, toponyms (Geox) and dictionary words first."""
    parses = [p for p in analyzer.parse(word) if p.tag.case == "nomn" and p.tag.POS in {"NOUN", "ADJF"}]
    parses = [p for p in parses if p.word == word.lower()]
    if not parses:
        return None
    return max(parses, key=lambda p: ("Geox" in p.tag, p.tag.POS == "NOUN", p.score))


def _word_forms(analyzer: Any, word: str) -> dict[str, set[str]]:
    """Case -> forms of one word (lower case), in the parse's number and (adjectives) gender."""
    fixed = {case: {word.lower()} for case in CASES}
    if len(word) < 2 or not _CYRILLIC_WORD.match(word):
        return fixed
    parse = _choose(analyzer, word.lower())
    if parse is None:
        return fixed
    number, gender = parse.tag.number, parse.tag.gender
    out: dict[str, set[str]] = {case: set() for case in CASES}
    for form in parse.lexeme:
        tag = form.tag
        if tag.case in out and tag.number == number and (parse.tag.POS == "NOUN" or tag.gender == gender):
            out[tag.case].add(form.word)
    out["nomn"].add(word.lower())
    return {case: forms or {word.lower()} for case, forms in out.items()}


def _like(form: str, model: str) -> str:
    """``form`` with the first letter's case of ``model`` (Куп'янська from куп'янська and Куп'янськ)."""
    return form[:1].upper() + form[1:] if model[:1].isupper() else form


def _name_forms(analyzer: Any, spelling: str) -> set[str]:
    parts = _SEPARATORS.split(spelling)
    words, seps = parts[::2], parts[1::2]
    per_word = [_word_forms(analyzer, w) for w in words]
    out: set[str] = set()
    for case in CASES:
        choices = [sorted(forms[case]) for forms in per_word]
        for combo in itertools.islice(itertools.product(*choices), _MAX_COMBINATIONS):
            pieces = [_like(form, word) for form, word in zip(combo, words, strict=True)]
            out.add("".join(p + s for p, s in itertools.zip_longest(pieces, seps, fillvalue="")))
    return out


# Polish declension of the spellings Polish writes (Charków, Kupiańsk, Bałaklija, Kamianka): by the ending.
_PL_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ija", ("ii", "iji", "iję", "iją")),  # Bałaklija -> Bałaklii, Bałakliję
    ("ia", ("ii", "ię", "ią")),
    ("ja", ("i", "ji", "ję", "ją")),
    ("ka", ("ki", "ce", "kę", "ką")),  # Kamianka -> Kamianki, Kamiance
    ("ga", ("gi", "dze", "gę", "gą")),
    ("a", ("y", "ie", "ę", "ą")),
    ("sk", ("ska", "sku", "skiem")),  # Kupiańsk -> Kupiańska, Kupiańsku, Kupiańskiem
    ("k", ("ka", "ku", "kiem")),
    ("g", ("ga", "gu", "giem")),
    ("ów", ("owa", "owie", "owem", "owowi")),  # Charków -> Charkowa, Charkowie
    ("um", ("umia", "umu", "umiu", "umiem", "umie")),  # Izium -> Iziumia, Iziumu (both in the press)
    ("ń", ("nia", "niu", "niem")),  # Chersoń -> Chersonia, Chersoniu
    ("n", ("na", "nu", "nie", "nem", "niu")),  # Łyman -> Łymanu, Łymanie
    ("t", ("ta", "tu", "cie", "tem")),  # Bachmut -> Bachmutu, Bachmucie
    ("d", ("da", "du", "dzie", "dem")),  # Myrnohrad -> Myrnohradu, Myrnohradzie
    ("r", ("ra", "ru", "rze", "rem")),
    ("l", ("la", "lu", "lem")),
    ("w", ("wa", "wie", "wem")),
)


def polish_forms(spelling: str) -> set[str]:
    """Polish case forms of a one-word Latin name of at least 5 letters (longer names stay as written):
    Kupiańsk -> Kupiańska, Kupiańsku, Kupiańskiem; Izium -> Iziumia; Bałaklija -> Bałakliję."""
    if " " in spelling or "-" in spelling or len(spelling) < 5 or not spelling.isalpha():
        return set()
    for ending, replacements in _PL_RULES:
        if spelling.endswith(ending):
            stem = spelling[: -len(ending)]
            return {stem + r for r in replacements}
    return set()


def is_ukrainian(spelling: str) -> bool:
    """Whether a Cyrillic spelling is Ukrainian rather than Russian (і, ї, є, ґ, an apostrophe or -ськ)."""
    return bool(_UK_ONLY.search(spelling))


def polish(ukrainian: str) -> set[str]:
    """The Polish name of a place (from its Ukrainian name) and its case forms."""
    names = {polish_name(ukrainian)}
    names |= {re.sub(r"(?<=[^aeiouy\W])ji", "i", n) for n in names}  # Мар'їнка: Marjinka and the press's Marinka
    return names | {form for name in names for form in polish_forms(name)}


# Polish transliteration of Ukrainian (the Polish press's usage: Kupiańsk, Pokrowsk, Bałaklija, Iziumia).
_PL_CLUSTERS = (("нськ", "ńsk"), ("ськ", "sk"), ("цьк", "ck"), ("зьк", "zk"), ("щ", "szcz"), ("'", ""),
                ("ʼ", ""), ("’", ""))  # fmt: skip
_PL_SOFT = {"н": "ń", "с": "ś", "ц": "ć", "з": "ź", "т": "ć", "д": "dź", "л": "l"}
_PL_LETTERS = {**dict(zip("абвгґдезиійклмнопрстуфцж", "abwhgdezyijkłmnoprstufcż", strict=True)), "ї": "ji",
               "х": "ch", "ч": "cz", "ш": "sz", "ь": ""}  # fmt: skip
_PL_IOTATED = {"я": "a", "ю": "u", "є": "e"}  # ja/ju/je at a word start or after a vowel, else ia/iu/ie
# Traditional Polish names of the largest cities (the transliteration of Харків would be Charkiw).
PL_EXONYMS = {
    "Харків": "Charków", "Київ": "Kijów", "Львів": "Lwów", "Чернігів": "Czernihów", "Миколаїв": "Mikołajów",
    "Житомир": "Żytomierz", "Тернопіль": "Tarnopol", "Рівне": "Równe", "Луцьк": "Łuck", "Запоріжжя": "Zaporoże",
    "Дніпро": "Dniepr", "Чернівці": "Czerniowce", "Вінниця": "Winnica", "Черкаси": "Czerkasy", "Херсон": "Chersoń",
    "Донецьк": "Donieck", "Луганськ": "Ługańsk", "Кременчук": "Krzemieńczuk",
}  # fmt: skip


def polish_name(ukrainian: str) -> str:
    """The Polish spelling of a Ukrainian name: the traditional exonym or the transliteration."""
    if ukrainian in PL_EXONYMS:
        return PL_EXONYMS[ukrainian]
    text = ukrainian.lower()
    for old, new in _PL_CLUSTERS:
        text = text.replace(old, new)
    out: list[str] = []
    for i, ch in enumerate(text):
        nxt = text[i + 1 : i + 2]
        if ch in _PL_IOTATED:
            after_consonant = bool(out) and out[-1][-1:].isalpha() and out[-1][-1] not in "aeiouy"
            out.append(("i" if after_consonant else "j") + _PL_IOTATED[ch])
        elif nxt == "ь" and ch in _PL_SOFT:
            out.append(_PL_SOFT[ch])
        elif ch == "л" and nxt in ("і", "ї", "я", "ю", "є"):
            out.append("l")
        else:
            out.append(_PL_LETTERS.get(ch, ch))
    polish = "".join(out)
    return "".join(
        p[:1].upper() + p[1:] if w[:1].isupper() else p
        for p, w in zip(re.split(r"([\s-])", polish), re.split(r"([\s-])", ukrainian), strict=False)
    )
