"""Backtest (pure): stored stories + the compiled watchlist -> how many alerts each watch would have sent to
each channel, after the pipeline's dedup, with a sample of what it would have sent.

The rules are the pipeline's for a story's first alert (``alerting.plan_new``, the outbox identity): one
alert per cluster, watch and channel; a story published more than ``max_age`` before it was first seen is
stored but never alerts (a backlog), though a later copy in the same cluster still can. Each story is matched
in its latest version (an edit that made it match would have alerted as a "new" alert then); "update"
alerts for later versions are not counted. A watch with ``min_sources`` alerts on a matching story once
its cluster has that many sources so far (distinct source names here: the pipeline counts copies of one text
once, so this can count more than it would).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alerting import is_stale
from monitor.match import CompiledWatchlist, match
from monitor.models import Match, Story
from monitor.render_parts import one_line, safe_link

DEFAULT_SAMPLE = 3


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A stored story in its latest version (``monitor.store.replay`` reads them)."""

    id: int
    cluster_id: int
    source: str
    title: str
    text: str
    url: str | None
    published: datetime | None
    first_seen: datetime


@dataclass
class Tally:
    """One watch on one channel: alerts it would have sent, and the matches that would not have alerted."""

    watch: str
    channel: str
    alerts: int = 0
    same_cluster: int = 0  # matched, but its cluster had alerted already (a copy, another source)
    backlog: int = 0  # matched, but published more than max_age before it was first seen
    few_sources: int = 0  # matched, but its cluster had fewer sources than the watch's min_sources
    sample: list[StoredStory] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return self.alerts + self.same_cluster + self.backlog + self.few_sources


@dataclass(frozen=True)
class Report:
    stories: int
    tallies: tuple[Tally, ...]  # watchlist order, then the watch's notify order


Matcher = Callable[[StoredStory], Sequence[Match]]


def matcher(compiled: CompiledWatchlist, tags: Mapping[str, Sequence[str]] | None = None) -> Matcher:
    """``match`` over a stored story, with its source and that source's configured tags (for source scopes)."""
    known = tags or {}

    def run(story: StoredStory) -> Sequence[Match]:
        return match(compiled, story.title, story.text, source=story.source, tags=known.get(story.source, ()))

    return run


def _stale(story: StoredStory, max_age: timedelta) -> bool:
    as_story = Story(key="", url=story.url, title=story.title, text=story.text, published=story.published,
                     fingerprint="")
    return is_stale(as_story, story.first_seen, max_age)


def backtest(
    stories: Iterable[StoredStory], compiled: CompiledWatchlist, *, max_age: timedelta, run: Matcher | None = None,
    watch: str | None = None, sample: int = DEFAULT_SAMPLE, min_sources: Mapping[str, int] | None = None,
) -> Report:
    """Replay ``stories`` (first seen first) through the watchlist; ``watch`` limits it to one watch;
    ``min_sources``: per watch, the sources a cluster needs before it alerts (default 1)."""
    run = run or matcher(compiled)
    tallies = {(w.name, ch): Tally(w.name, ch) for w in compiled.watches if watch in (None, w.name)
               for ch in w.notify}
    alerted: set[tuple[int, str, str]] = set()
    carried: dict[int, set[str]] = {}  # cluster -> its sources so far
    count = 0
    for story in stories:
        count += 1
        stale = _stale(story, max_age)
        sources = carried.setdefault(story.cluster_id, set())
        sources.add(story.source)
        for m in run(story):
            for channel in m.notify:
                tally = tallies.get((m.watch, channel))
                if tally is None:
                    continue
                key = (story.cluster_id, m.watch, channel)
                if key in alerted:
                    tally.same_cluster += 1
                elif stale:
                    tally.backlog += 1
                elif len(sources) < (min_sources or {}).get(m.watch, 1):
                    tally.few_sources += 1
                else:
                    alerted.add(key)
                    tally.alerts += 1
                    if len(tally.sample) < sample:
                        tally.sample.append(story)
    return Report(stories=count, tallies=tuple(tallies.values()))


def render(report: Report, *, since: datetime, until: datetime, sample: int = DEFAULT_SAMPLE) -> str:
    """The report as the terminal shows it: a table per watch and channel, then each one's sample."""
    head = (f"{report.stories} stories first seen {since:%Y-%m-%d %H:%M} - {until:%Y-%m-%d %H:%M} UTC; "
            "alerts each watch would have sent (one per cluster, watch and channel):")
    if not report.tallies:
        return head + "\n(no watch)\n"
    width = max(5, *(len(t.watch) for t in report.tallies))
    cwidth = max(7, *(len(t.channel) for t in report.tallies))
    lines = [head, "", f"{'WATCH':<{width}}  {'CHANNEL':<{cwidth}}  {'ALERTS':>6}  {'MATCHED':>7}  "
             f"{'SAME CLUSTER':>12}  {'BACKLOG':>7}  {'FEW SOURCES':>11}"]
    for t in report.tallies:
        lines.append(f"{t.watch:<{width}}  {t.channel:<{cwidth}}  {t.alerts:>6}  {t.matched:>7}  "
                     f"{t.same_cluster:>12}  {t.backlog:>7}  {t.few_sources:>11}")
    for t in report.tallies:
        if t.sample and sample:
            lines += ["", f"{t.watch} -> {t.channel}: first {len(t.sample)} of {t.alerts}"]
            for s in t.sample:
                lines.append(f"  {s.first_seen:%Y-%m-%d %H:%M}  {one_line(s.source, 40)}  {one_line(s.title, 100)}")
                lines += [f"      {link}"] if (link := safe_link(s.url)) else []
    return "\n".join(lines) + "\n"
