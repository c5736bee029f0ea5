"""parse.parse over hand-written fixtures and the shared real-feed corpora.

Catalogue rows of reliability.md 2.1 appear in the test names or param ids (``F03-...``); F07/F23/F25 (the fetch
side of a feed) live in test_fetch.py, F22/F24 in the pipeline and telegram tests.
"""

from __future__ import annotations

import gzip
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ParseError
from monitor.models import ParseResult
from monitor.parse import parse
from tests.bounds import bounded
from tests.loopback import WebhookReceiver

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://news.example.org/feeds/world.xml"


def _parse(name: str, **kwargs: Any) -> ParseResult:
    return parse((FEEDS / name).read_bytes(), url=URL, **kwargs)


def _rss(items: str, *, head: str = "", encoding: str = "utf-8") -> bytes:
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{head}<rss version="2.0"><channel><title>gen</title>'
        f"<link>https://gen.example.org/</link><description>d</description>\n{items}</channel></rss>\n"
    )
    return doc.encode(encoding)


def _items(n: int) -> str:
    return "".join(f"<item><title>Item {i}</title><guid>g-{i}</guid></item>\n" for i in range(n))


# -- fixtures that parse ---------------------------------------------------------------------------------

OK_CASES = {
    "rss 2.0: content:encoded wins over description": (
        "rss20.xml",
        0,
        {"guid": "wire-1003", "link": "https://news.example.org/world/chkalovske?utm_source=rss",
         "title": "Forces liberate Chkalovske", "html": "<p>Full <b>article</b> text.</p>",
         "published": datetime(2024, 9, 24, 7, 15, tzinfo=UTC)},
    ),
    "rss 2.0: escaped description, entity in title": (
        "rss20.xml",
        1,
        {"guid": "https://news.example.org/economy/gas", "title": "Markets & energy: gas prices fall",
         "html": "<p>Prices <i>fell</i> again.</p>", "published": datetime(2024, 9, 24, 8, 0, tzinfo=UTC)},
    ),
    "rss 2.0: no guid, no date": (
        "rss20.xml",
        2,
        {"guid": None, "link": "https://news.example.org/misc/undated", "published": None,
         "html": "Plain text summary."},
    ),
    "atom: content over summary, published to UTC": (
        "atom.xml",
        0,
        {"guid": "tag:atom.example.org,2024:talks", "link": "https://atom.example.org/2024/09/talks",
         "title": "Ceasefire talks <em>resume</em>", "html": "<p>Delegations met in Geneva.</p>",
         "published": datetime(2024, 9, 24, 9, 30, tzinfo=UTC)},
    ),
    "atom: updated when no published": (
        "atom.xml",
        1,
        {"html": "Only a summary here.", "published": datetime(2024, 9, 23, 6, 0, tzinfo=UTC)},
    ),
    "F10-latin-1 bytes declared utf-8 (charset override is success)": (
        "latin1_declared_utf8.xml",
        0,
        {"title": "café naïve", "html": "crème brûlée"},
    ),
    "F17-javascript: link dropped": ("javascript_link.xml", 0, {"guid": "js-1", "link": None}),
    "F17-data: link dropped": ("javascript_link.xml", 1, {"link": None}),
    "relative link resolved against the feed url": (
        "javascript_link.xml",
        2,
        {"link": "https://news.example.org/relative/path"},
    ),
    "upper-case HTTPS scheme accepted": ("javascript_link.xml", 3, {"link": "https://xss.example.org/ok"}),
    "F17-F18-html in title passes through (normalize cleans it)": (
        "javascript_link.xml",
        0,
        {"title": "<script>alert(1)</script> &lt;!here&gt; headline"},
    ),
    "F11-NUL and control characters pass through (normalize strips them)": (
        "control_chars.xml",
        0,
        {"title": "a\x00b\x01c\x1bd", "link": "https://c.example.org/1"},
    ),
    "Netscape RSS 0.91 DOCTYPE is not an entity declaration": (
        "netscape_doctype.xml",
        0,
        {"title": "Still works", "link": "http://old.example.org/1"},
    ),
}


