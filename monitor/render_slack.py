"""Slack mrkdwn for one alert and for a digest.

Every piece of feed text goes through ``esc``: ``& < >`` become entities, so it can form no ``<!here>``,
``<@U…>``, ``<#C…>`` nor ``<url|label>``; a bare ``@channel`` gets a zero-width space. The only links are built
by ``link`` from URLs that passed ``safe_link``. A body stays within one Block Kit section (3,000 characters).
"""

from __future__ import annotations

import html
import re

from monitor.render_parts import DigestView, View, cap, fit, id_list, matched

SLACK_MAX = 3000  # characters of text in one Block Kit section
URL_MAX = 1000  # a longer (escaped) link is not linked: the title is shown without it
_ICONS = {"critical": ":rotating_light:", "high": ":warning:", "info": ":information_source:", "notice": ":gear:"}
_MASS_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def defuse(text: str) -> str:
    """A bare ``@channel``/``@here``/``@everyone`` (which legacy clients may act on) gets a zero-width space."""
    return _MASS_MENTION.sub("@\u200b", text)


def esc(text: str) -> str:
    """Feed text as inert mrkdwn."""
    return defuse(html.escape(text, quote=False))


def esc_cap(text: str, limit: int) -> str:
    """``esc(text)`` within ``limit`` characters, cut before escaping so that no entity is split."""
    out = esc(text)
    while len(out) > limit:
        if len(text) <= 1:
            return "…"[:limit]
        text = cap(text, max(1, min(len(text) - 1, len(text) * limit // len(out))))  # shorter every time
        out = esc(text)
    return out


def link(url: str | None, label: str) -> str:
    """``<url|label>`` for a checked URL (``&`` and ``|`` encoded), else the escaped label alone."""
    target = url.replace("&", "&amp;").replace("|", "%7C") if url else ""
    if not target or len(target) > URL_MAX:
        return esc_cap(label, 400)
    return f"<{target}|{esc_cap(label, 400)}>"


def alert_mrkdwn(item: View) -> str:
    """First line: severity and the linked title; then source, watch, matches, the excerpt, the changes."""
    if item.kind == "notice":
        head = [f"{_ICONS['notice']} *{esc_cap(item.title, 400)}*"]
        return _assemble([*head, "", *(esc_cap(line, 1000) for line in item.excerpt)], item.alert_id)
    lines = [*_head(item), ""]
    lines += [f"> {esc_cap(line, 1000)}" if line else ">" for line in item.excerpt]
    if item.changes:
        lines += ["", "*What changed*", *(_change(mark, text) for mark, text in item.changes)]
    return _assemble(lines, item.alert_id)


def _head(item: View) -> list[str]:
    lines = [_title_line(item)]
    about = [f"*Source:* {esc(item.sources)}"] if item.sources else []
    lines.append(" · ".join([*about, f"*Watch:* {esc(item.watch)}", *_history(item)]))
    if matched(item):
        lines.append(f"*Matched:* {esc(matched(item))}")
    return lines


def _history(item: View) -> list[str]:
    """The ``History`` link to the alert's story page, when there is one that can be linked."""
    linked = link(item.story, "History")
    return [linked] if item.story and linked.startswith("<") else []


def _title_line(item: View) -> str:
    icon = _ICONS.get(item.severity, _ICONS["high"])
    host = f" ({esc(item.host)})" if item.host and link(item.link, item.title).startswith("<") else ""
    return f"{icon} *{esc(item.severity.upper())}* · *{link(item.link, item.title)}*{host}"


def _change(mark: str, text: str) -> str:
    if mark == "+":
        return f":heavy_plus_sign: {esc_cap(text, 1000)}"
    if mark == "-":
        return f":heavy_minus_sign: ~{esc_cap(text, 1000)}~"
    return f"_{esc(mark)} {esc_cap(text, 200)}_"


def _assemble(lines: list[str], alert_id: str) -> str:
    footer = f"alert-id: {esc_cap(alert_id, 600)}"
    kept = fit(lines, SLACK_MAX - len(footer) - 6, "\n")
    more = ["…"] if len(kept) < len(lines) else []
    return "\n".join([*kept, *more]).strip() + "\n\n" + footer


def digest_mrkdwn(digest: DigestView) -> str:
    """A headline, one short item per alert (as many as fit), "… and N more", the digest and alert ids."""
    ids = id_list([esc(alert_id) for alert_id in digest.alert_ids], 600)
    footer = f"digest-id: {esc_cap(digest.digest_id, 300)}\nalert-ids: {ids}"
    head = f":newspaper: *{esc(digest.headline)}*"
    budget = SLACK_MAX - len(head) - len(footer) - len("… and 99999 more") - 6
    kept = fit([_digest_item(item) for item in digest.items], budget)
    rest = digest.count - len(kept)
    return "\n\n".join([head, *kept, *([f"… and {rest} more"] if rest else []), footer])


def _digest_item(item: View) -> str:
    label = "notice" if item.kind == "notice" else item.severity
    icon = _ICONS.get(label, _ICONS["high"])
    about = [f"Source: {esc(item.sources)}"] if item.sources else []
    about += [f"Watch: {esc(item.watch)}"] if item.kind != "notice" else []
    about += _history(item)
    about.append(f"alert-id: {esc_cap(item.alert_id, 300)}")
    excerpt = " ".join(line for line in item.excerpt if line)
    lines = [f"{icon} *{link(item.link, item.title)}* ({esc(label)})", " · ".join(about)]
    return "\n".join(lines + ([f"> {esc_cap(excerpt, 600)}"] if excerpt else []))
