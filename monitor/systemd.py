"""sd_notify over ``$NOTIFY_SOCKET`` (READY, RELOADING, STOPPING, WATCHDOG, STATUS); a no-op
without the socket, so the daemon runs the same in a terminal, in tests and under systemd."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class Notifier:
    """Sends notify messages to the socket named in the environment it was built with."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        """True when running under a supervisor that listens."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message; False when there is no socket, it cannot be reached, or its queue is full
        (the send never blocks: a supervisor that stopped reading must not freeze the event loop)."""
        if self.address is None:
            return False
        addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        data = message.encode("utf-8", "replace")  # a lone surrogate (e.g. from a path) must not raise
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as s:
                s.connect(addr)
                s.send(data)
        except OSError:  # BlockingIOError (queue full) included
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")