@pytest.mark.parametrize(("name", "index", "expected"), list(OK_CASES.values()), ids=list(OK_CASES))
def test_item_fields(name: str, index: int, expected: dict[str, Any]) -> None:
    item = _parse(name).items[index]
    for field, value in expected.items():
        assert getattr(item, field) == value, field
    assert item.published is None or item.published.tzinfo is UTC


@pytest.mark.parametrize(
    ("name", "count", "partial", "title"),
    [
        pytest.param("rss20.xml", 3, False, "Example World Wire", id="rss 2.0"),
        pytest.param("atom.xml", 2, False, "Example Atom Desk", id="atom"),
        pytest.param("latin1_declared_utf8.xml", 1, False, "latin", id="F10-charset override is not partial"),
        pytest.param("truncated.xml", 5, True, "trunc", id="F12-truncated half-feed is partial"),
    ],
)
def test_result_shape(name: str, count: int, partial: bool, title: str) -> None:
    result = _parse(name)
    assert (len(result.items), result.partial, result.title) == (count, partial, title)


def test_F12_truncated_feed_keeps_the_entries_before_the_cut() -> None:
    result = _parse("truncated.xml")
    assert [i.guid for i in result.items] == [f"t-{i}" for i in range(5)]


def test_F19_duplicate_guids_keep_the_first_and_never_collapse_missing_ones() -> None:
    result = _parse("duplicate_guids.xml")
    assert [(i.guid, i.title) for i in result.items] == [
        ("same", "one"),
        (None, "three, neither guid nor link"),
        (None, "four, no guid"),
    ]


def test_relative_guid_is_not_resolved_against_the_feed_url() -> None:
    # feedparser resolves a permalink <guid> against content-location; a moved feed would re-key every story.
    first = parse(_rss("<item><title>a</title><guid>wire-17</guid></item>"), url="https://a.example.org/f")
    moved = parse(_rss("<item><title>a</title><guid>wire-17</guid></item>"), url="https://b.example.org/f")
    assert first.items[0].guid == moved.items[0].guid == "wire-17"
    assert first.items[0].link is None  # a non-URL permalink guid is no link


def test_F20_impossible_dates_are_none() -> None:
    items = _parse("impossible_dates.xml").items
    assert {i.title: i.published for i in items} == {
        "impossible": None,
        "far future": None,
        "too old": None,
        "fine": datetime(2002, 10, 2, 13, 0, tzinfo=UTC),
        "garbage": None,
    }


def test_F20_huge_pubdate_is_none() -> None:
    result = parse(_rss(f"<item><title>t</title><pubDate>{'9' * 5000}</pubDate></item>"))
    assert result.items[0].published is None


# -- fixtures that fail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        pytest.param("empty.xml", "application/rss+xml", "empty_body", id="F15-empty body"),
        pytest.param("whitespace.xml", "application/rss+xml", "empty_body", id="F16-whitespace body"),
        pytest.param("login.html", "text/html; charset=utf-8", "not_a_feed", id="F13-html login page"),
        pytest.param("error.json", "application/json", "not_a_feed", id="F14-json error body"),
        pytest.param("entity_quadratic.xml", "", "xml_dtd_rejected", id="quadratic entity"),
        pytest.param("entity_billion_laughs.xml", "", "xml_dtd_rejected", id="billion laughs, 2 levels"),
        pytest.param("billion_laughs_multiline.xml", "", "xml_dtd_rejected", id="F01-billion laughs, one per line"),
        pytest.param("billion_laughs_oneline.xml", "", "xml_dtd_rejected", id="F02-billion laughs, one line"),
        pytest.param("xxe_file.xml", "", "xml_dtd_rejected", id="F05-xxe SYSTEM file entity"),
    ],
)
def test_fixture_is_rejected(name: str, content_type: str, kind: str) -> None:
    with pytest.raises(ParseError) as info:
        _parse(name, content_type=content_type)
    assert info.value.kind == kind
    assert URL in str(info.value)


