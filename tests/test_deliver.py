"""deliver: real apprise sends to loopback JSON/Slack receivers and an aiosmtpd sink, of alerts and digests.

Rendering itself is tested in test_render.py; here what arrives is checked: the Slack payload (mrkdwn
unchanged, feed text escaped), the multipart email and its headers, the log channel's file.
"""

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
from monitor.deliver import Channel, _with_defaults, make_channels, send, send_digest
from monitor.errors import DeliveryConfigError
from monitor.models import Delivery
from monitor.render import render, render_digest
from tests.loopback import Reply, SmtpSink, WebhookReceiver
from tests.test_render import make_alert

SLACK_TOKEN = "TIiajkdnlazkcOXrIdevi7"
SLACK_URL = f"slack://T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}/"
EVIL = "<!channel> <!here> <!everyone> <@U123> <#C999> <!subteam^S1> <https://evil.example|bank.com>"
SLACK_CONTROL = re.compile(r"<[!@#]|<[^<>]*\|[^<>]*>")
SLACK_LINK = re.compile(r"<([^<>|]*)\|[^<>]*>")
N08 = "Body <!here> &lt;!everyone&gt; [click](javascript:alert(1)) <mailto:x@y|x>"
N09 = "<https://evil.example/|bank.com>"
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # any control but tab, in a header value


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


# --- render errors ---------------------------------------------------------------------------------------


async def test_poison_digest_is_permanent_failure() -> None:
    log_channel = make_channels({}, alerts_file=None)["log"]
    delivery = await send_digest(log_channel, [make_alert(), make_alert(title=None)], "d")
    assert (delivery.ok, delivery.permanent) == (False, True)
    assert delivery.detail.startswith("render_error:")


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
    assert plugin.use_blocks and channels["native"]._notifier[0].use_blocks  # type: ignore[index]
    assert channels["desk"].url.endswith("?retry=0&cto=5&rto=10&blocks=yes")
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


def section(payload: dict[str, Any]) -> dict[str, str]:
    """The text object of the one Block Kit section (apprise's ``blocks=yes`` payload)."""
    [attachment] = payload["attachments"]
    [text] = [block["text"] for block in attachment["blocks"] if block["type"] == "section"]
    assert not any(block["type"] == "header" for block in attachment["blocks"])  # no title sent
    return dict(text)


async def test_slack_mrkdwn_arrives_unchanged_and_inert(slack_hook: WebhookReceiver) -> None:
    """N08/N09/N10 in every feed field: the payload is our mrkdwn as rendered, with our link and no other."""
    alert = make_alert(
        title=f"Breaking {EVIL} {N08}",
        excerpt=f"Text {EVIL}\n&lt;!everyone&gt; <!everyone> @channel [x](javascript:alert(1))\n{N09}",
        kind="update", added=(f"New {EVIL}", N08), removed=(N09,), sources=(N09,), severity="critical",
    )
    assert await send(channel(SLACK_URL), alert) == Delivery(ok=True)
    [request] = slack_hook.requests
    assert request.path == f"/services/T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}"
    text = section(request.json)
    assert text == {"type": "mrkdwn", "text": render(alert, style="slack").body}
    assert b"<!" not in request.body and b"<@" not in request.body and b"<#" not in request.body
    assert SLACK_LINK.findall(text["text"]) == ["https://news.example.org/a/1"]  # N09: no disguised link
    assert "<javascript" not in text["text"] and "&lt;!here&gt;" in text["text"]  # N10, N08
    assert text["text"].startswith(":rotating_light: *CRITICAL* · *<https://news.example.org/a/1|Update: Breaking")
    assert text["text"].endswith("\n\nalert-id: a1b2c3")
    assert request.json["attachments"][0]["color"] == "#A32037"  # apprise's "failure" colour for critical


async def test_slack_link_arrives_as_a_link(slack_hook: WebhookReceiver) -> None:
    alert = make_alert(link="https://news.example.org/a?id=1&x=2|y", title="A & B")
    assert (await send(channel(SLACK_URL), alert)).ok
    first = section(slack_hook.requests[0].json)["text"].split("\n")[0]
    assert first == ":warning: *HIGH* · *<https://news.example.org/a?id=1&amp;x=2%7Cy|A &amp; B>* (news.example.org)"


