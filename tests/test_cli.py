"""monitor.cli.main in-process (plus one ``python -m monitor --help`` subprocess): exit codes, what each
command prints, config discovery (-c, NEWS_MONITOR_CONFIG) and the database setting
(NEWS_MONITOR_DATABASE_URL, ``database:``). Feeds and webhooks are loopback servers."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor import __version__
from monitor.cli import main
from monitor.demo import FixtureServer, demo_config
from monitor.store import alerts as store_alerts
from monitor.store import circuits as store_circuits
from monitor.store import engine as store_engine
from tests.loglevels import levels_kept
from tests.loopback import Reply, WebhookReceiver
from tests.test_outbox_policy import queue

ROOT = Path(__file__).resolve().parent.parent
BROKEN = """\
sources:
  - {name: a, urll: "http://127.0.0.1:9/a.xml"}
  - {name: b, url: "ftp://127.0.0.1/b.xml", interval: 5 minutes}
watches:
  - {name: w, places: [Izium], notify: [slack]}
"""
BAD_CHANNELS = """\
database: sqlite:///{dir}/bad.db
channels:
  desk: "slakc://x/y/z"
  ops: "${{OPS_HOOK}}"
  fine: "json://127.0.0.1:9/hook"
watches:
  - {{name: w, places: [Atlantis-on-Sea], notify: [desk, ops, fine]}}
