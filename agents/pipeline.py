"""The worker's dataflow: input topics → ingest (validate, route by entity) → entities (per-entity
state, partial aggregates) → aggregates (per team/rep, exported at scrape time).

Every hop is keyed so that no table key is ever updated from two partitions: entity state lives in
the partition of its entity key, aggregate state in the partition of its team/rep key.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP
from prometheus_client import CollectorRegistry

from agents.alerts import Deadlines, alert_for, waiting_since
from agents.contributions import ALL, BucketClock, CompactEvent, difference
from agents.entity_state import (
    SEP,
    Horizon,
    PartialAggregates,
    apply_events,
    contribution,
    expired_entity,
)
from agents.exporter import KpiCollector, LagCollector, aggregate_partition
from agents.gaps import OffsetGaps, acknowledge
from agents.ingest import Ingest, deadletter_record
from agents.kpis import now_us
from agents.ops_metrics import OpsMetrics
from agents.replica import ViewReplica
from agents.state import BufferedTable, RebalanceGate, flush_tables
from agents.store import BulkRestoredStore
from agents.view import AggregateView
from agents.web import install_web
from streams.settings import Settings
from streams.topics import INPUT_TOPICS, topic_name

log = logging.getLogger(__name__)

MINUTES_KEPT_US = 7_200_000_000  # minute buckets serve last_60m; two hours leave room for late events
SHIP_CHUNK = 1000  # snapshots per message, well under Kafka's 1 MB message limit
TRIM_S = 2.0  # how often freed heap is handed back to the OS
BROKER_PROBE_S = 2.0
NUDGE_S = 5.0  # a partition not moving although Kafka has more for this long is nudged (see _nudge)
NUDGE = "nudge"  # the key of a message that only shows the agent its next offset


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
    _ingesting: asyncio.Future[None] | None = None
    gate: RebalanceGate = field(default_factory=RebalanceGate)
    gaps: OffsetGaps = field(init=False)
    _stalled: dict[tuple[str, int], int] = field(default_factory=dict)  # partition -> expected offset
    _foreign_seen: set[tuple[str, int]] = field(default_factory=set)  # partitions with unknown messages

    def __post_init__(self) -> None:
        s, app = self.settings, self.app
        self.metrics = OpsMetrics.create(self.registry)
        self.clock = BucketClock(s.zone)
        self._advance_minutes()
        self.sla_us = int(s.lead_sla_seconds * 1_000_000)
        self.alerts = app.topic(topic_name(s.topic_prefix, "alerts"), key_serializer="raw",
                                value_serializer="orjson", partitions=s.partitions)
        self.entity_topic = app.topic(f"{s.faust_id}-entities", key_serializer="raw",
                                      value_serializer="orjson", partitions=s.partitions, internal=True)
        self.aggregate_topic = app.topic(f"{s.faust_id}-aggregates", key_serializer="raw",
                                         value_serializer="orjson", partitions=s.partitions, internal=True)
        self.entities = app.Table("entities", partitions=s.partitions, key_type=str, value_type=bytes)
        self.aggregates = app.Table("aggregates", partitions=s.partitions, key_type=str,
                                    on_changelog_event=self._on_aggregate_restored)
        # A table writes the partitions its store holds: those assigned at the last rebalance. Not the
        # assignor's view, which can move on while a commit (and its flush) for the old one runs.
        entity_store = BulkRestoredStore.attach(
            self.entities, partition_of=entity_key_partition, decode_value=bytes,
            consumer_kwargs=s.aiokafka_kwargs(), dirty=lambda: self.entity_state.dirty)
        aggregate_store = BulkRestoredStore.attach(
            self.aggregates, partition_of=self._aggregate_key_partition, decode_value=orjson.loads,
            consumer_kwargs=s.aiokafka_kwargs(), dirty=lambda: self.aggregate_state.dirty,
            on_restored=self.view.apply)
        self.entity_state = BufferedTable(  # values are orjson documents
            self.entities, encode=bytes, owned=lambda: set(entity_store.restored))
        self.aggregate_state = BufferedTable(self.aggregates, encode=orjson.dumps,
                                             owned=lambda: set(aggregate_store.restored))
        app.salesfloor_before_commit = self._flush_state  # type: ignore[attr-defined] - see faust_fixes
        self.gaps = OffsetGaps(s.aiokafka_kwargs())
        app.salesfloor_sought = self.gaps.sought  # type: ignore[attr-defined] - see faust_fixes
        self.entities.on_recover(self._rebuild_partials)
        self.ingest = Ingest(s, self.metrics, producer=self.app.producer._ensure_producer,  # noqa: SLF001
                             topics=[topic_name(s.topic_prefix, t) for t in INPUT_TOPICS],
                             entity_topic=self.entity_topic.get_topic_name(),
                             deadletter_topic=topic_name(s.topic_prefix, "deadletter"), reject=deadletter_record)
        app.salesfloor_ingest = self.ingest  # type: ignore[attr-defined] - its lag is the input's (exporter)
        self.replica = ViewReplica(s.aiokafka_kwargs(), self.aggregates.changelog_topic.get_topic_name(),
                                   s.partitions, owned=self._settled_aggregate_partitions)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.agent(self.entity_topic, name="entities")(self._process_entities)
        app.agent(self.aggregate_topic, name="aggregates")(self._process_aggregates)
        app.timer(s.flush_interval_seconds, name="ship-partials")(logged(self._ship))
        app.timer(s.expiry_interval_seconds, name="expire")(logged(self._send_expiry))
        app.timer(1.0, name="raise-alerts")(logged(self._raise_alerts))
        app.timer(BROKER_PROBE_S, name="probe-broker")(self._probe_broker)
        app.timer(NUDGE_S, name="nudge")(logged(self._nudge))
        app.timer(TRIM_S, name="release-memory")(release_free_memory)
        self.registry.register(KpiCollector(self))
        self.registry.register(LagCollector(app))
        self.metrics.initialise(s.topic_prefix, s.thresholds)
        install_web(self)

    async def _on_assigned(self, *_: Any, **__: Any) -> None:
        """Faust sends this after the tables' stores took the new assignment. Ingest starts at the first
        one, while the tables recover (Faust starts app tasks only after): it needs no state, and the
        entity stage catches up once recovered."""
        self.gate.assigned()
        if self._ingesting is None:
            # cancelled when the app stops; should it fail, the app crashes (mode's add_future)
            self._ingesting = self.app.add_future(self.ingest.run())
            self.app.add_future(self.replica.run())

    async def _flush_state(self) -> bool:
        """Make the tables' state durable; runs right before the consumer commits offsets, which it
        skips (False) while partitions are being reassigned."""
        return await self.gate.flush(self._write_state)

    async def _write_state(self) -> None:
        producer = self.app.producer._ensure_producer()  # noqa: SLF001 - aiokafka's producer
        sent = await flush_tables(producer, [self.entity_state, self.aggregate_state],
                                  stopping=lambda: bool(self.app.should_stop))
        log.debug("wrote %d changelog records before committing", sent)

    async def _on_revoked(self, *_: Any, **__: Any) -> None:
        await self.gate.revoked()

    # -- ingest --------------------------------------------------------------------------------

    # -- entities ------------------------------------------------------------------------------

    async def _process_entities(self, stream: faust.StreamT[dict[str, Any]]) -> None:
        """Apply each batch to its entities (and first any message Faust skipped, see agents/gaps.py)."""
        topic = self.entity_topic.get_topic_name()
        async for event in stream.events():
            message = event.message
            partition, offset = message.partition, message.offset
            for missed_offset, value in await self._skipped(topic, partition, offset):
                self._apply_entities(partition, missed_offset, value)
            self._apply_entities(partition, offset, event.value)

    async def _skipped(self, topic: str, partition: int, offset: int) -> list[tuple[int, Any]]:
        """The messages Faust skipped before this one, read back from Kafka (agents/gaps.py); almost
        always none. They count as acknowledged from here: the caller applies them before it awaits."""
        start = self.gaps.check(topic, partition, offset)
        if start is None:
            return []
        missed = await self.gaps.read(topic, partition, start, offset)
        acknowledge(self.app.consumer, topic, partition, [missed_offset for missed_offset, _ in missed])
        return missed

    def _apply_entities(self, partition: int, offset: int, value: dict[str, Any]) -> None:
        """One entity-topic message: move the partition's partial aggregates by each entity's change."""
        if offset > self.versions.get(partition, -1):
            # Never backwards: after a rebalance Faust replays from the committed offset, below the
            # version the rebuilt partials were shipped with. A replayed message may complete a bucket
            # (state the old owner had not written), and a snapshot with a lower version than the
            # rebuilt one would be ignored by the aggregates.
            self.versions[partition] = offset
        batch = value.get("b")
        if batch is None:
            if "day" in value:
                self._expire_entities(partition, Horizon(value["day"], value["minute"]), value["cutoff"])
            elif NUDGE not in value:
                self._foreign(self.entity_topic, partition, offset, value)
            return
        table, clock, sla_us = self.entity_state, self.clock, self.sla_us
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
            new_state["o"] = offset
            table.put(table_key, partition, exact_bytes(orjson.dumps(new_state)))
            old = contribution(key, state["e"], clock, sla_us) if state else {}
            new = contribution(key, new_state["e"], clock, sla_us)
            partial.apply(difference(new, old))
            if key[0] == "L":
                self._watch(partition, table_key, new_state["e"])

    def _foreign(self, topic: Any, partition: int, offset: int, value: dict[str, Any]) -> None:
        """An internal message this version does not know (written by an older one): skipped, not fatal;
        logged once per partition."""
        name = topic.get_topic_name()
        if (name, partition) not in self._foreign_seen:
            self._foreign_seen.add((name, partition))
            log.warning("skipping messages of another version in %s[%d], the first at offset %d (keys %s)",
                        name, partition, offset, sorted(value)[:5])

    def _count_duplicates(self, items: list[list[Any]], added: set[str]) -> None:
        """A primary copy whose id was not added, or was added by an earlier copy, is a duplicate."""
        fresh = set(added)
        for _key, event, topic, primary in items:
            if primary:
                if event["i"] in fresh:
                    fresh.discard(event["i"])
                else:
                    self.metrics.duplicates.labels(topic).inc()

    def _watch(self, partition: int, table_key: str, events: list[CompactEvent]) -> None:
        """Deadlines hold the table key: for a lead created here it is the very string the table's dict
        holds, so a waiting lead's deadline costs no string of its own."""
        created = waiting_since(events)
        if created is not None:
            deadlines = self.deadlines.get(partition)
            if deadlines is None:
                deadlines = self.deadlines[partition] = Deadlines()
            deadlines.watch(table_key, created, self.settings.thresholds, now_us() - self.settings.retention_us)

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
            for n, (threshold, table_key) in enumerate(due):
                if self.alerted is not alerted:
                    return  # a rebalance rebuilt the deadlines and reads the sent alerts back
                lead_key = table_key.partition(SEP)[2]
                lead_id = lead_key[1:]
                if (lead_id, threshold) in alerted:
                    continue
                stored = self.entity_state.get(table_key)
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
                self._watch(partition, table_key, state["e"])
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

    async def _nudge(self) -> None:
        """A partition whose next message has not come for a round although Kafka has it: Faust may
        have skipped the rest of it (agents/gaps.py), and only a later message shows the agent the
        gap. Send it one that changes nothing."""
        stalled, self._stalled = self._stalled, {}
        if self.app.rebalancing:
            return  # streams are paused until the tables are recovered
        for topic in (self.entity_topic, self.aggregate_topic):
            name = topic.get_topic_name()
            for partition in self._assigned(name):
                expected = self.gaps.expected.get((name, partition))
                try:
                    highwater = self.app.consumer.highwater(TP(name, partition))
                except Exception:  # noqa: BLE001 - not fetched yet
                    continue
                if expected is None or highwater is None or expected >= highwater:
                    continue
                if stalled.get((name, partition)) == expected:
                    log.info("%s[%d]: offset %d not delivered for %.0fs; nudging", name, partition, expected,
                             NUDGE_S)
                    topic.send_soon(key=b"", value={NUDGE: True}, partition=partition)
                self._stalled[(name, partition)] = expected

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
        """Keep the newest snapshot of each bucket from each entity partition (and first apply any
        message Faust skipped, see agents/gaps.py)."""
        topic = self.aggregate_topic.get_topic_name()
        async for event in stream.events():
            message = event.message
            partition, offset = message.partition, message.offset
            for missed_offset, value in await self._skipped(topic, partition, offset):
                self._apply_snapshots(partition, missed_offset, value)
            self._apply_snapshots(partition, offset, event.value)

    def _apply_snapshots(self, partition: int, offset: int, value: dict[str, Any]) -> None:
        """Snapshots are idempotent by version: an older one than the bucket holds is ignored."""
        snapshots = value.get("s")
        if snapshots is None:
            if "day" in value:
                self._expire_aggregates(partition, Horizon(value["day"], value["minute"]))
            elif NUDGE not in value:
                self._foreign(self.aggregate_topic, partition, offset, value)
            return
        table, view = self.aggregate_state, self.view
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
        """A record of Faust's tail recovery. A key changed here and not yet written keeps its newer
        value, in the view as in the store (`BulkRestoredStore.apply_changelog_batch`)."""
        if event.key not in self.aggregate_state.dirty:
            self.view.apply(event.message.partition, event.key, event.value)

    def _aggregate_key_partition(self, key: str) -> int:
        team, rep, _bucket = key.split(SEP)
        return aggregate_partition(team, rep, self.settings.partitions)

    def assigned_aggregate_partitions(self) -> set[int]:
        return self._assigned(self.aggregate_topic.get_topic_name())

    def _settled_aggregate_partitions(self) -> set[int] | None:
        """The aggregate partitions owned here, or None while a rebalance is moving them."""
        return None if self.app.rebalancing else self.assigned_aggregate_partitions()



def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


MALLOC_TRIM = _malloc_trim()


async def release_free_memory() -> None:
    """Hand memory freed by batch processing back to the OS (glibc keeps freed heap pages otherwise)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def exact_bytes(data: bytes) -> bytes:
    """A copy without spare capacity: orjson's `dumps` returns bytes that keep a 4 KiB buffer, which
    made each stored entity state (~200 bytes) cost 4 KiB of memory."""
    return memoryview(data).tobytes()


def entity_key_partition(key: str) -> int:
    """Entity table keys start with their entity partition."""
    return int(key.partition(SEP)[0])


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
