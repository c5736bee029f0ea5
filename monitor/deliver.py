"""Delivery boundary: Apprise URLs -> ``Channel``s, ``Alert`` -> ``Message`` (pure ``render``), ``send``.

The only module that imports apprise. A failed send is ``Delivery(ok=False)``, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import apprise
from apprise.plugins.email import NotifyEmail
from apprise.plugins.slack import NotifySlack

from monitor.errors import DeliveryConfigError
from monitor.models import Alert, Delivery, Message

log = logging.getLogger(__name__)

LOG = "log"
SEND_TIMEOUT = 20.0  # seconds for one whole send; the thread of a send that overruns it is left behind
TITLE_MAX, LINE_MAX, EXCERPT_MAX, CHANGES_MAX, BODY_MAX = 250, 300, 1000, 20, 3000
# The outbox owns retries; short socket timeouts keep one send well under systemd's TimeoutStopSec.
_URL_DEFAULTS = (("retry", "0"), ("cto", "5"), ("rto", "10"))
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_MASS_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")
_SMTP_PERMANENT = re.compile(r"refused: 5\d\d\b")


@dataclass(frozen=True, eq=False, repr=False)
class Channel:
    """One delivery target: the built-in log channel or one Apprise URL (``url`` is secret, masked)."""

    name: str
    kind: str  # "log" | "apprise"
    url: str
    style: str = "text"  # "slack" | "email" | "text"
    alerts_file: Path | None = None
    _notifier: apprise.Apprise | None = None

    def __repr__(self) -> str:
        shown = LOG if self.kind == LOG else f"{_scheme(self.url)}://***"
        return f"Channel(name={self.name!r}, kind={self.kind!r}, style={self.style!r}, url={shown!r})"


def setup_logging_guards() -> None:
    """Pin the loggers whose DEBUG output carries webhook secrets at WARNING (make_channels calls it)."""
    for name in ("apprise", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def make_channels(channels: Mapping[str, str], *, alerts_file: Path | None) -> dict[str, Channel]:
    """Build every channel once, at start or reload; DeliveryConfigError names a bad channel, not its URL."""
    setup_logging_guards()
    built = {name: _make_channel(name, url.strip(), alerts_file) for name, url in channels.items()}
    built.setdefault(LOG, Channel(LOG, LOG, LOG, alerts_file=alerts_file))
    return built


def _make_channel(name: str, url: str, alerts_file: Path | None) -> Channel:
    if url == LOG:
        return Channel(name, LOG, LOG, alerts_file=alerts_file)
    if name == LOG:
        raise DeliveryConfigError("channel 'log' is reserved for the built-in log channel")
    full = _with_defaults(url)
    plugin = _instantiate(full)
    if plugin is None:
        raise DeliveryConfigError(f"channel {name!r}: not a usable Apprise URL (scheme {_scheme(url)!r})")
    return Channel(name, "apprise", full, style=_style_of(plugin), _notifier=apprise.Apprise(plugin))


def _style_of(plugin: apprise.NotifyBase) -> str:
    """By plugin, not scheme, so ``https://hooks.slack.com/...`` renders as Slack too."""
    if isinstance(plugin, NotifySlack):
        return "slack"
    return "email" if isinstance(plugin, NotifyEmail) else "text"


def _with_defaults(url: str) -> str:
    """Append retry/cto/rto unless the URL already sets them."""
    _, _, query = url.partition("?")
    given = {key.lower() for key, _ in parse_qsl(query, keep_blank_values=True)}
    extra = "&".join(f"{key}={value}" for key, value in _URL_DEFAULTS if key not in given)
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isalnum() and len(scheme) <= 16 else "?"


class _MuteThread(logging.Filter):
    """Drops records logged by one thread: apprise logs a rejected URL verbatim, secrets included."""

    def __init__(self) -> None:
        super().__init__()
        self.ident = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in (None, self.ident)


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    logger, mute = logging.getLogger("apprise"), _MuteThread()
    logger.addFilter(mute)
    try:
        yield
    finally:
        logger.removeFilter(mute)


def _instantiate(url: str) -> apprise.NotifyBase | None:
    with _quiet_apprise():
        return apprise.Apprise.instantiate(url)


def render(alert: Alert, *, style: str) -> Message:
    """Pure: a single-line title and a plain-text body. ``style``: "slack" | "email" | "text"."""
    prefix = "Update: " if alert.kind == "update" else ""
    title = _one_line(prefix + (_one_line(alert.title, TITLE_MAX) or "(untitled)"), TITLE_MAX)
    head = _head_lines(alert) if alert.kind != "notice" else []  # an operator notice is all text
    limit = EXCERPT_MAX if alert.kind != "notice" else BODY_MAX - 200
    sections = [head, _excerpt_lines(alert.excerpt, limit), _change_lines(alert)]
    main = "\n\n".join("\n".join(lines) for lines in sections if lines)
    footer = f"alert-id: {_one_line(alert.alert_id, 200)}"
    body = f"{_cap(main, BODY_MAX - len(footer) - 2)}\n\n{footer}".lstrip("\n")
    if style == "slack":  # escaping of & < > is apprise's TEXT format; this defuses legacy bare @-mentions
        title, body = _MASS_MENTION.sub("@\u200b", title), _MASS_MENTION.sub("@\u200b", body)
    return Message(title=title, body=body)


