"""The worker's composition root: input topics → ingest (validate, route by entity) → entity stage
(per-entity state, partial aggregates) → aggregate stage (per team/rep) → /metrics, API, wallboard.

Every hop is keyed so that no table key is ever updated from two partitions: entity state lives in
the partition of its entity key, aggregate state in the partition of its team/rep key. The stages
hold the logic; this module wires them to Faust's tables, agents and timers. docs/architecture.md
draws the picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from agents.aggregates.replica import ViewReplica
from agents.aggregates.stage import AggregateStage
from agents.aggregates.view import AggregateView
from agents.alerts.notify import follow_alerts
from agents.entities.shipping import ShipSchedule, Takeover, events_waiting
from agents.entities.stage import EntityStage
from agents.export.exposition import KpiCollector
from agents.export.health import EndOffsets, LagCollector, consumer_lag
from agents.export.ops_metrics import OpsMetrics
from agents.ingest import Ingest, deadletter_record
from agents.kpis import kpis_for
from agents.kpis.windows import now_us
from agents.messages import NUDGE, expiry_request, foreign_messages
from agents.outputs import outputs
from agents.runtime import logged, release_free_memory
from agents.tables import aggregate_table, entity_table
from agents.web.api import install_web
from streams.kafka import faust_fixes
from streams.kafka.buffered import RebalanceGate, flush_tables
from streams.kafka.gaps import OffsetGaps, StallWatch, repaired
from streams.kafka.internals import aiokafka_producer, partition_url
from streams.kafka.probe import BrokerProbe
from streams.settings import Settings
from streams.topics import faust_topic

log = logging.getLogger(__name__)

TRIM_S = 2.0  # how often freed heap is handed back to the OS
BROKER_PROBE_S = 2.0
NUDGE_S = 5.0  # a partition not moving although Kafka has more for this long is nudged (streams/kafka/gaps.py)


class Pipeline:
    """One worker: its app, topics, tables and stages; the read side sees it as an `export.source.Worker`."""

    def __init__(self, settings: Settings, app: faust.App, registry: CollectorRegistry | None = None) -> None:
        s = self.settings = settings
        self.app = app
        self.registry = registry or CollectorRegistry()
        self.metrics = OpsMetrics.create(self.registry)
        self.kpis = kpis_for(s.zone, int(s.lead_sla_seconds * 1_000_000), s.stages)
        self.view = AggregateView()
        self.probe = BrokerProbe(lambda: aiokafka_producer(app).client, BROKER_PROBE_S)
        self.entity_topic, self.aggregate_topic = faust_topic(app, s, "entities"), faust_topic(app, s, "aggregates")
        self.entity_state = entity_table(app, s)
        self.aggregate_state = aggregate_table(
            app, s, self.view, on_changelog_event=lambda event: self.aggregate_stage.restored(event)
        )
        self.aggregate_changelog = self.aggregate_state.table.changelog_topic.get_topic_name()
        self.gaps, self.ends = OffsetGaps(s.aiokafka_kwargs()), EndOffsets(app, s.aiokafka_kwargs())
        self.gate, self.stalls = RebalanceGate(), StallWatch(self.gaps)
        faust_fixes.set_hooks(app, faust_fixes.Hooks(self.before_commit, self.gaps.sought, s.aiokafka_kwargs()))
        self.alerts, self.announcer, self.achievements = outputs(self)
        entity_name, aggregate_name = self.entity_topic.get_topic_name(), self.aggregate_topic.get_topic_name()
        self.entity_stage: EntityStage = EntityStage(
            self.entity_state,
            self.kpis,
            on_duplicate=self.metrics.duplicate,
            watch=self.alerts.watch,
            foreign=foreign_messages(entity_name),
            on_calendars=self.alerts.calendars_changed,
        )
        self.kpis.clocks = self.entity_stage.clocks_now
        self._advance_minutes()
        self.aggregate_stage = AggregateStage(self.aggregate_state, self.view, foreign_messages(aggregate_name))
        self.ingest = Ingest(s, self.metrics, lambda: aiokafka_producer(app), entity_name, deadletter_record)
        changelog, owned = self.aggregate_changelog, self.settled_aggregate_partitions
        self.follower = ViewReplica(s.aiokafka_kwargs(), changelog, s.partitions, owned=owned)
        self.replica: AggregateView = self.follower.view  # the read side's copy of what other workers own
        self._ingesting: asyncio.Future[None] | None = None
        self.shipping, self.takeover = ShipSchedule(lambda: events_waiting(self.lag(), entity_name)), Takeover(self.lag)
        self.entity_state.table.on_recover(self._rebuild_partials)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        for topic, stage in ((self.entity_topic, self.entity_stage), (self.aggregate_topic, self.aggregate_stage)):
            agent = repaired(self.gaps, lambda: app.consumer, topic.get_topic_name(), stage.apply)
            app.agent(topic, name=topic.get_topic_name().rpartition("-")[2])(agent)
        app.timer(s.flush_interval_seconds, name="ship-partials")(logged(self._ship))
        app.timer(s.expiry_interval_seconds, name="expire")(logged(self._send_expiry))
        app.timer(1.0, name="raise-alerts")(logged(lambda: self.alerts.raise_due(self._entity_partitions())))
        app.timer(0.5, name="achievements")(logged(self.announcer.announce))
        app.timer(BROKER_PROBE_S, name="probe-broker")(self.probe.probe)
        app.timer(NUDGE_S, name="nudge")(logged(self._nudge))
        app.timer(0.5, name="learn-ends")(logged(self.ends.learn))
        app.timer(TRIM_S, name="release-memory")(release_free_memory)
        self.registry.register(KpiCollector(self))
        self.registry.register(LagCollector(self))
        self.metrics.initialise(s.topic_prefix, s.thresholds)
        install_web(app, self, self.registry)

    @property
    def broker_seen_at(self) -> float:
        return self.probe.seen_at

    def assigned_aggregate_partitions(self) -> set[int]:
        return self._assigned(self.aggregate_topic.get_topic_name())

    def lag(self) -> dict[TP, int]:
        return consumer_lag(self.app, self.ingest.lag(), self.ends.known)

    def owner_url(self, partition: int) -> str | None:
        owned = self.assigned_aggregate_partitions()
        return None if partition in owned else partition_url(self.app, TP(self.aggregate_changelog, partition))

    def state_sizes(self) -> tuple[int, int]:
        return len(self.entity_state.data), len(self.aggregate_state.data)

    async def _on_assigned(self, *_: Any, **__: Any) -> None:
        """Faust sends this after the tables' stores took the new assignment. Ingest, the replica and the
        notifier start at the first one, while the tables recover (Faust starts app tasks only after)."""
        self.gate.assigned()
        self.ends.forget()
        self.takeover.assigned()
        self.announcer.forget()
        if self._ingesting is None:
            # cancelled when the app stops; should it fail, the app crashes (mode's add_future)
            self._ingesting = self.app.add_future(self.ingest.run())
            self.app.add_future(self.follower.run())
            self.app.add_future(self.achievements.run())
            self.app.add_future(follow_alerts(self.settings, self.metrics.notifications))
            self.app.add_future(self.probe.probe())  # health waited for the timer's first probe: 2 s

    async def _on_revoked(self, *_: Any, **__: Any) -> None:
        await self.gate.revoked()

    async def before_commit(self) -> bool:
        """Runs right before the consumer commits offsets: ships what the state changed, then makes the state
        durable (`flush_tables`); False (the commit is skipped) while partitions are being reassigned."""
        tables, stopping = [self.entity_state, self.aggregate_state], lambda: bool(self.app.should_stop)
        return await self.gate.flush(
            lambda: flush_tables(aiokafka_producer(self.app), tables, stopping, self._ship_now)
        )

    async def _rebuild_partials(self) -> None:
        self._advance_minutes()
        self.alerts.forget()
        self.entity_stage.rebuild(self._entity_partitions())
        self.takeover.rebuilt()

    async def _ship(self) -> None:
        """The flush interval's timer: ship when `ShipSchedule` says so."""
        if self.shipping.due():
            self._ship_now()

    def _ship_now(self) -> Sequence[asyncio.Future[Any]]:
        """Send each changed partial bucket to its team/rep's aggregate partition, in few messages."""
        self._advance_minutes()
        send = self.aggregate_topic.send_soon
        sent = self.entity_stage.ship(self._entity_partitions(), self.settings.partitions, send)
        self.takeover.shipped(sent)
        return sent

    async def _send_expiry(self) -> None:
        """Ask the agents owning this worker's partitions to drop what left the retention (tables may only change
        inside their stream, so the request travels through the topics)."""
        request = expiry_request(now_us(), self.settings.retention_us, self.settings.history_days, self.kpis.clock)
        for topic in (self.entity_topic, self.aggregate_topic):
            for partition in self._assigned(topic.get_topic_name()):
                topic.send_soon(key=b"", value=request, partition=partition)

    async def _nudge(self) -> None:
        """Nudge the stalled partitions (none while rebalancing: streams are paused until the tables recover)."""
        topics = {topic.get_topic_name(): topic for topic in (self.entity_topic, self.aggregate_topic)}
        assigned = [] if self.app.rebalancing else [(n, p) for n in topics for p in sorted(self._assigned(n))]
        for name, partition in self.stalls.due(self.app.consumer, assigned):
            topics[name].send_soon(key=b"", value={NUDGE: True}, partition=partition)

    def _advance_minutes(self) -> None:
        self.entity_stage.advance(now_us(), self.settings.retention_us)

    def _entity_partitions(self) -> set[int]:
        return self._assigned(self.entity_topic.get_topic_name())

    def _assigned(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    def settled_aggregate_partitions(self) -> set[int] | None:
        """The aggregate partitions owned here, or None while a rebalance is moving them."""
        return None if self.app.rebalancing else self.assigned_aggregate_partitions()
