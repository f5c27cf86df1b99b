"""The achievements the wallboard celebrates: every worker's, read from the achievements topic.

A team's achievements may be announced by any worker (the owner of its aggregate partition), while a TV
points at one. So each worker follows the topic from its end when it starts and keeps the latest few in
memory; each board stream passes on those that came after it last looked (`after`), each with an id
(`partition:offset`) the page shows once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.kpis.model import ALL
from streams.kafka.internals import refresh_metadata

log = logging.getLogger(__name__)

KEPT = 200
TOPIC_WAIT_S = 1.0


class AchievementFeed:
    def __init__(self, consumer_kwargs: dict[str, Any], topic: str) -> None:
        self.consumer_kwargs = consumer_kwargs
        self.topic = topic
        self.items: deque[tuple[int, dict[str, Any]]] = deque(maxlen=KEPT)  # (sequence number, achievement)
        self.sequence = 0  # of the latest item

    def after(self, cursor: int, team: str) -> tuple[int, list[dict[str, Any]]]:
        """The items after `cursor` (a sequence number) of one team (or, for `_all`, the floor's: all),
        and the cursor to pass next time."""
        items = [a for n, a in self.items if n > cursor and (team == ALL or a.get("team_id") == team)]
        return self.sequence, items

    def add(self, partition: int, offset: int, value: bytes | None) -> None:
        try:
            achievement = orjson.loads(value or b"")
            if not isinstance(achievement, dict):
                raise TypeError(type(achievement).__name__)
        except (orjson.JSONDecodeError, TypeError):
            log.warning("ignored a foreign record in %s at offset %d", self.topic, offset)
            return
        self.sequence += 1
        self.items.append((self.sequence, {**achievement, "id": f"{partition}:{offset}"}))

    async def run(self) -> None:
        """Follow from the end until cancelled (the worker stopping)."""
        consumer = AIOKafkaConsumer(**self.consumer_kwargs, enable_auto_commit=False, auto_offset_reset="latest")
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            while not partitions:  # created by the worker at start-up, maybe a moment ago
                await refresh_metadata(consumer)
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    await asyncio.sleep(TOPIC_WAIT_S)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            while True:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    for record in records:
                        self.add(tp.partition, record.offset, record.value)
        finally:
            await consumer.stop()