async def test_slack_without_blocks_gets_plain_escaped_text(slack_hook: WebhookReceiver) -> None:
    """A URL that turns Block Kit off cannot carry our mrkdwn unchanged: it gets the text style, all escaped."""
    desk = channel(f"{SLACK_URL}?blocks=no")
    assert desk.style == "text"
    assert await send(desk, make_alert(title=f"Breaking {EVIL}", excerpt=N08)) == Delivery(ok=True)
    [request] = slack_hook.requests
    assert request.json["mrkdwn"] is False
    attachment = request.json["attachments"][0]
    for text in (attachment["title"], attachment["text"]):
        assert not SLACK_CONTROL.search(text), text
    assert "&lt;!channel&gt;" in attachment["title"] and "alert-id: a1b2c3" in attachment["text"]


async def test_slack_digest(slack_hook: WebhookReceiver) -> None:
    batch = [make_alert(alert_id=f"id-{n}", title=f"Story {n} <!here>", severity="critical" if n == 0 else "high")
             for n in range(60)]
    assert await send_digest(channel(SLACK_URL), batch, "dg-1") == Delivery(ok=True)
    [request] = slack_hook.requests
    text = section(request.json)["text"]
    assert text == render_digest(batch, style="slack", digest_id="dg-1").body
    assert len(text) <= 3000 and "<!" not in text
    assert text.startswith(":newspaper: *Digest: 60 alerts (1 critical)*")
    assert re.search(r"\n\n… and \d+ more\n\ndigest-id: dg-1\nalert-ids: id-0, id-1, ", text)


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
    # pytest also hooks non-propagating loggers; apprise's own DEBUG lines (which hold the token) reach no
    # handler of ours: apprise does not propagate, and only its warnings are forwarded to monitor.apprise.
    assert logging.getLogger("apprise").propagate is False
    reach_us = [r for r in caplog.records if not r.name.startswith("apprise") or r.levelno >= logging.WARNING]
    assert reach_us and not [r for r in reach_us if SLACK_TOKEN in r.getMessage()]
    assert SLACK_TOKEN not in failed.detail


# --- send: email into aiosmtpd ------------------------------------------------------------------------------


