"""The strict watchlist loader (monitor/config.py; reliability.md 2.6 C01-C13, recipe 4.7).

Every bad input must come back as one ConfigError whose ``problems`` are
``file:line:col: path: message`` lines, all of them at once, and nothing else may escape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor import config
from monitor.config import ChannelSpec, Config, Source
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "watchlist.yaml"
FILE = "watchlist.yaml"

EXAMPLE = """\
database: sqlite:///var/news-monitor.db
settings:
  interval: 2m
sources:
  - name: kyiv-independent
    url: https://kyivindependent.com/news-archive/rss/
  - name: genstaff
    type: telegram
    channel: GeneralStaffZSU
    interval: 3m
channels:
  desk-slack: ${SLACK_WEBHOOK_URL}
  desk-email: mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org
watches:
  - name: kharkiv-gains
    preset: territorial-gain
    any: ["square kilometers"]
    all: [Ukraine]
    none: ["exercise", "drill"]
    places: [Kharkiv, Izium]
    notify: [desk-slack, desk-email, log]
"""
EXAMPLE_ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "SMTP_USER": "desk",
    "SMTP_PASSWORD": "s3cret",
}
Check = Callable[[Config], object]
LOCATED = re.compile(r"^watchlist\.yaml:\d+:\d+: \S+: \S")


def parse(text: str, environ: dict[str, str] | None = None, check: Check | None = None) -> Config:
    return config.parse_text(text, FILE, environ={} if environ is None else environ, check=check)


def problems_of(text: str, environ: dict[str, str] | None = None, check: Check | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ, check)
    assert info.value.kind == "config"
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- valid input --------------------------------------------------------------------------------


def test_public_example_loads() -> None:
    cfg = parse(EXAMPLE, EXAMPLE_ENV)
    rss, tg = cfg.sources
    assert (rss.name, rss.type) == ("kyiv-independent", "rss")
    assert rss.url == rss.fetch_url == "https://kyivindependent.com/news-archive/rss/"
    assert (tg.name, tg.type, tg.channel, tg.interval) == ("genstaff", "telegram", "GeneralStaffZSU",
                                                           timedelta(minutes=3))
    assert cfg.channels == {
        "desk-slack": "https://hooks.slack.com/services/T000/B000/XXXX",
        "desk-email": "mailtos://desk:s3cret@smtp.example.org?to=desk@example.org",
    }
    [watch] = cfg.watches
    assert watch.name == "kharkiv-gains"
    assert watch.preset == "territorial-gain"
    assert (watch.any, watch.all, watch.none) == (["square kilometers"], ["Ukraine"], ["exercise", "drill"])
    assert watch.places == ["Kharkiv", "Izium"]
    assert watch.notify == ["desk-slack", "desk-email", "log"]
    assert cfg.settings.interval == timedelta(minutes=2)


def test_models_are_frozen() -> None:
    cfg = parse(EXAMPLE, EXAMPLE_ENV)
    with pytest.raises(ValidationError):
        cfg.sources[0].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("fields", "fetch_url", "telegram_channel"), [
    ({"type": "telegram", "channel": "DeepStateUA"}, "https://t.me/s/DeepStateUA", "DeepStateUA"),
    ({"type": "telegram", "channel": "DeepStateUA", "url": "http://127.0.0.1:1200/tg/DeepStateUA"},
     "http://127.0.0.1:1200/tg/DeepStateUA", "DeepStateUA"),
    ({"type": "telegram", "url": "https://mirror.example.org/s/SomeChannel/"},
     "https://mirror.example.org/s/SomeChannel/", "SomeChannel"),
    ({"url": "https://example.org/feed.xml"}, "https://example.org/feed.xml", "feed.xml"),
], ids=["telegram channel -> t.me/s", "url overrides channel", "telegram by url only", "rss url"])
def test_fetch_url(fields: dict[str, str], fetch_url: str, telegram_channel: str) -> None:
    lines = "".join(f"    {k}: {v}\n" for k, v in fields.items())
    [source] = parse(f"sources:\n  - name: s\n{lines}").sources
    assert source.fetch_url == fetch_url
    assert source.telegram_channel == telegram_channel


@pytest.mark.parametrize("text", ["{}\n", "sources: []\n", "# only a comment\nwatches: []\n"],
                         ids=["empty mapping", "empty sources", "comment then empty list"])
def test_defaults(text: str) -> None:
    cfg = parse(text)
    assert cfg.settings.interval == timedelta(minutes=5)
    assert cfg.settings.dedup_window == timedelta(hours=72)
    assert cfg.sources == [] and cfg.watches == [] and cfg.channels == {}
    assert cfg.database is None


def test_source_without_interval_uses_none() -> None:
    [source] = parse("sources:\n  - name: s\n    url: https://example.org/f\n").sources
    assert source.interval is None and source.type == "rss"


@pytest.mark.parametrize(("text", "environ", "url"), [
    ("database: sqlite:///from-file.db\n", {}, "sqlite:///from-file.db"),
    ("database: sqlite:///from-file.db\n", {"NEWS_MONITOR_DATABASE_URL": "postgresql+psycopg://db/news"},
     "postgresql+psycopg://db/news"),
    ("{}\n", {"NEWS_MONITOR_DATABASE_URL": "sqlite:///env.db"}, "sqlite:///env.db"),
    ("{}\n", {}, "sqlite:///var/news-monitor.db"),
    ("{}\n", {"NEWS_MONITOR_DATABASE_URL": ""}, "sqlite:///var/news-monitor.db"),
    ("database: ${DB_URL}\n", {"DB_URL": "sqlite:///expanded.db"}, "sqlite:///expanded.db"),
], ids=["from file", "env overrides file", "env only", "default", "empty env ignored", "${VAR} in database"])
def test_database_url(text: str, environ: dict[str, str], url: str) -> None:
    cfg = parse(text, {k: v for k, v in environ.items() if k == "DB_URL"})
    assert cfg.database_url(environ) == url


def test_env_expansion_is_not_recursive() -> None:
    cfg = parse("channels:\n  a: ${A}\n", {"A": "json://${B}"})
    assert cfg.channels == {"a": "json://${B}"}


def test_default_path() -> None:
    assert config.default_path({}) == Path("config/watchlist.yaml")
    custom = "/etc/news-monitor/w.yaml"
    assert config.default_path({"NEWS_MONITOR_CONFIG": custom}) == Path(custom)


def test_shipped_watchlist_loads() -> None:
    if not SHIPPED.is_file():
        pytest.skip(f"{SHIPPED} is not there yet")
    cfg = config.load(SHIPPED, environ={})
    assert cfg.sources and cfg.watches
    assert all(n in {"log", *cfg.channels} for w in cfg.watches for n in w.notify)


# --- one bad input each: the exact problem lines -------------------------------------------------
# Each expected entry is a prefix of one problem line ("(got ...)" suffixes are not compared).

BAD = [
    pytest.param(
        "sources:\n  - name: a\n    url: https://x.org/a\n    urll: https://x.org/b\n",
        ["watchlist.yaml:4:5: sources.0.urll: Extra inputs are not permitted"],
        id="C06 typo urll: at the key"),
    pytest.param(
        "settings:\n  interval: 5x\n",
        ["watchlist.yaml:2:13: settings.interval: expected a duration such as 30s, 5m, 2h or 3d (got '5x')"],
        id="bad duration 5x"),
    pytest.param(
        "settings:\n  interval: 10s\n",
        ["watchlist.yaml:2:13: settings.interval: interval must be at least 30s"],
        id="C07 settings interval below 30s"),
    pytest.param(
        "sources:\n  - name: a\n    url: https://x.org/a\n    interval: 29s\n",
        ["watchlist.yaml:4:15: sources.0.interval: interval must be at least 30s"],
        id="C07 source interval below 30s"),
    pytest.param(
        "settings:\n  interval: 99999999999999d\n",
        ["watchlist.yaml:2:13: settings.interval: duration is too large"],
        id="duration overflow"),
    pytest.param(
        "watches:\n  - name: w\n    any: [a]\n    notify: [log, desk-slak]\n",
        ["watchlist.yaml:4:19: watches.0.notify.1: unknown channel 'desk-slak' (define it under channels:)"],
        id="unknown channel in notify"),
    pytest.param(
        "settings:\n  ops_channel: ops-desk\n",
        ["watchlist.yaml:2:16: settings.ops_channel: unknown channel 'ops-desk' (define it under channels:)"],
        id="unknown operator channel"),
    pytest.param(
        "settings:\n  min_interval: 10m\n  max_interval: 5m\n",
        ["watchlist.yaml:2:3: settings: max_interval must not be shorter than min_interval"],
        id="min_interval above max_interval"),
    pytest.param(
        "settings:\n  min_interval: 10s\n",
        ["watchlist.yaml:2:17: settings.min_interval: interval must be at least 30s (got '10s')"],
        id="min_interval below 30s"),
    pytest.param(
        "channels:\n  desk: ${SLACK_WEBHOOK_URL}\n",
        ["watchlist.yaml:2:9: channels.desk: environment variable SLACK_WEBHOOK_URL is not set"],
        id="C13 missing env var"),
    pytest.param(
        "watches:\n  - name: w\n    any: [yes, '012', 012]\n",
        ["watchlist.yaml:3:11: watches.0.any.0: Input should be a valid string (got True)",
         "watchlist.yaml:3:23: watches.0.any.2: Input should be a valid string (got 10)"],
        id="C05 yes and 012 not coerced"),
    pytest.param(
        "watches:\n  - name: w\n    places: [Oslo, NO]\n",
        ["watchlist.yaml:3:20: watches.0.places.1: Input should be a valid string (got False)"],
        id="C05 NO is not a place"),
    pytest.param(
        "sources:\n  - name: a\n    url: file:///etc/passwd\n",
        ["watchlist.yaml:3:10: sources.0.url: url must be http(s) (got 'file:///etc/passwd')"],
        id="C08 file url"),
    pytest.param(
        "sources:\n  - name: a\n    url: https://x.org/a\n  - name: a\n    url: https://x.org/b\n",
        ["watchlist.yaml:4:11: sources.1.name: duplicate name 'a'"],
        id="duplicate source name"),
    pytest.param(
        "settings:\n  interval: 5m\n  jitter: 1s\n  interval: 6m\n",
        ["watchlist.yaml:4:3: settings.interval: duplicate key 'interval'"],
        id="C04 duplicate YAML key"),
    pytest.param(
        "sources:\n  - name: a\n    type: atom\n    url: https://x.org/a\n",
        ["watchlist.yaml:3:11: sources.0.type: Input should be 'rss' or 'telegram'"],
        id="unknown source type"),
    pytest.param(
        "sources:\n  - name: a\n    type: telegram\n",
        ["watchlist.yaml:2:5: sources.0: a source needs a url (or, for type: telegram, a channel)"],
        id="telegram without channel or url"),
    pytest.param(
        "sources:\n  - name: a\n    channel: SomeChannel\n    url: https://x.org/a\n",
        ["watchlist.yaml:2:5: sources.0: channel is only for type: telegram"],
        id="channel on an rss source"),
    pytest.param(
        "sources:\n  - url: https://x.org/a\n",
        ["watchlist.yaml:2:5: sources.0.name: Field required"],
        id="missing name"),
    pytest.param(
        "watches:\n  - name: w\n    notify: log\n",
        ["watchlist.yaml:3:13: watches.0.notify: Input should be a valid list"],
        id="notify not a list"),
    pytest.param(
        "- a\n- b\n",
        ["watchlist.yaml:1:1: the top level must be a mapping"],
        id="top level is a list"),
    pytest.param(
        "? [a, b]\n: c\n",
        ["watchlist.yaml:1:3: (top): a mapping key must be a plain scalar"],
        id="non-scalar key"),
    pytest.param(
        "settings:\n  <<: {interval: 5m}\n",
        ["watchlist.yaml:2:3: settings.<<: Extra inputs are not permitted"],
        id="merge key is just an unknown key"),
    pytest.param(
        "database: 2024-02-30\n",
        ["watchlist.yaml:1:11: database: cannot read '2024-02-30': day is out of range for month"],
        id="impossible date"),
    pytest.param(
        "x: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        ["watchlist.yaml:1:4: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"],
        id="C02 python tag"),
    pytest.param(
        "database: !!binary aGVsbG8=\n",
        ["watchlist.yaml:1:11: tag 'tag:yaml.org,2002:binary' is not allowed"],
        id="binary tag"),
    pytest.param(
        "base: &b {interval: 5m}\nsettings: *b\n",
        ["watchlist.yaml:1:7: anchors/aliases are not allowed"],
        id="C01 anchor"),
    pytest.param(
        "sources: [a, b\nwatches: []\n",
        ["watchlist.yaml:2:8: expected ',' or ']', but got ':'"
         " (while parsing a flow sequence at line 1, column 10)"],
        id="C09 syntax error keeps file and line"),
    pytest.param(
        "settings:\n\tinterval: 5m\n",
        ["watchlist.yaml:2:1: found character '\\t' that cannot start any token"],
        id="tab indentation"),
    pytest.param(
        "database: a\x00b\n",
        ["watchlist.yaml: unacceptable character #x0000"],
        id="NUL character"),
    pytest.param("", ["watchlist.yaml: empty file"], id="C10 empty file"),
    pytest.param("# nothing\n\n   \n", ["watchlist.yaml: empty file"], id="C10 comments only"),
    pytest.param("#" * 1_000_001, ["watchlist.yaml: larger than 1 MB"], id="C10 larger than 1 MB"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_input(text: str, expected: list[str]) -> None:
    problems = problems_of(text)
    assert len(problems) == len(expected), problems
    for problem, prefix in zip(problems, expected, strict=True):
        assert problem.startswith(prefix), f"{problem!r} does not start with {prefix!r}"


def test_all_problems_at_once() -> None:
    text = (
        "settings:\n"                                   # 1
        "  interval: 5x\n"                              # 2
        "  interval: 5m\n"                              # 3  duplicate key
        "sources:\n"                                    # 4
        "  - name: a\n"                                 # 5
        "    urll: https://x.org/a\n"                   # 6  typo
        "  - name: a\n"                                 # 7  duplicate name
        "    url: file:///etc/passwd\n"                 # 8
        "channels:\n"                                   # 9
        "  desk: ${MISSING_VAR}\n"                      # 10
        "watches:\n"                                    # 11
        "  - name: w\n"                                 # 12
        "    any: [yes]\n"                              # 13
        "    notify: [nowhere]\n"                       # 14
    )
    problems = problems_of(text)
    assert all(LOCATED.match(p) for p in problems), problems
    heads = [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems]
    assert sorted(heads) == sorted([
        "watchlist.yaml:3:3: settings.interval",
        "watchlist.yaml:10:9: channels.desk",
        "watchlist.yaml:7:11: sources.1.name",
        "watchlist.yaml:14:14: watches.0.notify.0",
        "watchlist.yaml:2:13: settings.interval",
        "watchlist.yaml:6:5: sources.0.urll",
        "watchlist.yaml:8:10: sources.1.url",
        "watchlist.yaml:13:11: watches.0.any.0",
    ])


def test_missing_env_vars_are_all_named_and_no_value_leaks() -> None:
    problems = problems_of(EXAMPLE, {"SMTP_PASSWORD": "s3cret"})
    assert problems == [
        "watchlist.yaml:12:15: channels.desk-slack: environment variable SLACK_WEBHOOK_URL is not set",
        "watchlist.yaml:13:15: channels.desk-email: environment variable SMTP_USER is not set",
    ]
    assert not any("s3cret" in p for p in problems)


# --- hostile YAML: fast, and nothing but ConfigError escapes -------------------------------------


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "expected"), [
    (alias_bomb(), "watchlist.yaml:1:5: anchors/aliases are not allowed"),
    ("[" * 500, "watchlist.yaml:1:21: nesting deeper than 20 levels"),
    ("a: " + "[" * 500 + "]" * 500 + "\n", "watchlist.yaml:1:23: nesting deeper than 20 levels"),
    ("".join("  " * i + f"k{i}:\n" for i in range(500)),
     "watchlist.yaml:21:41: nesting deeper than 20 levels"),
    ("{" * 100_000, "watchlist.yaml:1:21: nesting deeper than 20 levels"),
], ids=["C01 alias bomb 9x9", "C03 500 nested [", "C03 nested [ in a value", "C03 500 nested mappings",
        "100k nested {"])
def test_hostile_yaml_is_rejected_fast(text: str, expected: str) -> None:
    start = time.perf_counter()
    problems = problems_of(text)
    assert time.perf_counter() - start < 1.0
    assert problems == [expected]


def test_nesting_limit_boundary() -> None:
    ok = "a: " + "[" * 19 + "]" * 19 + "\n"             # 1 mapping + 19 sequences = 20 levels
    assert problems_of(ok) == ["watchlist.yaml:1:1: a: Extra inputs are not permitted"]
    too_deep = "a: " + "[" * 20 + "]" * 20 + "\n"
    assert problems_of(too_deep) == ["watchlist.yaml:1:23: nesting deeper than 20 levels"]


# --- check= hook: later checks get the same file:line:col ----------------------------------------


def test_check_hook_problems_are_relocated() -> None:
    text = "watches:\n  - name: w\n    places: [Kyiv, X]\n"
    seen: list[Config] = []

    def check(cfg: Config) -> None:
        seen.append(cfg)
        raise ConfigError(["watches.0.places.1: unknown place 'X'", "something without a path"])

    problems = problems_of(text, check=check)
    assert problems == [
        "watchlist.yaml:3:20: watches.0.places.1: unknown place 'X'",
        "watchlist.yaml: something without a path",
    ]
    assert seen and seen[0].watches[0].places == ["Kyiv", "X"]


def test_check_hook_runs_only_on_a_valid_config() -> None:
    calls: list[Config] = []
    problems_of("settings:\n  interval: 5x\n", check=calls.append)
    assert calls == []
    cfg = parse("watches:\n  - name: w\n", check=calls.append)
    assert calls == [cfg]


# --- load(): bytes from disk ---------------------------------------------------------------------


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert config.load(path, environ=EXAMPLE_ENV) == parse(EXAMPLE, EXAMPLE_ENV)
    by_str = config.load(str(path), environ=EXAMPLE_ENV)
    assert by_str.sources[1].fetch_url == "https://t.me/s/GeneralStaffZSU"


@pytest.mark.parametrize(("content", "message"), [
    (b"database: caf\xe9\n", "not UTF-8 (invalid continuation byte at byte 13)"),
    (b"\xff\xfe\x00\x00", "not UTF-8"),
    (b"#" * 1_000_001, "larger than 1 MB"),
    (b"", "empty file"),
    (b"settings:\n  interval: 5x\n", "2:13: settings.interval: expected a duration"),
], ids=["latin-1 byte", "UTF-32 BOM", "larger than 1 MB", "empty", "schema error keeps the path"])
def test_load_rejects(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:")
    assert message in problem


@pytest.mark.parametrize("name", ["missing.yaml", "."], ids=["missing file", "a directory"])
def test_load_unreadable(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: cannot read: ")


def test_load_accepts_a_utf8_bom_and_non_ascii_terms(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_bytes("\ufeffwatches:\n  - name: kyiv\n    any: [Київ]\n".encode())
    assert config.load(path, environ={}).watches[0].any == ["Київ"]


def test_source_model_rejects_a_non_http_url_directly() -> None:
    with pytest.raises(ValidationError, match="url must be http"):
        Source.model_validate({"name": "a", "url": "ftp://x.org/f"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("settings: {fetch_timeout: 0s}", "settings.fetch_timeout: must be between 1s and 1h",
                     id="0s timeout"),
        pytest.param("settings: {outbox_interval: 0s}", "settings.outbox_interval: must be between 1s and 1h",
                     id="0s outbox"),
        pytest.param("settings: {max_bytes: -5}", "settings.max_bytes: must be between 1KiB and 512MiB",
                     id="negative size"),
        pytest.param("settings: {dedup_window: 0s}", "settings.dedup_window: must be between 1m and 365d",
                     id="empty window"),
        pytest.param("settings: {max_age: 10s}", "settings.max_age: must be between 1m and 36500d", id="tiny max_age"),
        pytest.param("channels: {'bad name!': 'json://127.0.0.1/x'}", "channels.bad name!: String should match",
                     id="channel name"),
    ],
)
def test_settings_bounds(line: str, expected: str) -> None:
    [problem] = problems_of(line + "\n")
    assert re.match(r"watchlist\.yaml:1:\d+: " + re.escape(expected), problem), problem


def test_problems_come_in_file_order() -> None:
    text = "settings:\n  max_bytes: -1\n  interval: 5x\nsources:\n  - {name: a, urll: x}\n"
    lines = problems_of(text)
    assert [p.split(":")[1] for p in lines] == ["2", "3", "5"]


def test_source_urls_expand_environment_variables() -> None:
    text = "sources:\n  - {name: mirror, url: 'http://127.0.0.1:1200/telegram/channel/x?key=${RSSHUB_KEY}'}\n"
    cfg = config.parse_text(text, "watchlist.yaml", environ={"RSSHUB_KEY": "k1"})
    assert cfg.sources[0].url == "http://127.0.0.1:1200/telegram/channel/x?key=k1"
    assert problems_of(text) == [
        "watchlist.yaml:2:25: sources.0.url: environment variable RSSHUB_KEY is not set"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("settings: {dedup_window: 1000000d}", "settings.dedup_window: must be between 1m and 365d",
                     id="window too long"),
        pytest.param("settings: {retry_base: 3000000d}", "settings.retry_base: must be between 1s and 7d",
                     id="retry base too long"),
        pytest.param("settings: {retry_base: 2h, retry_max: 1h}",
                     "settings: retry_max must not be shorter than retry_base", id="retry order"),
        pytest.param("settings: {interval: 30d}", "settings.interval: interval must be at most 7d", id="interval cap"),
    ],
)
def test_settings_upper_bounds(line: str, expected: str) -> None:
    [problem] = problems_of(line + "\n")
    assert re.match(r"watchlist\.yaml:1:\d+: " + re.escape(expected), problem), problem


# --- channels: the long form (url + delivery options, monitor/pacing.py) -------------------------

LONG_FORM = """\
channels:
  desk-slack: ${SLACK_WEBHOOK_URL}
  night-desk:
    url: json://${NIGHT_HOST}/hook
    mode: digest
    digest: daily 08:00
    timezone: Europe/Kyiv
    quiet_hours: "22:00-07:00"
    urgent: high
    rate_limit: 10/h
  defaults:
    url: json://127.0.0.1/defaults
