"""The rule author's commands: ``check`` (validation, then lint), ``explain`` (why each watch did or did not
match a stored story or a given text) and ``backtest`` (what the current watchlist would have sent)."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor import config as config_mod
from monitor import lint
from monitor.backtest import DEFAULT_SAMPLE, StoredStory, backtest, matcher, render
from monitor.config import Config
from monitor.context import load_gazetteer
from monitor.daemon import load_config
from monitor.errors import ConfigError, MonitorError
from monitor.explain import Verdict, explain
from monitor.gazetteer import Gazetteer
from monitor.render_parts import one_line, safe_link
from monitor.store import engine as store_engine
from monitor.store import replay
from monitor.store.views import Engine

_UNKNOWN_PLACE = re.compile(r"unknown place '([^']+)'")
_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


# -- check -----------------------------------------------------------------------------------------------------

def check(path: Path) -> int:
    """Validate the config (every problem as file:line:col: path: message, unknown places with the closest
    known names), then lint it: errors fail (exit 1), warnings are printed and the check passes."""
    gazetteer = load_gazetteer()
    try:
        cfg, _ = load_config(path, gazetteer)
    except ConfigError as exc:
        suggester: list[lint.Suggester] = []  # built at the first unknown place
        for line in exc.problems:
            print(line)
            print(*_did_you_mean(line, gazetteer, suggester), sep="", end="")
        return 1
    findings = lint.lint(cfg.watches, gazetteer)
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    summary = (f"{len(cfg.sources)} sources, {len(cfg.watches)} watches, "
               f"channels: {', '.join(sorted(set(cfg.channels) | {'log'}))}")
    counted = ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"),
                                                                              (warnings, "warning")) if n)
    print(f"{path}: {'ok' if not errors else 'lint failed'} ({summary})" + (f"; {counted}" if counted else ""))
    for line in located(path, [f.line() for f in findings]):
        print(line)
    return 1 if errors else 0


def _did_you_mean(problem: str, gazetteer: Gazetteer, suggester: list[lint.Suggester]) -> list[str]:
    m = _UNKNOWN_PLACE.search(problem)
    if m is None:
        return []
    if not suggester:
        suggester.append(lint.Suggester(gazetteer))
    close = suggester[0](m.group(1).partition(",")[0])
    return [f"    did you mean: {', '.join(close)}?\n"] if close else []


def located(path: Path, lines: list[str]) -> list[str]:
    """``watches.0.any.2: ...`` lines prefixed with the file:line:col of what they name (the loader's marks)."""
    if not lines:
        return []

    def fail(_: Config) -> None:
        raise ConfigError(lines)

    try:
        config_mod.load(path, check=fail)
    except ConfigError as exc:
        return sorted(exc.problems, key=_position)
    return lines  # pragma: no cover - ``fail`` always raises


def _position(line: str) -> tuple[int, int]:
    m = re.match(r"[^:]*:(\d+):(\d+):", line)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# -- explain ---------------------------------------------------------------------------------------------------

def explain_story(path: Path, ref: str) -> int:
    """``news-monitor explain ID|ALERT-ID|URL``: each watch's verdict on the story's latest version."""
    from monitor.commands import find_story

    gazetteer = load_gazetteer()
    cfg, compiled = load_config(path, gazetteer)
    engine = store_engine.make_engine(cfg.database_url())
    try:
        _require_migrated(engine)
        story_id = find_story(engine, ref)
        story = None if story_id is None else replay.one(engine, story_id)
    finally:
        engine.dispose()
    if story is None:
        raise MonitorError(f"no story {one_line(ref, 200)}")
    tags = _tags(cfg).get(story.source, ())
    verdicts = explain(compiled, story.title, story.text, source=story.source, tags=tags)
    sys.stdout.write(explain_text(verdicts, _story_head(story)))
    return 0


def explain_text_cmd(path: Path, text: str, *, title: str = "", source: str | None = None) -> int:
    """``news-monitor explain --text ... [--title ...] [--source NAME]``: the verdicts on a given text."""
    cfg, compiled = load_config(path, load_gazetteer())
    tags = _tags(cfg).get(source, ()) if source else ()
    verdicts = explain(compiled, title, text, source=source, tags=tags)
    head = [f"Text: {one_line(title or text, 100)}"] + ([f"  Source: {one_line(source, 64)}"] if source else [])
    sys.stdout.write(explain_text(verdicts, head))
    return 0


def _story_head(story: StoredStory) -> list[str]:
    link = safe_link(story.url)
    return [f"Story {story.id}: {one_line(story.title, 200) or '(untitled)'}",
            f"  Source: {one_line(story.source, 64)}, first seen {story.first_seen:%Y-%m-%d %H:%M} UTC"
            + (f"\n  Link:   {link}" if link else "")]


def explain_text(verdicts: Sequence[Verdict], head: Sequence[str]) -> str:
    """The verdicts as terminal text: the matching watches first, with their evidence, then why the others
    did not match."""
    matched = [v for v in verdicts if v.matched]
    lines = [*head, "", f"{len(matched)} of {len(verdicts)} watches match" + (":" if matched else ".")]
    for v in matched:
        lines.append(f"  MATCH  {one_line(v.watch, 64)}  (severity {v.severity})")
        lines += _evidence(v)
    others = [v for v in verdicts if not v.matched]
    if others:
        lines += ["", "No match:"]
        for v in others:
            lines.append(f"  -      {one_line(v.watch, 64)}")
            lines += [f"           why:       {one_line(r, 200)}" for r in v.reasons]
            lines += _evidence(v) if (v.terms or v.places) else []
    return "\n".join(lines) + "\n"


def _evidence(v: Verdict) -> list[str]:
    lines = []
    if v.terms:
        lines.append(f"           terms:     {one_line(', '.join(v.terms), 200)}")
    if v.places:
        lines.append(f"           places:    {one_line(', '.join(v.places), 200)}")
    lines += [f"           sentence:  \"{one_line(s, 300)}\"" for s in v.sentences]
    if v.matched:
        lines += [f"           note:      {one_line(r, 200)}" for r in v.reasons]
    return lines


# -- backtest --------------------------------------------------------------------------------------------------

def parse_since(value: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``90m``, ``2w`` before ``now``, or a date/time (``2026-11-20``, ``2026-11-20T08:00``, UTC)."""
    text = value.strip()
    if m := _SINCE.match(text):
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise MonitorError(f"--since {value!r}: expected a duration (7d, 12h, 90m, 2w) or a date "
                           "(2026-11-20, 2026-11-20T08:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def backtest_cmd(path: Path, *, since: str = "7d", watch: str | None = None, sample: int = DEFAULT_SAMPLE,
                 now: datetime | None = None) -> int:
    """``news-monitor backtest``: the stored stories first seen since ``since`` through the current watchlist."""
    if sample < 0:
        raise MonitorError("--sample must be 0 or more")
    cfg, compiled = load_config(path, load_gazetteer())
    if watch is not None and watch not in {w.name for w in cfg.watches}:
        raise MonitorError(f"no watch {watch!r}; the watches: {', '.join(w.name for w in cfg.watches)}")
    until = now or datetime.now(UTC)
    start = parse_since(since, until)
    engine = store_engine.make_engine(cfg.database_url())
    try:
        _require_migrated(engine)
        report = backtest(replay.since(engine, start, until), compiled, max_age=cfg.settings.max_age,
                          run=matcher(compiled, _tags(cfg)), watch=watch, sample=sample,
                          min_sources={w.name: w.min_sources for w in cfg.watches})
    finally:
        engine.dispose()
    sys.stdout.write(render(report, since=start, until=until, sample=sample))
    return 0


def _tags(cfg: Config) -> dict[str, tuple[str, ...]]:
    return {s.name: tuple(s.tags) for s in cfg.sources}


def _require_migrated(engine: Engine) -> None:
    if not store_engine.is_current(engine):
        raise MonitorError("the database is not migrated; run: news-monitor db upgrade")
