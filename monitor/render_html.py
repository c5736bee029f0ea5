"""The HTML alternative of an alert email and of a digest email: inline styles only (mail clients drop
``<style>``), every piece of feed text escaped, links only from URLs that passed ``safe_link``.

Apprise derives the text/plain part from this HTML (block elements become lines), so each fact sits in its
own ``<div>`` with a visible label, the URL is shown as text, and a change keeps its ``+``/``-`` mark.
"""

from __future__ import annotations

from html import escape

from monitor.render_parts import DigestView, View, id_list, matched

_COLORS = {"critical": "#b91c1c", "high": "#c2410c", "info": "#1d4ed8", "notice": "#4b5563"}
_FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_MUTED = "color:#6b7280;font-size:13px"
_ADDED = "background:#ecfdf5;border-left:4px solid #16a34a;color:#14532d"
_REMOVED = "background:#fef2f2;border-left:4px solid #dc2626;color:#991b1b"
_H2 = "font-size:15px;margin:22px 0 8px;color:#374151"


def e(text: str) -> str:
    return escape(text, quote=True)


def alert_html(item: View, subject: str) -> str:
    """The whole HTML document of one alert email."""
    label = "notice" if item.kind == "notice" else item.severity
    kind = {"update": "Update", "new": "New story", "notice": "Operator notice"}.get(item.kind, "")
    parts = [f"<div>{_badge(label)} <span style='{_MUTED}'>{e(kind)}</span></div>", _title(item, 22)]
    if item.kind == "notice":
        parts += [f"<div style='font-family:monospace;font-size:13px'>{e(line)}</div>" for line in item.excerpt]
    else:
        parts += [_facts(item), _changes(item), _excerpt(item)]
    parts.append(_footer(f"alert-id: {item.alert_id}"))
    return _page(subject, _COLORS.get(label, _COLORS["high"]), "".join(parts))


def digest_html(digest: DigestView, subject: str) -> str:
    """The whole HTML document of a digest: a headline, one card per listed alert, the ids."""
    accent = _COLORS["critical"] if digest.critical else _COLORS["high"]
    parts = [f"<h1 style='font-size:22px;margin:0 0 4px'>{e(digest.headline)}</h1>"]
    parts += [_digest_item(item) for item in digest.items]
    rest = digest.count - len(digest.items)
    if rest:
        parts.append(f"<p style='{_MUTED};font-style:italic'>… and {rest} more</p>")
    ids = f"<div>digest-id: {e(digest.digest_id)}</div><div>alert-ids: {e(id_list(digest.alert_ids, 4000))}</div>"
    return _page(subject, accent, "".join(parts) + _footer(ids))


def _page(subject: str, accent: str, inner: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{e(subject)}</title></head>'
        f"<body style=\"margin:0;padding:24px;background:#f3f4f6;{_FONT};color:#111827\">"
        "<div style='max-width:680px;margin:0 auto;background:#ffffff;border-radius:8px;"
        f"border-top:6px solid {accent};padding:24px 28px;line-height:1.5'>{inner}</div></body></html>\n"
    )


def _badge(label: str) -> str:
    color = _COLORS.get(label, _COLORS["high"])
    return (
        f"<span style='display:inline-block;padding:2px 8px;border-radius:4px;background:{color};vertical-align:2px;"
        f"color:#ffffff;font-size:12px;line-height:1.5;font-weight:700;letter-spacing:.06em'>{e(label.upper())}</span>"
    )


def _title(item: View, size: int, badge: str = "") -> str:
    """The title (after ``badge``), linked when there is a link, with the URL as visible text below it."""
    style = f"font-size:{size}px;line-height:1.3;margin:10px 0 4px"
    title = e(item.title)
    if item.link:
        link_style = "color:#111827;text-decoration:none"
        title = f"<a href=\"{e(item.link)}\" style='{link_style}'>{title}</a>"
    heading = f"<h1 style='{style}'>{badge}{title}</h1>"
    if not item.link:
        return heading
    url = f"<a href=\"{e(item.link)}\" style='color:#2563eb'>{e(item.link)}</a>"
    return f"{heading}<div style='{_MUTED};overflow-wrap:anywhere'>{url}</div>"


def _facts(item: View) -> str:
    rows = [("Source", item.sources), ("Watch", item.watch), ("Severity", item.severity), ("Matched", matched(item))]
    cells = [f"<div><span style='color:#6b7280'>{name}:</span> {e(value)}</div>" for name, value in rows if value]
    return f"<div style='margin:16px 0;font-size:14px'>{''.join(cells)}{_story(item)}</div>"


def _story(item: View) -> str:
    """``Story page: <url>`` (the status page with the story's versions and diffs), the URL as visible text."""
    if not item.story:
        return ""
    url = f"<a href=\"{e(item.story)}\" style='color:#2563eb'>{e(item.story)}</a>"
    return f"<div style='overflow-wrap:anywhere'><span style='color:#6b7280'>Story page:</span> {url}</div>"


def _changes(item: View) -> str:
    if not item.changes:
        return ""
    lines = []
    for mark, text in item.changes:
        if mark == "+":
            lines.append(f"<div style='margin:4px 0;padding:6px 10px;{_ADDED}'><b>+</b> {e(text)}</div>")
        elif mark == "-":
            removed = f"<del style='color:#991b1b'>{e(text)}</del>"
            lines.append(f"<div style='margin:4px 0;padding:6px 10px;{_REMOVED}'><b>-</b> {removed}</div>")
        else:
            lines.append(f"<div style='{_MUTED};font-style:italic;padding:4px 14px'>{e(mark)} {e(text)}</div>")
    return f"<h2 style='{_H2}'>What changed</h2>" + "".join(lines)


def _excerpt(item: View) -> str:
    paragraphs: list[list[str]] = [[]]
    for line in item.excerpt:
        if line:
            paragraphs[-1].append(e(line))
        elif paragraphs[-1]:
            paragraphs.append([])
    shown = [f"<p style='margin:0 0 10px'>{'<br>'.join(lines)}</p>" for lines in paragraphs if lines]
    return f"<h2 style='{_H2}'>Excerpt</h2>" + "".join(shown) if shown else ""


def _footer(inner: str) -> str:
    return (
        "<hr style='border:none;border-top:1px solid #e5e7eb;margin:22px 0 12px'>"
        f"<div style='color:#6b7280;font-size:12px;overflow-wrap:anywhere'>{inner}</div>"
    )


def _digest_item(item: View) -> str:
    label = "notice" if item.kind == "notice" else item.severity
    about = [f"Source: {item.sources}"] if item.sources else []
    about += [f"Watch: {item.watch}"] if item.kind != "notice" else []
    excerpt = " ".join(line for line in item.excerpt if line)
    return (
        f"<div style='padding:2px 0 2px 14px;margin-top:18px;border-left:4px solid {_COLORS.get(label, '#c2410c')}'>"
        + _title(item, 16, _badge(label) + " ")
        + (f"<div style='{_MUTED}'>{e(' · '.join(about))}</div>" if about else "")
        + (f"<div style='margin-top:4px;font-size:14px'>{e(excerpt)}</div>" if excerpt else "")
        + (f"<div style='{_MUTED}'>{_story(item)}</div>" if item.story else "")
        + f"<div style='color:#9ca3af;font-size:12px;margin-top:2px'>alert-id: {e(item.alert_id)}</div></div>"
    )
