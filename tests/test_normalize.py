"""Table-driven tests of monitor.normalize: HTML to text, boilerplate, canonical URLs, fingerprints, keys."""

from __future__ import annotations

import html
import unicodedata
from datetime import UTC, datetime

import pytest

from monitor.models import RawItem
from monitor.normalize import (
    _squash,
    _TextCollector,
    canonical_url,
    fingerprint,
    html_to_text,
    normalize,
    strip_boilerplate,
    telegram_identity,
)

PROSE = (
    "Ukrainian forces have continued their advance into the Kharkiv region, pushing into the "
    "region's northern, southern and eastern flanks, the military chief wrote on Sunday."
)
SEED_BOILERPLATE = [
    "free counter",
    "Go deeper:",
    "Read More",
    "Related Articles",
    "Leave a Reply",
    "Your email address will not be published.",
    "Back to top button",
    "Adblock Detected",
    "Please consider supporting us by disabling your ad blocker",
]


@pytest.mark.parametrize(
    ("html_in", "expected"),
    [
        pytest.param("<p>One</p><p>Two</p>", "One\nTwo", id="paragraphs become lines"),
        pytest.param("a<br>b<br/>c", "a\nb\nc", id="br is a line break"),
        pytest.param("<ul><li>one</li><li>two</li></ul>", "one\ntwo", id="list items own lines"),
        pytest.param(
            "<script>var x = 1;</script><style>p {}</style><p>text</p>", "text", id="script dropped",
        ),
        pytest.param("<p>Tom &amp; Jerry&nbsp;&#8217;s &lt;b&gt;</p>", "Tom & Jerry ’s <b>", id="entities"),
        pytest.param("a\x00b\u202ec\u200bd\u2066e\x7ff\ufeffg", "abcdefg", id="NUL and bidi stripped"),
        pytest.param("<p>  a \t  b  </p>", "a b", id="spaces collapsed"),
        pytest.param(
            "<p>• Russia also</p><p>- item</p><p>▪ x</p>", "Russia also\nitem\nx", id="bullets removed",
        ),
        pytest.param("line one\n\n\nline two", "line one\nline two", id="plain text keeps lines"),
        pytest.param("<p>a\nb</p>", "a b", id="newline inside html is a space"),
        pytest.param(
            "<p>Kharkiv <b>region</b> <a href='x'>gains</a></p>", "Kharkiv region gains", id="inline",
        ),
        pytest.param("Cafe\u0301", "Café", id="NFC"),
        pytest.param("<div><p></p><p> </p></div>", "", id="no empty lines"),
        pytest.param(
            "<p>Збройні сили України звільнили Ізюм — «Укрінформ».</p>",
            "Збройні сили України звільнили Ізюм — «Укрінформ».",
            id="Cyrillic untouched",
        ),
    ],
)
def test_html_to_text(html_in: str, expected: str) -> None:
    assert html_to_text(html_in) == expected


@pytest.mark.parametrize(
    "line",
    [
        *SEED_BOILERPLATE,
        "Share this:",
        "Click to share on Twitter (Opens in new window)",
        "Subscribe to our newsletter",
        "Follow us on Telegram",
        "Advertisement",
        "We use cookies to ensure that we give you the best experience on our website. If you continue "
        "to use this site we will assume that you are happy with it.",
        "Cookie policy",
        "Read more: Americans Don’t Want Greenland. Trump Is Convinced He Can Change That",
        "Instagram",
        "Email Address *",
        "[time-brightcove not-tgx=”true”]",
        "Читайте також: Сили оборони звільнили ще одне село на Харківщині",
        "Подписывайтесь на наш Telegram-канал",
        "Підписуйтесь на наш канал у Telegram",
        "The post Ukraine furthers gains in Kharkiv region following major breakthrough appeared first "
        "on Daily News Scraper.",
    ],
)
def test_boilerplate_line_removed(line: str) -> None:
    assert strip_boilerplate(f"{PROSE}\n{line}\n{PROSE}") == f"{PROSE}\n{PROSE}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"{PROSE}\nUkraine\nRussia\nWar in Ukraine", PROSE, id="trailing tag lines dropped"),
        pytest.param(
            f"{PROSE}\nFighting continues.", f"{PROSE}\nFighting continues.", id="short final sentence",
        ),
        pytest.param(
            "[fusion_builder_row][fusion_text columns=”” a=”b c”]Kupiansk retaken [video] [1][/fusion_text]",
            "Kupiansk retaken [video] [1]",
            id="shortcodes removed, plain brackets kept",
        ),
        pytest.param(
            "Explosions in Kharkiv\n@kharkiv_news", "Explosions in Kharkiv\n@kharkiv_news", id="short post",
        ),
        pytest.param(
            "Follow us on the ground as Ukrainian troops push toward Kupiansk, a railway hub that supplies "
            "Russian forces across the Donbas.",
            "Follow us on the ground as Ukrainian troops push toward Kupiansk, a railway hub that supplies "
            "Russian forces across the Donbas.",
            id="long prose kept",
        ),
        pytest.param(
            "Сили оборони продовжують наступ на Харківщині, повідомив Генштаб у неділю вранці, а також "
            "звільнили кілька сіл поблизу Ізюма.",
            "Сили оборони продовжують наступ на Харківщині, повідомив Генштаб у неділю вранці, а також "
            "звільнили кілька сіл поблизу Ізюма.",
            id="Cyrillic prose kept",
        ),
    ],
)
def test_strip_boilerplate(text: str, expected: str) -> None:
    assert strip_boilerplate(text) == expected


