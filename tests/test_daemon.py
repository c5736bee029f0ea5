"""The daemon as a real process under a fake systemd notify socket: readiness after config and
database, watchdog pings, reload with a good and a broken file, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.demo import FixtureServer, demo_config

ROOT = Path(__file__).resolve().parent.parent


class NotifySocket:
    """A bound AF_UNIX datagram socket that collects sd_notify messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        """Read messages until one contains ``needle`` (bounded by ``timeout`` per read)."""
        self.sock.settimeout(timeout)
        for _ in range(200):
            msg = self.sock.recv(4096).decode()
            self.messages.append(msg)
            if needle in msg:
                return msg
        raise AssertionError(f"{needle!r} never arrived: {self.messages}")


@pytest.fixture
def daemon_env(tmp_path: Path) -> Iterator[tuple[Path, NotifySocket, dict[str, str]]]:
    notify = NotifySocket(tmp_path / "notify.sock")
    with FixtureServer().running() as feeds:
        config = tmp_path / "watchlist.yaml"
        config.write_text(demo_config(feeds.base, tmp_path), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "NEWS_MONITOR_DATABASE_URL"}
        env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="400000", PYTHONPATH=str(ROOT))
        yield config, notify, env
    notify.sock.close()


def start(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], env=env,
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _output(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    with proc.stdout:
        return proc.stdout.read().decode()


def test_ready_watchdog_reload_and_stop(daemon_env: tuple[Path, NotifySocket, dict[str, str]]) -> None:
    config, notify, env = daemon_env
    proc = start(config, env)
    try:
        assert "STATUS=4 sources" in notify.wait_for("READY=1")
        assert "alerts pending" in notify.wait_for("WATCHDOG=1")
        good = config.read_text(encoding="utf-8")
        config.write_text(good + "  - {name: broken, places: [Atlantis-on-Sea]}\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        assert "MONOTONIC_USEC=" in notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert proc.poll() is None  # the broken file was refused; the daemon runs on
        config.write_text(good, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = _output(proc)
    assert "reload failed, keeping the running config" in output
    assert "unknown place 'Atlantis-on-Sea'" in output and "watchlist.yaml:" in output


def test_bad_config_fails_before_ready(daemon_env: tuple[Path, NotifySocket, dict[str, str]]) -> None:
    config, notify, env = daemon_env
    config.write_text("sources:\n  - {name: x, urll: http://example.org}\n", encoding="utf-8")
    proc = start(config, env)
    assert proc.wait(timeout=30) == 1
    output = _output(proc)
    assert "watchlist.yaml:2:" in output and "urll" in output
    notify.sock.settimeout(0.01)
    with pytest.raises(TimeoutError):
        notify.sock.recv(4096)
