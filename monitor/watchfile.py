"""Hot reload: notice an edited watchlist without a signal, and report a bad edit once.

``FileWatch`` looks at the file with one ``stat`` per poll and reads it only when the stat changed and then
held still for one poll (an editor still writing in place is not read half-written). Its content hash,
not its timestamps, decides whether it changed: a save that renames a temporary file over it (vim, emacs,
``sed -i``), a ``touch`` or a deleted-then-restored file with the running content reload nothing. A file
that disappears keeps the running config (told once); when it is back with other content, that loads.

``ConfigWatcher`` runs the daemon's reload (validate first, swap only a good file) on a change or on SIGHUP.
A bad file keeps the running config; its problems are logged by the reload and sent once per distinct
content as a notice to ``settings.ops_channel`` (through the outbox, like the health notices) until a good
file is applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.context import Context
from monitor.errors import MonitorError
from monitor.models import Alert
from monitor.scheduler import schedule_config_watch
from monitor.store import health as store_health

log = logging.getLogger("monitor.reload")
NOTICE_WATCH = "config-reload"
NOTICE_LINES = 20  # problems listed in one notice (the log has them all)
REMEMBERED = 64  # bad contents remembered as already reported


@dataclass(frozen=True)
class Stamp:
    """What one ``stat`` says about the file: another inode (a rename), size or mtime means look again."""

    inode: int
    size: int
    mtime_ns: int


def stamp(path: Path) -> Stamp | None:
    """The file's stamp, or None when it cannot be seen (deleted, or mid-rename)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(st.st_ino, st.st_size, st.st_mtime_ns)


def digest(path: Path) -> str | None:
    """sha256 of the file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class FileWatch:
    """The content last loaded (``loaded``: its hash) and what the previous poll saw."""

    path: Path
    loaded: str | None
    seen: Stamp | None  # the stamp at the previous poll
    read: Stamp | None  # the stamp whose content was last hashed
    missing: bool = False

    @classmethod
    def start(cls, path: Path) -> FileWatch:
        """Watch ``path`` from its current content (the one just loaded)."""
        now = stamp(path)
        return cls(path, digest(path), now, now, missing=now is None)

    def poll(self) -> str | None:
        """The hash of new content to load (once per distinct content in a row), else None. Sets ``missing``."""
        now, before = stamp(self.path), self.seen
        self.seen = now
        self.missing = now is None
        if now is None or now != before or now == self.read:  # gone, still changing, or already read
            return None
        self.read = now
        content = digest(self.path)
        if content is None or content == self.loaded:
            return None
        self.loaded = content
        return content

    def rebase(self) -> str | None:
        """Take the file as it is now as loaded (SIGHUP reloads it whatever the stamps say); its hash."""
        self.seen = self.read = stamp(self.path)
        self.missing = self.seen is None
        self.loaded = digest(self.path)
        return self.loaded


Reload = Callable[[], "list[str] | None"]  # the daemon's reload: its problems when the file was refused


@dataclass
class ConfigWatcher:
    """Reloads the watchlist when its content changes (``poll``, a scheduler job) or on SIGHUP (``sighup``)."""

    file: FileWatch
    reload: Reload
    ctx: Context
    drain: Callable[[], Awaitable[None]]  # sends the notice now rather than at the next outbox run
    reported: list[str] = field(default_factory=list)  # hashes of bad contents already told to the operator
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    was_missing: bool = False

    async def poll(self) -> None:
        """One look at the file: reload new content; tell once that the file went missing."""
        content = self.file.poll()
        if self.file.missing != self.was_missing:
            self.was_missing = self.file.missing
            if self.file.missing:
                log.warning("config %s is missing; keeping the running config until it is back", self.file.path)
            else:
                log.info("config %s is back", self.file.path)
        if content is not None:
            log.info("config %s changed; reloading", self.file.path)
            await self._reload(content)

    def schedule(self, scheduler: Any) -> None:
        """Add ``poll`` to the daemon's scheduler."""
        schedule_config_watch(scheduler, self.poll, self.ctx.clock())

    def sighup(self) -> None:
        """The SIGHUP handler: reload now (in a task, so a refused file can be told to the operator)."""
        task = asyncio.ensure_future(self._reload(self.file.rebase()))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reload(self, content: str | None) -> None:
        problems = self.reload()
        if problems is None:  # applied: a later bad edit is news again, even one seen before
            self.reported = []
            return
        if content is None or content in self.reported:
            return
        self.reported = [*self.reported, content][-REMEMBERED:]
        try:
            await tell_operator(self.ctx, self.file.path, problems)
        except MonitorError as exc:  # the log has the problems already
            log.error("cannot queue the notice about the refused config: %s", exc)
            return
        if self.ctx.config.settings.ops_channel:
            await self.drain()


async def tell_operator(ctx: Context, path: Path, problems: list[str]) -> None:
    """Queue a notice for ``settings.ops_channel`` (when set) that the edited file was refused."""
    channel = ctx.config.settings.ops_channel
    if not channel:
        return
    lines = tuple(problems[:NOTICE_LINES])
    if len(problems) > NOTICE_LINES:
        lines += (f"... and {len(problems) - NOTICE_LINES} more (see the log or run: news-monitor check)",)
    notice = Alert(alert_id="", channel=channel, kind="notice", title=f"news-monitor: {path} refused, "
                   "the running config is kept", link=None, sources=(), watch=NOTICE_WATCH, terms=(),
                   places=(), excerpt="\n".join(lines), severity="high")
    await ctx.db(store_health.queue, ctx.engine, ctx.clock(), notice, lines)