def header_lines(raw: bytes) -> list[str]:
    """The raw header block, unfolded: one entry per header field."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii")
    return re.sub(r"\n[ \t]+", " ", head).split("\n")


async def test_email_is_multipart_alternative_with_alert_id(sink: SmtpSink) -> None:
    alert = make_alert(
        alert_id="story:42/rule a&b=c+d%",
        kind="update",
        added=("Two more villages were shelled.",),
        removed=("One village.",),
    )
    assert await send(channel(sink.url(extra="cto=2&rto=2")), alert) == Delivery(ok=True)
    [mail] = sink.messages
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    subject = "[news-monitor] high Update: Strike near Izium"
    assert message["Subject"] == render(alert, style="email").title == subject
    assert message["X-Alert-Id"] == alert.alert_id
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "+ Two more villages were shelled.\n- One village." in plain  # apprise derives it from our HTML
    assert "https://news.example.org/a/1" in plain and "alert-id: story:42/rule a&b=c+d%" in plain
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert html.strip() == (render(alert, style="email").html or "").strip()  # our HTML, as rendered
    assert "<del" in html and "#16a34a" in html
    assert (mail.mail_from, mail.rcpt_tos) == ("alerts@example.com", ("desk@example.com",))


async def test_email_header_injection_adds_no_recipient(sink: SmtpSink) -> None:
    """N17: CR/LF and other controls in feed text never reach a header."""
    alert = make_alert(title="Breaking\r\nBcc: victim@evil.example\r\n\r\nbody\x00\x1b[2J\u2028x",
                       alert_id="id\r\nBcc: victim2@evil.example", severity="critical")
    assert (await send(channel(sink.url()), alert)).ok
    [mail] = sink.messages
    assert mail.rcpt_tos == ("desk@example.com",)
    assert "Bcc" not in mail.message and "Cc" not in mail.message
    assert mail.message["Subject"] == "[news-monitor] critical Breaking Bcc: victim@evil.example body[2J x"
    assert mail.message["X-Alert-Id"] == "id Bcc: victim2@evil.example"
    fields = header_lines(mail.raw)
    assert all(not CONTROL.search(field) for field in fields)
    assert not any(field.lower().startswith("bcc") for field in fields)
    assert mail.message.get_content_type() == "multipart/alternative"


async def test_email_digest(sink: SmtpSink) -> None:
    batch = [make_alert(alert_id=f"id-{n}", title=f"Story {n}\r\nBcc: x@evil.example",
                        severity="critical" if n < 2 else "high") for n in range(7)]
    assert await send_digest(channel(sink.url()), batch, "digest-2026-05-01") == Delivery(ok=True)
    [mail] = sink.messages  # one email for the whole digest
    assert mail.rcpt_tos == ("desk@example.com",)
    assert mail.message["Subject"] == "[news-monitor] digest: 7 alerts (2 critical)"
    assert mail.message["X-Alert-Id"] == "digest-2026-05-01"
    assert [part.get_content_type() for part in mail.message.iter_parts()] == ["text/plain", "text/html"]
    plain = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"alert-id: id-{n}" in plain for n in range(7))
    assert "digest-id: digest-2026-05-01" in plain and "alert-ids: id-0, id-1, id-2" in plain
    assert all(not CONTROL.search(field) for field in header_lines(mail.raw))


async def test_email_format_text_gets_one_plain_part(sink: SmtpSink) -> None:
    """A mailto URL with format=text: apprise sends the text it derives from our HTML, as one part."""
    assert (await send(channel(sink.url(extra="format=text")), make_alert())).ok
    [mail] = sink.messages
    assert mail.message.get_content_type() == "text/plain"
    assert "alert-id: a1b2c3" in mail.message.get_content()


async def test_email_451_on_data_is_transient(sink: SmtpSink) -> None:
    sink.fail_data()
    delivery = await send(channel(sink.url(extra="cto=2&rto=2")), make_alert())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert sink.messages == []


async def test_email_550_on_rcpt_fails(sink: SmtpSink) -> None:
    sink.fail_rcpt()
    delivery = await send(channel(sink.url(extra="cto=2&rto=2")), make_alert())
    assert not delivery.ok
    # apprise logs the SMTP reply code only at DEBUG: read from the send's own capture, never from our logs
    assert delivery.permanent is True and "SMTP reply 550" in delivery.detail
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


async def test_log_channel_digest_writes_every_alert_and_logs_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "alerts.jsonl"
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    batch = [make_alert(alert_id=f"id-{n}", title=f"Story {n}\u2028x") for n in range(5)]
    assert await send_digest(make_channels({}, alerts_file=path)["log"], batch, "dg-3") == Delivery(ok=True)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and [json.loads(line)["alert_id"] for line in lines[:-1]] == [f"id-{n}" for n in range(5)]
    assert json.loads(lines[0]) == json.loads(json.dumps(dataclasses.asdict(batch[0])))
    [record] = [r for r in caplog.records if r.name == "monitor.alerts"]
    text = record.getMessage()
    assert text.startswith("ALERT Digest: 5 alerts\n  Digest: 5 alerts\n") and "\n  digest-id: dg-3\n" in text


async def test_json_webhook_digest(receiver: WebhookReceiver) -> None:
    batch = [make_alert(alert_id=f"id-{n}") for n in range(3)]
    assert (await send_digest(channel(f"json://127.0.0.1:{receiver.port}/hook"), batch, "dg-4")).ok
    [request] = receiver.requests
    expected = render_digest(batch, style="text", digest_id="dg-4")
    assert (request.json["title"], request.json["message"]) == (expected.title, expected.body)


async def test_digest_failure_is_reported_under_the_digest_id(
        receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script(Reply(503, b"busy"))
    delivery = await send_digest(channel(f"json://127.0.0.1:{receiver.port}/hook"), [make_alert()], "dg-5")
    assert (delivery.ok, delivery.permanent) == (False, False) and "503" in delivery.detail
    assert "delivery failed channel=desk alert=dg-5 permanent=False" in caplog.text


# --- links to the status pages' story page (settings.web.public_url) ------------------------------------------

STORY_BASE = "https://monitor.example.org"


def linked(url: str, name: str = "desk") -> Channel:
    return make_channels({name: url}, alerts_file=None, story_base=STORY_BASE)[name]


def test_make_channels_gives_every_channel_the_story_base(tmp_path: Path) -> None:
    urls = {"desk": "json://127.0.0.1:9/x", "mail": "mailto://u:p@example.com?to=a@example.com"}
    built = make_channels(urls, alerts_file=tmp_path / "a.jsonl", story_base=STORY_BASE)
    assert {name: c.story_base for name, c in built.items()} == dict.fromkeys(["desk", "mail", "log"], STORY_BASE)
    assert built["mail"].style == "email" and built["log"].alerts_file == tmp_path / "a.jsonl"
    assert all(c.story_base is None for c in make_channels(urls, alerts_file=None).values())


async def test_text_channel_sends_the_story_page(receiver: WebhookReceiver) -> None:
    alert = make_alert(story_id=7)
    assert await send(linked(f"json://127.0.0.1:{receiver.port}/hook"), alert) == Delivery(ok=True)
    [request] = receiver.requests
    assert f"Story page: {STORY_BASE}/stories/7" in request.json["message"].splitlines()


async def test_slack_history_link_arrives(slack_hook: WebhookReceiver) -> None:
    assert (await send(linked(SLACK_URL), make_alert(story_id=7))).ok
    text = section(slack_hook.requests[0].json)["text"]
    assert SLACK_LINK.findall(text) == ["https://news.example.org/a/1", f"{STORY_BASE}/stories/7"]
    assert f"<{STORY_BASE}/stories/7|History>" in text.split("\n")[1]


async def test_email_carries_the_story_page(sink: SmtpSink) -> None:
    assert (await send(linked(sink.url()), make_alert(story_id=7))).ok
    [mail] = sink.messages
    plain = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{STORY_BASE}/stories/7" in plain
    assert f'href="{STORY_BASE}/stories/7"' in html


async def test_digest_links_each_story(receiver: WebhookReceiver) -> None:
    batch = [make_alert(alert_id=f"id-{n}", story_id=n + 1) for n in range(3)]
    assert (await send_digest(linked(f"json://127.0.0.1:{receiver.port}/hook"), batch, "dg")).ok
    body = receiver.requests[0].json["message"]
    assert all(f"Story page: {STORY_BASE}/stories/{n + 1}" in body for n in range(3))


def test_claimed_alerts_carry_their_story_id(tmp_path: Path) -> None:
    """The outbox row's story_id (not the payload's) reaches the Alert; an operator notice has none."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select

    from monitor.store import alerts as store_alerts
    from monitor.store import engine as store_engine
    from monitor.store.schema import alerts as alerts_table
    from monitor.store.schema import stories
    from tests.test_outbox_policy import queue

    engine = store_engine.make_engine(f"sqlite:///{tmp_path}/o.db")
    store_engine.upgrade(engine)
    now = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)
    queue(engine, now, "desk", "first", "second")
    payload = json.dumps({k: v for k, v in dataclasses.asdict(make_alert(kind="notice")).items() if k != "alert_id"})
    with engine.begin() as conn:
        conn.execute(insert(alerts_table).values(
            alert_uid="notice-1", cluster_id=None, story_id=None, watch="w", channel="ops", kind="notice",
            version_ref=0, payload=payload, hits="[]", status="pending", attempts=0,
            next_attempt_at=now.replace(tzinfo=None), created_at=now.replace(tzinfo=None)))
        story_ids = {title: sid for sid, title in conn.execute(select(stories.c.id, stories.c.title))}
    claimed = store_alerts.claim_due(engine, now, lease=timedelta(minutes=5))
    got = {c.alert.title: c.alert.story_id for c in claimed}
    assert got == {"first": story_ids["first"], "second": story_ids["second"], "Strike near Izium": None}
    assert all(isinstance(story_ids[t], int) for t in ("first", "second"))
    engine.dispose()