QUADRATIC = (
    '<?xml version="1.0" encoding="{enc}"?>\n<!DOCTYPE rss [<!{decl} a "' + "a" * 40_000 + '">]>\n'
    "<rss version=\"2.0\"><channel><title>q</title><item><title>t</title><description>"
    + "&a;" * 25_000
    + "</description></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("encoding", "decl"),
    [
        pytest.param("utf-8", "ENTITY", id="F03-utf-8"),
        pytest.param("utf-16", "ENTITY", id="F04-utf-16 with BOM"),
        pytest.param("utf-16-le", "ENTITY", id="F04-utf-16-le without BOM"),
        pytest.param("utf-16-be", "ENTITY", id="F04-utf-16-be without BOM"),
        pytest.param("utf-32", "ENTITY", id="F04-utf-32"),
        pytest.param("utf-32-be", "ENTITY", id="F04-utf-32-be"),
        pytest.param("utf-8", "entity", id="F03-lower-case declaration"),
        pytest.param("utf-8", "Entity", id="F03-mixed-case declaration"),
    ],
)
def test_quadratic_blowup_is_rejected_before_feedparser(encoding: str, decl: str) -> None:
    body = QUADRATIC.format(enc=encoding, decl=decl).encode(encoding)
    with bounded(max_mib=20, max_seconds=1.0), pytest.raises(ParseError) as info:
        parse(body)  # unguarded, feedparser spends 50 s and 2.9 GB on the utf-8 form
    assert info.value.kind == "xml_dtd_rejected"


def test_entity_declared_after_a_long_prolog_comment_is_rejected() -> None:
    padding = "<!-- " + "x" * 300_000 + " -->\n"
    body = _rss("<item><title>&a;</title></item>", head=padding + '<!DOCTYPE rss [<!ENTITY a "b">]>\n')
    with pytest.raises(ParseError) as info:
        parse(body)
    assert info.value.kind == "xml_dtd_rejected"


def test_entity_text_deep_inside_content_is_not_a_declaration() -> None:
    filler = "".join(f"<item><title>filler {i}</title><description>{'z' * 3000}</description></item>"
                     for i in range(100))
    article = "<item><title>XXE explained</title><description><![CDATA[<pre><!ENTITY x SYSTEM ...></pre>]]>" \
              "</description></item>"
    result = parse(_rss(filler + article))
    assert result.items[-1].title == "XXE explained"


def test_F09_deeply_nested_markup_completes_quickly() -> None:
    divs = parse(_rss(f"<item><title>divs</title><description><![CDATA[{'<div>' * 100_000}]]></description></item>"))
    nested = "<item><title>nested</title><guid>n-1</guid>" + "<x>" * 50_000 + "</x>" * 50_000 + "</item>"
    with bounded(max_seconds=10.0):  # 0.5 s on an idle 2-core machine; the fetch deadline is 30 s
        elements = parse(_rss(nested))
    assert divs.items[0].title == "divs" and len(divs.items[0].html) == 200_000
    assert [i.title for i in elements.items] == ["nested"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_rss("<item><title>café naïve</title></item>").replace(b"utf-8", b"x-bogus-42"),
                     id="F10-bogus encoding x-bogus-42"),
        pytest.param(_rss("<item><title>café naïve</title></item>", encoding="utf-16-le"),
                     id="F10-utf-16-le without BOM"),
        pytest.param(_rss("<item><title>café naïve</title></item>", encoding="utf-16"), id="F10-utf-16 with BOM"),
    ],
)
def test_F10_odd_encodings_are_a_success(body: bytes) -> None:
    result = parse(body)
    assert [i.title for i in result.items] == ["café naïve"]
    assert (result.title, result.partial) == ("gen", False)


