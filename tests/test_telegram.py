"""telegram.parse over hand-written t.me/s pages and the real preview pages of the shared corpora; post_id,
page_url, and the identity a post keeps through RSSHub and RSS-Bridge mirrors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import parse as feed
from monitor.errors import ParseError
from monitor.models import RawItem
from monitor.normalize import normalize, telegram_identity
from monitor.telegram import page_url, parse, post_id

DATA = Path(__file__).parent / "data" / "telegram"
ANY2FEED = Path("telegram-tme-s/any2feed/test_utils/src/fixtures/telegram_preview")
INFOSCAPE = Path("telegram-tme-s/infoscape")


def _plain(markup: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


def _page(posts: str, *, info: bool = False) -> bytes:
    header = '<div class="tgme_channel_info"><span>c</span></div>' if info else ""
    return f"<!DOCTYPE html><html><body>{header}<section>{posts}</section></body></html>".encode()


def _post(data_post: str, text: str, when: str = "2024-01-02T03:04:05+00:00", meta: str = "") -> str:
    return (
        f'<div class="tgme_widget_message js-widget_message" data-post="{data_post}"><div class="bubble">'
        f'<div class="tgme_widget_message_text js-message_text">{text}</div><span class="tgme_widget_message_meta">'
        f'{meta}<a class="tgme_widget_message_date" href="#"><time datetime="{when}">t</time></a></span></div></div>'
    )


def _link(data_post: str) -> str:
    return f"https://t.me/{data_post}"


# -- hand-written page -------------------------------------------------------------------------------------


def test_posts_are_newest_first_and_service_messages_skipped() -> None:
    result = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua")
    assert [i.guid for i in result.items] == [_link("frontnews_ua/1210"), _link("frontnews_ua/1203"),
                                              _link("frontnews_ua/1201")]
    assert not result.partial and not result.possible_gap


def test_text_post_fields() -> None:
    item = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua").items[1]
    assert item.guid == item.link == "https://t.me/frontnews_ua/1203"
    assert (item.forwarded_from, item.reply_to, item.edited) == (None, None, False)
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
    assert item.reply_to == "https://t.me/frontnews_ua/1203"  # the answered post, from the reply header


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
    assert [i.guid for i in result.items] == [_link("c/100"), _link("c/10"), _link("c/9")]


def test_str_input_is_refused() -> None:
    with pytest.raises(TypeError):
        parse("<html></html>", channel="c")  # type: ignore[arg-type]


# -- forwards, albums, polls, replies, edits, documents (hand-written) -------------------------------------


def _features() -> dict[int, RawItem]:
    items = parse((DATA / "features.html").read_bytes(), channel="frontnews_ua").items
    return {post_id(item) or 0: item for item in items}


def test_forward_origin_is_the_name_as_shown() -> None:
    items = _features()
    assert items[1220].forwarded_from == "Генеральний штаб ЗСУ"  # whitespace collapsed, the author left out
    assert items[1220].title == "Загальні бойові втрати противника станом на ранок"
    assert [i for i, item in items.items() if item.forwarded_from] == [1220]


def test_album_without_text_is_one_item() -> None:
    items = _features()
    assert sorted(items) == [1220, 1221, 1224, 1225, 1226, 1227]  # 1222 and 1223 are the album's other photos
    assert (items[1221].title, items[1221].html) == ("[album]", "")


def test_poll_question_and_options_are_the_text_without_the_changing_counts() -> None:
    item = _features()[1224]
    assert item.title == "[poll] Чи вірите ви в звільнення Ізюму до зими?"
    story = normalize(item)
    assert story.text.split("\n") == ["Чи вірите ви в звільнення Ізюму до зими?", "Так & швидше", "Ні 🤔"]
    assert "%" not in item.html and "312" not in item.html and "Anonymous" not in item.html


def test_reply_to_a_deleted_post_has_no_link_and_no_quote() -> None:
    item = _features()[1225]
    assert item.reply_to is None
    assert item.html == "Уточнення до видаленого повідомлення"  # "Deleted message" is the quote's, not ours


def test_edited_mark_next_to_a_signature() -> None:
    items = _features()
    assert [i for i, item in items.items() if item.edited] == [1226]
    assert "Олена" not in items[1226].html


def test_document_without_text_is_titled_by_its_name() -> None:
    item = _features()[1227]
    assert (item.title, item.html) == ("[file] zvit_10.09.pdf", "zvit_10.09.pdf")


@pytest.mark.parametrize(
    ("meta", "edited"),
    [
        pytest.param("", False, id="plain date"),
        pytest.param("edited&nbsp;", True, id="edited"),
        pytest.param("изменено ", True, id="edited, localized"),
        pytest.param('<span class="tgme_widget_message_from_author">edited by Bot</span>,&nbsp;', False,
                     id="signature that says edited"),
    ],
)
def test_edited_is_text_beside_the_date(meta: str, edited: bool) -> None:
    assert parse(_page(_post("c/1", "t", meta=meta)), channel="c").items[0].edited is edited


def test_an_edit_is_a_new_version_of_the_same_story() -> None:
    (before,) = parse(_page(_post("Chan/7", "Ізюм під контролем ЗСУ")), channel="Chan").items
    (after,) = parse(_page(_post("Chan/7", "Ізюм під повним контролем ЗСУ", meta="edited ")), channel="Chan").items
    assert (before.edited, after.edited) == (False, True)
    old, new = normalize(before), normalize(after)
    assert old.key == new.key == "t.me/chan/7"
    assert old.fingerprint != new.fingerprint


# -- identity through mirrors, post ids, backfill pages ----------------------------------------------------


def test_direct_page_and_mirrors_give_the_same_story_keys() -> None:
    direct = parse((DATA / "uk_channel.html").read_bytes(), channel="frontnews_ua").items
    rsshub = feed.parse((DATA / "rsshub.xml").read_bytes()).items
    bridge = feed.parse((DATA / "rssbridge.xml").read_bytes()).items
    expected = ["t.me/frontnews_ua/1210", "t.me/frontnews_ua/1203", "t.me/frontnews_ua/1201"]
    for items in (direct, rsshub, bridge):
        assert [normalize(item).key for item in items] == expected
        assert [post_id(item) for item in items] == [1210, 1203, 1201]
    assert telegram_identity(direct[0].reply_to) == expected[1]


@pytest.mark.parametrize(
    ("guid", "link", "number"),
    [
        pytest.param("https://t.me/chan/123", "https://t.me/chan/123", 123, id="direct page item"),
        pytest.param("5f1c0e7d8a9b", "https://t.me/s/chan/124?single", 124, id="opaque guid, link"),
        pytest.param(None, "https://telegram.me/chan/125", 125, id="telegram.me"),
        pytest.param("http://t.me/chan/0126", None, 126, id="leading zero"),
        pytest.param("https://t.me/chan/0", None, None, id="no message has id 0"),
        pytest.param("guid-1", "https://example.org/chan/127", None, id="not telegram"),
        pytest.param("https://t.me/c/1234567/89", None, None, id="private chat link"),
        pytest.param("https://t.me/chan", None, None, id="channel only"),
        pytest.param(None, None, None, id="nothing"),
    ],
)
def test_post_id(guid: str | None, link: str | None, number: int | None) -> None:
    assert post_id(RawItem(guid, link, "t", "")) == number


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://t.me/s/chan", "https://t.me/s/chan?before=500", id="t.me/s"),
        pytest.param("http://127.0.0.1:8123/s/chan", "http://127.0.0.1:8123/s/chan?before=500", id="loopback"),
        pytest.param("https://t.me/s/chan?before=900", "https://t.me/s/chan?before=500", id="before replaced"),
        pytest.param("https://t.me/s/chan?after=100&q=%23Izium", "https://t.me/s/chan?q=%23Izium&before=500",
                     id="after dropped, query kept as written"),
        pytest.param("https://m.example/s/chan/?a=1&&before=1&b=#top", "https://m.example/s/chan/?a=1&b=&before=500",
                     id="empty pairs and fragment dropped"),
    ],
)
def test_page_url(url: str, expected: str) -> None:
    assert page_url(url, before=500) == expected


@pytest.mark.parametrize(
    ("url", "before"),
    [("ftp://t.me/s/chan", 5), ("/s/chan", 5), ("https://t.me/s/chan", 0), ("https://t.me/s/chan", True)],
    ids=["ftp", "relative", "zero", "bool"],
)
def test_page_url_refuses(url: str, before: int) -> None:
    with pytest.raises(ValueError):
        page_url(url, before=before)


# -- shared corpora ----------------------------------------------------------------------------------------


def test_any2feed_full_page(corpora: Path) -> None:
    body = (corpora / ANY2FEED / "full.html").read_bytes()
    result = parse(body, channel="topwar_official")
    expected_ids = sorted(map(int, re.findall(rb'data-post="topwar_official/(\d+)"', body)), reverse=True)
    assert len(expected_ids) == 12  # the page holds 12 posts
    assert [i.guid for i in result.items] == [_link(f"topwar_official/{n}") for n in expected_ids]
    assert result.title == "Военное обозрение"
    times = sorted(re.findall(rb'datetime="([^"]+)"', body), reverse=True)
    assert [i.published for i in result.items] == [datetime.fromisoformat(t.decode()) for t in times]
    for item in result.items:
        assert item.link == item.guid
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
    assert item.guid == item.link == _link(guid)
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
        assert item.guid == post["link"]
        assert item.published == datetime.fromtimestamp(post["timestamp"], tz=UTC)
        assert item.title == post["heading"]
        # canon text appends the photo (<img>) and the quoted reply ("> ..."); the post's own text is line 1
        assert _plain(item.html) == post["text"].split("\n")[0]


def _any2feed(corpora: Path, name: str) -> RawItem:
    body = (corpora / ANY2FEED / f"{name}.html").read_bytes()
    (item,) = parse(body, channel="x").items
    return item


@pytest.mark.parametrize(
    ("name", "origin"),
    [
        ("message_media_forwarded_from", "Пул N3"),
        ("message_media_file", "Кремлёвская прачка"),
        ("message_voice", "Спортивный Екб"),  # a hidden sender: the name is a <span>, not a link
        ("message_text", None),
        ("message_with_from_author", None),
    ],
)
def test_any2feed_forwarded_from(corpora: Path, name: str, origin: str | None) -> None:
    assert _any2feed(corpora, name).forwarded_from == origin


def test_any2feed_full_page_forwards_and_albums(corpora: Path) -> None:
    body = (corpora / ANY2FEED / "full.html").read_bytes()
    items = {post_id(item): item for item in parse(body, channel="topwar_official").items}
    forwards = {n: item.forwarded_from for n, item in items.items() if item.forwarded_from}
    assert forwards == {70996: "Военкор Ярем", 70998: "БелВПО", 71006: "Старше Эдды", 71007: "Пул N3",
                        71008: "ImpNavigator"}
    album_parts = {int(n) for n in re.findall(rb'href="https://t.me/topwar_official/(\d+)\?single"', body)}
    assert album_parts == {70992, 70993, 70994, *range(71000, 71006)}
    assert album_parts & set(items) == {70992, 71000}  # each album is one item, under its first id
    assert items[71000].title.startswith("Последствия ночного удара БПЛА-камикадзе ВСУ по нефтебазе в Туапсе")
    assert not any(item.edited or item.reply_to for item in items.values())


def test_any2feed_album_is_one_item_with_its_caption(corpora: Path) -> None:
    item = _any2feed(corpora, "message_media_photo_and_video")
    assert post_id(item) == 46908  # not 46909/46910, the album's other media
    assert item.title == "Ночью над Белгородом сбили 3 беспилотника"
    assert normalize(item).text.startswith("Они упали на улицы города.\nСообщается, что на себе БПЛА несли")


def test_any2feed_poll_question_and_options(corpora: Path) -> None:
    item = _any2feed(corpora, "message_poll")
    assert normalize(item).text.split("\n") == [
        "Как лучше?", "Несколько постов в день", "Один пост в несколько дней", "Свой вариант в комментарии"
    ]
    assert "%" not in item.html


def test_any2feed_captions_are_the_text_and_previews_are_not(corpora: Path) -> None:
    document = _any2feed(corpora, "message_media_file")
    assert document.title.startswith("Центр изучения новых коммуникаций подготовил исследование")
    assert "медиапроекты.pdf" not in document.html  # the file name only titles a post without text
    preview = _any2feed(corpora, "message_link_preview_video")
    assert "Shalnyak" not in preview.html and "Дядь" not in preview.html  # the linked page's preview
    assert '<a href="https://t.me/shalnyak/5410">' in preview.html


@pytest.mark.parametrize("name", [k for k in MESSAGES if k != "message_link_preview_video"])
def test_any2feed_not_edited(corpora: Path, name: str) -> None:
    assert _any2feed(corpora, name).edited is False


def test_any2feed_edited(corpora: Path) -> None:
    assert _any2feed(corpora, "message_link_preview_video").edited is True


def test_infoscape_reply_links_the_answered_post(corpora: Path) -> None:
    result = parse((corpora / INFOSCAPE / "page.html").read_bytes(), channel="infoscape_test")
    replies = {item.link: item.reply_to for item in result.items if item.reply_to}
    assert replies == {"https://t.me/infoscape_test/7": "https://t.me/infoscape_test/2"}
    (answer,) = (item for item in result.items if item.reply_to)
    assert "простое сообщение" not in answer.html  # the quoted post is never this post's text
