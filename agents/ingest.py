"""Ingest: read the input topics, validate, and route each event to its entities' partitions.

Ingest holds no state, so it does not need Faust's per-message machinery (an Event, a queue hand-off,
sensors and an ack per message cost ~60 µs of CPU per event here, more than all our own work). It is a
plain aiokafka consumer in its own consumer group (`<app id>-ingest`) that reads a batch, rejects the
invalid messages to the dead-letter topic, sends the valid events to the entity topic (one message
per entity partition and batch) and commits the batch's offsets only after the broker has acknowledged
everything it produced. A crash replays at most the uncommitted batches, which the entity stage
applies idempotently (an entity's state is the set of its event ids).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from agents.entities.decode import decode_compact
from agents.entities.state import ages_out, routes
from agents.export.ops_metrics import OpsMetrics
from agents.kpis.windows import now_us
from agents.messages import RoutedEvent
from streams.errors import InvalidEvent
from streams.kafka.internals import assignment_positions
from streams.settings import HEARTBEAT_S, Settings
from streams.topics import INPUT_TOPICS, topic_name

log = logging.getLogger(__name__)

MAX_RECORDS = 2000  # per batch: ~50 ms of work, so a rebalance or shutdown waits at most that
# aiokafka 0.14 does not refresh metadata when resetting a position hits NotLeaderForPartition: it retries
# the old leader every 100 ms until the next periodic refresh (5 min by default), so an input partition
# whose leader moved (a broker killed or paused) stalls that long. Refresh often enough to bound it.
METADATA_MAX_AGE_MS = 10_000
ROUTE_CHUNK = 500  # events per entity-topic message: well under Kafka's 1 MB, and a small Faust buffer
POLL_MS = 200
# A fetch returns once this much is there or after FETCH_WAIT_MS: at a steady 2,000 ev/s a fetch per
# arrival (fetch_min_bytes=1, aiokafka's default) meant ~130 fetches/s, each one a request and a response
# decoded in Python; at most FETCH_WAIT_MS more on the way in.
FETCH_MIN_BYTES = 256 * 1024
FETCH_WAIT_MS = 20
COMMIT_EVERY_S = 0.5  # commit at most this often (and always before partitions are revoked)
RETRY_S = 1.0


class Ingest:
    """The input topics' consumer: decode, validate, route; offsets committed after delivery."""

    def __init__(
        self,
        settings: Settings,
        metrics: OpsMetrics,
        producer: Callable[[], Any],
        entity_topic: str,
        reject: Callable[[Any, InvalidEvent], dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.producer = producer  # the app's aiokafka producer, once started
        self.topics = [topic_name(settings.topic_prefix, t) for t in INPUT_TOPICS]
        self.entity_topic = entity_topic
        self.deadletter_topic = topic_name(settings.topic_prefix, "deadletter")
        self.reject = reject
        self.consumer: AIOKafkaConsumer | None = None
        self.processed: dict[TopicPartition, int] = {}  # delivered but not yet committed
        self.committed_at = 0.0
        self._counters: dict[tuple[str, str], Any] = {}

    async def run(self) -> None:
        """Consume until cancelled (the worker stopping)."""
        s = self.settings
        consumer = self.consumer = AIOKafkaConsumer(
            **s.aiokafka_kwargs(),
            group_id=group_id(s),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=MAX_RECORDS,
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            session_timeout_ms=int(s.session_timeout_seconds * 1000),
            heartbeat_interval_ms=round(HEARTBEAT_S * 1000),
            client_id=f"{s.faust_id}-ingest",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )
        await consumer.start()
        consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                if batches:
                    await self._process(batches)
                if self.processed and time.monotonic() - self.committed_at >= COMMIT_EVERY_S:
                    await self.commit()
        finally:
            try:
                await self.commit()
            finally:
                await consumer.stop()

    def lag(self) -> dict[TopicPartition, int]:
        """Messages behind the end of each assigned input partition (-1: end not known yet)."""
        consumer = self.consumer
        if consumer is None:
            return {}
        lag: dict[TopicPartition, int] = {}
        for tp, (highwater, position) in assignment_positions(consumer).items():
            lag[tp] = -1 if highwater is None or position is None else max(0, highwater - position)
        return lag

    async def commit(self) -> None:
        """Commit what was delivered; on failure keep it for the next try (a replay is harmless)."""
        processed, self.processed = self.processed, {}
        self.committed_at = time.monotonic()
        if not processed or self.consumer is None:
            return
        offsets = {
            tp: OffsetAndMetadata(offset, "") for tp, offset in processed.items() if tp in self.consumer.assignment()
        }
        try:
            if offsets:
                await self.consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - a broker outage or a rebalance; retried at the next commit
            log.warning("could not commit input offsets (%r); will retry", exc)
            for tp, offset in processed.items():
                self.processed[tp] = max(offset, self.processed.get(tp, offset))

    async def _process(self, batches: dict[TopicPartition, list[Any]]) -> None:
        s, metrics = self.settings, self.metrics
        partitions = s.partitions
        routed: dict[int, list[RoutedEvent]] = {}
        rejected: list[tuple[bytes | None, bytes]] = []
        now = now_us()
        oldest = now - s.retention_us
        latest = now + round(s.max_future_seconds * 1_000_000)
        stages = frozenset(s.stages)
        delays: list[float] = []
        counts: dict[tuple[str, str], int] = {}
        for tp, records in batches.items():
            topic = tp.topic
            for message in records:
                try:
                    event = decode_compact(message.value, currency=s.currency, stages=stages, latest_us=latest)
                except InvalidEvent as exc:
                    log.warning("rejected %s[%d]@%d: %s", topic, message.partition, message.offset, exc)
                    metrics.rejected.labels(topic, exc.reason).inc()
                    rejected.append((message.key, orjson.dumps(self.reject(message, exc))))
                    continue
                at_us = event["a"]
                if at_us < oldest and ages_out(event["y"]):
                    metrics.late.labels(topic).inc()
                    continue
                for partition, key, primary in routes(event, partitions):
                    routed.setdefault(partition, []).append((key, event, topic, primary))
                counts[(topic, event["y"])] = counts.get((topic, event["y"]), 0) + 1
                delays.append(max(0.0, (now - at_us) / 1_000_000))
        await self._deliver(routed, rejected)
        metrics.delay.observe_batch(delays)
        for (topic, kind), count in counts.items():
            counter = self._counters.get((topic, kind))
            if counter is None:
                counter = self._counters[(topic, kind)] = metrics.events.labels(topic, kind)
            counter.inc(count)
        for tp, records in batches.items():
            self.processed[tp] = records[-1].offset + 1

    async def _deliver(self, routed: dict[int, list[RoutedEvent]], rejected: list[tuple[bytes | None, bytes]]) -> None:
        """Send the routed events and rejections; returns once the broker has all of them."""
        rejections = []
        for key, value in rejected:
            try:
                rejections.append(await self.producer().send(self.deadletter_topic, value, key=key))
            except Exception as exc:  # noqa: BLE001 - counted, not fatal: the input moves on
                rejections.append(asyncio.get_running_loop().create_future())
                rejections[-1].set_exception(exc)
        while True:
            producer = self.producer()
            try:
                await asyncio.gather(
                    *[
                        await producer.send(
                            self.entity_topic,
                            orjson.dumps({"b": items[start : start + ROUTE_CHUNK]}),
                            partition=partition,
                        )
                        for partition, items in routed.items()
                        for start in range(0, len(items), ROUTE_CHUNK)
                    ]
                )
                break
            except Exception:  # resent until the broker takes it; the entity stage dedups
                log.exception("could not route %d entity batches; retrying", len(routed))
                await asyncio.sleep(RETRY_S)
        for outcome in await asyncio.gather(*rejections, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("could not dead-letter a message: %r", outcome)
                self.metrics.deadletter_failed.inc()


def group_id(settings: Settings) -> str:
    """The ingest consumer group (the Faust app's group reads only the internal topics)."""
    return f"{settings.faust_id}-ingest"


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what was delivered before another worker takes the partitions over."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.ingest.commit()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


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
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key,
        "value": value,
        "value_encoding": encoding,
        "error": str(exc)[:1024],
        "reason": exc.reason,
    }
    if len(value) > DEADLETTER_VALUE_MAX:
        record.update(
            value=value[:DEADLETTER_VALUE_MAX],
            value_truncated=True,
            value_bytes=len(raw),
            value_sha256=hashlib.sha256(raw).hexdigest(),
        )
    return record
