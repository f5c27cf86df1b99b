"""The wallboard's copy of the aggregates other workers own (agents/aggregates/replica.py) on the real
broker, as the assignment moves: some partitions owned, then all of them (one worker left: it follows
nothing), then fewer again. A worker left owning every partition once crashed here (aiokafka refuses to
seek no partitions), which stopped the survivor of a crash."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaProducer

from agents.aggregates.replica import ViewReplica
from agents.routing import SEP
from tests.integration.test_broker import _create_topic

PARTITIONS = 4


async def until(condition: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_the_replica_follows_what_others_own_as_the_assignment_moves(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = topic_prefix + "salesfloor-aggregates-changelog"
    await _create_topic(kafka_bootstrap, topic, PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for p in range(PARTITIONS):
            key = orjson.dumps(SEP.join((f"team{p}", "_all", "day:2026-12-01")))
            value = orjson.dumps({"source": [1, {"calls_outbound": p + 1}]})
            await producer.send_and_wait(topic, value, key=key, partition=p)
    finally:
        await producer.stop()

    owned: set[int] | None = {0, 1}
    replica = ViewReplica({"bootstrap_servers": kafka_bootstrap}, topic, PARTITIONS, lambda: owned)
    teams = lambda: {team for team, _ in replica.view.buckets}  # noqa: E731 - read at each poll
    running = asyncio.ensure_future(replica.run())
    try:
        await until(lambda: teams() == {"team2", "team3"}, "the partitions owned elsewhere")
        assert replica.view.buckets[("team3", "_all")]["day:2026-12-01"] == {"calls_outbound": 4}

        owned = set(range(PARTITIONS))  # the other workers are gone: this one owns everything
        await until(lambda: not replica.following, "following nothing")
        await asyncio.sleep(2.5)  # a few more rounds of the follow loop
        assert not running.done(), running.exception()
        assert teams() == set()  # its own view has them now

        owned = None  # a rebalance in flux: nothing changes meanwhile
        await asyncio.sleep(1.5)
        assert not running.done() and replica.following == set()

        owned = {0}  # a worker joined and took partitions 1-3
        await until(lambda: teams() == {"team1", "team2", "team3"}, "the partitions that moved away")
        assert replica.following == {1, 2, 3}
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
