"""render: pure Alert -> Message for the text, Slack (mrkdwn) and email (subject, text, HTML) styles, and
digests. Hostile feed text (reliability.md N08, N09, N10, N17, N20) must come out inert in every style."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from monitor.models import Alert
from monitor.render import render, render_digest
from monitor.render_slack import SLACK_MAX, esc_cap

EVIL = "<!channel> <!here> <!everyone> <@U123> <#C999> <!subteam^S1> <https://evil.example|bank.com>"
N08 = "Body <!here> &lt;!everyone&gt; [click](javascript:alert(1)) <mailto:x@y|x>"
N09 = "<https://evil.example/|bank.com>"
N10 = "[click](javascript:alert(1))"
SLACK_LINK = re.compile(r"<([^<>|]*)\|[^<>]*>")


def make_alert(**changes: Any) -> Alert:
    base = Alert(
        alert_id="a1b2c3",
        channel="desk",
        kind="new",
        title="Strike near Izium",
        link="https://news.example.org/a/1",
        sources=("wire", "tg"),
        watch="kharkiv-front",
        terms=("strike", "shelling"),
        places=("Izium", "Kupiansk"),
        excerpt="First paragraph.\nSecond paragraph.",
    )
    return dataclasses.replace(base, **changes)


def hostile(**changes: Any) -> Alert:
    """Every feed-text field carries the N08/N09/N10 payloads."""
    fields: dict[str, Any] = dict(
        title=f"Breaking {EVIL} {N10}", kind="update", sources=(N09, "tg <!here>"), watch="w <@U1>",
        terms=(N08,), places=(N09,), excerpt=f"{N08}\n{N09}\n{N10}\n@channel @here",
        added=(N08, N09), removed=(N10, EVIL),
    )
    return make_alert(**{**fields, **changes})


class _Tags(HTMLParser):
    """Start tags and their attributes, and the text, of an HTML document."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# --- text style -----------------------------------------------------------------------------------------------


def test_render_text_layout() -> None:
    message = render(make_alert(), style="text")
    assert message.title == "Strike near Izium"
    assert message.html is None
    assert message.body == (
        "Source: wire, tg\nhttps://news.example.org/a/1\nWatch: kharkiv-front\n"
        "Matched: strike, shelling · places: Izium, Kupiansk\n\n"
        "First paragraph.\nSecond paragraph.\n\nalert-id: a1b2c3"
    )
def test_render_operator_notice_is_its_lines_without_watch_headers() -> None:
    lines = [f"src{n}: failing, 5 failures in a row, never fetched: connect_error fetching http://x/{n}"
             for n in range(25)]
    notice = make_alert(kind="notice", title="news-monitor: sources 25 failing", link=None, watch="source-health",
                        terms=(), places=(), excerpt="\n".join(lines), alert_id="nm-notice-1")
    message = render(notice, style="text")
    assert message.title == "news-monitor: sources 25 failing"
    assert message.body == "\n".join(lines) + "\n\nalert-id: nm-notice-1"  # every line, no Watch/Source


@pytest.mark.parametrize(
    ("title", "kind", "expected"),
    [
        ("Breaking\r\nBcc: victim@evil.example", "new", "Breaking Bcc: victim@evil.example"),
        ("A\x00B\x1b[31mC", "new", "AB[31mC"),
        ("abc\u202edcba\u2066x\u2069\u200b", "new", "abcdcbax"),
        ("a\x07b\x7fc\x9b", "new", "abc"),
        ("a\u2028b\x85c\x1cd\te", "new", "a b c d e"),
        ("  spaced \n\n out  ", "new", "spaced out"),
        ("Title", "update", "Update: Title"),
        (" \r\n\x00 ", "new", "(untitled)"),
    ],
    ids=[
        "crlf header injection",
        "nul and esc",
        "bidi and zero-width",
        "c0 del c1",
        "unicode line breaks",
        "whitespace collapsed",
        "update prefix",
        "empty title",
    ],
)
def test_render_title_is_one_clean_line(title: str, kind: str, expected: str) -> None:
    assert render(make_alert(title=title, kind=kind), style="text").title == expected


