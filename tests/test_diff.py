"""Table-driven tests of monitor.diff: sentence splitting and what a new version adds or removes."""

from __future__ import annotations

import pytest

from monitor.diff import compare, sentences
from monitor.models import Change
from monitor.normalize import fingerprint

TITLE = "Ukraine furthers gains in Kharkiv region following major breakthrough"
P1 = (
    "Ukrainian forces have continued their advance into the Kharkiv region, Ukraine’s military chief "
    "Gen. Valeriy Zaluzhnyi wrote in a Telegram post on Sunday."
)
P2 = (
    "Russia also removed troops from Balakleya and Izyum. Ukrainian forces reached the railway city of "
    "Kupiansk, potentially cutting supplies for Russian forces."
)
P3 = "Fighting continued on Sunday, the U.K. Ministry of Defense noted in an intelligence update."
TEXT = "\n".join([P1, P2, P3])
IZYUM = "Ukrainian forces entered the city of Izyum on Saturday, CNN reported."


SPLITS = {
    "terminators": ("One. Two! Three? Four… Five", ["One.", "Two!", "Three?", "Four…", "Five"]),
    "lines are boundaries": ("Line one\nLine two.", ["Line one", "Line two."]),
    "Gen. is an abbreviation": (P1, [P1]),
    "U.K. is an abbreviation": (P3, [P3]),
    "month abbreviation": ("On Jan. 5 it began. Then it spread.", ["On Jan. 5 it began.", "Then it spread."]),
    "closing quote": ("He said “It is over.” Then he left.", ["He said “It is over.”", "Then he left."]),
    "lowercase continues": ("“Why?” he asked. Nobody knew.", ["“Why?” he asked.", "Nobody knew."]),
    "initial": ("John F. Kennedy spoke. Crowds cheered.", ["John F. Kennedy spoke.", "Crowds cheered."]),
    "decimal number": ("Population 3.5 million. Next", ["Population 3.5 million.", "Next"]),
    "Cyrillic": (
        "Сили оборони звільнили Ізюм. Бої тривають у с. Кам'янка! «Ми йдемо вперед», — сказав він.",
        ["Сили оборони звільнили Ізюм.", "Бої тривають у с. Кам'янка!", "«Ми йдемо вперед», — сказав він."],
    ),
    "empty": ("", []),
}


@pytest.mark.parametrize(("text", "expected"), SPLITS.values(), ids=SPLITS.keys())
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("new_title", "new_text", "expected"),
    [
        pytest.param(TITLE, "\n\n".join([P1, P2, "  " + P3 + "  "]), None, id="whitespace-only edit"),
        pytest.param(
            TITLE.upper(), TEXT.replace(",", "").replace("’", "'"), None, id="punctuation/case-only",
        ),
        pytest.param(
            TITLE, "\n".join([P1, P2, IZYUM, P3]), Change(added=(IZYUM,), removed=()), id="bullet added",
        ),
        pytest.param(
            TITLE,
            TEXT.replace("Zaluzhnyi", "Zaluzhny"),
            None,
            id="typo fix is no change of facts",
        ),
        pytest.param(
            TITLE,
            "\n".join([P1, P3]),
            Change(added=(), removed=tuple(sentences(P2))),
            id="paragraph removed",
        ),
        pytest.param(
            "Ukraine retakes Izyum",
            TEXT,
            Change(added=("Ukraine retakes Izyum",), removed=(TITLE,)),
            id="title edit",
        ),
        pytest.param(
            TITLE,
            "\n".join([P1 + " " + IZYUM, P2, P3]),
            Change(added=(IZYUM,), removed=()),
            id="sentence appended to paragraph",
        ),
    ],
)
def test_compare(new_title: str, new_text: str, expected: Change | None) -> None:
    assert compare(TITLE, TEXT, new_title, new_text) == expected


def test_compare_none_exactly_when_fingerprints_equal() -> None:
    pairs = [(TITLE, TEXT), (TITLE.lower(), TEXT.replace(".", "")), (TITLE, TEXT + " More.")]
    for title, text in pairs:
        same = fingerprint(TITLE, TEXT) == fingerprint(title, text)
        assert (compare(TITLE, TEXT, title, text) is None) is same


def test_compare_cyrillic_sentence_added() -> None:
    old = "Сили оборони звільнили Ізюм."
    new = old + " Бої тривають поблизу Лимана."
    assert compare("Ізюм", old, "Ізюм", new) == Change(added=("Бої тривають поблизу Лимана.",), removed=())


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param("Ukrainian forces entered the city of Izuym on Saturday.",
                     "Ukrainian forces entered the city of Izyum on Saturday.", None, id="place spelling fixed"),
        pytest.param("More than 3,000 square kilometres were returned.",
                     "More than 6,000 square kilometres were returned.",
                     Change(added=("More than 6,000 square kilometres were returned.",),
                            removed=("More than 3,000 square kilometres were returned.",)),
                     id="a changed number is news"),
        pytest.param("Officials said on Sunday evening that Russian forces had withdrew from the town of Balakliia, "
                     "leaving equipment behind.",
                     "Officials said on Sunday evening that Russian forces had withdrew from the town of Balakliia, "
                     "leaving equipment behind in Kupiansk.",
                     Change(added=("Officials said on Sunday evening that Russian forces had withdrew from the town of "
                                   "Balakliia, leaving equipment behind in Kupiansk.",),
                            removed=("Officials said on Sunday evening that Russian forces had withdrew from the town "
                                     "of Balakliia, leaving equipment behind.",)),
                     id="a place added to a long sentence is news"),
        pytest.param("Russian forces withdrew from Balakliia.",
                     "Russian forces withdrew from Balakliia and Kupiansk.",
                     Change(added=("Russian forces withdrew from Balakliia and Kupiansk.",),
                            removed=("Russian forces withdrew from Balakliia.",)),
                     id="a place added to a sentence is news"),
    ],
)
def test_spelling_fixes_are_not_changes(before: str, after: str, expected: Change | None) -> None:
    assert compare("Title", "Lede sentence here.\n" + before, "Title", "Lede sentence here.\n" + after) == expected
