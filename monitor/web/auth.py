"""Who may read the pages: anyone on a loopback listener; elsewhere only a client presenting the token named by
``settings.web.token_env`` (read once, when the app is built) as ``Authorization: Bearer <token>``, as the
password of HTTP basic auth (any user name), as ``?token=<token>`` or as the cookie a ``?token=`` visit sets,
so the links of the page keep working in a browser. Tokens are compared in constant time.

``Guard``, the ASGI middleware in front of every page, applies this, answers GET and HEAD only (the pages never
change anything) and puts the security headers on every response."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config.models import Config, WebSettings
from monitor.errors import ConfigError

COOKIE = "news_monitor_token"
CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:"
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
METHODS = ("GET", "HEAD")
STATIC = "/static/"  # the stylesheet: public, so a page opened with ?token= is styled too


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(config: Config, require: bool | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The token clients must present, or None when none is needed (``require`` None: needed iff the listen
    address is not loopback). Raises ConfigError when one is needed and its variable is unset or empty."""
    web = config.settings.web or WebSettings()
    needed = not is_loopback(web.host) if require is None else require
    if not needed:
        return None
    token = (os.environ if environ is None else environ).get(web.token_env, "").strip()
    if not token:
        raise ConfigError(f"settings.web: the status pages listen on {web.listen}, not a loopback address, so they "
                          f"need a token: set the environment variable {web.token_env}")
    return token


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token (cookie-safe whatever the token's characters)."""
    return hashlib.sha256(b"news-monitor web\0" + token.encode()).hexdigest()


def _presented(scope: Scope) -> list[str]:
    """Every token the request carries (header, basic auth password, query), each as ``cookie_value``; and the
    cookie's value, which is one already."""
    headers = Headers(scope=scope)
    found: list[str] = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found.append(value.strip())
    elif scheme.lower() == "basic":
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            found.append(base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2])
    found += QueryParams(scope.get("query_string", b"")).getlist("token")
    found = [cookie_value(t) for t in found if t]
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            found.append(value)
    return found


def authorized(scope: Scope, token: str) -> bool:
    """True when the request presents ``token`` in any accepted form."""
    expected = cookie_value(token).encode()
    return any(hmac.compare_digest(t.encode("utf-8", "replace"), expected) for t in _presented(scope))


def via_query(scope: Scope, token: str) -> bool:
    """True when the valid token came in the query string (the response then sets the cookie)."""
    given = QueryParams(scope.get("query_string", b"")).get("token") or ""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class Guard:
    """Wraps the app: ``token`` None means every client is trusted (loopback)."""

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._decorated(scope, send)
        path = str(scope.get("path", ""))
        if self.token and not path.startswith(STATIC) and not authorized(scope, self.token):
            challenge = {"WWW-Authenticate": 'Basic realm="news-monitor", charset="UTF-8"'}
            await PlainTextResponse("401 Unauthorized: a token is required (Authorization: Bearer <token>, "
                                    "basic auth with the token as password, or ?token=<token>)\n", 401,
                                    headers=challenge)(scope, receive, send)
            return
        if scope["method"] not in METHODS:
            await PlainTextResponse("405 Method Not Allowed: these pages are read-only\n", 405,
                                    headers={"Allow": ", ".join(METHODS)})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _decorated(self, scope: Scope, send: Send) -> Send:
        """``send`` adding the security headers (and, after a valid ``?token=``, the cookie) to the response."""
        path = str(scope.get("path", ""))
        cookie = None
        if self.token and via_query(scope, self.token):
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            cookie = f"{COOKIE}={cookie_value(self.token)}; Path=/; HttpOnly; SameSite=Strict{secure}"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                if not path.startswith(STATIC):
                    headers["Cache-Control"] = "no-store"
                if cookie:
                    headers.append("Set-Cookie", cookie)
            await send(message)

        return wrapped