@pytest.mark.parametrize("kind", ["new", "update"])
def test_render_title_capped(kind: str) -> None:
    for style in ("text", "email", "slack"):
        title = render(make_alert(title="word " * 200, kind=kind), style=style).title
        assert len(title) == 250 and title.endswith("…")


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://news.example.org/a/1", True),
        ("http://news.example.org/a?id=1&x=2", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>1</script>", False),
        ("ftp://files.example.org/a", False),
        ("//news.example.org/a", False),
        ("https://news.example.org/a b", False),
        ("https://news.example.org/<!here>", False),
        ("https://news.example.org/\u202ea", False),
        ("http://[::1", False),
        (None, False),
    ],
    ids=[
        "https",
        "http",
        "javascript",
        "javascript mixed case",
        "data",
        "ftp",
        "scheme-relative",
        "space",
        "angle brackets",
        "bidi",
        "broken ipv6",
        "none",
    ],
)
def test_render_link_scheme_filter(link: str | None, shown: bool) -> None:
    lines = render(make_alert(link=link), style="text").body.splitlines()
    assert (link in lines) is shown
    assert not any(word in line.lower() for line in lines for word in ("javascript", "data:"))


def test_render_update_lines() -> None:
    alert = make_alert(
        kind="update", added=("Two more villages.", "A\nbridge fell."), removed=("One village.",)
    )
    body = render(alert, style="text").body
    assert "\n\n+ Two more villages.\n+ A bridge fell.\n- One village.\n\nalert-id: a1b2c3" in body


def test_render_new_alert_ignores_changes() -> None:
    assert "+ x" not in render(make_alert(added=("x",)), style="text").body


def test_render_change_lines_capped() -> None:
    alert = make_alert(kind="update", added=tuple(f"added {i}" for i in range(30)), removed=("gone",))
    lines = [line for line in render(alert, style="text").body.splitlines() if line[:2] in ("+ ", "- ", "… ")]
    assert len(lines) == 20
    assert lines[-1] == "… 12 more changed sentences"


def test_render_excerpt_and_body_capped() -> None:
    long_excerpt = render(make_alert(excerpt="x" * 5000), style="text").body
    assert max(len(line) for line in long_excerpt.splitlines()) == 1000
    alert = make_alert(kind="update", excerpt="y " * 600, added=tuple("z" * 400 for _ in range(25)))
    body = render(alert, style="text").body
    assert len(body) <= 3000
    assert body.endswith("\n\nalert-id: a1b2c3")


def test_render_excerpt_keeps_paragraphs_and_drops_controls() -> None:
    body = render(make_alert(excerpt="One\x1b[2J.\r\n\n\n\nTwo\u202e."), style="text").body
    assert "\n\nOne[2J.\n\nTwo.\n\nalert-id" in body


@pytest.mark.parametrize(
    ("terms", "places", "line"),
    [
        (("strike",), (), "Matched: strike"),
        ((), ("Izium",), "Matched: places: Izium"),
        ((), (), None),
    ],
    ids=["terms only", "places only", "nothing"],
)
def test_render_matched_line(terms: tuple[str, ...], places: tuple[str, ...], line: str | None) -> None:
    lines = render(make_alert(terms=terms, places=places), style="text").body.splitlines()
    assert [x for x in lines if x.startswith("Matched")] == ([line] if line else [])


def test_render_slack_defuses_bare_mass_mentions() -> None:
    alert = make_alert(title="@channel look", excerpt="@here and @Everyone now, mail a@b.example")
    slack, text = render(alert, style="slack"), render(alert, style="text")
    assert not re.search(r"@(channel|here|everyone)", slack.title + slack.body, re.IGNORECASE)
    assert "a@b.example" in slack.body and "@here" in text.body


def test_render_email_is_the_text_body_plus_html_under_a_subject() -> None:
    alert = make_alert(title="@channel <b>x</b>")
    email, text = render(alert, style="email"), render(alert, style="text")
    assert email.body == text.body
    assert email.title == "[news-monitor] high @channel <b>x</b>"
    assert email.html is not None and "&lt;b&gt;x&lt;/b&gt;" in email.html and "<b>x</b>" not in email.html
    assert text.title == "@channel <b>x</b>"  # plain text keeps the characters; apprise's TEXT format escapes