def _one_line(text: str, limit: int) -> str:
    """Whitespace (CR, LF, tab, U+2028, ...) becomes one space; controls and bidi overrides are dropped."""
    return _cap(_INVISIBLE.sub("", " ".join(text.split())).strip(), limit)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _head_lines(alert: Alert) -> list[str]:
    lines = []
    if alert.sources:
        lines.append("Source: " + _joined(alert.sources))
    link = _safe_link(alert.link)
    if link:
        lines.append(link)
    lines.append("Watch: " + _one_line(alert.watch, LINE_MAX))
    matched = [_joined(alert.terms)] if alert.terms else []
    if alert.places:
        matched.append("places: " + _joined(alert.places))
    if matched:
        lines.append("Matched: " + " · ".join(matched))
    return lines


def _joined(items: tuple[str, ...]) -> str:
    return _one_line(", ".join(_one_line(item, LINE_MAX) for item in items), LINE_MAX)


def _safe_link(link: str | None) -> str | None:
    """Only an absolute http(s) URL with no whitespace, controls or angle brackets is shown."""
    if not link or len(link) > 2000 or _INVISIBLE.search(link):
        return None
    if any(c.isspace() or c in '<>"`' for c in link):
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _excerpt_lines(excerpt: str, limit: int) -> list[str]:
    lines: list[str] = []
    for raw in excerpt.splitlines():
        line = _one_line(raw, limit)
        if line or (lines and lines[-1]):
            lines.append(line)
    return _cap("\n".join(lines).strip(), limit).splitlines()


def _change_lines(alert: Alert) -> list[str]:
    if alert.kind != "update":
        return []
    marked = [("+", s) for s in alert.added] + [("-", s) for s in alert.removed]
    lines = [f"{mark} {text}" for mark, text in ((m, _one_line(s, LINE_MAX)) for m, s in marked) if text]
    if len(lines) > CHANGES_MAX:
        lines = [*lines[: CHANGES_MAX - 1], f"… {len(lines) - CHANGES_MAX + 1} more changed sentences"]
    return lines


async def send(channel: Channel, alert: Alert, *, timeout: float | None = None) -> Delivery:  # noqa: ASYNC109
    """Deliver one alert to one channel in its own daemon thread, bounded by ``SEND_TIMEOUT`` (or
    ``timeout``); never raises for a failed send."""
    try:
        message = render(alert, style=channel.style)
    except Exception as exc:  # a poison alert: retrying cannot help
        return _failed(channel, alert, permanent=True, detail=f"render_error: {type(exc).__name__}")
    limit = SEND_TIMEOUT if timeout is None else timeout
    sender = _send_log if channel.kind == LOG else _send_apprise
    bound = asyncio.timeout(limit)
    try:
        async with bound:
            return await _in_daemon_thread(sender, channel, alert, message)
    except Exception as exc:  # exception text may hold the URL: keep only its type
        if isinstance(exc, TimeoutError) and bound.expired():  # the thread finishes on its own
            detail = f"timeout after {limit:g}s (the remote may have received it)"
            return _failed(channel, alert, permanent=False, detail=detail)
        # Apprise reports failures as results; an exception out of it is tied to this message (a poison
        # alert), so it is permanent: dead after a few tries, and the channel's other alerts go on.
        return _failed(channel, alert, permanent=True, detail=f"unexpected: {type(exc).__name__}")


_Sender = Callable[[Channel, Alert, Message], Delivery]


async def _in_daemon_thread(sender: _Sender, channel: Channel, alert: Alert, message: Message) -> Delivery:
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
            result = sender(channel, alert, message)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=f"deliver-{channel.name}", daemon=True).start()
    return await future


def _failed(channel: Channel, alert: Alert, *, permanent: bool, detail: str) -> Delivery:
    log.warning(
        "delivery failed channel=%s alert=%s permanent=%s detail=%s",
        channel.name,
        alert.alert_id,
        permanent,
        detail,
    )
    return Delivery(ok=False, permanent=permanent, detail=detail)


def _send_apprise(channel: Channel, alert: Alert, message: Message) -> Delivery:
    notifier = _email_with_id(channel, alert.alert_id) if channel.style == "email" else channel._notifier
    if notifier is None:
        return _failed(channel, alert, permanent=True, detail="config: URL unusable with the alert id header")
    text = apprise.NotifyFormat.TEXT  # Slack: escapes & < > so feed text cannot form <!here> or <url|label>
    with notifier.notify(body=message.body, title=message.title, body_format=text) as result:
        ok, status = bool(result), result.status
        warnings = [entry.message for entry in result.logs()]
    if ok:
        log.debug("delivered channel=%s alert=%s", channel.name, alert.alert_id)
        return Delivery(ok=True)
    permanent = status == apprise.AppriseResultStatus.NOMATCH or any(map(_is_permanent, warnings))
    detail = _redact("; ".join(warnings) or status.name.lower(), channel.url)
    return _failed(channel, alert, permanent=permanent, detail=_cap(detail, 300))


def _email_with_id(channel: Channel, alert_id: str) -> apprise.Apprise | None:
    """A per-send Apprise object whose email carries ``X-Alert-Id`` (apprise's ``+Header=value``)."""
    sep = "&" if "?" in channel.url else "?"
    plugin = _instantiate(f"{channel.url}{sep}+X-Alert-Id={quote(_one_line(alert_id, 200), safe='')}")
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


def _send_log(channel: Channel, alert: Alert, message: Message) -> Delivery:
    body = message.body.replace("\n", "\n  ")
    logging.getLogger("monitor.alerts").info("ALERT %s\n  %s", message.title, body)
    if channel.alerts_file is None:
        return Delivery(ok=True)
    line = json.dumps(dataclasses.asdict(alert), ensure_ascii=False)
    try:
        _append(channel.alerts_file, line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _failed(channel, alert, permanent=False, detail=f"alerts_file: {reason}")
    return Delivery(ok=True)


def _append(path: Path, line: str) -> None:
    """Append one line with one write (O_APPEND keeps concurrent lines whole); the file is kept at 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        data = memoryview(line.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
