"""The one way salesfloor reads part of a topic with a plain aiokafka consumer: from a start offset
(or the beginning) up to the end offsets seen when it starts, in large batches, then stops."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.kafka.internals import refresh_metadata

H = TypeVar("H", bound=Hashable)
# A broker answers one connection's requests in order, and once partitions are assigned the consumer keeps a
# fetch waiting there (aiokafka's default fetch_max_wait_ms is 500): every offset request behind it waited that
# long, so reading an empty changelog took 1.5 s (two restores at every start and rebalance). The read asks for
# its offsets before assigning, and its fetches wait at most this long.
READ_FETCH_WAIT_MS = 50
# NEW_CLIENT_METADATA: a new client knows no partition's leader, and its first offset request found none,
# asked for metadata and retried after its backoff (100 ms): each read and offset query paid that once.
# Asking for metadata first takes a few ms.


@asynccontextmanager
async def started(consumer_kwargs: dict[str, Any], **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of no group that knows the cluster's metadata (NEW_CLIENT_METADATA), stopped after use."""
    consumer = AIOKafkaConsumer(**consumer_kwargs, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        await refresh_metadata(consumer)
        yield consumer
    finally:
        await consumer.stop()


async def read_to_end(
    consumer_kwargs: dict[str, Any],
    topic: str,
    partitions: list[int] | None = None,
    *,
    start: Mapping[int, int] | None = None,
    end: Mapping[int, int] | None = None,
    max_records: int = 10_000,
    check_start: Callable[[int, int], None] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[int, list[ConsumerRecord[bytes, bytes]]]]:
    """Yield `(partition, records)` batches of `partitions` (default: all of the topic's) from `start`
    (default: the beginning) up to `end` (default: the end offsets when the read starts).

    `check_start(partition, log start offset)` is called before the read and again after it (it may raise):
    a log start that moved means records were deleted under the reader."""
    options = {"fetch_max_wait_ms": READ_FETCH_WAIT_MS, "auto_offset_reset": "earliest", **options}
    async with started(consumer_kwargs, **options) as consumer:  # the topic may have just been created
        if partitions is None:
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return
        if check_start is not None:  # offsets first: see READ_FETCH_WAIT_MS
            for tp, first in (await consumer.beginning_offsets(tps)).items():
                check_start(tp.partition, first)
        ends = {tp: end[tp.partition] for tp in tps} if end is not None else await consumer.end_offsets(tps)
        consumer.assign(tps)
        if start is None:
            await consumer.seek_to_beginning(*tps)
        else:
            for tp in tps:
                consumer.seek(tp, start[tp.partition])
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
            for tp, records in batches.items():
                kept = [record for record in records if record.offset < ends[tp]]
                if kept:
                    yield tp.partition, kept
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        if check_start is not None:
            for tp, first in (await consumer.beginning_offsets(tps)).items():
                check_start(tp.partition, first)


async def list_offsets(
    consumer_kwargs: dict[str, Any], partitions: Iterable[Any], which: Literal["beginning", "end"]
) -> dict[Any, int]:
    """The beginning or end offsets of some partitions (`(topic, partition)` pairs, keyed as given), asked
    over a connection of their own: none waits behind a fetch another consumer keeps on its connection."""
    wanted = {TopicPartition(tp[0], tp[1]): tp for tp in partitions}
    if not wanted:
        return {}
    async with started(consumer_kwargs) as consumer:
        ask = consumer.beginning_offsets if which == "beginning" else consumer.end_offsets
        found = await ask(list(wanted))
    return {wanted[tp]: offset for tp, offset in found.items()}


async def read_back(
    consumer_kwargs: dict[str, Any], topic: str, identity: Callable[[Any], H], log: logging.Logger
) -> set[H]:
    """The identities of every JSON record of an output topic, up to its end now: what is there was
    sent, whoever sent it (a foreign record is logged and skipped)."""
    seen: set[H] = set()
    async for _, records in read_to_end(consumer_kwargs, topic):
        for record in records:
            try:
                seen.add(identity(orjson.loads(record.value or b"")))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("ignored a foreign record in %s at offset %d", topic, record.offset)
    return seen