# --- email subjects -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "subject"),
    [
        ({}, "[news-monitor] high Strike near Izium"),
        ({"severity": "critical"}, "[news-monitor] critical Strike near Izium"),
        ({"severity": "info", "kind": "update"}, "[news-monitor] info Update: Strike near Izium"),
        ({"kind": "notice", "title": "sources 3 failing"}, "[news-monitor] notice sources 3 failing"),
        ({"title": "Breaking\r\nBcc: victim@evil.example\r\n\r\nbody"},
         "[news-monitor] high Breaking Bcc: victim@evil.example body"),
        ({"severity": "crit\r\nBcc: x@evil.example"}, "[news-monitor] crit bcc: x@evil.ex… Strike near Izium"),
    ],
    ids=["new", "critical", "update", "notice", "N17 title", "N17 severity"],
)
def test_email_subject(changes: dict[str, Any], subject: str) -> None:
    assert render(make_alert(**changes), style="email").title == subject


def test_email_subject_has_no_control_characters() -> None:
    title = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u2028\u2029\u202e\ufeff end"
    subject = render(make_alert(title=title, severity="hi\x00gh\n"), style="email").title
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202e\ufeff]", subject)


# --- Slack mrkdwn -------------------------------------------------------------------------------------------


def test_slack_layout() -> None:
    alert = make_alert(kind="update", severity="critical", added=("Two more villages.",), removed=("One village.",))
    lines = render(alert, style="slack").body.split("\n")
    assert lines[0] == (":rotating_light: *CRITICAL* · "
                        "*<https://news.example.org/a/1|Update: Strike near Izium>* (news.example.org)")
    assert lines[1:4] == ["*Source:* wire, tg · *Watch:* kharkiv-front",
                          "*Matched:* strike, shelling · places: Izium, Kupiansk", ""]
    assert lines[4:6] == ["> First paragraph.", "> Second paragraph."]
    assert lines[7:10] == ["*What changed*", ":heavy_plus_sign: Two more villages.",
                           ":heavy_minus_sign: ~One village.~"]
    assert lines[-2:] == ["", "alert-id: a1b2c3"]


@pytest.mark.parametrize("field", ["title", "excerpt", "sources", "watch", "terms", "places", "added", "removed"])
def test_slack_feed_text_forms_no_mention_or_link(field: str) -> None:
    """N08/N09/N10: whatever field carries it, no <!…>, <@…>, <#…> and no link but the story's own."""
    value: Any = (N08 + " " + N09 + " " + N10 + " " + EVIL)
    if field in ("sources", "terms", "places", "added", "removed"):
        value = (value,)
    body = render(make_alert(kind="update", **{field: value}), style="slack").body
    assert not re.search(r"<[!@#]", body)
    assert SLACK_LINK.findall(body) == ["https://news.example.org/a/1"]
    assert "&lt;!here&gt;" in body and "&lt;https://evil.example/|bank.com&gt;" in body
    assert "&amp;lt;!everyone&amp;gt;" in body  # pre-escaped text stays text, it is not decoded
    assert "<javascript" not in body  # "[click](javascript:…)" is text, also inside our link's label


def test_slack_all_fields_hostile_at_once() -> None:
    message = render(hostile(), style="slack")
    assert not re.search(r"<[!@#]", message.body)  # the title is not sent to Slack (apprise would escape it)
    assert SLACK_LINK.findall(message.body) == ["https://news.example.org/a/1"]
    assert message.body.count("<") == 1 and message.body.count(">") == 1 + message.body.count("\n>")


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("https://news.example.org/a?x=1&y=2", "https://news.example.org/a?x=1&amp;y=2"),
        ("https://evil.example/|bank.com", "https://evil.example/%7Cbank.com"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>1</script>", None),
        ("https://news.example.org/<!here>", None),
        ("https://news.example.org/" + "a" * 1500, None),
        (None, None),
    ],
    ids=["ampersand", "pipe cannot end the url early", "javascript", "data", "angle brackets", "too long", "none"],
)
def test_slack_link_is_built_from_a_checked_url(link: str | None, target: str | None) -> None:
    first = render(make_alert(link=link, title="A & B"), style="slack").body.split("\n")[0]
    if target is None:
        assert "<" not in first and first.endswith("*A &amp; B*")
    else:
        assert f"*<{target}|A &amp; B>*" in first


