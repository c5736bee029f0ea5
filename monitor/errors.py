"""The one exception tree of news-monitor.

::

    MonitorError                  base; ``kind`` is a stable string for logs and the database
    ├── ConfigError               invalid YAML / schema / missing env var: exit 1 at start,
    │                             keep the old config on reload; ``problems`` lists every
    │                             ``file:line:col: path: message`` line
    ├── FetchError                carries ``source`` and ``url``
    │   ├── TransientFetchError   timeout, connect_error, http_error, http_status 408/425/429/5xx
    │   │                         (``retry_after``)
    │   └── PermanentFetchError   http_status 4xx (410 disables the source), bad_url, redirect_blocked,
    │                             too_many_redirects, too_large, bad_encoding, tls_error
    │                             Both back off (x2 per failure, capped at 6 h) and are always retried.
    ├── ParseError                empty_body, not_a_feed, xml_dtd_rejected (a partial parse is a
    │                             flagged result, not an error)
    ├── StoreError                wraps SQLAlchemy errors at the store boundary
    └── DeliveryConfigError       an unusable channel URL (a failed send is ``Delivery(ok=False)``)

"Not modified", "nothing new" and "nothing matched" are return values, never exceptions.
Catch points: per source in ``pipeline``, per alert in ``outbox``, once at the top in ``cli``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""

    kind = "error"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class ConfigError(MonitorError):
    """The configuration cannot be used; ``problems`` holds one line per problem."""

    kind = "config"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FetchError(MonitorError):
    """A source could not be fetched."""

    kind = "fetch"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        url: str = "",
        source: str = "",
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, kind=kind)
        self.url = url
        self.source = source
        self.retry_after = retry_after
        self.status = status


class TransientFetchError(FetchError):
    """Worth retrying soon: timeouts, refused connections, 5xx, 429."""


class PermanentFetchError(FetchError):
    """Will not fix itself by waiting a few seconds: 4xx, body too large, bad encoding."""


class ParseError(MonitorError):
    """The body is not a usable feed (``empty_body``, ``not_a_feed``, ``xml_dtd_rejected``)."""

    kind = "parse"


class StoreError(MonitorError):
    """The database failed; wraps the SQLAlchemy error as ``__cause__``."""

    kind = "store"


class DeliveryConfigError(MonitorError):
    """A channel URL that Apprise cannot use."""

    kind = "delivery_config"
