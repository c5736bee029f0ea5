"""telegram.parse over a hand-written t.me/s page and the real preview pages of the shared corpora."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.telegram import parse

DATA = Path(__file__).parent / "data" / "telegram"
ANY2FEED = Path("telegram-tme-s/any2feed/test_utils/src/fixtures/telegram_preview")
INFOSCAPE = Path("telegram-tme-s/infoscape")


def _plain(markup: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


def _page(posts: str, *, info: bool = False) -> bytes:
    header = '<div class="tgme_channel_info"><span>c</span></div>' if info else ""
    return f"<!DOCTYPE html><html><body>{header}<section>{posts}</section></body></html>".encode()


def _post(data_post: str, text: str, when: str = "2024-01-02T03:04:05+00:00") -> str:
    return (
        f'<div class="tgme_widget_message js-widget_message" data-post="{data_post}"><div class="bubble">'
        f'<div class="tgme_widget_message_text js-message_text">{text}</div>'
        f'<a class="tgme_widget_message_date" href="#"><time datetime="{when}">t</time></a></div></div>'
    )


# -- hand-written page -------------------------------------------------------------------------------------


def test_posts_are_newest_first_and_service_messages_skipped() -> None:
    result = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua")
    assert [i.guid for i in result.items] == ["frontnews_ua/1210", "frontnews_ua/1203", "frontnews_ua/1201"]
    assert not result.partial and not result.possible_gap


def test_text_post_fields() -> None:
    item = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua").items[1]
    assert item.guid == "frontnews_ua/1203"
    assert item.link == "https://t.me/frontnews_ua/1203"
    assert item.title == "Сили оборони звільнили Чкаловське"
    assert item.published == datetime(2022, 9, 9, 11, 5, tzinfo=UTC)
    assert item.html.startswith("<b>Сили оборони звільнили Чкаловське</b><br>")
    assert '<a href="https://example.org/uk/chkalovske?utm_source=tg">example.org</a>' in item.html
    assert "Деталі &amp; карта" in item.html  # text stays HTML-escaped
    assert "style=" not in item.html and "🇺🇦" in item.html


def test_long_first_line_is_cut_on_a_word_boundary_and_reply_quote_is_not_the_text() -> None:
    item = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua").items[0]
    assert item.title.endswith("розповідають…")
    assert len(item.title) <= 141
    assert item.html.startswith("Оновлення:")  # the quoted reply ("Сили оборони …") is not part of the post
    assert "<br>" in item.html and item.html.endswith("Другий рядок.")


def test_photo_only_post_gets_a_media_title() -> None:
    item = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua").items[2]
    assert (item.title, item.html) == ("[photo]", "")
    assert item.published == datetime(2022, 9, 9, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        pytest.param(b"", "empty_body", id="empty body"),
        pytest.param(b" \n\t ", "empty_body", id="whitespace body"),
        pytest.param(b"<html><body><h1>Looks like something went wrong</h1></body></html>", "not_a_feed",
                     id="error page"),
        pytest.param(b'{"ok": false, "error_code": 429}', "not_a_feed", id="json body"),
        pytest.param(_page('<div class="tgme_widget_message service_message">joined</div>'), "not_a_feed",
                     id="only a service message"),
    ],
)
def test_rejected_pages(body: bytes, kind: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, channel="c", url="https://t.me/s/c")
    assert info.value.kind == kind
    assert "t.me/s/c" in str(info.value)


def test_channel_without_posts_is_an_empty_result() -> None:
    assert parse(_page("", info=True), channel="c").items == ()


@pytest.mark.parametrize(
    ("text", "title"),
    [
        pytest.param("short", "short", id="short"),
        pytest.param("line one<br/>line two", "line one", id="first line only"),
        pytest.param("<br><br>  after blank lines", "after blank lines", id="skips empty lines"),
        pytest.param("word " * 40, ("word " * 28).strip() + "…", id="cut at a word"),
        pytest.param("x" * 300, "x" * 140 + "…", id="no space to cut at"),
        pytest.param("a &amp; b &lt;c&gt;", "a & b <c>", id="entities decoded in title"),
        pytest.param("pretty\n   printed source", "pretty printed source", id="source newlines are spaces"),
    ],
)
def test_title(text: str, title: str) -> None:
    assert parse(_page(_post("c/1", text)), channel="c").items[0].title == title


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), id="offset"),
        pytest.param("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="naive as UTC"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("2999-01-01T00:00:00+00:00", None, id="absurd year"),
    ],
)
def test_published(when: str, expected: datetime | None) -> None:
    assert parse(_page(_post("c/1", "t", when)), channel="c").items[0].published == expected


def test_malformed_data_post_is_skipped_and_ids_sort_numerically() -> None:
    posts = _post("c/9", "nine") + _post("c/10", "ten") + _post("c/abc", "bad") + _post("c/100", "hundred")
    posts += _post("c/²", "superscript") + _post("c/" + "9" * 5000, "huge") + _post("/5", "no channel")
    result = parse(_page(posts, info=True), channel="c")
    assert [i.guid for i in result.items] == ["c/100", "c/10", "c/9"]


def test_str_input_is_refused() -> None:
    with pytest.raises(TypeError):
        parse("<html></html>", channel="c")  # type: ignore[arg-type]


# -- shared corpora ----------------------------------------------------------------------------------------


def test_any2feed_full_page(corpora: Path) -> None:
    body = (corpora / ANY2FEED / "full.html").read_bytes()
    result = parse(body, channel="topwar_official")
    expected_ids = sorted(map(int, re.findall(rb'data-post="topwar_official/(\d+)"', body)), reverse=True)
    assert len(expected_ids) == 12  # the page holds 12 posts
    assert [i.guid for i in result.items] == [f"topwar_official/{n}" for n in expected_ids]
    assert result.title == "Военное обозрение"
    times = sorted(re.findall(rb'datetime="([^"]+)"', body), reverse=True)
    assert [i.published for i in result.items] == [datetime.fromisoformat(t.decode()) for t in times]
    for item in result.items:
        assert item.link == f"https://t.me/{item.guid}"
        assert item.title and item.html and "tgme_" not in item.html
    assert result.items[-1].title == (
        "В Санкт-Петербурге в небо над городом подняли истребители из-за неизвестного объекта в воздухе, "
        "аэропорт Пулково не принимает самолеты…"  # cut after a word, trailing comma dropped
    )


MESSAGES = {
    "message_text": ("topwar_official/70991",
                     "Неопознанный летающий объект замечен в 160 – 200 км от Петербурга"),
    "message_poll": ("it_begin/488", "[poll] Как лучше?"),
    "message_sticker": ("channel/5", "[sticker]"),
    "message_media_round_video": ("bolshiepushki/3495", "[video]"),
    "message_media_forwarded_from": (
        "oper_goblin/22358", "Британская разведка выяснила, почему Ким Чен Ын начал выводить дочку в свет"
    ),
    "message_media_file": ("oper_goblin/16936", None),
    "message_media_photo_and_video": ("anna_news/46908", "Ночью над Белгородом сбили 3 беспилотника"),
    "message_link_preview": ("oper_goblin/22360", "https://vnnews.ru/georgiy-zotov-okkupaciya-volosatym-kr/"),
    "message_link_preview_text_only": ("oper_goblin/22368", None),
    "message_link_preview_video": ("fighter_bomber/11226", "Жениться вам, барин, пора! 😁"),
    "message_voice": ("oper_goblin/939", "Обсудили:"),
    "message_with_from_author": ("channel/4", "test"),
}


@pytest.mark.parametrize(
    ("name", "guid", "title"), [(k, *v) for k, v in MESSAGES.items()], ids=list(MESSAGES)
)
def test_any2feed_single_message(corpora: Path, name: str, guid: str, title: str | None) -> None:
    body = (corpora / ANY2FEED / f"{name}.html").read_bytes()
    (item,) = parse(body, channel=guid.split("/")[0]).items
    assert item.guid == guid
    assert item.link == f"https://t.me/{guid}"
    assert item.published is not None and item.published.tzinfo is UTC
    assert item.title
    if title is not None:
        assert item.title == title


@pytest.mark.parametrize(
    "name",
    ["media_photo", "media_video", "media_cicrle_video", "link_preview", "poll"],
)
def test_any2feed_media_fragment_is_not_a_page(corpora: Path, name: str) -> None:
    with pytest.raises(ParseError) as info:
        parse((corpora / ANY2FEED / f"{name}.html").read_bytes(), channel="c")
    assert info.value.kind == "not_a_feed"


def test_infoscape_page_matches_canon(corpora: Path) -> None:
    canon = json.loads((corpora / INFOSCAPE / "canon_posts.json").read_text(encoding="utf-8"))
    result = parse((corpora / INFOSCAPE / "page.html").read_bytes(), channel="infoscape_test")
    got = {item.link: item for item in result.items}
    assert list(got) == [post["link"] for post in reversed(canon)]
    for post in canon:
        item = got[post["link"]]
        assert item.guid == post["link"].removeprefix("https://t.me/")
        assert item.published == datetime.fromtimestamp(post["timestamp"], tz=UTC)
        assert item.title == post["heading"]
        # canon text appends the photo (<img>) and the quoted reply ("> ..."); the post's own text is line 1
        assert _plain(item.html) == post["text"].split("\n")[0]
