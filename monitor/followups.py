"""Follow-up planning: a watch's cluster policy (``followups``, ``min_sources``, ``on_retraction``) looked up by
watch name, and the drafts for a later independent source joining an alerted cluster or for a retracted story.
Pure (no I/O).

``followups: off`` ignores later sources; ``digest`` (the default) queues a ``sources`` row per channel of the first
alert, which always waits for the channel's next digest and gathers every source that joins before it goes
("+3 sources: Reuters, Kyiv Independent, t.me/GeneralStaffZSU"); ``thread`` sends a short ``followup`` alert that
quotes the first alert's title, link and alert id. Only a new *independent* source is followed up: one more copy of
a wire text already counted is not corroboration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.alerting import excerpt
from monitor.config import Config
from monitor.models import Alert, AlertDraft, Story


@dataclass(frozen=True, slots=True)
class Policy:
    """What a watch wants of a cluster beyond its first alert."""

    followups: str = "digest"  # off | digest | thread
    min_sources: int = 1
    on_retraction: bool = False


def policy(config: Config, watch: str) -> Policy:
    """The policy of the watch named ``watch`` (defaults for a name no longer configured)."""
    for w in config.watches:
        if w.name == watch:
            return Policy(w.followups, w.min_sources, w.on_retraction)
    return Policy()


@dataclass(frozen=True, slots=True)
class FirstAlert:
    """A cluster's first alert to one channel (its "new" row), as the store reads it."""

    watch: str
    channel: str
    alert_uid: str
    title: str
    link: str | None
    severity: str
    status: str = "pending"
    story_id: int | None = None


def reference(first: FirstAlert) -> str:
    """``First alert: <title> — <link> (nm-…)``: how a follow-up or a retraction points at what it follows."""
    link = f" — {first.link}" if first.link else ""
    return f"First alert: {first.title}{link} ({first.alert_uid})"


def _alert(first: FirstAlert, kind: str, *, title: str, link: str | None, sources: Sequence[str],
           text: str) -> AlertDraft:
    alert = Alert(alert_id="", channel=first.channel, kind=kind, title=title, link=link, sources=tuple(sources),
                  watch=first.watch, terms=(), places=(), excerpt=text, severity=first.severity)
    return AlertDraft(alert=alert, hits=())


def plan_sources(config: Config, firsts: Sequence[FirstAlert], story: Story, new_label: str,
                 count: int) -> list[AlertDraft]:
    """Drafts for a new independent source (``new_label``) joining a cluster alerted as ``firsts``; ``count``:
    the cluster's independent sources now."""
    drafts = []
    for first in firsts:
        mode = policy(config, first.watch).followups
        if mode == "digest":
            text = f"Now {count} independent sources.\n{reference(first)}"
            drafts.append(_alert(first, "sources", title=first.title, link=first.link, sources=(new_label,),
                                 text=text))
        elif mode == "thread":
            text = (f"+1 source: {new_label} (now {count} independent sources).\n{reference(first)}\n\n"
                    f"{excerpt(story.text, 280)}")
            drafts.append(_alert(first, "followup", title=first.title, link=story.url or first.link,
                                 sources=(new_label,), text=text))
    return drafts


WHY = {"deleted": "The post was deleted from the channel.",
       "vanished": "The story disappeared from its source's feed while newer entries remained."}


def plan_retraction(config: Config, sent: Sequence[FirstAlert], source: str, why: str) -> list[AlertDraft]:
    """Drafts for a retracted story: one per channel its alert was sent to, for watches with ``on_retraction``."""
    return [_alert(first, "retraction", title=first.title, link=first.link, sources=(source,),
                   text=f"{WHY.get(why, why)}\n{reference(first)}")
            for first in sent if policy(config, first.watch).on_retraction]
