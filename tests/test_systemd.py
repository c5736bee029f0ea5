"""monitor.systemd.Notifier against a real AF_UNIX datagram socket (reliability.md 4.8).

The receiving socket is non-blocking: a local datagram is queued before ``send`` returns, so the
tests read it at once, with no sleeps and no timeouts.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.systemd import Notifier

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX sockets")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket (what systemd listens on) and its NOTIFY_SOCKET value."""
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        yield sock, str(path)


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.mark.parametrize(("send", "expected"), [
    (lambda n: n.ready(), "READY=1"),
    (lambda n: n.ready("watching 2 sources"), "READY=1\nSTATUS=watching 2 sources"),
    (lambda n: n.stopping(), "STOPPING=1"),
    (lambda n: n.watchdog(), "WATCHDOG=1"),
    (lambda n: n.status("polling"), "STATUS=polling"),
    (lambda n: n.notify("WATCHDOG=1\nSTATUS=ok"), "WATCHDOG=1\nSTATUS=ok"),
], ids=["ready", "ready with status", "stopping", "watchdog", "status", "raw message"])
def test_message_arrives(listener: tuple[socket.socket, str], send: Callable[[Notifier], bool],
                         expected: str) -> None:
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert send(notifier) is True
    assert received(sock) == [expected]


def test_reloading_carries_the_monotonic_clock(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert Notifier({"NOTIFY_SOCKET": path}).reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [message] = received(sock)
    first, second = message.split("\n")
    assert first == "RELOADING=1"
    key, _, usec = second.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(usec) <= after


def test_reload_sequence_keeps_order(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.reloading()
    notifier.ready("reloaded")
    messages = received(sock)
    assert [m.split("\n")[0] for m in messages] == ["RELOADING=1", "READY=1"]


def test_reads_os_environ_by_default(listener: tuple[socket.socket, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert Notifier().ready() is True
    assert received(sock) == ["READY=1"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_abstract_namespace_socket() -> None:
    name = f"news-monitor-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready("abstract") is True
        assert received(sock) == ["READY=1\nSTATUS=abstract"]


def test_unencodable_text_is_sent_not_raised(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert Notifier({"NOTIFY_SOCKET": path}).status("bad \udcff name") is True  # lone surrogate
    [message] = received(sock)
    assert message.startswith("STATUS=bad ")


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}], ids=["unset", "empty"])
def test_without_a_socket_nothing_is_sent(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened without NOTIFY_SOCKET")

    monkeypatch.setattr("monitor.systemd.socket.socket", no_socket)
    notifier = Notifier(environ)
    assert not notifier.enabled
    results = [notifier.ready("x"), notifier.reloading(), notifier.stopping(), notifier.watchdog(),
               notifier.status("x"), notifier.notify("READY=1")]
    assert results == [False] * 6


def stale_socket(tmp_path: Path) -> str:
    """A socket file whose listener has gone: connect() is refused."""
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
    return str(path)


def stream_socket(tmp_path: Path) -> str:
    path = tmp_path / "stream.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return str(path)


@pytest.mark.parametrize("address", [
    lambda tmp: str(tmp / "missing.sock"),
    lambda tmp: str(tmp / "no-such-dir" / "n.sock"),
    stale_socket,
    stream_socket,
    lambda tmp: str(tmp / "plain-file"),
    lambda tmp: "/" + "x" * 200,
    lambda tmp: "@news-monitor-nobody-listens-here",
], ids=["missing file", "missing directory", "stale socket", "stream socket", "regular file",
        "path too long", "abstract, no listener"])
def test_unreachable_socket_returns_false(tmp_path: Path, address: Callable[[Path], str]) -> None:
    (tmp_path / "plain-file").write_text("not a socket")
    notifier = Notifier({"NOTIFY_SOCKET": address(tmp_path)})
    assert notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.reloading() is False
    assert notifier.watchdog() is False


@pytest.mark.parametrize(("usec", "interval"), [
    ("400000", 0.2),
    ("30000000", 15.0),
    ("1", 0.0000005),
    ("0", None),
    ("", None),
    ("-400000", None),
    ("4e5", None),
    ("soon", None),
    (None, None),
], ids=["400ms -> 0.2s", "30s -> 15s", "1us", "zero", "empty", "negative", "float syntax", "garbage",
        "unset"])
def test_watchdog_interval_is_half_of_watchdog_usec(usec: str | None, interval: float | None) -> None:
    environ = {} if usec is None else {"WATCHDOG_USEC": usec}
    got = Notifier(environ).watchdog_interval
    assert got == (None if interval is None else pytest.approx(interval))


def test_a_full_socket_queue_never_blocks(tmp_path: Path) -> None:
    """A supervisor that stopped reading: sends fail fast instead of freezing the event loop."""
    path = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        started = time.monotonic()
        results = [notifier.watchdog() for _ in range(2000)]  # far beyond the kernel's queue length
        assert time.monotonic() - started < 5
        assert results[0] is True and results[-1] is False
