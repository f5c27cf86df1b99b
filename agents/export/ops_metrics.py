"""Operations metrics of SPEC §6, built in one place on a registry passed in."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from streams.records import REASONS
from streams.topics import INPUT_TOPICS, TOPIC_OF_TYPE, topic_name

DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, float("inf"))


class DelayHistogram(Collector):
    """`salesfloor_event_delay_seconds`, observed a batch of events at a time: prometheus_client's
    Histogram takes a lock for every observation, which was a per-event cost of ingest (the event loop is
    the only writer here)."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.counts = [0] * len(DELAY_BUCKETS)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0
        registry.register(self)

    def observe_batch(self, delays: Iterable[float]) -> None:
        counts, total = self.counts, self.sum  # added one by one, as Histogram would: the same float sum
        for delay in delays:
            counts[bisect_left(DELAY_BUCKETS, delay)] += 1  # the first bound >= delay: `le` semantics
            total += delay
        self.sum = total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, buckets = 0, []
        for bound, count in zip(DELAY_BUCKETS, self.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self.sum)


@dataclass(frozen=True)
class OpsMetrics:
    """Counters and histograms this worker updates as it processes events."""

    events: Counter
    rejected: Counter
    duplicates: Counter
    late: Counter
    delay: DelayHistogram
    breaches: Counter
    deadletter_failed: Counter
    notifications: Counter  # route, result: see agents/alerts/notify.py

    def initialise(self, prefix: str, thresholds: Iterable[int]) -> None:
        """Export every known series from the start, at 0, so rates and alerts see them."""
        for short in INPUT_TOPICS:
            topic = topic_name(prefix, short)
            for kind, kind_topic in TOPIC_OF_TYPE.items():
                if kind_topic == short:
                    self.events.labels(topic, kind)
            for reason in REASONS:
                self.rejected.labels(topic, reason)
            self.duplicates.labels(topic)
            self.late.labels(topic)
        for threshold in thresholds:
            self.breaches.labels("_all", str(threshold))

    def duplicate(self, topic: str) -> None:
        """An event dropped on `topic` as already seen."""
        self.duplicates.labels(topic).inc()

    def breach(self, team: str, threshold: int) -> None:
        """A lead of `team` left unanswered past `threshold` seconds."""
        self.breaches.labels(team, str(threshold)).inc()

    @classmethod
    def create(cls, registry: CollectorRegistry) -> OpsMetrics:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `*_created` gauges would read as KPIs (salesfloor_leads_created is one)
        return cls(
            events=Counter(
                "salesfloor_events",
                "Valid input events accepted, by topic and type.",
                ["topic", "type"],
                registry=registry,
            ),
            rejected=Counter(
                "salesfloor_events_rejected",
                "Input messages rejected to the dead-letter topic.",
                ["topic", "reason"],
                registry=registry,
            ),
            duplicates=Counter(
                "salesfloor_events_duplicate",
                "Input events ignored as repeated event_id.",
                ["topic"],
                registry=registry,
            ),
            late=Counter(
                "salesfloor_events_late",
                "Input events older than the retention, dropped.",
                ["topic"],
                registry=registry,
            ),
            delay=DelayHistogram("salesfloor_event_delay_seconds", "Processing time minus occurred_at.", registry),
            breaches=Counter(
                "salesfloor_lead_sla_breaches",
                "Lead response SLA breach alerts emitted.",
                ["team", "threshold"],
                registry=registry,
            ),
            deadletter_failed=Counter(
                "salesfloor_consumer_deadletter_failures",
                "Rejected messages that could not be written to the dead-letter topic.",
                registry=registry,
            ),
            notifications=Counter(
                "salesfloor_alert_notifications",
                "Alert webhook outcomes by route: delivered, retried (an attempt failed), failed (given up).",
                ["route", "result"],
                registry=registry,
            ),
        )
