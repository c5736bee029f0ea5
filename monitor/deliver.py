"""Delivery boundary: Apprise URLs -> ``Channel``s; ``send`` one alert, ``send_digest`` many (``monitor.render``
renders). The only module that imports apprise. A failed send is ``Delivery(ok=False)``, never an exception.

How each style reaches apprise [measured, apprise 2.3.0]: email as ``body_format=HTML`` (apprise sends
multipart/alternative, deriving text/plain from our HTML); Slack with ``blocks=yes`` and no body format, the only
way our mrkdwn arrives unchanged (MARKDOWN re-converts it and passes a raw ``<!here>``; TEXT escapes our links);
every other service as TEXT.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote

import apprise
from apprise.plugins.email import NotifyEmail
from apprise.plugins.slack import NotifySlack, SlackMode

from monitor.errors import DeliveryConfigError
from monitor.models import Alert, Delivery, Message
from monitor.render import render as render  # re-exported: callers render alerts as a channel would
from monitor.render import render_digest
from monitor.render_parts import cap, one_line

log = logging.getLogger(__name__)

LOG = "log"
SEND_TIMEOUT = 20.0  # seconds for one whole send; the thread of a send that overruns it is left behind
# The outbox owns retries; short socket timeouts keep one send well under systemd's TimeoutStopSec.
_URL_DEFAULTS = (("retry", "0"), ("cto", "5"), ("rto", "10"))
_SLACK_DEFAULTS = (("blocks", "yes"),)  # Block Kit: our mrkdwn goes out as written (see the module doc)
_SLACK_BLOCK_MODES = (SlackMode.WEBHOOK, SlackMode.WEBHOOK_GOV, SlackMode.BOT)
_NOTIFY_TYPES = {"critical": apprise.NotifyType.FAILURE, "high": apprise.NotifyType.WARNING}
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")
_SMTP_PERMANENT = re.compile(r"refused: 5\d\d\b")
_SMTP_REPLY = re.compile(r"^Socket Exception: .*\((\d{3}), b'")  # smtplib's refusal, in apprise's DEBUG capture


@dataclass(frozen=True, eq=False, repr=False)
class Channel:
    """One delivery target: the built-in log channel or one Apprise URL (``url`` is secret, masked)."""

    name: str
    kind: str  # "log" | "apprise"
    url: str
    style: str = "text"  # "slack" | "email" | "text"
    alerts_file: Path | None = None
    _notifier: apprise.Apprise | None = None
    story_base: str | None = None  # ``settings.web.public_url``: each alert links to {story_base}/stories/<id>

    def __repr__(self) -> str:
        shown = LOG if self.kind == LOG else f"{_scheme(self.url)}://***"
        return f"Channel(name={self.name!r}, kind={self.kind!r}, style={self.style!r}, url={shown!r})"


class _Forward(logging.Handler):
    """Passes apprise's WARNING-and-above records on to ``monitor.apprise`` (so they reach our log handlers);
    its DEBUG lines, which carry webhook tokens, stay inside apprise's own per-call capture."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger("monitor.apprise").handle(record)


def setup_logging_guards() -> None:
    """Keep secrets out of every log (make_channels calls it; idempotent). urllib3 is pinned at WARNING.
    apprise logs at DEBUG but does not propagate: only its warnings are forwarded, while each send's own
    capture (``result.logs()``) can still read the DEBUG line that holds an SMTP reply code (550 vs 451)."""
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(logging.DEBUG)
    apprise_log.propagate = False
    if not any(isinstance(h, _Forward) for h in apprise_log.handlers):
        apprise_log.addHandler(_Forward())


def make_channels(channels: Mapping[str, str], *, alerts_file: Path | None,
                  story_base: str | None = None) -> dict[str, Channel]:
    """Build every channel once, at start or reload; DeliveryConfigError names a bad channel, not its URL.
    ``story_base`` (the status pages' public URL) makes every channel link each alert to its story page."""
    setup_logging_guards()
    built = {name: _make_channel(name, url.strip(), alerts_file) for name, url in channels.items()}
    built.setdefault(LOG, Channel(LOG, LOG, LOG, alerts_file=alerts_file))
    if story_base:
        built = {name: dataclasses.replace(channel, story_base=story_base) for name, channel in built.items()}
    return built


def _make_channel(name: str, url: str, alerts_file: Path | None) -> Channel:
    if url == LOG:
        return Channel(name, LOG, LOG, alerts_file=alerts_file)
    if name == LOG:
        raise DeliveryConfigError("channel 'log' is reserved for the built-in log channel")
    full = _with_defaults(url)
    plugin = _instantiate(full)
    if isinstance(plugin, NotifySlack):
        full = _with_defaults(full, _SLACK_DEFAULTS)
        plugin = _instantiate(full)
    if plugin is None:
        raise DeliveryConfigError(f"channel {name!r}: not a usable Apprise URL (scheme {_scheme(url)!r})")
    return Channel(name, "apprise", full, style=_style_of(plugin), _notifier=apprise.Apprise(plugin))