def test_F17_markup_and_script_links_in_rss() -> None:
    item = _parse("xss_rss.xml").items[0]
    assert item.link is None  # <link>javascript:alert(6)</link>: only http(s) links leave parse
    # Titles and bodies leave parse unsanitised (sanitize_html=False): normalize reduces them to plain text.
    assert item.title == (
        "<script>alert(1)</script><img src=x onerror=alert(2)> &lt;!here&gt; &lt;https://evil.example|click me&gt;"
        " headline"
    )
    assert item.html.startswith('<p onclick="steal()">Body</p><script>alert(7)</script>')


def test_F17_markup_and_script_links_in_atom() -> None:
    item = _parse("xss_atom.xml").items[0]
    assert item.link is None  # <link href="javascript:alert(1)"/>
    assert item.title == "<script>alert(3)</script>Atom headline"
    assert item.html == '<script>alert(4)</script><a href="javascript:alert(5)">link</a> Atom body'


def test_F05_external_dtd_from_a_file_is_never_read(tmp_path: Path) -> None:
    # If feedparser loaded this DTD, &xxe; would expand to the secret; without an <!ENTITY the guard lets it pass.
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY xxe "LOCAL-SECRET-5f3a">', encoding="utf-8")
    head = f'<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n'
    result = parse(_rss("<item><title>X&xxe;X</title><guid>x-1</guid></item>", head=head))
    assert "LOCAL-SECRET" not in repr(result)


@pytest.mark.parametrize(
    ("variant", "kind"),
    [
        pytest.param('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{canary}/xxe">]>', "xml_dtd_rejected",
                     id="F06-external general entity"),
        pytest.param('<!DOCTYPE rss [<!ENTITY % p SYSTEM "{canary}/pe"> %p;]>', "xml_dtd_rejected",
                     id="F06-external parameter entity"),
        pytest.param('<!DOCTYPE rss SYSTEM "{canary}/dtd">', None, id="F06-external DTD"),
    ],
)
def test_F06_xxe_over_http_never_contacts_the_canary(variant: str, kind: str | None) -> None:
    with WebhookReceiver() as canary:
        body = _rss("<item><title>X&xxe;X</title><guid>x-1</guid></item>", head=variant.format(canary=canary.url))
        try:
            parse(body)
            got = None
        except ParseError as exc:
            got = exc.kind
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an $http_proxy
        with direct.open(f"{canary.url}/control", timeout=5) as reply:  # proves the canary answers
            assert reply.status == 200
        assert [r.path for r in canary.requests] == ["/control"]
    assert got == kind


def test_valid_feed_without_items_is_an_empty_success() -> None:
    result = parse(_rss(""))
    assert result == ParseResult(items=(), partial=False, title="gen")


def test_broken_feed_without_entries_is_not_a_feed() -> None:
    body = _rss(_items(4))
    with pytest.raises(ParseError) as info:
        parse(body[: body.index(b"<item>") + 10])
    assert info.value.kind == "not_a_feed"


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        pytest.param("<ttl>60</ttl>", 3600.0, id="60 minutes"),
        pytest.param("<ttl> 15 </ttl>", 900.0, id="padded"),
        pytest.param("<ttl>0</ttl>", 0.0, id="zero"),
        pytest.param("<ttl>10080</ttl>", 7 * 86400.0, id="seven days"),
        pytest.param("<ttl>10081</ttl>", None, id="over seven days"),
        pytest.param(f"<ttl>{'9' * 5000}</ttl>", None, id="5000 digits"),
        pytest.param("<ttl>-5</ttl>", None, id="negative"),
        pytest.param("<ttl>15.5</ttl>", None, id="fraction"),
        pytest.param("<ttl>1e3</ttl>", None, id="exponent"),
        pytest.param("<ttl>soon</ttl>", None, id="words"),
        pytest.param("<ttl>\u0661\u0665</ttl>", None, id="non-ascii digits"),
        pytest.param("<ttl></ttl>", None, id="empty"),
        pytest.param("", None, id="absent"),
    ],
)
def test_rss_ttl_becomes_seconds(ttl: str, expected: float | None) -> None:
    body = _rss(_items(1)).replace(b"<description>d</description>", f"<description>d</description>{ttl}".encode())
    result = parse(body)
    assert result.ttl_seconds == expected
    assert len(result.items) == 1