def test_slack_operator_notice_is_its_lines() -> None:
    notice = make_alert(kind="notice", title="sources 2 failing <!here>", link=None, watch="source-health",
                        excerpt="src1: failing <@U1>\nsrc2: failing", alert_id="nm-1")
    assert render(notice, style="slack").body == (
        ":gear: *sources 2 failing &lt;!here&gt;*\n\nsrc1: failing &lt;@U1&gt;\nsrc2: failing\n\nalert-id: nm-1")


def test_slack_body_within_one_section_whatever_the_input() -> None:
    """N20: 35,000+ characters of text, much of it '&' (5 characters once escaped), still fit 3,000."""
    alert = hostile(title="&" * 10_000, excerpt=("& < > " * 2000 + "\n") * 5,
                    added=tuple("&" * 5000 for _ in range(30)), alert_id="id-" + "&" * 500)
    body = render(alert, style="slack").body
    assert len(body) <= SLACK_MAX
    assert body.split("\n")[0].startswith(":warning: *HIGH* · *<https://news.example.org/a/1|Update: &amp;&amp;")
    assert "\n…\n\nalert-id: id-&amp;&amp;" in body  # lines that do not fit are dropped whole
    assert not re.search(r"&(?!amp;|lt;|gt;)", body)  # no entity cut in half


@pytest.mark.parametrize("text", ["a & b", "&&&&&&&&&&", "x<y>z" * 50, "plain " * 100, "@here " * 30])
@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_slack_escape_cap(text: str, limit: int) -> None:
    out = esc_cap(text, limit)
    assert len(out) <= limit
    assert not re.search(r"&(?!amp;|lt;|gt;)", out) and "<" not in out and ">" not in out


# --- email HTML -------------------------------------------------------------------------------------------------


def test_email_html_colours_the_diff() -> None:
    alert = make_alert(kind="update", added=("Two more villages.",), removed=("One village.",))
    html = render(alert, style="email").html
    assert html is not None and html.startswith("<!DOCTYPE html>")
    added = re.search(r"<div style='[^']*#16a34a[^']*'><b>\+</b> Two more villages\.</div>", html)
    removed = re.search(r"<div style='[^']*#dc2626[^']*'><b>-</b> <del[^>]*>One village\.</del></div>", html)
    assert added and removed
    assert "alert-id: a1b2c3" in html and '<a href="https://news.example.org/a/1"' in html


def test_email_html_escapes_every_feed_field() -> None:
    message = render(hostile(link="https://news.example.org/a?x=1&y=\"2"), style="email")
    assert message.html is not None
    parsed = _Tags(message.html)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= {"html", "head", "meta", "title", "body", "div", "span", "h1", "h2", "p", "br", "b", "del", "hr"}
    assert "a" not in tags  # the quote makes the link unsafe: no link at all
    assert "<!here>" in "".join(parsed.text) and "javascript:alert(1)" in "".join(parsed.text)  # shown as text


def test_email_html_links_only_checked_urls() -> None:
    for link, href in [("https://n.example/a?x=1&y=2", "https://n.example/a?x=1&y=2"), ("javascript:alert(1)", None)]:
        html = render(make_alert(link=link), style="email").html
        assert html is not None
        hrefs = [attrs.get("href") for tag, attrs in _Tags(html).tags if tag == "a"]
        assert hrefs == ([href, href] if href else [])


def test_email_html_notice() -> None:
    notice = make_alert(kind="notice", title="sources 2 failing", link=None, excerpt="src1: <b>down</b>")
    html = render(notice, style="email").html
    assert html is not None and "NOTICE" in html and "src1: &lt;b&gt;down&lt;/b&gt;" in html
    assert "Watch:" not in html


def test_email_html_is_bounded() -> None:
    """N20: a 35,000-character story still gives a bounded email."""
    message = render(hostile(excerpt="x" * 50_000, added=tuple("y" * 5000 for _ in range(40))), style="email")
    assert message.html is not None and len(message.html) < 20_000 and len(message.body) <= 3000


# --- digests --------------------------------------------------------------------------------------------------