def _style_of(plugin: apprise.NotifyBase) -> str:
    """By plugin, not scheme, so ``https://hooks.slack.com/...`` renders as Slack too. Slack without Block Kit
    (``blocks=no``, workflows) gets plain text, which apprise escapes whole."""
    if isinstance(plugin, NotifySlack):
        return "slack" if plugin.use_blocks and plugin.mode in _SLACK_BLOCK_MODES else "text"
    return "email" if isinstance(plugin, NotifyEmail) else "text"


def _with_defaults(url: str, defaults: tuple[tuple[str, str], ...] = _URL_DEFAULTS) -> str:
    """Append ``defaults`` (retry/cto/rto) unless the URL already sets them."""
    _, _, query = url.partition("?")
    given = {key.lower() for key, _ in parse_qsl(query, keep_blank_values=True)}
    extra = "&".join(f"{key}={value}" for key, value in defaults if key not in given)
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isalnum() and len(scheme) <= 16 else "?"


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Drops apprise's records from this thread meanwhile: it logs a rejected URL verbatim, secrets included."""
    logger, ident = logging.getLogger("apprise"), threading.get_ident()

    def mute(record: logging.LogRecord) -> bool:
        return record.thread not in (None, ident)

    logger.addFilter(mute)
    try:
        yield
    finally:
        logger.removeFilter(mute)


def _instantiate(url: str) -> apprise.NotifyBase | None:
    with _quiet_apprise():
        return apprise.Apprise.instantiate(url)


async def send(channel: Channel, alert: Alert, *, timeout: float | None = None) -> Delivery:  # noqa: ASYNC109
    """Deliver one alert to one channel in its own daemon thread, bounded by ``SEND_TIMEOUT`` (or
    ``timeout``); never raises for a failed send."""
    def make() -> Message:
        return render(alert, style=channel.style, story_base=channel.story_base)

    return await _deliver(channel, alert.alert_id, [alert], make, timeout)


async def send_digest(
    channel: Channel, alerts: Sequence[Alert], digest_id: str, *, timeout: float | None = None  # noqa: ASYNC109
) -> Delivery:
    """Deliver many alerts as one message (an email carries ``X-Alert-Id: <digest_id>``); as ``send``."""
    make = functools.partial(render_digest, alerts, style=channel.style, digest_id=digest_id,
                             story_base=channel.story_base)
    return await _deliver(channel, digest_id, alerts, make, timeout)


async def _deliver(
    channel: Channel, ident: str, alerts: Sequence[Alert], make: Callable[[], Message], deadline: float | None
) -> Delivery:
    try:
        message = make()
    except Exception as exc:  # a poison alert: retrying cannot help
        return _failed(channel, ident, permanent=True, detail=f"render_error: {type(exc).__name__}")
    limit = SEND_TIMEOUT if deadline is None else deadline
    sender = _send_log if channel.kind == LOG else _send_apprise
    bound = asyncio.timeout(limit)
    try:
        async with bound:
            return await _in_daemon_thread(sender, channel, _Outgoing(ident, tuple(alerts), message))
    except Exception as exc:  # exception text may hold the URL: keep only its type
        if isinstance(exc, TimeoutError) and bound.expired():  # the thread finishes on its own
            detail = f"timeout after {limit:g}s (the remote may have received it)"
            return _failed(channel, ident, permanent=False, detail=detail)
        # Apprise reports failures as results; an exception out of it is tied to this message (a poison
        # alert), so it is permanent: dead after a few tries, and the channel's other alerts go on.
        return _failed(channel, ident, permanent=True, detail=f"unexpected: {type(exc).__name__}")


@dataclass(frozen=True)
class _Outgoing:
    """One rendered message and what it is about: one alert (``ident`` its id) or a digest (the digest id)."""

    ident: str
    alerts: tuple[Alert, ...]
    message: Message


_Sender = Callable[[Channel, _Outgoing], Delivery]


