"""Compare ways of finding inflected place names on the labelled set tests/data/morph/place-forms.tsv.

    .venv/bin/python bench/bench_morph.py   (needs the ``gazetteer`` extra: pymorphy3, snowballstemmer, simplemma)

Methods, each given the gazetteer's nominative spellings of the place:
  hand       the run-time regexes of monitor.gazetteer before version 2 (stem + up to 3 Cyrillic letters)
  pymorphy3  exact forms generated at build time by monitor.morph (pymorphy3 uk/ru + Polish hand rules)
  snowball   same Snowball stem (russian for Cyrillic, polish for Latin) as a spelling, capitalized word
  simplemma  a word whose simplemma lemma (uk, ru, pl) equals a spelling, capitalized
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.gazetteer import Gazetteer, fold, spelling_regex  # noqa: E402
from monitor.morph import Morphology, is_ukrainian, polish  # noqa: E402

CASES = ROOT / "tests" / "data" / "morph" / "place-forms.tsv"
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
Method = Callable[[list[str], str], bool]


def load_cases(path: Path = CASES) -> list[tuple[str, str, str, bool]]:
    """(lang, place, text, expected) rows of the labelled set."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, place, text, expected, _note = line.split("\t")
            rows.append((lang, place, text, expected == "1"))
    return rows


def hand(spellings: list[str], text: str) -> bool:
    return any(re.search(spelling_regex(s), fold(text)) for s in spellings)


def exact_forms(morph: Morphology) -> Method:
    def method(spellings: list[str], text: str) -> bool:
        forms = {fold(s) for s in spellings}
        for s in spellings:
            if re.search(r"[\u0400-\u04ff]", s):
                forms |= {fold(f) for f in morph.forms(s)}
        for s in spellings:
            if is_ukrainian(s):
                forms |= {fold(f) for f in polish(s)}
        alternation = "|".join(re.escape(f[:1]) + "(?i:" + re.escape(f[1:]) + ")" for f in forms)
        return re.search(f"(?<!\\w)(?:{alternation})(?:'s)?(?![\\w])(?![-‐]\\w)", fold(text)) is not None

    return method


def _capitalized(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w[:1].isupper()]


def snowball() -> Method:
    import snowballstemmer

    ru, pl = snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("polish")

    def stem(word: str) -> str:
        return str((ru if re.search(r"[\u0400-\u04ff]", word) else pl).stemWord(word.lower()))

    def method(spellings: list[str], text: str) -> bool:
        stems = {stem(fold(s)) for s in spellings}
        return any(stem(w) in stems for w in _capitalized(text))

    return method


def simplemma_method() -> Method:
    import simplemma

    def method(spellings: list[str], text: str) -> bool:
        keys = {fold(s).lower() for s in spellings}
        for word in _capitalized(text):
            lemmas = {str(simplemma.lemmatize(word.lower(), lang=lang)) for lang in ("uk", "ru", "pl")}
            if {lemma.lower() for lemma in lemmas} & keys:
                return True
        return False

    return method


def score(method: Method, cases: Iterable[tuple[str, str, str, bool]], gazetteer: Gazetteer) -> dict[str, float]:
    """Precision, recall and per-language misses of ``method`` over the labelled cases."""
    tp = fp = fn = 0
    for _lang, place, text, expected in cases:
        spellings = list(gazetteer.resolve(place)[0].spellings)
        found = method(spellings, text)
        tp, fp, fn = tp + (found and expected), fp + (found and not expected), fn + (expected and not found)
    return {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "fp": fp, "fn": fn}


def main() -> int:
    gazetteer, cases = Gazetteer.load(), load_cases()
    methods: dict[str, Method] = {"hand": hand, "pymorphy3": exact_forms(Morphology()), "snowball": snowball(),
                                  "simplemma": simplemma_method()}  # fmt: skip
    print(f"{len(cases)} labelled cases ({sum(c[3] for c in cases)} positive)")
    for name, method in methods.items():
        for lang in ("uk", "ru", "pl", "en", None):
            subset = [c for c in cases if lang is None or c[0] == lang]
            start = time.perf_counter()
            s = score(method, subset, gazetteer)
            took = time.perf_counter() - start
            print(f"{name:10} {lang or 'all':3} precision {s['precision']:.3f} recall {s['recall']:.3f} "
                  f"fp {s['fp']:2} fn {s['fn']:2}  ({took:.2f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
