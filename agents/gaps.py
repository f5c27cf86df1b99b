"""Messages Faust did not deliver, read back from Kafka.

Around a rebalance, Faust (0.15.3) can hand an agent a message fetched before the rebalance, past the
offset it has just sought back to, and then drop the messages in between as already read (its
`_drain_messages` keeps a read offset per partition; see faust-streaming #221 and #236). Its commit
then covers them: they are lost. Seen here in the scale-out test: one entity-topic message, nine
events, missing after a worker joined.

`OffsetGaps` knows which offset each partition's next message must have: the committed offset Faust
sought to after a rebalance, then the offset after the last message. A message further on means the
ones between were skipped; the agent reads them from Kafka and applies them first, then acknowledges them to
Faust's consumer, whose commits would otherwise stop short of them for good. Our topics are
neither compacted nor transactional, so their offsets have no holes of their own. Applying is
idempotent, so a message that arrives twice (a replay, or the skipped one delivered after all) does
no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP, Message

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (topic, partition): Faust's TP and aiokafka's TopicPartition alike


class OffsetGaps:
    def __init__(self, consumer_kwargs: dict[str, Any]) -> None:
        self.consumer_kwargs = consumer_kwargs
        self.expected: dict[Partition, int] = {}

    def sought(self, offsets: Mapping[Any, int | None]) -> None:
        """Faust sought these partitions to their committed offsets (None or < 0: none committed)."""
        for tp, offset in offsets.items():
            key = (tp[0], tp[1])
            if offset is None or offset < 0:
                self.expected.pop(key, None)
            else:
                self.expected[key] = offset

    def check(self, topic: str, partition: int, offset: int) -> int | None:
        """Where the skipped messages before `offset` start, or None when none were skipped."""
        key = (topic, partition)
        expected = self.expected.get(key)
        self.expected[key] = offset + 1
        if expected is not None and offset > expected:
            return expected
        return None

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[tuple[int, Any]]:
        """The messages at offsets [start, end) of one partition, as (offset, decoded value)."""
        log.warning("%s[%d]: messages %d..%d were not delivered (a rebalance); reading them from Kafka",
                    topic, partition, start, end - 1)
        tp = TopicPartition(topic, partition)
        consumer = AIOKafkaConsumer(**self.consumer_kwargs, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        out: list[tuple[int, Any]] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            while await consumer.position(tp) < end:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if record.offset >= end:
                        break
                    out.append((record.offset, orjson.loads(record.value)))
        finally:
            await consumer.stop()
        return out


def acknowledge(consumer: Any, topic: str, partition: int, offsets: list[int]) -> None:
    """Tell Faust's consumer that the messages read back are processed: it commits a partition only up
    to its first offset not acknowledged."""
    tp = TP(topic, partition)
    for offset in offsets:
        consumer.ack(Message(topic, partition, offset, 0.0, 0, None, None, None, None, tp=tp))
