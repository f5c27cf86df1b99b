"""Messages Faust did not deliver, read back from Kafka.

Around a rebalance, Faust (0.15.3) can hand an agent a message fetched before the rebalance, past the
offset it has just sought back to, and then drop the messages in between as already read (its
`_drain_messages` keeps a read offset per partition; see faust-streaming #221 and #236). Its commit
then covers them: they are lost. Seen here in the scale-out test: one entity-topic message, nine
events, missing after a worker joined.

`OffsetGaps` knows which offset each partition's next message must have: the committed offset Faust
sought to after a rebalance, then the offset after the last message. A message further on means the
ones between were skipped; the agent reads them from Kafka and applies them first, then acknowledges them to
Faust's consumer, whose commits would otherwise stop short of them for good (all but those Faust already
counts as acknowledged itself: see `acknowledge`). Our topics are
neither compacted nor transactional, so their offsets have no holes of their own. Applying is
idempotent, so a message that arrives twice (a replay, or the skipped one delivered after all) does
no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from faust.types import TP, Message

from streams.kafka.internals import counted_gap
from streams.kafka.read_to_end import read_to_end

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (topic, partition): Faust's TP and aiokafka's TopicPartition alike


class OffsetGaps:
    """The offset each partition's next message must have, and the messages skipped before one."""

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
        log.warning(
            "%s[%d]: messages %d..%d were not delivered (a rebalance); reading them from Kafka",
            topic,
            partition,
            start,
            end - 1,
        )
        out: list[tuple[int, Any]] = []
        async for _, records in read_to_end(
            self.consumer_kwargs, topic, [partition], start={partition: start}, end={partition: end}
        ):
            out.extend((record.offset, orjson.loads(record.value)) for record in records)
        return out


def acknowledge(consumer: Any, topic: str, partition: int, offsets: list[int]) -> None:
    """Tell Faust's consumer that the messages read back are processed: it commits a partition only up
    to its first offset not acknowledged.

    Except the ones Faust has in a gap of its own: when the message it delivers lies past its read
    offset, it records the offsets between as a gap (for compacted topics) and counts them as acknowledged
    when it next commits, without looking at what was acknowledged meanwhile. An offset acknowledged
    twice splits its run of consecutive offsets, and Faust commits one run per commit: the commit then
    crept one offset per commit through the whole read-back range, and looked stuck (seen in the
    join/leave crash test: a read-back of 97 messages, the commit 27 offsets in when the test gave up)."""
    tp = TP(topic, partition)
    gap = counted_gap(consumer, tp)
    for offset in offsets:
        if not (gap and gap.overlaps(offset)):
            consumer.ack(Message(topic, partition, offset, 0.0, 0, None, None, None, None, tp=tp))


class StallWatch:
    """A partition whose next message has not come for a round although Kafka has it: Faust may have
    skipped the rest of it (see above), and only a later message shows the agent the gap. `due` names
    the partitions to send a message that changes nothing (a nudge)."""

    def __init__(self, gaps: OffsetGaps) -> None:
        self.gaps = gaps
        self._stalled: dict[Partition, int] = {}  # partition -> expected offset at the last round

    def due(self, consumer: Any, assigned: list[Partition]) -> list[Partition]:
        stalled, self._stalled = self._stalled, {}
        nudge = []
        for key in assigned:
            expected = self.gaps.expected.get(key)
            try:
                highwater = consumer.highwater(TP(*key))
            except Exception:  # noqa: BLE001 - not fetched yet
                highwater = None
            if expected is None or highwater is None or expected >= highwater:
                continue
            if stalled.get(key) == expected:
                log.info("%s[%d]: offset %d not delivered for a round; nudging", key[0], key[1], expected)
                nudge.append(key)
            self._stalled[key] = expected
        return nudge


def repaired(
    gaps: OffsetGaps, consumer: Callable[[], Any], topic: str, apply: Callable[[int, int, dict[str, Any]], None]
) -> Callable[[Any], Awaitable[None]]:
    """A Faust agent body that applies each message of `topic` to a stage, first any message Faust
    skipped before it, read back from Kafka and acknowledged to Faust's consumer."""

    async def process(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            partition, offset = message.partition, message.offset
            start = gaps.check(topic, partition, offset)
            if start is not None:
                missed = await gaps.read(topic, partition, start, offset)
                # acknowledged from here: applied below before the next await
                acknowledge(consumer(), topic, partition, [missed_offset for missed_offset, _ in missed])
                for missed_offset, value in missed:
                    apply(partition, missed_offset, value)
            apply(partition, offset, event.value)

    return process
