"""Table state written to its changelog once per key and commit, not once per update.

Faust sends a changelog record for every assignment to a table key, through its per-message producer
path; most of a worker's CPU went there. A `BufferedTable` keeps Faust's table as the in-memory store
(so Faust still restores it from the changelog on every assignment, and routes by it), but writes
go to the store and a set of dirty keys. Right before the consumer commits offsets, `flush_tables()`
takes each dirty key's current value (or a tombstone), sends them to the keys' changelog partitions
in a few large batches and waits for the broker to acknowledge them. Offsets are therefore committed
only after the state they cover is durable: after a crash the worker restores at least that state and
replays the input from the committed offsets, and replaying what is already applied changes nothing
(entity state is a set of event ids, aggregates keep the newest snapshot by version).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson

from streams.errors import NotFlushed

log = logging.getLogger(__name__)

RETRY_S = 1.0
IN_FLIGHT_BYTES = 8 * 1024 * 1024


class StateTable(Protocol):
    """What the stages need of a table: its dict, and writes tracked per partition."""

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def dirty(self) -> dict[str, int]:
        """Keys written since the last flush -> their partition."""
        ...

    def put(self, key: str, partition: int, value: Any) -> None: ...

    def delete(self, key: str, partition: int) -> None: ...


class MemoryTable:
    """A `StateTable` over a plain dict, for tools and tests that drive the stages without a broker."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.dirty: dict[str, int] = {}

    def put(self, key: str, partition: int, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str, partition: int) -> None:
        self.data.pop(key, None)