def _seed_article_lines(seed_text: str) -> list[str]:
    lines = [line.strip().lstrip("•").strip() for line in seed_text.splitlines() if line.strip()]
    return lines[lines.index("free counter") + 1 : lines.index("Go deeper:")]


def test_seed_boilerplate_removed(seed_text: str) -> None:
    wrapped = "".join(f"<p>{html.escape(line)}</p>" for line in seed_text.splitlines() if line.strip())
    out = strip_boilerplate(html_to_text(wrapped)).split("\n")
    assert not set(out) & set(SEED_BOILERPLATE)
    assert out == _seed_article_lines(seed_text)


def test_seed_normalized_story(seed_text: str) -> None:
    title = seed_text.split("\n")[2]
    item = RawItem(guid=None, link="https://example.org/a?utm_source=x", title=title, html=seed_text)
    story = normalize(item)
    assert story.title == "Ukraine furthers gains in Kharkiv region following major breakthrough"
    assert story.text.split("\n") == _seed_article_lines(seed_text)[1:]  # title line dropped from the text
    assert story.key == "link:https://example.org/a"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://ex.com/a?utm_source=tw&utm_medium=x&id=3", "https://ex.com/a?id=3", id="utm stripped",
        ),
        pytest.param("javascript:alert(1)", None, id="javascript link dropped"),
        pytest.param("mailto:desk@ex.com", None, id="mailto dropped"),
        pytest.param("/news/1", None, id="relative link dropped"),
        pytest.param(None, None, id="None stays None"),
        pytest.param("http://[::1/x", None, id="broken URL is None"),
        pytest.param(
            "HTTPS://WWW.Ex.COM/News/A#top", "https://www.ex.com/News/A", id="host lowercased, fragment",
        ),
        pytest.param("https://ex.com:443/a", "https://ex.com/a", id="default port dropped"),
        pytest.param("http://ex.com:8080/a", "http://ex.com:8080/a", id="other port kept"),
        pytest.param("https://ex.com", "https://ex.com/", id="empty path is /"),
        pytest.param(
            "https://ex.com/a?b=2&fbclid=X&a=1&gclid=Y&ref=rss&mc_cid=1&at_medium=rss&_ga=2&igshid=3&c=%20",
            "https://ex.com/a?b=2&a=1&c=%20",
            id="tracking params dropped, others in order",
        ),
        pytest.param(
            "https://ex.com/новини/1?q=Харків", "https://ex.com/новини/1?q=Харків", id="Cyrillic kept",
        ),
        pytest.param(" https://t.me/s/channel/123 ", "https://t.me/s/channel/123", id="whitespace trimmed"),
    ],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(("T", "Forces entered Izyum."), ("T", "Forces  entered\nIzyum"), True, id="whitespace"),
        pytest.param(
            ("T", "Forces entered Izyum."), ("t", "FORCES ENTERED IZYUM!"), True, id="case and punct",
        ),
        pytest.param(("T", "“a turning point”"), ("T", '"a turning point"'), True, id="quotes"),
        pytest.param(("T", "Сили звільнили Ізюм."), ("t", "сили звільнили ізюм"), True, id="Cyrillic case"),
        pytest.param(("T", "Forces entered Izyum."), ("T", "Forces left Izyum."), False, id="word change"),
        pytest.param(("T", "3,000 km"), ("T", "3,500 km"), False, id="number change"),
    ],
)
def test_fingerprint(a: tuple[str, str], b: tuple[str, str], same: bool) -> None:
    assert (fingerprint(*a) == fingerprint(*b)) is same


