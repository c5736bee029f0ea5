"""monitor.article.extract: real pages (Mozilla Readability test pages) and hostile input."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("trafilatura", reason="trafilatura not installed (the fetch_article extractor)")

from monitor.article import MAX_TEXT_CHARS, extract  # noqa: E402
from monitor.normalize import html_to_text  # noqa: E402
from tests.test_normalize import SEED_BOILERPLATE

# page -> navigation lines of the page that must not come back as lines of the article
PAGES = {
    "bbc-1": ("Skip to content", "Accessibility Help", "BBC navigation"),
    "guardian-1": ("Contribute Subscribe Contribute", "Show More", "US politics"),
    "ars-1": ("Gaming & Culture", "Forums", "Navigate"),
    "wapo-1": ("Accessibility for screenreader", "Sign In", "Classifieds"),
    "cnn": ("Stockswatch", "Market Movers", "World Markets"),
    "lemonde-1": ("Boutique Le Monde", "Annonces emploi", "Unes du Monde"),
    "seattletimes-1": ("Traffic Lab", "Local Politics", "Boeing & Aerospace"),
    "aclu": ("SIGN UP NOW", "Become a Member", "Enter your keywords"),
}
SEED_FOOTER = tuple(SEED_BOILERPLATE[1:])  # the seed story's footer, without its "free counter" line


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """extract() must never fetch anything: any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("monitor.article tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def test_pages(corpora: Path) -> Path:
    pages = corpora / "mozilla-readability-testpages" / "test" / "test-pages"
    if not pages.is_dir():
        pytest.skip(f"mozilla readability test pages not found at {pages}")
    return pages


@pytest.mark.parametrize("page", sorted(PAGES))
def test_real_page_gives_article_not_navigation(test_pages: Path, page: str) -> None:
    source = (test_pages / page / "source.html").read_bytes()
    expected = html_to_text((test_pages / page / "expected.html").read_text(encoding="utf-8"))
    text = extract(source, url=f"https://example.org/{page}")

    paragraphs = [line for line in expected.split("\n") if len(line.split()) >= 15]
    first, last = " ".join(paragraphs[0].split()[:8]), " ".join(paragraphs[-1].split()[-8:])
    assert _squash(first) in _squash(text)
    assert _squash(last) in _squash(text)
    lines = {_squash(line) for line in text.split("\n")}
    for nav in PAGES[page]:
        assert _squash(nav) not in lines, nav
    assert len(text) <= MAX_TEXT_CHARS
    assert "\n\n" not in text and text == text.strip()


def test_seed_kind_of_boilerplate_is_removed() -> None:
    body = "".join(
        f"<p>Paragraph {i}: Ukrainian forces have continued their advance into the Kharkiv region, pushing "
        f"into the northern, southern and eastern flanks, the military chief wrote on Sunday.</p>"
        for i in range(6)
    )
    footer = "".join(f"<p>{line}</p>" for line in SEED_FOOTER)
    html = f"<html><body><nav><a href='/'>Home</a></nav><article><h1>Ukraine gains</h1>{body}{footer}</article>"
    html += "<footer>free counter</footer></body></html>"
    text = extract(html)
    assert "Paragraph 0: Ukrainian forces" in text and "Paragraph 5: Ukrainian forces" in text
    for line in (*SEED_FOOTER, "free counter"):
        assert line not in text.split("\n"), line


def test_empty_and_non_article_input() -> None:
    assert extract("") == ""
    assert extract(b"") == ""
    assert extract("<html><head><title>x</title></head><body></body></html>") == ""


def test_page_of_only_scripts() -> None:
    script = "<script>var a = '" + "x" * 1000 + "'; document.write('<p>' + a + '</p>');</script>"
    html = "<html><head>" + script * 200 + "</head><body>" + script * 200 + "<style>p{}</style></body></html>"
    assert extract(html) == ""


def test_huge_page_is_bounded() -> None:
    para = "<p>" + "This is a long sentence of the article body that goes on and on. " * 20 + "</p>\n"
    html = "<html><body><article>" + para * (5_000_000 // len(para) + 1) + "</article></body></html>"
    assert len(html) > 5_000_000
    start = time.monotonic()
    text = extract(html.encode("utf-8"))
    assert time.monotonic() - start < 60
    assert 0 < len(text) <= MAX_TEXT_CHARS
    assert text.startswith("This is a long sentence")


def test_deeply_nested_markup_does_not_raise() -> None:
    html = "<html><body>" + "<div>" * 50_000 + "<p>deep</p>" + "</div>" * 50_000 + "</body></html>"
    assert isinstance(extract(html), str)


@pytest.mark.parametrize(
    "data",
    [
        # windows-1251 bytes declared as UTF-8
        (
            "<html><head><meta charset='utf-8'></head><body><article>"
            + "<p>Пример статьи: украинские войска продолжили наступление в Харьковской области.</p>" * 10
            + "</article></body></html>"
        ).encode("cp1251"),
        # UTF-16 without a BOM or declaration
        ("<html><body><p>" + "Some article text in the wrong encoding. " * 30 + "</p></body></html>").encode(
            "utf-16-le"
        ),
        # invalid UTF-8 sequences, NULs and control bytes
        b"<html><body><p>" + bytes(range(256)) * 40 + b"\xff\xfe\x00\xc3\x28</p></body></html>",
    ],
    ids=["cp1251-declared-utf8", "utf16-undeclared", "garbage-bytes"],
)
def test_wrong_encoding_bytes_do_not_raise(data: bytes) -> None:
    text = extract(data)
    assert isinstance(text, str)
    assert len(text) <= MAX_TEXT_CHARS
    assert "\x00" not in text