def test_xml_served_as_text_html_still_parses() -> None:
    result = _parse("rss20.xml", content_type="text/html; charset=utf-8")
    assert len(result.items) == 3 and not result.partial


# -- bounds and input type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "max_items", "expected"),
    [
        pytest.param(300, 200, 200, id="F07-default cap 200"),
        pytest.param(10, 3, 3, id="F07-max_items 3"),
        pytest.param(2, 200, 2, id="fewer than the cap"),
    ],
)
def test_max_items_keeps_the_first_in_document_order(n: int, max_items: int, expected: int) -> None:
    result = parse(_rss(_items(n)), max_items=max_items)
    assert [i.guid for i in result.items] == [f"g-{i}" for i in range(expected)]


def test_duplicates_do_not_count_toward_max_items() -> None:
    items = "<item><title>a</title><guid>dup</guid></item>" * 3 + _items(3)
    result = parse(_rss(items), max_items=3)
    assert [i.guid for i in result.items] == ["dup", "g-0", "g-1"]


def test_F08_long_fields_are_truncated() -> None:
    body = _rss(f"<item><title>{'T' * 20_000}</title><description>{'h' * 300_000}</description></item>")
    item = parse(body).items[0]
    assert (len(item.title), len(item.html)) == (1_000, 200_000)


def test_F08_title_as_large_as_the_fetch_cap_is_truncated_within_bounds() -> None:
    # fetch refuses bodies over 5 MiB (test_fetch: F08 20 MB title), so this is the largest title parse can see.
    body = _rss(f"<item><title>{'A' * 5_000_000}</title><guid>big</guid></item>")
    with bounded(max_mib=64, max_seconds=5.0):
        item = parse(body).items[0]
    assert (item.guid, item.title) == ("big", "A" * 1_000)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("<rss/>", id="F21-xml text"),
        pytest.param(str(FEEDS / "rss20.xml"), id="F21-path string"),
        pytest.param((FEEDS / "rss20.xml").as_uri(), id="F21-file url string"),
    ],
)
def test_F21_str_input_is_refused(value: str) -> None:
    with pytest.raises(TypeError):
        parse(value)  # type: ignore[arg-type]


def test_F21_bytes_that_name_a_local_file_are_never_opened(tmp_path: Path) -> None:
    # feedparser.parse(b"/path") would open() the path; parse() hands it a stream instead.
    secret = tmp_path / "secret.xml"
    secret.write_bytes(_rss("<item><title>LOCAL SECRET</title></item>"))
    with pytest.raises(ParseError) as info:
        parse(str(secret).encode())
    assert info.value.kind == "not_a_feed"


# -- shared corpora --------------------------------------------------------------------------------------


def test_fastfeedparser_benchmark_corpus(corpora: Path) -> None:
    files = sorted((corpora / "fastfeedparser-feeds" / "benchmark_data").glob("*.gz"))
    assert len(files) == 200
    ok, failed = 0, {}
    for path in files:
        try:
            result = parse(gzip.decompress(path.read_bytes()), url=f"https://corpus.example.org/{path.stem}")
        except ParseError as exc:
            failed[path.name] = exc.kind
            continue
        if result.items:
            ok += 1
        else:
            failed[path.name] = "no items"
    assert ok >= 180, failed
    assert set(failed.values()) <= {"empty_body", "not_a_feed", "xml_dtd_rejected"}, failed