watches:
  - {name: w, notify: [desk-slack, night-desk, defaults, log]}
"""
LONG_FORM_ENV = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X", "NIGHT_HOST": "10.0.0.7"}


def test_channel_long_form_loads() -> None:
    cfg = parse(LONG_FORM, LONG_FORM_ENV)
    night = cfg.channel_spec("night-desk")
    assert night == ChannelSpec(url="json://10.0.0.7/hook", mode="digest", digest="daily 08:00",
                                timezone="Europe/Kyiv", quiet_hours="22:00-07:00", urgent="high", rate_limit="10/h")
    assert cfg.channels["night-desk"] == night and cfg.channels["desk-slack"] == LONG_FORM_ENV["SLACK_WEBHOOK_URL"]
    assert cfg.channel_urls() == {"desk-slack": "https://hooks.slack.com/services/T/B/X",
                                  "night-desk": "json://10.0.0.7/hook", "defaults": "json://127.0.0.1/defaults"}
    defaults = ChannelSpec(url="json://127.0.0.1/defaults")
    assert cfg.channel_spec("defaults") == defaults
    assert (defaults.mode, defaults.digest, defaults.timezone) == ("immediate", "hourly", "UTC")
    assert (defaults.quiet_hours, defaults.urgent, defaults.rate_limit) == (None, "critical", None)
    assert cfg.channel_spec("desk-slack") == ChannelSpec(url="https://hooks.slack.com/services/T/B/X")
    assert cfg.channel_spec("log") == ChannelSpec(url="log")


def test_channel_long_form_url_expands_environment_variables() -> None:
    cfg = parse("channels:\n  a:\n    url: json://${HOST}/x?token=${TOKEN}\n", {"HOST": "h", "TOKEN": "t0"})
    assert cfg.channel_urls() == {"a": "json://h/x?token=t0"}
    assert problems_of("channels:\n  a:\n    url: json://${HOST}/x\n    mode: digest\n") == [
        "watchlist.yaml:3:10: channels.a.url: environment variable HOST is not set"]
    # only the url expands: ${...} elsewhere is just text (and here a bad time zone)
    [problem] = problems_of("channels:\n  a: {url: json://h/x, timezone: '${TZ}'}\n", {"TZ": "UTC"})
    assert problem.startswith("watchlist.yaml:2:34: channels.a.timezone: unknown time zone '${TZ}'")


def long_form(line: str) -> str:
    return f"channels:\n  night:\n    url: json://127.0.0.1/x\n    {line}\n"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(long_form("quiet_hours: '25:00-07:00'"),
                 "watchlist.yaml:4:18: channels.night.quiet_hours: String should match pattern", id="quiet 25:00"),
    pytest.param(long_form("quiet_hours: 22:00-07:00:00"),
                 "watchlist.yaml:4:18: channels.night.quiet_hours: String should match pattern", id="quiet seconds"),
    pytest.param(long_form("quiet_hours: '07:00-07:00'"),
                 "watchlist.yaml:4:18: channels.night.quiet_hours: quiet_hours must start and end at different times",
                 id="quiet empty"),
    pytest.param(long_form("digest: weekly"),
                 "watchlist.yaml:4:13: channels.night.digest: String should match pattern", id="digest weekly"),
    pytest.param(long_form("digest: daily 8:00"),
                 "watchlist.yaml:4:13: channels.night.digest: String should match pattern", id="digest 8:00"),
    pytest.param(long_form("digest: every 0m"),
                 "watchlist.yaml:4:13: channels.night.digest: an every-digest period must be between 1m and 24h",
                 id="digest every 0m"),
    pytest.param(long_form("digest: every 25h"),
                 "watchlist.yaml:4:13: channels.night.digest: an every-digest period must be between 1m and 24h",
                 id="digest every 25h"),
    pytest.param(long_form("timezone: Mars/Base"),
                 "watchlist.yaml:4:15: channels.night.timezone: unknown time zone 'Mars/Base' (an IANA name such as "
                 "Europe/Kyiv)", id="timezone Mars/Base"),
    pytest.param(long_form("timezone: ../../etc/passwd"),
                 "watchlist.yaml:4:15: channels.night.timezone: unknown time zone", id="timezone path"),
    pytest.param(long_form("rate_limit: 10/w"),
                 "watchlist.yaml:4:17: channels.night.rate_limit: String should match pattern", id="rate 10/w"),
    pytest.param(long_form("rate_limit: 0/h"),
                 "watchlist.yaml:4:17: channels.night.rate_limit: String should match pattern", id="rate 0/h"),
    pytest.param(long_form("rate_limit: 10"),
                 "watchlist.yaml:4:17: channels.night.rate_limit: Input should be a valid string", id="rate 10"),
    pytest.param(long_form("mode: later"),
                 "watchlist.yaml:4:11: channels.night.mode: Input should be 'immediate' or 'digest'", id="mode later"),
    pytest.param(long_form("urgent: medium"),
                 "watchlist.yaml:4:13: channels.night.urgent: Input should be 'info', 'high' or 'critical'",
                 id="urgent medium"),
    pytest.param(long_form("quiet: '22:00-07:00'"),
                 "watchlist.yaml:4:5: channels.night.quiet: Extra inputs are not permitted", id="unknown key"),
    pytest.param("channels:\n  night:\n    mode: digest\n",
                 "watchlist.yaml:3:5: channels.night.url: Field required", id="no url"),
    pytest.param("channels:\n  night: 5\n",
                 "watchlist.yaml:2:10: channels.night: expected an Apprise URL or a mapping with url:", id="number"),
])
def test_channel_long_form_problems(text: str, expected: str) -> None:
    [problem] = problems_of(text)
    assert problem.startswith(expected), problem


def test_channel_long_form_problems_all_at_once() -> None:
    text = ("channels:\n  night:\n    url: json://h/x\n    digest: weekly\n    timezone: Mars/Base\n"
            "    quiet_hours: '25:00-07:00'\n    rate_limit: lots\n")
    heads = [": ".join(p.split(": ")[:2]) for p in problems_of(text)]
    assert heads == [
        "watchlist.yaml:4:13: channels.night.digest",
        "watchlist.yaml:5:15: channels.night.timezone",
        "watchlist.yaml:6:18: channels.night.quiet_hours",
        "watchlist.yaml:7:17: channels.night.rate_limit",
    ]


# ${NAME} falls back to the systemd credential $CREDENTIALS_DIRECTORY/NAME (LoadCredential=NAME:/path in the unit).
CRED_TEXT = "channels:\n  desk: ${SLACK_WEBHOOK_URL}\n"


def test_credential_env_var_wins(tmp_path: Path) -> None:
    (tmp_path / "SLACK_WEBHOOK_URL").write_text("json://from-credential/x\n", encoding="utf-8")
    env = {"SLACK_WEBHOOK_URL": "json://from-env/x", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert parse(CRED_TEXT, env).channels["desk"] == "json://from-env/x"


def test_credential_file_used_when_env_var_unset(tmp_path: Path) -> None:
    (tmp_path / "SLACK_WEBHOOK_URL").write_text("json://from-credential/x\r\n\n", encoding="utf-8")
    (tmp_path / "SMTP_PASSWORD").write_bytes(b"p@ss word")  # no newline: kept as is
    text = CRED_TEXT + "  mail: mailtos://desk:${SMTP_PASSWORD}@smtp.example.org\n"
    cfg = parse(text, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert cfg.channels["desk"] == "json://from-credential/x"
    assert cfg.channels["mail"] == "mailtos://desk:p@ss word@smtp.example.org"


def test_credential_missing_both_names_both_places(tmp_path: Path) -> None:
    assert problems_of(CRED_TEXT, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == [
        f"watchlist.yaml:2:9: channels.desk: environment variable SLACK_WEBHOOK_URL is not set"
        f" and there is no credential {tmp_path / 'SLACK_WEBHOOK_URL'}"]


def test_credential_ignored_without_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "SLACK_WEBHOOK_URL").write_text("json://x/y", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a file of that name in the working directory is not a credential
    assert problems_of(CRED_TEXT, {}) == [
        "watchlist.yaml:2:9: channels.desk: environment variable SLACK_WEBHOOK_URL is not set"]


@pytest.mark.parametrize("kind", ["directory", "not utf-8"])
def test_credential_unreadable_is_a_config_problem(tmp_path: Path, kind: str) -> None:
    cred = tmp_path / "SLACK_WEBHOOK_URL"
    if kind == "directory":
        cred.mkdir()
        reason = "cannot be read: Is a directory"
    else:
        cred.write_bytes(b"\xff\xfe")
        reason = "is not UTF-8"
    assert problems_of(CRED_TEXT, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == [
        f"watchlist.yaml:2:9: channels.desk: environment variable SLACK_WEBHOOK_URL is not set"
        f" and the credential {cred} {reason}"]