"""
PROBLEM = re.compile(r"^(?P<file>\S+\.yaml):(?P<line>\d+):(?P<col>\d+): (?P<path>[\w.]+): (?P<msg>.+)$")
# Loggers the CLI and the demo retune globally; restored after each test so other modules see no change.


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NEWS_MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("NEWS_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # the default paths (config/, var/) are relative
    with levels_kept():
        yield


@pytest.fixture
def feeds() -> Iterator[FixtureServer]:
    with FixtureServer().running() as server:
        yield server


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def good_config(
    tmp_path: Path, base: str = "http://127.0.0.1:9", channels: dict[str, str] | None = None
) -> Path:
    return write(tmp_path / "watchlist.yaml", demo_config(base, tmp_path, channels))


# -- check ------------------------------------------------------------------------------------------------


def test_check_good_config_prints_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = good_config(tmp_path)
    assert main(["-c", str(path), "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ok (4 sources, 1 watches, channels: log)")


def test_check_broken_config_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "broken.yaml", BROKEN)
    assert main(["-c", str(path), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    parsed = [PROBLEM.match(line) for line in lines]
    assert all(parsed), lines
    found = {(m["line"], m["path"]) for m in parsed if m}
    assert found == {("2", "sources.0.urll"), ("3", "sources.1.url"), ("3", "sources.1.interval"),
                     ("5", "watches.0.notify.0")}
    assert {m["file"] for m in parsed if m} == {str(path)}
    assert "unknown channel 'slack'" in "\n".join(lines)


def bad_channel_lines(path: Path) -> list[str]:
    return [f"{path}:3:9: channels.desk: not a usable Apprise URL (scheme 'slakc')",
            f"{path}:4:8: channels.ops: empty URL (is the environment variable set and non-empty?)",
            f"{path}:7:24: watches.0.places.0: unknown place 'Atlantis-on-Sea'"]


def test_check_builds_every_channel_and_reports_each_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped scheme and a variable set to "" fail ``check`` (the unit's ExecStartPre), every one
    with its position, together with the watch problems."""
    monkeypatch.setenv("OPS_HOOK", "")
    path = write(tmp_path / "watchlist.yaml", BAD_CHANNELS.format(dir=tmp_path))
    assert main(["-c", str(path), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == bad_channel_lines(path)
    assert all(PROBLEM.match(line) for line in lines)
    assert "slakc://x/y/z" not in "\n".join(lines)  # a channel URL is a secret: named, never printed


def test_once_and_run_refuse_bad_channels_with_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPS_HOOK", "")
    path = write(tmp_path / "watchlist.yaml", BAD_CHANNELS.format(dir=tmp_path))
    assert main(["-c", str(path), "once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("news-monitor: ") and err.splitlines()[1:] == bad_channel_lines(path)[1:]
    assert bad_channel_lines(path)[0] in err.splitlines()[0]

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPS_HOOK": ""}
    proc = subprocess.run([sys.executable, "-m", "monitor", "-c", str(path), "run"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 1
    for line in bad_channel_lines(path):
        assert line in proc.stderr
    assert not (tmp_path / "bad.db").exists()  # refused before the database was opened


def test_check_yaml_syntax_error_has_a_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "bad.yaml", "sources:\n  - {name: a\n")
    assert main(["-c", str(path), "check"]) == 1
    assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", capsys.readouterr().out)


def test_config_path_comes_from_flag_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = good_config(tmp_path)
    broken = write(tmp_path / "broken.yaml", BROKEN)

    assert main(["check"]) == 1  # neither: config/watchlist.yaml under the working directory
    assert "config/watchlist.yaml: cannot read" in capsys.readouterr().out

    monkeypatch.setenv("NEWS_MONITOR_CONFIG", str(good))
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith(f"{good}: ok")

    assert main(["-c", str(broken), "check"]) == 1  # the flag wins over the environment
    assert str(broken) in capsys.readouterr().out

    (tmp_path / "config").mkdir()
    write(tmp_path / "config" / "watchlist.yaml", good.read_text(encoding="utf-8"))
    monkeypatch.delenv("NEWS_MONITOR_CONFIG")
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("config/watchlist.yaml: ok")


# -- db upgrade, once, status -----------------------------------------------------------------------------


def test_db_upgrade_creates_the_configured_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = good_config(tmp_path)
    assert main(["-c", str(path), "db", "upgrade"]) == 0
    assert (tmp_path / "demo.db").is_file()
    assert "database at the newest revision: sqlite:///" in capsys.readouterr().out
    assert main(["-c", str(path), "db", "upgrade"]) == 0  # idempotent


def test_db_upgrade_honours_the_database_url_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = good_config(tmp_path)
    monkeypatch.setenv("NEWS_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/from-env.db")
    assert main(["-c", str(path), "db", "upgrade"]) == 0
    assert (tmp_path / "from-env.db").is_file() and not (tmp_path / "demo.db").exists()
    assert "from-env.db" in capsys.readouterr().out


def test_db_upgrade_with_a_broken_config_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(write(tmp_path / "broken.yaml", BROKEN)), "db", "upgrade"]) == 1
    assert capsys.readouterr().err.startswith("news-monitor: ")
    assert list(tmp_path.glob("*.db")) == []


def test_once_survives_a_failing_source_and_status_reports_it(
    tmp_path: Path, feeds: FixtureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    text = demo_config(feeds.base, tmp_path).replace(
        "sources:\n", f'sources:\n  - {{name: broken, url: "{feeds.base}/missing.xml"}}\n')
    # The fixtures are from 2022 and `once` runs on the real clock: let their stories count as fresh.
    text = text.replace("settings:\n", "settings:\n  max_age: 36500d\n")
    path = write(tmp_path / "watchlist.yaml", text)
    assert main(["-c", str(path), "once"]) == 0
    assert "/missing.xml" in feeds.requests
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # the Axios story and the Telegram post, through the log channel

    capsys.readouterr()
    assert main(["-c", str(path), "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[:-2]}
    assert set(rows) == {"axios", "broken", "genstaff", "newsbreak-today", "ohio-local"}
    assert re.fullmatch(r"stories: \d+, clusters: \d+; sources: ok 5", out[-2])  # one failure is not "failing" yet
    assert "http_status x1" in rows["broken"] and "last success: never" in rows["broken"]
    assert all(" ok " in rows[name] and "never" not in rows[name] for name in set(rows) - {"broken"})
    assert out[-1] == "alerts: pending 0, sending 0, sent 2, dead 0"


def test_status_flags_a_partial_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated = (ROOT / "tests" / "data" / "feeds" / "truncated.xml").read_bytes()
    reply = Reply(body=truncated, headers=(("Content-Type", "application/rss+xml"),))
    with WebhookReceiver(default=reply) as server:
        path = write(tmp_path / "watchlist.yaml", f"""\
database: sqlite:///{tmp_path}/t.db
settings: {{alerts_file: {tmp_path}/alerts.jsonl}}
sources:
  - {{name: cut, url: "{server.url}/feed.xml"}}
""")
        assert main(["-c", str(path), "once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(path), "status"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split()[:3] == ["cut", "ok", "(parse_partial)"]


def test_once_with_a_config_error_returns_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(write(tmp_path / "broken.yaml", BROKEN)), "once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("news-monitor: ") and "sources.0.urll" in err


def test_status_before_the_database_exists_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(good_config(tmp_path)), "status"]) == 1
    assert "run: news-monitor db upgrade" in capsys.readouterr().err


# -- test-notify ------------------------------------------------------------------------------------------


def test_test_notify_sends_one_message_to_the_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with WebhookReceiver() as hook:
        path = good_config(tmp_path, channels={"desk": f"json://127.0.0.1:{hook.port}/hook"})
        assert main(["-c", str(path), "test-notify", "desk"]) == 0
    assert len(hook.requests) == 1
    assert hook.requests[0].path == "/hook" and hook.requests[0].json["title"] == "news-monitor test alert"
    assert capsys.readouterr().out.strip() == "desk: sent"
    assert not (tmp_path / "demo.db").exists()  # straight to the channel, no outbox


def test_test_notify_reports_a_failed_send(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with WebhookReceiver(default=Reply(status=500, body=b"boom")) as hook:
        path = good_config(tmp_path, channels={"desk": f"json://127.0.0.1:{hook.port}/hook"})
        assert main(["-c", str(path), "test-notify", "desk"]) == 1
    assert len(hook.requests) == 1
    assert capsys.readouterr().out.startswith("desk: FAILED")


def test_test_notify_unknown_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(good_config(tmp_path)), "test-notify", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown channel 'nope'" in err and "known: log" in err


# -- version, help, demo ----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"news-monitor {__version__}"


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage: news-monitor" in capsys.readouterr().err


def test_python_m_monitor_help(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: news-monitor")
    for command in ("run", "once", "check", "explain", "backtest", "db", "test-notify", "status", "alerts", "demo"):
        assert command in proc.stdout


def test_demo_prints_the_update_and_nothing_for_the_typo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "ALERT  Update: Ukraine furthers gains in Kharkiv region" in out
    phase1, phase2, phase3 = re.split(r"^=== phase \d: .*===$", out, flags=re.MULTILINE)[1:]
    assert "ALERT  Ukraine furthers gains in Kharkiv region" in phase1
    assert "ALERT  Update: Ukraine furthers gains in Kharkiv region" in phase2
    assert "(no alerts)" in phase3 and "ALERT" not in phase3
    assert "prisoner" not in out


def test_demo_keep_leaves_its_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--keep", str(tmp_path / "kept")]) == 0
    assert (tmp_path / "kept" / "demo.db").is_file()
    assert len((tmp_path / "kept" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()) == 3


# -- alerts: list and retry -------------------------------------------------------------------------------


def alerts_db(tmp_path: Path) -> tuple[Path, Engine]:
    """A migrated database with four alerts: a0 sent (desk), a1 dead (desk), a2 pending (ops), a3 held
    (desk, whose circuit is broken), created a minute apart; returns the config path and the engine."""
    path = write(tmp_path / "watchlist.yaml", f"database: sqlite:///{tmp_path}/a.db\n"
                 "channels: {desk: 'json://127.0.0.1:9/d', ops: 'json://127.0.0.1:9/o'}\n")
    assert main(["-c", str(path), "db", "upgrade"]) == 0
    engine = store_engine.make_engine(f"sqlite:///{tmp_path}/a.db")
    t0, lease = datetime(2022, 9, 11, 16, 0, tzinfo=UTC), timedelta(minutes=5)
    for i, channel in enumerate(["desk", "desk", "ops", "desk"]):
        queue(engine, t0 + timedelta(minutes=i), channel, f"a{i}", severity="critical" if i == 1 else "high")
    a0, a1, a2, a3 = store_alerts.claim_due(engine, t0 + timedelta(minutes=5), lease=lease)
    store_alerts.mark_sent(engine, a0.id, t0)
    store_alerts.release(engine, a2.id, t0)
    store_alerts.mark_dead(engine, a1.id, "HTTP 404:\nno_service")
    store_circuits.trip(engine, "desk", t0, url_hash="x", probe_at=t0, claimed_ids=[a3.id], notice=None)
    return path, engine


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def test_alerts_lists_the_newest_first_with_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, engine = alerts_db(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(path), "alerts"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["ID", "CREATED", "(UTC)", "CHANNEL", "KIND", "SEVERITY", "STATUS", "ATT",
                                           "LAST", "ERROR", "TITLE"]
    rows = table(out)
    assert [(r[0], r[3], r[6], r[-1]) for r in rows] == [("4", "desk", "held", "a3"), ("3", "ops", "pending", "a2"),
                                                         ("2", "desk", "dead", "a1"), ("1", "desk", "sent", "a0")]
    assert rows[2][1:8] == ["2022-09-11", "16:01", "desk", "new", "critical", "dead", "1"]
    assert "HTTP 404: no_service" in out  # the last error, on one line

    assert main(["-c", str(path), "alerts", "--status", "dead"]) == 0
    assert [r[0] for r in table(capsys.readouterr().out)] == ["2"]
    assert main(["-c", str(path), "alerts", "--channel", "desk", "--limit", "2"]) == 0
    assert [r[0] for r in table(capsys.readouterr().out)] == ["4", "2"]
    assert main(["-c", str(path), "alerts", "--channel", "nope"]) == 0
    assert capsys.readouterr().out.strip() == "no alerts on nope"
    assert main(["-c", str(path), "alerts", "--status", "lost"]) == 1
    assert "unknown status 'lost'" in capsys.readouterr().err
    engine.dispose()


def test_alerts_retry_requeues_a_dead_or_held_alert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, engine = alerts_db(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(path), "alerts", "retry", "2"]) == 0
    first, note = capsys.readouterr().out.splitlines()
    assert first == "alert 2 requeued (was dead) for channel desk"
    assert note.startswith("note: channel desk is broken")
    [row] = [r for r in store_alerts.recent(engine) if r.id == 2]
    assert (row.status, row.attempts) == ("pending", 0)
    assert main(["-c", str(path), "alerts", "retry", "2"]) == 1
    assert "alert 2 is pending; only dead or held alerts can be retried" in capsys.readouterr().err
    assert main(["-c", str(path), "alerts", "retry", "4"]) == 0  # held: requeued, with a note on the circuit
    assert "channel desk is broken" in capsys.readouterr().out
    assert main(["-c", str(path), "alerts", "retry", "99"]) == 1
    assert "no alert with id '99'" in capsys.readouterr().err
    assert main(["-c", str(path), "alerts", "retry"]) == 1
    assert "give an alert id or --channel NAME" in capsys.readouterr().err
    engine.dispose()


def test_alerts_retry_channel_closes_the_circuit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, engine = alerts_db(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(path), "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["alerts: pending 1, sending 0, sent 1, dead 1, held 1",
                        "broken channels: desk (news-monitor alerts retry --channel NAME)"]
    assert main(["-c", str(path), "alerts", "retry", "--channel", "desk"]) == 0
    assert capsys.readouterr().out.strip() == "channel desk: circuit closed; 1 held alerts requeued"
    assert not store_circuits.load(engine)["desk"].broken
    assert store_alerts.counts(engine) == {"pending": 2, "sent": 1, "dead": 1}
    assert main(["-c", str(path), "alerts", "retry", "--channel", "desk"]) == 0
    assert capsys.readouterr().out.strip() == "channel desk: circuit was not broken; 0 held alerts requeued"
    assert main(["-c", str(path), "alerts", "retry", "--channel", "nope"]) == 1
    assert "no alerts and no circuit for channel 'nope'" in capsys.readouterr().err
    engine.dispose()


def test_alerts_before_the_database_exists_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(good_config(tmp_path)), "alerts"]) == 1
    assert "run: news-monitor db upgrade" in capsys.readouterr().err


# -- web (the status pages; serving itself: tests/test_web_serve.py) ----------------------------------------


def test_web_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    assert "--listen HOST:PORT" in capsys.readouterr().out


def test_web_rejects_a_bad_listen_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "watchlist.yaml", f"database: sqlite:///{tmp_path}/w.db\n")
    assert main(["-c", str(path), "web", "--listen", "8787"]) == 1
    assert "--listen '8787': expected HOST:PORT" in capsys.readouterr().err


def test_web_needs_a_migrated_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "watchlist.yaml", f"database: sqlite:///{tmp_path}/w.db\n")
    assert main(["-c", str(path), "web"]) == 1
    assert "the database is not migrated; run: news-monitor db upgrade" in capsys.readouterr().err


def test_test_notify_links_nothing_without_a_story(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """With ``settings.web.public_url`` the channels link stories; the test alert has none, so no link."""
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    path = write(tmp_path / "watchlist.yaml", f"database: sqlite:///{tmp_path}/w.db\n"
                 "settings:\n  web: {public_url: 'https://monitor.example.org'}\n")
    assert main(["-c", str(path), "test-notify", "log"]) == 0
    assert "log: sent" in capsys.readouterr().out
    assert "news-monitor test alert" in caplog.text and "Story page" not in caplog.text
