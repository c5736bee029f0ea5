"""Config models: the watchlist's keys as frozen, strict pydantic models (durations, sizes, URLs)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|KiB|MiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "KiB": 1024, "MiB": 1024**2}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
BUILTIN_CHANNELS = frozenset({"log"})


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not (m := _DURATION.match(value)):
        raise ValueError("expected a duration such as 30s, 5m, 2h or 3d")
    try:
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    except OverflowError:  # not a ValueError, so pydantic would let it escape
        raise ValueError("duration is too large") from None


def _size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not (m := _SIZE.match(value)):
        raise ValueError("expected a size such as 5MB or 512KiB")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _at_least_30s(value: timedelta) -> timedelta:
    if value < timedelta(seconds=30):
        raise ValueError("interval must be at least 30s")
    if value > timedelta(days=7):
        raise ValueError("interval must be at most 7d")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("url must be http(s)")
    return value


# Bounds of the duration settings (the intervals have their own check: 30s to 7d).
_DURATION_BOUNDS: dict[str, tuple[str, str]] = {
    "silence_min": ("1m", "365d"),
    "fetch_timeout": ("1s", "1h"),
    "outbox_interval": ("1s", "1h"),
    "retry_base": ("1s", "7d"),
    "retry_max": ("1s", "7d"),
    "jitter": ("0s", "1h"),
    "dedup_window": ("1m", "365d"),
    "retry_budget": ("1m", "365d"),
    "max_age": ("1m", "36500d"),
}


class WebSettings(_Model):
    """The read-only status pages (monitor/web/): off unless ``settings.web`` is given."""

    listen: StrictStr = Field(default="127.0.0.1:8787", pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
    public_url: StrictStr | None = None  # e.g. https://monitor.example.org: alerts link to their story page
    token_env: StrictStr = "NEWS_MONITOR_WEB_TOKEN"  # required (Bearer or ?token=) when listen is not loopback

    @field_validator("public_url")
    @classmethod
    def _public_http(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v).rstrip("/")

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class MetricsSettings(_Model):
    """The ops endpoint (``/healthz``, Prometheus ``/metrics``; monitor/web/ops.py): off unless ``settings.metrics``
    is given."""

    listen: StrictStr = Field(default="127.0.0.1:9464", pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
    token_env: StrictStr = "NEWS_MONITOR_METRICS_TOKEN"  # required (Bearer) when listen is not loopback

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class Settings(_Model):
    """Defaults and limits; every key is optional."""

    interval: Duration = timedelta(minutes=5)
    jitter: Duration = timedelta(seconds=30)
    fetch_timeout: Duration = timedelta(seconds=30)
    max_bytes: Size = 5 * 2**20
    max_items: StrictInt = Field(default=200, ge=1, le=5000)
    user_agent: StrictStr = "news-monitor/0.1 (+https://github.com/news-monitor)"
    dedup_window: Duration = timedelta(hours=72)
    dedup_threshold: StrictFloat = Field(default=0.5, gt=0.0, le=1.0)
    dedup_containment: StrictFloat = Field(default=0.8, gt=0.0, le=1.0)
    alerts_file: StrictStr | None = "var/alerts.jsonl"
    outbox_interval: Duration = timedelta(seconds=30)
    retry_base: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    retry_budget: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(hours=72)
    max_attempts: StrictInt = Field(default=20, ge=1, le=1000)
    # Fetching: adaptive intervals between min_interval and max_interval (see monitor/cadence.py).
    adaptive: bool = True
    min_interval: Duration = timedelta(minutes=2)
    max_interval: Duration = timedelta(hours=1)
    max_polls: StrictInt = Field(default=16, ge=1, le=1000)  # polls in flight at once (2 per host)
    telegram_backfill_pages: StrictInt = Field(default=5, ge=0, le=100)
    # Source health notices to the operator (see monitor/health.py).
    ops_channel: StrictStr | None = None
    failures_before_notice: StrictInt = Field(default=5, ge=1, le=1000)
    silence_factor: StrictFloat = Field(default=4.0, ge=1.0, le=1000.0)
    silence_min: Duration = timedelta(hours=6)
    web: WebSettings | None = None  # the status pages; off unless given (``web: {}`` for the defaults)
    metrics: MetricsSettings | None = None  # /healthz and /metrics; off unless given (``metrics: {}``)

    @field_validator("interval", "min_interval", "max_interval")
    @classmethod
    def _min_interval(cls, v: timedelta) -> timedelta:
        return _at_least_30s(v)

    @field_validator(*_DURATION_BOUNDS)
    @classmethod
    def _duration_in_bounds(cls, v: timedelta, info: ValidationInfo) -> timedelta:
        low, high = _DURATION_BOUNDS[info.field_name or ""]
        if not _duration(low) <= v <= _duration(high):
            raise ValueError(f"must be between {low} and {high}")
        return v

    @model_validator(mode="after")
    def _retry_order(self) -> Settings:
        if self.retry_max < self.retry_base:
            raise ValueError("retry_max must not be shorter than retry_base")
        if self.max_interval < self.min_interval:
            raise ValueError("max_interval must not be shorter than min_interval")
        return self

    @field_validator("max_bytes")
    @classmethod
    def _sane_size(cls, v: int) -> int:
        if not 1024 <= v <= 512 * 2**20:
            raise ValueError("must be between 1KiB and 512MiB")
        return v


class Source(_Model):
    """One feed or Telegram channel to poll."""

    name: StrictStr = Field(pattern=_NAME)
    type: Literal["rss", "telegram"] = "rss"
    url: StrictStr | None = None
    channel: StrictStr | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
    interval: Duration | None = None
    fetch_article: bool = False  # fetch each new or changed entry's linked page and use its article text
    tags: list[Annotated[StrictStr, Field(pattern=_NAME)]] = Field(default_factory=list, max_length=50)  # source_tags

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, v: timedelta | None) -> timedelta | None:
        return None if v is None else _at_least_30s(v)

    @model_validator(mode="after")
    def _has_location(self) -> Source:
        if self.url is None and self.channel is None:
            raise ValueError("a source needs a url (or, for type: telegram, a channel)")
        if self.channel is not None and self.type != "telegram":
            raise ValueError("channel is only for type: telegram")
        return self

    @property
    def fetch_url(self) -> str:
        """The URL polled: ``url`` if given, else the public t.me/s page of ``channel``."""
        return self.url or f"https://t.me/s/{self.channel}"

    @property
    def telegram_channel(self) -> str:
        """The channel name used for post links (``channel``, else the URL's last path part)."""
        return self.channel or self.fetch_url.rstrip("/").rsplit("/", 1)[-1]


Severity = Literal["info", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "high", "critical")  # in rising order
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"


class ChannelSpec(_Model):
    """The long form of a channel: its Apprise URL and when its alerts may go out (monitor/pacing.py).

    ``mode: digest`` folds alerts into one message per ``digest`` period (``hourly``, ``daily 08:00``,
    ``every 30m``); ``quiet_hours`` ("22:00-07:00", in ``timezone``) defers delivery to the end of the quiet
    period; alerts of severity ``urgent`` or above bypass both; ``rate_limit`` ("10/h") folds the overflow
    into the next digest instead of dropping it."""

    url: StrictStr
    mode: Literal["immediate", "digest"] = "immediate"
    digest: StrictStr = Field(default="hourly", pattern=rf"^(hourly|daily {_CLOCK}|every \d+[mh])$")
    timezone: StrictStr = "UTC"
    quiet_hours: StrictStr | None = Field(default=None, pattern=rf"^{_CLOCK}-{_CLOCK}$")
    urgent: Severity | None = "critical"
    rate_limit: StrictStr | None = Field(default=None, pattern=r"^[1-9][0-9]{0,5}/(m|h|d)$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Kyiv)") from None
        return v

    @field_validator("digest")
    @classmethod
    def _digest_period(cls, v: str) -> str:
        if v.startswith("every ") and not 1 <= int(v[6:-1]) * (60 if v.endswith("h") else 1) <= 1440:
            raise ValueError("an every-digest period must be between 1m and 24h")
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_span(cls, v: str | None) -> str | None:
        if v is not None and v[:5] == v[6:]:
            raise ValueError("quiet_hours must start and end at different times")
        return v


def _channel(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A channel is a URL or a ChannelSpec mapping; validating one or the other (not a plain union) keeps
    problems at ``channels.<name>.<field>`` instead of one per union member (``channels.x.str``, ...)."""
    if isinstance(value, dict):
        return ChannelSpec.model_validate(value)
    if not isinstance(value, str | ChannelSpec):
        raise ValueError("expected an Apprise URL or a mapping with url: and delivery options")
    return handler(value)


Channel = Annotated[StrictStr | ChannelSpec, WrapValidator(_channel)]


class PlaceRef(_Model):
    """The long form of a ``places`` entry: ``{name: Kamianka, oblast: Kharkiv}``."""

    name: StrictStr = Field(min_length=1)
    oblast: StrictStr | None = None


def _place_entry(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A place is a name ("Izium", "Kamianka, Kharkiv") or a PlaceRef mapping (problems keep their path)."""
    if isinstance(value, dict):
        return PlaceRef.model_validate(value)
    if not isinstance(value, str | PlaceRef):
        raise ValueError("Input should be a valid string")  # a place name (or a mapping with name: and oblast:)
    return handler(value)


class Area(_Model):
    """A geo-fence of a watch: the settlements within ``km`` of ``near``, or those of ``oblast``."""

    near: StrictStr | None = None
    km: StrictInt | StrictFloat = Field(default=25, gt=0, le=300)
    oblast: StrictStr | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Area:
        if (self.near is None) == (self.oblast is None):
            raise ValueError("an area needs either near: (a place, with km:) or oblast:")
        return self


def _near(value: object) -> object:
    """``near:`` words (12, or "NEAR/12"), ``sentence`` or ``story``."""
    if value is None or value in ("sentence", "story"):
        return value
    if isinstance(value, str) and (m := re.fullmatch(r"NEAR/(\d{1,3})", value.strip(), re.IGNORECASE)):
        value = int(m.group(1))
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 200:
        return value
    raise ValueError("expected a number of words (0-200), sentence or story")


PlaceEntry = Annotated[StrictStr | PlaceRef, WrapValidator(_place_entry)]


class Watch(_Model):
    """One alerting rule: terms, places and where its alerts go."""

    name: StrictStr = Field(pattern=_NAME)
    preset: StrictStr | None = None
    any: list[StrictStr] = Field(default_factory=list, max_length=10000)
    all: list[StrictStr] = Field(default_factory=list, max_length=1000)
    none: list[StrictStr] = Field(default_factory=list, max_length=10000)
    places: list[PlaceEntry] = Field(default_factory=list, max_length=10000)
    notify: list[StrictStr] = Field(default_factory=lambda: ["log"], min_length=1)
    severity: Severity = "high"
    # Rule language (monitor/match_rules.py): geo-fence, proximity of terms and places, field and source scope.
    area: Area | None = None
    near: Annotated[int | str | None, BeforeValidator(_near)] = None  # default: one sentence or 12 words
    scope: Literal["title", "title+text"] = "title+text"
    sources: list[StrictStr] | None = Field(default=None, max_length=20000)
    source_tags: list[StrictStr] | None = Field(default=None, max_length=1000)
    # Later independent sources joining an alerted cluster: ignored, listed in the next digest, or a follow-up.
    followups: Literal["off", "digest", "thread"] = "digest"
    min_sources: StrictInt = Field(default=1, ge=1, le=100)  # alert once this many independent sources carry it
    on_retraction: bool = False  # alert when an alerted story is deleted or vanishes from its source


class Config(_Model):
    """The whole watchlist file."""

    database: StrictStr | None = None
    settings: Settings = Settings()
    sources: list[Source] = Field(default_factory=list, max_length=20000)
    channels: dict[Annotated[StrictStr, Field(pattern=_NAME)], Channel] = Field(default_factory=dict)
    watches: list[Watch] = Field(default_factory=list, max_length=1000)

    def channel_urls(self) -> dict[str, str]:
        """Each channel's Apprise URL (short form: the value itself)."""
        return {name: v if isinstance(v, str) else v.url for name, v in self.channels.items()}

    def channel_spec(self, name: str) -> ChannelSpec:
        """A channel's delivery options; the short form and the built-in ``log`` send immediately."""
        value = self.channels.get(name)
        if isinstance(value, ChannelSpec):
            return value
        return ChannelSpec(url=value if isinstance(value, str) else name)

    def database_url(self, environ: Mapping[str, str] | None = None) -> str:
        """``NEWS_MONITOR_DATABASE_URL``, else ``database``, else SQLite under ./var/."""
        env = os.environ if environ is None else environ
        return env.get("NEWS_MONITOR_DATABASE_URL") or self.database or "sqlite:///var/news-monitor.db"