WHEN = datetime(2022, 9, 11, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "key"),
    [
        pytest.param(RawItem(" g-1 ", "https://ex.com/a", "T", "x"), "guid:g-1", id="guid key"),
        pytest.param(
            RawItem(None, "https://EX.com/a?utm_x=1", "T", "x"), "link:https://ex.com/a", id="link key",
        ),
        pytest.param(RawItem("", "javascript:x", "T", "x", WHEN), "hash:", id="hash key"),
        pytest.param(RawItem("https://t.me/Chan/5", "https://t.me/Chan/5", "T", "x"), "t.me/chan/5",
                     id="t.me page item"),
        pytest.param(RawItem("https://t.me/chan/5", "https://t.me/chan/5", "[photo]", ""), "t.me/chan/5",
                     id="RSSHub: guid is the link"),
        pytest.param(RawItem("5f1c0e7d8a9b", "https://t.me/s/chan/5?single", "T", "x"), "t.me/chan/5",
                     id="RSS-Bridge: opaque guid, t.me link"),
        pytest.param(RawItem(None, "https://telegram.me/chan/5", "T", "x"), "t.me/chan/5", id="telegram.me link"),
        pytest.param(RawItem("https://t.me/chan", "https://ex.com/a", "T", "x"), "guid:https://t.me/chan",
                     id="t.me without a post id is a plain guid"),
    ],
)
def test_story_key(item: RawItem, key: str) -> None:
    story = normalize(item)
    assert story.key.startswith(key) if key == "hash:" else story.key == key
    if key == "hash:":
        assert len(story.key) == 5 + 32 and story.key == normalize(item).key
        assert story.key != normalize(RawItem(None, None, "T", "x", None)).key


def test_story_key_ignores_the_edited_mark() -> None:
    item = RawItem("https://t.me/chan/5", "https://t.me/chan/5", "T", "x")
    edited = RawItem("https://t.me/chan/5", "https://t.me/chan/5", "T", "x, corrected", edited=True)
    assert normalize(item).key == normalize(edited).key == "t.me/chan/5"


@pytest.mark.parametrize(
    ("value", "identity"),
    [
        pytest.param("https://t.me/chan/123", "t.me/chan/123", id="post link"),
        pytest.param("https://t.me/s/chan/123", "t.me/chan/123", id="preview page link"),
        pytest.param("http://t.me/chan/123?single", "t.me/chan/123", id="http, query"),
        pytest.param("https://telegram.me/chan/123", "t.me/chan/123", id="telegram.me"),
        pytest.param(" HTTPS://WWW.T.ME/Chan_News/0123/#c ", "t.me/chan_news/123", id="case, zeros, fragment"),
        pytest.param("t.me/chan/123", "t.me/chan/123", id="its own output"),
        pytest.param("https://t.me/chan", None, id="channel only"),
        pytest.param("https://t.me/c/1234567/89", None, id="private chat link"),
        pytest.param("https://t.me/chan/12a", None, id="id not a number"),
        pytest.param("https://t.me/chan/" + "9" * 19, None, id="id too long"),
        pytest.param("https://example.org/chan/123", None, id="other host"),
        pytest.param("https://t.me.example.org/chan/123", None, id="look-alike host"),
        pytest.param("chan/123", None, id="bare data-post"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="None"),
    ],
)
def test_telegram_identity(value: str | None, identity: str | None) -> None:
    assert telegram_identity(value) == identity


def test_normalize_fields_and_limits() -> None:
    item = RawItem("g", None, "<b>Izyum</b> &amp; Kupiansk\nretaken", "<p>word " * 50 + "</p>", WHEN)
    story = normalize(item, max_title=12, max_text=40)
    assert story.title == "Izyum &…"
    assert len(story.text) <= 40 and story.text.endswith("word…")
    assert story.published == WHEN and story.url is None
    assert story.fingerprint == fingerprint(story.title, story.text)


def _squash_by_category(text: str) -> str:
    """The definition ``normalize._squash`` implements faster: drop every P*, Z* and C* character."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PZC")


def test_squash_matches_its_definition_over_all_of_unicode() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert _squash(every) == _squash_by_category(every)
    for sample in ("“Forces” entered Izyum—again…", "Сили\u00a0звільнили\u200bІзюм!", "a_b ‿ 3,5 % $ ✓ \U0001f600"):
        assert _squash(sample) == _squash_by_category(sample)


def _through_the_parser(text: str) -> str:
    collector = _TextCollector(keep_newlines=True)
    collector.feed(text)
    collector.close()
    return "".join(collector.parts)


@pytest.mark.parametrize(
    "text", ["plain words, no markup\nsecond line", "tab\there  and\u00a0nbsp > x", "a\r\nb\x00c\u200b", ""]
)
def test_text_without_markup_skips_the_parser(text: str) -> None:
    """Text without "<" or "&" is what the HTML parser would give (so html_to_text may skip it)."""
    assert _through_the_parser(text) == text