def alerts(count: int, critical: int = 0) -> list[Alert]:
    return [make_alert(alert_id=f"id-{n}", title=f"Story {n}", severity="critical" if n < critical else "high",
                       excerpt=f"Excerpt of story {n}. " * 30) for n in range(count)]


@pytest.mark.parametrize(
    ("count", "critical", "email", "other"),
    [
        (12, 2, "[news-monitor] digest: 12 alerts (2 critical)", "Digest: 12 alerts"),
        (3, 0, "[news-monitor] digest: 3 alerts", "Digest: 3 alerts"),
        (1, 1, "[news-monitor] digest: 1 alert (1 critical)", "Digest: 1 alert"),
    ],
)
def test_digest_titles(count: int, critical: int, email: str, other: str) -> None:
    batch = alerts(count, critical)
    assert render_digest(batch, style="email", digest_id="d").title == email
    assert render_digest(batch, style="text", digest_id="d").title == other
    assert render_digest(batch, style="slack", digest_id="d").title == other


def test_digest_text_items() -> None:
    batch = [make_alert(), make_alert(alert_id="x2", kind="update", title="Other", link=None, severity="critical")]
    body = render_digest(batch, style="text", digest_id="dg-1").body
    assert body == (
        "Digest: 2 alerts (1 critical)\n\n"
        "1. [high] Strike near Izium\n   https://news.example.org/a/1\n   Source: wire, tg · Watch: kharkiv-front\n"
        "   First paragraph. Second paragraph.\n   alert-id: a1b2c3\n\n"
        "2. [critical] Update: Other\n   Source: wire, tg · Watch: kharkiv-front\n"
        "   First paragraph. Second paragraph.\n   alert-id: x2\n\n"
        "digest-id: dg-1\nalert-ids: a1b2c3, x2"
    )


def test_digest_caps_items_at_fifty() -> None:
    batch = alerts(120, critical=5)
    text = render_digest(batch, style="text", digest_id="dg").body
    assert "\n50. [high] Story 49\n" in text and "Story 50" not in text
    assert "\n\n… and 70 more\n\n" in text and len(text) <= 20_000
    html = render_digest(batch, style="email", digest_id="dg").html
    assert html is not None and "Story 49" in html and "Story 50<" not in html and "… and 70 more" in html
    assert "alert-ids: id-0, id-1" in html and len(html) < 120_000


def test_digest_slack_within_one_section() -> None:
    batch = alerts(120, critical=5)
    body = render_digest(batch, style="slack", digest_id="dg-9").body
    shown = len(SLACK_LINK.findall(body))
    assert len(body) <= SLACK_MAX and 5 <= shown < 50
    assert f"\n\n… and {120 - shown} more\n\n" in body
    assert body.startswith(":newspaper: *Digest: 120 alerts (5 critical)*\n\n:rotating_light: *<https://")
    footer = body.rsplit("\n\n", 1)[1]
    assert footer.startswith("digest-id: dg-9\nalert-ids: id-0, id-1, ") and re.search(r"… \(\+\d+\)$", footer)


def test_digest_slack_escapes_feed_text() -> None:
    body = render_digest([hostile(), hostile(link="javascript:alert(1)")], style="slack", digest_id="<!here>").body
    assert not re.search(r"<[!@#]", body)
    assert SLACK_LINK.findall(body) == ["https://news.example.org/a/1"]
    assert "digest-id: &lt;!here&gt;" in body


def test_digest_every_item_carries_its_alert_id() -> None:
    batch = alerts(6)
    for style in ("text", "slack", "email"):
        message = render_digest(batch, style=style, digest_id="dg")
        shown = message.html if style == "email" else message.body
        assert shown is not None
        assert all(shown.count(f"alert-id: id-{n}") == 1 for n in range(6)), style
        assert "digest-id: dg" in shown


def test_digest_of_nothing() -> None:
    message = render_digest([], style="text", digest_id="dg")
    assert message.title == "Digest: 0 alerts" and message.body == "Digest: 0 alerts\n\ndigest-id: dg\nalert-ids: "


# --- links to the status pages' story page (settings.web.public_url) ------------------------------------------

BASE = "https://monitor.example.org"
STORY_PAGE = f"{BASE}/stories/42"


