"""Prometheus metrics of one daemon: counters and histograms the pipeline and the outbox feed as they work, and
gauges read from the database at scrape time (``monitor/store/counts.py``).

Each ``Metrics`` owns its ``CollectorRegistry`` (never prometheus_client's global one), so two daemons, or two
tests, in one process never clash. Labels stay bounded: ``source`` and ``channel`` come from the config, ``kind``
from the fixed set of failure kinds (anything else is ``other``), ``outcome`` and ``result`` from fixed sets.

Exposed (``/metrics`` of ``monitor/web/ops.py``)::

    news_monitor_polls_total{source,outcome}        outcome: ok | not_modified | error
    news_monitor_poll_failures_total{kind}          timeout, http_status, not_a_feed, ... (fixed set) | other
    news_monitor_entries_total                      feed entries read
    news_monitor_stories_new_total                  story rows stored (duplicates included)
    news_monitor_duplicates_total                   new stories that joined an existing cluster
    news_monitor_versions_total                     new versions of known stories
    news_monitor_alerts_queued_total                alerts put in the outbox by polls
    news_monitor_poll_seconds                       histogram: one poll, fetch to stored
    news_monitor_deliveries_total{channel,result}   outbox rows after an attempt: sent | retry | dead
    news_monitor_alert_latency_seconds              histogram: sent time - the row's created_at
    news_monitor_stories, news_monitor_clusters     gauges (database)
    news_monitor_alerts{status,channel}             gauge (database): outbox rows
    news_monitor_sources{health}                    gauge (database): ok | failing | silent | gone
    news_monitor_database_up                        gauge: 1 when the scrape's counts could be read
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.models import PollReport
from monitor.store import counts as store_counts

log = logging.getLogger("monitor.metrics")
FAILURE_KINDS = frozenset({
    "timeout", "connect_error", "http_error", "http_status", "bad_url", "redirect_blocked", "too_many_redirects",
    "too_large", "bad_encoding", "tls_error", "empty_body", "not_a_feed", "xml_dtd_rejected", "store", "store_data",
    "internal_error", "fetch", "parse", "error",
})
RESULTS = frozenset({"sent", "retry", "dead"})
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


def outcome(report: PollReport) -> str:
    """ok | not_modified | error."""
    if report.error_kind is not None:
        return "error"
    return "not_modified" if report.not_modified else "ok"


def failure_kind(kind: str) -> str:
    """The kind as a label: one of ``FAILURE_KINDS``, else ``other``."""
    return kind if kind in FAILURE_KINDS else "other"


class Metrics:
    """The metrics of one daemon; ``engine`` (optional) adds the database gauges, read at each scrape."""

    def __init__(self, engine: store_counts.Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("news_monitor_polls", "Polls by source and outcome (ok, not_modified, error).",
                             ("source", "outcome"), registry=r)
        self.failures = Counter("news_monitor_poll_failures", "Failed polls by failure kind.", ("kind",), registry=r)
        self.entries = Counter("news_monitor_entries", "Feed entries read.", registry=r)
        self.stories_new = Counter("news_monitor_stories_new", "Story rows stored (duplicates included).",
                                   registry=r)
        self.duplicates = Counter("news_monitor_duplicates", "New stories that joined an existing cluster.",
                                  registry=r)
        self.versions = Counter("news_monitor_versions", "New versions of known stories.", registry=r)
        self.alerts_queued = Counter("news_monitor_alerts_queued", "Alerts queued in the outbox by polls.",
                                     registry=r)
        self.poll_seconds = Histogram("news_monitor_poll_seconds", "Duration of one poll (fetch to stored).",
                                      buckets=POLL_BUCKETS, registry=r)
        self.deliveries = Counter("news_monitor_deliveries", "Outbox rows after a delivery attempt, by result.",
                                  ("channel", "result"), registry=r)
        self.alert_latency = Histogram("news_monitor_alert_latency_seconds", "Queued (created_at) to sent.",
                                       buckets=LATENCY_BUCKETS, registry=r)
        if engine is not None:
            r.register(StoreCollector(engine))

    def polled(self, source: str, report: PollReport, seconds: float) -> None:
        """Count one poll of ``source`` (that fetched, or tried to) and its duration."""
        self.polls.labels(source=source, outcome=outcome(report)).inc()
        self.poll_seconds.observe(max(seconds, 0.0))
        if report.error_kind is not None:
            self.failures.labels(kind=failure_kind(report.error_kind)).inc()
            return
        self.entries.inc(report.items)
        self.stories_new.inc(report.new_stories)
        self.duplicates.inc(report.duplicates)
        self.versions.inc(report.new_versions)
        self.alerts_queued.inc(report.alerts)

    def delivered(self, channel: str, action: str, latency_seconds: float | None) -> None:
        """Count one outbox row after an attempt (``action``: sent | retry | dead); ``latency_seconds`` for a
        sent row: its sent time minus its ``created_at``."""
        self.deliveries.labels(channel=channel, result=action if action in RESULTS else "other").inc()
        if latency_seconds is not None:
            self.alert_latency.observe(max(latency_seconds, 0.0))


class StoreCollector(Collector):
    """Gauges counted in the database at scrape time (a few aggregate queries); a database that does not
    answer gives ``news_monitor_database_up 0`` instead of a failed scrape."""

    def __init__(self, engine: store_counts.Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        return list(_families(store_counts.Counts()))  # the names, without querying

    def collect(self) -> Iterable[Metric]:
        try:
            counts = store_counts.read(self.engine)
        except store_counts.DatabaseError as exc:
            log.warning("metrics: cannot count in the database: %s", " ".join(str(exc).split())[:300])
            counts = None
        return list(_families(counts))


def _families(counts: store_counts.Counts | None) -> Iterator[Metric]:
    up = GaugeMetricFamily("news_monitor_database_up", "1 when the database answered this scrape's counts.")
    up.add_metric([], 0.0 if counts is None else 1.0)
    yield up
    if counts is None:
        return
    yield GaugeMetricFamily("news_monitor_stories", "Stories in the database.", value=counts.stories)
    yield GaugeMetricFamily("news_monitor_clusters", "Clusters (events) in the database.", value=counts.clusters)
    rows = GaugeMetricFamily("news_monitor_alerts", "Outbox rows by status and channel.",
                             labels=("status", "channel"))
    for (status, channel), n in sorted(counts.alerts.items()):
        rows.add_metric([status, channel], n)
    yield rows
    health = GaugeMetricFamily("news_monitor_sources", "Sources by health.", labels=("health",))
    for state, n in sorted(counts.sources.items()):
        health.add_metric([state], n)
    yield health


def summary_lines(counts: store_counts.Counts) -> list[str]:
    """The database gauges as terminal lines, for ``news-monitor status`` (``store_counts.read(engine)``)."""
    lines = [f"stories: {counts.stories}", f"clusters: {counts.clusters}"]
    health = ", ".join(f"{state} {n}" for state, n in sorted(counts.sources.items()))
    lines.append(f"sources: {health or 'none polled yet'}")
    by_status: dict[str, list[str]] = {}
    for (status, channel), n in sorted(counts.alerts.items()):
        by_status.setdefault(status, []).append(f"{channel} {n}")
    lines += [f"alerts {status}: {', '.join(parts)}" for status, parts in by_status.items()] or ["alerts: none"]
    return lines