KOI8_TEXT = "Привет мир! Ёжик, чай, Москва, Санкт-Петербург."
MINIFLUX = {
    "windows-1251": ("parser/testdata/encoding_WINDOWS-1251.xml", "iBash.Org.Ru", "Цитата #"),
    "koi8-r (xml)": ("xml/testdata/koi8r.xml", "Пример RSS ленты", KOI8_TEXT),
    "koi8-r (encoding)": ("encoding/testdata/koi8r.xml", "Пример RSS ленты", KOI8_TEXT),
    "iso-8859-1 declared": ("parser/testdata/encoding_ISO-8859-1.xml", "Golem.de", "ü"),
    "iso-8859-1 undeclared": ("parser/testdata/no_encoding_ISO-8859-1.xml", "Flux RSS du magazine", "é"),
    "urdu utf-8": ("parser/testdata/urdu_UTF8.xml", "BBC News", "پاکستان"),
    "rdf": ("parser/testdata/rdf_UTF8.xml", "heise online News", "ü"),
    "utf-8 with invalid prolog": ("encoding/testdata/invalid-prolog.xml", "테스트 피드", "Café"),
}


@pytest.mark.parametrize(("rel", "title", "text"), list(MINIFLUX.values()), ids=list(MINIFLUX))
def test_miniflux_encodings(corpora: Path, rel: str, title: str, text: str) -> None:
    path = corpora / "miniflux-testdata" / "internal" / "reader" / rel
    result = parse(path.read_bytes(), url="https://miniflux.example.org/feed")
    assert result.items
    assert title in result.title
    everything = " ".join(f"{i.title} {i.html}" for i in result.items)
    assert text in " ".join(everything.split())


JSON_FEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "Front",
  "items": [
    {"id": "p2", "url": "https://front.example/p2", "title": "Izium retaken",
     "content_html": "<p>Ukrainian forces <b>recaptured</b> Izium.</p>", "date_published": "2022-09-10T18:00:00+03:00"},
    {"id": 1, "url": "javascript:alert(1)", "content_text": "Plain <text> & more", "date_published": "not a date"},
    {"id": "p2", "title": "a repeated id keeps the first"},
    "not an item"
  ]}"""


def test_json_feed_items_go_through_the_same_rules() -> None:
    result = parse(JSON_FEED, content_type="application/feed+json", url="https://front.example/feed.json")
    assert result.title == "Front" and not result.partial
    first, second = result.items
    assert (first.guid, first.link, first.title) == ("p2", "https://front.example/p2", "Izium retaken")
    assert first.html == "<p>Ukrainian forces <b>recaptured</b> Izium.</p>"
    assert first.published == datetime(2022, 9, 10, 15, 0, tzinfo=UTC)
    assert (second.guid, second.link, second.published) == ("1", None, None)  # no javascript: link, no date
    assert second.html == "Plain &lt;text&gt; &amp; more"  # text is escaped, so it stays text


@pytest.mark.parametrize(
    "body",
    [b'{"error": "rate limited"}', b'{"version": "https://jsonfeed.org/version/1", "items": 5}',
     b"{" + b'"a":[' * 100_000, b'{"version": "https://jsonfeed.org/version/1", "items": [}'],
    ids=["json error", "items not a list", "deeply nested", "invalid json"],
)
def test_json_that_is_no_json_feed_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, content_type="application/json")
    assert info.value.kind == "not_a_feed"


def test_rss_with_an_undeclared_prefix_on_every_element_is_read() -> None:
    body = (b'<?xml?xml version="1.0" encoding="UTF-8" ??>\n<rss rss:version=2.0><rss:channel><rss:title>t'
            b"</rss:title><rss:item><rss:title>One</rss:title><rss:guid rss:isPermaLink=true>https://a.example/1"
            b"</rss:guid><rss:ttl>60</rss:ttl></rss:item></rss:channel></rss>")
    result = parse(body, content_type="application/rss+xml")
    assert [(i.title, i.guid) for i in result.items] == [("One", "https://a.example/1")] and result.partial