def test_story_page_line_in_text_and_email_text() -> None:
    for style in ("text", "email"):
        lines = render(make_alert(story_id=42), style=style, story_base=BASE).body.splitlines()
        assert lines[:5] == ["Source: wire, tg", "https://news.example.org/a/1", "Watch: kharkiv-front",
                             "Matched: strike, shelling · places: Izium, Kupiansk", f"Story page: {STORY_PAGE}"]


def test_no_story_page_without_a_base_or_a_story() -> None:
    """No public URL, an alert read without its story, or an operator notice: the layout is unchanged."""
    plain = render(make_alert(), style="text")
    for alert, base in [(make_alert(story_id=42), None), (make_alert(), BASE),
                        (make_alert(kind="notice", story_id=None, link=None), BASE)]:
        for style in ("text", "slack", "email"):
            message = render(alert, style=style, story_base=base)
            assert "/stories/" not in message.body + (message.html or ""), (alert, base, style)
    assert render(make_alert(story_id=42), style="text").body == plain.body


def test_slack_history_link() -> None:
    body = render(make_alert(story_id=42), style="slack", story_base=BASE).body
    second = body.split("\n")[1]
    assert second == f"*Source:* wire, tg · *Watch:* kharkiv-front · <{STORY_PAGE}|History>"
    assert SLACK_LINK.findall(body) == ["https://news.example.org/a/1", STORY_PAGE]


@pytest.mark.parametrize("base", ["https://m.example.org/x|<!here>", "javascript:alert(1)",
                                  "https://m.example.org/a b"])
def test_unsafe_story_base_gives_no_link(base: str) -> None:
    """The story URL passes ``safe_link`` like any feed link: nothing else becomes a Slack control or an href."""
    for style in ("text", "slack", "email"):
        message = render(make_alert(story_id=42), style=style, story_base=base)
        assert "Story page" not in message.body and "History" not in message.body
        assert "Story page" not in (message.html or "")


def test_email_html_story_link() -> None:
    html = render(make_alert(story_id=42), style="email", story_base=BASE + "/").html or ""
    hrefs = [attrs.get("href") for tag, attrs in _Tags(html).tags if tag == "a"]
    assert hrefs == ["https://news.example.org/a/1", "https://news.example.org/a/1", STORY_PAGE]
    assert "Story page:" in "".join(_Tags(html).text)


def test_digest_items_link_their_story_pages() -> None:
    alerts = [make_alert(alert_id=f"id-{n}", story_id=n + 1) for n in range(3)]
    pages = [f"{BASE}/stories/{n + 1}" for n in range(3)]
    text = render_digest(alerts, style="text", digest_id="dg", story_base=BASE).body
    assert [line.strip() for line in text.splitlines() if "Story page" in line] == [f"Story page: {p}" for p in pages]
    slack = render_digest(alerts, style="slack", digest_id="dg", story_base=BASE).body
    assert [url for url in SLACK_LINK.findall(slack) if "/stories/" in url] == pages
    html = render_digest(alerts, style="email", digest_id="dg", story_base=BASE).html or ""
    assert [a.get("href") for tag, a in _Tags(html).tags if tag == "a" and "/stories/" in (a.get("href") or "")] \
        == pages


@pytest.mark.parametrize(("kind", "sources", "title"), [
    ("sources", ("kyiv", "blog", "t.me/GeneralStaffZSU"),
     "+3 sources: kyiv, blog, t.me/GeneralStaffZSU — Strike near Izium"),
    ("sources", ("kyiv",), "+1 source: kyiv — Strike near Izium"),
    ("followup", ("kyiv",), "Follow-up: Strike near Izium"),
    ("retraction", ("tg",), "Retracted: Strike near Izium"),
])
@pytest.mark.parametrize("style", ["text", "slack", "email"])
def test_follow_ups_and_retractions_say_what_they_are(kind: str, sources: tuple[str, ...], title: str,
                                                      style: str) -> None:
    alert = make_alert(kind=kind, sources=sources)
    message = render(alert, style=style)
    assert title in message.title or title in message.body
    digest = render_digest([alert], style=style, digest_id="nm-digest-1")
    assert title in digest.body
