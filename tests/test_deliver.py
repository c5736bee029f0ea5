"""deliver: render tables, and real apprise sends to loopback JSON/Slack receivers and an aiosmtpd sink."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from apprise.plugins.slack import NotifySlack

from monitor import deliver
from monitor.deliver import Channel, _with_defaults, make_channels, render, send
from monitor.errors import DeliveryConfigError
from monitor.models import Alert, Delivery
from tests.loopback import Reply, SmtpSink, WebhookReceiver

SLACK_TOKEN = "TIiajkdnlazkcOXrIdevi7"
SLACK_URL = f"slack://T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}/"
EVIL = "<!channel> <!here> <!everyone> <@U123> <#C999> <!subteam^S1> <https://evil.example|bank.com>"
SLACK_CONTROL = re.compile(r"<[!@#]|<[^<>]*\|[^<>]*>")


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


def channel(url: str, name: str = "desk") -> Channel:
    return make_channels({name: url}, alerts_file=None)[name]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def slack_hook(monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver) -> WebhookReceiver:
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{receiver.url}/services")  # test-only (recipe 4.4)
    return receiver


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


# --- render -------------------------------------------------------------------------------------------------


def test_render_text_layout() -> None:
    message = render(make_alert(), style="text")
    assert message.title == "Strike near Izium"
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
    title = render(make_alert(title="word " * 200, kind=kind), style="email").title
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


def test_render_email_is_plain_text_style() -> None:
    alert = make_alert(title="@channel <b>x</b>")
    assert render(alert, style="email") == render(alert, style="text")
    # escaping belongs to the channel (apprise's TEXT format), so plain text keeps the characters
    assert render(alert, style="text").title == "@channel <b>x</b>"


async def test_poison_alert_is_permanent_failure() -> None:
    broken = make_alert(title=None)  # not a str: render raises
    delivery = await send(make_channels({}, alerts_file=None)["log"], broken)
    assert (delivery.ok, delivery.permanent) == (False, True)
    assert delivery.detail.startswith("render_error:")


# --- make_channels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("json://h/p", "json://h/p?retry=0&cto=5&rto=10"),
        ("json://h/p?rto=30", "json://h/p?rto=30&retry=0&cto=5"),
        (f"{SLACK_URL}#general", f"{SLACK_URL}#general?retry=0&cto=5&rto=10"),
        ("mailto://h?from=a@b.cc&RETRY=2&cto=1&rto=1", "mailto://h?from=a@b.cc&RETRY=2&cto=1&rto=1"),
    ],
    ids=["none given", "rto kept", "slack channel fragment", "all given"],
)
def test_url_defaults(url: str, expected: str) -> None:
    assert _with_defaults(url) == expected


def test_make_channels_builds_log_and_styles(tmp_path: Path) -> None:
    channels = make_channels(
        {
            "desk": SLACK_URL,
            "native": f"https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}",
            "mail": "mailto://127.0.0.1:25?from=alerts@example.com&to=desk@example.com",
            "hook": "json://127.0.0.1:9/hook",
            "ops": " log ",
        },
        alerts_file=tmp_path / "alerts.jsonl",
    )
    assert {name: (c.kind, c.style) for name, c in channels.items()} == {
        "desk": ("apprise", "slack"),
        "native": ("apprise", "slack"),
        "mail": ("apprise", "email"),
        "hook": ("apprise", "text"),
        "ops": ("log", "text"),
        "log": ("log", "text"),
    }
    assert channels["log"].alerts_file == tmp_path / "alerts.jsonl"
    plugin = channels["desk"]._notifier[0]  # type: ignore[index]
    assert (plugin.retry, plugin.socket_connect_timeout, plugin.socket_read_timeout) == (0, 5.0, 10.0)
    assert SLACK_TOKEN not in repr(channels) and SLACK_TOKEN not in str(channels["desk"])


@pytest.mark.parametrize(
    "url", ["slack://secretAAA/secretBBB", "nosuch://secretCCC@host/x", "secretDDD", "mailto://secretEEE"]
)
def test_invalid_url_names_channel_not_url(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeliveryConfigError, match="'desk'") as info:
        make_channels({"ok": "json://127.0.0.1:9/x", "desk": url}, alerts_file=None)
    assert "secret" not in str(info.value)
    assert "secret" not in caplog.text


def test_log_name_is_reserved() -> None:
    with pytest.raises(DeliveryConfigError, match="reserved"):
        make_channels({"log": "json://127.0.0.1:9/x"}, alerts_file=None)


# --- send: JSON webhook -------------------------------------------------------------------------------------


async def test_json_webhook_receives_rendered_message(receiver: WebhookReceiver) -> None:
    alert = make_alert(title=f"Title {EVIL}")
    assert await send(channel(f"json://127.0.0.1:{receiver.port}/hook"), alert) == Delivery(ok=True)
    [request] = receiver.requests
    expected = render(alert, style="text")
    assert request.path == "/hook"
    assert (request.json["title"], request.json["message"]) == (expected.title, expected.body)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (408, False), (404, True), (401, True)],
)
async def test_json_webhook_failure(receiver: WebhookReceiver, status: int, permanent: bool) -> None:
    receiver.script(Reply(status, b"nope"))
    delivery = await send(channel(f"json://127.0.0.1:{receiver.port}/hook"), make_alert())
    assert (delivery.ok, delivery.permanent) == (False, permanent)
    assert str(status) in delivery.detail
    assert len(receiver.requests) == 1  # apprise retries are off: the outbox owns retrying


async def test_connection_refused_is_transient(receiver: WebhookReceiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook?cto=2&rto=2"
    receiver.stop()
    delivery = await send(channel(url), make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)


async def test_dropped_connection_is_transient(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(drop=True))
    delivery = await send(channel(f"json://127.0.0.1:{receiver.port}/hook"), make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)


async def _until_received(receiver: WebhookReceiver, within: float = 5.0) -> None:
    # A plain thread, not the default executor: the test below shrinks that to one busy worker.
    done = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: loop.call_soon_threadsafe(
        done.set_result, receiver.received.wait(within)), daemon=True).start()
    assert await done, "the webhook never received the request"


async def test_slow_webhook_times_out_and_leaves_the_default_executor_free(receiver: WebhookReceiver) -> None:
    receiver.default = Reply(delay=10)  # holds the request; cut short when the receiver stops
    hook = channel(f"json://127.0.0.1:{receiver.port}/hook?rto=30&cto=30")  # apprise itself would wait
    executor = ThreadPoolExecutor(max_workers=1)  # a send in the default executor would take its one worker
    asyncio.get_running_loop().set_default_executor(executor)
    try:
        started = time.monotonic()
        pending = asyncio.create_task(send(hook, make_alert(), timeout=0.5))
        await _until_received(receiver)
        assert await asyncio.wait_for(asyncio.to_thread(lambda: 1), 0.3) == 1  # not queued behind the send
        assert not pending.done()
        delivery = await asyncio.wait_for(pending, 3)
        elapsed = time.monotonic() - started
    finally:
        executor.shutdown(wait=False)
    assert delivery == Delivery(ok=False, permanent=False,
                                detail="timeout after 0.5s (the remote may have received it)")
    assert elapsed < 1.5
    assert [t for t in threading.enumerate() if t.name == "deliver-desk"][0].daemon  # never blocks exit


async def test_send_timeout_defaults_to_the_module_constant(
        receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    assert deliver.SEND_TIMEOUT == 20.0
    monkeypatch.setattr(deliver, "SEND_TIMEOUT", 0.2)
    receiver.default = Reply(delay=10)
    hook = channel(f"json://127.0.0.1:{receiver.port}/hook?rto=30&cto=30")
    delivery = await asyncio.wait_for(send(hook, make_alert()), 3)
    assert (delivery.ok, delivery.permanent, delivery.detail) == (
        False, False, "timeout after 0.2s (the remote may have received it)")


async def test_socket_timeout_inside_the_send_is_not_reported_as_our_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> Delivery:
        raise TimeoutError("socket")

    monkeypatch.setattr(deliver, "_send_log", boom)
    delivery = await asyncio.wait_for(send(channel("log", name="log"), make_alert(), timeout=5), 3)
    assert (delivery.ok, delivery.permanent, delivery.detail) == (False, True, "unexpected: TimeoutError")


# --- send: Slack (real plugin, loopback endpoint) -----------------------------------------------------------


def slack_strings(payload: dict[str, Any]) -> list[str]:
    return [payload.get("text") or "", *(v for a in payload["attachments"] for v in (a["title"], a["text"]))]


async def test_slack_payload_has_no_control_syntax(slack_hook: WebhookReceiver) -> None:
    alert = make_alert(
        title=f"Breaking {EVIL}",
        excerpt=f"Text {EVIL}\n&lt;!everyone&gt; <!everyone> @channel [x](javascript:alert(1))",
        kind="update",
        added=(f"New {EVIL}",),
    )
    assert await send(channel(SLACK_URL), alert) == Delivery(ok=True)
    [request] = slack_hook.requests
    assert request.path == f"/services/T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}"
    assert request.json["mrkdwn"] is False
    for text in slack_strings(request.json):
        assert not SLACK_CONTROL.search(text), text
    assert b"<!" not in request.body and b"<@" not in request.body and b"<#" not in request.body
    assert "&lt;!channel&gt;" in request.json["attachments"][0]["title"]
    assert "alert-id: a1b2c3" in request.json["attachments"][0]["text"]


@pytest.mark.parametrize(
    ("reply", "ok", "permanent"),
    [
        (Reply(200, b"ok"), True, False),
        (Reply(404, b"no_service"), False, True),
        (Reply(403, b"invalid_token"), False, True),
        (Reply(200, b"invalid_payload"), False, False),
        (Reply(500, b"rollup_error"), False, False),
        (Reply(429, b"rate_limited", (("Retry-After", "30"),)), False, False),
    ],
    ids=["ok", "revoked webhook", "invalid token", "ambiguous 200", "server error", "rate limited"],
)
async def test_slack_outcomes(slack_hook: WebhookReceiver, reply: Reply, ok: bool, permanent: bool) -> None:
    slack_hook.script(reply)
    delivery = await send(channel(SLACK_URL), make_alert())
    assert (delivery.ok, delivery.permanent) == (ok, permanent)
    assert len(slack_hook.requests) == 1


async def test_slack_token_never_logged(
    slack_hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_hook.script(Reply(404, b"no_service"))
    failed = await send(channel(SLACK_URL), make_alert())
    sent = await send(channel(SLACK_URL), make_alert())
    assert (failed.ok, sent.ok) == (False, True)
    assert "delivery failed channel=desk" in caplog.text  # the capture did see our own records
    assert SLACK_TOKEN not in caplog.text
    assert SLACK_TOKEN not in failed.detail


# --- send: email into aiosmtpd ------------------------------------------------------------------------------


async def test_email_update_with_alert_id_header(sink: SmtpSink) -> None:
    alert = make_alert(
        alert_id="story:42/rule a&b=c+d%",
        kind="update",
        added=("Two more villages were shelled.",),
        removed=("One village.",),
    )
    assert await send(channel(sink.url(extra="cto=2&rto=2")), alert) == Delivery(ok=True)
    [mail] = sink.messages
    assert mail.message["Subject"] == render(alert, style="email").title == "Update: Strike near Izium"
    assert mail.message["X-Alert-Id"] == alert.alert_id
    body = mail.message.get_content().replace("\r\n", "\n")
    assert "+ Two more villages were shelled.\n- One village." in body
    assert (mail.mail_from, mail.rcpt_tos) == ("alerts@example.com", ("desk@example.com",))


async def test_email_header_injection_adds_no_recipient(sink: SmtpSink) -> None:
    alert = make_alert(title="Breaking\r\nBcc: victim@evil.example\r\n\r\nbody")
    assert (await send(channel(sink.url()), alert)).ok
    [mail] = sink.messages
    assert mail.rcpt_tos == ("desk@example.com",)
    assert "Bcc" not in mail.message and "Cc" not in mail.message
    assert mail.message["Subject"] == "Breaking Bcc: victim@evil.example body"


async def test_email_451_on_data_is_transient(sink: SmtpSink) -> None:
    sink.fail_data()
    delivery = await send(channel(sink.url(extra="cto=2&rto=2")), make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert sink.messages == []


async def test_email_550_on_rcpt_fails(sink: SmtpSink) -> None:
    sink.fail_rcpt()
    delivery = await send(channel(sink.url(extra="cto=2&rto=2")), make_alert())
    assert not delivery.ok
    # apprise 2.3.0 logs SMTP reply codes only at DEBUG (pinned off): a lone refused recipient is "unknown"
    assert delivery.permanent is False
    assert sink.messages == []


async def test_email_server_down_fails_fast(sink: SmtpSink) -> None:
    mail_channel = channel(sink.url(extra="cto=2&rto=2"))
    sink.stop()
    started = time.monotonic()
    delivery = await send(mail_channel, make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert time.monotonic() - started < 3


# --- send: built-in log channel -----------------------------------------------------------------------------


async def test_log_channel_writes_json_lines_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state" / "sub" / "alerts.jsonl"
    log_channel = make_channels({}, alerts_file=path)["log"]
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    first, second = make_alert(alert_id="one"), make_alert(alert_id="two", title="Second\nline\u2028x")
    assert (await send(log_channel, first)).ok and (await send(log_channel, second)).ok
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 3
    assert json.loads(lines[0]) == json.loads(json.dumps(dataclasses.asdict(first)))
    assert json.loads(lines[1])["title"] == "Second\nline\u2028x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = [r for r in caplog.records if r.name == "monitor.alerts"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    text = records[1].getMessage()
    assert text.startswith("ALERT Second line x\n  Source: wire, tg\n") and text.endswith("\n  alert-id: two")


async def test_log_channel_tightens_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text("", encoding="utf-8")
    path.chmod(0o644)
    assert (await send(make_channels({}, alerts_file=path)["log"], make_alert())).ok
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_log_channel_unwritable_file_is_transient_failure(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory", encoding="utf-8")
    log_channel = make_channels({}, alerts_file=tmp_path / "blocker" / "alerts.jsonl")["log"]
    delivery = await send(log_channel, make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert delivery.detail.startswith("alerts_file:")


async def test_log_channel_without_file_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    assert await send(make_channels({}, alerts_file=None)["log"], make_alert()) == Delivery(ok=True)
    assert "ALERT Strike near Izium" in caplog.text
