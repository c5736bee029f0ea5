"""How many real news items mention "a place" of a gazetteer: the false-hit risk of a bigger gazetteer.

    .venv/bin/python bench/bench_gazetteer_hits.py [OLD_GAZETTEER] [NEW_GAZETTEER]

Reads the 200 real feeds of ../shared/corpora/fastfeedparser-feeds/benchmark_data (world news, several
about the war), and counts the items (title + summary) in which any spelling or word form of any place
occurs (whole words, capitalized), as a watch over a whole oblast or country would see them. Prints the
counts per gazetteer and the most frequent matched forms only the new one finds, to review by eye.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402

from monitor.gazetteer import Gazetteer, fold, place_spellings  # noqa: E402

FEEDS = ROOT.parent / "shared" / "corpora" / "fastfeedparser-feeds" / "benchmark_data"
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_TAGS = re.compile(r"<[^>]+>")


def items(folder: Path = FEEDS) -> Iterator[str]:
    """Title and summary of every entry of every feed, folded."""
    for path in sorted(folder.glob("*.gz")):
        feed = feedparser.parse(gzip.decompress(path.read_bytes()))
        for entry in feed.entries:
            yield fold(f"{entry.get('title', '')}\n{_TAGS.sub(' ', entry.get('summary', ''))}")


def lookup(gazetteer: Gazetteer, area: bool) -> dict[str, str]:
    """Lower-cased form -> the form as stored (first letter capital: matching requires it)."""
    return {f.lower(): f for f in place_spellings(gazetteer, area=area)}


def found(text: str, forms: dict[str, str], longest: int = 4) -> set[str]:
    """Forms occurring in ``text`` as whole words (up to ``longest`` words), capitalized like the form."""
    words = [(m[0], m[0].lower()) for m in _WORD.finditer(text)]
    hits = set()
    for i in range(len(words)):
        for n in range(1, longest + 1):
            if i + n > len(words):
                break
            key = " ".join(w[1] for w in words[i : i + n])
            key = key[:-2] if key.endswith("'s") and key not in forms else key
            if key in forms and words[i][0][:1].isupper():
                hits.add(forms[key])
    return hits


def main(argv: list[str]) -> int:
    old = Gazetteer.load(Path(argv[0])) if argv else None
    new = Gazetteer.load(Path(argv[1])) if len(argv) > 1 else Gazetteer.load()
    texts = list(items())
    counts: dict[str, Counter[str]] = {}
    for label, gazetteer, area in (("old", old, False), ("new", new, False), ("new area", new, True)):
        if gazetteer is None:
            continue
        forms = lookup(gazetteer, area)
        per_form: Counter[str] = Counter()
        stories = 0
        for text in texts:
            hits = found(text, forms)
            stories += bool(hits)
            per_form.update(hits)
        counts[label] = per_form
        print(f"{label:8}: {len(gazetteer)} places, {len(forms)} forms: {stories} of {len(texts)} items name a place")
    for label in ("new", "new area"):
        extra = counts[label] - counts.get("old", Counter())
        print(f"forms only {label} finds, most frequent first:")
        print(", ".join(f"{form} {n}" for form, n in extra.most_common(60)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
