"""Pure rendering: an ``Alert`` -> a ``Message`` for a channel style, many alerts -> one digest ``Message``.

Styles: "text" (plain lines), "slack" (mrkdwn, every piece of feed text escaped, see ``render_slack``) and
"email" (subject ``[news-monitor] <severity> <title>``, a plain-text body and its HTML alternative).
Titles are one clean line (no CR/LF or controls) so that no feed text can reach a mail header. Every message
ends with its stable id: ``alert-id: ...``, or ``digest-id: ...`` and the alert ids of a digest. With a
``story_base`` (the status pages' public URL) each alert of a story also links to ``{story_base}/stories/<id>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor import render_html, render_slack
from monitor.models import Alert, Message
from monitor.render_parts import (
    BODY_MAX,
    SUBJECT_PREFIX,
    TITLE_MAX,
    DigestView,
    View,
    cap,
    digest_view,
    fit,
    id_list,
    matched,
    view,
)

DIGEST_TEXT_MAX = 20_000  # characters of a plain-text digest body
STYLES = ("text", "slack", "email")


def render(alert: Alert, *, style: str, story_base: str | None = None) -> Message:
    """One alert as a message for ``style`` ("slack" | "email" | "text"); raises on a malformed alert."""
    item = view(alert, story_base=story_base)
    if style == "slack":
        return Message(title=render_slack.defuse(item.title), body=render_slack.alert_mrkdwn(item))
    body = _text_body(item)
    if style == "email":
        title = subject(item)
        return Message(title=title, body=body, html=render_html.alert_html(item, title))
    return Message(title=item.title, body=body)


def render_digest(alerts: Sequence[Alert], *, style: str, digest_id: str, story_base: str | None = None) -> Message:
    """Many alerts as one message: at most ``DIGEST_ITEMS`` listed, then "… and N more"; bounded in size."""
    digest = digest_view(alerts, digest_id, story_base=story_base)
    if style == "slack":
        return Message(title=f"Digest: {digest.amount}", body=render_slack.digest_mrkdwn(digest))
    body = _digest_text(digest)
    if style == "email":
        title = f"{SUBJECT_PREFIX} digest: {digest.summary}"
        return Message(title=title, body=body, html=render_html.digest_html(digest, title))
    return Message(title=f"Digest: {digest.amount}", body=body)


def subject(item: View) -> str:
    """``[news-monitor] high Strike near Izium``; ``… high Update: …``; ``[news-monitor] notice …``."""
    label = "notice" if item.kind == "notice" else item.severity
    return cap(f"{SUBJECT_PREFIX} {label} {item.title}", TITLE_MAX)


def _text_body(item: View) -> str:
    head = [] if item.kind == "notice" else _text_head(item)  # an operator notice is all text
    changes = [f"{mark} {text}" for mark, text in item.changes]
    main = "\n\n".join("\n".join(lines) for lines in (head, list(item.excerpt), changes) if lines)
    footer = f"alert-id: {item.alert_id}"
    return f"{cap(main, BODY_MAX - len(footer) - 2)}\n\n{footer}".lstrip("\n")


def _text_head(item: View) -> list[str]:
    lines = ["Source: " + item.sources] if item.sources else []
    if item.link:
        lines.append(item.link)
    lines.append(f"Watch: {item.watch}")  # as before severities: tests/golden pins this layout
    if matched(item):
        lines.append("Matched: " + matched(item))
    if item.story:
        lines.append("Story page: " + item.story)
    return lines


def _digest_text(digest: DigestView) -> str:
    footer = f"digest-id: {digest.digest_id}\nalert-ids: {id_list(digest.alert_ids, 2000)}"
    more = "… and 99999 more"
    budget = DIGEST_TEXT_MAX - len(digest.headline) - len(more) - len(footer) - 6
    kept = fit([_digest_item(n, item) for n, item in enumerate(digest.items, 1)], budget)
    rest = digest.count - len(kept)
    blocks = [digest.headline, *kept, *([f"… and {rest} more"] if rest else []), footer]
    return "\n\n".join(blocks)


def _digest_item(number: int, item: View) -> str:
    label = "notice" if item.kind == "notice" else item.severity
    lines = [f"{number}. [{label}] {item.title}"]
    if item.link:
        lines.append(f"   {item.link}")
    if item.story:
        lines.append(f"   Story page: {item.story}")
    about = [f"Source: {item.sources}"] if item.sources else []
    about += [f"Watch: {item.watch}"] if item.kind != "notice" else []
    lines += [f"   {' · '.join(about)}"] if about else []
    excerpt = " ".join(line for line in item.excerpt if line)
    lines += [f"   {excerpt}"] if excerpt else []
    lines.append(f"   alert-id: {item.alert_id}")
    return "\n".join(lines)
