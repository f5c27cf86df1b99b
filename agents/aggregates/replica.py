"""What the wallboard shows of the teams other workers own: a read-only copy of their aggregates.

With several workers, each owns the aggregates of some team/rep keys (their aggregate partition), and
`/metrics` and `/api/kpis` answer for those (the API forwards the others to their owner). A TV on the
floor, though, points at one worker and needs every rep of its team. So each worker follows the
aggregates changelog of the partitions it does not own, from its start, and keeps what it reads in a
view of its own. It follows nothing while it owns every partition (one worker: no cost), and starts
over on a partition that moves away from it after a rebalance. The copy is as fresh as the owner's
last commit (a few seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.aggregates.view import AggregateView

log = logging.getLogger(__name__)

FOLLOW_CHECK_S = 1.0  # how often the set of partitions to follow is compared with the assignment


class ViewReplica:
    def __init__(
        self, consumer_kwargs: dict[str, Any], topic: str, partitions: int, owned: Callable[[], set[int] | None]
    ) -> None:
        self.consumer_kwargs = consumer_kwargs
        self.topic = topic
        self.partitions = partitions
        self.owned = owned  # the aggregate partitions this worker owns; None while that is in flux
        self.view = AggregateView()
        self.following: set[int] = set()

    async def run(self) -> None:
        """Follow until cancelled (the worker stopping)."""
        consumer = AIOKafkaConsumer(**self.consumer_kwargs, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            while True:
                await self._follow(consumer)
                if not self.following:
                    await asyncio.sleep(FOLLOW_CHECK_S)
                    continue
                batches = await consumer.getmany(timeout_ms=int(FOLLOW_CHECK_S * 1000), max_records=10_000)
                for tp, records in batches.items():
                    if tp.partition in self.following:
                        for record in records:
                            self.apply(tp.partition, record.key, record.value)
        finally:
            await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        owned = self.owned()
        if owned is None:
            return
        wanted = set(range(self.partitions)) - owned
        if wanted == self.following:
            return
        self.drop(self.following - wanted)
        new = wanted - self.following
        self.following = wanted
        tps = [TopicPartition(self.topic, p) for p in sorted(wanted)]
        consumer.assign(tps)  # a new assignment starts every partition over: re-reading is idempotent
        if tps:  # none when this worker owns every partition (aiokafka refuses to seek nothing)
            await consumer.seek_to_beginning(*tps)
        log.info("%s: following partitions %s for the wallboard (new: %s)", self.topic, sorted(wanted), sorted(new))

    def apply(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.view.apply(partition, orjson.loads(key), None if value is None else orjson.loads(value))

    def drop(self, partitions: set[int]) -> None:
        """Forget partitions this worker now owns (its own view has them)."""
        self.view.drop(partitions)
