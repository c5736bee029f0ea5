"""``news-monitor story ID`` as terminal text: a story's versions (each with its diff against the previous one),
its cluster's members and the alerts sent. Pure: every feed string is cleaned with ``render_parts.one_line``
(no control, escape or bidi characters reach the terminal)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.diff import compare
from monitor.render_parts import LINE_MAX, TITLE_MAX, one_line
from monitor.store.views import AlertItem, StoryPage, Version

NAME_MAX, ERROR_MAX = 64, 60
_WHY = {"deleted": "deleted from the channel", "vanished": "gone from its feed"}


def when(t: datetime | None) -> str:
    return "unknown" if t is None else f"{t:%Y-%m-%d %H:%M:%S} UTC"


def _text(value: str | None, limit: int, empty: str = "-") -> str:
    return one_line(value or "", limit) or empty


def version_lines(versions: Sequence[Version], *, is_place: Callable[[str], bool] | None = None) -> list[str]:
    """Each version (oldest first): its number and seen time, then what changed since the previous one."""
    lines: list[str] = []
    previous: Version | None = None
    for v in versions:
        lines.append(f"  v{v.version}  seen {when(v.seen_at)}" + ("  (alerted)" if v.alerted else ""))
        if previous is None:
            lines.append(f"      first version: {_text(v.title, TITLE_MAX, '(untitled)')}")
        else:
            change = compare(previous.title, previous.text, v.title, v.text, is_place=is_place)
            if change is None:
                lines.append("      cosmetic edit only")
            else:
                lines.extend(f"      + {_text(s, LINE_MAX)}" for s in change.added)
                lines.extend(f"      - {_text(s, LINE_MAX)}" for s in change.removed)
        previous = v
    return lines


def alert_lines(items: Sequence[AlertItem]) -> list[str]:
    """One line per alert and channel: created, watch, channel, kind, severity, status, attempts, last error."""
    rows = [(f"{c.created_at:%Y-%m-%d %H:%M}", _text(item.watch, NAME_MAX), _text(c.channel, NAME_MAX),
             _text(item.kind, 16), _text(item.severity, 16), _text(c.status, 16), str(c.attempts),
             _text(c.last_error, ERROR_MAX))
            for item in items for c in item.channels]
    header = ("CREATED (UTC)", "WATCH", "CHANNEL", "KIND", "SEVERITY", "STATUS", "ATT", "LAST ERROR")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]  # the last column is not padded
    return ["  " + "  ".join([*(cell.rjust(w) if i == 6 else cell.ljust(w)
                                for i, (cell, w) in enumerate(zip(r, widths, strict=False))), r[-1]]).rstrip()
            for r in table]


def story_text(page: StoryPage, alerts: Sequence[AlertItem], *,
               is_place: Callable[[str], bool] | None = None) -> str:
    """The whole history of ``page``'s story as lines of plain text (ending in a newline)."""
    sources = page.corroboration
    outlets = page.outlets
    lines = [
        f"Story {page.id}: {_text(page.title, TITLE_MAX, '(untitled)')}",
        f"  Source:     {_text(page.source, NAME_MAX)}",
        f"  Link:       {_text(page.url, 2000)}",
        f"  First seen: {when(page.first_seen_at)}",
        f"  Published:  {when(page.published_at)}",
        *([f"  Retracted:  {when(page.retracted_at)} ({_WHY.get(page.retraction or '', 'retracted')})"]
          if page.retracted_at else []),
        "",
        f"Cluster: {len(page.members)} stor{'y' if len(page.members) == 1 else 'ies'} "
        f"from {outlets} source{'' if outlets == 1 else 's'}, {sources} independent",
    ]
    width = max((len(_text(m.source, NAME_MAX)) for m in page.members), default=0)
    lines.extend(f"{'*' if m.story_id == page.id else ' '} {m.first_seen_at:%Y-%m-%d %H:%M}  "
                 f"{_text(m.source, NAME_MAX):<{width}}  {_text(m.title, TITLE_MAX, '(untitled)')}"
                 + ("  (retracted)" if m.retracted_at else "")
                 for m in page.members)
    lines += ["", f"Versions: {len(page.versions)}", *version_lines(page.versions, is_place=is_place), ""]
    sent = sum(len(item.channels) for item in alerts)
    lines.append(f"Alerts: {len(alerts)}" + (f" ({sent} deliveries)" if sent != len(alerts) else ""))
    lines.extend(alert_lines(alerts) if alerts else ["  none"])
    return "\n".join(lines) + "\n"
