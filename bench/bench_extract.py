"""Article-extraction benchmark on Mozilla Readability's test pages (source.html + expected.html = the article).

Each extractor turns the whole page into text; the expected article (expected.html -> text via
``monitor.normalize.html_to_text``) is the reference. Scores are token-level precision/recall/F1 over a bag of
words (casefolded ``\\w+`` tokens, counted as a multiset) and over word 3-grams. Markdown out.

Needs the candidate extractors, which the main venv may lack:
    python3 -m venv /tmp/extract-venv && /tmp/extract-venv/bin/pip install -e . trafilatura readability-lxml justext
    /tmp/extract-venv/bin/python bench/bench_extract.py [--limit N] [--per-page]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.normalize import html_to_text

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
PAGES = SHARED / "corpora" / "mozilla-readability-testpages" / "test" / "test-pages"
_TOKEN = re.compile(r"\w+")
REAL_PAGE_BYTES = 30_000  # smaller test pages are mostly synthetic feature tests (metadata, hidden nodes...)
FAIL_F1 = 0.5  # a page whose bag-of-words F1 is below this counts as a failed extraction
# jusText needs a stop-word list per language; pages without a lang (or an unknown one) use English.
_JUSTEXT_LANGS = {"en": "English", "cs": "Czech", "de": "German", "es": "Spanish", "fr": "French", "pt": "Portuguese"}


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def prf(got: Counter[str] | Counter[tuple[str, ...]], want: Counter) -> tuple[float, float, float]:
    """Multiset precision, recall, F1 of ``got`` against ``want`` (empty/empty counts as a perfect match)."""
    if not got and not want:
        return 1.0, 1.0, 1.0
    common = sum((got & want).values())
    p = common / max(1, sum(got.values()))
    r = common / max(1, sum(want.values()))
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def trigrams(toks: list[str]) -> Counter[tuple[str, ...]]:
    return Counter(zip(toks, toks[1:], toks[2:], strict=False))


# --- extractors: (html, lang) -> text ---------------------------------------------------------------------------


def ex_naive(html: str, lang: str) -> str:
    return html_to_text(html)


def ex_trafilatura_default(html: str, lang: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def ex_trafilatura_precision(html: str, lang: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""


def ex_trafilatura_recall(html: str, lang: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, favor_recall=True) or ""


def ex_monitor_article(html: str, lang: str) -> str:
    from monitor.article import extract

    return extract(html)


def ex_readability(html: str, lang: str) -> str:
    from readability import Document

    return html_to_text(Document(html).summary(html_partial=True))


def ex_justext(html: str, lang: str) -> str:
    import justext

    stoplist = justext.get_stoplist(_JUSTEXT_LANGS.get(lang.split("-")[0].lower(), "English"))
    paragraphs = justext.justext(html.encode("utf-8"), stoplist, encoding="utf-8")
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


EXTRACTORS: dict[str, Callable[[str, str], str]] = {
    "naive html_to_text (whole page)": ex_naive,
    "trafilatura (default)": ex_trafilatura_default,
    "trafilatura (favor_precision, no comments/tables)": ex_trafilatura_precision,
    "trafilatura (favor_recall, no comments)": ex_trafilatura_recall,
    "readability-lxml": ex_readability,
    "jusText": ex_justext,
    "monitor.article.extract": ex_monitor_article,
}
# Extractors whose output is capped by design are scored against the expected text cut to the same length.
CAPPED = {"monitor.article.extract": 20_000}


@dataclass
class Result:
    f1: list[float] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    r: list[float] = field(default_factory=list)
    f1_3g: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    errors: int = 0
    empty: int = 0
    per_page: dict[str, float] = field(default_factory=dict)
    error_pages: set[str] = field(default_factory=set)
    empty_pages: set[str] = field(default_factory=set)


def load_pages(limit: int | None) -> list[tuple[str, str, str, str]]:
    """(name, source html, expected text, lang) for each test page."""
    out = []
    for d in sorted(p for p in PAGES.iterdir() if (p / "source.html").is_file() and (p / "expected.html").is_file()):
        lang = ""
        meta = d / "expected-metadata.json"
        if meta.is_file():
            lang = json.loads(meta.read_text(encoding="utf-8")).get("lang") or ""
        source = (d / "source.html").read_text(encoding="utf-8", errors="replace")
        expected = html_to_text((d / "expected.html").read_text(encoding="utf-8", errors="replace"))
        out.append((d.name, source, expected, lang))
    return out[:limit] if limit else out


def run(names: list[str], pages: list[tuple[str, str, str, str]]) -> dict[str, Result]:
    results = {name: Result() for name in names}
    for page, source, expected, lang in pages:
        for name in names:
            want = tokens(expected[: CAPPED.get(name, len(expected))])
            want_bag, want_3g = Counter(want), trigrams(want)
            res = results[name]
            start = time.perf_counter()
            try:
                got_text = EXTRACTORS[name](source, lang)
            except Exception as exc:  # noqa: BLE001 - a crash is a scored failure, not a benchmark abort
                print(f"  {name} raised on {page}: {type(exc).__name__}: {exc}", file=sys.stderr)
                got_text, res.errors = "", res.errors + 1
                res.error_pages.add(page)
            res.ms.append((time.perf_counter() - start) * 1000)
            if not got_text.strip():
                res.empty += 1
                res.empty_pages.add(page)
            got = tokens(got_text)
            p, r, f1 = prf(Counter(got), want_bag)
            res.p.append(p)
            res.r.append(r)
            res.f1.append(f1)
            res.f1_3g.append(prf(trigrams(got), want_3g)[2])
            res.per_page[page] = f1
    return results


def subset(results: dict[str, Result], pages: set[str]) -> dict[str, Result]:
    """The same results restricted to ``pages`` (errors/empty are recomputed from the per-page scores)."""
    out = {}
    for name, res in results.items():
        idx = [i for i, page in enumerate(res.per_page) if page in pages]
        sub = Result(
            f1=[res.f1[i] for i in idx],
            p=[res.p[i] for i in idx],
            r=[res.r[i] for i in idx],
            f1_3g=[res.f1_3g[i] for i in idx],
            ms=[res.ms[i] for i in idx],
            errors=sum(1 for page in pages if page in res.error_pages),
            empty=sum(1 for page in pages if page in res.empty_pages),
        )
        out[name] = sub
    return out


def table(results: dict[str, Result], caption: str) -> str:
    lines = [
        caption,
        "",
        "| extractor | mean F1 | median F1 | mean P | mean R | mean 3-gram F1 | failures (err/empty/F1<0.5) "
        "| ms/page mean | ms/page p95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        low = sum(1 for f in res.f1 if f < FAIL_F1)
        p95 = sorted(res.ms)[max(0, round(0.95 * len(res.ms)) - 1)]
        lines.append(
            f"| {name} | {statistics.fmean(res.f1):.3f} | {statistics.median(res.f1):.3f} "
            f"| {statistics.fmean(res.p):.3f} | {statistics.fmean(res.r):.3f} | {statistics.fmean(res.f1_3g):.3f} "
            f"| {low} ({res.errors}/{res.empty}/{low - res.empty}) | {statistics.fmean(res.ms):.1f} | {p95:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only the first N pages")
    ap.add_argument("--only", default="", help="comma-separated substrings of extractor names to run")
    ap.add_argument("--per-page", action="store_true", help="also print each page's F1 per extractor")
    args = ap.parse_args(argv)
    if not PAGES.is_dir():
        print(f"SKIP: corpus not found at {PAGES} (see ../shared/corpora/README.md)")
        return 0
    names = [n for n in EXTRACTORS if not args.only or any(s in n for s in args.only.split(","))]
    available = []
    for name in names:
        try:
            EXTRACTORS[name]("<html><body><p>probe</p></body></html>", "en")
            available.append(name)
        except ImportError as exc:
            print(f"SKIP extractor {name!r}: {exc}")
    pages = load_pages(args.limit)
    results = run(available, pages)
    how = (
        "Bag-of-words token P/R/F1 against expected.html's text; 3-gram F1 over word trigrams; "
        f"failure = exception, empty output or F1 < {FAIL_F1}."
    )
    print(table(results, f"All {len(pages)} mozilla/readability test-pages. {how}"))
    real = {page for page, source, *_ in pages if len(source.encode("utf-8")) >= REAL_PAGE_BYTES}
    print()
    print(table(subset(results, real), f"Real-site pages only (source.html >= {REAL_PAGE_BYTES:,} B): {len(real)}."))
    if CAPPED:
        caps = "; ".join(f"{n} is scored against the expected text cut to {c:,} chars" for n, c in CAPPED.items())
        print(f"\n{caps}.")
    if args.per_page:
        print("\n| page | " + " | ".join(available) + " |\n|---|" + "---|" * len(available))
        for page, *_ in pages:
            print(f"| {page} | " + " | ".join(f"{results[n].per_page[page]:.2f}" for n in available) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
