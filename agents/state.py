"""Table state written to its changelog once per key and commit, not once per update.

Faust sends a changelog record for every assignment to a table key, through its per-message producer
path; most of a worker's CPU went there. A `BufferedTable` keeps Faust's table as the in-memory store
(so Faust still restores it from the changelog on every assignment, and routes by it), but writes
go to the store and a set of dirty keys. Right before the consumer commits offsets, `flush()` sends
each dirty key's current value (or a tombstone) to the key's changelog partition in a few large
batches and waits for the broker to acknowledge them. Offsets are therefore committed only after the
state they cover is durable: after a crash the worker restores at least that state and replays the
input from the committed offsets, and replaying what is already applied changes nothing (entity state
is a set of event ids, aggregates keep the newest snapshot by version).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

RETRY_S = 1.0


class BufferedTable:
    """A Faust table whose writes reach its changelog at the next commit, once per dirty key."""

    def __init__(self, table: Any, encode: Callable[[Any], bytes]) -> None:
        self.table = table
        self.encode = encode
        self.dirty: dict[str, int] = {}  # key -> changelog partition

    @property
    def data(self) -> Any:
        return self.table.data

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def put(self, key: str, partition: int, value: Any) -> None:
        self.table.data[key] = value
        self.dirty[key] = partition

    def delete(self, key: str, partition: int) -> None:
        self.table.data.pop(key, None)
        self.dirty[key] = partition

    def take_records(self) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """The dirty keys' current values by partition (None: deleted); the dirty set starts over."""
        dirty, self.dirty = self.dirty, {}
        data, encode = self.table.data, self.encode
        records: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for key, partition in dirty.items():
            value = data.get(key)
            records.setdefault(partition, []).append(
                (orjson.dumps(key), None if value is None else encode(value)))
        return records


async def flush_tables(producer: Any, tables: list[BufferedTable]) -> int:
    """Write every dirty key of `tables` to its changelog and wait until the broker has them all.

    Retries until it succeeds: the caller is about to commit offsets, which must not happen before
    this state is durable (a broker outage holds the commit back, it does not lose state)."""
    pending: list[tuple[str, dict[int, list[tuple[bytes, bytes | None]]]]] = []
    for table in tables:
        records = table.take_records()
        if records:
            pending.append((table.table.changelog_topic.get_topic_name(), records))
    sent = 0
    for topic, records in pending:
        for partition, items in records.items():
            while True:
                try:
                    await _send_all(producer, topic, partition, items)
                except Exception:  # noqa: BLE001 - logged; retried until the broker takes it
                    log.exception("could not write %d changelog records to %s[%d]; retrying",
                                  len(items), topic, partition)
                    await asyncio.sleep(RETRY_S)
                    continue
                sent += len(items)
                break
    return sent


async def _send_all(producer: Any, topic: str, partition: int, items: list[tuple[bytes, bytes | None]]) -> None:
    """Send records to one partition in as few batches as the producer's batch size allows."""
    deliveries = []
    batch = producer.create_batch()
    for key, value in items:
        if batch.append(key=key, value=value, timestamp=None) is None:
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a {len(value or b'')}-byte changelog record does not fit in a batch")
    if batch.record_count():
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*deliveries)