async def _in_daemon_thread(sender: _Sender, channel: Channel, out: _Outgoing) -> Delivery:
    """Run one blocking send in a fresh daemon thread, not the loop's default executor (which the
    database calls share): a hung webhook then never starves them, nor holds up interpreter exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Delivery] = loop.create_future()

    def settle(result: Delivery | None, error: Exception | None) -> None:
        if future.done():  # cancelled: the send timed out, or the daemon is stopping
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or Delivery(ok=False, detail="no result"))

    def run() -> None:
        result: Delivery | None = None
        error: Exception | None = None
        try:
            result = sender(channel, out)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=f"deliver-{channel.name}", daemon=True).start()
    return await future


def _failed(channel: Channel, ident: str, *, permanent: bool, detail: str) -> Delivery:
    log.warning("delivery failed channel=%s alert=%s permanent=%s detail=%s", channel.name, ident, permanent, detail)
    return Delivery(ok=False, permanent=permanent, detail=detail)


def _send_apprise(channel: Channel, out: _Outgoing) -> Delivery:
    notifier = _email_with_id(channel, out.ident) if channel.style == "email" else channel._notifier
    if notifier is None:
        return _failed(channel, out.ident, permanent=True, detail="config: URL unusable with the alert id header")
    body, title, body_format = _payload(channel.style, out.message)
    severities = {alert.severity for alert in out.alerts}
    kind = next((_NOTIFY_TYPES[s] for s in _NOTIFY_TYPES if s in severities), apprise.NotifyType.INFO)
    with notifier.notify(body=body, title=title, body_format=body_format, notify_type=kind,
                         log_level=logging.DEBUG) as result:
        ok, status = bool(result), result.status
        entries = [(entry.level, entry.message) for entry in result.logs()]
    if ok:
        log.debug("delivered channel=%s alert=%s", channel.name, out.ident)
        return Delivery(ok=True)
    warnings = [message for level, message in entries if level not in ("DEBUG", "TRACE", "INFO")]
    codes = [found[1] for _, message in entries if (found := _SMTP_REPLY.search(message))]
    permanent = (status == apprise.AppriseResultStatus.NOMATCH or any(map(_is_permanent, warnings))
                 or any(code.startswith("5") for code in codes))  # 550 no such user; 451 is transient
    warnings += [f"SMTP reply {code}" for code in codes]
    detail = _redact("; ".join(warnings) or status.name.lower(), channel.url)
    return _failed(channel, out.ident, permanent=permanent, detail=cap(detail, 300))


def _payload(style: str, message: Message) -> tuple[str, str, apprise.NotifyFormat | None]:
    """Body, title and ``body_format`` for apprise. Slack: no title (the body's first line is the linked
    title; a Block Kit header would cap it at 150 characters) and no format, so the mrkdwn is not touched."""
    if style == "slack":
        return message.body, "", None
    if style == "email" and message.html:
        return message.html, message.title, apprise.NotifyFormat.HTML
    return message.body, message.title, apprise.NotifyFormat.TEXT  # Slack without blocks: & < > escaped


def _email_with_id(channel: Channel, alert_id: str) -> apprise.Apprise | None:
    """A per-send Apprise object whose email carries ``X-Alert-Id`` (apprise's ``+Header=value``)."""
    sep = "&" if "?" in channel.url else "?"
    plugin = _instantiate(f"{channel.url}{sep}+X-Alert-Id={quote(one_line(alert_id, 200), safe='')}")
    return None if plugin is None else apprise.Apprise(plugin)


def _is_permanent(warning: str) -> bool:
    """HTTP 4xx other than 408/429, an SMTP 5xx refusal, or Slack's revoked-webhook reply."""
    found = _HTTP_STATUS.search(warning)
    if found and 400 <= int(found[1]) < 500 and int(found[1]) not in (408, 429):
        return True
    return bool(_SMTP_PERMANENT.search(warning)) or "no_service" in warning


def _redact(text: str, url: str) -> str:
    """Blank out every longer piece of the channel URL (tokens, passwords, addresses) from a message."""
    for piece in sorted(re.split(r"[/:@?&=#+,;]+", url), key=len, reverse=True):
        if len(piece) >= 6:
            text = text.replace(piece, "***")
    return text


def _send_log(channel: Channel, out: _Outgoing) -> Delivery:
    """Log the message once; append each alert (all of a digest's) to the alerts file as one JSON line."""
    body = out.message.body.replace("\n", "\n  ")
    logging.getLogger("monitor.alerts").info("ALERT %s\n  %s", out.message.title, body)
    if channel.alerts_file is None:
        return Delivery(ok=True)
    lines = [json.dumps(dataclasses.asdict(alert), ensure_ascii=False) for alert in out.alerts]
    text = "".join(line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n" for line in lines)
    try:
        _append(channel.alerts_file, text)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _failed(channel, out.ident, permanent=False, detail=f"alerts_file: {reason}")
    return Delivery(ok=True)


def _append(path: Path, lines: str) -> None:
    """Append lines with one write (O_APPEND keeps concurrent lines whole); the file is kept at 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        data = memoryview(lines.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
