"""Loopback servers for tests: a scriptable HTTP webhook receiver and an aiosmtpd SMTP sink on 127.0.0.1.

Both are context managers recording what real clients (apprise, httpx) sent; nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request; ``drop`` closes the socket without any response."""

    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering (cut short when the receiver stops)
    drop: bool = False


@dataclass(frozen=True)
class Request:
    """One request as received: method, path, headers, raw body and its decoded JSON or form fields."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, list[str]] | None = None


def _decode(content_type: str, body: bytes) -> tuple[Any, dict[str, list[str]] | None]:
    if "json" in content_type:
        try:
            return json.loads(body), None
        except ValueError:
            return None, None
    if "x-www-form-urlencoded" in content_type:
        return None, parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return None, None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed_json, form = _decode(self.headers.get("Content-Type", ""), body)
        request = Request(self.command, self.path, dict(self.headers.items()), body, parsed_json, form)
        reply = self.server.receiver._record(request)
        if reply.delay:
            self.server.receiver._stopping.wait(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class WebhookReceiver:
    """HTTP server on 127.0.0.1 (free port) in a thread; replies follow ``script()``, then ``default``."""

    def __init__(self, *replies: Reply, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.requests: list[Request] = []
        self._script: list[Reply] = list(replies)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.received = threading.Event()  # set by the first request: wait on it instead of polling
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def _record(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.received.set()
            return self._script.pop(0) if self._script else self.default

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Mail:
    """One accepted message: the envelope and the parsed message (``email.policy.default``)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


@dataclass
class _SmtpHandler:
    messages: list[Mail] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed, raw))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port that was free a moment ago (aiosmtpd's Controller cannot bind port 0 and report it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (no TLS, no AUTH) recording every accepted message; can refuse RCPT or DATA."""

    def __init__(self, port: int | None = None) -> None:
        self._handler = _SmtpHandler()
        self.port = port or free_port()
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, server_hostname="sink"
        )
        self._running = False

    @property
    def messages(self) -> list[Mail]:
        return self._handler.messages

    def url(
        self, *, to: str = "desk@example.com", sender: str = "alerts@example.com", extra: str = ""
    ) -> str:
        """An apprise ``mailto://`` URL for this sink (plain SMTP); ``extra`` adds more parameters."""
        query = f"from={sender}&to={to}&mode=insecure" + (f"&{extra}" if extra else "")
        return f"mailto://127.0.0.1:{self.port}?{query}"

    def fail_data(self, reply: str | None = "451 4.3.0 Try again later") -> None:
        """Answer DATA with ``reply`` (None: accept again)."""
        self._handler.data_reply = reply

    def fail_rcpt(self, reply: str | None = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO with ``reply`` (None: accept again)."""
        self._handler.rcpt_reply = reply

    def start(self) -> SmtpSink:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop listening (idempotent); later connections are refused."""
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