class BufferedTable:
    """A Faust table whose writes reach its changelog at the next commit, once per dirty key."""

    def __init__(
        self,
        table: Any,
        encode: Callable[[Any], bytes],
        owned: Callable[[], set[int]],
        written: Callable[[int, int], None] = lambda partition, offset: None,
    ) -> None:
        self.table = table
        self.encode = encode
        self.owned = owned  # the partitions this worker owns now
        self.written = written  # a flush's records of a partition are in, up to this changelog offset
        self.dirty: dict[str, int] = {}  # key -> changelog partition
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The store's own dict (Faust's store wraps it in Python-level mapping methods; the store and
        its dict are made once, when first asked for)."""
        data = self._data
        if data is None:
            data = self._data = self.table.data.data
        return data

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, partition: int, value: Any) -> None:
        self.data[key] = value
        self.dirty[key] = partition

    def delete(self, key: str, partition: int) -> None:
        self.data.pop(key, None)
        self.dirty[key] = partition

    def take_dirty(self) -> dict[int, list[tuple[str, Any]]]:
        """The dirty keys by partition, each with its value now (None: deleted); the dirty set starts over.

        Keys of partitions this worker no longer owns are dropped, never written: their new owner
        writes that changelog now, and what was not written here is replayed there from the input
        (their offsets were not committed)."""
        dirty, self.dirty = self.dirty, {}
        owned, data = self.owned(), self.data
        keys: dict[int, list[tuple[str, Any]]] = {}
        for key, partition in dirty.items():
            if partition in owned:
                keys.setdefault(partition, []).append((key, data.get(key)))
        return keys


class RebalanceGate:
    """Keeps state flushes and rebalances apart.

    Faust does not wait for a commit in progress when partitions are revoked. A flush still writing
    when the assignment then moves a partition elsewhere would write behind the new owner's back (its
    restore has already read the changelog), and once the store has dropped the partition's keys it
    would write tombstones for them. So the revocation waits for a running flush to be acknowledged
    (the group cannot assign the partitions to anyone before it returns), and from the revocation to
    the next assignment no flush starts: their commits are skipped, and the next commit after the
    assignment covers them."""

    def __init__(self) -> None:
        self.rebalancing = False
        self._flushing = asyncio.Lock()

    async def flush(self, write: Callable[[], Awaitable[Any]]) -> bool:
        """Run `write` unless a rebalance is under way; False means the commit must not happen."""
        if self.rebalancing:
            return False
        async with self._flushing:
            if self.rebalancing:
                return False
            await write()
        return True

    async def revoked(self) -> None:
        """Partitions are being revoked: returns once no flush is running, and none starts until `assigned`."""
        self.rebalancing = True
        async with self._flushing:
            pass

    def assigned(self) -> None:
        """The stores hold the new assignment (revoked keys dropped): flushes may run again."""
        self.rebalancing = False


async def flush_tables(
    producer: Any,
    tables: list[BufferedTable],
    stopping: Callable[[], bool],
    first: Callable[[], Sequence[asyncio.Future[Any]]] = list,
) -> int:
    """Write every dirty key of `tables` to its changelog as it is now and wait until the broker has them all
    (a key changed meanwhile is dirty again, written at the next commit).

    `first` runs as the keys are taken, with nothing between, and what it sends is acknowledged before
    any record goes out: the worker ships there what its state changed, so a changelog never holds a
    change whose ship could still be lost (the next owner would restore the change, replay nothing that
    changes it again, and never ship it). Retries until it succeeds: the caller is about to commit
    offsets, which must not happen before this state is durable (a broker outage holds the commit back,
    it does not lose state) — unless the worker is stopping: then `NotFlushed` aborts the commit, and the
    next owner replays the uncommitted messages."""
    pending = [(table, table.take_dirty()) for table in tables]
    shipped = first()
    if shipped:
        try:
            await _acknowledged(dict.fromkeys(shipped, 1), stopping)
        except NotFlushed:
            raise
        except Exception as exc:  # noqa: BLE001 - its buckets go out again at the next ship (`EntityStage.ship`)
            log.warning("a ship before the commit was not delivered (%r); writing the state all the same", exc)
    sent = 0
    for table, dirty in pending:
        topic = table.table.changelog_topic.get_topic_name()
        for partition, items in dirty.items():
            while True:
                try:
                    await _send_all(producer, topic, partition, items, table, stopping)
                except Exception as exc:  # logged; retried until the broker takes it
                    if stopping():
                        raise NotFlushed(f"{topic}[{partition}]: {len(items)} changelog records not written") from exc
                    log.exception(
                        "could not write %d changelog records to %s[%d]; retrying", len(items), topic, partition
                    )
                    await asyncio.sleep(RETRY_S)
                    continue
                sent += len(items)
                break
    return sent


async def _send_all(
    producer: Any,
    topic: str,
    partition: int,
    items: list[tuple[str, Any]],
    table: BufferedTable,
    stopping: Callable[[], bool],
) -> None:
    """Send the keys' records to one partition in large batches, at most ~8 MB unacknowledged."""
    encode = table.encode
    deliveries: dict[asyncio.Future[Any], int] = {}  # a batch's delivery -> its records
    unacknowledged = 0
    batch = producer.create_batch()
    for key, value in items:
        record = {"key": orjson.dumps(key), "value": None if value is None else encode(value), "timestamp": None}
        if batch.append(**record) is None:
            unacknowledged += batch.size()
            deliveries[await producer.send_batch(batch, topic, partition=partition)] = batch.record_count()
            if unacknowledged >= IN_FLIGHT_BYTES:
                table.written(partition, await _acknowledged(deliveries, stopping))
                deliveries, unacknowledged = {}, 0
            batch = producer.create_batch()
            if batch.append(**record) is None:
                raise ValueError(f"a {len(record['value'] or b'')}-byte changelog record does not fit in a batch")
    if batch.record_count():
        deliveries[await producer.send_batch(batch, topic, partition=partition)] = batch.record_count()
    table.written(partition, await _acknowledged(deliveries, stopping))


async def _acknowledged(deliveries: dict[asyncio.Future[Any], int], stopping: Callable[[], bool]) -> int:
    """Wait for the broker's acknowledgements (the producer retries meanwhile); a failure raises. Gives
    up when the worker stops: an unreachable broker must not hold the shutdown for the producer's
    20-minute delivery timeout. Returns the offset of the last record (a batch's delivery resolves to
    its first record's `RecordMetadata`)."""
    pending: set[asyncio.Future[Any]] = set(deliveries)
    last = -1
    while pending:
        done, pending = await asyncio.wait(pending, timeout=RETRY_S)
        for delivery in done:
            last = max(last, delivery.result().offset + deliveries[delivery] - 1)
        if pending and stopping():
            raise NotFlushed(f"{len(pending)} changelog batches not acknowledged")
    return last
