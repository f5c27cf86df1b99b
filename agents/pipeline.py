"""The worker's dataflow: input topics → ingest (validate, route by entity) → entities (per-entity
state, partial aggregates) → aggregates (per team/rep, exported at scrape time).

Every hop is keyed so that no table key is ever updated from two partitions: entity state lives in
the partition of its entity key, aggregate state in the partition of its team/rep key.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from agents.alerts import Deadlines, alert_for, waiting_since
from agents.contributions import ALL, BucketClock, CompactEvent, difference
from agents.entity_state import (
    SEP,
    Horizon,
    PartialAggregates,
    apply_events,
    compact,
    contribution,
    entity_keys,
    entity_partition,
    expired_entity,
)
from agents.exporter import KpiCollector, LagCollector, aggregate_partition
from agents.kpis import now_us
from agents.ops_metrics import OpsMetrics
from agents.state import BufferedTable, flush_tables
from agents.view import AggregateView
from agents.web import install_web
from streams.errors import InvalidEvent
from streams.records import decode_event
from streams.settings import Settings
from streams.topics import INPUT_TOPICS, topic_name

log = logging.getLogger(__name__)

INGEST_BATCH = 500
INGEST_WITHIN_S = 0.05
MINUTES_KEPT_US = 7_200_000_000  # minute buckets serve last_60m; two hours leave room for late events
SHIP_CHUNK = 1000
BROKER_PROBE_S = 2.0  # snapshots per message, well under Kafka's 1 MB message limit


@dataclass
class Pipeline:
    """Everything one worker holds: its app, topics, tables and the state derived from them."""

    settings: Settings
    app: faust.App
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    partials: dict[int, PartialAggregates] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    view: AggregateView = field(default_factory=AggregateView)
    deadlines: dict[int, Deadlines] = field(default_factory=dict)
    alerted: set[tuple[str, int]] | None = None  # (lead id, threshold) already in the alerts topic
    _loading: asyncio.Future[None] | None = None
    broker_seen_at: float = 0.0  # monotonic time of the last successful metadata request
    caught_up_at: float = 0.0  # monotonic time when every assigned partition was last read to its end

    def __post_init__(self) -> None:
        s, app = self.settings, self.app
        self.metrics = OpsMetrics.create(self.registry)
        self.clock = BucketClock(s.zone)
        self._advance_minutes()
        self.sla_us = int(s.lead_sla_seconds * 1_000_000)
        self.input_topic = app.topic(
            *(topic_name(s.topic_prefix, t) for t in INPUT_TOPICS),
            key_serializer="raw", value_serializer="raw", partitions=s.partitions,
        )
        self.deadletter = app.topic(topic_name(s.topic_prefix, "deadletter"), key_serializer="raw",
                                    value_serializer="orjson", partitions=s.partitions)
        self.alerts = app.topic(topic_name(s.topic_prefix, "alerts"), key_serializer="raw",
                                value_serializer="orjson", partitions=s.partitions)
        self.entity_topic = app.topic(f"{s.faust_id}-entities", key_serializer="raw",
                                      value_serializer="orjson", partitions=s.partitions, internal=True)
        self.aggregate_topic = app.topic(f"{s.faust_id}-aggregates", key_serializer="raw",
                                         value_serializer="orjson", partitions=s.partitions, internal=True)
        self.entities = app.Table("entities", partitions=s.partitions, key_type=str, value_type=bytes)
        self.aggregates = app.Table("aggregates", partitions=s.partitions, key_type=str,
                                    on_changelog_event=self._on_aggregate_restored)
        self.entity_state = BufferedTable(self.entities, encode=bytes)  # values are orjson documents
        self.aggregate_state = BufferedTable(self.aggregates, encode=orjson.dumps)
        app.salesfloor_before_commit = self._flush_state  # type: ignore[attr-defined] - see faust_fixes
        self.entities.on_recover(self._rebuild_partials)
        app.agent(self.input_topic, name="ingest")(self._ingest)
        app.agent(self.entity_topic, name="entities")(self._process_entities)
        app.agent(self.aggregate_topic, name="aggregates")(self._process_aggregates)
        app.timer(s.flush_interval_seconds, name="ship-partials")(logged(self._ship))
        app.timer(s.expiry_interval_seconds, name="expire")(logged(self._send_expiry))
        app.timer(1.0, name="raise-alerts")(logged(self._raise_alerts))
        app.timer(BROKER_PROBE_S, name="probe-broker")(self._probe_broker)
        self.registry.register(KpiCollector(self))
        self.registry.register(LagCollector(app))
        self.metrics.initialise(s.topic_prefix, s.thresholds)
        install_web(self)

    async def _flush_state(self) -> None:
        """Make the tables' state durable; runs right before the consumer commits offsets."""
        producer = self.app.producer._ensure_producer()  # noqa: SLF001 - aiokafka's producer
        sent = await flush_tables(producer, [self.entity_state, self.aggregate_state])
        log.debug("wrote %d changelog records before committing", sent)

    # -- ingest --------------------------------------------------------------------------------

    async def _ingest(self, stream: faust.StreamT[bytes]) -> None:
        """Validate input messages in batches; reject to the dead-letter topic or route each event to
        its entities, one message per entity partition and batch (the entity stage then pays Faust's
        per-message cost once per batch, not once per event)."""
        s, metrics = self.settings, self.metrics
        event_counters: dict[tuple[str, str], Any] = {}
        async for events in stream.take_events(INGEST_BATCH, within=INGEST_WITHIN_S):
            routed: dict[int, list[list[Any]]] = {}
            now = now_us()
            for event in events:
                message = event.message
                topic = message.topic
                try:
                    record = decode_event(message.value, currency=s.currency)
                except InvalidEvent as exc:
                    await self._reject(message, exc)
                    continue
                if record.at_us < now - s.retention_us:
                    metrics.late.labels(topic).inc()
                    continue
                compact_event = compact(record)
                for n, key in enumerate(entity_keys(compact_event)):
                    item = [key, compact_event, topic, n == 0]
                    routed.setdefault(entity_partition(key, s.partitions), []).append(item)
                counted = event_counters.get((topic, compact_event["y"]))
                if counted is None:
                    counted = event_counters[(topic, compact_event["y"])] = metrics.events.labels(
                        topic, compact_event["y"])
                counted.inc()
                metrics.delay.observe(max(0.0, (now - record.at_us) / 1_000_000))
            for partition, items in routed.items():
                await self.entity_topic.send(key=None, value={"b": items}, partition=partition)

    async def _reject(self, message: Any, exc: InvalidEvent) -> None:
        """Dead-letter a rejected message with its reason; never raises, so one message cannot stop
        ingestion. Values too big for a Kafka record are cut, with their size and SHA-256."""
        topic, partition, offset = message.topic, message.partition, message.offset
        log.warning("rejected %s[%d]@%d: %s", topic, partition, offset, exc)
        self.metrics.rejected.labels(topic, exc.reason).inc()
        try:
            await self.deadletter.send(key=message.key, value=deadletter_record(message, exc))
        except Exception:  # noqa: BLE001 - logged and counted; the input offset moves on
            log.exception("could not dead-letter %s[%d]@%d", topic, partition, offset)
            self.metrics.deadletter_failed.inc()

    # -- entities ------------------------------------------------------------------------------

    async def _process_entities(self, stream: faust.StreamT[dict[str, Any]]) -> None:
        """Apply each batch to its entities; move the partition's partial aggregates by the change."""
        table, clock, sla_us = self.entity_state, self.clock, self.sla_us
        async for event in stream.events():
            message, value = event.message, event.value
            partition = message.partition
            self.versions[partition] = message.offset
            batch = value.get("b")
            if batch is None:
                self._expire_entities(partition, Horizon(value["day"], value["minute"]), value["cutoff"])
                continue
            by_entity: dict[str, list[list[Any]]] = {}
            for item in batch:
                by_entity.setdefault(item[0], []).append(item)
            partial = self._partial(partition)
            for key, items in by_entity.items():
                table_key = f"{partition}{SEP}{key}"
                stored = table.get(table_key)
                state = None if stored is None else orjson.loads(stored)
                new_state, added = apply_events(state, (item[1] for item in items))
                self._count_duplicates(items, added)
                if not added:
                    continue
                new_state["o"] = message.offset
                table.put(table_key, partition, orjson.dumps(new_state))
                old = contribution(key, state["e"], clock, sla_us) if state else {}
                new = contribution(key, new_state["e"], clock, sla_us)
                partial.apply(difference(new, old))
                if key[0] == "L":
                    self._watch(partition, key, new_state["e"])

    def _count_duplicates(self, items: list[list[Any]], added: set[str]) -> None:
        """A primary copy whose id was not added, or was added by an earlier copy, is a duplicate."""
        fresh = set(added)
        for _key, event, topic, primary in items:
            if primary:
                if event["i"] in fresh:
                    fresh.discard(event["i"])
                else:
                    self.metrics.duplicates.labels(topic).inc()

    def _watch(self, partition: int, lead_key: str, events: list[CompactEvent]) -> None:
        created = waiting_since(events)
        if created is not None:
            deadlines = self.deadlines.get(partition)
            if deadlines is None:
                deadlines = self.deadlines[partition] = Deadlines()
            deadlines.watch(lead_key, created, self.settings.thresholds, now_us() - self.settings.retention_us)

    async def _raise_alerts(self) -> None:
        """Send the alerts that fell due, each once: skipped when already in the alerts topic."""
        alerted = self.alerted
        if alerted is None:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.ensure_future(self._load_alerted())
            return  # still reading back what was sent before
        now = now_us()
        assigned = self._assigned(self.entity_topic.get_topic_name())
        for partition, deadlines in list(self.deadlines.items()):
            if partition not in assigned:
                continue
            due = deadlines.pop_due(now)
            for n, (threshold, lead_key) in enumerate(due):
                if self.alerted is not alerted:
                    return  # a rebalance rebuilt the deadlines and reads the sent alerts back
                lead_id = lead_key[1:]
                if (lead_id, threshold) in alerted:
                    continue
                stored = self.entity_state.get(f"{partition}{SEP}{lead_key}")
                state = None if stored is None else orjson.loads(stored)
                if state is None or waiting_since(state["e"]) is None:
                    continue
                alert = alert_for(lead_key, state["e"], threshold, now_us())
                try:
                    await (await self.alerts.send(key=lead_id.encode(), value=alert))
                except Exception:  # noqa: BLE001 - the broker is away: try these again next round
                    log.exception("could not send alerts; retrying")
                    deadlines.retry(due[n:], now)
                    return
                alerted.add((lead_id, threshold))
                for team in (alert["team_id"], ALL):
                    self.metrics.breaches.labels(team, str(threshold)).inc()

    async def _load_alerted(self) -> None:
        """Read the alerts topic to its end: what is there was sent, whoever sent it."""
        try:
            self.alerted = await asyncio.wait_for(self._read_alerted(), timeout=60)
        except Exception:  # noqa: BLE001 - retried by the next alert round; no alert goes out meanwhile
            log.exception("could not read back the alerts topic; retrying")
        else:
            log.info("%d alerts already sent", len(self.alerted))

    async def _read_alerted(self) -> set[tuple[str, int]]:
        topic = self.alerts.get_topic_name()
        consumer = AIOKafkaConsumer(**self.settings.aiokafka_kwargs(), enable_auto_commit=False)
        await consumer.start()
        alerted: set[tuple[str, int]] = set()
        try:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topic just created
                partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        try:
                            alert = orjson.loads(record.value)
                            alerted.add((str(alert["lead_id"]), int(alert["threshold_s"])))
                        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                            log.warning("ignored a foreign record in %s at offset %d", topic, record.offset)
        finally:
            await consumer.stop()
        return alerted

    def _expire_entities(self, partition: int, horizon: Horizon, cutoff_us: int) -> None:
        """Forget entities idle past the retention (unless live) and the partial buckets that expired."""
        table, prefix = self.entity_state, f"{partition}{SEP}"
        forgotten = 0
        for table_key, stored in [(k, v) for k, v in table.data.items() if k.startswith(prefix)]:
            events = orjson.loads(stored)["e"]
            if expired_entity(table_key[len(prefix):], events, cutoff_us, self.clock, self.sla_us):
                table.delete(table_key, partition)
                forgotten += 1
        buckets = self._partial(partition).expire(horizon)
        if forgotten or buckets:
            log.info("expired %d entities and %d partial buckets of partition %d", forgotten, buckets, partition)

    def _partial(self, partition: int) -> PartialAggregates:
        partial = self.partials.get(partition)
        if partial is None:
            partial = self.partials[partition] = PartialAggregates()
        return partial

    async def _rebuild_partials(self) -> None:
        """After recovery, derive each assigned partition's partial aggregates from its entities."""
        assigned = self._assigned(self.entity_topic.get_topic_name())
        rebuilt: dict[int, PartialAggregates] = {p: PartialAggregates() for p in assigned}
        versions: dict[int, int] = {}
        clock, sla_us = self.clock, self.sla_us
        self._advance_minutes()
        self.deadlines = {}
        for table_key, stored in self.entity_state.data.items():
            partition_text, _, key = table_key.partition(SEP)
            partition = int(partition_text)
            partial = rebuilt.get(partition)
            if partial is None:
                continue
            state = orjson.loads(stored)
            partial.apply(contribution(key, state["e"], clock, sla_us))
            versions[partition] = max(versions.get(partition, -1), state.get("o", -1))
            if key[0] == "L":
                self._watch(partition, key, state["e"])
        self.partials = rebuilt
        self.versions = versions
        log.info("rebuilt partial aggregates of entity partitions %s", sorted(rebuilt))
        self.alerted = None  # read back again: another worker may have alerted for these leads

    def _assigned(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def _send_expiry(self) -> None:
        """Ask the agents owning this worker's partitions to drop what left the retention.

        Tables may only change inside their stream, so the request travels through the topics."""
        now = now_us()
        cutoff = now - self.settings.retention_us
        horizon = Horizon.at(now, self.settings.retention_us, self.clock)
        request = {"cutoff": cutoff, "day": horizon.first_day, "minute": horizon.first_minute}
        for partition in self._assigned(self.entity_topic.get_topic_name()):
            self.entity_topic.send_soon(key=b"", value=request, partition=partition)
        for partition in self.assigned_aggregate_partitions():
            self.aggregate_topic.send_soon(key=b"", value=request, partition=partition)

    async def _probe_broker(self) -> None:
        """Ask the broker for metadata: health turns not-ready while it does not answer."""
        try:
            client = self.app.producer._ensure_producer().client  # noqa: SLF001 - aiokafka's client
            await asyncio.wait_for(client.fetch_all_metadata(), timeout=BROKER_PROBE_S)
        except Exception as exc:  # noqa: BLE001 - any failure means not reachable right now
            log.debug("broker probe failed: %s", exc)
        else:
            self.broker_seen_at = time.monotonic()

    def _advance_minutes(self) -> None:
        self.clock.first_minute = (now_us() - MINUTES_KEPT_US) // 60_000_000

    async def _ship(self) -> None:
        """Send each changed partial bucket to its team/rep's aggregate partition, versioned by offset,
        in one message per aggregate partition."""
        self._advance_minutes()
        assigned = self._assigned(self.entity_topic.get_topic_name())
        partitions = self.settings.partitions
        outgoing: dict[int, list[list[Any]]] = {}
        for partition in list(self.partials):
            if partition not in assigned:
                del self.partials[partition]
                continue
            partial = self.partials[partition]
            version = self.versions.get(partition)
            if version is None:
                continue
            for team, rep, bucket in partial.take_dirty():
                snapshot = [partition, version, team, rep, bucket, partial.snapshot((team, rep, bucket))]
                outgoing.setdefault(aggregate_partition(team, rep, partitions), []).append(snapshot)
        for target, snapshots in outgoing.items():
            for start in range(0, len(snapshots), SHIP_CHUNK):
                self.aggregate_topic.send_soon(key=None, value={"s": snapshots[start:start + SHIP_CHUNK]},
                                               partition=target)

    # -- aggregates ----------------------------------------------------------------------------

    async def _process_aggregates(self, stream: faust.StreamT[dict[str, Any]]) -> None:
        """Keep the newest snapshot of each bucket from each entity partition (idempotent by version)."""
        table, view = self.aggregate_state, self.view
        async for event in stream.events():
            value = event.value
            partition = event.message.partition
            snapshots = value.get("s")
            if snapshots is None:
                self._expire_aggregates(partition, Horizon(value["day"], value["minute"]))
                continue
            for source_partition, version, team, rep, bucket, fields in snapshots:
                table_key = SEP.join((team, rep, bucket))
                record = table.get(table_key) or {}
                source = str(source_partition)
                current = record.get(source)
                if current is not None and current[0] > version:
                    continue
                record = {**record, source: [version, fields]}
                table.put(table_key, partition, record)
                view.put(partition, team, rep, bucket, record)

    def _expire_aggregates(self, partition: int, horizon: Horizon) -> None:
        table, expired = self.aggregate_state, 0
        for (team, rep), buckets in list(self.view.buckets.items()):
            if self.view.partition_of.get((team, rep)) != partition:
                continue
            for bucket in [b for b in buckets if not horizon.keeps(b)]:
                table_key = SEP.join((team, rep, bucket))
                if table.get(table_key) is not None:
                    table.delete(table_key, partition)
                del buckets[bucket]
                expired += 1
        if expired:
            log.info("expired %d aggregate buckets of partition %d", expired, partition)

    async def _on_aggregate_restored(self, event: faust.EventT) -> None:
        team, rep, bucket = str(event.key).split(SEP)
        self.view.put(event.message.partition, team, rep, bucket, event.value or {})

    def assigned_aggregate_partitions(self) -> set[int]:
        return self._assigned(self.aggregate_topic.get_topic_name())



def logged(tick: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer body whose failure is logged and retried at the next tick: Faust stops the whole
    worker when a timer raises."""

    @functools.wraps(tick)
    async def run() -> None:
        try:
            await tick()
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("%s failed; retrying at the next tick", tick.__name__)

    return run


DEADLETTER_VALUE_MAX = 100_000  # characters kept: even all-escapes (6 bytes each) stays under 1 MB


def deadletter_record(message: Any, exc: InvalidEvent) -> dict[str, Any]:
    """SPEC §2's `{"topic", "partition", "offset", "key", "value", "error"}` (+ reason, encoding, size)."""
    raw: bytes = message.value if isinstance(message.value, bytes) else b""
    try:
        value, encoding = raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    key = message.key
    record: dict[str, Any] = {
        "topic": message.topic, "partition": message.partition, "offset": message.offset,
        "key": key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key,
        "value": value, "value_encoding": encoding, "error": str(exc)[:1024], "reason": exc.reason,
    }
    if len(value) > DEADLETTER_VALUE_MAX:
        record.update(value=value[:DEADLETTER_VALUE_MAX], value_truncated=True, value_bytes=len(raw),
                      value_sha256=hashlib.sha256(raw).hexdigest())
    return record
