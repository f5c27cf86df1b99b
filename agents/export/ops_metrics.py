"""Operations metrics of SPEC §6, built in one place on a registry passed in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

from streams.records import REASONS
from streams.topics import INPUT_TOPICS, TOPIC_OF_TYPE, topic_name

DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, float("inf"))


@dataclass(frozen=True)
class OpsMetrics:
    """Counters and histograms this worker updates as it processes events."""

    events: Counter
    rejected: Counter
    duplicates: Counter
    late: Counter
    delay: Histogram
    breaches: Counter
    deadletter_failed: Counter
    notifications: Counter  # route, result: see agents/alerts/notify.py
    achievements: Counter  # type: see agents/achievements/stage.py

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
        for kind in ("goal.reached", "record.broken"):
            self.achievements.labels(kind)

    def achieved(self, kind: str) -> None:
        """An achievement of this type was announced on the achievements topic."""
        self.achievements.labels(kind).inc()

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
            delay=Histogram(
                "salesfloor_event_delay_seconds",
                "Processing time minus occurred_at.",
                buckets=DELAY_BUCKETS,
                registry=registry,
            ),
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
            achievements=Counter(
                "salesfloor_achievements",
                "Achievements announced on the achievements topic by this worker, by type.",
                ["type"],
                registry=registry,
            ),
        )
